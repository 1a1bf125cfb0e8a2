"""From the attacker's side: a photo folder someone else can drop things into.

Each hostile entry is left out with a typed reason (`IndexSummary.skipped`), the rest
of the folder is indexed, memory stays bounded and nothing hangs: a symlink to
/dev/zero, a FIFO named pipe.jpg, a device file, a directory named x.jpg, a symlink
out of the folder, a symlink loop; and a name that is not UTF-8 is indexed like any
other, searchable, its path round-tripping byte for byte.
"""

from __future__ import annotations

import os
import resource
import stat
import sys
from pathlib import Path

import pytest
from photo_support import dev_items

from kbapp.core import errors
from kbapp.ml import files, imaging
from kbapp.ml.library import PhotoLibrary

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(sys.platform == "win32", reason="POSIX files")]


@pytest.fixture
def lib(tmp_path, photo_analyzer):
    lib = PhotoLibrary.open(tmp_path / "home", analyzer=photo_analyzer)
    yield lib
    lib.close()


@pytest.fixture
def photos():
    return [p for p, _ in dev_items()[:3]]


def folder_with(tmp_path: Path, photos: list[Path], n: int = 1) -> Path:
    d = tmp_path / "pics"
    d.mkdir()
    for p in photos[:n]:
        (d / p.name).write_bytes(p.read_bytes())
    return d


def skipped_as(summary, code: str) -> list[str]:
    assert summary.skipped.get(code), (code, summary.skipped, summary.skipped_files)
    return [os.path.basename(p) for p, _ in summary.skipped_files]


def names(lib) -> set[str]:
    return {os.path.basename(h.path) for h in lib.search(None, limit=100)}


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_symlink_to_dev_zero_is_never_read(lib, tmp_path, photos):
    d = folder_with(tmp_path, photos)
    os.symlink("/dev/zero", d / "zero.jpg")
    before = max_rss_mib()
    s = lib.index([d])
    assert "zero.jpg" in skipped_as(s, errors.SymlinkOutside.code)
    assert s.indexed == 1 and names(lib) == {photos[0].name}
    # asked to follow symlinks, it is still not a regular file: skipped, not read
    s = lib.index([d], follow_symlinks=True)
    assert "zero.jpg" in skipped_as(s, errors.NotARegularFile.code)
    assert max_rss_mib() - before < 200, "reading /dev/zero would grow memory without bound"


def test_dev_zero_directly_is_refused_by_the_reader():
    with pytest.raises(errors.NotARegularFile):
        imaging.load_image(Path("/dev/zero"))
    with pytest.raises(errors.NotARegularFile):
        files.read_regular("/dev/zero", 1 << 20)


def test_fifo_named_pipe_jpg_does_not_hang(lib, tmp_path, photos):
    d = folder_with(tmp_path, photos)
    os.mkfifo(d / "pipe.jpg")
    s = lib.index([d])   # the module's timeout ends a hang as a failure
    assert "pipe.jpg" in skipped_as(s, errors.NotARegularFile.code)
    assert names(lib) == {photos[0].name}
    with pytest.raises(errors.NotARegularFile):   # the reader itself, named directly
        imaging.load_image(d / "pipe.jpg")


def test_device_file_is_skipped(lib, tmp_path, photos):
    d = folder_with(tmp_path, photos)
    try:
        os.mknod(d / "tty.jpg", stat.S_IFCHR | 0o600, os.makedev(1, 5))   # /dev/zero's numbers
    except PermissionError:
        pytest.skip("mknod needs root here")
    s = lib.index([d])
    assert "tty.jpg" in skipped_as(s, errors.NotARegularFile.code)
    assert names(lib) == {photos[0].name}


def test_directory_named_like_a_photo_is_walked_not_read(lib, tmp_path, photos):
    d = folder_with(tmp_path, photos)
    sub = d / "x.jpg"
    sub.mkdir()
    (sub / photos[1].name).write_bytes(photos[1].read_bytes())
    s = lib.index([d])
    assert s.skipped == {} and names(lib) == {photos[0].name, photos[1].name}
    with pytest.raises(errors.NotARegularFile):
        imaging.load_image(sub)


def test_non_utf8_name_is_indexed_searchable_and_round_trips(lib, tmp_path, photos):
    d = folder_with(tmp_path, photos, n=0)
    raw = os.fsencode(d) + b"/caf\xe9.jpg"
    with open(raw, "wb") as f:
        f.write(photos[0].read_bytes())
    (d / photos[1].name).write_bytes(photos[1].read_bytes())
    s = lib.index([d])
    assert s.indexed == 2 and s.skipped == {}
    hit = next(h for h in lib.search(None, limit=10) if os.fsencode(h.path) == raw)
    assert os.fsencode(lib.photo(Path(os.fsdecode(raw))).path) == raw
    tag = hit.tags[0]
    assert any(os.fsencode(h.path) == raw for h in lib.search(tag, limit=50))
    assert any(os.fsencode(h.path) == raw for h in lib.search(None, folder=d, limit=50))
    again = lib.index([d])   # the stored path matches the file: unchanged, not re-indexed or removed
    assert again.unchanged == 2 and again.indexed == 0 and again.removed == 0
    os.unlink(raw)
    assert lib.index([d]).removed == 1


def test_symlink_to_a_photo_outside_is_skipped_unless_asked(lib, tmp_path, photos):
    outside = tmp_path / "private"
    outside.mkdir()
    secret = outside / "secret.jpg"
    secret.write_bytes(photos[1].read_bytes())
    d = folder_with(tmp_path, photos)
    os.symlink(secret, d / "link.jpg")
    os.symlink(outside, d / "linked-folder")
    s = lib.index([d])
    assert {"link.jpg", "linked-folder"} <= set(skipped_as(s, errors.SymlinkOutside.code))
    assert names(lib) == {photos[0].name}
    s = lib.index([d], follow_symlinks=True)
    assert names(lib) == {photos[0].name, "link.jpg", "secret.jpg"}


def test_symlink_inside_the_folder_is_allowed(lib, tmp_path, photos):
    d = folder_with(tmp_path, photos)
    os.symlink(d / photos[0].name, d / "alias.jpg")
    s = lib.index([d])
    assert s.skipped == {} and names(lib) == {photos[0].name, "alias.jpg"}


def test_symlink_loops_end(lib, tmp_path, photos):
    d = folder_with(tmp_path, photos)
    (d / "sub").mkdir()
    os.symlink(d, d / "sub" / "back")        # a folder loop
    os.symlink("self.jpg", d / "self.jpg")   # a file link to itself
    s = lib.index([d], follow_symlinks=True)
    assert {"back", "self.jpg"} <= set(skipped_as(s, errors.SymlinkLoop.code))
    assert s.indexed == 1 and names(lib) == {photos[0].name}   # once, not once per trip round the loop
