"""The folder head in the transparency map (core/transparency.py): its key kind and encoding."""

from __future__ import annotations

import pytest

from kbapp.core import errors
from kbapp.core.encoding import pack
from kbapp.core.transparency import FolderHead, map_key


def test_folder_keys_are_their_own_kind():
    ident = "ab" * 16
    assert len({map_key("user", ident), map_key("team", ident), map_key("folder", ident)}) == 3
    with pytest.raises(ValueError):
        map_key("folders", ident)


def test_a_head_round_trips_and_malformed_ones_are_refused():
    head = FolderHead(7, "cd" * 32)
    assert head.encode() == pack([1, 7, bytes.fromhex("cd" * 32)])
    assert FolderHead.decode(head.encode()) == head
    for bad in ([1, 0, bytes(32)], [2, 7, bytes(32)], [1, 7, bytes(31)], [1, True, bytes(32)], [1, 7]):
        with pytest.raises(errors.EncodingError):
            FolderHead.decode(pack(bad))


def test_folder_server_error_codes_are_unique_and_exported():
    from kbapp.core import errors_fs_server
    classes = [getattr(errors_fs_server, n) for n in errors_fs_server.__all__]
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes) and all(c.startswith("FS_") for c in codes)
    assert all(getattr(errors, n) is c for n, c in zip(errors_fs_server.__all__, classes))
    others = {c.code for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.KbappError)
              and c not in classes}
    assert not others & set(codes)
    assert all(issubclass(c, errors.ServerError) and not issubclass(c, errors.VerificationError) for c in classes)
