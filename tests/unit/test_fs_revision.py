"""Folder revisions (core/fs/revision.py): format, signature, sealed private part, and the
worked example of docs/protocol.md "Encrypted folders"."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fs_support import FolderWorld, write_op

from kbapp.core import errors
from kbapp.core.encoding import pack, unpack
from kbapp.core.fs.blocks import DATA, seal_block
from kbapp.core.fs.dirs import pack_dir
from kbapp.core.fs.revision import (FIELDS, Op, Private, check_op, folder_id_for, make_revision, md_key,
                                    open_envelope, open_private, pack_private, pack_revision, parse_private,
                                    parse_revision, sign_revision)
from kbapp.core.keys import SigningKeyPair

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
TEAM = bytes(range(16))
KEY = b"\x11" * 32


def worked_example() -> dict:
    """Fixed keys, half and nonce (Ed25519 is deterministic): the doc's example."""
    device = SigningKeyPair.from_seed(b"\x22" * 32)
    root, stored = seal_block(pack_dir([]), kind=DATA, folder_key=KEY, key_gen=1, half=b"\x33" * 32)
    sr = make_revision(team_id=TEAM, kind=3, revision=1, prev=None, key_gen=1, device=device, uid=b"\x55" * 16,
                       eldest_seqno=1, checkpoint=(42, b"\x66" * 32), team_seqno=1, root=root,
                       ops=[Op("mkdir", ("docs",))], ctime=1_700_000_000, kbfs_key=KEY, nonce=b"\x44" * 24)
    assert open_private(open_envelope(sr.envelope).revision, {1: KEY}) == Private(root, (Op("mkdir", ("docs",)),))
    fid = folder_id_for(TEAM, 3)
    return {"folder_id": fid.hex(), "md_key": md_key(KEY, fid).hex(), "root_block_id": root.id.hex(),
            "root_block": f"{len(stored)} bytes", "writer_kid": device.kid.hex(),
            "envelope": f"{len(sr.envelope)} bytes", "revision_id": sr.id.hex()}


def test_the_worked_example_in_the_protocol_doc():
    text = DOC.read_text()
    section = text[text.index("### Worked example (folders)"):]
    block = section[section.index("```") + 3:]
    block = block[:block.index("```")]
    doc = dict(line.split(" = ", 1) for line in block.strip().splitlines())
    assert {k.strip(): v.strip() for k, v in doc.items()} == worked_example()


def test_a_revision_round_trips_and_its_id_is_the_envelope_hash():
    fw = FolderWorld()
    f = fw.file_entry("a.txt", b"hello")
    sr = fw.commit(fw.alice, [f], [write_op(f)])
    got = open_envelope(sr.envelope)
    assert got.revision == sr.revision and got.id == sr.id
    assert parse_revision(pack_revision(sr.revision)) == sr.revision
    p = open_private(got.revision, fw.keys())
    assert p.ops == (write_op(f),) and fw.read_root(p.root)["a.txt"].size == 5
    assert sr.revision.private[24:].find(b"a.txt") == -1            # names are sealed


def test_a_public_revision_carries_its_private_part_in_the_clear():
    fw = FolderWorld(kind="public")
    f = fw.file_entry("a.txt", b"hello")
    sr = fw.commit(fw.alice, [f], [write_op(f)])
    assert sr.revision.key_gen == 0 and b"a.txt" in sr.revision.private
    assert open_private(sr.revision, None).ops == (write_op(f),)


def test_revisions_are_strict():
    fw = FolderWorld()
    sr = fw.commit(fw.alice)
    m = unpack(sr.raw)
    cases = [
        {**m, "extra": 1}, {k: v for k, v in m.items() if k != "ctime"}, {**m, "v": 2},
        {**m, "folder_id": bytes(16)}, {**m, "kind": 2}, {**m, "prev": b"\x00" * 32},
        {**m, "revision": 2}, {**m, "key_gen": 0}, {**m, "writer": {**m["writer"], "kid": b"x" * 35}},
        {**m, "writer": {**m["writer"], "extra": 1}}, {**m, "checkpoint": [0, m["checkpoint"][1]]},
        {**m, "team_seqno": True}, {**m, "private": "text"},
    ]
    for bad in cases:
        with pytest.raises(errors.BadRevision):
            parse_revision(pack(bad))
    with pytest.raises(errors.BadRevision):                           # keys out of order
        parse_revision(pack(dict(reversed(list(m.items())))))
    assert set(m) == set(FIELDS)


def test_the_signature_covers_the_revision():
    fw = FolderWorld()
    sr = fw.commit(fw.alice)
    raw, sig = unpack(sr.envelope)
    with pytest.raises(errors.BadRevisionSignature):
        open_envelope(pack([raw, bytes(64)]))
    m = unpack(raw)
    m["ctime"] += 1
    with pytest.raises(errors.BadRevisionSignature):
        open_envelope(pack([pack({k: m[k] for k in sorted(m)}), sig]))
    with pytest.raises(errors.BadRevision):
        open_envelope(pack([raw, sig, b""]))
    with pytest.raises(ValueError):
        sign_revision(dataclasses.replace(sr.revision), fw.bob.device)


def test_the_private_part_opens_only_under_its_key_and_is_strict():
    fw = FolderWorld()
    sr = fw.commit(fw.alice)
    with pytest.raises(errors.FolderUnknownKeyGen):
        open_private(sr.revision, {})
    with pytest.raises(errors.BadRevision):
        open_private(sr.revision, {1: b"\x00" * 32})
    p = parse_private(pack_private(Private(fw.root([]), (Op("rm", ("x",)),))))
    data = pack([1, p.root.to_wire(), [{"op": "rm", "path": ["x"], "to": ["y"]}]])
    with pytest.raises(errors.BadRevision):
        parse_private(data)


@pytest.mark.parametrize("op", [
    {"op": "chmod", "path": ["a"]}, {"op": "rm", "path": []}, {"op": "rm", "path": [".."]},
    {"op": "rm", "path": ["a/b"]}, {"op": "rename", "path": ["a"], "to": ["b"]},
    {"op": "setattr", "path": ["a"], "attr": "owner", "entry": None}, {"op": "mkdir", "path": ["a"] * 300},
])
def test_ops_are_strict(op):
    with pytest.raises(errors.BadRevision):
        check_op(op)


def test_an_op_entry_is_named_like_its_path():
    fw = FolderWorld()
    f = fw.file_entry("a.txt", b"x")
    assert check_op(write_op(f).to_wire()) == write_op(f)
    with pytest.raises(errors.BadRevision):
        check_op({"op": "write", "path": ["b.txt"], "entry": f.to_wire()})
