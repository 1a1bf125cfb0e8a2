"""A member deletes their own history (issue 14): `chat.delete_mine`, `kbapp chat
delete-history CONV --mine` and the bot API's `delete_mine`, through a real server process on
127.0.0.1 (SQLite and PostgreSQL) and real clients.

One signed delete_mine: the server drops the sender's own content bodies up to its `upto`
(texts, files, edits, reactions) and the blobs their files named, never another member's;
the other side's client verifies it (reader rules: it explains the sender's own missing
bodies only), forgets the text in its store and search, and a member added later reads the
conversation from scratch with no problem.
"""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import select

from kbapp.server import db as server_db
from kbapp.server.chat_tables import blob_refs
from kbapp.server.chat_tables import messages as server_messages

from e2e_support import cli, signup_all

pytestmark = pytest.mark.timeout(240)


def _server_rows(db_url, srv, conv_id):
    engine = server_db.make_engine(server_db.normalise_url(db_url, srv.data_dir))
    try:
        with engine.connect() as c:
            rows = {r.msg_id: r for r in c.execute(select(server_messages)
                                                   .where(server_messages.c.conv_id == conv_id))}
            refs = c.execute(select(blob_refs).where(blob_refs.c.conv_id == conv_id)).all()
    finally:
        engine.dispose()
    return rows, refs


async def test_a_member_deletes_their_own_history(db_url, server_factory, tmp_path, apps):
    srv = server_factory(db=db_url)
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob", "carol"))
    alice, bob, carol = u["alice"], u["bob"], u["carol"]
    dm = "alice,bob"
    await alice.chat.send(dm, "alice's first")                            # 1
    await bob.chat.send(dm, "bob's secret")                               # 2
    (tmp_path / "scan.bin").write_bytes(os.urandom(70_000))
    up = await bob.chat.upload(dm, tmp_path / "scan.bin")                 # 3
    await bob.chat.edit(dm, 2, "bob's secret, edited")                    # 4
    await bob.chat.react(dm, 1, "👍")                                      # 5
    await alice.chat.read(dm, sync=True)
    await alice.chat.react(dm, 2, "🎉")                                    # 6
    await alice.chat.send(dm, "alice's second")                           # 7
    await alice.chat.read(dm, sync=True)
    conv = await alice.chat.conv(dm)
    blob_id = (await alice.chat.store.aio.message(conv.conv_id, up.msg_id)).body["blob_id"]
    assert (srv.data_dir / "blobs" / blob_id[:2] / blob_id).is_file()

    cut = await bob.chat.delete_mine(dm)                                  # all of bob's, so far
    assert cut.state == "sent" and cut.msg_id == 8, cut
    rows, refs = _server_rows(db_url, srv, conv.conv_id)
    assert {i for i, r in rows.items() if r.body is None} == {2, 3, 4, 5}  # bob's content only
    assert refs == [] and not (srv.data_dir / "blobs" / blob_id[:2] / blob_id).exists()

    for reader in (alice, bob):
        view = await reader.chat.read(dm, sync=True)
        assert [m.text for m in view.messages if m.type == "text"] == ["alice's first", "alice's second"]
        assert view.problems == []
        assert await reader.chat.search("secret") == []
        assert (await reader.chat.store.aio.message(conv.conv_id, 1)).text == "alice's first"

    # in a team: carol (a writer) deletes hers; alice's (the admin's) stay; a later member reads it all
    await alice.create_team("acme")
    await alice.add_member("acme", "carol", "writer")
    await alice.chat.send("acme", "the plan")
    await carol.chat.send("acme", "my doubts")
    await carol.chat.delete_mine("acme")
    await alice.add_member("acme", "bob", "reader")
    for reader in (alice, bob):
        view = await reader.chat.read("acme", sync=True)
        assert [m.text for m in view.messages if m.type == "text"] == ["the plan"]
        assert view.problems == []


def test_cli_and_bot_api_delete_mine(server, tmp_path):
    a = tmp_path / "alice"
    cli(a, "signup", "alice", "--server", server.url)
    cli(a, "team", "create", "acme")
    cli(a, "chat", "send", "acme", "one")
    cli(a, "chat", "send", "acme", "two")
    out = cli(a, "chat", "delete-history", "acme", "1", "--mine")          # up to #1 only
    assert json.loads(out.stdout)["state"] == "sent"
    read = json.loads(cli(a, "chat", "read", "acme").stdout)
    assert [m["text"] for m in read["messages"] if m["type"] == "text"] == ["two"]
    refused = cli(a, "chat", "delete-history", "acme", expect_rc=None)     # neither ID nor --mine
    assert refused.rc != 0 and "CHAT_INVALID_INPUT" in refused.stdout + refused.stderr
    reqs = [{"id": 1, "method": "delete_mine", "params": {"conv": "acme"}},
            {"id": 2, "method": "read", "params": {"conv": "acme"}},
            {"id": 3, "method": "delete_mine", "params": {"conv": "acme", "upto": "all"}}]
    api = cli(a, "chat", "api", stdin="".join(json.dumps(r) + "\n" for r in reqs))
    got = {x["id"]: x for x in map(json.loads, api.stdout.splitlines())}
    assert got[1]["result"]["state"] == "sent"
    assert [m for m in got[2]["result"]["messages"] if m["type"] == "text"] == []
    assert got[2]["result"]["problems"] == []
    assert got[3]["error"]["code"] == "CHAT_INVALID_INPUT"
