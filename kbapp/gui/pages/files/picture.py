"""Decoding a folder's picture for the Files page (thumbnails and the preview), in a worker thread.

Chat's `decode` (Pillow: header checked first, draft mode, blur in the pixels) when Pillow is
installed (the `ml`/`dev` extras); without it, Qt's own reader with the same rules: the size
is read from the header and a side over `max_side` is refused before any pixel is decoded,
the picture is decoded straight to its box (`setScaledSize`), and a blurred one is shrunk to
a few pixels and stretched back (nothing recognisable survives).
"""

from __future__ import annotations

import importlib.util

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt
from PySide6.QtGui import QImage, QImageReader

from kbapp.core import errors


def decode(data: bytes, blurred: bool, box: tuple[int, int], max_side: int) -> QImage:
    """The picture fitted to `box`; ImageTooLarge for a bomb, another exception when it is
    not a picture. Safe in a worker thread (QImage, no QPixmap)."""
    if importlib.util.find_spec("PIL") is None:
        return _decode_qt(data, blurred, box, max_side)
    from ..chat.images import decode as decode_pil
    return decode_pil(data, blurred, box, max_side)


def _decode_qt(data: bytes, blurred: bool, box: tuple[int, int], max_side: int) -> QImage:
    buf = QBuffer()
    buf.setData(QByteArray(data))
    buf.open(QIODevice.ReadOnly)
    reader = QImageReader(buf)
    size = reader.size()
    if not size.isValid():
        raise ValueError(f"not a picture ({reader.errorString()})")
    w, h = size.width(), size.height()
    if w > max_side or h > max_side:
        raise errors.ImageTooLarge(f"the picture is {w}×{h}: too large to preview, not shown")
    s = min(1.0, box[0] / w, box[1] / h)
    reader.setScaledSize(QSize(max(1, int(w * s)), max(1, int(h * s))))
    img = reader.read()
    if img.isNull():
        raise ValueError(f"not a picture ({reader.errorString()})")
    if blurred:
        small = img.scaled(4, 4, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
        img = small.scaled(img.width(), img.height(), Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
    return img.convertToFormat(QImage.Format_RGB888)
