"""The folder reader's rules (core/fs/judge.py) on honest folders: real team chains and keys."""

from __future__ import annotations

from fs_support import FolderWorld, write_op

from kbapp.core.encoding import pack, unpack
from kbapp.core.fs.judge import FolderState
from kbapp.core.fs.revision import open_private
from kbapp.core.teams import Role


def test_an_honest_folder_verifies_and_matches_the_map():
    fw = FolderWorld()
    a = fw.file_entry("a.txt", b"from alice")
    fw.commit(fw.alice, [a], [write_op(a)])
    b = fw.file_entry("b.txt", b"from bob", fw.bob)
    fw.commit(fw.bob, [a, b], [write_op(b)])
    fw.team.rotate(fw.alice)                                # a new key generation: the next revision uses it
    c = fw.file_entry("c.txt", b"after the rotation")
    fw.commit(fw.alice, [a, b, c], [write_op(c)])
    j = fw.judge()
    got = j.feed_all(fw.served)
    assert [s.revision.revision for s in got] == [1, 2, 3]
    assert [s.revision.key_gen for s in got] == [1, 1, 2]
    j.check_head(3, fw.signed[-1].id)
    assert j.next_revision() == (4, fw.signed[-1].id)
    root = open_private(got[-1].revision, fw.keys()).root
    assert sorted(fw.read_root(root)) == ["a.txt", "b.txt", "c.txt"]   # old blocks under generation 1 still open
    assert fw.read_root(root)["a.txt"].ptr.key_gen == 1


def test_the_head_again_is_nothing_new_and_state_persists():
    fw = FolderWorld()
    for _ in range(3):
        fw.commit(fw.alice)
    one = fw.judge()
    one.feed_all(fw.served)
    first = fw.judge()
    first.feed_all(fw.served[:2])
    saved = unpack(pack(first.state.to_dict()))
    second = fw.judge(state=FolderState.from_dict(saved))
    second.feed(fw.served[1])                               # the head re-served: fine
    second.feed(fw.served[2])
    assert second.state.to_dict() == one.state.to_dict()


def test_a_public_folder_is_written_by_the_teams_writers():
    fw = FolderWorld(kind="public", members={"bob": Role.WRITER})
    f = fw.file_entry("index.html", b"<p>hi</p>")
    fw.commit(fw.alice, [f], [write_op(f)])
    fw.commit(fw.bob, [f])
    j = fw.judge()
    assert len(j.feed_all(fw.served)) == 2


def test_a_removed_writers_earlier_revisions_stay_valid():
    """Judged in order, bob's revision before his removal passes; the high-water mark moves after."""
    fw = FolderWorld()
    fw.commit(fw.bob)
    fw.team.change(fw.alice, {"bob": Role.NONE})
    fw.commit(fw.alice)
    j = fw.judge()
    assert len(j.feed_all(fw.served)) == 2
