"""Which files are photos, and finding them under folders.

Plain `os` only: the GUI checks a dropped file's name with it before the ML packages
are loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".jfif"}


def walk_images(roots: Iterable[Path]) -> dict[str, os.stat_result]:
    """Every image file under the roots (files given directly count too), with its stat."""
    out: dict[str, os.stat_result] = {}
    for root in roots:
        root = Path(root)
        if root.is_file():
            if root.suffix.lower() in IMAGE_EXTS:
                out[str(root)] = root.stat()
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for fn in filenames:
                if fn.startswith(".") or Path(fn).suffix.lower() not in IMAGE_EXTS:
                    continue
                p = os.path.join(dirpath, fn)
                try:
                    out[p] = os.stat(p)
                except OSError:
                    continue
    return out
