"""Conversation names as people type them (kbapp/client/chat/convs.py): implicit teams,
team channels, channel ids; a bad name is the user's mistake (InvalidTeamName, exit 1),
never a verification failure."""

from __future__ import annotations

import pytest

from kbapp.client.chat.convs import ConvName, general_ids, listed_channel, parse_conv_name
from kbapp.core import errors
from kbapp.core.chat import ids


@pytest.mark.parametrize("typed, want", [
    ("alice,bob", ConvName("implicit", "alice,bob")),
    ("Bob,Alice", ConvName("implicit", "alice,bob")),
    ("alice,bob#carol", ConvName("implicit", "alice,bob#carol")),
    ("alice,bob@github", ConvName("implicit", "alice,bob@github")),
    ("acme", ConvName("team", "acme", "general")),
    ("acme#general", ConvName("team", "acme", "general")),
    ("ACME.Sub#Random", ConvName("team", "acme.sub", "random")),
    ("acme#" + "ab" * 16, ConvName("team", "acme", "ab" * 16)),
])
def test_names(typed, want):
    assert parse_conv_name(typed) == want


@pytest.mark.parametrize("typed", ["", "  ", "acme#", "acme#bad name", "acme#-x", "a b,c", "acme#x#y",
                                   "alice,,bob", "#general"])
def test_bad_names_are_the_users_mistake(typed):
    with pytest.raises(errors.InvalidTeamName):
        parse_conv_name(typed)


def test_general_is_derived_and_listed_ids_must_derive():
    team = "11" * 16
    conv_id, topic_id = general_ids(team)
    assert conv_id == ids.conv_id_hex(team, 1, topic_id)
    item = {"conv_id": conv_id, "team_id": team, "topic_type": 1, "topic_id": topic_id}
    assert listed_channel(team, item) == (conv_id, 1, topic_id)
    assert listed_channel(team, {**item, "conv_id": "22" * 16}) is None          # not derived
    assert listed_channel(team, {**item, "team_id": "33" * 16}) is None          # another team's
    assert listed_channel(team, {**item, "topic_type": 2}) is None
    assert listed_channel(team, "junk") is None
