"""rollback.rolled_back: which folder revisions are rollbacks, and to what (client/fs/rollback.py).
A rollback lists no ops and changes the root to an earlier revision's root, or to an empty
directory; any other revision without ops (a tree re-sealed or replaced) is not one, or a
writer could hide others' changes from merges by posting one."""

from __future__ import annotations

from kbapp.client.fs.journal import RevRow
from kbapp.client.fs.rollback import rolled_back
from kbapp.core.encoding import pack
from kbapp.core.fs.blocks import BlockPointer, DATA

WRITE = {"op": "mkdir", "path": ["d"]}


def _root(n: int) -> bytes:
    return pack(BlockPointer(bytes([n]) * 32, 1, b"h" * 32, 10, DATA).to_wire())


def _rev(rev: int, root: int, ops: bool = True) -> RevRow:
    return RevRow(rev, f"{rev:064x}", "u" * 32, "k" * 64, rev, _root(root), pack([WRITE] if ops else []), False)


def test_a_rollback_goes_back_to_the_newest_revision_with_its_root():
    revs = [_rev(1, 1), _rev(2, 2), _rev(3, 3), _rev(4, 2, ops=False)]
    assert rolled_back(revs) == {4: 2}


def test_a_rollback_of_a_rollback_and_a_second_one():
    revs = [_rev(1, 1), _rev(2, 2), _rev(3, 1, ops=False), _rev(4, 2, ops=False), _rev(5, 5), _rev(6, 1, ops=False)]
    assert rolled_back(revs) == {3: 1, 4: 2, 6: 3}          # 6 goes back to the newest with root 1: revision 3


def test_a_fresh_root_without_ops_is_no_rollback_unless_it_is_an_empty_directory():
    revs = [_rev(1, 1), _rev(2, 2), _rev(3, 9, ops=False)]
    assert rolled_back(revs) == {}
    empty = {bytes([9]) * 32}
    assert rolled_back(revs, empty) == {3: 0}


def test_the_same_root_again_or_a_first_row_is_nothing():
    assert rolled_back([_rev(4, 4, ops=False), _rev(5, 4, ops=False)]) == {}
