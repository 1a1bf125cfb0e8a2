"""Reverse signatures of team keys: the shared check (core/sigchain/reverse.py) refuses a new
per-team key that did not sign its own link, as it does for sibkeys and PUKs (test_sigchain.py)."""

import pytest
from team_support import TeamBuilder, World

import kbapp.core.teams.links as team_links
from kbapp.core import errors
from kbapp.core.keys import PREFIX_REVERSE_SIG, SigningKeyPair

REAL = team_links.make_sig_packet


def forging(monkeypatch, change):
    """Team links built from here on carry a reverse signature `change`d by the attacker."""
    def sign(key, payload, *, prefix=None, detached=False):
        if prefix == PREFIX_REVERSE_SIG:
            key, payload = change(key, payload)
        return REAL(key, payload, prefix=prefix, detached=detached)
    monkeypatch.setattr(team_links, "make_sig_packet", sign)


def test_honest_team_key_reverse_sig_loads():
    w = World()
    assert TeamBuilder(w, "acme", w.user("alice")).state.generation == 1


def test_team_key_claimed_without_holding_it_is_refused(monkeypatch):
    """The admin announces a team key but the reverse signature is by another key of theirs."""
    other = SigningKeyPair.from_seed(b"\x07" * 32)
    forging(monkeypatch, lambda key, payload: (other, payload))
    w = World()
    with pytest.raises(errors.BadTeamKey, match="reverse signature by another key"):
        TeamBuilder(w, "acme", w.user("alice"))


def test_team_key_reverse_sig_over_another_link_is_refused(monkeypatch):
    forging(monkeypatch, lambda key, payload: (key, payload.replace(b'"acme"', b'"evil"')))
    w = World()
    with pytest.raises(errors.BadTeamKey, match="reverse signature does not verify"):
        TeamBuilder(w, "acme", w.user("alice"))
