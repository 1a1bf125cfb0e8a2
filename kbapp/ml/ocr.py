"""Text in photos, with `rapidocr-onnxruntime` (the optional `ocr` extra).

RapidOCR ships PP-OCR detection / recognition ONNX models in its wheel and runs
them on onnxruntime. It pulls in OpenCV, so it is optional: without it, asking
for OCR leaves `ImageAnalysis.ocr_text` as None and `Analyzer.notes` says why
and how to install it; nothing fails.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from PIL import Image

from kbapp.core import errors

log = logging.getLogger(__name__)

INSTALL_HINT = "OCR is off: install the optional extra with `pip install 'kbapp[ocr]'` (rapidocr-onnxruntime)"
MIN_SCORE = 0.5
MAX_SIDE = 2048


class OcrEngine:
    def __init__(self):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as e:
            raise errors.ModelMissing(f"{INSTALL_HINT} ({e})") from e
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        self._engine = RapidOCR()
        self._lock = threading.Lock()  # one RapidOCR instance is not safe to share between threads

    def read(self, image: Image.Image) -> str:
        """The text found in the image, one detected line per line ('' when there is none)."""
        img = image
        if max(img.size) > MAX_SIDE:
            img = img.copy()
            img.thumbnail((MAX_SIDE, MAX_SIDE))
        bgr = np.ascontiguousarray(np.asarray(img.convert("RGB"))[:, :, ::-1])
        with self._lock:
            result, _ = self._engine(bgr)
        lines = [r[1] for r in (result or []) if len(r) >= 3 and float(r[2]) >= MIN_SCORE and r[1].strip()]
        return "\n".join(lines)
