"""Preprocessing numbers against values worked out by hand (torchvision's recipe:
shorter side 256, centre crop 224, /255, ImageNet mean/std, NCHW)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kbapp.ml.imaging import (IMAGENET_MEAN, IMAGENET_STD, Preprocess, crop_pixels, normalize, preprocess,
                              resize_crop, to_pixels, to_tensor)

P = Preprocess()


def test_uniform_colour_normalises_exactly():
    img = Image.new("RGB", (300, 260), (124, 116, 104))
    t = preprocess(img, P)
    assert t.shape == (3, 224, 224) and t.dtype == np.float32 and t.flags.c_contiguous
    for c, v in enumerate((124, 116, 104)):
        expect = (v / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert np.allclose(t[c], expect, atol=1e-6)


def test_centre_crop_offsets_and_channel_layout():
    # 512 x 256: shorter side is already 256, so no resize; the crop starts at column 144.
    a = np.zeros((256, 512, 3), dtype=np.uint8)
    a[:, :, 0] = (np.arange(512) % 256)[None, :]        # red = column
    a[:, :, 1] = np.arange(256)[:, None]                # green = row
    a[:, :, 2] = 7
    t = preprocess(Image.fromarray(a), P)
    left, top = 144, 16
    cols = (np.arange(left, left + 224) % 256) / 255.0
    rows = np.arange(top, top + 224) / 255.0
    assert np.allclose(t[0, 5], (cols - IMAGENET_MEAN[0]) / IMAGENET_STD[0], atol=1e-6)
    assert np.allclose(t[1, :, 9], (rows - IMAGENET_MEAN[1]) / IMAGENET_STD[1], atol=1e-6)
    assert np.allclose(t[2], (7 / 255.0 - IMAGENET_MEAN[2]) / IMAGENET_STD[2], atol=1e-6)


def test_resize_keeps_aspect_like_torchvision():
    # torchvision Resize(256): the shorter side becomes 256, the longer int(256 * long / short).
    assert resize_crop(Image.new("RGB", (1000, 750)), Preprocess(crop=256, resize=256)).size == (256, 256)
    img = Image.new("RGB", (375, 500))
    p = Preprocess(crop=224, resize=256)
    w, h = img.size
    assert (256, int(256 * h / w)) == (256, 341)
    assert resize_crop(img, p).size == (224, 224)
    # A resize that matches Pillow's bilinear resample on the same geometry.
    grad = Image.fromarray(np.tile(np.linspace(0, 255, 600, dtype=np.uint8), (300, 1)))
    grad = grad.convert("RGB")
    ref = np.asarray(grad.resize((512, 256), Image.Resampling.BILINEAR).crop((144, 16, 368, 240)), np.float32)
    ours = np.asarray(resize_crop(grad, P), np.float32)
    assert np.array_equal(ours, ref)


def test_bgr_nhwc_mean_only_variant():
    # open_nsfw's recipe: squash to 256, crop 224, BGR, subtract the mean, NHWC.
    p = Preprocess(crop=224, resize=256, keep_aspect=False, bgr=True, layout="NHWC", scale=1.0,
                   mean=(104.0, 117.0, 123.0), std=(1.0, 1.0, 1.0))
    img = Image.new("RGB", (640, 100), (10, 20, 30))
    t = to_tensor(resize_crop(img, p), p)
    assert t.shape == (224, 224, 3)
    assert np.allclose(t[0, 0], [30 - 104, 20 - 117, 10 - 123])


def _photo_like(w: int, h: int, seed: int = 3) -> Image.Image:
    """Smooth gradients plus noise: a resize filter's differences show up on both."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], axis=-1)
    a = np.clip(a + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(a)


def test_crop_pixels_enlarging_matches_pillow_within_one_level():
    pytest.importorskip("cv2")
    for w, h in ((227, 227), (200, 150), (120, 240), (256, 200)):
        img = _photo_like(w, h)
        ref = np.asarray(resize_crop(img, P), np.int16)
        ours = crop_pixels(img, P)
        assert ours.shape == (224, 224, 3) and ours.dtype == np.uint8
        diff = np.abs(ours.astype(np.int16) - ref)
        assert diff.max() <= 1, (w, h, diff.max())
        assert diff.mean() < 0.5


@pytest.mark.parametrize("size", [(640, 480), (300, 260), (256, 256), (200, 300_000 // 200 * 40)])
def test_crop_pixels_shrinking_same_size_and_long_panoramas_are_pillows_own(size):
    # Shrinking needs the antialiased filter, and a thin panorama must not be enlarged whole
    # (200 x 60000 would be 256 x 76800 before cropping): both stay on Pillow, bit for bit.
    img = _photo_like(*size)
    assert np.array_equal(crop_pixels(img, P), np.asarray(resize_crop(img, P)))


def test_batch_normalisation_equals_per_image_reference():
    imgs = [_photo_like(260 + 7 * i, 230 + 3 * i, seed=i) for i in range(5)]
    pixels = np.stack([to_pixels(resize_crop(i, P), P) for i in imgs])
    assert pixels.dtype == np.uint8 and pixels.shape == (5, 3, 224, 224)
    out = np.full((5, 3, 224, 224), np.nan, np.float32)
    got = normalize(pixels, P, out=out)
    assert got is out
    for k, img in enumerate(imgs):
        a = np.asarray(resize_crop(img, P), np.float64).transpose(2, 0, 1) / 255.0
        ref = (a - np.array(IMAGENET_MEAN)[:, None, None]) / np.array(IMAGENET_STD)[:, None, None]
        assert np.allclose(out[k], ref, atol=2e-6)


def test_opencv_import_leaves_qts_plugin_path_alone():
    # opencv-python (pulled in by the OCR extra) points QT_QPA_PLATFORM_PLUGIN_PATH at its own
    # Qt 5 plugins when imported; PySide6 would then fail to start. Fresh interpreter each.
    pytest.importorskip("cv2")
    code = ("import os; os.environ.pop('QT_QPA_PLATFORM_PLUGIN_PATH', None); {}; "
            "print(os.environ.get('QT_QPA_PLATFORM_PLUGIN_PATH'))")
    ours = subprocess.run([sys.executable, "-c", code.format("from kbapp.ml import imaging; imaging._cv2()")],
                          capture_output=True, text=True, check=True)
    assert ours.stdout.strip() == "None"
    plain = subprocess.run([sys.executable, "-c", code.format("import cv2")], capture_output=True, text=True,
                           check=True)
    if plain.stdout.strip() == "None":
        pytest.skip("this OpenCV build (headless) does not touch Qt's variables: nothing to undo")
