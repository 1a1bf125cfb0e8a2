"""Near-duplicate photos: groups whose image embeddings are at least a threshold alike, joined by
single linkage. All pairs up to DUPES_EXACT_MAX photos, neighbours from an IVF index above (a
quadratic pass over a big library would take minutes). A mixin of PhotoLibrary (ml/library.py)."""

from __future__ import annotations

import numpy as np

from kbapp.ml.library_types import DupeGroup
from kbapp.ml.vectors import IVFIndex, default_nprobe, one_blas_thread

DUPE_THRESHOLD = 0.88       # cosine for "near-duplicate": distinct dev photos reach 0.85 at most (docs/ml.md)
DUPES_EXACT_MAX = 20_000    # above: neighbours from an IVF instead of all pairs


class DupeFinder:
    def dupes(self, *, threshold: float = DUPE_THRESHOLD, neighbours: int = 10) -> list[DupeGroup]:
        """Groups of photos whose embeddings are at least `threshold` alike (single linkage)."""
        vs = self.vectors.get("image")
        if vs is None or len(vs) < 2:
            return []
        ids, mat = vs.ids, vs.matrix
        n = len(ids)
        parent = np.arange(n)

        def find(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        link: dict[tuple[int, int], float] = {}
        ivf, tail = vs.ivf, None
        if ivf is not None:
            tail = vs._tail_rows()
        elif n > DUPES_EXACT_MAX:   # all pairs would be quadratic: a throwaway IVF finds neighbours
            ivf = IVFIndex.build(mat, ids)
        if ivf is None:
            for s in range(0, n, 2048):
                sims = mat[s:s + 2048] @ mat.T
                rr, cc = np.nonzero(sims >= threshold)
                for r, c in zip(rr, cc):
                    a, b = s + int(r), int(c)
                    if a < b:
                        link[(a, b)] = float(sims[r, c])
        else:
            nprobe = default_nprobe(ivf.stats.nlist)
            with one_blas_thread():
                for a in range(n):
                    rows = vs.rows_of(ivf.candidates(mat[a], nprobe=nprobe, rerank=4 * neighbours))
                    if tail is not None and tail.size:
                        rows = np.union1d(rows, tail)
                    sims = mat[rows] @ mat[a]
                    for j, s in zip(rows[sims >= threshold], sims[sims >= threshold]):
                        if int(j) != a:
                            link[(min(a, int(j)), max(a, int(j)))] = float(s)
        for (a, b) in link:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[rb] = ra
        groups: dict[int, list[int]] = {}
        for i in {i for ab in link for i in ab}:
            groups.setdefault(find(i), []).append(i)
        low: dict[int, float] = {}
        for (a, _), s in link.items():
            r = find(a)
            low[r] = min(low.get(r, 1.0), s)
        rows = self.db.photos_by_ids(int(ids[i]) for g in groups.values() for i in g)
        out = []
        for root, members in groups.items():
            paths = sorted(rows[int(ids[i])].path for i in members if int(ids[i]) in rows)
            if len(paths) >= 2:
                out.append(DupeGroup(paths, round(low.get(root, 1.0), 4)))
        out.sort(key=lambda g: (-len(g.paths), g.paths[0]))
        return out
