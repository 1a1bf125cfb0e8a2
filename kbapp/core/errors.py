"""Typed errors shared by every layer.

Every failure a user can meet has its own class so that the CLI and GUI can
explain it, and tests can assert exactly which check fired. `code` is a stable
machine-readable name (printed by `--json`).
"""

from __future__ import annotations


class KbappError(Exception):
    """Base of every error kbapp raises on purpose."""

    code = "ERROR"


# --- malformed input --------------------------------------------------------


class EncodingError(KbappError):
    """Data that does not parse, or breaks a size / depth / type limit."""

    code = "BAD_ENCODING"


class TooLarge(EncodingError):
    code = "TOO_LARGE"


class TooDeep(EncodingError):
    code = "TOO_DEEP"


# --- verification failures (the server or a peer lied) ---------------------


class VerificationError(KbappError):
    """Something the server or a peer said did not check out."""

    code = "VERIFY"


class BadSignature(VerificationError):
    code = "VERIFY_FAILED"


class BadKID(VerificationError):
    code = "BAD_KID"


# sigchain playback
class ChainError(VerificationError):
    code = "BAD_CHAIN"


class WrongPrev(ChainError):
    code = "WRONG_PREV"


class WrongSeqno(ChainError):
    code = "WRONG_SEQNO"


class WrongUid(ChainError):
    code = "WRONG_UID"


class WrongUsername(ChainError):
    code = "WRONG_USERNAME"


class InvalidSibkey(ChainError):
    """A link was signed by a key that is not (or no longer) an active sibkey."""

    code = "INVALID_SIBKEY"


class BadChainLink(ChainError):
    code = "BAD_CHAIN_LINK"


class StubbedFirstLink(ChainError):
    code = "STUBBED_FIRST_LINK"


class StubbedSignatureNeeded(ChainError):
    code = "STUBBED_SIGNATURE_NEEDED"


class OwnChainStubbed(StubbedSignatureNeeded):
    """The server stubbed a link of the reader's own chain: its own chain is
    always loaded in full (a stubbed track would hide what it pinned)."""

    code = "OWN_CHAIN_STUBBED"


class ChainLinkStubbedUnsupported(ChainError):
    """A stub of a link type this chain cannot hold, not marked ignorable."""

    code = "CHAIN_LINK_STUBBED_UNSUPPORTED"


class NonexistentKid(ChainError):
    """A link names a key outside the user's key family (its subchain's keys)."""

    code = "NONEXISTENT_KID"


class MismatchedField(ChainError):
    code = "MISMATCHED_FIELD"


class WrongReverseSig(ChainError):
    code = "WRONG_REVERSE_SIG"


class WrongPerUserKeyReverseSig(WrongReverseSig):
    code = "WRONG_PER_USER_KEY_REVERSE_SIG"


class BadPerUserKey(ChainError):
    code = "BAD_PER_USER_KEY"


class WrongEldest(ChainError):
    """A link names another eldest key than its subchain's, or the chain does
    not end in the subchain whose eldest key the Merkle map names."""

    code = "WRONG_ELDEST"


class BadEmbeddedCheckpoint(ChainError):
    """A link's embedded log checkpoint (`body.merkle_root`) is not one of our log's, or goes
    back behind an earlier link's: the fault of the link's signer, not of the server."""

    code = "BAD_EMBEDDED_CHECKPOINT"


# transparency
class ProofError(VerificationError):
    code = "BAD_PROOF"


class InclusionProofError(ProofError):
    code = "BAD_INCLUSION_PROOF"


class ConsistencyProofError(ProofError):
    code = "BAD_CONSISTENCY_PROOF"


class MapProofError(ProofError):
    code = "BAD_MAP_PROOF"


class CheckpointError(VerificationError):
    """A checkpoint note that is malformed or not signed by the pinned key."""

    code = "BAD_CHECKPOINT"


class RollbackDetected(VerificationError):
    """The server showed an older state than one we already verified."""

    code = "ROLLBACK"


class CheckpointMoved(KbappError):
    """A newer checkpoint was trusted (by a verification running beside this one) between our
    check and our commit: the store keeps the newer one; the caller proves ours a prefix of it."""

    code = "CHECKPOINT_MOVED"


class ForkDetected(VerificationError):
    """Two views of the log that cannot both be true: the server equivocated."""

    code = "FORK"


class ChainTailMismatch(VerificationError):
    """The chain served does not end where the Merkle map says it does."""

    code = "CHAIN_TAIL_MISMATCH"


class ServerKeyMismatch(VerificationError):
    """The server's key is not the one pinned at first contact."""

    code = "SERVER_KEY_CHANGED"


# --- usage / state ------------------------------------------------------------


class NotFound(KbappError):
    code = "NOT_FOUND"


class Conflict(KbappError):
    code = "CONFLICT"


class ImplicitTeamNotMade(Conflict):
    """An implicit team (`alice,bob`, `bob` of /public/bob) none of its writers has made yet,
    asked for by someone who is not one of them: it cannot be made by them."""


class UsernameTaken(Conflict):
    """Signup's check before the passphrase: the server already has a user by that name."""

    code = "USERNAME_TAKEN"


class ResetNotAuthorized(KbappError):
    """The server's policy: an account reset must be authorized by one of its live keys."""

    code = "RESET_NOT_AUTHORIZED"


class NotLoggedIn(KbappError):
    code = "NOT_LOGGED_IN"


class DeviceRevoked(KbappError):
    code = "DEVICE_REVOKED"


class ProvisioningError(KbappError):
    """Adding a device with a phrase did not complete (timeout, a bad reply)."""

    code = "PROVISIONING"


class ProofCheckFailed(KbappError):
    """A proof is not (or not yet) where it should be: it is not posted to the chain."""

    code = "PROOF_CHECK_FAILED"


class ProofHostRefused(KbappError):
    """A proof check would connect to a non-public address (loopback, private,
    link-local, ...): the host a proof names resolved there, or redirected there."""

    code = "PROOF_HOST_REFUSED"


class BadPaperKey(KbappError):
    code = "BAD_PAPER_KEY"


class BadUsername(KbappError):
    """A username that breaks the rules (charset, length, leading underscore)."""

    code = "BAD_USERNAME"


class DecryptionError(VerificationError):
    """A box or secretbox that does not open: wrong key, wrong context or tampered."""

    code = "DECRYPT_FAILED"


class KeystoreError(KbappError):
    code = "KEYSTORE"


class WrongPassphrase(KeystoreError):
    """The key file's passphrase does not open it (the window says so in its own words)."""

    code = "WRONG_PASSPHRASE"


class WeakPassphrase(KeystoreError):
    """A new keystore file's passphrase below the minimum strength (kbapp/client/passphrase.py)."""

    code = "WEAK_PASSPHRASE"


class KeystoreNotPersistent(KeystoreError):
    """The in-memory keystore for a real account: its keys would vanish with the process."""

    code = "KEYSTORE_NOT_PERSISTENT"


class ServerError(KbappError):
    """The server refused or failed a request (HTTP error with its message)."""

    code = "SERVER_ERROR"

    def __init__(self, message: str, status: int = 0, server_code: str = ""):
        super().__init__(message)
        self.status = status
        self.server_code = server_code


class NetworkError(KbappError):
    code = "NETWORK"


class BadServerUrl(KbappError):
    """A server address that is not one: no host, a scheme other than http(s), a path."""

    code = "BAD_SERVER_URL"


class DuplicateDeviceName(KbappError):
    """A live device of this account already has that name (the revoke dialog could not tell them apart)."""

    code = "DUPLICATE_DEVICE_NAME"


class RateLimited(ServerError):
    """Over a rate limit (per address, account, device or for signups); `retry_after`
    is the seconds until the next request can pass (the Retry-After header)."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, status: int = 0, server_code: str = "", retry_after: int = 1):
        super().__init__(message, status, server_code)
        self.retry_after = retry_after


class RequestTimeout(ServerError):
    """A request's headers or body did not arrive in time: a stalled or trickling client
    holds a connection, so the server answers 408 and closes it."""

    code = "REQUEST_TIMEOUT"


class ServerBusy(ServerError):
    """The server is at its connection cap: this connection is refused with a 503."""

    code = "SERVER_BUSY"


class Cancelled(KbappError):
    """A long job (indexing, an index build) stopped because the caller asked it to."""

    code = "CANCELLED"


# --- teams (kbapp/core/teams) -------------------------------------------------


class TeamError(ChainError):
    """A team chain that does not check out (base of every team loader error)."""

    code = "BAD_TEAM"


class TeamWrongId(TeamError):
    """A link names another team than the one being loaded (a replay from another team)."""

    code = "TEAM_WRONG_ID"


class TeamPermissionDenied(TeamError):
    """The signer did not hold the role the link needs at that point of the chain."""

    code = "TEAM_PERMISSION_DENIED"


class TeamSignerKeyNotLive(TeamError):
    """The signing device key was not a live sibkey of the signer at that point (revoked, unknown)."""

    code = "TEAM_SIGNER_KEY"


class BadTeamKey(TeamError):
    """A per-team key (generation, KIDs, box, prev chain) that does not match the chain."""

    code = "BAD_TEAM_KEY"


class TeamRotationRequired(TeamError):
    """A removal or leave that is not followed (or accompanied) by a new key generation."""

    code = "TEAM_ROTATION_REQUIRED"


class BadTeamMembership(TeamError):
    """A membership section that is malformed, duplicated or contradicts the team's name."""

    code = "BAD_TEAM_MEMBERSHIP"


class BadTeamInvite(TeamError):
    """An invite or an invite acceptance that is malformed, unknown, used up or forged."""

    code = "BAD_TEAM_INVITE"


class BadTeamName(TeamError):
    """A team name (or an implicit team name like `alice,bob#carol`) that breaks the rules."""

    code = "BAD_TEAM_NAME"


class InvalidTeamName(KbappError):
    """A team name the user typed breaks the rules: a usage error, not a verification failure
    (BadTeamName is kept for names that come from the server or a chain)."""

    code = "INVALID_TEAM_NAME"


# --- access to reads that are not public (kbapp/core/tokens.py) ----------------------


class BadReadToken(ServerError):
    """A read that needs a read token came with none, or one that is malformed, forged,
    expired, for another server, or signed by a key that is not a live device key (401)."""

    code = "BAD_READ_TOKEN"


class ReadNotAllowed(ServerError):
    """A valid read token, but its user may not read this (not a member, say) (403)."""

    code = "READ_NOT_ALLOWED"


class AcceptanceNotAllowed(KbappError):
    """An invite acceptance the server refuses: not signed by a live device key of the
    user it names, for an invite the team does not hold open, or replacing another's."""

    code = "ACCEPTANCE_NOT_ALLOWED"


class PushRefused(ServerError):
    """The push channel (WebSocket /v1/push) refused a connection: too many open from this
    address or account, a malformed topic list, or a client that spoke after connecting."""

    code = "PUSH_REFUSED"


# --- the server's chat routes (kbapp/server/chat.py): refusals with their HTTP status --------


class ChatRefused(ServerError):
    """The server refused a chat request (base; `status` is the HTTP status it answers)."""

    code = "CHAT_REFUSED"


class ChatConvIdMismatch(ChatRefused):
    """The conversation id does not derive from the posted team, topic type and topic id (400)."""

    code = "CHAT_CONV_ID_MISMATCH"


class ChatPostNotAllowed(ChatRefused):
    """Only a writer (or above) of the conversation's team posts or types in it (403)."""

    code = "CHAT_POST_NOT_ALLOWED"


class ChatSenderMismatch(ChatRefused):
    """The message's sender hints name another user or device than the read token (403)."""

    code = "CHAT_SENDER_MISMATCH"


class ChatTargetRefused(ChatRefused):
    """An edit or delete names a message not in this conversation, or one its poster may
    not remove (another's message; deletes of others need a team admin) (403)."""

    code = "CHAT_TARGET_REFUSED"


class ChatOutboxConflict(ChatRefused):
    """An outbox id already used in this conversation by another sender or for another header (409)."""

    code = "CHAT_OUTBOX_CONFLICT"


class ChatBlobNotYours(ChatRefused):
    """A post names a blob (its `blobs` cue) that its poster did not upload (403): nobody
    gets another's blob deleted with their own message."""

    code = "CHAT_BLOB_NOT_YOURS"


class ChatHistoryRefused(ChatRefused):
    """A delete_history from someone who is not an admin of a (non-implicit) team, or one
    whose `upto` does not lie below it (403): the server drops no body for it."""

    code = "CHAT_HISTORY_REFUSED"


# --- the client's local databases (kbapp/client/db) ---------------------------


class LocalDatabaseError(KbappError):
    """A profile's own database (store, photo index) cannot be used as it is."""

    code = "LOCAL_DB"


class SchemaTooNew(LocalDatabaseError):
    """The file was migrated by a newer kbapp: refused, never downgraded."""

    code = "SCHEMA_TOO_NEW"


class DatabaseClosed(LocalDatabaseError):
    """Work was queued on a database after its profile was closed."""

    code = "DATABASE_CLOSED"


# --- the chat client (kbapp/client/chat): the user's mistakes, not anybody's lie -----------


class InvalidChatInput(KbappError):
    """What the user typed cannot be sent (empty or too long a text, a bad emoji, no target)."""

    code = "CHAT_INVALID_INPUT"


class NotSupported(KbappError):
    """A feature this build does not have yet (the CLI exits 2)."""

    code = "NOT_SUPPORTED"


# The chat reader's errors (ChatError and its subclasses) live in errors_chat.py for the size
# rule; `errors.ForkedCheckpoint` and the like work from here as for every other error.
from .errors_chat import *  # noqa: E402,F401,F403
# Blob routes' and chat attachments' errors live in errors_blobs.py (size rule), the same way.
from .errors_blobs import *  # noqa: E402,F401,F403
# Exploding messages' ephemeral key errors live in errors_ephemeral.py (size rule), the same way.
from .errors_ephemeral import *  # noqa: E402,F401,F403
# Encrypted folders' errors live in errors_fs.py (size rule), the same way.
from .errors_fs import *  # noqa: E402,F401,F403
# The folder server's refusals live in errors_fs_server.py (size rule), the same way.
from .errors_fs_server import *  # noqa: E402,F401,F403
# The folder engine's own errors (journal full, sync timeout...) live in errors_fs_client.py.
from .errors_fs_client import *  # noqa: E402,F401,F403
# Copies between folders and the local disk (export, cp) in errors_fs_local.py, the same way.
from .errors_fs_local import *  # noqa: E402,F401,F403
# Photo intelligence errors (kbapp/ml) live in errors_ml.py (size rule), the same way.
from .errors_ml import *  # noqa: E402,F401,F403
# `kbapp fs mount` errors in errors_mount.py, the same way.
from .errors_mount import *  # noqa: E402,F401,F403
# Previewing a file's contents (the Files page's PDF preview) in errors_preview.py, the same way.
from .errors_preview import *  # noqa: E402,F401,F403
