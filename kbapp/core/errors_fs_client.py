"""Errors of the folder engine on this device (kbapp/client/fs/: journal, uploader, local view).

Kept out of errors.py for the size rule and importable from there like every other error.
These are about this device's state (a full journal, a path in the way, an upload that did
not finish), not lies: a lie is a FolderError (errors_fs.py).
"""

from __future__ import annotations

from .errors import Conflict, KbappError, NotFound

__all__ = ["JournalFull", "PathExists", "FolderSyncTimeout", "UploadFailed", "ReadOnlyView", "JournalEntryNeeded",
           "MoveRefused", "RowsRefused", "BlockMissing", "FsPathRefused", "FolderNotMade"]


class RowsRefused(KbappError):
    """Folder paths in a drag or on the clipboard that this app did not put there (another
    program offering our format): nothing is moved or pasted."""

    code = "FS_FOREIGN_ROWS"


class JournalEntryNeeded(Conflict):
    """Discarding this journal entry is refused: a later change builds on it (or its revision
    is already signed and may be on the server)."""

    code = "FS_ENTRY_NEEDED"


class MoveRefused(KbappError):
    """A move that cannot be done: a directory into itself or below itself, or out of a
    read-only view."""

    code = "FS_MOVE_REFUSED"


class FolderNotMade(NotFound):
    """A folder none of its writers has made yet (`/public/bob` before bob writes to it): a
    reader who is not a writer cannot make it; its root lists as empty, anything in it is
    not found."""

    code = "FS_FOLDER_NOT_MADE"


class FsPathRefused(KbappError):
    """A path the user (or this device's own queued change) names that cannot be done: a
    file where a directory goes, a directory where a file goes, a directory not empty, a
    revision number below 0, a typo in a folder path. The user's input, not a lie: exit 1,
    never the verification failure a writer's hostile name is (FS_BAD_NAME)."""

    code = "FS_PATH_REFUSED"


class JournalFull(KbappError):
    """The write would take the journal past `fs.journal_max_bytes`: refused before any byte
    is journalled (upload what is pending, or raise the cap)."""

    code = "FS_JOURNAL_FULL"


class PathExists(Conflict):
    """mkdir or mv onto a name that is already taken in the folder."""

    code = "FS_EXISTS"


class FolderSyncTimeout(KbappError):
    """`sync()` ran out of time with changes still pending (they stay journalled)."""

    code = "FS_SYNC_TIMEOUT"


class UploadFailed(KbappError):
    """A journalled change was refused for good (not a writer, over quota, a stale key); it
    stays in the journal as `failed` with this reason."""

    code = "FS_UPLOAD_FAILED"


class ReadOnlyView(KbappError):
    """A parked "(local conflicted copy DATE)" view or a past revision is read-only."""

    code = "FS_READ_ONLY_VIEW"


class BlockMissing(NotFound):
    """A block a verified tree names that the server does not serve (never uploaded, withheld,
    or collected). Not "that path is gone": a change to be applied under it is never skipped
    for it, and a root missing this way is an unreadable head (client/fs/rollback.py)."""

    code = "FS_BLOCK_MISSING"
