"""`kbapp fs ...` in its own process (kbapp/cli/fs.py) against a real server process: copies
both ways (recursive, symlinks and special files skipped, non-UTF-8 names refused), text
and --json, exit 2 on usage, exit 3 when another writer made a tree unsafe to export, and
the engine's commands (mkdir, rm, mv, stat, history, restore, share) once the engine has them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kbapp.client.fs.service import FilesService

from e2e_support import PASSPHRASE, ROOT, cli, signup_all

pytestmark = pytest.mark.timeout(300)


def text_cli(home: Path, *args: str, expect_rc: int = 0) -> subprocess.CompletedProcess:
    """The CLI without --json: what a person sees."""
    env = dict(os.environ, KBAPP_KEYSTORE="file", KBAPP_PASSPHRASE=PASSPHRASE)
    proc = subprocess.run([sys.executable, "-m", "kbapp", "--home", str(home), *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == expect_rc, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def engine_has(*methods: str):
    missing = [m for m in methods if not hasattr(FilesService, m)]
    return pytest.mark.skipif(bool(missing), reason=f"the folder engine has no {', '.join(missing)} yet")


@pytest.fixture
def two(server_factory, tmp_path):
    server = server_factory()
    a, b = tmp_path / "a", tmp_path / "b"
    cli(a, "signup", "alice", "--server", server.url)
    cli(b, "signup", "bob", "--server", server.url)
    return server, a, b


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def test_cp_recursive_both_ways_skips_links_and_specials(two, tmp_path):
    _server, a, b = two
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    (src / "sub" / "deeper" / "c.txt").write_bytes(b"")
    (src / "caf\u00e9.txt").write_bytes(b"accent")
    (src / "link").symlink_to("/etc/passwd")
    os.mkfifo(src / "fifo")
    res = cli(a, "fs", "cp", "-r", str(src), "/private/alice,bob/")
    out = res.json
    assert sorted(w["path"] for w in out["written"]) == [
        "/private/alice,bob/src/a.txt", "/private/alice,bob/src/caf\u00e9.txt",
        "/private/alice,bob/src/sub/b.bin", "/private/alice,bob/src/sub/deeper/c.txt"]
    assert sorted(Path(s["path"]).name for s in out["skipped"]) == ["fifo", "link"]
    assert "skipped symlink" in res.stderr and "skipped special file" in res.stderr
    assert cli(a, "fs", "status").json["pending"] == 0

    dest = tmp_path / "back"
    got = cli(b, "fs", "cp", "-r", "/private/alice,bob/src", str(dest)).json
    assert sorted(got["written"]) == ["a.txt", "caf\u00e9.txt", "sub/b.bin", "sub/deeper/c.txt"]
    want = {k: v for k, v in tree_bytes(src).items()}
    assert tree_bytes(dest) == want
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    # a second export does not overwrite: typed, nothing changed; --force replaces
    (dest / "a.txt").write_bytes(b"edited locally")
    err = cli(b, "fs", "cp", "/private/alice,bob/src/a.txt", str(dest / "a.txt"), expect_rc=1).json["error"]
    assert err["code"] == "FS_LOCAL_EXISTS"
    assert (dest / "a.txt").read_bytes() == b"edited locally"
    cli(b, "fs", "cp", "-r", "-f", "/private/alice,bob/src/a.txt", str(dest / "a.txt"))
    assert (dest / "a.txt").read_bytes() == b"alpha"
    # one file, into an existing local directory
    one = tmp_path / "one"
    one.mkdir()
    cli(b, "fs", "cp", "/private/alice,bob/src/sub/b.bin", str(one))
    assert (one / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()


def test_a_non_utf8_local_name_refuses_the_copy_before_any_write(two, tmp_path):
    _server, a, _b = two
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_bytes(b"ok")
    with open(os.path.join(os.fsencode(src), b"bad\xff.txt"), "wb") as f:
        f.write(b"latin-1 name")
    err = cli(a, "fs", "cp", "-r", str(src), "/private/alice/", expect_rc=1).json["error"]
    assert err["code"] == "FS_LOCAL_NAME" and "not UTF-8" in err["message"] and "bad" in err["message"]
    assert cli(a, "fs", "status").json["entries"] == []                     # nothing journaled
    assert cli(a, "fs", "ls", "/private/alice").json == []


def test_usage_mistakes_exit_2_and_text_output(two, tmp_path):
    _server, a, _b = two
    local = tmp_path / "x.txt"
    local.write_bytes(b"x")
    assert text_cli(a, "fs", "cp", str(local), str(tmp_path / "y.txt"), expect_rc=2).stderr.startswith("kbapp fs:")
    text_cli(a, "fs", "ls", expect_rc=2)                                    # a path is needed
    text_cli(a, "fs", "ls", "/private/alice", "--rev", "1", "--time", "0", expect_rc=2)
    text_cli(a, "fs", "ls", "/private/alice", "--time", "yesterday", expect_rc=2)
    text_cli(a, "fs", "cp", str(local), "/private/alice/x.txt")
    out = text_cli(a, "fs", "ls", "-l", "/private/alice").stdout
    assert out.startswith("file") and out.rstrip().endswith("x.txt") and " 1 " in out
    err = text_cli(a, "fs", "cp", "-r", "/private/alice/x.txt", str(tmp_path / "x.txt"), expect_rc=1).stderr
    assert "FS_LOCAL_EXISTS" in err


async def test_a_hostile_tree_exits_3_and_writes_only_the_safe_files(server_factory, tmp_path, apps):
    from fs_hostile_support import HostileTree

    server = server_factory()
    alice = (await signup_all(apps, tmp_path, server.url, ("alice",)))["alice"]
    b = tmp_path / "b"
    cli(b, "signup", "bob", "--server", server.url)
    evil = await HostileTree(alice, "/private/alice,bob").start()
    await evil.post([evil.file("fine.txt", b"fine"), evil.dir("up", [evil.file("..", b"escape")]),
                     evil.dir("d", [evil.file("\u202egpj.exe", b"bidi")])])
    dest = tmp_path / "out"
    err = cli(b, "fs", "cp", "-r", "/private/alice,bob", str(dest), expect_rc=3).json["error"]
    assert err["code"] == "FS_EXPORT_REFUSED" and err["verification"] is True
    assert "'up'" in err["message"] and "'d'" in err["message"]
    assert tree_bytes(dest) == {"fine.txt": b"fine"} and sorted(os.listdir(dest)) == ["fine.txt"]
    # the listing escapes what it cannot show safely
    evil2 = await HostileTree(alice, "/private/alice,bob").start()
    await evil2.post([evil2.file("x\u202etxt.exe", b"hidden ext")])
    err = text_cli(b, "fs", "ls", "/private/alice,bob", expect_rc=3).stderr   # the root is refused whole:
    assert "FS_HEAD_UNREADABLE" in err and "FS_BAD_NAME" in err and "\u202e" not in err   # a rollback offered


async def test_an_unreadable_head_exits_3_naming_the_way_out_and_rollback_clears_it(server_factory, tmp_path,
                                                                                     apps):
    from fs_hostile_support import HostileTree

    server = server_factory()
    alice = (await signup_all(apps, tmp_path, server.url, ("alice",)))["alice"]
    b = tmp_path / "b"
    cli(b, "signup", "bob", "--server", server.url)
    await alice.files.write("/private/alice,bob/kept.txt", b"kept")
    evil = await HostileTree(alice, "/private/alice,bob").start()
    bad = await evil.post(None, root=evil.junk_ptr())
    err = cli(b, "fs", "ls", "/private/alice,bob", expect_rc=3).json["error"]
    assert err["code"] == "FS_HEAD_UNREADABLE" and f"--rev {bad - 1}" in err["message"]
    out = cli(b, "fs", "rollback", "/private/alice,bob", "--rev", str(bad - 1)).json
    assert out == {"folder": "/private/alice,bob", "revision": bad + 1, "rolled_back_to": bad - 1}
    assert [r["name"] for r in cli(b, "fs", "ls", "/private/alice,bob").json] == ["kept.txt"]
    text = text_cli(b, "fs", "rollback", "/private/alice,bob", "--rev", str(bad + 1), expect_rc=1).stderr
    assert "earlier" in text


@engine_has("mkdir", "rm", "mv", "stat")
def test_mkdir_mv_rm_stat(two, tmp_path):
    _server, a, b = two
    cli(a, "fs", "mkdir", "-p", "/private/alice,bob/x/y")
    local = tmp_path / "n.txt"
    local.write_bytes(b"note")
    cli(a, "fs", "cp", str(local), "/private/alice,bob/x/y/")
    cli(a, "fs", "sync")
    st = cli(b, "fs", "stat", "/private/alice,bob/x/y/n.txt").json
    assert st["type"] == "file" and st["size"] == 4 and st["revision"] >= 1
    cli(a, "fs", "mv", "/private/alice,bob/x/y/n.txt", "/private/alice,bob/x/m.txt")
    cli(a, "fs", "sync")
    assert sorted(r["name"] for r in cli(b, "fs", "ls", "/private/alice,bob/x").json) == ["m.txt", "y"]
    cli(a, "fs", "rm", "-r", "/private/alice,bob/x")
    cli(a, "fs", "sync")
    assert cli(b, "fs", "ls", "/private/alice,bob").json == []
    assert cli(b, "fs", "stat", "/private/alice,bob/x", expect_rc=1).json["error"]["code"] == "NOT_FOUND"


@engine_has("history", "restore")
def test_history_and_restore(two, tmp_path):
    _server, a, b = two
    local = tmp_path / "v.txt"
    for text in (b"one", b"two"):
        local.write_bytes(text)
        cli(a, "fs", "write", "/private/alice,bob/v.txt", str(local))
    hist = cli(b, "fs", "history", "/private/alice,bob/v.txt").json
    assert [h["username"] for h in hist] == ["alice", "alice"] and len({h["revision"] for h in hist}) == 2
    first = min(h["revision"] for h in hist)
    cli(a, "fs", "restore", "/private/alice,bob/v.txt", "--rev", str(first))
    cli(a, "fs", "sync")
    assert cli(b, "fs", "read", "/private/alice,bob/v.txt", str(tmp_path / "r.txt")).json["size"] == 3
    assert (tmp_path / "r.txt").read_bytes() == b"one"


@engine_has("share")
def test_share_lists_the_verified_members(two):
    _server, a, _b = two
    out = cli(a, "fs", "share", "/private/alice#bob").json
    text = str(out)
    assert "alice" in text and "bob" in text


@engine_has("mv", "rm")
def test_time_travel_and_a_move_across_folders(two, tmp_path):
    _server, a, b = two
    local = tmp_path / "t.txt"
    local.write_bytes(b"first")
    cli(a, "fs", "write", "/private/alice,bob/t.txt", str(local))
    rev1 = cli(a, "fs", "stat", "/private/alice,bob/t.txt").json["revision"]
    local.write_bytes(b"second, longer")
    cli(a, "fs", "write", "/private/alice,bob/t.txt", str(local))
    now = [r["size"] for r in cli(b, "fs", "ls", "/private/alice,bob").json]
    then = [r["size"] for r in cli(b, "fs", "ls", "/private/alice,bob", "--rev", str(rev1)).json]
    assert now == [14] and then == [5]
    assert [r["size"] for r in cli(b, "fs", "ls", "/private/alice,bob", "--time", "2100-01-01T00:00").json] == [14]
    # a move to another folder: copied, then removed from the first
    cli(a, "fs", "mv", "/private/alice,bob/t.txt", "/private/alice/t.txt")
    cli(a, "fs", "sync")
    assert cli(b, "fs", "ls", "/private/alice,bob").json == []
    got = tmp_path / "moved.txt"
    cli(a, "fs", "read", "/private/alice/t.txt", str(got))
    assert got.read_bytes() == b"second, longer"


def test_the_users_own_path_mistakes_exit_1_not_the_verification_failure_code(two, tmp_path):
    """A typo or a path in the way is the user's input (FS_PATH_REFUSED, exit 1); exit 3 stays
    for what a writer or the server did. A restore that would be parked is refused up front."""
    _server, a, _b = two
    F = "/private/alice"
    (tmp_path / "f.txt").write_bytes(b"v1")
    cli(a, "fs", "write", f"{F}/docs/a.txt", str(tmp_path / "f.txt"))
    cli(a, "fs", "write", f"{F}/rx", str(tmp_path / "f.txt"))
    for args in (("fs", "ls", f"{F}/../etc"), ("fs", "rm", f"{F}/docs"), ("fs", "mkdir", f"{F}/rx/sub"),
                 ("fs", "write", f"{F}/docs", str(tmp_path / "f.txt")), ("fs", "ls", f"{F}/docs", "--rev", "-1")):
        out = text_cli(a, *args, expect_rc=1)
        assert "VERIFICATION FAILED" not in out.stderr and "FS_PATH_REFUSED" in out.stderr, (args, out.stderr)
    cli(a, "fs", "rm", f"{F}/rx")
    cli(a, "fs", "mkdir", f"{F}/rx")                       # the old file's name is a directory now
    history = cli(a, "fs", "history", f"{F}/rx").json
    rev = max(r["revision"] for r in history)
    out = text_cli(a, "fs", "restore", f"{F}/rx", "--rev", str(rev - 2), expect_rc=1)
    assert "is a directory" in out.stderr and "restored" not in out.stdout
    status = cli(a, "fs", "status").json
    assert not [e for e in status.get("entries", []) if e.get("state") == "parked"]


def test_fs_read_into_a_fifo_or_a_device_writes_into_it_never_replaces_it(two, tmp_path):
    import stat
    import threading
    import time

    _server, a, _b = two
    cli(a, "fs", "write", "/private/alice/f.txt", "-", stdin="through the pipe")   # stdin, streamed
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    time.sleep(0.2)                                         # the reader has the fifo open
    try:
        cli(a, "fs", "read", "/private/alice/f.txt", str(fifo))
    finally:
        reader.join(30)
        if reader.is_alive():                               # never leave it blocked: open the other end
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert got == [b"through the pipe"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    lonely = tmp_path / "nobody-reads"
    os.mkfifo(lonely)
    out = text_cli(a, "fs", "read", "/private/alice/f.txt", str(lonely), expect_rc=1)   # an error, not a wait
    assert "no program is reading it" in out.stderr and stat.S_ISFIFO(os.lstat(lonely).st_mode)
    if os.geteuid() == 0:                                   # a character device like /dev/null (made here)
        null = tmp_path / "null"
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        cli(a, "fs", "read", "/private/alice/f.txt", str(null))
        assert stat.S_ISCHR(os.lstat(null).st_mode)
        os.chown(null, 65534, 65534)                        # like /dev/null: someone else's, writable by all
        os.chmod(null, 0o666)
        cli(a, "fs", "read", "/private/alice/f.txt", str(null))
        assert stat.S_ISCHR(os.lstat(null).st_mode)
        theirs = tmp_path / "their-fifo"                    # a fifo another user planted: refused
        os.mkfifo(theirs, 0o666)
        os.chown(theirs, 65534, 65534)
        reader = threading.Thread(target=lambda: theirs.read_bytes(), daemon=True)
        reader.start()
        time.sleep(0.2)
        try:
            text_cli(a, "fs", "read", "/private/alice/f.txt", str(theirs), expect_rc=1)
        finally:
            try:                                            # the reader ends (if our refusal did not end it)
                os.close(os.open(theirs, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            reader.join(10)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
