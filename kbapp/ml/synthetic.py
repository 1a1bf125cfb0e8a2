"""Synthetic embeddings shaped like real ones, for the search bench and tests.

Real image embeddings are not uniform on the sphere: they share a large common
direction (MobileNetV2's dev-set vectors have a mean of norm ~0.7), fall into
clusters (classes, scenes), and vary inside a cluster along a few dozen axes with a
decaying spectrum. Uniform random vectors would make any index look bad (every
neighbour is equally far) and clusters of isotropic noise would make it look too
good, so this draws: a common mean + a cluster centre from a low-rank subspace +
low-rank within-cluster variation (1/sqrt(i) spectrum) + a little isotropic noise,
then normalises. Generated in chunks, optionally straight into float16 storage, so
1M x 1280 fits in 2.5 GB.
"""

from __future__ import annotations

import numpy as np


class ClusteredVectors:
    def __init__(self, dim: int = 1280, clusters: int = 1000, *, seed: int = 0, center_rank: int = 160,
                 local_rank: int = 96, noise: float = 0.15):
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.seed = seed
        self.common = _unit(rng.standard_normal(dim)) * 0.7
        cbasis = _orth(rng.standard_normal((dim, min(center_rank, dim))))
        self.centers = (rng.standard_normal((clusters, cbasis.shape[1])) @ cbasis.T).astype(np.float32)
        self.centers *= 0.55 / np.maximum(np.linalg.norm(self.centers, axis=1, keepdims=True), 1e-9)
        self.local = _orth(rng.standard_normal((dim, min(local_rank, dim)))).T.astype(np.float32)  # (r, dim)
        self.spectrum = (0.45 / np.sqrt(np.arange(1, self.local.shape[0] + 1))).astype(np.float32)
        self.spectrum *= 0.45 / np.linalg.norm(self.spectrum)
        self.noise = noise / np.sqrt(dim)
        self.weights = rng.dirichlet(np.full(clusters, 2.0))   # uneven cluster sizes

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        c = rng.choice(len(self.centers), size=n, p=self.weights)
        z = rng.standard_normal((n, self.local.shape[0]), dtype=np.float32) * self.spectrum
        x = self.common + self.centers[c] + z @ self.local
        x += rng.standard_normal((n, self.dim), dtype=np.float32) * self.noise
        return _unit(x).astype(np.float32)

    def fill(self, out: np.ndarray, *, seed: int = 1, chunk: int = 50_000) -> np.ndarray:
        """Fill `out` (N, dim) of any float dtype (a memmap is fine) chunk by chunk."""
        rng = np.random.default_rng(seed)
        for s in range(0, out.shape[0], chunk):
            out[s:s + chunk] = self.draw(min(chunk, out.shape[0] - s), rng)
        return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _orth(a: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(a)
    return q.astype(np.float32)
