"""A channel named like another channel's conversation id takes nothing (found by an attacker:
mallory renamed #lobby to #secret's id, and bob's `send acme#<id>` landed in #lobby)."""

import pytest

from kbapp.client.chat.schema import ConvRow
from kbapp.client.chat.service import _names_channel
from kbapp.core import errors
from kbapp.core.chat.body import make_body

SECRET_ID = "0123456789abcdef0123456789abcdef"


def row(conv_id: str, channel: str) -> ConvRow:
    return ConvRow(conv_id=conv_id, team_id="ab" * 16, topic_type=1, topic_id="cd" * 16, kind="team",
                   team_name="acme", channel=channel)


def test_a_hex_name_matches_the_conversation_id_only():
    lobby = row("f" * 32, SECRET_ID)               # a hostile member's rename, as an older client kept it
    secret = row(SECRET_ID, "secret")
    assert not _names_channel(SECRET_ID, lobby) and _names_channel(SECRET_ID, secret)
    assert _names_channel("secret", secret) and not _names_channel("f" * 32 + "x", lobby)


def test_a_new_body_refuses_a_channel_name_written_like_a_conversation_id_a_reader_accepts_it():
    """Composing refuses it; judging an older message that has one does not (a new device
    syncing the history must not find honest old messages refused)."""
    from kbapp.core.chat.body import check_body

    assert check_body({"kind": "metadata", "name": SECRET_ID, "topic": "old\nlines"})["name"] == SECRET_ID
    with pytest.raises(errors.BadChatMessage, match="32 hex"):
        make_body("metadata", name=SECRET_ID, topic="")
    assert make_body("metadata", name="lobby", topic="")["name"] == "lobby"
    assert make_body("metadata", name="0123456789abcdef", topic="")["name"] == "0123456789abcdef"   # short hex: a name


def test_topic_and_headline_are_written_on_one_line():
    for kind, field in (("metadata", "topic"), ("headline", "text")):
        extra = {"name": "lobby"} if kind == "metadata" else {}
        with pytest.raises(errors.BadChatMessage):
            make_body(kind, **extra, **{field: "fine\n#5 alice: a forged line"})
        assert make_body(kind, **extra, **{field: "fine"})[field] == "fine"
