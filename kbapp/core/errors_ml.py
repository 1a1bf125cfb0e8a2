"""Photo intelligence errors (kbapp/ml): models, hostile image files, the photo index.

Kept out of errors.py for the size rule, and importable from there like every other error.
"""

from __future__ import annotations

from .errors import KbappError, VerificationError

__all__ = [
    "MLError", "ModelMissing", "BadManifest", "ModelIntegrityError", "ModelDownloadError",
    "ImageError", "NotAnImage", "TruncatedImage", "ImageTooLarge", "UnsupportedImage",
    "NotARegularFile", "SymlinkOutside", "SymlinkLoop", "BrokenSymlink", "PhotoIndexError",
    "IndexCorrupt", "ConceptError",
]


class MLError(KbappError):
    code = "ML_ERROR"


class ModelMissing(MLError):
    """A model (or an optional runtime such as the OCR extra) is not installed."""

    code = "MODEL_MISSING"


class BadManifest(MLError):
    """A model manifest that does not parse or lacks a required field."""

    code = "BAD_MANIFEST"


class ModelIntegrityError(MLError, VerificationError):
    """A model file whose sha256 or size is not what its manifest says (tampered)."""

    code = "MODEL_INTEGRITY"


class ModelDownloadError(MLError):
    """A model hub that failed, answered badly or sent more than the size cap."""

    code = "MODEL_DOWNLOAD"


class ImageError(MLError):
    """An image the pipeline skips; `code` says why."""

    code = "BAD_IMAGE"


class NotAnImage(ImageError):
    code = "NOT_AN_IMAGE"


class TruncatedImage(ImageError):
    code = "TRUNCATED_IMAGE"


class ImageTooLarge(ImageError):
    """More pixels than the decompression-bomb limit, or a file over the size cap."""

    code = "IMAGE_TOO_LARGE"


class UnsupportedImage(ImageError):
    code = "UNSUPPORTED_IMAGE"


class NotARegularFile(ImageError):
    """A FIFO, device, socket or directory with a photo's name: never opened for reading."""

    code = "NOT_A_REGULAR_FILE"


class SymlinkOutside(ImageError):
    """A symlink out of the chosen folders, not followed unless the user asks."""

    code = "SYMLINK_OUTSIDE"


class SymlinkLoop(ImageError):
    """A symlinked folder that leads back into one already walked."""

    code = "SYMLINK_LOOP"


class BrokenSymlink(ImageError):
    code = "BROKEN_SYMLINK"


class PhotoIndexError(MLError):
    """The photo index (kbapp/ml/photodb.py) refused a request: bad query, unknown photo or concept."""

    code = "PHOTO_INDEX"


class IndexCorrupt(PhotoIndexError):
    """The photo index database or a side file is damaged or from an unknown schema."""

    code = "INDEX_CORRUPT"


class ConceptError(PhotoIndexError):
    """A custom concept that cannot be trained (too few examples, one class only, unknown name)."""

    code = "CONCEPT"
