"""The folder server's refusals (kbapp/server/folders.py, routes/folders.py), each with the HTTP
status it answers. Kept out of errors.py for the size rule and importable from there.

They are ServerErrors (what a client sees from a server that said no), not VerificationErrors:
readers check every revision again (core/fs/judge.py) whatever the server accepted.
"""

from __future__ import annotations

from .errors import ServerError

__all__ = ["FolderRefused", "FolderIdMismatch", "FolderNotWriter", "FolderWriterMismatch",
           "FolderStaleKeyGenRefused", "FolderHeadMoved", "FolderQuotaExceeded", "FolderBlockMismatch",
           "FolderPublicNotImplicit", "FolderGcRefused", "FolderGcTooEarly"]


class FolderRefused(ServerError):
    """The server refused a folder request (base; `status` is the HTTP status it answers)."""

    code = "FS_REFUSED"


class FolderIdMismatch(FolderRefused):
    """The folder id in the path does not derive from the team and kind given or signed (400)."""

    code = "FS_FOLDER_ID_MISMATCH"


class FolderNotWriter(FolderRefused):
    """The token's user is not a writer of the folder's team (403)."""

    code = "FS_NOT_WRITER"


class FolderWriterMismatch(FolderRefused):
    """The revision's signed writer is not the read token's user and live device (403)."""

    code = "FS_WRITER_MISMATCH"


class FolderStaleKeyGenRefused(FolderRefused):
    """A revision under another than the team's newest key generation (400)."""

    code = "FS_KEY_GEN_REFUSED"


class FolderHeadMoved(FolderRefused):
    """Compare-and-swap lost: the revision does not follow the stored head (409; `head` says it)."""

    code = "FS_HEAD_MOVED"

    def __init__(self, message: str, status: int = 409, head: int = 0, head_id: str | None = None):
        super().__init__(message, status)
        self.head, self.head_id = head, head_id


class FolderQuotaExceeded(FolderRefused):
    """The upload would pass the uploader's or the team's folder quota; nothing was kept (413)."""

    code = "FS_QUOTA"


class FolderBlockMismatch(FolderRefused):
    """A block's bytes do not hash to the id they were put under; nothing was kept (400)."""

    code = "FS_BLOCK_MISMATCH"


class FolderPublicNotImplicit(FolderRefused):
    """A public folder rides on an implicit team without readers (`/public/alice,bob`): a named
    team or one with a readers list cannot hold one (400)."""

    code = "FS_PUBLIC_NOT_IMPLICIT"


class FolderGcRefused(FolderRefused):
    """A collection request the server will not apply: not a writer's, `upto` not below the head,
    or a listed block the folder does not hold or that a later revision brought (400/403)."""

    code = "FS_GC_REFUSED"


class FolderGcTooEarly(FolderGcRefused):
    """Revision `upto` is younger than the server's collection delay (14 days by default) (403)."""

    code = "FS_GC_TOO_EARLY"
