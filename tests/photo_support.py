"""Helpers for the photo index tests: dev photos, altered copies, hand-made analyses.

Not a test module (tests/ is on sys.path, like server_support.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("KBAPP_DEV_IMAGES", ROOT / "tests" / "data" / "imagenet-val-dev"))
MODEL = ROOT / "resources" / "models" / "mobilenetv2" / "model.onnx"


def dev_items() -> list[tuple[Path, int]]:
    """(photo, ImageNet class) of the dev set, sorted by name. The set ships in tests/data:
    its absence is a broken checkout, so the test fails rather than skipping."""
    if not (DEV / "labels.txt").is_file():
        pytest.fail(f"dev photos not found at {DEV} (tests/data/imagenet-val-dev is part of the repository)")
    out = []
    for line in (DEV / "labels.txt").read_text().splitlines():
        if line.strip():
            name, idx = line.split()
            out.append((DEV / "images" / name, int(idx)))
    return sorted(out)


def need_model() -> None:
    if not MODEL.is_file():
        pytest.fail("MobileNetV2 ONNX model missing (resources/models/mobilenetv2 is part of the repository)")


def copy_photos(paths, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        q = dest / Path(p).name
        shutil.copyfile(p, q)
        out.append(q)
    return out


ALTERATIONS = ("crop", "resize", "flip", "jpeg")


def altered_copy(src: Path, dest: Path, how: str) -> Path:
    """One altered copy: centre crop to 80%, downscale to half, mirror, or JPEG quality 15."""
    im = Image.open(src).convert("RGB")
    w, h = im.size
    if how == "crop":
        im = im.crop((w // 10, h // 10, w - w // 10, h - h // 10))
    elif how == "resize":
        im = im.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS)
    elif how == "flip":
        im = ImageOps.mirror(im)
    q = 15 if how == "jpeg" else 90
    dest.parent.mkdir(parents=True, exist_ok=True)
    im.save(dest, "JPEG", quality=q)
    return dest


def fake_analysis(path: Path, vec: np.ndarray, *, tags=(), nsfw=None, ocr_text=None, clip=None):
    """An `ImageAnalysis` made by hand (no model): for testing the index alone."""
    from kbapp.ml.pipeline import ImageAnalysis

    v = np.asarray(vec, dtype=np.float32)
    v = v / np.linalg.norm(v)
    return ImageAnalysis(path=Path(path), sha256=hashlib.sha256(str(path).encode()).hexdigest(), width=10, height=10,
                         tags=list(tags), embedding=v, nsfw=nsfw, ocr_text=ocr_text, clip_embedding=clip)


def write_png(path: Path, color=(10, 20, 30), size=(64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path
