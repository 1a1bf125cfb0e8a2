"""delete_history and attachment blobs from a hostile member's side (and a server helping one).

* A member who is not an admin signs a delete_history: the client refuses to send it, the
  server refuses to store it (CHAT_HISTORY_REFUSED, 403) and drops no body; served anyway by
  a colluding server with the bodies it claims to cover taken out, every reader shows the
  delete_history as CHAT_FORGED_SUPERSEDE and the bodies as CHAT_WITHHELD: nothing is
  deleted in the reader's store, and `kbapp chat read` exits 3.
* A member names another's blob in the post's `blobs` cue (to have it deleted with their own
  message): CHAT_BLOB_NOT_YOURS, 403. Uploading a copy of the ciphertext first makes it
  theirs too, and deleting their message then takes only their copy's claim: the victim's
  attachment still downloads.
"""

from __future__ import annotations

import os

import httpx
import pytest

from kbapp.client.chat.sending import seal_entry, send_keys
from kbapp.client.chat.store import OutboxRow
from kbapp.core import errors
from kbapp.core.chat.body import make_body
from kbapp.core.tokens import parse_read_token

MESSAGES = r"^/v1/chat/[0-9a-f]{32}/messages$"


async def team_of(user, name, n: int = 3):
    """alice's team with bob and carol as writers: (team, [(app, username), ...])."""
    people = [await user(r) for r in ("alice", "bob", "carol")[:n]]
    team = name("acme")
    await people[0][0].create_team(team)
    for app, username, _ in people[1:]:
        await people[0][0].add_member(team, username, "writer")
    return team, [(a, u) for a, u, _ in people]


async def signed_history_delete(app, team: str, upto: int) -> dict:
    """What a member's own client would post for a delete_history (its client refuses to)."""
    row = await app.chat.conv(team)
    await app.chat.sync_conv(row)
    entry = OutboxRow(outbox_id=os.urandom(16).hex(), conv_id=row.conv_id,
                      payload={"body": make_body("delete_history", upto=upto), "compose_time": 1})
    post = seal_entry(app.chat, row, entry, await send_keys(app.chat, row.team_id), [])["post"]
    assert post["upto"] == upto
    return post


async def test_a_member_cannot_delete_the_history(user, name, proxy, cli):
    team, [(a, _), (b, _), (c, _)] = await team_of(user, name)
    one = await a.chat.send(team, "first words")
    await c.chat.send(team, "second words")
    # carol's client refuses before anything is queued
    with pytest.raises(errors.PostNotAllowed):
        await c.chat.delete_history(team, one.msg_id)
    rc, _out, err = await cli(c.home, "chat", "delete-history", team, "2")
    assert rc == 1 and "only an admin" in err
    # carol's signed delete_history posted straight to the server: refused, nothing dropped
    post = await signed_history_delete(c, team, 2)
    row = await c.chat.conv(team)
    with pytest.raises(errors.ChatHistoryRefused) as refused:
        await c.ctx.api.chat_post(row.conv_id, post)
    assert refused.value.status == 403
    view = await b.chat.read(team, sync=True)
    assert [(m.text, m.status) for m in view.messages] == [("first words", "ok"), ("second words", "ok")]
    assert view.problems == []


async def test_a_forged_history_delete_served_by_the_server_deletes_nothing(user, name, proxy, cli):
    team, [(a, _), (b, _), (c, _)] = await team_of(user, name)
    await a.chat.send(team, "first words")
    await a.chat.send(team, "second words")
    post = await signed_history_delete(c, team, 2)
    row = await c.chat.conv(team)
    forged = {"v": 1, "conv_id": row.conv_id, "msg_id": 3, "ctime": 1, "key_gen": post["key_gen"], "ek_gen": None,
              "header": post["header"], "body": post["body"], "hints": post["hints"], "superseded_by": None}

    def serve(page):          # the colluding server: the history "deleted", the delete appended
        msgs = [{**m, "body": None} if m["msg_id"] <= 2 else m for m in page["messages"]]
        return {**page, "messages": msgs + [forged] if all(m["msg_id"] < 3 for m in msgs) else msgs}
    proxy.set("json", match=MESSAGES, fn=serve)
    view = await b.chat.read(team, sync=True)
    assert proxy.tampered
    assert [(p.msg_id, p.code) for p in view.problems] == [
        (1, "CHAT_WITHHELD"), (2, "CHAT_WITHHELD"), (3, "CHAT_FORGED_SUPERSEDE")]
    for i in (1, 2):                                     # shown as withheld, never as deleted
        m = await b.chat.store.aio.message(row.conv_id, i)
        assert m.status == "withheld" and m.deleted_by is None
    rc, _out, err = await cli(b.home, "chat", "read", team, "--local")
    assert rc == 3 and "CHAT_WITHHELD" in err


async def _raw(app, method: str, path: str, **kw) -> httpx.Response:
    headers = {"Authorization": await app.api.read_tokens.header(), **kw.pop("headers", {})}
    async with httpx.AsyncClient(base_url=app.api.base_url, timeout=30) as h:
        return await h.request(method, path, headers=headers, **kw)


async def test_a_member_cannot_have_anothers_blob_deleted(user, name, proxy, tmp_path):
    team, [(a, _), (b, _), (c, _)] = await team_of(user, name)
    data = os.urandom(200_000)
    (tmp_path / "plans.bin").write_bytes(data)
    sent = await a.chat.upload(team, tmp_path / "plans.bin")
    await c.chat.read(team, sync=True)
    att = (await c.chat.store.aio.message((await c.chat.conv(team)).conv_id, sent.msg_id)).body
    blob_id = att["blob_id"]
    row = await c.chat.conv(team)
    token, _ = parse_read_token(await c.api.read_tokens.header())
    uid, kid = token.uid, token.kid

    def post(blobs):
        return {"team_id": row.team_id, "topic_type": 1, "topic_id": row.topic_id, "key_gen": 1, "ek_gen": None,
                "header": "AAAA" * 50, "body": "AAAA" * 80, "blobs": blobs,
                "hints": {"type": "attachment", "sender_uid": uid, "sender_kid": kid,
                          "outbox_id": os.urandom(16).hex(), "supersedes": None, "deletes": [], "reply_to": None,
                          "thread_root": None, "lifetime": None}}
    # naming alice's blob as her own: refused, nothing stored
    with pytest.raises(errors.ChatBlobNotYours) as refused:
        await c.ctx.api.chat_post(row.conv_id, post([blob_id]))
    assert refused.value.status == 403
    # a copy of the ciphertext uploaded by carol makes the claim hers; her message deleted, the
    # blob stays (alice's message still names it, alice uploaded it)
    got = await _raw(c, "GET", f"/v1/blobs/{blob_id}")
    assert got.status_code == 200
    put = await _raw(c, "PUT", f"/v1/blobs/{blob_id}", content=got.content,
                     headers={"Content-Length": str(len(got.content))})
    assert put.status_code == 200, put.text
    mine = await c.ctx.api.chat_post(row.conv_id, post([blob_id]))
    delete = post([])
    delete.pop("blobs")
    delete["hints"] = {**delete["hints"], "type": "delete", "deletes": [mine["msg_id"]]}
    await c.ctx.api.chat_post(row.conv_id, delete)
    assert (await _raw(b, "GET", f"/v1/blobs/{blob_id}")).status_code == 200
    await b.chat.read(team, sync=True)
    dest = tmp_path / "got.bin"
    await b.chat.download(team, sent.msg_id, dest)
    assert dest.read_bytes() == data
