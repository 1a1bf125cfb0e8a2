"""Chat bugs found by hand (issue 14), each against a real server process on 127.0.0.1:

* a reader who syncs after an edit finds the message by its new text (the server drops
  the superseded body, so the row has no body of its own: search must index the text the
  verified edit wrote) and not by its old one;
* a reader of a team who posts is refused up front with a typed error in words
  ("you are a reader in acme: only writers can post"), and nothing sits in the outbox;
* a non-member (or a removed member) who reads is told so by name, not by uids and team ids.
"""

from __future__ import annotations

import re

import pytest

from kbapp.core import errors

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)
HEX_ID = re.compile(r"[0-9a-f]{16,}")


async def test_a_received_edit_is_found_by_its_new_text_only(server_factory, tmp_path, apps):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await alice.chat.send("alice,bob", "welcome all")
    await alice.chat.edit("alice,bob", 1, "welcome everyone")
    view = await bob.chat.read("alice,bob", sync=True)                 # bob's first sync: after the edit
    assert [m.text for m in view.messages] == ["welcome everyone"] and view.messages[0].edited
    assert [h.msg_id for h in await bob.chat.search("welcome")] == [1]
    assert [h.text for h in await bob.chat.search("everyone")] == ["welcome everyone"]
    assert await bob.chat.search("all") == []                           # the old text left the index

    # bob held the old text already: the edit replaces it in his index
    sent = await alice.chat.send("alice,bob", "lunch at noon")
    assert [h.msg_id for h in await bob.chat.search("noon")] == [] and \
        (await bob.chat.read("alice,bob", sync=True)).messages[-1].text == "lunch at noon"
    await alice.chat.edit("alice,bob", sent.msg_id, "lunch at one")
    await bob.chat.read("alice,bob", sync=True)
    assert await bob.chat.search("noon") == []
    assert [h.msg_id for h in await bob.chat.search("lunch one")] == [sent.msg_id]
    assert [h.msg_id for h in await alice.chat.search("welcome")] == [1]


async def test_a_reader_who_posts_is_refused_up_front_and_nothing_waits(server_factory, tmp_path, apps):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob", "carol"))
    alice, carol = u["alice"], u["carol"]
    await alice.create_team("acme")
    await alice.add_member("acme", "carol", "reader")
    await alice.chat.send("acme#general", "readers welcome")
    # carol's client has not loaded acme yet (a fresh `kbapp chat send`): refused all the same
    with pytest.raises(errors.PostNotAllowed) as e:
        await carol.chat.send("acme#general", "hi")
    assert str(e.value) == "you are a reader in acme: only writers can post"
    assert e.value.code == "CHAT_NOT_A_WRITER"
    assert await carol.chat.store.aio.outbox_list(states=("pending", "sending", "sent", "failed")) == []
    # and once it is loaded (she reads), the same
    assert [m.text for m in (await carol.chat.read("acme", sync=True)).messages] == ["readers welcome"]
    with pytest.raises(errors.PostNotAllowed):
        await carol.chat.send("acme", "hi again")
    assert await carol.chat.store.aio.outbox_list() == []
    assert (await carol.chat.conversations())[0].failed == 0


async def test_a_non_member_is_told_by_name(server_factory, tmp_path, apps):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob", "carol"))
    alice, bob, carol = u["alice"], u["bob"], u["carol"]
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "writer")
    await alice.chat.send("acme#general", "members only")
    with pytest.raises(errors.NotConversationMember) as e:
        await carol.chat.read("acme#general", sync=True)
    assert str(e.value) == "you (carol) are not a member of acme" and not HEX_ID.search(str(e.value))
    assert e.value.code == "CHAT_NOT_MEMBER" and isinstance(e.value, errors.ReadNotAllowed)

    # a removed member with the conversation stored: the sync's refusal is named too
    assert [m.text for m in (await bob.chat.read("acme", sync=True)).messages] == ["members only"]
    await alice.remove_member("acme", "bob")
    await alice.chat.send("acme", "after bob left")
    with pytest.raises(errors.NotConversationMember) as e:
        await bob.chat.read("acme", sync=True)
    assert str(e.value) == "you (bob) are not a member of acme"
    assert [m.text for m in (await bob.chat.read("acme")).messages] == ["members only"]


def test_the_three_bugs_as_reported_through_the_cli(server_factory, tmp_path):
    """The same three, as they were found: `kbapp chat search|send|read` in their own processes."""
    from e2e_support import cli

    srv = server_factory()
    h = {n: tmp_path / n for n in ("alice", "bob", "carol", "dave")}
    for n, home in h.items():
        cli(home, "signup", n, "--server", srv.url)
    cli(h["alice"], "team", "create", "acme")
    cli(h["alice"], "team", "add-member", "acme", "bob")
    cli(h["alice"], "team", "add-member", "acme", "carol", "--role", "reader")
    sent = cli(h["alice"], "chat", "send", "acme#general", "welcome all").json
    cli(h["alice"], "chat", "edit", "acme#general", str(sent["msg_id"]), "welcome everyone")
    cli(h["bob"], "chat", "read", "acme#general")                      # bob's first sync: after the edit
    hits = cli(h["bob"], "chat", "search", "welcome").json
    assert [(x["msg_id"], x["text"]) for x in hits] == [(sent["msg_id"], "welcome everyone")]

    refused = cli(h["carol"], "chat", "send", "acme#general", "hi", expect_rc=1)
    assert refused.json["error"] == {"code": "CHAT_NOT_A_WRITER", "verification": False,
                                     "message": "you are a reader in acme: only writers can post"}
    assert "retry" not in refused.stdout + refused.stderr
    listed = cli(h["carol"], "chat", "list").json
    assert [(c["name"], c["failed"], c["pending"]) for c in listed] == [("acme#general", 0, 0)]

    outsider = cli(h["dave"], "chat", "read", "acme#general", expect_rc=1)
    assert outsider.json["error"]["code"] == "CHAT_NOT_MEMBER"
    assert outsider.json["error"]["message"] == "you (dave) are not a member of acme"
    assert not HEX_ID.search(outsider.stdout + outsider.stderr)


async def test_posted_but_not_yet_stored_still_reads_as_sent_and_as_edited(server_factory, tmp_path, apps):
    """Between the post's answer and the sync that stores it (the sync after a send failed, or has
    not run yet), alice's own message and her edit must not vanish or read as before: the
    Chat page showed 'hello' -> 'hello (fixed)' -> 'hello' -> 'hello (fixed)' under load."""
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice = u["alice"]
    first = await alice.chat.send("alice,bob", "hello")
    assert first.msg_id == 1

    async def no_sync(*_a, **_kw):
        raise errors.NetworkError("the sync after the send is lost")
    real = alice.chat.sync_conv
    alice.chat.sync_conv = no_sync
    edited = await alice.chat.edit("alice,bob", 1, "hello (fixed)")
    second = await alice.chat.send("alice,bob", "and another")
    assert (edited.state, second.state) == ("sent", "sent")
    view = await alice.chat.read("alice,bob")
    got = [(m.msg_id, m.text, m.status, m.edit_pending) for m in view.messages]
    assert got == [(1, "hello (fixed)", "ok", True), (None, "and another", "sent", False)]

    alice.chat.sync_conv = real
    view = await alice.chat.read("alice,bob", sync=True)          # stored now: the entries are gone
    got = [(m.msg_id, m.text, m.status, m.edit_pending) for m in view.messages]
    assert got == [(1, "hello (fixed)", "ok", False), (3, "and another", "ok", False)]
