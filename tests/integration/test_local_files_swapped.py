"""Hostile local files while copying into a folder or attaching to a message (found by an
attacker review): a file swapped after the scan for a symlink out of the tree or for a
fifo, names that become one folder name, a tree too deep, a file gone mid-copy, a
255-byte attachment name, a fifo or directory attached. Each: a typed refusal, nothing
outside what was scanned read, the event loop never stuck in `open()`, and nothing of the
copy uploaded behind the user's back (`--no-upload`)."""

from __future__ import annotations

import asyncio
import os
import threading
import unicodedata

import pytest

from kbapp.client.chat import transfer
from kbapp.client.fs.copy import import_local
from kbapp.client.local_read import identity, open_regular
from kbapp.core import errors

from e2e_support import signup_all

F = "/private/alice"
pytestmark = pytest.mark.timeout(120)


async def _alice(server_factory, apps, tmp_path):
    server = server_factory()
    return (await signup_all(apps, tmp_path, server.url, ("alice",)))["alice"]


def _tree(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    (src / "b.txt").write_bytes(b"b")
    return src


class _Watchdog:
    """Opens a fifo's other end if the test is still waiting after `seconds` (a blocked open()
    on the loop thread would otherwise hang the test for ever); says whether it had to."""

    def __init__(self, fifo, seconds: float = 5.0):
        self.fifo, self.fired, self.done = fifo, threading.Event(), threading.Event()
        threading.Thread(target=self._run, args=(seconds,), daemon=True).start()

    def _run(self, seconds: float) -> None:
        if not self.done.wait(seconds):
            self.fired.set()
            try:
                os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass


async def test_a_file_swapped_for_a_symlink_after_the_scan_is_not_read(server_factory, apps, tmp_path):
    alice = await _alice(server_factory, apps, tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"TOP SECRET outside the tree")
    src = _tree(tmp_path)

    def swap(row):                           # a local writer, after the scan said b.txt is a file
        if row["path"].endswith("a.txt"):
            (src / "b.txt").unlink()
            os.symlink(secret, src / "b.txt")

    out = await import_local(alice.files, src, f"{F}/dst", recursive=True, upload=False, on_file=swap)
    assert [w["path"] for w in out["written"]] == [f"{F}/dst/a.txt"]
    assert [f["code"] for f in out["failed"]] == ["FS_LOCAL_CHANGED"]
    assert [r["name"] for r in await alice.files.ls(f"{F}/dst")] == ["a.txt"]


async def test_a_file_swapped_for_a_fifo_after_the_scan_never_blocks_the_loop(server_factory, apps, tmp_path):
    alice = await _alice(server_factory, apps, tmp_path)
    src = _tree(tmp_path)
    dog = _Watchdog(src / "b.txt")

    def swap(row):
        if row["path"].endswith("a.txt"):
            (src / "b.txt").unlink()
            os.mkfifo(src / "b.txt")

    out = await import_local(alice.files, src, f"{F}/dst", recursive=True, upload=False, on_file=swap)
    dog.done.set()
    assert not dog.fired.is_set()
    assert [f["code"] for f in out["failed"]] == ["FS_LOCAL_CHANGED"]


async def test_a_file_gone_mid_copy_is_listed_and_the_rest_goes_on(server_factory, apps, tmp_path):
    alice = await _alice(server_factory, apps, tmp_path)
    src = _tree(tmp_path)
    (src / "c.txt").write_bytes(b"c")

    def vanish(row):
        if row["path"].endswith("a.txt"):
            (src / "b.txt").unlink()

    out = await import_local(alice.files, src, f"{F}/dst", recursive=True, upload=False, on_file=vanish)
    assert [f["code"] for f in out["failed"]] == ["FS_LOCAL_READ"] and "b.txt" in out["failed"][0]["local"]
    assert sorted(r["name"] for r in await alice.files.ls(f"{F}/dst")) == ["a.txt", "c.txt"]


async def test_names_that_become_one_folder_name_refuse_the_copy(server_factory, apps, tmp_path):
    alice = await _alice(server_factory, apps, tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    (src / "caf\u00e9.txt").write_bytes(b"NFC")
    (src / unicodedata.normalize("NFD", "caf\u00e9.txt")).write_bytes(b"NFD")
    with pytest.raises(errors.LocalNameRefused, match="same folder name"):
        await import_local(alice.files, src, f"{F}/dst", recursive=True, upload=False)
    with pytest.raises(errors.NotFound):
        await alice.files.ls(f"{F}/dst")                                  # nothing written


async def test_a_tree_too_deep_is_refused_before_anything_is_written(server_factory, apps, tmp_path):
    alice = await _alice(server_factory, apps, tmp_path)
    src = tmp_path / "src"
    d = src
    for _ in range(260):
        d = d / "d"
    d.mkdir(parents=True)
    (d / "f.txt").write_bytes(b"x")
    with pytest.raises(errors.LocalNameRefused, match="deeper than"):
        await import_local(alice.files, src, f"{F}/dst", recursive=True, upload=False)
    status = await alice.files.status()
    assert status["pending"] == 0 and status["uploaded"] == 0


async def test_no_upload_keeps_the_directories_local_too(server_factory, apps, tmp_path):
    alice = await _alice(server_factory, apps, tmp_path)
    src = tmp_path / "src"
    (src / "x" / "y").mkdir(parents=True)
    (src / "x" / "y" / "f").write_bytes(b"f")
    await import_local(alice.files, src, f"{F}/dst", recursive=True, upload=False)   # `cp --no-upload`
    status = await alice.files.status()
    assert status["uploaded"] == 0 and status["pending"] >= 1


def test_open_regular_refuses_symlinks_fifos_directories_and_a_replaced_file(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x")
    ident = identity(os.stat(f))
    with open_regular(f, ident) as fh:
        assert fh.read() == b"x"
    (tmp_path / "link").symlink_to(f)
    with pytest.raises(errors.LocalTypeRefused):
        open_regular(tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(errors.LocalTypeRefused):
        open_regular(tmp_path / "fifo")                  # at once: O_NONBLOCK, no writer needed
    with pytest.raises(errors.LocalTypeRefused):
        open_regular(tmp_path)
    f.unlink()
    f.write_bytes(b"another file under the same name")
    other = tmp_path / "keep"
    other.write_bytes(b"k")                              # (another inode is likely taken)
    if identity(os.stat(f)) != ident:
        with pytest.raises(errors.LocalChanged):
            open_regular(f, ident)
    with pytest.raises(errors.LocalReadFailed):
        open_regular(tmp_path / "missing")


class _Api:
    async def blob_quota(self):
        return {}

    async def blob_post(self, body, total):
        async for _ in body:
            pass
        return {}


async def test_attaching_a_fifo_or_a_directory_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    dog = _Watchdog(fifo, 3.0)
    with pytest.raises(errors.LocalTypeRefused):
        await asyncio.wait_for(transfer.upload(_Api(), fifo), 10)
    dog.done.set()
    assert not dog.fired.is_set()
    with pytest.raises(errors.LocalTypeRefused):
        await transfer.upload(_Api(), tmp_path)


def test_a_long_attachment_name_still_saves(tmp_path):
    """body.py allows 255-byte names and the window offers it as the save name: the temporary
    file beside it must not pass NAME_MAX."""
    part = transfer._PartFile(tmp_path / ("a" * 250 + ".png"))
    part.write([b"data"])
    part.commit()
    assert (tmp_path / ("a" * 250 + ".png")).read_bytes() == b"data"


async def test_fs_read_to_a_directory_is_refused_before_anything_is_fetched(tmp_path):
    from kbapp.cli.fs import _write_dest

    fetched = []

    async def pieces():
        fetched.append(1)
        yield b"data"

    (tmp_path / "d").mkdir()
    with pytest.raises(errors.LocalTypeRefused):
        await _write_dest(str(tmp_path / "d"), pieces())
    assert fetched == [] and os.listdir(tmp_path / "d") == []
    long = tmp_path / ("n" * 250)
    assert await _write_dest(str(long), pieces()) == 4 and long.read_bytes() == b"data"
