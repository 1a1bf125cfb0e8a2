"""OCR: real text read back with rapidocr when the `ocr` extra is installed, and a
clean, explained skip when it is not."""

from __future__ import annotations

import sys

import pytest
from PIL import Image, ImageDraw, ImageFont

from kbapp.core import errors
from kbapp.ml.pipeline import Analyzer, ImageAnalysis

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _text_image(path, text):
    img = Image.new("RGB", (520, 140), "white")
    try:
        font = ImageFont.truetype(FONT, 44)
    except OSError:
        font = ImageFont.load_default(size=44)
    ImageDraw.Draw(img).text((20, 40), text, fill="black", font=font)
    img.save(path)
    return path


def test_without_the_extra_ocr_is_off_with_a_clear_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # import now fails as if absent
    from kbapp.ml.ocr import OcrEngine

    with pytest.raises(errors.ModelMissing, match=r"kbapp\[ocr\]"):
        OcrEngine()
    a = Analyzer(nsfw=False, ocr=True)
    try:
        assert a.ocr is None and any("kbapp[ocr]" in n for n in a.notes)
        r = a.analyze_one(_text_image(tmp_path / "t.png", "HELLO"))
        assert isinstance(r, ImageAnalysis) and r.ocr_text is None
    finally:
        a.close()


def test_ocr_reads_text(tmp_path):
    pytest.importorskip("rapidocr_onnxruntime", reason="the optional `ocr` extra is not installed")
    a = Analyzer(nsfw=False, ocr=True, workers=1)
    try:
        r = a.analyze_one(_text_image(tmp_path / "sign.png", "KBAPP 2026 OPEN"))
    finally:
        a.close()
    assert isinstance(r, ImageAnalysis)
    assert "KBAPP" in r.ocr_text.replace(" ", "") and "2026" in r.ocr_text
