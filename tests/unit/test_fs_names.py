"""Folder names (onto the team names core/teams uses) and path components (what a writer may use)."""

from __future__ import annotations

import pytest

from kbapp.core import errors
from kbapp.core.fs.names import (FolderName, check_component, check_export_names, check_path,
                                 conflicted_folder_name, export_relpath, normalise_component, parse_folder_name,
                                 split_path)
from kbapp.core.teams.names import implicit_team_id, parse_implicit_name


@pytest.mark.parametrize("text,kind,team", [
    ("/private/alice", "private", "alice"),
    ("/private/Bob,alice", "private", "alice,bob"),
    ("/private/alice,bob#carol", "private", "alice,bob#carol"),
    ("/private/bob,alice,bob#alice,carol", "private", "alice,bob#carol"),     # a writer named as reader too
    ("/private/alice,bob@github", "private", "alice,bob@github"),
    ("/public/alice", "public", "alice"),
    ("/team/acme", "team", "acme"),
    ("/team/ACME.Eng", "team", "acme.eng"),
])
def test_folder_names_normalise_onto_team_names(text, kind, team):
    f = parse_folder_name(text)
    assert (f.kind, f.team_name, str(f)) == (kind, team, f"/{kind}/{team}")
    assert parse_folder_name(str(f)) == f                          # canonical is a fixed point
    if kind != "team":
        assert implicit_team_id(f.team_name) == implicit_team_id(parse_implicit_name(team))
    assert f.encrypted == (kind != "public") and f.implicit == (kind != "team")


@pytest.mark.parametrize("text", [
    "private/alice", "/private/", "/private", "/shared/alice", "/private/alice/", "/public/alice#bob",
    "/team/a", "/team/acme..eng", "/private/,alice", "/private/al ice!", "", "/team/acme/x", 7,
])
def test_bad_folder_names_are_refused(text):
    with pytest.raises(errors.BadFolderName):
        parse_folder_name(text)


def test_a_proof_resolves_a_folder_name_and_a_converged_one_is_named_like_keybase():
    f = parse_folder_name("/private/alice,bob@github#carol")
    assert str(f.resolve("bob@github", "bob")) == "/private/alice,bob#carol"
    assert conflicted_folder_name(parse_folder_name("/private/alice,bob"), "2026-12-06") == \
        "/private/alice,bob (conflicted copy 2026-12-06)"
    assert conflicted_folder_name(parse_folder_name("/private/alice,bob"), "2026-12-06", 2).endswith(" #2)")
    with pytest.raises(errors.BadFolderName):
        FolderName("team", "acme").resolve("bob@github", "bob")


def test_split_path_checks_every_component():
    assert split_path("/team/acme/docs/a.txt") == (FolderName("team", "acme"), ("docs", "a.txt"))
    assert split_path("/team/acme/docs/") == (FolderName("team", "acme"), ("docs",))
    assert split_path("/team/acme") == (FolderName("team", "acme"), ())
    for bad in ("/team/acme//a", "/team/acme/../x", "/team/acme/a/./b"):
        with pytest.raises(errors.BadPathName):
            split_path(bad)


GOOD = ["a.txt", "Read Me", "résumé.pdf", "日本語", ".bashrc", "console.log", "a..b", "COM10",
        "x" * 255, "é" * 127, "family \u200d emoji"]
BAD = ["", ".", "..", "a/b", "a\\b", "a\0b", "a\nb", "a\x7fb", "a\u202eb", "a\u2066b", "a\u200fb", "CON",
       "con.txt", "Nul.tar.gz", "aux ", "COM1", "lpt9.log", "com¹", "trailing.", "trailing ", "x" * 256,
       "é" * 128, "e\u0301", b"\xff\xfe", "\ud800", "a\u2028b", "\ufeffa"]


@pytest.mark.parametrize("name", GOOD)
def test_good_components_pass(name):
    assert check_component(name) == name


@pytest.mark.parametrize("name", BAD)
def test_hostile_components_are_refused(name):
    with pytest.raises(errors.BadPathName):
        check_component(name)


def test_components_as_utf8_bytes_normalisation_and_depth():
    assert check_component("a.txt".encode()) == "a.txt"
    assert normalise_component("e\u0301") == "\u00e9"
    assert check_path(["a"] * 256) == ("a",) * 256
    with pytest.raises(errors.TreeTooDeep):
        check_path(["a"] * 257)


def test_the_export_check():
    assert export_relpath(("docs", "a.txt")) == "docs/a.txt"
    with pytest.raises(errors.UnsafeExport):
        export_relpath(("link",), entry_type="symlink")
    with pytest.raises(errors.UnsafeExport):
        export_relpath(())
    with pytest.raises(errors.BadPathName):
        export_relpath(("..", "etc", "passwd"))
    with pytest.raises(errors.UnsafeExport):
        export_relpath(("what?.txt",), windows=True)
    assert export_relpath(("what?.txt",)) == "what?.txt"
    check_export_names(["a.txt", "b.txt"])
    for clash in (["Report.txt", "report.txt"], ["ﬁle", "file"]):
        with pytest.raises(errors.UnsafeExport):
            check_export_names(clash)
