"""The search index of one sync's batch: rows inserted and touched by nothing else are indexed
as they are (not read back); an edit, a delete or a cover in the same batch makes the store
index the target as stored after it, so search never finds a word the history no longer has."""

from __future__ import annotations

import pytest

from kbapp.client.chat.store import ChatStore, MessageRow

from test_chat_store import BOB, CONV, conv_row, text


@pytest.fixture
def store(tmp_path):
    s = ChatStore(tmp_path / "chat.sqlite3")
    s.put_conv(conv_row())
    yield s
    s.close()


def test_an_edit_and_a_delete_in_the_same_batch_as_their_targets(store):
    edit = MessageRow(conv_id=CONV, msg_id=3, status="ok", type="edit", sender_uid=BOB, supersedes=1,
                      body={"kind": "edit", "target": 1, "text": "the slow red fox"})
    dele = MessageRow(conv_id=CONV, msg_id=4, status="ok", type="delete", sender_uid=BOB, deletes=(2,),
                      body={"kind": "delete", "targets": [2]})
    store.commit_sync(CONV, [text(1, "the quick brown fox"), text(2, "lazy dog sleeps"), edit, dele,
                             text(5, "plain words")], cursor=5, judge_state=b"s")
    assert [h.msg_id for h in store.search("fox")] == [1]
    assert store.search("quick") == [] and store.search("lazy") == []
    assert [h.msg_id for h in store.search("slow")] == [1]
    assert [h.msg_id for h in store.search("plain")] == [5]


def test_a_row_stored_again_is_indexed_as_stored(store):
    store.commit_sync(CONV, [text(1, "first words")], cursor=1, judge_state=b"s")
    store.commit_sync(CONV, [text(1, "second words")], cursor=1, judge_state=b"s")
    assert store.search("first") == [] and [h.msg_id for h in store.search("second")] == [1]
