"""Errors of exploding messages' ephemeral keys (kbapp/core/chat/ephemeral.py, docs/protocol.md
"Exploding messages").

Kept out of errors.py for the size rule and re-exported from there like errors_chat.py.
What a lying server or peer causes is a VerificationError (the CLI exits 3); a key that
is simply gone (deleted on schedule) is not a lie and is its own KbappError.
"""

from __future__ import annotations

from .errors import ChatRefused, EncodingError, KbappError, VerificationError

__all__ = [
    "EphemeralError", "BadEkStatement", "BadEkSignature", "RevokedEkDevice", "BadTeamEkSignature",
    "TeamEkStalePtk", "TeamEkMismatch", "BadEkBox", "EkKeyDeleted", "InvalidLifetime", "EkRefused",
    "EkGenerationTaken",
]


class EphemeralError(VerificationError):
    """An ephemeral key statement or box the client refuses (base)."""

    code = "EK"


class BadEkStatement(EphemeralError, EncodingError):
    """A device or team EK statement (or its wire form) that breaks the format."""

    code = "EK_BAD_FORMAT"


class BadEkSignature(EphemeralError):
    """A device EK statement whose signature does not verify with the device key it names."""

    code = "EK_BAD_SIGNATURE"


class RevokedEkDevice(EphemeralError):
    """A device EK statement signed by a key that is not a live sibkey of its user (revoked,
    never theirs, or not live at the statement's checkpoint): nothing is boxed to it."""

    code = "EK_REVOKED_DEVICE"


class BadTeamEkSignature(EphemeralError):
    """A team EK statement not signed by the team's PTK signing key of the generation it names."""

    code = "EK_TEAM_BAD_SIGNATURE"


class TeamEkStalePtk(EphemeralError):
    """A team EK bound to a PTK generation older than the one in force: after a rotation
    (a member removed) it is never used again, since the removed member knows that PTK."""

    code = "EK_TEAM_STALE_PTK"


class TeamEkMismatch(EphemeralError):
    """A team EK statement of another team or generation than asked for, or a box whose seed
    does not derive the public key the statement signs (a substituted seed)."""

    code = "EK_TEAM_MISMATCH"


class BadEkBox(EphemeralError):
    """A team EK box that does not open with the device EK it claims to be for."""

    code = "EK_BAD_BOX"


class EkKeyDeleted(KbappError):
    """The ephemeral key a message needs is gone (deleted on schedule, or this device had no
    device EK when the team EK was made): the message shows as exploded / key deleted."""

    code = "EK_KEY_DELETED"


class InvalidLifetime(KbappError):
    """An exploding lifetime outside 30 s .. 7 days, or not a duration like 90s, 10m, 1h, 2d."""

    code = "EK_BAD_LIFETIME"


class EkRefused(ChatRefused):
    """The server refused an ephemeral key request (shape, size, rights; `status` its HTTP status)."""

    code = "EK_REFUSED"


class EkGenerationTaken(EkRefused):
    """A team EK generation was published by someone else first (409): fetch it and retry."""

    code = "EK_GENERATION_TAKEN"
