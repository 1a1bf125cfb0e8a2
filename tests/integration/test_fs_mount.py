"""`kbapp fs mount` (kbapp/client/fs/mount.py): every folder as a real filesystem through FUSE.

alice mounts her profile's folders; ordinary programs (`cp -r`, `cat`, `ls -l`, `mv`, `rm`)
work on them; what they write goes through alice's journal and engine, and bob (another
profile on the same real server) reads it. Skipped, with the reason, where FUSE cannot be
used (no /dev/fuse access, no libfuse3, no mfusepy).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from kbapp.client.fs import mount as fs_mount

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)

SHARED = "/private/alice,bob"




async def sh(*argv: str) -> str:
    """Run a program against the mount without blocking the loop (the mount's engine runs on it)."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    if proc.returncode != 0:
        raise AssertionError(f"{argv} failed ({proc.returncode}): {err.decode(errors='replace')}")
    return out.decode(errors="replace")


@pytest.mark.skipif(fs_mount.available() is not None, reason=f"FUSE unusable here: {fs_mount.available()}")
async def test_cp_cat_ls_mv_rm_through_the_mount(server_factory, tmp_path, apps):
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    src = tmp_path / "trip"
    (src / "day1").mkdir(parents=True)
    (src / "day1" / "notes.txt").write_bytes(b"first day\n")
    big = os.urandom(3 * 1024 * 1024 + 17)
    (src / "video.bin").write_bytes(big)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    m = await fs_mount.Mount(alice, mnt).start()
    try:
        top = await sh("ls", str(mnt))
        assert top.split() == ["private", "public", "team"]
        assert "alice" in (await sh("ls", str(mnt / "private"))).split()
        shared = mnt / "private" / "alice,bob"
        await sh("cp", "-r", str(src), str(shared / "trip"))
        assert await sh("cat", str(shared / "trip" / "day1" / "notes.txt")) == "first day\n"
        listing = await sh("ls", "-l", str(shared / "trip"))
        assert "video.bin" in listing and str(len(big)) in listing and "day1" in listing
        await sh("mv", str(shared / "trip" / "day1" / "notes.txt"), str(shared / "trip" / "notes-moved.txt"))
        await sh("rm", str(shared / "trip" / "video.bin"))
        assert sorted((await sh("ls", str(shared / "trip"))).split()) == ["day1", "notes-moved.txt"]
        await asyncio.wait_for(alice.files.sync(), 120)
    finally:
        await m.close()
    assert not os.path.ismount(mnt)

    # bob, on his own profile, sees what the programs did
    assert await bob.files.read(SHARED + "/trip/notes-moved.txt") == b"first day\n"
    names = sorted(r["name"] for r in await bob.files.ls(SHARED + "/trip"))
    assert names == ["day1", "notes-moved.txt"]
    assert [r["name"] for r in await bob.files.ls(SHARED + "/trip/day1")] == []


def test_unavailable_says_how_to_get_fuse(monkeypatch):
    monkeypatch.setattr(fs_mount, "fuse", None)
    monkeypatch.setattr(fs_mount, "MISSING", "No module named 'mfusepy'")
    reason = fs_mount.available()
    assert reason is not None and "fuse3" in reason and "kbapp[mount]" in reason
    from kbapp.core import errors
    with pytest.raises(errors.MountUnavailable):
        fs_mount.Mount(object(), "/nonexistent", loop=asyncio.new_event_loop())


@pytest.mark.skipif(fs_mount.available() is not None, reason=f"FUSE unusable here: {fs_mount.available()}")
async def test_the_cli_mounts_until_sigterm_and_unmounts_cleanly(server_factory, tmp_path):
    """`kbapp fs mount DIR` as a user runs it: the folders appear, a program writes through the
    mount, SIGTERM unmounts and uploads what is pending; the file is on the server after."""
    import signal
    import subprocess
    import sys

    from e2e_support import PASSPHRASE, ROOT, cli

    server = server_factory()
    home = tmp_path / "carol"
    cli(home, "signup", "carol", "--server", server.url)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = dict(os.environ, KBAPP_KEYSTORE="file", KBAPP_PASSPHRASE=PASSPHRASE)
    proc = subprocess.Popen([sys.executable, "-m", "kbapp", "--home", str(home), "fs", "mount", str(mnt)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        for _ in range(300):
            if os.path.ismount(mnt) or proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert os.path.ismount(mnt), proc.stderr.read() if proc.poll() is not None else "not mounted in 30 s"
        (tmp_path / "hello.txt").write_bytes(b"hello through the kernel\n")
        await sh("cp", str(tmp_path / "hello.txt"), str(mnt / "private" / "carol" / "hello.txt"))
        assert await sh("cat", str(mnt / "private" / "carol" / "hello.txt")) == "hello through the kernel\n"
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(proc.communicate, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            subprocess.run(["fusermount3", "-uz", str(mnt)], check=False)
    assert proc.returncode == 0, err
    assert "unmounted" in out and not os.path.ismount(mnt)
    assert cli(home, "fs", "read", "/private/carol/hello.txt", str(tmp_path / "back.txt")).rc == 0
    assert (tmp_path / "back.txt").read_bytes() == b"hello through the kernel\n"


@pytest.mark.skipif(fs_mount.available() is not None, reason=f"FUSE unusable here: {fs_mount.available()}")
async def test_the_engines_own_thread_touching_the_mount_gets_an_error_not_a_deadlock(server_factory, tmp_path,
                                                                                     apps):
    """When the app mounts in its own process (the Settings switch), a file dialog on the GUI
    thread may list the mount: that thread runs the loop the mount waits on, so the call is
    refused at once (EDEADLK) instead of freezing the window. Other threads are served."""
    import errno as errno_

    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice",))
    alice = users["alice"]
    await alice.files.write("/private/alice/a.txt", b"a")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    m = await fs_mount.Mount(alice, mnt).start()
    try:
        with pytest.raises(OSError) as e:
            os.listdir(mnt / "private" / "alice")          # on the loop's own thread
        assert e.value.errno == errno_.EDEADLK
        assert await asyncio.to_thread(os.listdir, mnt / "private" / "alice") == ["a.txt"]
    finally:
        await m.close()


@pytest.mark.skipif(fs_mount.available() is not None, reason=f"FUSE unusable here: {fs_mount.available()}")
async def test_what_another_writes_shows_in_the_mount_within_its_ttl(server_factory, tmp_path, apps):
    """The mount reuses a folder and head verified while it is up, at most its TTL (1 s) ago, so
    a walk down a deep tree is not a sync per directory; a change by someone else (no push
    channel here) shows once that second has passed: it is never held longer."""
    server = server_factory()
    users = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = users["alice"], users["bob"]
    await alice.files.write(SHARED + "/first.txt", b"1")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    m = await fs_mount.Mount(bob, mnt).start()
    try:
        shared = mnt / "private" / "alice,bob"
        assert await asyncio.to_thread(os.listdir, shared) == ["first.txt"]     # fresh at the start
        await alice.files.write(SHARED + "/second.txt", b"2")
        await asyncio.sleep(fs_mount.TTL + 0.2)
        assert sorted(await asyncio.to_thread(os.listdir, shared)) == ["first.txt", "second.txt"]
        assert await asyncio.to_thread((shared / "second.txt").read_bytes) == b"2"
    finally:
        await m.close()
