"""An admin deletes a team conversation's history (issue 14), through a real server process
on 127.0.0.1 (SQLite and PostgreSQL) and real clients.

The server drops the content bodies up to the signed `upto` (texts, files, edits, reactions;
the channel's name and headline stay) and the blobs the dropped attachments named; a reader
who had the messages loses their text from its store and search; a member added later reads
the conversation from scratch with no problem: each missing body is explained by the
admin's signed delete_history (reader rule 5).
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from kbapp.server import db as server_db
from kbapp.server.chat_tables import blob_refs
from kbapp.server.chat_tables import messages as server_messages

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(240)


async def test_an_admin_deletes_the_history(db_url, server_factory, tmp_path, apps):
    srv = server_factory(db=db_url)
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob", "carol"))
    alice, bob, carol = u["alice"], u["bob"], u["carol"]
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "writer")
    await alice.chat.send("acme", "the old plan")
    await bob.chat.send("acme", "agreed, old plan")
    (tmp_path / "plan.bin").write_bytes(os.urandom(70_000))
    up = await alice.chat.upload("acme", tmp_path / "plan.bin")
    await bob.chat.react("acme", 1, "👍")
    await alice.chat.set_headline("acme", "planning")
    later = await bob.chat.send("acme", "after the cut")
    view = await bob.chat.read("acme", sync=True)
    assert [m.text for m in view.messages if m.type == "text"] == ["the old plan", "agreed, old plan", "after the cut"]
    conv = await bob.chat.conv("acme")
    blob_id = (await bob.chat.store.aio.message(conv.conv_id, up.msg_id)).body["blob_id"]
    blob_path = srv.data_dir / "blobs" / blob_id[:2] / blob_id
    assert blob_path.is_file()

    cut = await alice.chat.delete_history("acme", later.msg_id - 1)
    assert cut.state == "sent", cut
    engine = server_db.make_engine(server_db.normalise_url(db_url, srv.data_dir))
    try:
        with engine.connect() as c:
            rows = {r.msg_id: r for r in c.execute(select(server_messages)
                                                   .where(server_messages.c.conv_id == conv.conv_id))}
            refs = c.execute(select(blob_refs).where(blob_refs.c.conv_id == conv.conv_id)).all()
    finally:
        engine.dispose()
    dropped = {i for i, r in rows.items() if r.body is None}
    assert dropped == {1, 2, up.msg_id, up.msg_id + 1}                 # texts, the file, the reaction
    assert rows[up.msg_id + 2].body is not None                         # the headline stays
    assert rows[later.msg_id].body is not None and rows[cut.msg_id].body is not None
    assert refs == [] and not blob_path.exists()                        # the file's blobs went with it

    view = await bob.chat.read("acme", sync=True)                       # bob had them: gone here too
    assert [m.text for m in view.messages if m.type == "text"] == ["after the cut"]
    assert view.problems == [] and view.headline == "planning"
    assert await bob.chat.search("plan") == []
    assert (await bob.chat.store.aio.message(conv.conv_id, 1)).text is None

    await alice.add_member("acme", "carol", "reader")                   # reads it all from scratch
    view = await carol.chat.read("acme", sync=True)
    assert [m.text for m in view.messages if m.type == "text"] == ["after the cut"]
    assert view.problems == []


def test_bot_api_deletes_history_and_types(server, tmp_path):
    """The bot API's delete_history and typing, in its own process."""
    import json

    from e2e_support import cli

    a = tmp_path / "alice"
    cli(a, "signup", "alice", "--server", server.url)
    cli(a, "team", "create", "acme")
    reqs = [{"id": 1, "method": "send", "params": {"conv": "acme", "text": "old news"}},
            {"id": 2, "method": "delete_history", "params": {"conv": "acme", "upto": 1}},
            {"id": 3, "method": "typing", "params": {"conv": "acme"}},
            {"id": 4, "method": "read", "params": {"conv": "acme"}},
            {"id": 5, "method": "delete_history", "params": {"conv": "acme", "upto": 99}}]
    api = cli(a, "chat", "api", stdin="".join(json.dumps(r) + "\n" for r in reqs))
    out = {x["id"]: x for x in map(json.loads, api.stdout.splitlines())}
    assert out[1]["result"]["state"] == "sent" and out[2]["result"]["state"] == "sent"
    assert out[3]["result"] == {"told": True}
    read = out[4]["result"]
    assert [m["text"] for m in read["messages"] if m["type"] == "text"] == [] and read["problems"] == []
    assert out[5]["error"]["code"] == "CHAT_INVALID_INPUT"              # past the newest message


def test_bot_api_answers_every_malformed_request_and_goes_on(server, tmp_path):
    """A bot's bad parameters (wrong types, ids past 2^53, a NUL in a path, JSON nested too
    deep) each get a typed error for that request; the next request is still answered."""
    import json

    from e2e_support import cli

    a = tmp_path / "alice"
    cli(a, "signup", "alice", "--server", server.url)
    cli(a, "team", "create", "acme")
    cli(a, "chat", "send", "acme", "one")
    conv = {"conv": "acme"}
    bad = [{"method": "read", "params": {**conv, "local": True, "limit": "x"}},
           {"method": "read", "params": {**conv, "local": True, "limit": 10 ** 23}},
           {"method": "read", "params": {**conv, "local": True, "thread": {}}},
           {"method": "edit", "params": {**conv, "id": 10 ** 20, "text": "x"}},
           {"method": "send", "params": {**conv, "text": "x", "reply_to": "1"}},
           {"method": "send", "params": {**conv, "text": "x", "thread": [1]}},
           {"method": "react", "params": {**conv, "id": 2 ** 63, "emoji": "+1"}},
           {"method": "delete", "params": {**conv, "ids": [10 ** 30]}},
           {"method": "download", "params": {**conv, "id": 1, "dest": "/tmp/a\u0000b"}}]
    lines = [json.dumps({"id": i, **r}) for i, r in enumerate(bad, 1)]
    lines.append('{"id": 98, "method": "list", "params": ' + "[" * 5000 + "]" * 5000 + "}")
    lines.append(json.dumps({"id": 99, "method": "list", "params": {"local": True}}))
    api = cli(a, "chat", "api", stdin="\n".join(lines) + "\n")
    out = [json.loads(x) for x in api.stdout.splitlines()]
    assert api.rc == 0 and "Traceback" not in api.stderr
    assert [x.get("id") for x in out] == list(range(1, len(bad) + 1)) + [None, 99]
    assert all(not x["error"]["verification"] for x in out[:-1]), out
    codes = [x["error"]["code"] for x in out[:-1]]
    assert set(codes[:-2]) == {"CHAT_INVALID_INPUT"} and codes[-1] == "CHAT_INVALID_INPUT", codes
    assert codes[-2] in ("CHAT_INVALID_INPUT", "CONFLICT")      # #1 is a text: refused before or after the path
    assert [c["name"] for c in out[-1]["result"]["conversations"]] == ["acme#general"]
    listed = json.loads(cli(a, "chat", "list").stdout)
    assert [(c["pending"], c["failed"]) for c in listed] == [(0, 0)]     # nothing queued that can never send


def test_a_thread_or_a_reaction_under_a_non_content_message_is_refused_before_sending(server, tmp_path):
    """Every reader refuses a thread reply under a headline, or a reaction to one (judge rule 6):
    the sender's own client says so first, instead of posting a message that shows as refused."""
    import json

    from e2e_support import cli

    a = tmp_path / "alice"
    cli(a, "signup", "alice", "--server", server.url)
    cli(a, "team", "create", "acme")
    cli(a, "chat", "channel", "create", "acme#random", "--topic", "anything")    # #1: its metadata
    cli(a, "chat", "send", "acme#random", "root")
    reqs = [{"id": 1, "method": "read", "params": {"conv": "acme#random"}}]
    api = cli(a, "chat", "api", stdin="".join(json.dumps(r) + "\n" for r in reqs))
    msgs = json.loads(api.stdout.splitlines()[0])["result"]["messages"]
    join = next(m["msg_id"] for m in msgs if m["type"] != "text")
    root = next(m["msg_id"] for m in msgs if m["type"] == "text")
    reqs = [{"id": 1, "method": "send", "params": {"conv": "acme#random", "text": "x", "thread": join}},
            {"id": 2, "method": "react", "params": {"conv": "acme#random", "id": join, "emoji": "+1"}},
            {"id": 3, "method": "send", "params": {"conv": "acme#random", "text": "in the thread", "thread": root}},
            {"id": 4, "method": "read", "params": {"conv": "acme#random"}}]
    out = {x["id"]: x for x in map(json.loads, cli(a, "chat", "api", stdin="".join(
        json.dumps(r) + "\n" for r in reqs)).stdout.splitlines())}
    assert out[1]["error"]["code"] == out[2]["error"]["code"] == "CHAT_INVALID_INPUT"
    assert out[3]["result"]["state"] == "sent" and out[4]["result"]["problems"] == []
