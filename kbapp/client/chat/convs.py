"""Conversation names as people type them, and the conversation each one is.

* `alice,bob`, `alice,bob,carol`, `alice,bob#carol` (carol reads), `alice,bob@github`:
  the one conversation of that implicit team (teams.implicit_team finds or makes it and
  checks its members against the name).
* `acme#general`, `acme.sub#random`: a channel of a team. `general` is the derived topic
  (no lookup); another name is the name the latest valid metadata message of a channel
  gives it, among the channels the server lists for the team (a hint: each listed id is
  recomputed from team and topic, and the name comes from signed messages only). Two
  channels claiming one name are refused as ambiguous; `acme#<conv id>` names one exactly.
* `acme` alone is `acme#general`.

The conversation id is always recomputed here from (team id, topic type, topic id): the
server never chooses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kbapp.core import errors
from kbapp.core.chat import ids
from kbapp.core.teams import check_team_name, parse_implicit_name

CHANNEL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
GENERAL = "general"


@dataclass(frozen=True)
class ConvName:
    kind: str            # "implicit" or "team"
    team: str            # canonical implicit name, or the team's name
    channel: str = GENERAL

    def __str__(self) -> str:
        return self.team if self.kind == "implicit" else f"{self.team}#{self.channel}"


def check_channel_name(name: str) -> str:
    n = (name or "").strip().lower().lstrip("#")
    if not CHANNEL_RE.match(n):
        raise errors.InvalidTeamName(f"{name!r} is not a channel name (a-z, 0-9, - and _, up to 40)")
    return n


def parse_conv_name(name: str) -> ConvName:
    """What the user typed, checked (their mistake: InvalidTeamName, never a verification error)."""
    if not isinstance(name, str) or not name.strip():
        raise errors.InvalidTeamName("name a conversation: alice,bob or team#channel")
    n = name.strip().lower()
    left, hashmark, right = n.partition("#")
    if any(c in left for c in ",@"):
        try:
            return ConvName("implicit", str(parse_implicit_name(n)))
        except errors.BadTeamName as e:
            raise errors.InvalidTeamName(str(e)) from None
    try:
        team = check_team_name(left)
    except errors.BadTeamName as e:
        raise errors.InvalidTeamName(str(e)) from None
    if not hashmark:
        return ConvName("team", team, GENERAL)
    if _HEX32.match(right):
        return ConvName("team", team, right)       # a channel by its conversation id
    return ConvName("team", team, check_channel_name(right))


def general_ids(team_id: str) -> tuple[str, str]:
    """(conv_id, topic_id) of a team's #general, both hex."""
    topic = ids.general_topic_id(team_id)
    return ids.conv_id_hex(team_id, ids.TOPIC_TYPE_CHAT, topic), topic.hex()


def listed_channel(team_id: str, item: object) -> tuple[str, int, str] | None:
    """(conv_id, topic_type, topic_id) of one entry of the server's channel list, or None
    when it is malformed or its conv_id does not derive from it (the server's lie: skipped)."""
    if not isinstance(item, dict):
        return None
    conv_id, topic_type, topic_id = item.get("conv_id"), item.get("topic_type"), item.get("topic_id")
    if item.get("team_id", team_id) != team_id:
        return None
    try:
        ids.check_conv_id(conv_id, team_id, topic_type, topic_id)
    except errors.KbappError:
        return None
    return conv_id, topic_type, topic_id
