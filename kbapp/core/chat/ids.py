"""Conversation and topic ids: derived from the team, so the server cannot choose or swap them.

A team's `#general` (and the one conversation of an implicit team) has a topic id derived
from the team id; other channels get 16 random bytes from their creator, their name living
in a signed metadata message. conv_id binds team, topic type and topic id together; both the
server and every reader recompute it.
"""

from __future__ import annotations

import hashlib

from ..errors import BadChatMessage, WrongConversation

TOPIC_TYPE_CHAT = 1
TOPIC_TYPES = frozenset({TOPIC_TYPE_CHAT})
ID_SIZE = 16
GENERAL_TOPIC_CONTEXT = b"kbapp-general-topic-v1\0"
CONV_ID_CONTEXT = b"kbapp-conv-id-v1\0"


def _id_bytes(value: object, what: str) -> bytes:
    """16 bytes from bytes or 32 hex chars; BadChatMessage otherwise."""
    if isinstance(value, str):
        if len(value) != 2 * ID_SIZE or value.lower() != value:
            raise BadChatMessage(f"{what} is 32 lowercase hex characters")
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise BadChatMessage(f"{what} is not hex") from None
    if not isinstance(value, (bytes, bytearray)) or len(value) != ID_SIZE:
        raise BadChatMessage(f"{what} is {ID_SIZE} bytes")
    return bytes(value)


def team_id_bytes(team_id: str | bytes) -> bytes:
    return _id_bytes(team_id, "team id")


def topic_id_bytes(topic_id: str | bytes) -> bytes:
    return _id_bytes(topic_id, "topic id")


def conv_id_bytes(conv_id: str | bytes) -> bytes:
    return _id_bytes(conv_id, "conversation id")


def check_topic_type(topic_type: object) -> int:
    if type(topic_type) is not int or topic_type not in TOPIC_TYPES:
        raise BadChatMessage(f"unknown topic type {topic_type!r}")
    return topic_type


def general_topic_id(team_id: str | bytes) -> bytes:
    """The topic of a team's #general (and of an implicit team's only conversation)."""
    return hashlib.sha256(GENERAL_TOPIC_CONTEXT + team_id_bytes(team_id)).digest()[:ID_SIZE]


def new_topic_id(random16: bytes) -> bytes:
    """A new channel's topic id: the caller's 16 fresh random bytes (core takes no randomness)."""
    topic = topic_id_bytes(random16)
    if not any(topic):
        raise BadChatMessage("a topic id is random, not all zeros")
    return topic


def conv_id_for(team_id: str | bytes, topic_type: int, topic_id: str | bytes) -> bytes:
    """SHA-256("kbapp-conv-id-v1\\0" || team_id || topic_type || topic_id)[:16]."""
    return hashlib.sha256(CONV_ID_CONTEXT + team_id_bytes(team_id) + bytes([check_topic_type(topic_type)])
                          + topic_id_bytes(topic_id)).digest()[:ID_SIZE]


def conv_id_hex(team_id: str | bytes, topic_type: int, topic_id: str | bytes) -> str:
    return conv_id_for(team_id, topic_type, topic_id).hex()


def general_conv_id(team_id: str | bytes) -> bytes:
    return conv_id_for(team_id, TOPIC_TYPE_CHAT, general_topic_id(team_id))


def check_conv_id(conv_id: str | bytes, team_id: str | bytes, topic_type: int, topic_id: str | bytes) -> bytes:
    """The conversation id, refused (WrongConversation) unless it derives from the other three."""
    cid = conv_id_bytes(conv_id)
    if cid != conv_id_for(team_id, topic_type, topic_id):
        raise WrongConversation("the conversation id does not derive from its team and topic")
    return cid
