"""The profile's disk full: a command says so in words (a typed code), never a traceback, and
nothing is lost: after space is freed the same profile works."""

from __future__ import annotations

import pytest

from e2e_support import cli

pytestmark = pytest.mark.timeout(300)


def test_a_full_profile_disk_is_a_typed_error_and_nothing_is_lost(server, tmpfs):
    disk_16m = tmpfs("16m")
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
    assert out.rc == 1 and "Traceback" not in out.stderr, out
    assert "LOCAL_STORAGE" in out.stderr or "LOCAL_IO" in out.stderr, out.stderr
    filler.unlink()
    texts = [m["text"] for m in cli(home, "chat", "read", "acme").json["messages"]]
    assert "before the disk filled" in texts
