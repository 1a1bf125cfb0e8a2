"""CLIP-style image + text encoders (Immich's model layout) for text-to-image search.

A CLIP model folder holds `visual/model.onnx`, `textual/model.onnx`, `config.json`
(open_clip's: `embed_dim`, `text_cfg.context_length`) and the text tokenizer
(`textual/tokenizer.json`, with `special_tokens_map.json` / `tokenizer_config.json`
beside it), plus our `manifest.json` with every file's sha256 and the image
preprocessing. No PyPI package ships CLIP weights: users pull one with
`kbapp photos models pull NAME` (kbapp/ml/hub.py). When one is installed the
pipeline stores a CLIP embedding per photo, and text queries are embedded into
the same space; CLIP also adds zero-shot tags from the tagger's friendly labels.
"""

from __future__ import annotations

import json

import numpy as np
from tokenizers import Tokenizer

from kbapp.core import errors
from kbapp.ml.imaging import Preprocess
from kbapp.ml.registry import ModelManifest
from kbapp.ml.runtime import make_session
from kbapp.ml.tagger import l2_normalize, softmax

ZERO_SHOT_MIN = 0.3
PROMPT = "a photo of a {}"
_MAX_CONFIG = 1 << 20


def _json(manifest: ModelManifest, role: str) -> dict:
    if role not in manifest.files:
        return {}
    path = manifest.file(role)
    if path.stat().st_size > _MAX_CONFIG:
        raise errors.BadManifest(f"{manifest.name}: {role} over {_MAX_CONFIG} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise errors.BadManifest(f"{manifest.name}: {role} is not JSON ({e})") from e
    return data if isinstance(data, dict) else {}


class ClipModel:
    def __init__(self, manifest: ModelManifest, providers: list[str], threads: int | None = None,
                 labels: list[str] | None = None):
        self.manifest = manifest
        self.prep = Preprocess.from_manifest(manifest.input)
        self.visual = make_session(manifest.file("visual"), providers, threads=threads)
        self.textual = make_session(manifest.file("textual"), providers, threads=threads)
        config = _json(manifest, "config")
        self.context_length = int(config.get("text_cfg", {}).get("context_length", 77))
        self.embed_dim = config.get("embed_dim")
        if "tokenizer" not in manifest.files:
            raise errors.BadManifest(f"{manifest.name}: a CLIP model needs a 'tokenizer' file")
        self.tokenizer = Tokenizer.from_file(str(manifest.file("tokenizer")))
        special = _json(manifest, "special_tokens")
        pad = special.get("pad_token", "<|endoftext|>")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        pad_id = self.tokenizer.token_to_id(pad) if isinstance(pad, str) else None
        self.tokenizer.enable_truncation(max_length=self.context_length)
        self.tokenizer.enable_padding(length=self.context_length, pad_id=pad_id or 0, pad_token=pad or "[PAD]")
        t_in = self.textual.get_inputs()[0]
        self.text_input = t_in.name
        self.text_dtype = np.int32 if "int32" in t_in.type else np.int64
        self.image_input = self.visual.get_inputs()[0].name
        self.labels = list(labels or [])
        self._label_matrix: np.ndarray | None = None

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        (emb,) = self.visual.run(None, {self.image_input: batch})[:1]
        return l2_normalize(emb.reshape(emb.shape[0], -1).astype(np.float32))

    def encode_text(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=self.text_dtype)
        (emb,) = self.textual.run(None, {self.text_input: ids})[:1]
        return l2_normalize(emb.reshape(emb.shape[0], -1).astype(np.float32))

    def zero_shot(self, image_embedding: np.ndarray) -> list[tuple[str, float]]:
        """Softmax over "a photo of a {label}" for the friendly labels (CLIP's logit scale 100)."""
        if not self.labels:
            return []
        if self._label_matrix is None:
            self._label_matrix = self.encode_text([PROMPT.format(lbl) for lbl in self.labels])
        probs = softmax(100.0 * (self._label_matrix @ image_embedding))
        order = np.argsort(-probs)
        return [(self.labels[i], round(float(probs[i]), 4)) for i in order if probs[i] >= ZERO_SHOT_MIN]

    def merge_zero_shot(self, tags: list[tuple[str, float]], image_embedding: np.ndarray) -> list[tuple[str, float]]:
        have = dict(tags)
        for name, p in self.zero_shot(image_embedding):
            have[name] = max(have.get(name, 0.0), p)
        return sorted(have.items(), key=lambda t: -t[1])
