"""`kbapp bench chat --quick --json` on SQLite and PostgreSQL: the report's shape and what
each row did (every message arrived verified, the whole history verified and shown, every
post taken and its hint heard by every listener), never timings."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest

from kbapp.bench.chat import QUICK, render_table
from kbapp.cli.main import main

pytestmark = pytest.mark.timeout(600)
NAMES = ["chat.send_receive.p50", "chat.send_receive.p99", "chat.open_last_screen", "chat.verify_decrypt",
         "chat.server_msgs"]


@pytest.mark.parametrize("storage", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_bench_chat_quick_json(storage, request):
    argv = ["--json", "bench", "chat", "--quick"]
    if storage == "postgresql":
        argv += ["--db", request.getfixturevalue("pg_url")]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    report = json.loads(buf.getvalue())
    assert report["benchmark"] == "chat" and report["quick"] is True and len(report["load_average"]) == 3
    by = {r["name"]: r for r in report["results"]}
    assert [r["name"] for r in report["results"]] == NAMES
    for r in report["results"]:
        for k in ("value", "baseline", "ratio"):
            assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] > 0, r
        assert r["goal"] and isinstance(r["passed"], bool)

    sr = by["chat.send_receive.p50"]["details"]            # every message reached bob's store, verified
    assert sr["received"] == QUICK.sends and sr["lost"] == 0 and sr["storage"] == storage
    assert "POST" in by["chat.send_receive.p50"]["baseline_what"]

    vd = by["chat.verify_decrypt"]                          # the whole history verified and stored
    assert vd["details"]["messages"] == vd["details"]["ok"] == QUICK.history
    assert vd["details"]["pages"] >= 1 and "Ed25519" in vd["baseline_what"]
    assert vd["details"]["cpu_us_per_message"] > 0 and vd["details"]["cpu_ratio"] > 0
    assert math.isclose(vd["ratio"], vd["baseline"] / vd["value"], rel_tol=1e-9)

    op = by["chat.open_last_screen"]["details"]             # the last screenful, of the whole conversation
    assert op["shown"] == QUICK.screen and op["conversation_messages"] == 1 + QUICK.sends + QUICK.history

    ld = by["chat.server_msgs"]["details"]                  # every post taken, every hint heard
    assert ld["posted"] > 0 and ld["refused"] == {} and ld["gets"] > 0
    assert ld["listeners"] == QUICK.listeners and ld["listeners_closed"] == 0
    assert ld["hints_received"] == ld["hints_expected"] > 0
    assert "chat.verify_decrypt" in render_table(report)
