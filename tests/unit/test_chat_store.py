"""The local chat store (kbapp/client/chat/store.py): its own file, migrations, one
transaction per sync, edits/deletes applied only for verified rows, FTS5 search,
read markers and unread counts, the outbox's compare-and-set moves."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from kbapp.client.chat.store import ChatStore, ConvRow, MessageRow, OutboxRow, fts_query
from kbapp.core import errors

ME, BOB = "a" * 32, "b" * 32
CONV = "c" * 32


def conv_row(**kw) -> ConvRow:
    base = dict(conv_id=CONV, team_id="d" * 32, topic_type=1, topic_id="e" * 32, kind="implicit",
                team_name="alice,bob")
    base.update(kw)
    return ConvRow(**base)


def text(msg_id: int, words: str, sender: str = BOB, **kw) -> MessageRow:
    return MessageRow(conv_id=CONV, msg_id=msg_id, status="ok", type="text", sender_uid=sender, sender="bob",
                      body={"kind": "text", "text": words}, text=words, ctime=msg_id, **kw)


@pytest.fixture
def store(tmp_path):
    s = ChatStore(tmp_path / "chat.sqlite3")
    s.put_conv(conv_row())
    yield s
    s.close()


def test_new_file_is_private_and_versioned(tmp_path):
    s = ChatStore(tmp_path / "chat.sqlite3")
    s.close()
    assert stat.S_IMODE(os.stat(tmp_path / "chat.sqlite3").st_mode) == 0o600
    db = sqlite3.connect(tmp_path / "chat.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(errors.SchemaTooNew):
        ChatStore(tmp_path / "chat.sqlite3")


def test_sync_commit_applies_verified_edits_and_deletes_to_search(store):
    store.commit_sync(CONV, [text(1, "the quick brown fox"), text(2, "lazy dog sleeps"),
                             text(3, "café crème")], cursor=3, judge_state=b"s1")
    assert [h.msg_id for h in store.search("fox")] == [1]
    assert [h.msg_id for h in store.search("cafe")] == [3]       # diacritics folded
    edit = MessageRow(conv_id=CONV, msg_id=4, status="ok", type="edit", sender_uid=BOB, supersedes=1,
                      body={"kind": "edit", "target": 1, "text": "the slow red fox"})
    dele = MessageRow(conv_id=CONV, msg_id=5, status="ok", type="delete", sender_uid=BOB, deletes=(2,),
                      body={"kind": "delete", "targets": [2]})
    store.commit_sync(CONV, [edit, dele], cursor=5, judge_state=b"s2")
    assert store.search("quick") == [] and [h.msg_id for h in store.search("red")] == [1]
    assert store.search("dog") == []
    m1, m2 = store.message(CONV, 1), store.message(CONV, 2)
    assert m1.text == "the slow red fox" and m1.edited
    assert m2.deleted_by == 5 and m2.body is None and m2.text is None
    c = store.conv(CONV)
    assert c.cursor == 5 and c.judge_state == b"s2" and c.last_msg_id == 5


def test_bad_rows_are_kept_but_never_applied(store):
    store.commit_sync(CONV, [text(1, "hello there")], cursor=1, judge_state=None)
    forged = MessageRow(conv_id=CONV, msg_id=2, status="bad", type="delete", deletes=(1,), error_code="CHAT_FORGED",
                        error="forged delete", body={"kind": "delete", "targets": [1]})
    store.commit_sync(CONV, [forged], cursor=2, judge_state=None)
    assert store.message(CONV, 1).text == "hello there"
    assert [h.msg_id for h in store.search("hello")] == [1]
    assert store.message(CONV, 2).error_code == "CHAT_FORGED"


def test_fts_query_takes_words_not_syntax():
    assert fts_query('fox" OR text:* NEAR(') == '"fox"* "OR"* "text"* "NEAR"*'
    assert fts_query("  ") == ""


def test_search_with_fts_syntax_is_plain_words(store):
    store.commit_sync(CONV, [text(1, "and or not near")], cursor=1, judge_state=None)
    assert [h.msg_id for h in store.search('"near" OR (')] == [1]


def test_unread_and_read_marker(store):
    store.commit_sync(CONV, [text(1, "one"), text(2, "two", sender=ME), text(3, "three")], cursor=3,
                      judge_state=None)
    assert store.unread(CONV, ME) == 2
    store.set_conv(CONV, read_upto=2)
    assert store.unread(CONV, ME) == 1
    store.set_conv(CONV, read_upto=1)          # a marker never goes back
    assert store.conv(CONV).read_upto == 2
    store.set_conv(CONV, muted=True)
    assert store.conv(CONV).muted


def test_page_of_newest_and_threads(store):
    store.commit_sync(CONV, [text(i, f"m{i}", thread_root=1 if i in (3, 5) else None) for i in range(1, 7)],
                      cursor=6, judge_state=None)
    assert [m.msg_id for m in store.messages(CONV, limit=2)] == [5, 6]
    assert [m.msg_id for m in store.messages(CONV, after=4)] == [5, 6]
    assert [m.msg_id for m in store.messages(CONV, thread=1)] == [1, 3, 5]


def test_outbox_moves_are_compare_and_set(store):
    store.outbox_add(OutboxRow(outbox_id="0" * 32, conv_id=CONV, payload={"kind": "text", "b": b"\x01"}))
    row = store.outbox_get("0" * 32)
    assert row.state == "pending" and row.payload == {"kind": "text", "b": b"\x01"}
    assert store.outbox_update("0" * 32, expect=("pending",), state="sending") is not None
    assert store.outbox_update("0" * 32, expect=("pending",), state="sending") is None   # already taken
    done = store.outbox_update("0" * 32, expect=("sending",), state="sent", msg_id=7, sealed={"x": 1})
    assert done.state == "sent" and done.msg_id == 7 and done.sealed == {"x": 1}
    store.outbox_drop_sent(CONV, 6)                          # not reached yet: stays sent
    assert store.outbox_get("0" * 32).state == "sent"
    store.commit_sync(CONV, [text(7, "mine", outbox_id="0" * 32)], cursor=7, judge_state=None)
    assert store.outbox_get("0" * 32) is None                # its message is stored: the row shows it


def test_a_sent_entry_whose_message_is_not_stored_fails_and_renews(store):
    """Acknowledged as #7, but #7 is another message (or none): failed, never silently dropped;
    Retry makes it a new entry (a new id, sealed again)."""
    store.outbox_add(OutboxRow(outbox_id="1" * 32, conv_id=CONV, payload={"kind": "text", "text": "hi"}))
    store.outbox_update("1" * 32, expect=("pending",), state="sent", msg_id=7, sealed={"x": 1})
    store.commit_sync(CONV, [text(7, "someone else's", outbox_id="2" * 32)], cursor=7, judge_state=None)
    row = store.outbox_get("1" * 32)
    assert row.state == "failed" and row.retryable and "#7" in row.last_error and "not delivered" in row.last_error
    assert store.outbox_renew("2" * 32, "3" * 32, 1) is None             # no such entry
    new = store.outbox_renew("1" * 32, "3" * 32, 1)
    assert (new.outbox_id, new.state, new.msg_id, new.sealed, new.payload) == \
        ("3" * 32, "pending", None, None, {"kind": "text", "text": "hi"})
    assert store.outbox_get("1" * 32) is None
    assert store.outbox_renew("3" * 32, "4" * 32, 1) is None             # a pending one is not renewed


def test_a_stored_row_from_someone_else_with_our_id_does_not_settle_ours(store):
    """The header's outbox id is signed, but by its sender: a member who saw ours (a server
    showing it to them only) could sign their own message with it. Only our own counts."""
    store.outbox_add(OutboxRow(outbox_id="5" * 32, conv_id=CONV, payload={"kind": "text", "text": "hi"}))
    store.outbox_update("5" * 32, expect=("pending",), state="sent", msg_id=3)
    store.commit_sync(CONV, [text(3, "copycat", outbox_id="5" * 32, sender="b" * 32)], cursor=3,
                      judge_state=None, me="a" * 32)
    assert store.outbox_get("5" * 32).state == "failed"


def test_forget_conv_drops_text_and_index(store):
    store.commit_sync(CONV, [text(1, "secret words")], cursor=1, judge_state=None)
    store.forget_conv(CONV)
    assert store.search("secret") == [] and store.conv(CONV) is None and store.indexed_rows() == 0


def test_gaps_are_the_missing_msg_ids(store):
    store.commit_sync(CONV, [text(i, f"m{i}") for i in (1, 2, 5, 6, 9)], cursor=10, judge_state=None)
    assert store.gaps(CONV, 10) == [(3, 4), (7, 8), (10, 10)]
    assert store.gaps(CONV, 2) == []
    store.commit_sync(CONV, [text(i, f"m{i}") for i in (3, 4, 7, 8, 10)], cursor=10, judge_state=None)
    assert store.gaps(CONV, 10) == []


def test_a_list_of_conversations_leaves_the_judge_memory_out(store):
    store.commit_sync(CONV, [text(1, "x")], cursor=1, judge_state=b"m" * 1000)
    assert store.convs()[0].judge_state is None and store.conv(CONV).judge_state == b"m" * 1000


def test_chat_file_trades_fsyncs_for_wal_safety(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1          # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_unread_mentions_of_me_or_the_channel(store):
    from kbapp.client.chat.store import mention_marks

    rows = [text(1, "hi @alice", mentions=mention_marks([ME], False)), text(2, "hi all @here",
            mentions=mention_marks([], True)), text(3, "hi bob", mentions=mention_marks([BOB], False))]
    store.commit_sync(CONV, rows, cursor=3, judge_state=None)
    assert store.unread_mentions(CONV, ME) == 2
    store.set_conv(CONV, read_upto=1)
    assert store.unread_mentions(CONV, ME) == 1


def test_a_version_1_file_gets_its_mentions_column_filled_from_the_bodies(tmp_path):
    """A chat file as the first release made it (no `mentions` column, user_version 1)."""
    path = tmp_path / "chat.sqlite3"
    s = ChatStore(path)
    s.put_conv(conv_row())
    s.commit_sync(CONV, [MessageRow(conv_id=CONV, msg_id=1, status="ok", type="text", sender_uid=BOB,
                                    body={"kind": "text", "text": "@alice look", "mentions": [ME],
                                          "channel_mention": False}, text="@alice look")],
                  cursor=1, judge_state=None)
    s.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE messages DROP COLUMN mentions")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    s = ChatStore(path)
    try:
        assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2
        assert s.message(CONV, 1).mentions == f" {ME} " and s.unread_mentions(CONV, ME) == 1
        assert [h.msg_id for h in s.search("look")] == [1]           # the rest is as it was
    finally:
        s.close()
