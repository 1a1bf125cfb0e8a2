"""Encrypted folders' errors (kbapp/core/fs, docs/protocol.md "Encrypted folders").

Kept out of errors.py for the size rule, and importable from there like every other error.
Everything a server or another writer can cause is a VerificationError (the CLI exits 3); a
folder name the user typed wrong is a plain EncodingError.
"""

from __future__ import annotations

from .errors import EncodingError, VerificationError

__all__ = [
    "BadFolderName", "FolderError", "BadPathName", "UnsafeExport", "BadBlock", "BlockIdMismatch",
    "BlockOpenFailed", "BadPadding", "BadDirectory", "TreeTooDeep", "TreeTooLarge", "BadRevision",
    "BadRevisionSignature", "WrongFolder", "RevisionRollback", "HiddenRevision", "RevisionGap", "ForkedFolder",
    "FolderWriterNotMember", "RevokedWriterKey", "FolderForkedCheckpoint", "FolderCheckpointRollback",
    "FolderUnknownKeyGen", "FolderStaleKeyGen", "FolderUnknownTeamState", "FolderHeadUnreadable",
]


class BadFolderName(EncodingError):
    """Not a folder name (`/private/alice,bob`, `/public/alice`, `/team/acme.eng`)."""

    code = "FS_BAD_FOLDER_NAME"


class FolderError(VerificationError):
    """A folder, block or revision the reader refuses (base of every folder verification error)."""

    code = "FS"


class BadPathName(FolderError, EncodingError):
    """A path component no writer may use (`..`, `/`, NUL, controls, bidi, reserved, too long)."""

    code = "FS_BAD_NAME"


class UnsafeExport(FolderError):
    """A tree that cannot be written to a local disk as it is (symlink, case clash, escape)."""

    code = "FS_UNSAFE_EXPORT"


class BadBlock(FolderError, EncodingError):
    """A block or block pointer that breaks the format (sizes, kinds, encoding)."""

    code = "FS_BAD_BLOCK"


class BlockIdMismatch(FolderError):
    """The served bytes are not the block the pointer names (swapped or replaced block)."""

    code = "FS_BLOCK_ID_MISMATCH"


class BlockOpenFailed(FolderError):
    """The block does not open under the key its pointer derives (altered or foreign block)."""

    code = "FS_BLOCK_OPEN"


class BadPadding(FolderError):
    """A block's length field or padding is not the canonical one (a padding bomb)."""

    code = "FS_BAD_PADDING"


class BadDirectory(FolderError, EncodingError):
    """A directory or indirect block whose entries break the format."""

    code = "FS_BAD_DIRECTORY"


class TreeTooDeep(FolderError):
    """A path or tree deeper than a reader walks."""

    code = "FS_TREE_TOO_DEEP"


class TreeTooLarge(FolderError):
    """A tree with more nodes, entries or bytes than a reader walks (a decompression bomb)."""

    code = "FS_TREE_TOO_LARGE"


class BadRevision(FolderError, EncodingError):
    """A folder revision that breaks the format."""

    code = "FS_BAD_REVISION"


class BadRevisionSignature(FolderError):
    """The revision's signature does not verify with its writer's device key."""

    code = "FS_BAD_REVISION_SIG"


class WrongFolder(FolderError):
    """The revision belongs to another folder, team or folder kind."""

    code = "FS_WRONG_FOLDER"


class RevisionRollback(FolderError):
    """The server served an older head than one we already verified."""

    code = "FS_ROLLBACK"


class HiddenRevision(FolderError):
    """The transparency map names a newer head than the revisions served."""

    code = "FS_HIDDEN_REVISION"


class RevisionGap(FolderError):
    """Revision numbers skip (revisions withheld between two served ones)."""

    code = "FS_REVISION_GAP"


class ForkedFolder(FolderError):
    """Two different revisions with one number, or a prev id other than the head's: a fork."""

    code = "FS_FORK"


class FolderWriterNotMember(FolderError):
    """The revision's writer is not a writer of the folder's team (at the high-water seqno or its own)."""

    code = "FS_WRITER_NOT_MEMBER"


class RevokedWriterKey(FolderError):
    """The signing device key is not a live key of the writer at the high-water checkpoint."""

    code = "FS_REVOKED_WRITER_KEY"


class FolderForkedCheckpoint(FolderError):
    """The writer's log checkpoint is not in our own view of the log."""

    code = "FS_FORKED_CHECKPOINT"


class FolderCheckpointRollback(FolderError):
    """One device's checkpoint or team seqno went backwards between its revisions."""

    code = "FS_CHECKPOINT_ROLLBACK"


class FolderUnknownKeyGen(FolderError):
    """The revision or a block names a key generation we do not hold, or one not yet in force."""

    code = "FS_UNKNOWN_KEY_GEN"


class FolderStaleKeyGen(FolderError):
    """The revision uses an older key generation than the one in force at its team seqno."""

    code = "FS_STALE_KEY_GEN"


class FolderUnknownTeamState(FolderError):
    """The revision names a team seqno beyond the team chain we verified (reload, then retry)."""

    code = "FS_UNKNOWN_TEAM_STATE"


class FolderHeadUnreadable(FolderError):
    """The folder's newest verified revision names a root directory that cannot be read (its
    block missing, altered, or not a directory): a writer's attack or bug, or a server
    withholding the block. Nothing is read or written on top of it; a writer rolls the folder
    back to `readable`, the newest revision whose root still reads (`kbapp fs rollback`; 0: an
    empty folder; None: none of the newest ones reads, the user names an older one)."""

    code = "FS_HEAD_UNREADABLE"

    def __init__(self, message: str, *, revision: int = 0, writer: str = "", readable: int | None = 0):
        super().__init__(message)
        self.revision, self.writer, self.readable = revision, writer, readable

