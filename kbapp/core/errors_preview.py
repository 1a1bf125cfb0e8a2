"""Errors of previewing a file's contents (the Files page's PDF preview, gui/pages/files/pdf.py).

Kept out of errors.py for the size rule and importable from there like every other error.
A document another writer made to hang or crash the renderer is refused, not an attack on
trusted state: nothing is written, the panel says why and offers to open it elsewhere.
"""

from __future__ import annotations

from .errors import KbappError

__all__ = ["PreviewFailed", "PreviewTimedOut", "PreviewUnavailable"]


class PreviewFailed(KbappError):
    """The document does not render (corrupt, hostile, or too large a picture once rendered)."""

    code = "PREVIEW_FAILED"


class PreviewTimedOut(PreviewFailed):
    """The renderer (a separate process) took longer than its limit and was killed."""

    code = "PREVIEW_TIMEOUT"


class PreviewUnavailable(PreviewFailed):
    """No renderer is installed for this kind of document (the optional `pdf` extra)."""

    code = "PREVIEW_UNAVAILABLE"
