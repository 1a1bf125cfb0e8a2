"""Attacks on `kbapp fs mount` (kbapp/client/fs/mount.py) through a real FUSE mount.

alice is a real client whose core is bypassed to post hand-packed trees
(tests/fs_hostile_support.py); bob mounts his profile and ordinary file calls (listdir, stat,
readlink, open) go through the kernel to his engine. Nothing alice stores may hand the kernel
an invalid name or a symlink that leads out of the mount; a reader's writes are refused at
open time (EACCES), a mount left by a killed process is cleaned by the next one, and a big
file is read in chunks (`open_read`), never whole.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import sys
import textwrap

import pytest

from kbapp.client.fs import mount as fs_mount
from kbapp.core.fs.names import check_component

from fs_hostile_support import HostileTree

pytestmark = pytest.mark.timeout(300)




needs_fuse = pytest.mark.skipif(fs_mount.available() is not None, reason=f"FUSE unusable here: {fs_mount.available()}")

HOSTILE = {"dotdot": "..", "dot": ".", "slash": "x/../../escape", "nul": "a\0b", "newline": "a\nb",
           "bidi": "invoice\u202etxt.exe", "con": "CON", "long": "x" * 300}


async def pair(clients, name, world, readers: bool = False):
    """alice and bob on the real server; their folder (bob only reads it when `readers`)."""
    out = []
    for role in ("alice", "bob"):
        app = await clients(role, connect=False)
        username = name(role)
        await app.signup(username, device_name=f"{role}-laptop", server_url=world.server.url)
        out += [app, username]
    alice, a, bob, b = out
    folder = f"/private/{a}#{b}" if readers else f"/private/{','.join(sorted((a, b)))}"
    await alice.files.write(f"{folder}/warm.txt", b"honest")
    assert await bob.files.read(f"{folder}/warm.txt") == b"honest"
    return alice, bob, folder


async def mounted(app, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    return mnt, await fs_mount.Mount(app, mnt).start()


def _oserror(fn, *args) -> int:
    """The errno `fn(*args)` fails with (0 when it does not fail)."""
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


@needs_fuse
async def test_hostile_names_never_reach_the_kernel_and_the_mount_lives(clients, name, world, tmp_path):
    alice, bob, folder = await pair(clients, name, world)
    evil = await HostileTree(alice, folder).start()
    root = [evil.file("good.txt", b"fine")]
    root += [evil.dir(f"d_{d}", [evil.file(n, b"escaped!"), evil.file("ok.txt", b"ok")]) for d, n in HOSTILE.items()]
    await evil.post(root)
    await bob.files.ls(folder)
    mnt, m = await mounted(bob, tmp_path)
    try:
        top = mnt / folder.strip("/")
        names = set(await asyncio.to_thread(os.listdir, top))
        assert names == {"good.txt", *(f"d_{d}" for d in HOSTILE)}
        for d in HOSTILE:
            # a directory holding a refused name is refused whole by the core (never a partial,
            # never an escaping name), with an errno, not a crash nor a hang
            try:
                inside = await asyncio.wait_for(asyncio.to_thread(os.listdir, top / f"d_{d}"), 60)
            except OSError as e:
                assert e.errno in (errno.EINVAL, errno.EIO), (d, e)
            else:
                for n in inside:
                    check_component(n)
        # the mount is alive after every refusal
        assert (await asyncio.to_thread((top / "good.txt").read_bytes)) == b"fine"
    finally:
        await m.close()
    assert not os.path.ismount(mnt)


@needs_fuse
async def test_the_mount_drops_names_the_name_rules_refuse(tmp_path):
    """If a listing ever held a refused name (an engine bug, a future format), readdir leaves it
    out: the kernel never gets `..`, a `/`, a NUL or a 300-byte name."""
    class Files:
        async def ls(self, path, **kw):
            return [{"name": n, "type": "file", "size": 1, "mtime": 0} for n in
                    ["ok.txt", *HOSTILE.values()]]

    class App:
        files = Files()

    ops = fs_mount.FolderFS(App(), asyncio.get_running_loop())
    listed = await asyncio.to_thread(ops.readdir, "/private/alice,bob", None)
    assert listed == [".", "..", "ok.txt"]


@needs_fuse
async def test_symlinks_never_lead_out_of_the_mount(clients, name, world, tmp_path):
    alice, bob, folder = await pair(clients, name, world)
    evil = await HostileTree(alice, folder).start()
    await evil.post([
        evil.file("good.txt", b"fine"),
        evil.symlink("passwd", "/etc/passwd"),
        evil.symlink("up", "../../../../../../etc/passwd"),
        evil.symlink("sneaky", "sub/../../good.txt"),
        evil.symlink("inside", "good.txt"),
        evil.dir("sub", [evil.symlink("ok", "../good.txt"), evil.symlink("up2", "../../x")]),
    ])
    await bob.files.ls(folder)
    mnt, m = await mounted(bob, tmp_path)
    try:
        top = mnt / folder.strip("/")
        for link in ("passwd", "up", "sneaky", "sub/up2"):
            assert await asyncio.to_thread(_oserror, os.readlink, top / link) == errno.EACCES, link
            assert await asyncio.to_thread(_oserror, lambda p: open(p, "rb").read(), top / link) == errno.EACCES
        assert await asyncio.to_thread(os.readlink, top / "inside") == "good.txt"
        assert await asyncio.to_thread((top / "inside").read_bytes) == b"fine"
        assert await asyncio.to_thread((top / "sub" / "ok").read_bytes) == b"fine"
    finally:
        await m.close()


@needs_fuse
async def test_a_reader_writing_through_the_mount_gets_eacces_at_open(clients, name, world, tmp_path):
    alice, bob, folder = await pair(clients, name, world, readers=True)
    mnt, m = await mounted(bob, tmp_path)
    try:
        top = mnt / folder.strip("/")
        assert await asyncio.to_thread((top / "warm.txt").read_bytes) == b"honest"
        # refused when the file is opened: no bytes spooled, no error at close, no EIO
        assert await asyncio.to_thread(_oserror, open, top / "new.txt", "wb") == errno.EACCES
        assert await asyncio.to_thread(_oserror, open, top / "warm.txt", "r+b") == errno.EACCES
        assert await asyncio.to_thread(_oserror, os.mkdir, top / "dir") == errno.EACCES
        assert await asyncio.to_thread(_oserror, os.unlink, top / "warm.txt") == errno.EACCES
    finally:
        await m.close()
    assert sorted(r["name"] for r in await bob.files.ls(folder)) == ["warm.txt"]
    assert (await bob.files.status())["entries"] == []


@needs_fuse
async def test_a_tree_too_deep_is_refused_with_an_errno_not_a_hang(clients, name, world, tmp_path):
    alice, bob, folder = await pair(clients, name, world)
    evil = await HostileTree(alice, folder).start()
    node = [evil.file("bottom.txt", b"deep")]
    for _ in range(300):
        node = [evil.dir("d", node)]
    await evil.post(node)
    await bob.files.ls(folder)
    mnt, m = await mounted(bob, tmp_path)

    def descend() -> tuple[int, int]:
        fd = os.open(mnt / folder.strip("/"), os.O_RDONLY | os.O_DIRECTORY)
        depth = 0
        try:
            while True:
                try:
                    nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                except OSError as e:
                    return depth, e.errno
                os.close(fd)
                fd, depth = nxt, depth + 1
        finally:
            os.close(fd)

    try:
        depth, err = await asyncio.wait_for(asyncio.to_thread(descend), 240)
        assert depth == 256 and err == errno.ENAMETOOLONG, (depth, errno.errorcode.get(err))
        assert await asyncio.to_thread(os.listdir, mnt / folder.strip("/")) == ["d"]     # the mount lives
    finally:
        await m.close()


CHILD = textwrap.dedent("""
    import asyncio, sys
    from kbapp.client.fs.mount import Mount
    async def main():
        await Mount(object(), sys.argv[1]).start()
        print("mounted", flush=True)
        await asyncio.sleep(3600)
    asyncio.run(main())
""")


@needs_fuse
async def test_a_mount_left_by_a_killed_process_is_cleaned_by_the_next(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, str(mnt),
                                                 stdout=asyncio.subprocess.PIPE)
    try:
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"mounted"
        assert sorted(await asyncio.to_thread(os.listdir, mnt)) == ["private", "public", "team"]
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert await asyncio.to_thread(_oserror, os.stat, mnt) == errno.ENOTCONN     # the dead mount

    m = await fs_mount.Mount(object(), mnt).start()
    try:
        assert sorted(await asyncio.to_thread(os.listdir, mnt)) == ["private", "public", "team"]
    finally:
        await m.close()
    assert not os.path.ismount(mnt) and await asyncio.to_thread(_oserror, os.stat, mnt) == 0


@needs_fuse
async def test_a_big_file_is_streamed_into_the_spool_not_read_whole(clients, name, world, tmp_path, monkeypatch):
    alice, bob, folder = await pair(clients, name, world)
    big = os.urandom(9 * 1024 * 1024 + 5)
    await alice.files.write(f"{folder}/big.bin", big)
    chunks: list[int] = []
    real = bob.files.open_read

    def counting(path, **kw):
        async def gen():
            async for c in real(path, **kw):
                chunks.append(len(c))
                yield c
        return gen()

    async def whole(*a, **k):
        raise AssertionError("the mount read a whole file into memory")

    monkeypatch.setattr(bob.files, "open_read", counting)
    monkeypatch.setattr(bob.files, "read", whole)
    mnt, m = await mounted(bob, tmp_path)
    try:
        got = await asyncio.to_thread((mnt / folder.strip("/") / "big.bin").read_bytes)
    finally:
        await m.close()
    assert got == big
    assert len(chunks) > 2 and max(chunks) <= 4 * 1024 * 1024, chunks
