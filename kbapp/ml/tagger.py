"""The tagger: ImageNet logits -> fine labels plus friendly group labels.

A search for "dog" must find a beagle and a pug. The shipped `hierarchy.json`
lists, for each of the 1000 ImageNet classes, its friendly ancestors ("dog",
"mammal", "animal"); a group's score is the summed probability of all its
classes, so many weak breed scores still add up to a confident "dog".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from kbapp.core import errors
from kbapp.ml.imaging import Preprocess
from kbapp.ml.registry import ModelManifest
from kbapp.ml.runtime import make_session

FINE_K = 5
FINE_MIN = 0.05
GROUP_MIN = 0.25


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


@dataclass
class Labels:
    names: list[str]                  # short display name per class ("Labrador retriever")
    groups: list[str]                 # friendly labels ("dog", "animal", ...)
    membership: np.ndarray            # (len(groups), len(names)) 0/1 float32

    @classmethod
    def load(cls, manifest: ModelManifest) -> "Labels":
        lines = manifest.file(manifest.labels).read_text(encoding="utf-8").splitlines()
        names = [ln.split(",")[0].strip() for ln in lines if ln.strip()]
        groups: list[str] = []
        member = np.zeros((0, len(names)), dtype=np.float32)
        if "hierarchy" in manifest.files:
            h = json.loads(manifest.file("hierarchy").read_text(encoding="utf-8"))
            groups = list(h["groups"])
            member = np.zeros((len(groups), len(names)), dtype=np.float32)
            index = {g: i for i, g in enumerate(groups)}
            for cls_idx, ancestors in h["classes"].items():
                for a in ancestors:
                    if a not in index:
                        raise errors.BadManifest(f"hierarchy names an unknown group {a!r}")
                    member[index[a], int(cls_idx)] = 1.0
        return cls(names, groups, member)

    def tags(self, probs: np.ndarray, *, k: int = FINE_K) -> list[tuple[str, float]]:
        """Top-k fine labels (the best always, the rest above FINE_MIN) and confident groups."""
        out: dict[str, float] = {}
        top = np.argsort(-probs)[:k]
        for rank, i in enumerate(top):
            p = float(probs[i])
            if rank == 0 or p >= FINE_MIN:
                out[self.names[i]] = max(out.get(self.names[i], 0.0), p)
        if self.groups:
            gs = self.membership @ probs
            for gi in np.nonzero(gs >= GROUP_MIN)[0]:
                name = self.groups[gi]
                out[name] = max(out.get(name, 0.0), float(min(gs[gi], 1.0)))
        return sorted(((n, round(s, 4)) for n, s in out.items()), key=lambda t: -t[1])

    def vocabulary(self) -> list[str]:
        """Every tag this tagger can emit (groups first), for the text-to-tag encoder."""
        seen = dict.fromkeys(self.groups + self.names)
        return list(seen)


class Classifier:
    """MobileNetV2-style ONNX model with two outputs: logits and the pooled embedding."""

    def __init__(self, manifest: ModelManifest, providers: list[str], threads: int | None = None):
        self.manifest = manifest
        self.prep = Preprocess.from_manifest(manifest.input)
        self.session = make_session(manifest.file("model"), providers, threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        outs = [o.name for o in self.session.get_outputs()]
        want = manifest.extra.get("outputs", {"logits": "logits", "embedding": "embedding"})
        if want.get("logits") not in outs or want.get("embedding") not in outs:
            raise errors.BadManifest(f"{manifest.name}: model outputs {outs} lack {want}")
        self.outputs = [want["logits"], want["embedding"]]
        self.labels = Labels.load(manifest)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,3,H,W) -> (softmax probabilities (N,1000), L2-normalised embeddings (N,D))."""
        logits, emb = self.session.run(self.outputs, {self.input_name: batch})
        return softmax(logits.astype(np.float32)), l2_normalize(emb.reshape(emb.shape[0], -1))
