"""The server's blob store on a real folder: content addresses, caps, atomic puts, hostile ids."""

import hashlib
import os

import pytest

from kbapp.core import errors
from kbapp.server.blobstore import FilesystemBlobStore, blob_id_of, check_blob_id


@pytest.fixture
def store(tmp_path):
    return FilesystemBlobStore(tmp_path / "blobs", max_size=1000)


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def test_put_streams_and_reads_back(store):
    data = os.urandom(900)
    bid = blob_id_of(data)
    assert store.put(bid, (data[i:i + 7] for i in range(0, len(data), 7))) == 900
    assert store.exists(bid)
    assert store.get(bid) == data
    assert b"".join(store.open(bid)) == data
    assert store.put(bid, [data]) == 900          # same id, same bytes: allowed
    assert store.delete(bid) is True
    assert not store.exists(bid)
    assert store.delete(bid) is False
    with pytest.raises(errors.NotFound):
        store.get(bid)


def test_bytes_that_do_not_match_their_id_are_not_kept(store):
    bid = blob_id_of(b"what the client said")
    with pytest.raises(errors.BlobMismatch):
        store.put(bid, [b"what it sent instead"])
    assert not store.exists(bid)
    assert files_under(store.root) == []


def test_size_cap_stops_the_stream_and_keeps_nothing(store):
    sent = []

    def endless():
        while True:
            sent.append(1)
            yield b"x" * 100

    with pytest.raises(errors.TooLarge):
        store.put(blob_id_of(b"x" * 1100), endless())
    assert len(sent) == 11                      # stopped as soon as the cap was passed
    assert files_under(store.root) == []


@pytest.mark.parametrize("bad", [
    "../" * 10 + "etc/passwd", "/etc/passwd", "..", ".", "", "ab/" + "0" * 61, "0" * 63, "0" * 65,
    "A" * 64, "g" * 64, "0" * 63 + "\x00", "0" * 62 + "/x", "..\\" + "0" * 61, "0" * 64 + "\n",
    None, 12, b"0" * 64, ["0" * 64],
])
def test_hostile_ids_are_refused_before_any_path(store, tmp_path, bad):
    before = files_under(tmp_path)
    for call in (lambda: store.put(bad, [b"x"]), lambda: store.get(bad), lambda: store.exists(bad),
                 lambda: store.delete(bad), lambda: store.open(bad)):
        with pytest.raises(errors.BadBlobId):
            call()
    assert files_under(tmp_path) == before


def test_traversal_id_cannot_write_outside_the_root(tmp_path):
    """An id that is a path (what a naive store would join) writes nothing anywhere."""
    store = FilesystemBlobStore(tmp_path / "a" / "blobs")
    target = tmp_path / "a" / "victim"
    evil = "../victim"
    with pytest.raises(errors.BadBlobId):
        store.put(evil, [b"owned"])
    assert not target.exists()
    assert not (tmp_path / "a" / "blobs" / ".." / "victim").exists()


def test_interrupted_put_leaves_no_blob_and_is_swept(tmp_path):
    store = FilesystemBlobStore(tmp_path / "blobs")
    data = b"y" * 5000

    def dies():
        yield data[:100]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.put(blob_id_of(data), dies())
    assert not store.exists(blob_id_of(data))
    assert files_under(tmp_path / "blobs") == []
    (tmp_path / "blobs" / "tmp" / "leftover").write_bytes(b"half")     # as a crash would leave
    FilesystemBlobStore(tmp_path / "blobs")
    assert files_under(tmp_path / "blobs") == []


def test_non_bytes_chunks_are_refused(store):
    with pytest.raises(errors.EncodingError):
        store.put(blob_id_of(b"x"), ["x"])
    assert files_under(store.root) == []


def test_check_blob_id_accepts_only_sha256_hex():
    h = hashlib.sha256(b"x").hexdigest()
    assert check_blob_id(h) == h
    assert blob_id_of(b"x") == h
