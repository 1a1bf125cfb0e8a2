"""KBFS's merge rules for two offline branches (core/fs/conflict.py), over op lists."""

from __future__ import annotations

import pytest

from fs_support import FolderWorld

from kbapp.core.fs.conflict import MAX_MERGE_OPS, conflicted_name, merge, parked_view_name, split_ext
from kbapp.core.fs.dirs import DIR, Entry
from kbapp.core.fs.revision import Op

ME, THEM, DATE = ("alice", "laptop"), ("bob", "desktop"), "2026-12-06"
FW = FolderWorld(kind="public")


def w(*path, data=b"x"):
    return Op("write", tuple(path), entry=FW.file_entry(path[-1], data))


def mkdir(*path):
    return Op("mkdir", tuple(path))


def rm(*path):
    return Op("rm", tuple(path))


def mv(src, dst, is_dir=False):
    e = FW.dir_entry(dst[-1], []) if is_dir else FW.file_entry(dst[-1], b"moved")
    return Op("rename", tuple(src), to=tuple(dst), entry=e)


def run(local, remote):
    return merge(local, remote, local_label=ME, remote_label=THEM, date=DATE)


def summary(m):
    return [(a.kind, "/".join(a.path), "/".join(a.to) if a.to else None) for a in m.actions]


def c(name, label=ME, n=1):
    return conflicted_name(name, label[0], label[1], DATE, n)


@pytest.mark.parametrize("name,base,ext", [("b.txt", "b", ".txt"), ("a.tar.gz", "a", ".tar.gz"),
                                           (".bashrc", ".bashrc", ""), ("README", "README", ""),
                                           ("x.y.z", "x.y", ".z"), (".tar.gz", ".tar", ".gz")])
def test_split_ext(name, base, ext):
    assert split_ext(name) == (base, ext)


def test_conflict_names_are_kbfs_names():
    assert c("b.txt") == "b.conflicted (alice's laptop copy 2026-12-06).txt"
    assert c("a.tar.gz", THEM) == "a.conflicted (bob's desktop copy 2026-12-06).tar.gz"
    assert c("b.txt", n=2) == "b.conflicted (alice's laptop copy 2026-12-06 #2).txt"
    long = c("x" * 250 + ".txt")
    assert len(long.encode()) <= 255 and long.endswith("copy 2026-12-06).txt")
    assert conflicted_name("a", "eve", "evil/../\x00dev", DATE) == "a.conflicted (eve's evil_.._\x5fdev copy 2026-12-06)"
    assert parked_view_name(DATE) == "(local conflicted copy 2026-12-06)"


def test_disjoint_changes_merge():
    m = run([w("a.txt"), mkdir("docs"), w("docs", "n.md")], [w("b.txt"), rm("old")])
    assert summary(m) == [("write", "a.txt", None), ("mkdir", "docs", None), ("write", "docs/n.md", None)]
    assert not m.parked and m.renamed == ()


def test_the_same_file_written_on_both_keeps_both():
    local = w("b.txt", data=b"mine")
    m = run([local], [w("b.txt", data=b"theirs")])
    assert summary(m) == [("write", c("b.txt"), None)]
    assert m.actions[0].entry.ptr == local.entry.ptr and m.actions[0].entry.name == c("b.txt")
    assert m.renamed == ((("b.txt",), (c("b.txt"),)),)


def test_later_local_ops_follow_the_conflict_name():
    m = run([w("b.txt"), w("b.txt"), mv(("b.txt",), ("c.txt",))], [w("b.txt")])
    assert summary(m) == [("write", c("b.txt"), None), ("write", c("b.txt"), None), ("move", c("b.txt"), "c.txt")]


def test_create_create_directories_merge_and_files_inside_follow():
    m = run([mkdir("d"), w("d", "mine.txt"), w("d", "same.txt")], [mkdir("d"), w("d", "same.txt")])
    assert summary(m) == [("write", "d/mine.txt", None), ("write", "d/" + c("same.txt"), None)]


def test_file_against_directory_renames_the_file():
    m = run([mkdir("x"), w("x", "in.txt")], [w("x")])                        # remote file, local dir
    assert summary(m) == [("move", "x", c("x", THEM)), ("mkdir", "x", None), ("write", "x/in.txt", None)]
    m = run([w("x")], [mkdir("x")])                                           # local file, remote dir
    assert summary(m) == [("write", c("x"), None)]
    m = run([w("x", "deep.txt")], [w("x")])                                   # a file where a local dir's child goes
    assert summary(m)[0] == ("move", "x", c("x", THEM))


def test_an_edit_follows_a_remote_rename():
    m = run([w("docs", "a.txt")], [mv(("docs",), ("papers",), is_dir=True)])
    assert summary(m) == [("write", "papers/a.txt", None)]
    m = run([w("a.txt")], [mv(("a.txt",), ("b.txt",))])
    assert summary(m) == [("write", "b.txt", None)]                           # the edit follows the file
    m = run([w("b.txt")], [mv(("a.txt",), ("b.txt",))])                       # a new b.txt here, a.txt moved there
    assert summary(m) == [("write", c("b.txt"), None)]
    m = run([rm("a.txt")], [mv(("a.txt",), ("b.txt",))])                      # a delete follows too
    assert summary(m) == [("rm", "b.txt", None)]
    m = run([rm("b.txt")], [mv(("a.txt",), ("b.txt",))])                      # not the file that moved in
    assert summary(m) == []
    m = run([rm("docs")], [mv(("docs",), ("papers",), is_dir=True), w("papers", "new.txt")])
    assert summary(m) == [("keep", "papers", None)]                          # something new inside: kept
    m = run([mkdir("papers")], [mv(("docs",), ("papers",), is_dir=True)])
    assert summary(m) == []                                                   # directories merge


def test_a_local_rename_of_a_remotely_edited_file_moves_the_edited_one():
    m = run([mv(("a.txt",), ("b.txt",))], [w("a.txt")])
    assert summary(m) == [("move", "a.txt", "b.txt")]


def test_rename_onto_a_remotely_created_name_is_a_conflict():
    m = run([mv(("a",), ("b",))], [mkdir("b")])                               # KBFS: `mv a b` vs `mkdir b`
    assert summary(m) == [("move", "a", c("b"))]
    m = run([mv(("a",), ("b",)), w("b")], [mkdir("b")])
    assert summary(m)[1] == ("write", c("b"), None)


def test_renamed_on_both_keeps_the_remote_name_and_follows_it():
    m = run([mv(("a",), ("mine",)), w("mine")], [mv(("a",), ("theirs",))])
    assert summary(m) == [("keep", "theirs", None), ("write", c("theirs"), None)]


def test_edits_win_over_deletes():
    m = run([w("d", "a.txt")], [rm("d")])                                     # recreated
    assert summary(m) == [("write", "d/a.txt", None)] and "recreated" in m.actions[0].note
    m = run([rm("a.txt")], [w("a.txt")])                                      # local delete skipped
    assert summary(m) == [("keep", "a.txt", None)]
    m = run([rm("d")], [w("d", "new.txt")])
    assert summary(m) == [("keep", "d", None)]
    m = run([rm("a.txt")], [rm("a.txt")])                                     # both deleted it
    assert summary(m) == []
    m = run([mv(("a.txt",), ("b.txt",))], [rm("a.txt")])                      # renamed here, deleted there
    assert summary(m) == [("write", "b.txt", None)]


def test_setattr_follows_renames_and_drops_on_delete():
    fw = FW
    e = fw.file_entry("a.sh", b"#!")
    op = Op("setattr", ("d", "a.sh"), entry=e, attr="exec")
    assert summary(run([op], [mv(("d",), ("e",), is_dir=True)])) == [("setattr", "e/a.sh", None)]
    assert summary(run([op], [rm("d")])) == []


def test_conflict_names_are_unique_within_a_merge():
    m = run([w("b.txt"), mkdir("d"), w("d", "x")], [w("b.txt"), w(c("b.txt")), w("d", "x")])
    assert summary(m)[0] == ("write", c("b.txt", n=2), None)


def test_a_rename_cycle_parks_the_local_branch():
    m = run([mv(("a",), ("b", "a"), is_dir=True)], [mv(("b",), ("a", "b"), is_dir=True)])
    assert m.parked and m.actions == () and m.view == "(local conflicted copy 2026-12-06)"
    assert "cycle" in m.reason


def test_too_much_to_merge_parks_instead_of_blocking():
    op = mkdir("d")
    m = run([op] * (MAX_MERGE_OPS + 1), [])
    assert m.parked and m.view


def test_a_dir_entry_carried_by_a_rename_is_recreated_when_its_source_is_gone():
    e = Entry("new", DIR, FW.root([]), 0, 0, bytes(16))
    e = Entry("new", DIR, e.ptr, e.ptr.size, 0, bytes(16))
    m = run([Op("rename", ("old",), to=("new",), entry=e)], [rm("old")])
    assert summary(m) == [("write", "new", None)] and m.actions[0].entry.is_dir
