"""Exporting a folder another writer made hostile (kbapp/client/fs/export.py), against the
session's real server: alice is a real client whose core is bypassed to pack directory
blocks by hand (tests/fs_hostile_support.py); bob exports the folder to a local directory.

Each hostile entry is refused with a typed error and listed in `ExportRefused.refused`, the
safe entries are written, nothing is ever created outside the target (a sandbox around it
is compared before and after), no symlink is followed or made, and bob's trusted state is
unchanged (`detected`).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from kbapp.client.fs.export import export
from kbapp.core import errors

from fs_hostile_support import HostileTree

pytestmark = pytest.mark.timeout(300)

HOSTILE = {                            # directory -> a name only a hostile writer can store
    "dotdot": "..",
    "dot": ".",
    "absolute": "/tmp/kbapp-escape",
    "slash": "x/../../escape",
    "backslash": "..\\..\\escape",
    "nul": "a\0b",
    "newline": "a\nb",
    "con": "CON",
    "nul_txt": "nul.txt",
    "bidi": "invoice\u202etxt.exe",
    "trailing_dot": "evil.",
    "long": "x" * 300,
    "not_nfc": "e\u0301.txt",
}


async def pair(clients, name, world):
    """alice and bob signed up straight to the server, and their shared folder's path."""
    out = []
    for role in ("alice", "bob"):
        app = await clients(role, connect=False)
        username = name(role)
        await app.signup(username, device_name=f"{role}-laptop", server_url=world.server.url)
        out += [app, username]
    alice, a, bob, b = out
    folder = f"/private/{','.join(sorted((a, b)))}"
    # bob has read the folder once (he knows alice and the team): what changes after is the attack's
    await alice.files.write(f"{folder}/warm.txt", b"honest")
    assert await bob.files.read(f"{folder}/warm.txt") == b"honest"
    return alice, bob, folder


def tree_of(root: Path) -> set[str]:
    """Every path under root (relative), symlinks included, none followed."""
    out = set()
    for dirpath, dirs, files in os.walk(root, followlinks=False):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


async def test_hostile_names_are_refused_listed_and_nothing_escapes(clients, name, world, tmp_path, detected):
    alice, bob, folder = await pair(clients, name, world)
    evil = await HostileTree(alice, folder).start()
    root = [evil.file("good.txt", b"fine")]
    root += [evil.dir(f"d_{d}", [evil.file(n, b"escaped!")]) for d, n in HOSTILE.items()]
    await evil.post(root)
    await bob.files.ls(folder)          # bob has synced the new head: the export itself changes nothing

    sandbox = tmp_path / "sandbox"
    target = sandbox / "target"
    target.mkdir(parents=True)
    e = await detected(bob, errors.ExportRefused, export(bob.files, folder, target))
    assert {r["path"]: r["code"] for r in e.refused} == {f"d_{d}": "FS_BAD_NAME" for d in HOSTILE}
    assert e.written == ["good.txt"]
    assert tree_of(sandbox) == {"target", "target/good.txt"}          # nothing else, anywhere
    assert (target / "good.txt").read_bytes() == b"fine"
    assert not Path("/tmp/kbapp-escape").exists() and not (tmp_path / "escape").exists()


async def test_case_clashes_and_windows_names_are_refused(clients, name, world, tmp_path, detected):
    alice, bob, folder = await pair(clients, name, world)
    evil = await HostileTree(alice, folder).start()
    await evil.post([evil.file("Report.txt", b"one"), evil.file("report.txt", b"two"),
                     evil.file("caf\u00e9", b"nfc"), evil.file("CAF\u00c9", b"upper"),
                     evil.file("stream:hidden.txt", b"ads"), evil.file("ok.txt", b"ok")])
    await bob.files.ls(folder)
    target = tmp_path / "out"
    e = await detected(bob, errors.ExportRefused, export(bob.files, folder, target, windows=True))
    assert {r["path"]: r["code"] for r in e.refused} == {
        "Report.txt": "FS_UNSAFE_EXPORT", "report.txt": "FS_UNSAFE_EXPORT", "caf\u00e9": "FS_UNSAFE_EXPORT",
        "CAF\u00c9": "FS_UNSAFE_EXPORT", "stream:hidden.txt": "FS_UNSAFE_EXPORT"}
    assert tree_of(target) == {"ok.txt"}


async def test_symlinks_in_the_folder_are_skipped_never_made(clients, name, world, tmp_path):
    alice, bob, folder = await pair(clients, name, world)
    evil = await HostileTree(alice, folder).start()
    await evil.post([evil.symlink("passwd", "/etc/passwd"), evil.symlink("up", "../../outside"),
                     evil.dir("d", [evil.symlink("inner", "/")]), evil.file("ok.txt", b"ok")])
    target = tmp_path / "out"
    notices: list[str] = []
    report = await export(bob.files, folder, target, notice=notices.append)
    assert sorted(s["path"] for s in report["skipped"]) == ["d/inner", "passwd", "up"]
    assert len(notices) == 3 and all("symlink" in n for n in notices)
    assert tree_of(target) == {"ok.txt", "d"}
    assert not any(p.is_symlink() for p in target.rglob("*"))


async def test_a_symlink_planted_in_the_target_is_never_followed(clients, name, world, tmp_path, detected):
    """A local attacker (or an earlier export) left symlinks where the export writes."""
    alice, bob, folder = await pair(clients, name, world)
    await alice.files.write(f"{folder}/docs/a.txt", b"folder a")
    await alice.files.write(f"{folder}/b.txt", b"folder b")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.txt").write_bytes(b"precious")
    target = tmp_path / "out"
    target.mkdir()
    (target / "docs").symlink_to(outside)                  # a directory symlink in the way
    (target / "b.txt").symlink_to(outside / "b.txt")       # a file symlink in the way
    await bob.files.ls(folder)
    e = await detected(bob, errors.ExportIncomplete, export(bob.files, folder, target))
    assert {r["path"]: r["code"] for r in e.failed} == {"docs": "FS_LOCAL_EXISTS", "b.txt": "FS_LOCAL_EXISTS"}
    assert (target / "b.txt").is_symlink() and (outside / "b.txt").read_bytes() == b"precious"
    e = await detected(bob, errors.ExportIncomplete, export(bob.files, folder, target, overwrite=True))
    assert [r["path"] for r in e.failed] == ["docs"] and "b.txt" in e.written   # a directory symlink: never
    assert sorted(os.listdir(outside)) == ["b.txt"] and (outside / "b.txt").read_bytes() == b"precious"
    assert not (target / "b.txt").is_symlink() and (target / "b.txt").read_bytes() == b"folder b"


async def test_an_existing_file_is_kept_unless_asked(clients, name, world, tmp_path):
    alice, bob, folder = await pair(clients, name, world)
    await alice.files.write(f"{folder}/a.txt", b"new")
    target = tmp_path / "out"
    target.mkdir()
    (target / "a.txt").write_bytes(b"mine")
    with pytest.raises(errors.LocalExists):
        await export(bob.files, f"{folder}/a.txt", target)
    assert (target / "a.txt").read_bytes() == b"mine"
    assert sorted(os.listdir(target)) == ["a.txt"]                  # no temp file left behind
    await export(bob.files, f"{folder}/a.txt", target, overwrite=True)
    assert (target / "a.txt").read_bytes() == b"new"


async def test_a_tree_deeper_than_a_reader_walks_is_cut_and_refused(clients, name, world, tmp_path):
    alice, bob, folder = await pair(clients, name, world)
    evil = await HostileTree(alice, folder).start()
    node = [evil.file("bottom.txt", b"deep")]
    for _ in range(257):
        node = [evil.dir("d", node)]
    await evil.post(node)
    await bob.files.ls(folder)
    target = tmp_path / "out"
    before = bob.store.snapshot()      # not `detected`: 257 listings by path can pass its 30 s on a busy machine
    with pytest.raises(errors.ExportRefused) as e:
        await asyncio.wait_for(export(bob.files, folder, target), 240)
    assert bob.store.snapshot() == before
    assert [r["code"] for r in e.value.refused] == ["FS_TREE_TOO_DEEP"]
    depth = max(len(Path(p).parts) for p in tree_of(target))
    assert depth <= 256 and not list(target.rglob("bottom.txt"))


async def test_files_in_the_way_are_listed_and_the_rest_of_the_tree_is_written(clients, name, world, tmp_path):
    """A local file where a folder file goes, a file where a folder directory goes, an
    unwritable local directory: each is listed in `failed` with its local path, every other
    file is written, no temp file is left, nothing local is replaced."""
    alice, bob, folder = await pair(clients, name, world)
    for rel in ("a.txt", "b.txt", "sub/c.txt", "locked/d.txt", "z/e.txt"):
        await alice.files.write(f"{folder}/{rel}", f"folder {rel}".encode())
    target = tmp_path / "out"
    (target / "locked").mkdir(parents=True)
    (target / "a.txt").write_bytes(b"mine")
    (target / "sub").write_bytes(b"a file named like the folder's directory")
    os.chmod(target / "locked", 0o500)
    try:
        await bob.files.ls(folder)
        with pytest.raises(errors.ExportIncomplete) as e:
            await export(bob.files, folder, target)
    finally:
        os.chmod(target / "locked", 0o700)
    failed = {r["path"]: r for r in e.value.failed}
    expect = {"a.txt", "sub"} | ({"locked/d.txt"} if os.geteuid() != 0 else set())   # root writes anywhere
    assert set(failed) == expect
    assert failed["a.txt"]["code"] == "FS_LOCAL_EXISTS" and failed["a.txt"]["local"] == str(target / "a.txt")
    if "locked/d.txt" in failed:
        assert failed["locked/d.txt"]["code"] == "FS_LOCAL_WRITE"
    assert (target / "a.txt").read_bytes() == b"mine"
    assert (target / "sub").read_bytes().startswith(b"a file")
    assert (target / "b.txt").read_bytes() == b"folder b.txt"
    assert (target / "z" / "e.txt").read_bytes() == b"folder z/e.txt"
    assert not [p for p in tree_of(target) if p.endswith(".kbapp-part")]


async def test_a_file_too_big_for_the_disk_is_listed_and_a_disk_that_fills_stops_with_no_half_file(
        clients, name, world, small_disk, monkeypatch):
    """A file that cannot fit is not started (listed; the rest is written): a writer's huge
    file neither fills the disk nor stops the export. A disk that fills anyway (here: the
    check turned off) stops the export at ENOSPC, and the temp file is removed."""
    from kbapp.client.fs import export as export_mod

    alice, bob, folder = await pair(clients, name, world)
    await alice.files.write(f"{folder}/1-small.txt", b"fits")
    await alice.files.write(f"{folder}/2-big.bin", os.urandom(3 << 20))      # more than the disk holds
    await alice.files.write(f"{folder}/3-after.txt", b"also fits")
    await bob.files.ls(folder)
    target = small_disk / "out"
    with pytest.raises(errors.ExportIncomplete) as e:
        await export(bob.files, folder, target)
    assert [(f["path"], f["code"]) for f in e.value.failed] == [("2-big.bin", "FS_LOCAL_WRITE")]
    assert tree_of(target) == {"1-small.txt", "3-after.txt", "warm.txt"}

    monkeypatch.setattr(export_mod.Exporter, "room_for", lambda *a: None)
    again = small_disk / "again"
    with pytest.raises(errors.LocalDiskFull) as e:
        await export(bob.files, folder, again)
    assert e.value.code == "FS_LOCAL_FULL" and e.value.written == ["1-small.txt"]
    assert tree_of(again) == {"1-small.txt"}                   # the big file's temp is gone, nothing after it


async def test_a_copy_between_folders_reports_the_symlinks_it_could_not_carry(clients, name, world, tmp_path):
    """A folder-to-folder copy goes through a decrypted staging directory in the profile: the
    symlinks another writer made are listed in `skipped` (so `fs mv` keeps the source), and
    the staging directory is gone afterwards (and one a killed copy left is swept)."""
    from kbapp.client.fs.copy import STAGING, copy

    alice, bob, folder = await pair(clients, name, world)
    evil = await HostileTree(alice, folder).start()
    await evil.post([evil.dir("proj", [evil.file("main.c", b"int main;"), evil.symlink("latest", "main.c")])])
    await bob.files.ls(folder)
    left = bob.home / STAGING / "killed"                      # a killed copy's plaintext (its lock is free)
    left.mkdir(parents=True)
    (left / "secret.txt").write_bytes(b"plaintext")
    out = await copy(bob.files, f"{folder}/proj", f"/private/{bob.store.get('username')}/", recursive=True)
    assert [s["path"] for s in out["skipped"]] == ["latest"]
    assert [r["path"].rsplit("/", 1)[1] for r in out["written"]] == ["main.c"]
    assert [p for p in (bob.home / STAGING).iterdir() if p.is_dir()] == []
    await alice.files.write(f"{folder}/.lock", b"a file named like a lock")     # copied like any other
    lock_copy = await copy(bob.files, f"{folder}/.lock", f"/private/{bob.store.get('username')}/lock-copy")
    assert len(lock_copy["written"]) == 1

    import fcntl                                                 # a copy running elsewhere is left alone
    busy = bob.home / STAGING / "running"
    busy.mkdir()
    fd = os.open(bob.home / STAGING / "running.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        await copy(bob.files, f"{folder}/proj/main.c", f"/private/{bob.store.get('username')}/again.c")
        assert busy.is_dir()
    finally:
        os.close(fd)


async def test_a_directory_dag_is_written_once_not_multiplied(clients, name, world, tmp_path):
    """One directory block named 4 times at each of 5 levels (1,024 paths to one 64 KiB file
    from a few KiB on the server): each repeated block is refused and listed, so the export
    writes what the folder holds, not 64 MiB."""
    alice, bob, folder = await pair(clients, name, world)
    evil = await HostileTree(alice, folder).start()
    leaf = [evil.file("big.bin", os.urandom(64 << 10))]
    level = evil.dir("d", leaf)
    for _ in range(5):
        level = evil.dir("d", [[f"d{i}", *level[1:]] for i in range(4)])
    await evil.post([level])
    await bob.files.ls(folder)
    target = tmp_path / "out"
    with pytest.raises(errors.ExportRefused) as e:
        await export(bob.files, folder, target)
    assert {r["code"] for r in e.value.refused} == {"FS_TREE_TOO_LARGE"}
    files = [p for p in target.rglob("*") if p.is_file()]
    assert len(files) == 1 and sum(p.stat().st_size for p in files) == 64 << 10
