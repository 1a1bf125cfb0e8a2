"""Free-text queries -> the nearest tags, with a small sentence encoder.

Without CLIP, photos only carry tags, so a query like "puppy in the snow" has to
be turned into tags the index knows ("dog", "Eskimo dog", ...). The encoder
(all-MiniLM-L6-v2 as int8 ONNX, pooling and normalisation inside the graph) embeds
the query and every tag of the tagger's vocabulary; the answer is the k tags with
the highest cosine. Tokenisation is HuggingFace `tokenizers` with the model's own
`tokenizer.json`.
"""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer

from kbapp.core import errors
from kbapp.ml.registry import ModelManifest
from kbapp.ml.runtime import make_session

MAX_QUERY_CHARS = 1000


class TextEncoder:
    def __init__(self, manifest: ModelManifest, providers: list[str], threads: int | None = None):
        self.manifest = manifest
        self.session = make_session(manifest.file("model"), providers, threads=threads)
        self.tokenizer = Tokenizer.from_file(str(manifest.file("tokenizer")))
        self.tokenizer.enable_truncation(max_length=int(manifest.extra.get("max_tokens", 128)))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.output = manifest.extra.get("outputs", {}).get("embedding", self.session.get_outputs()[0].name)

    def encode(self, texts: list[str], batch: int = 64) -> np.ndarray:
        """(N, D) float32, L2-normalised."""
        out = []
        for i in range(0, len(texts), batch):
            enc = self.tokenizer.encode_batch(texts[i:i + batch])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                     "token_type_ids": np.zeros_like(ids)}
            (emb,) = self.session.run([self.output], {k: v for k, v in feeds.items() if k in self.inputs})
            out.append(emb.astype(np.float32))
        if not out:
            return np.zeros((0, int(self.manifest.extra.get("embedding_dim", 384))), np.float32)
        e = np.concatenate(out)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


class TagMatcher:
    """Embeds a fixed tag vocabulary once, then answers queries by cosine similarity."""

    def __init__(self, manifest: ModelManifest, providers: list[str], vocabulary: list[str],
                 threads: int | None = None):
        self.encoder = TextEncoder(manifest, providers, threads)
        self.tags = list(vocabulary)
        self.matrix = self.encoder.encode(self.tags)

    def nearest(self, query: str, k: int = 5) -> list[tuple[str, float]]:
        query = (query or "").strip()
        if not query:
            raise errors.MLError("empty query")
        if len(query) > MAX_QUERY_CHARS:
            raise errors.MLError(f"query longer than {MAX_QUERY_CHARS} characters")
        q = self.encoder.encode([query])[0]
        sims = self.matrix @ q
        # An exact tag match (case-insensitive) always comes first.
        lowered = query.lower()
        for i, t in enumerate(self.tags):
            if t.lower() == lowered:
                sims[i] = max(float(sims[i]), 1.0)
        top = np.argsort(-sims)[:max(1, k)]
        return [(self.tags[i], round(float(sims[i]), 4)) for i in top]
