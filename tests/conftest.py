"""Shared fixtures: real server processes on 127.0.0.1, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from leak_guard import pytest_sessionfinish  # noqa: F401 - the hook: no process outlives the run
from server_support import ServerProcess, free_port  # noqa: F401 - free_port re-exported for tests

ROOT = Path(__file__).resolve().parents[1]
VECTORS = Path(os.environ.get("KBAPP_VECTORS", ROOT / "tests" / "vectors"))

os.environ.setdefault("KBAPP_KEYSTORE", "memory")
os.environ.setdefault("KBAPP_THROWAWAY", "1")  # the memory keystore is refused without it


# --- PostgreSQL ---------------------------------------------------------------


def _start_local_pg(tmp: Path) -> tuple[str, callable] | None:
    """Start a throwaway cluster (DESIGN.md recipe) when none was given."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not bins or os.geteuid() != 0 or shutil.which("runuser") is None:
        return None
    pgbin = bins[-1].parent
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.chown(tmp, "postgres")
    port = free_port()
    run = lambda *a: subprocess.run(["runuser", "-u", "postgres", "--", *a], check=True,  # noqa: E731
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run(str(pgbin / "initdb"), "-D", str(tmp / "data"), "-A", "trust", "-U", "postgres")
    run(str(pgbin / "pg_ctl"), "-D", str(tmp / "data"), "-l", str(tmp / "log"), "-w", "start", "-o",
        f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300")

    def stop():
        subprocess.run(["runuser", "-u", "postgres", "--", str(pgbin / "pg_ctl"), "-D", str(tmp / "data"),
                        "-m", "fast", "-w", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject addopts): one worker more than the CPUs, as most tests wait on
    server processes, PostgreSQL and subprocesses; KBAPP_TEST_WORKERS sets the number."""
    want = os.environ.get("KBAPP_TEST_WORKERS", "")
    if want.isdigit():
        return int(want)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cpus + 1, 8)      # each PostgreSQL-backed server may hold 40 connections (max 300)


@pytest.fixture(scope="session")
def pg_url():
    """Admin URL of a PostgreSQL server, or skip (fail under KBAPP_REQUIRE_PG=1)."""
    url = os.environ.get("KBAPP_TEST_PG_URL")
    stop = None
    if not url:
        started = _start_local_pg(Path(tempfile.mkdtemp(prefix="kbapp-pg-")))
        if started is not None:
            url, stop = started
    if not url:
        if os.environ.get("KBAPP_REQUIRE_PG"):
            pytest.fail("PostgreSQL is required (KBAPP_REQUIRE_PG=1) but none is available")
        pytest.skip("no PostgreSQL available")
    yield url
    if stop:
        stop()


@pytest.fixture
def pg_database(pg_url):
    """A fresh, empty database for one test."""
    import psycopg

    name = "kbapp_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """Run a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_database")


@pytest.fixture
def server_factory(tmp_path):
    started: list[ServerProcess] = []

    def start(db: str | None = None, name: str = "server", extra: list[str] | None = None) -> ServerProcess:
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        proc = ServerProcess(d, db, extra)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def server(server_factory):
    return server_factory()


# --- photo intelligence --------------------------------------------------------


@pytest.fixture(scope="session")
def photo_analyzer():
    """The real tagging model (MobileNetV2, no NSFW), loaded once per test session."""
    from photo_support import need_model

    need_model()
    from kbapp.ml.pipeline import Analyzer

    a = Analyzer(nsfw=False, batch_size=16)
    yield a
    a.close()


@pytest.fixture
def tmpfs(tmp_path):
    """`tmpfs("16m")`: a real filesystem of that size (a disk that fills up), unmounted after
    the test. Mounting needs root: the test is skipped without it."""
    mounted = []

    def make(size: str) -> Path:
        mnt = tmp_path / f"disk-{len(mounted)}"
        mnt.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                                               capture_output=True).returncode != 0:
            pytest.skip("mounting a small tmpfs needs root")
        mounted.append(mnt)
        return mnt
    yield make
    for mnt in mounted:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def small_disk(tmpfs):
    """A real 2 MiB filesystem."""
    return tmpfs("2m")
