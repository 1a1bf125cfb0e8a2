"""The leak guard (tests/leak_guard.py) fails a run that leaves a process behind, and
only such a run: a small pytest session is run in a subprocess, once leaking a process
(detached into its own session, as a server left by a crashed fixture would be) and
once cleaning up after itself."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

CONFTEST = """
from leak_guard import pytest_sessionfinish  # noqa: F401
"""

LEAKY = """
import os, subprocess, sys
from pathlib import Path

def test_starts_a_server_and_forgets_it():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    Path(os.environ["LEAKED_PID_FILE"]).write_text(str(proc.pid))
"""

TIDY = """
import subprocess, sys

def test_starts_a_process_and_stops_it():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    proc.kill()
    proc.wait()
"""


def _run(tmp_path: Path, body: str, *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_case.py").write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(TESTS), "LEAKED_PID_FILE": str(tmp_path / "leaked.pid")}
    env.pop("KBAPP_TEST_RUN", None)
    for k in [k for k in env if k.startswith("PYTEST_XDIST")]:    # a run of its own, not one of our workers
        env.pop(k)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--basetemp", str(tmp_path / "base"), "--rootdir", str(tmp_path), *extra, str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_leaked_process_fails_the_run_and_is_killed(tmp_path, workers):
    """Also in a parallel run: the workers leave the check to their controller, which sees
    what any of them left (a worker alone would take its siblings' live servers for leaks)."""
    out = _run(tmp_path, LEAKY, *workers)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 passed" in out.stdout
    assert "still running at its end" in out.stdout
    pid = int((tmp_path / "leaked.pid").read_text())
    assert not _alive(pid)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_tidy_run_passes(tmp_path, workers):
    out = _run(tmp_path, TIDY, *workers)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "leaked processes" not in out.stdout
