"""Hostile and odd image files: each is skipped with a typed reason or converted
correctly, and the batch goes on (files are made here with Pillow)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kbapp.core import errors
from kbapp.ml import imaging
from kbapp.ml.pipeline import Analyzer, ImageAnalysis, Skipped



def png_bomb(path: Path, w: int, h: int) -> None:
    """A tiny PNG whose header claims w x h pixels (the CRC is valid: only the size lies)."""
    small = io.BytesIO()
    Image.new("L", (1, 1)).save(small, "PNG")
    data = bytearray(small.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", w, h)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def analyzer():
    a = Analyzer(nsfw=False, batch_size=4, workers=2)
    yield a
    a.close()


@pytest.fixture()
def files(tmp_path):
    f = {}
    good = Image.new("RGB", (320, 240), (30, 120, 200))
    f["good"] = tmp_path / "good.jpg"
    good.save(f["good"], quality=95)

    buf = io.BytesIO()
    Image.effect_noise((400, 300), 60).convert("RGB").save(buf, "JPEG", quality=90)
    f["truncated"] = tmp_path / "truncated.jpg"
    f["truncated"].write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])

    f["text"] = tmp_path / "notes.png"
    f["text"].write_text("this is not an image at all\n" * 20)
    f["random"] = tmp_path / "noise.jpg"
    f["random"].write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    f["empty"] = tmp_path / "empty.gif"
    f["empty"].write_bytes(b"")
    f["bomb"] = tmp_path / "bomb.png"
    png_bomb(f["bomb"], 100_000, 100_000)
    f["corrupt_data"] = tmp_path / "corrupt.png"
    png = io.BytesIO()
    Image.effect_noise((200, 150), 60).save(png, "PNG")
    raw = bytearray(png.getvalue())
    idat = raw.index(b"IDAT")
    raw[idat + 10:idat + 60] = bytes(range(50))  # damaged compressed data, chunk layout intact
    f["corrupt_data"].write_bytes(bytes(raw))

    f["panorama"] = tmp_path / "panorama.jpg"
    Image.new("RGB", (12000, 400), (200, 30, 30)).save(f["panorama"], quality=80)

    f["cmyk"] = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (300, 200), (0, 255, 255, 0)).save(f["cmyk"])  # pure red in CMYK

    f["gray16"] = tmp_path / "gray16.png"
    Image.fromarray(np.full((200, 300), 32896, dtype=np.uint16)).save(f["gray16"])  # 32896/65535 ~ 128/255

    f["rotated"] = tmp_path / "rotated.jpg"
    img = Image.new("RGB", (400, 200), (255, 0, 0))
    img.paste((0, 0, 255), (200, 0, 400, 200))  # left red, right blue, landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    img.save(f["rotated"], exif=exif, quality=95)

    f["palette"] = tmp_path / "palette.png"
    p = Image.new("P", (120, 80))
    p.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    p.paste(1, (0, 0, 60, 80))
    p.info["transparency"] = 0
    p.save(f["palette"], transparency=0)
    return f


def test_each_bad_file_is_skipped_with_its_code_and_the_batch_goes_on(analyzer, files):
    order = ["truncated", "good", "text", "random", "empty", "bomb", "corrupt_data", "panorama",
             "cmyk", "gray16", "rotated", "palette"]
    paths = [files[k] for k in order]
    seen = []
    results = list(analyzer.analyze(paths, progress=lambda done, total: seen.append((done, total))))
    assert [r.path for r in results] == paths  # one result per input, in order
    by = dict(zip(order, results))
    expect = {"truncated": "TRUNCATED_IMAGE", "text": "NOT_AN_IMAGE", "random": "NOT_AN_IMAGE",
              "empty": "NOT_AN_IMAGE", "bomb": "IMAGE_TOO_LARGE", "corrupt_data": "TRUNCATED_IMAGE"}
    for k, code in expect.items():
        assert isinstance(by[k], Skipped), k
        assert by[k].code == code, (k, by[k])
        assert by[k].reason
    for k in ("good", "panorama", "cmyk", "gray16", "rotated", "palette"):
        assert isinstance(by[k], ImageAnalysis), (k, by[k])
        assert by[k].embedding.shape == (1280,)
        assert abs(float(np.linalg.norm(by[k].embedding)) - 1.0) < 1e-4
    assert seen[-1] == (len(paths), len(paths))
    assert (by["panorama"].width, by["panorama"].height) == (12000, 400)
    assert (by["rotated"].width, by["rotated"].height) == (200, 400)  # EXIF orientation applied


def test_conversions_give_the_right_pixels(files):
    red = imaging.load_image(files["cmyk"]).image
    r, g, b = red.getpixel((150, 100))
    assert red.mode == "RGB" and r > 200 and g < 60 and b < 60

    gray = imaging.load_image(files["gray16"]).image
    assert gray.mode == "RGB" and all(abs(c - 128) <= 1 for c in gray.getpixel((10, 10)))  # scaled, not clipped

    rot = imaging.load_image(files["rotated"]).image
    top, bottom = rot.getpixel((100, 20)), rot.getpixel((100, 380))
    # Orientation 6: the stored image's left (red) ends up on top.
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom

    pal = imaging.load_image(files["palette"]).image
    assert pal.getpixel((10, 10)) == (0, 200, 0)
    assert pal.getpixel((100, 10)) == (255, 255, 255)  # transparent -> white


def test_pixel_limit_and_byte_cap_are_typed(files):
    with pytest.raises(errors.ImageTooLarge):
        imaging.load_image(files["panorama"], max_pixels=1_000_000)
    with pytest.raises(errors.ImageTooLarge):
        imaging.load_image(files["good"], max_bytes=100)
    with pytest.raises(errors.ImageTooLarge):
        imaging.load_image(files["bomb"])
    with pytest.raises(errors.ImageTooLarge):  # our limit lifted: Pillow's own bomb check still holds
        imaging.load_image(files["bomb"], max_pixels=10**12)
    with pytest.raises(errors.ImageError):
        imaging.load_image(files["good"].parent / "missing.jpg")


def test_embed_image_raises_typed_error_on_bad_file(analyzer, files):
    with pytest.raises(errors.NotAnImage):
        analyzer.embed_image(files["text"])
    v = analyzer.embed_image(files["good"])
    assert v.shape == (1280,) and v.dtype == np.float32


def test_analyze_accepts_a_generator_and_a_tiny_batch(files):
    a = Analyzer(nsfw=False, batch_size=1, workers=1)
    try:
        results = list(a.analyze(p for p in [files["good"], files["text"], files["cmyk"]]))
    finally:
        a.close()
    assert [type(r).__name__ for r in results] == ["ImageAnalysis", "Skipped", "ImageAnalysis"]
