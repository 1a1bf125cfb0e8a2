"""`kbapp bench teams --quick --json`: the report's shape and the team it measured, never timings."""

from __future__ import annotations

import contextlib
import io
import json
import math

from kbapp.bench.teams import build_team, render_table, signatures
from kbapp.cli.main import main
from kbapp.core.teams import Role, load_team
from kbapp.core.uid import uid_for


def test_bench_teams_quick_json():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["--json", "bench", "teams", "--quick"])
    assert rc == 0
    report = json.loads(buf.getvalue())
    assert report["benchmark"] == "teams" and report["quick"] is True
    names = [r["name"] for r in report["results"]]
    assert names == ["teams.load_cold", "teams.load_warm", "teams.load_warm_one_new"]
    for r in report["results"]:
        for k in ("value", "baseline", "ratio"):
            assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] > 0
        assert "Ed25519" in r["baseline_what"]
        assert math.isclose(r["ratio"], r["baseline"] / r["value"], rel_tol=1e-9)
    d = report["results"][0]["details"]
    assert d["members"] == 200 and d["links"] == 50 and d["signatures"] > d["links"]
    text = render_table(report)
    assert "teams.load_cold" in text and "baselines:" in text


def test_bench_team_is_what_it_claims():
    links, state, user_key_at = build_team(120, 30)
    assert len(links) == 30 and state.seqno == 30 and len(state.members) == 120
    assert state.role_of(uid_for("u00000")) == Role.OWNER
    assert [state.role_of(uid_for(f"u{i:05d}")) for i in range(1, 6)] == [Role.ADMIN] * 5
    again = load_team(links, team_id=state.id, user_key_at=user_key_at)
    assert again.tail_link_id == state.tail_link_id and again.generation == state.generation
    # one signature per link plus one reverse signature per key generation
    assert len(signatures(links)) == 30 + state.generation
