"""The NSFW bands users see instead of a score: safe / review / nsfw.

Kept apart from the model (kbapp/ml/nsfw.py) so that the GUI can label and blur
photos without loading onnxruntime at start-up.
"""

from __future__ import annotations

from kbapp.core import errors

SAFE, REVIEW, NSFW = "safe", "review", "nsfw"
DEFAULT_BANDS = {"review": 0.2, "nsfw": 0.8}


def band(score: float | None, bands: dict | None = None) -> str | None:
    """safe / review / nsfw for a score; None when there is no score."""
    if score is None:
        return None
    b = bands or DEFAULT_BANDS
    if not 0.0 <= b["review"] <= b["nsfw"] <= 1.0:
        raise errors.BadManifest("NSFW bands must satisfy 0 <= review <= nsfw <= 1")
    if score >= b["nsfw"]:
        return NSFW
    if score >= b["review"]:
        return REVIEW
    return SAFE
