"""Nothing a test starts may outlive the test run.

Every process the run starts (servers, CLI subprocesses, their children, even ones
that were re-parented to init when their parent died) inherits one marker in its
environment, set here at import time. When the session ends, any process still
carrying it is killed and the run fails, naming it: a leaked `kbapp server` is a bug
in a test or in the code under test, and it would otherwise keep running for hours.

tests/conftest.py imports the hooks; tests/unit/test_leak_guard.py runs a small
pytest session that leaks a process and checks that the run fails.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest

MARK_VAR = "KBAPP_TEST_RUN"
# One marker per run: a nested run (a test running pytest) gets its own. The workers of a
# parallel run (pytest-xdist) keep their controller's, which checks for all of them at the
# end: a worker that checked alone would take its siblings' live servers for leaks.
WORKER = bool(os.environ.get("PYTEST_XDIST_WORKER"))
MARK = os.environ[MARK_VAR] if WORKER and os.environ.get(MARK_VAR) else uuid.uuid4().hex
os.environ[MARK_VAR] = MARK
GRACE_S = 10.0
# Helpers of the Python runtime itself that may legitimately still be shutting down.
_IGNORED = (b"multiprocessing.resource_tracker", b"multiprocessing.forkserver")


def marked_processes() -> list[tuple[int, str]]:
    """(pid, command line) of the live processes that carry this run's marker."""
    needle = f"{MARK_VAR}={MARK}".encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes()
            cmd = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state == "Z" or needle not in env.split(b"\0") or any(i in cmd for i in _IGNORED):
            continue
        out.append((int(entry.name), cmd.replace(b"\0", b" ").decode(errors="replace").strip()))
    return out


@pytest.hookimpl(trylast=True)   # after xdist has shut its workers down
def pytest_sessionfinish(session, exitstatus):
    if WORKER or not Path("/proc/self/environ").exists():
        return
    deadline = time.monotonic() + GRACE_S
    left = marked_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = marked_processes()
    if not left:
        return
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    lines = "\n".join(f"  pid {pid}: {cmd[:300]}" for pid, cmd in left)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    text = f"processes started by this test run were still running at its end (now killed):\n{lines}"
    if reporter is not None:
        reporter.write_sep("=", "leaked processes", red=True)
        reporter.write_line(text)
    else:
        print(text)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
