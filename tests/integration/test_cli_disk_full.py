"""The profile's disk full: a command says so in words (a typed code), never a traceback, and
nothing is lost: after space is freed the same profile works."""

from __future__ import annotations

import subprocess

import pytest

from e2e_support import cli

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def disk_16m(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    import os
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_full_profile_disk_is_a_typed_error_and_nothing_is_lost(server, disk_16m):
    home = disk_16m / "alice"
    cli(home, "signup", "alice", "--server", server.url)
    cli(home, "team", "create", "acme")
    cli(home, "chat", "send", "acme", "before the disk filled")
    filler = disk_16m / "filler"
    with open(filler, "wb") as f:                 # every free byte taken
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError:
            pass
    out = cli(home, "chat", "send", "acme", "while full", expect_rc=None)
    assert out.rc != 0 and "Traceback" not in out.stderr, out
    assert "LOCAL_STORAGE" in out.stderr or "LOCAL_IO" in out.stderr, out.stderr
    filler.unlink()
    texts = [m["text"] for m in cli(home, "chat", "read", "acme").json["messages"]]
    assert "before the disk filled" in texts
