"""Encrypted folders, from the attacker's side (core only: the served revisions and blocks
are tampered with the way a malicious server, or a malicious writer, would).

Each attack raises its typed error and leaves the judge's trusted state as it was. The server
and client sides (a real server on 127.0.0.1) come with the folder routes (docs/folders-plan.md).
"""

from __future__ import annotations

import copy

import nacl.secret
import pytest

from fs_support import FolderWorld, root_at

from kbapp.core import errors
from kbapp.core.encoding import pack
from kbapp.core.fs.blocks import DATA, MAX_DATA, BlockPointer, block_id, block_key_nonce, open_block
from kbapp.core.fs.dirs import DIR, FILE, SYMLINK, Entry, lookup, read_dir, walk
from kbapp.core.fs.names import check_export_names, export_relpath
from kbapp.core.fs.revision import Op, open_private, parse_private
from kbapp.core.keys import SigningKeyPair
from kbapp.core.teams import Role


def refused(judge, error, envelope):
    before = copy.deepcopy(judge.state.to_dict())
    with pytest.raises(error):
        judge.feed(envelope)
    assert judge.state.to_dict() == before


def _three(fw):
    for _ in range(3):
        fw.commit(fw.alice)


# -- the server and the revision chain ---------------------------------------------------


def test_rollback_to_an_older_revision_is_refused():
    fw = FolderWorld()
    _three(fw)
    j = fw.judge()
    j.feed_all(fw.served)
    refused(j, errors.RevisionRollback, fw.served[1])
    with pytest.raises(errors.RevisionRollback):                # and the map cannot be behind us either
        j.check_head(2, fw.signed[1].id)


def test_a_hidden_newest_revision_is_caught_by_the_map():
    fw = FolderWorld()
    _three(fw)
    j = fw.judge()
    j.feed_all(fw.served[:2])                                   # the server serves up to 2 ...
    with pytest.raises(errors.HiddenRevision):
        j.check_head(3, fw.signed[2].id)                        # ... the verified map says 3


def test_withheld_revisions_in_between_are_a_gap():
    fw = FolderWorld()
    _three(fw)
    j = fw.judge()
    j.feed(fw.served[0])
    refused(j, errors.RevisionGap, fw.served[2])


def test_a_fork_with_two_revisions_of_one_number_is_refused():
    fw = FolderWorld()
    fw.commit(fw.alice)
    fw.commit(fw.alice)
    other = fw.compose(fw.bob, fw.root([]), revision=2, prev=fw.signed[0].id)   # a valid twin for reader B
    a, b = fw.judge(), fw.judge()
    a.feed_all(fw.served)
    b.feed_all([fw.served[0], other.envelope])
    with pytest.raises(errors.ForkedFolder):                    # B meets the map, which names A's revision 2
        b.check_head(2, fw.signed[1].id)
    with pytest.raises(errors.ForkedFolder, match="two different revisions numbered 2"):
        a.feed(other.envelope)                                  # A is served B's revision 2
    refused(a, errors.ForkedFolder, other.envelope)
    third = fw.compose(fw.bob, fw.root([]), revision=3, prev=other.id)
    refused(a, errors.ForkedFolder, third.envelope)             # a revision 3 on B's branch


def test_another_folders_revision_is_refused():
    fw, other = FolderWorld(), FolderWorld(kind="private")
    other.commit(other.alice)
    refused(fw.judge(), errors.WrongFolder, other.served[0])


def test_a_revision_by_a_removed_writer_backdated_below_the_high_water_mark():
    fw = FolderWorld()
    fw.commit(fw.alice)
    old = fw.team.state                                         # bob still a writer here
    fw.team.change(fw.alice, {"bob": Role.NONE})
    fw.commit(fw.alice)                                         # moves the high-water seqno past the removal
    forged = fw.compose(fw.bob, fw.root([]), team_seqno=old.seqno, key_gen=old.generation,
                        kbfs_key=fw.kbfs_key(old.generation), checkpoint=(fw.w.log_size, fw.checkpoint()[1]))
    j = fw.judge()
    j.feed_all(fw.served)
    refused(j, errors.FolderWriterNotMember, forged.envelope)


def test_a_reader_cannot_write():
    fw = FolderWorld()
    fw.commit(fw.alice)
    forged = fw.compose(fw.carol, fw.root([]))                  # carol is a reader of acme
    j = fw.judge()
    j.feed(fw.served[0])
    refused(j, errors.FolderWriterNotMember, forged.envelope)


def test_a_revoked_device_cannot_sign_behind_the_high_water_checkpoint():
    fw = FolderWorld()
    laptop = SigningKeyPair.from_seed(fw.w.rand(32))
    fw.bob.extra_devices.append(laptop)
    fw.commit(fw.bob, device=laptop)                            # fine while the laptop is live
    early = fw.checkpoint()
    fw.w.tick()
    fw.bob.revoked_at[laptop.kid.hex()] = fw.w.log_size         # revoked at this log size
    fw.w.tick()
    fw.commit(fw.alice)                                         # alice saw the log after the revocation
    forged = fw.compose(fw.bob, fw.root([]), device=laptop, checkpoint=early)
    j = fw.judge()
    j.feed_all(fw.served)
    refused(j, errors.RevokedWriterKey, forged.envelope)


def test_a_checkpoint_outside_our_log_or_going_back_is_refused():
    fw = FolderWorld()
    fw.commit(fw.alice)
    j = fw.judge()
    j.feed(fw.served[0])
    forged = fw.compose(fw.alice, fw.root([]), checkpoint=(fw.w.log_size, b"\x01" * 32))
    refused(j, errors.FolderForkedCheckpoint, forged.envelope)
    back = fw.compose(fw.alice, fw.root([]), checkpoint=(fw.w.log_size - 1, root_at(fw.w.log_size - 1)))
    refused(j, errors.FolderCheckpointRollback, back.envelope)


def test_a_stale_key_generation_after_a_rotation_is_refused():
    fw = FolderWorld()
    fw.commit(fw.alice)
    fw.team.rotate(fw.alice)
    forged = fw.compose(fw.bob, fw.root([]), key_gen=1, kbfs_key=fw.kbfs_key(1))
    j = fw.judge()
    j.feed(fw.served[0])
    refused(j, errors.FolderStaleKeyGen, forged.envelope)


# -- blocks ------------------------------------------------------------------------------


def _two_files(fw):
    a, b = fw.file_entry("a.txt", b"alice's secret"), fw.file_entry("b.txt", b"bob's secret")
    root = fw.root([a, b])
    return root, a, b


def test_swapped_blocks_between_files_are_caught_by_the_pointer_id():
    fw = FolderWorld()
    root, a, b = _two_files(fw)
    fw.blocks[a.ptr.id] = fw.blocks[b.ptr.id]                   # the server serves b's block for a
    with pytest.raises(errors.BlockIdMismatch):
        open_block(a.ptr, fw.fetch(a.ptr), fw.keys())


def test_blocks_swapped_between_folders_are_caught_too():
    fw, other = FolderWorld(), FolderWorld(seed="other")
    root, a, _ = _two_files(fw)
    theirs = other.file_entry("a.txt", b"another folder's file")
    with pytest.raises(errors.BlockIdMismatch):
        open_block(a.ptr, other.fetch(theirs.ptr), fw.keys())


def test_an_altered_block_is_refused():
    fw = FolderWorld()
    root, a, _ = _two_files(fw)
    stored = bytearray(fw.blocks[a.ptr.id])
    stored[-1] ^= 1
    fw.blocks[a.ptr.id] = bytes(stored)
    with pytest.raises(errors.BlockIdMismatch):
        open_block(a.ptr, fw.fetch(a.ptr), fw.keys())


def test_a_pointer_whose_half_does_not_open_its_block():
    """A malicious writer names a block with another half: the id matches, the MAC does not."""
    fw = FolderWorld()
    _, a, _ = _two_files(fw)
    bad = BlockPointer(a.ptr.id, a.ptr.key_gen, b"\x07" * 32, a.ptr.size, a.ptr.kind)
    with pytest.raises(errors.BlockOpenFailed):
        open_block(bad, fw.fetch(a.ptr), fw.keys())


def _sealed_raw(fw, padded: bytes):
    """A writer sealing arbitrary padded bytes under the folder key (bypassing pad())."""
    half = fw.w.rand(32)
    k, nonce = block_key_nonce(fw.kbfs_key(), half)
    stored = nacl.secret.SecretBox(k).encrypt(padded, nonce).ciphertext
    return BlockPointer(block_id(stored), fw.team.state.generation, half, 0, DATA), stored


@pytest.mark.parametrize("padded,why", [
    ((0xFFFFFFFF).to_bytes(4, "little") + bytes(252), "larger than the block"),   # length far past the block
    ((MAX_DATA).to_bytes(4, "little") + bytes(252), "larger than the block"),
    ((0).to_bytes(4, "little") + b"\xff" * 252, "non-zero"),                      # bytes hidden in the padding
    ((3).to_bytes(4, "little") + b"abc" + bytes(1017), "pad to 256, not 1024"),   # inflated past its size class
])
def test_a_padding_bomb_is_refused(padded, why):
    fw = FolderWorld()
    ptr, stored = _sealed_raw(fw, padded)
    with pytest.raises(errors.BadPadding, match=why):
        open_block(ptr, stored, fw.keys())


def test_a_directory_claiming_a_huge_size_is_refused_before_any_fetch():
    fw = FolderWorld()
    f = fw.file_entry("x", b"x")
    huge = BlockPointer(f.ptr.id, f.ptr.key_gen, f.ptr.half, 1 << 40, 2)
    fetched = []
    with pytest.raises(errors.BadDirectory):
        read_dir(huge, lambda p: fetched.append(p) or fw.fetch(p), fw.keys())
    assert fetched == []


# -- hostile trees from a writer ---------------------------------------------------------


def _hostile_dir(fw, name: str):
    """A writer packs a directory with a name no check_component allows (bypassing pack_dir)."""
    f = fw.file_entry("x", b"payload")
    return fw.put_bytes(pack([1, [[name, FILE, f.ptr.to_wire(), f.size, 0, f.writer, None]]]))


@pytest.mark.parametrize("name", ["..", ".", "/etc/passwd", "a/../../b", "evil\0.txt", "CON", "aux.txt",
                                  "invoice\u202etxt.exe", "x" * 300, "trailing.", "bell\x07"])
def test_hostile_names_are_refused_on_read(name):
    fw = FolderWorld()
    root = _hostile_dir(fw, name)
    with pytest.raises(errors.BadPathName):
        read_dir(root, fw.fetch, fw.keys())
    with pytest.raises(errors.BadPathName):
        list(walk(root, fw.fetch, fw.keys()))


def test_names_that_are_not_utf8_strings_are_refused_on_read():
    fw = FolderWorld()
    f = fw.file_entry("x", b"payload")
    as_bytes = fw.put_bytes(pack([1, [[b"x", FILE, f.ptr.to_wire(), f.size, 0, f.writer, None]]]))
    with pytest.raises(errors.BadPathName):                    # a second encoding of the same name
        read_dir(as_bytes, fw.fetch, fw.keys())
    good = pack([1, [["x", FILE, f.ptr.to_wire(), f.size, 0, f.writer, None]]])
    at = good.index(b"\xa1x") + 1
    not_utf8 = fw.put_bytes(good[:at] + b"\xff" + good[at + 1:])
    with pytest.raises(errors.BadDirectory):                   # invalid UTF-8 in a msgpack string
        read_dir(not_utf8, fw.fetch, fw.keys())


def test_symlinks_and_case_clashes_are_refused_on_export():
    fw = FolderWorld()
    link = Entry("etc", SYMLINK, None, 4, 0, bytes.fromhex(fw.alice.uid), "/etc")
    a, b = fw.file_entry("Report.txt", b"1"), fw.file_entry("report.txt", b"2")
    root = fw.root([link, a, b])
    entries = list(walk(root, fw.fetch, fw.keys()))
    with pytest.raises(errors.UnsafeExport):
        for path, e in entries:
            export_relpath(path, entry_type=e.type_name)
    with pytest.raises(errors.UnsafeExport):
        check_export_names([p[-1] for p, _ in entries])


def test_a_10000_deep_tree_is_refused_on_read():
    fw = FolderWorld(kind="public")
    child = fw.dir_entry("d", [])
    for _ in range(10_000):
        child = fw.dir_entry("d", [child])
    root = fw.root([child])
    with pytest.raises(errors.TreeTooDeep):
        for _ in walk(root, fw.fetch, None):
            pass
    with pytest.raises(errors.TreeTooDeep):
        lookup(root, ("d",) * 10_000, fw.fetch, None)


def test_a_directory_dag_that_explodes_when_walked_is_refused():
    """Ids are hashes (no cycles), but one block named many times under itself multiplies."""
    fw = FolderWorld(kind="public")
    level = fw.dir_entry("d", [fw.file_entry(f"f{i}", b"x") for i in range(10)])
    for _ in range(6):                                          # 10^6 names reachable from 60 entries
        level = fw.dir_entry("d", [Entry(f"d{i}", DIR, level.ptr, level.size, 0, level.writer) for i in range(10)])
    root = fw.root([level])
    with pytest.raises(errors.TreeTooLarge):
        for _ in walk(root, fw.fetch, None, max_nodes=100_000):
            pass


def test_revision_ops_with_hostile_paths_are_refused():
    fw = FolderWorld()
    sr = fw.commit(fw.alice, [], [Op("mkdir", ("ok",))])
    p = open_private(sr.revision, fw.keys())
    evil = pack([1, p.root.to_wire(), [{"op": "rm", "path": ["..", "etc"]}]])
    with pytest.raises(errors.BadRevision):
        parse_private(evil)
