"""Decoding photos safely and turning them into model tensors.

Every file the pipeline reads is untrusted: it may be truncated, not an image at
all, a decompression bomb, or an odd mode (CMYK, 16-bit, palette, EXIF-rotated).
`load_image` either returns an 8-bit RGB `PIL.Image` the right way up or raises
one of the typed `ImageError`s; nothing else escapes, so a batch never dies on
one bad file. Preprocessing is plain numpy + Pillow so that it is the same on
every provider and can be checked against a reference.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kbapp.core import errors
from kbapp.ml.files import MAX_FILE_BYTES, read_regular

# Pillow's own default bomb limit (~89.5 Mpx): big panoramas pass, bombs do not.
DEFAULT_MAX_PIXELS = 89_478_485
DEFAULT_MAX_BYTES = MAX_FILE_BYTES
_ORIENTATION = 0x0112

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How one model wants its input: resize the shorter side, centre crop, normalise.

    `keep_aspect=False` squashes to `resize` x `resize` first (open_nsfw, some CLIP
    exports). `scale` multiplies raw 0..255 values before mean/std (given in the
    model's channel order); `bgr` swaps channels; `layout` is "NCHW" or "NHWC".
    """

    crop: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: float = 1.0 / 255.0
    bgr: bool = False
    layout: str = "NCHW"
    interpolation: str = "bilinear"
    keep_aspect: bool = True

    @classmethod
    def from_manifest(cls, d: dict) -> "Preprocess":
        norm = d.get("normalize", {})
        return cls(crop=int(d["size"]), resize=int(d.get("resize", d["size"])),
                   mean=tuple(norm.get("mean", IMAGENET_MEAN)), std=tuple(norm.get("std", IMAGENET_STD)),
                   scale=float(norm.get("scale", 1.0 / 255.0)), bgr=d.get("color", "RGB") == "BGR",
                   layout=d.get("layout", "NCHW"), interpolation=d.get("interpolation", "bilinear"),
                   keep_aspect=bool(d.get("keep_aspect", True)))


_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
             "nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}


@dataclass
class Decoded:
    """A decoded photo: its content hash, size (after EXIF rotation) and RGB pixels."""

    path: Path
    sha256: str
    width: int
    height: int
    image: Image.Image
    taken: str | None = None     # EXIF date taken, "YYYY-MM-DDTHH:MM:SS"


_DATE = re.compile(r"^\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def exif_date(exif: Image.Exif) -> str | None:
    """DateTimeOriginal (else DateTime) as "YYYY-MM-DDTHH:MM:SS", or None. Never raises:
    a broken EXIF block is not worth a skipped photo."""
    if not exif:
        return None
    try:
        raw = exif.get_ifd(0x8769).get(36867) or exif.get(306)
    except Exception:  # Pillow's IFD parser on hostile data
        return None
    m = _DATE.match(raw) if isinstance(raw, str) else None
    if not m or m.group(1) == "0000":
        return None
    y, mo, d, h, mi, sec = m.groups()
    return f"{y}-{mo}-{d}T{h}:{mi}:{sec}"


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, scaling 16/32-bit data instead of clipping it."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if (mode != "I" or a.max(initial=0) > 255) else 255.0
        a = np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if mode == "F":
        a = np.asarray(img, dtype=np.float64)
        peak = 1.0 if a.max(initial=0) <= 1.0 else 255.0
        a = np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "P", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    # CMYK (Pillow inverts Adobe CMYK JPEGs itself), YCbCr, LAB, L, 1, HSV ...
    return img.convert("RGB")


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_image(path: Path, *, min_side: int = 0, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_bytes: int = DEFAULT_MAX_BYTES) -> Decoded:
    """Read, hash and decode one file, or raise a typed `ImageError`.

    `min_side` lets JPEG decoding use DCT scaling (`draft`) while keeping both sides
    at least that large, which is much faster on camera photos and does not change
    what a 224-pixel model sees in any way that matters.
    """
    path = Path(path)
    try:
        data = read_regular(path, max_bytes)   # regular files only, never past the cap (files.py)
    except errors.ImageError:
        raise
    except OSError as e:
        raise errors.ImageError(f"{path.name}: cannot read ({e.strerror or e})") from e
    if not data:
        raise errors.NotAnImage(f"{path.name}: empty file")
    digest = file_sha256(data)
    # The pixel limit is checked here, from the header, before any decoding (Pillow's own
    # bomb check stays as a second line). No warnings filters: they are process-global
    # and these run in several threads at once.
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        if w <= 0 or h <= 0:
            raise errors.UnsupportedImage(f"{path.name}: empty image ({w}x{h})")
        if w * h > max_pixels:
            raise errors.ImageTooLarge(f"{path.name}: {w}x{h} = {w * h} pixels (limit {max_pixels})")
        if min_side and img.format == "JPEG" and img.mode in ("RGB", "L", "CMYK", "YCbCr"):
            img.draft(img.mode, (min_side, min_side))
        img.load()
        exif = img.getexif()
        taken = exif_date(exif)
        if exif.get(_ORIENTATION, 1) not in (0, 1):  # exif_transpose copies even when upright
            img = ImageOps.exif_transpose(img)
        rgb = _to_rgb(img)
    except errors.ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise errors.ImageTooLarge(f"{path.name}: decompression bomb ({e})") from e
    except UnidentifiedImageError as e:
        raise errors.NotAnImage(f"{path.name}: not an image Pillow can read") from e
    except (OSError, SyntaxError, EOFError) as e:
        msg = str(e)
        if "truncated" in msg or "broken data stream" in msg or isinstance(e, EOFError):
            raise errors.TruncatedImage(f"{path.name}: truncated or corrupt ({msg})") from e
        raise errors.TruncatedImage(f"{path.name}: corrupt image data ({msg})") from e
    except (ValueError, TypeError, MemoryError) as e:
        raise errors.UnsupportedImage(f"{path.name}: cannot decode ({type(e).__name__}: {e})") from e
    return Decoded(path=path, sha256=digest, width=rgb.width, height=rgb.height, image=rgb, taken=taken)


def _geometry(w: int, h: int, p: Preprocess) -> tuple[int, int, int, int]:
    """(resized width, resized height, crop left, crop top), rounded as torchvision's
    `Resize(int)` + `CenterCrop`, the reference the manifest's accuracy was measured with."""
    if not p.keep_aspect:
        nw = nh = max(p.resize, p.crop)
    elif w <= h:
        nw, nh = p.resize, int(p.resize * h / w)
    else:
        nw, nh = int(p.resize * w / h), p.resize
    return nw, nh, int(round((nw - p.crop) / 2.0)), int(round((nh - p.crop) / 2.0))


def resize_crop(img: Image.Image, p: Preprocess) -> Image.Image:
    """Resize so the shorter side is `p.resize` (keeping aspect), then centre-crop `p.crop`."""
    w, h = img.size
    resample = _RESAMPLE.get(p.interpolation, Image.Resampling.BILINEAR)
    nw, nh, left, top = _geometry(w, h, p)
    if (nw, nh) == (w, h):
        return img.crop((left, top, left + p.crop, top + p.crop))
    # Resample only the crop window: Pillow maps output pixels through `box` with the same
    # scale and takes filter support from the whole image, so this equals resize-then-crop
    # pixel for pixel at a fraction of the work.
    sx, sy = w / nw, h / nh
    box = (left * sx, top * sy, (left + p.crop) * sx, (top + p.crop) * sy)
    return img.resize((p.crop, p.crop), resample, box=box)


# Upscaling through OpenCV is done on at most this many resized pixels (a thin panorama
# would otherwise be enlarged whole before cropping); bigger ones go through Pillow's box.
_CV2_MAX_PIXELS = 1 << 20
_cv2_module: object = None
_cv2_lock = threading.Lock()


def _cv2():
    """OpenCV (the `[ml]` extra's opencv-python-headless), or None without it.

    The desktop build (opencv-python, which the OCR extra pulls in) points Qt's plugin
    path at its own Qt 5 plugins on import, which would break PySide6: the variables it
    sets are put back as they were. Locked: the decode workers get here together."""
    global _cv2_module
    if _cv2_module is not None:
        return _cv2_module or None
    with _cv2_lock:
        if _cv2_module is not None:
            return _cv2_module or None
        saved = {k: os.environ.get(k) for k in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")}
        try:
            import cv2
            cv2.setNumThreads(1)  # the decode workers are the parallelism; no pool inside each
            _cv2_module = cv2
        except ImportError:
            _cv2_module = False
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return _cv2_module or None


def crop_pixels(img: Image.Image, p: Preprocess) -> np.ndarray:
    """`resize_crop` as a uint8 (H,W,C) array, faster where that changes nothing.

    Bilinear enlarging needs no antialiasing, and there OpenCV's filter equals Pillow's
    to within one level per pixel at a fifth of the cost (most of a small image's
    preprocessing). Shrinking keeps Pillow's antialiased filter, the reference's.
    """
    w, h = img.size
    nw, nh, left, top = _geometry(w, h, p)
    cv2 = _cv2() if p.interpolation == "bilinear" and nw >= w and nh >= h and nw * nh <= _CV2_MAX_PIXELS else None
    if cv2 is None:
        return np.asarray(resize_crop(img, p))
    a = np.asarray(img)
    if (nw, nh) != (w, h):
        a = cv2.resize(a, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return a[top:top + p.crop, left:left + p.crop]


def to_pixels(img: Image.Image | np.ndarray, p: Preprocess) -> np.ndarray:
    """RGB crop (image or (H,W,3) array) -> uint8 (C,H,W) or (H,W,C) in the model's
    channel order, not yet normalised.

    Workers hand these to the model thread, which normalises a whole batch at once into
    a reused buffer (`normalize`): a fresh float32 array per image costs more in page
    faults than the arithmetic itself.
    """
    a = np.asarray(img, dtype=np.uint8)
    if p.bgr:
        a = a[:, :, ::-1]
    if p.layout == "NCHW":
        a = a.transpose(2, 0, 1)
    return np.ascontiguousarray(a)


def normalize(pixels: np.ndarray, p: Preprocess, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 pixels (one image or a batch, from `to_pixels`) -> float32 `(x*scale - mean)/std`.

    Computed as `x*(scale/std) + (-mean/std)` in two passes, into `out` when given.
    """
    std = np.asarray(p.std, dtype=np.float64)
    gain = (p.scale / std).astype(np.float32)
    bias = (-np.asarray(p.mean, dtype=np.float64) / std).astype(np.float32)
    if p.layout == "NCHW":
        gain, bias = gain[:, None, None], bias[:, None, None]
    out = np.multiply(pixels, gain, out=out, dtype=np.float32)
    np.add(out, bias, out=out)
    return out


def to_tensor(img: Image.Image, p: Preprocess) -> np.ndarray:
    """RGB crop -> float32 (C,H,W) or (H,W,C), scaled and normalised per `p`."""
    return normalize(to_pixels(img, p), p)


def pixels(img: Image.Image, p: Preprocess) -> np.ndarray:
    """A decoded photo -> the uint8 model input (resized, cropped, in the model's layout)."""
    return to_pixels(crop_pixels(img, p), p)


def preprocess(img: Image.Image, p: Preprocess) -> np.ndarray:
    """A decoded photo -> one normalised float32 model input, as the pipeline's batches hold."""
    return normalize(pixels(img, p), p)
