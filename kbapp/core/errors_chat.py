"""Chat reader errors (kbapp/core/chat, docs/protocol.md "Chat messages (MB1)").

Kept out of errors.py for the size rule, and importable from there like every other error:
each is a VerificationError (a lying server or peer), so the CLI exits 3.
"""

from __future__ import annotations

from .errors import Conflict, EncodingError, ReadNotAllowed, VerificationError

__all__ = [
    "ChatError", "BadChatMessage", "BadChatHeader", "HintMismatch", "WrongConversation",
    "UnknownKeyGeneration", "StaleKeyGeneration", "ReplayedMessage", "DuplicateMessageId",
    "MessageOrder", "PrevMismatch", "MessageGap", "ForkedCheckpoint", "CheckpointRollback",
    "SenderNotMember", "RevokedSenderKey", "UnknownTeamState", "BadBody", "Withheld",
    "ForgedSupersede", "PostNotAllowed", "NotConversationMember", "OutboxRefused",
]


class ChatError(VerificationError):
    """A chat message the reader refuses (base of every chat verification error)."""

    code = "CHAT"


class BadChatMessage(ChatError, EncodingError):
    """A chat message, header or body that breaks the format (types, sizes, fields)."""

    code = "CHAT_BAD_FORMAT"


class BadChatHeader(ChatError):
    """The header does not open under the conversation's key, or its signature fails."""

    code = "CHAT_BAD_HEADER"


class HintMismatch(ChatError):
    """A server-visible hint differs from the signed header field it copies."""

    code = "CHAT_HINT_MISMATCH"


class WrongConversation(ChatError):
    """The signed conversation, team or topic is not the one being read."""

    code = "CHAT_WRONG_CONVERSATION"


class UnknownKeyGeneration(ChatError):
    """The message names a team key generation we do not hold."""

    code = "CHAT_UNKNOWN_KEY_GEN"


class StaleKeyGeneration(ChatError):
    """The message uses an older key generation than the one in force at its own team seqno."""

    code = "CHAT_STALE_KEY_GEN"


class ReplayedMessage(ChatError):
    """The message's nonce was already used in this conversation."""

    code = "CHAT_REPLAYED"


class DuplicateMessageId(ChatError):
    """Two messages with the same msg_id."""

    code = "CHAT_DUPLICATE_MSG_ID"


class MessageOrder(ChatError):
    """Messages fed to the reader out of msg_id order."""

    code = "CHAT_ORDER"


class PrevMismatch(ChatError):
    """A prev pointer names a later message or a header hash other than the one we hold."""

    code = "CHAT_PREV_MISMATCH"


class MessageGap(ChatError):
    """msg_ids missing between two messages (reported, not fatal)."""

    code = "CHAT_GAP"


class ForkedCheckpoint(ChatError):
    """The sender's log checkpoint is not consistent with our own view of the log."""

    code = "CHAT_FORKED_CHECKPOINT"


class CheckpointRollback(ChatError):
    """One device's checkpoint size or team seqno went backwards."""

    code = "CHAT_CHECKPOINT_ROLLBACK"


class SenderNotMember(ChatError):
    """The sender is not a writer of the team (at the high-water seqno or its own)."""

    code = "CHAT_SENDER_NOT_MEMBER"


class RevokedSenderKey(ChatError):
    """The signing device key is not a live sibkey of the sender at the high-water point."""

    code = "CHAT_REVOKED_SENDER_KEY"


class UnknownTeamState(ChatError):
    """The message names a team seqno beyond the team chain we verified."""

    code = "CHAT_UNKNOWN_TEAM_STATE"


class BadBody(ChatError):
    """The body's hash, seal, encoding or kind does not match its signed header."""

    code = "CHAT_BAD_BODY"


class Withheld(ChatError):
    """The server dropped a body that no valid delete, edit, expiry or delete-history covers."""

    code = "CHAT_WITHHELD"


class ForgedSupersede(ChatError):
    """An edit, delete, reaction or pin aimed at a message its sender may not touch."""

    code = "CHAT_FORGED_SUPERSEDE"


# --- what the user may not do (not verification failures: exit 1, not 3) ------------------

class PostNotAllowed(Conflict):
    """Our verified role in the team does not let us post (a reader, a removed member): refused
    before anything is written to the outbox, since no retry can make it allowed. (The
    server's own 403 for the same rule is errors.ChatPostNotAllowed.)"""

    code = "CHAT_NOT_A_WRITER"


class NotConversationMember(ReadNotAllowed):
    """The server refused a read because we are not a member: said with names, not ids."""

    code = "CHAT_NOT_MEMBER"


class OutboxRefused(Conflict):
    """`retry` of an outbox entry the server refused for good (403/409): sending the same bytes
    again cannot succeed; send a new message once allowed."""

    code = "CHAT_OUTBOX_REFUSED"
