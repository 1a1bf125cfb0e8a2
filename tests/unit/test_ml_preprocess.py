"""Preprocessing numbers against values worked out by hand (torchvision's recipe:
shorter side 256, centre crop 224, /255, ImageNet mean/std, NCHW)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from kbapp.ml.imaging import IMAGENET_MEAN, IMAGENET_STD, Preprocess, preprocess, resize_crop, to_tensor

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
