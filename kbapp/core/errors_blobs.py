"""The blob store's and chat attachments' errors (kbapp/server/blobstore.py, routes/blobs.py,
kbapp/core/chat/signencrypt.py, kbapp/client/chat/transfer.py).

Kept out of errors.py for the size rule, and importable from there like every other error.
The Attachment* ones are VerificationErrors (a lying server or sender), so the CLI exits 3.
"""

from __future__ import annotations

from .errors import EncodingError, KbappError, VerificationError

__all__ = [
    "BlobError",
    "BadBlobId",
    "BlobMismatch",
    "BlobQuotaExceeded",
    "BlobLengthRequired",
    "BadRange",
    "AttachmentError",
    "AttachmentTampered",
    "AttachmentReordered",
    "AttachmentTruncated",
    "AttachmentTrailingData",
    "AttachmentHashMismatch",
    "AttachmentFileChanged",
    "AttachmentDestination",
]


# the server's blob store (kbapp/server/blobstore.py) and its routes


class BlobError(KbappError):
    """A blob (chat attachment, folder block) cannot be stored or read as asked."""

    code = "BLOB"


class BadBlobId(BlobError, EncodingError):
    """Not a blob id: ids are 64 lowercase hex digits (SHA-256), never a path."""

    code = "BAD_BLOB_ID"


class BlobMismatch(BlobError):
    """The bytes sent do not hash to the id they were stored under (nothing was kept)."""

    code = "BLOB_MISMATCH"


class BlobQuotaExceeded(BlobError):
    """The upload would take the account over its blob quota (nothing was kept)."""

    code = "BLOB_QUOTA"


class BlobLengthRequired(BlobError, EncodingError):
    """A blob upload must say its size (Content-Length) before its first byte."""

    code = "BLOB_LENGTH_REQUIRED"


class BadRange(BlobError, EncodingError):
    """A Range header that is malformed, names several ranges, or lies outside the blob."""

    code = "BAD_RANGE"


class AttachmentError(VerificationError):
    """An attachment's bytes do not check out against the keys and hash its message names."""

    code = "ATTACHMENT"


class AttachmentTampered(AttachmentError):
    """A chunk does not open or its one-time signature fails: altered, or another attachment's."""

    code = "ATTACHMENT_TAMPERED"


class AttachmentReordered(AttachmentError):
    """A chunk of this attachment sits at another chunk's place (swapped, reordered)."""

    code = "ATTACHMENT_REORDERED"


class AttachmentTruncated(AttachmentError):
    """The attachment stops before its short last chunk."""

    code = "ATTACHMENT_TRUNCATED"


class AttachmentTrailingData(AttachmentError):
    """Bytes follow the attachment's last chunk."""

    code = "ATTACHMENT_TRAILING_DATA"


class AttachmentHashMismatch(AttachmentError):
    """Every chunk opened, but the ciphertext (or the size) is not the one the message names."""

    code = "ATTACHMENT_HASH_MISMATCH"


class AttachmentFileChanged(KbappError):
    """The file being uploaded changed between the pass that named its blob and the upload."""

    code = "ATTACHMENT_FILE_CHANGED"


class AttachmentDestination(KbappError):
    """A download's destination cannot be written: its folder is missing or not a folder,
    it is a folder itself, or this user may not write there (nothing was fetched)."""

    code = "ATTACHMENT_DESTINATION"
