"""The command line as people type it: `kbapp status --json`; `kbapp photos search … | head`
ends quietly; the search says how many it did not show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from photo_support import copy_photos, dev_items, need_model

ROOT = Path(__file__).resolve().parents[2]


def test_status_json_after_the_subcommand(tmp_path):
    p = subprocess.run([sys.executable, "-m", "kbapp", "status", "--json", "--home", str(tmp_path / "h")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    assert st["logged_in"] is False and st["home"] == str(tmp_path / "h")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    need_model()
    root = tmp_path_factory.mktemp("photos-pipe")
    items = dev_items()
    dogs = [p for p, c in items if 151 <= c <= 268][:8]
    copy_photos(dogs, root / "pics")
    home = root / "home"
    p = subprocess.run([sys.executable, "-m", "kbapp", "photos", "index", str(root / "pics"), "--home", str(home),
                        "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return home


def test_search_into_a_closed_pipe_is_quiet(indexed):
    # `| head`: the reader goes away (here at once, before anything is written); no traceback
    sh = (f"{sys.executable} -m kbapp --home {indexed} photos search dog --limit 8 | true; "
          "echo status=${PIPESTATUS[0]}")
    p = subprocess.run(["bash", "-c", sh], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stderr and "BrokenPipeError" not in p.stderr, p.stderr
    assert p.stdout.strip() in ("status=0", "status=141")


def test_search_says_how_many_it_left_out_and_no_raw_scores(indexed):
    p = subprocess.run([sys.executable, "-m", "kbapp", "photos", "search", "dog", "--limit", "3",
                        "--home", str(indexed)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("  1. ")
    assert "0.0" not in p.stdout.split("(")[0]            # no fused score like 0.0164 in front
    full = json.loads(subprocess.run([sys.executable, "-m", "kbapp", "--json", "photos", "search", "dog",
                                      "--limit", "100", "--home", str(indexed)], cwd=ROOT, capture_output=True,
                                     text=True, timeout=120).stdout)
    total = len(full["hits"])
    assert total > 3 and full["total"] == total
    assert f"3 of {total} (--limit N to see more)" in p.stderr
