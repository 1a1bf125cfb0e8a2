"""From the crash's side: the real `kbapp` killed (SIGKILL, or Ctrl-C's SIGINT) at the
worst moments of a signup or a paper key, then run again.

`KBAPP_TEST_CRASH_AT=<point>[:sigint]` (kbapp/client/crashpoint.py) makes the process
kill itself there, with real kill -9 semantics: no finally blocks, no flushing. After
each crash a retry must leave a usable account (identify from another profile, the
device list) whose eldest key is the one this profile's keystore holds; never
"username is taken" with no keys, never a paper device whose phrase nobody saw.
"""

from __future__ import annotations

import signal

import pytest

from kbapp.core.keys import kid_hex
from kbapp.core.paperkey import paper_device_keys

from e2e_support import cli, device_keys, file_keystore

pytestmark = pytest.mark.timeout(240)

KILLED = -signal.SIGKILL
INTERRUPTED = 130   # main() turns KeyboardInterrupt into 130


def crash(point: str) -> dict:
    return {"KBAPP_TEST_CRASH_AT": point}


def check_usable(url: str, home, other, username: str) -> dict:
    """The account verifies from another profile, and its eldest is this profile's key."""
    ident = cli(other, "id", username, "--server", url).json
    devices = cli(home, "device", "list").json
    assert [d["current"] for d in devices] == [True]
    mine = device_keys(file_keystore(home))
    assert ident["eldest_kid"] == kid_hex(mine.sibkey.kid)
    return ident


@pytest.mark.parametrize("point", ["during-keystore-write", "before-post", "after-post"])
def test_signup_killed_then_signup_again_finishes(server_factory, tmp_path, point):
    url = server_factory().url
    home = tmp_path / "alice"
    r = cli(home, "signup", "alice", "--server", url, env=crash(point), expect_rc=None)
    assert r.rc == KILLED, r
    r = cli(home, "signup", "alice", "--server", url)
    assert r.json["username"] == "alice"
    check_usable(url, home, tmp_path / "carol", "alice")


def test_signup_killed_after_post_is_finished_by_any_command(server_factory, tmp_path):
    url = server_factory().url
    home = tmp_path / "alice"
    r = cli(home, "signup", "alice", "--server", url, env=crash("after-post"), expect_rc=None)
    assert r.rc == KILLED, r
    r = cli(home, "status")
    assert "finished the interrupted signup of alice" in r.stderr
    assert r.json["logged_in"] and r.json["username"] == "alice"
    check_usable(url, home, tmp_path / "carol", "alice")


@pytest.mark.parametrize("point", ["during-keystore-write", "before-post"])
def test_signup_ctrl_c_then_retry(server_factory, tmp_path, point):
    url = server_factory().url
    home = tmp_path / "alice"
    r = cli(home, "signup", "alice", "--server", url, env=crash(point + ":sigint"), expect_rc=None)
    assert r.rc == INTERRUPTED, r
    cli(home, "signup", "alice", "--server", url)
    check_usable(url, home, tmp_path / "carol", "alice")


def test_an_interrupted_signup_never_steals_a_name_taken_meanwhile(server_factory, tmp_path):
    """Killed before its post; someone else signs the name up; the retry says so and
    leaves this profile free for another name."""
    url = server_factory().url
    home = tmp_path / "alice"
    r = cli(home, "signup", "alice", "--server", url, env=crash("before-post"), expect_rc=None)
    assert r.rc == KILLED
    cli(tmp_path / "mallory", "signup", "alice", "--server", url)
    r = cli(home, "signup", "alice", "--server", url, expect_rc=1)
    assert r.json["error"]["code"] == "CONFLICT" and "another account" in r.json["error"]["message"]
    cli(home, "signup", "alicia", "--server", url)
    check_usable(url, home, tmp_path / "carol", "alicia")


@pytest.mark.parametrize("point", ["paperkey-before-post", "paperkey-after-post"])
def test_paperkey_killed_then_shown_again_and_it_works(server_factory, tmp_path, point):
    url = server_factory().url
    home = tmp_path / "alice"
    cli(home, "signup", "alice", "--server", url)
    r = cli(home, "paperkey", env=crash(point), expect_rc=None)
    assert r.rc == KILLED and "paperkey" not in r.stdout, r
    r = cli(home, "device", "list")
    assert "interrupted and may never have been shown" in r.stderr
    r = cli(home, "paperkey")
    phrase = r.json["paperkey"]
    assert r.json["shown_again"] is True
    paper_kid = kid_hex(paper_device_keys(phrase).sibkey.kid)
    papers = [d for d in cli(home, "device", "list").json if d["type"] == "paper"]
    assert len(papers) == 1 and not papers[0]["revoked"] and papers[0]["sibkey"] == paper_kid
    # shown once now: the next paper key is a new one, and the first one logs a device in
    r = cli(home, "paperkey")
    assert r.json["shown_again"] is False and r.json["paperkey"] != phrase
    r = cli(tmp_path / "alice-2", "login", "alice", "--paperkey", "--server", url, stdin=phrase + "\n")
    assert r.json["username"] == "alice"
