"""`kbapp bench identity --quick --json`: the report's shape, never its timings."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from kbapp.bench.identity import render_table
from kbapp.cli.main import main

NUMBERS = ("value", "baseline", "ratio")
EXPECTED = {
    "chain.verify_chain", "chain.verify_chain_per_signature",
    "log.epoch_sqlite",
    "log.inclusion_proof.p50", "log.inclusion_proof.p95", "log.consistency_proof.p50",
    "log.consistency_proof.p95", "log.verify_inclusion.p50", "log.verify_inclusion.p95",
    "log.verify_consistency.p50", "log.verify_consistency.p95",
    "map.prove.p50", "map.prove.p95", "map.verify.p50", "map.verify.p95",
    "map.set_update.p50", "map.set_update.p95", "map.set_insert.p50", "map.set_insert.p95",
    "identify.app_identify.p50",
}


def _positive_finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _numbers_in(obj):
    """Every number anywhere in a details dict (bools and strings skipped)."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers_in(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


@pytest.fixture(scope="module")
def report():
    """One in-process run (a few seconds), shared by the tests below."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        # --json is kbapp's top-level flag: `kbapp --json bench identity --quick`
        rc = main(["--json", "bench", "identity", "--quick"])
    assert rc == 0
    return json.loads(buf.getvalue())


def test_bench_identity_quick_json(report):
    assert report["benchmark"] == "identity"
    assert report["quick"] is True
    machine = report["machine"]
    assert isinstance(machine["cpu_count"], int) and machine["cpu_count"] > 0
    assert isinstance(machine["python"], str) and machine["python"]
    assert isinstance(machine["pynacl"], str) and machine["pynacl"]
    assert all(_positive_finite(v) for v in report["sizes"].values())

    results = report["results"]
    assert isinstance(results, list)
    names = [r["name"] for r in results]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED
    for r in results:
        assert set(r) >= {"name", "value", "unit", "baseline", "baseline_what", "ratio", "goal", "passed",
                          "details"}, r["name"]
        for key in NUMBERS:
            assert _positive_finite(r[key]), (r["name"], key, r[key])
        assert isinstance(r["unit"], str) and r["unit"]
        assert isinstance(r["baseline_what"], str) and r["baseline_what"]
        assert (r["goal"] is None) == (r["passed"] is None), r["name"]
        assert r["passed"] is None or isinstance(r["passed"], bool)
        assert isinstance(r["details"], dict)
        for x in _numbers_in(r["details"]):
            assert math.isfinite(x), (r["name"], x)

    chain = next(r for r in results if r["name"] == "chain.verify_chain")
    mix = chain["details"]["mix"]
    # the chain is a realistic mix: devices, revokes, PUK rotations, statements
    for kind in ("eldest", "sibkey", "subkey", "revoke", "per_user_key", "track"):
        assert mix.get(kind, 0) > 0, kind
    assert sum(mix.values()) == chain["details"]["links"] == report["sizes"]["chain_links"]


def test_bench_identity_table(report):
    out = render_table(report)
    header = out.splitlines()[2].split()
    assert header == ["name", "value", "unit", "baseline", "ratio", "goal", "pass"]
    assert "chain.verify_chain" in out and "identify.app_identify.p50" in out
