"""`--json` and `--home` anywhere on the command line; the shown-count line of photo search."""

from __future__ import annotations

import pytest

from kbapp.cli.argv import hoist_global_options
from kbapp.cli.photos import shown_line


@pytest.mark.parametrize("argv, want", [
    (["status", "--json"], ["--json", "status"]),
    (["--json", "status"], ["--json", "status"]),
    (["id", "bob", "--home", "/p", "--json"], ["--home", "/p", "--json", "id", "bob"]),
    (["photos", "search", "dog", "--home=/p"], ["--home=/p", "photos", "search", "dog"]),
    (["photos", "search", "--", "--json"], ["photos", "search", "--", "--json"]),   # after --: a query
    (["--home", "--json", "status"], ["--home", "--json", "status"]),               # a value stays a value
    (["status", "--json", "--json"], ["--json", "status"]),
])
def test_global_options_move_to_the_front(argv, want):
    assert hoist_global_options(argv) == want


def test_status_json_after_the_subcommand_parses():
    from kbapp.cli.main import build_parser

    args = build_parser().parse_args(hoist_global_options(["status", "--json", "--home", "/tmp/x"]))
    assert args.cmd == "status" and args.json is True and str(args.home) == "/tmp/x"


def test_shown_line():
    assert shown_line(20, 37, 20) == "20 of 37 (--limit N to see more)"
    assert shown_line(5, 5, 20) == "5 photos"
    assert shown_line(1, 1, 20) == "1 photo"
    assert shown_line(20, None, 20) == "20 shown (--limit N for more than 20)"
