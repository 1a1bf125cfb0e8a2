"""Exploding messages end to end (issue 14 "Must show"): a real server process on 127.0.0.1
(SQLite and PostgreSQL), real `App` clients with an injected clock.

alice sends bob an exploding message (30 s); bob reads it; once its lifetime is over it is
gone from the server's database and from both profiles: every file under each profile
directory (and the server's data dir) is scanned for the plaintext and for a word of it
(the FTS index keeps words, not sentences). After the ephemeral keys are deleted (a week
after the next generation), a copy of the profile's files plus the server's database
cannot open the message: every 32-byte value the copy holds is tried as a team EK seed
on the sealed body and as a device EK seed on every box, and the seeds the profiles held
before are nowhere in the copy. Before the deletion the same attempt succeeds (the
attempt is able to open it when the keys are there).

An exploding attachment (an image, so a preview too) goes the same way: its keys are only in
the exploding body; when it explodes the server deletes both blobs with the body (the post
named them: server/chat_blobs.py), each client shreds its cached preview, and after the
key deletion the copy cannot open the body that held the blob keys. The server's EK sweep
(its clock moved) deletes the team EK boxes.
"""

from __future__ import annotations

import base64
import shutil
import sqlite3
import time
from pathlib import Path

import nacl.exceptions
import nacl.public
import pytest
from sqlalchemy import select

from kbapp.client.app import App
from kbapp.client.chat import ephemeral as eph
from kbapp.client.chat.models import ChatMessagesChanged
from kbapp.client.keystore import open_keystore
from kbapp.core import errors
from kbapp.core.chat import ephemeral as ek
from kbapp.core.chat.seal import exploding_body_key, open_body
from kbapp.server import db as server_db
from kbapp.server.blob_tables import blobs as blob_rows
from kbapp.server.blobstore import FilesystemBlobStore
from kbapp.server.chat import ChatStore as ServerChat
from kbapp.server.chat_tables import messages as server_messages
from kbapp.server.ek_sweep import sweep_eks
from kbapp.server.ek_tables import device_eks, team_ek_boxes

pytestmark = pytest.mark.timeout(300)

WORD = b"zqxylophonequark"
SECRET = "meet at the old mill at nine " + WORD.decode()
FILE_WORD = b"qqvortexmarmaladeqq"          # inside the exploding image file's bytes


def exploding_image(path: Path) -> bytes:
    """A PNG of noise (so a preview is made) with a marker after its end (Pillow ignores it)."""
    import io
    import os

    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (96, 64), os.urandom(96 * 64 * 3)).save(out, "PNG")
    data = out.getvalue() + FILE_WORD * 4
    path.write_bytes(data)
    return data


def blob_file(data_dir: Path, blob_id: str) -> Path:
    return data_dir / "blobs" / blob_id[:2] / blob_id


class Clock:
    """Real time plus an offset the test moves (the client's clock only)."""

    def __init__(self):
        self.offset = 0

    def __call__(self) -> float:
        return time.time() + self.offset


def files_holding(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            found += [f"{p} holds {n[:12]!r}" for n in needles if n in data]
    return found


def sqlite_values(root: Path) -> list[bytes]:
    """Every BLOB and hex/base64 text value of 32 bytes in every SQLite file under root."""
    out = set()
    for p in root.rglob("*.sqlite3"):
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for t in tables:
                try:
                    rows = con.execute(f'SELECT * FROM "{t}"').fetchall()
                except sqlite3.DatabaseError:
                    continue
                for row in rows:
                    for v in row:
                        if isinstance(v, bytes) and len(v) == 32:
                            out.add(v)
                        elif isinstance(v, str) and len(v) == 64:
                            try:
                                out.add(bytes.fromhex(v))
                            except ValueError:
                                pass
                        elif isinstance(v, str) and len(v) == 44:
                            try:
                                raw = base64.b64decode(v, validate=True)
                                if len(raw) == 32:
                                    out.add(raw)
                            except ValueError:
                                pass
        finally:
            con.close()
    return sorted(out)


def opens(sealed_body: bytes, conv_id: str, boxes: list[bytes], candidates: list[bytes]) -> bool:
    """Whether anything among `candidates` opens the body (as a team EK seed), or opens a box
    (as a device EK seed) whose content opens the body."""
    seeds = list(candidates)
    for box in boxes:
        for c in candidates:
            mine = ek.device_ek_keypair(c)
            try:
                opened = nacl.public.Box(mine.private, nacl.public.PublicKey(box[:32]))
                seeds.append(opened.decrypt(box[56:], box[32:56]))
            except nacl.exceptions.CryptoError:
                continue
    for s in seeds:
        try:
            open_body(sealed_body, exploding_body_key(s, conv_id))
            return True
        except (errors.BadBody, ValueError):
            continue
    return False


async def open_clocked(home: Path, clock) -> App:
    app = App(home, keystore=open_keystore(home, backend="memory"), clock=clock)
    await app.open()
    return app


def ek_seeds(home: Path) -> list[bytes]:
    con = sqlite3.connect(f"file:{home / eph.FILE}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT seed FROM device_ek UNION ALL SELECT seed FROM team_ek")
                if r[0] is not None]
    finally:
        con.close()


async def alice_and_bob(tmp_path, srv, clock):
    """alice and bob signed up on `srv` with the clock the test moves; bob's client has run
    once (its device EK for today)."""
    alice = await open_clocked(tmp_path / "alice", clock)
    bob = await open_clocked(tmp_path / "bob", clock)
    await alice.signup("alice", server_url=srv.url, device_name="alice-laptop")
    await bob.signup("bob", server_url=srv.url, device_name="bob-laptop")
    await bob.chat.conversations(sync=True)
    return alice, bob


async def test_an_exploding_message_leaves_no_trace(db_url, server_factory, tmp_path):
    srv = server_factory(db=db_url)
    clock = Clock()
    alice, bob = await alice_and_bob(tmp_path, srv, clock)
    try:
        await alice.chat.send("alice,bob", "an ordinary message")
        sent = await alice.chat.send("alice,bob", SECRET, exploding="30s")
        assert sent.state == "sent", sent
        exploding_image(tmp_path / "secret.png")
        shot = await alice.chat.upload("alice,bob", tmp_path / "secret.png", exploding="30s")
        assert shot.state == "sent", shot
        view = await bob.chat.read("alice,bob", sync=True)
        assert [(m.sender, m.text, m.status) for m in view.messages][:2] == [
            ("alice", "an ordinary message", "ok"), ("alice", SECRET, "ok")]
        pic = view.messages[2]
        assert (pic.msg_id, pic.type, pic.status, pic.attachment["name"]) == (shot.msg_id, "attachment", "ok",
                                                                              "secret.png")
        assert pic.explodes_at is not None
        assert [h.msg_id for h in await bob.chat.search(WORD.decode())] == [sent.msg_id]

        # what a recording adversary keeps: the sealed body as the server served it, the boxes
        conv = await bob.chat.conv("alice,bob")
        page = await bob.ctx.api.chat_messages(conv.conv_id, after=0, limit=10)
        wire = next(w for w in page["messages"] if w["msg_id"] == sent.msg_id)
        assert wire["ek_gen"] == 1 and wire["hints"]["lifetime"] == 30
        sealed_body = base64.b64decode(wire["body"])
        pic_wire = next(w for w in page["messages"] if w["msg_id"] == shot.msg_id)
        assert pic_wire["ek_gen"] == 1 and pic_wire["hints"]["lifetime"] == 30
        pic_body = base64.b64decode(pic_wire["body"])
        att = (await bob.chat.store.aio.message(conv.conv_id, shot.msg_id)).body
        blob_ids = [att["blob_id"], att["preview"]["blob_id"]]
        assert all(blob_file(srv.data_dir, b).is_file() for b in blob_ids)
        preview_path = bob.home / "chat-media" / conv.conv_id / f"{shot.msg_id}.jpg"
        preview_bytes = preview_path.read_bytes()                # bob's client cached the preview
        (tmp_path / "downloads").mkdir()                         # outside the profile: the user's own file
        got = await bob.chat.download("alice,bob", shot.msg_id, tmp_path / "downloads" / "secret.png")
        assert FILE_WORD in Path(got).read_bytes()
        engine = server_db.make_engine(server_db.normalise_url(db_url, srv.data_dir))
        with engine.connect() as c:
            boxes = [bytes(r.box) for r in c.execute(select(team_ek_boxes))]
        assert len(boxes) == 2                                   # alice's and bob's device
        held = ek_seeds(tmp_path / "alice") + ek_seeds(tmp_path / "bob")
        assert len(held) == 4                                    # a device EK each, the team EK twice
        # the attempt below can open it while the keys are there (a copy taken now)
        early = tmp_path / "early-copy"
        shutil.copytree(tmp_path / "bob", early)
        assert opens(sealed_body, conv.conv_id, boxes, sqlite_values(early))
        assert opens(pic_body, conv.conv_id, boxes, sqlite_values(early))
        assert files_holding(tmp_path / "bob", [SECRET.encode(), WORD])      # the scan finds what is there

        # the lifetime is over: each client forgets it, the server's sweep purges it
        clock.offset = 40
        heard = []
        bob.ctx.events.on(lambda ev: heard.append(ev.conv_id) if isinstance(ev, ChatMessagesChanged) else None)
        local = await bob.chat.read("alice,bob")                  # no network: the local store alone
        assert SECRET not in [m.text for m in local.messages]
        assert [m.status for m in local.messages] == ["ok", "exploded", "exploded"]
        assert heard == [conv.conv_id]                                                       # views refresh
        assert not preview_path.exists()                          # the cached preview is shredded
        for app in (alice, bob):
            view = await app.chat.read("alice,bob", sync=True)
            assert [m.text for m in view.messages if m.status == "ok"] == ["an ordinary message"]
            assert await app.chat.search(WORD.decode()) == []
        store = FilesystemBlobStore(srv.data_dir / "blobs")
        ServerChat(engine, lambda: time.time() + 40, store).sweep()     # the server process's sweep, 40 s on
        with engine.connect() as c:
            row = c.execute(select(server_messages).where(server_messages.c.msg_id == sent.msg_id)).one()
        assert row.body is None and row.header is not None      # the header (no content) stays: later readers verify
        assert not any(blob_file(srv.data_dir, b).exists() for b in blob_ids)      # the blobs went with it
        with engine.connect() as c:
            assert c.execute(select(blob_rows).where(blob_rows.c.blob_id.in_(blob_ids))).all() == []
        for root in (tmp_path / "alice", tmp_path / "bob", srv.data_dir):
            assert files_holding(root, [SECRET.encode(), WORD, WORD.upper(), FILE_WORD, preview_bytes[-64:],
                                        preview_bytes[2048:2112]]) == []

        # a week after the next generation: the keys are deleted (no network needed)
        clock.offset = 9 * 24 * 3600
        for app in (alice, bob):
            assert await eph.of(app.chat).purge() >= 1
        assert ek_seeds(tmp_path / "alice") == [] and ek_seeds(tmp_path / "bob") == []
        copy = tmp_path / "copy"
        for name in ("alice", "bob"):
            shutil.copytree(tmp_path / name, copy / name)
        if db_url is None:
            shutil.copytree(srv.data_dir, copy / "server")
        assert files_holding(copy, held) == []
        assert files_holding(copy, [s.hex().encode() for s in held]) == []
        candidates = sqlite_values(copy)
        with engine.connect() as c:
            boxes_now = [bytes(r.box) for r in c.execute(select(team_ek_boxes))]
        assert not opens(sealed_body, conv.conv_id, boxes_now, candidates)
        assert not opens(pic_body, conv.conv_id, boxes_now, candidates)
        # the server's own sweep, its clock moved: the team EK boxes go too (not before they are due)
        assert sweep_eks(engine, int(time.time()) + 3600).boxes == 0
        assert sweep_eks(engine, int(time.time()) + 9 * 24 * 3600).boxes == 2
        with engine.connect() as c:
            assert c.execute(select(team_ek_boxes)).all() == []
        engine.dispose()
    finally:
        await alice.close()
        await bob.close()


def test_cli_send_exploding(server, tmp_path):
    from e2e_support import cli

    a, b = tmp_path / "alice", tmp_path / "bob"
    cli(a, "signup", "alice", "--server", server.url)
    cli(b, "signup", "bob", "--server", server.url)
    cli(b, "chat", "list")                                   # bob's client publishes its device EK
    sent = cli(a, "chat", "send", "alice,bob", "this explodes in an hour", "--exploding", "1h", "--json").json
    assert sent["state"] == "sent"
    read = cli(b, "chat", "read", "alice,bob", "--json").json
    assert [(m["text"], m["status"]) for m in read["messages"]] == [("this explodes in an hour", "ok")]
    for bad in ("10s", "8d", "soon"):
        res = cli(a, "chat", "send", "alice,bob", "nope", "--exploding", bad, expect_rc=1)
        assert "EK_BAD_LIFETIME" in res.stderr, res


async def test_a_device_ek_made_while_the_server_is_down_is_published_later(server_factory, tmp_path):
    from e2e_support import restart

    srv = server_factory()
    clock = Clock()
    alice = await open_clocked(tmp_path / "alice", clock)
    try:
        await alice.signup("alice", server_url=srv.url, device_name="alice-laptop")
        helper = eph.of(alice.chat)
        assert await helper.ensure_device_ek() == 1
        clock.offset = 25 * 3600                           # a day later: a new generation is due
        srv.stop()
        with pytest.raises(errors.NetworkError):
            await helper.ensure_device_ek()                  # made and kept, not published
        restart(srv)
        assert await helper.ensure_device_ek() == 2          # the same generation, published now
        engine = server_db.make_engine(server_db.normalise_url(None, srv.data_dir))
        with engine.connect() as c:
            gens = sorted(r.generation for r in c.execute(select(device_eks)))
        engine.dispose()
        assert gens == [1, 2]
        assert await helper.ensure_device_ek() == 2          # nothing more to do today
    finally:
        await alice.close()


async def test_a_reader_offline_for_the_whole_lifetime_sees_it_exploded_not_withheld(server_factory, tmp_path):
    """bob reads only after the message exploded and the server purged its body: the header
    the server kept proves it was exploding and its lifetime is over, so it is `exploded`, with
    no problem reported (before: served without a header, it was a refused message and every
    `chat read` of the conversation exited 3)."""
    srv = server_factory()
    clock = Clock()
    alice, bob = await alice_and_bob(tmp_path, srv, clock)
    try:
        await alice.chat.send("alice,bob", "before")
        sent = await alice.chat.send("alice,bob", SECRET, exploding="30s")
        await alice.chat.send("alice,bob", "after")
        clock.offset = 40
        engine = server_db.make_engine(server_db.normalise_url(None, srv.data_dir))
        assert ServerChat(engine, lambda: time.time() + 40, FilesystemBlobStore(srv.data_dir / "blobs")).sweep() == 1
        engine.dispose()
        view = await bob.chat.read("alice,bob", sync=True)
        assert [(m.text, m.status) for m in view.messages] == [("before", "ok"), (None, "exploded"), ("after", "ok")]
        assert view.messages[1].msg_id == sent.msg_id and view.messages[1].sender == "alice"
        assert view.problems == []
    finally:
        await alice.close()
        await bob.close()
