"""Vector search: exact top-k, the IVF index (recall against exact, persistence, damage),
and the live VectorSet (tail of new vectors, removals, filters)."""

import numpy as np
import pytest

from kbapp.core import errors
from kbapp.ml import vectors
from kbapp.ml.synthetic import ClusteredVectors
from kbapp.ml.vectors import IVFIndex, VectorSet, exact_search, exact_search_many, top_k


@pytest.fixture(scope="module")
def data():
    gen = ClusteredVectors(128, clusters=40, seed=3, center_rank=40, local_rank=24)
    X = gen.fill(np.empty((6000, 128), np.float32), seed=4)
    Q = gen.draw(40, np.random.default_rng(5))
    return X, Q


def test_top_k_orders_best_first_and_handles_small_inputs():
    s = np.array([0.1, 0.9, 0.5, 0.9, -1.0], np.float32)
    assert top_k(s, 2).tolist() == [1, 3]
    assert top_k(s, 10).tolist() == [1, 3, 2, 0, 4]
    assert top_k(np.zeros(0, np.float32), 3).size == 0


def test_exact_search_many_matches_single_queries_and_float16_storage(data):
    X, Q = data
    truth = exact_search_many(X, Q, 10)
    for i in range(5):
        rows, _ = exact_search(X, Q[i], 10)
        assert rows.tolist() == truth[i].tolist()
    half = exact_search_many(X.astype(np.float16), Q, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(half, truth)])
    assert overlap > 0.97  # float16 storage changes only near-ties


def test_ivf_recall_against_exact_search(data):
    X, Q = data
    truth = exact_search_many(X, Q, 10)
    ivf = IVFIndex.build(X, nlist=64, dim=48)
    assert ivf.stats.n == len(X) and ivf.stats.nlist == 64 and 0.5 < ivf.stats.explained <= 1.0
    # every vector is in exactly one list
    assert sorted(ivf.ids.tolist()) == list(range(len(X)))
    found = []
    for q in Q:
        cand = ivf.candidates(q, nprobe=12, rerank=100)
        found.append(cand[top_k(X[cand] @ q, 10)])
    recall = np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.95
    # probing one list only must lose neighbours: the check above is not vacuous
    one = [ivf.candidates(q, nprobe=1, rerank=10) for q in Q]
    assert np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(one, truth)]) < recall


def test_ivf_save_load_roundtrip_and_damaged_file(tmp_path, data):
    X, Q = data
    ivf = IVFIndex.build(X[:2000], nlist=32, dim=32, meta={"kind": "image"})
    p = tmp_path / "ivf.npz"
    ivf.save(p)
    back = IVFIndex.load(p)
    assert back.meta["kind"] == "image"
    assert back.candidates(Q[0], nprobe=4, rerank=20).tolist() == ivf.candidates(Q[0], nprobe=4, rerank=20).tolist()
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(errors.IndexCorrupt):
        IVFIndex.load(p)
    p.write_bytes(b"not numpy at all")
    with pytest.raises(errors.IndexCorrupt):
        IVFIndex.load(p)


def test_ivf_build_can_be_cancelled(data):
    import threading

    ev = threading.Event()
    ev.set()
    with pytest.raises(errors.Cancelled):
        IVFIndex.build(data[0], nlist=16, dim=16, cancel=ev)


def test_vector_set_uses_ivf_plus_tail_and_drops_removed(monkeypatch, data):
    X, Q = data
    monkeypatch.setattr(vectors, "IVF_THRESHOLD", 1000)
    ids = np.arange(100, 100 + len(X))
    vs = VectorSet(X.shape[1])
    vs.replace_all(ids[:5000], X[:5000])
    assert vs.stale()                       # above the threshold and no IVF yet
    vs.set_ivf(IVFIndex.build(X[:5000], ids[:5000], nlist=48, dim=48))
    assert not vs.stale()
    # new vectors after the build are found (exact scan of the tail)
    vs.upsert_many(ids[5000:5900], X[5000:5900])
    for i in range(5900, 6000):
        vs.upsert(int(ids[i]), X[i])
    assert len(vs) == 6000 and np.all(np.diff(vs.ids) > 0)
    q = X[5500] + 0.01 * Q[0]
    got, _ = vs.search(q / np.linalg.norm(q), 1, nprobe=8)
    assert got.tolist() == [ids[5500]]
    assert not vs.stale()                   # a tail of a sixth: still fine
    # a removed vector is never returned even though the IVF still lists it
    target = int(ids[10])
    assert vs.search(X[10], 1, nprobe=8)[0].tolist() == [target]
    vs.remove(target)
    assert target not in vs.search(X[10], 5, nprobe=8)[0].tolist()
    for i in range(11, 211):
        vs.remove(int(ids[i]))
    assert vs.stale()                       # tail + removed > a fifth: rebuild due
    # a replaced vector is searched with its new value, not the IVF's old projection
    vs.upsert(int(ids[3000]), X[5999])
    got, _ = vs.search(X[5999], 2, nprobe=8)
    assert set(got.tolist()) == {ids[3000], ids[5999]}
    # a filter restricts results to the allowed ids
    allowed = np.sort(ids[2000:2100])
    got, _ = vs.search(X[10], 5, allowed=allowed)
    assert set(got.tolist()) <= set(allowed.tolist()) and len(got) == 5


def test_vector_set_rejects_wrong_dimensions():
    vs = VectorSet(8)
    with pytest.raises(errors.MLError):
        vs.upsert(1, np.ones(7, np.float32))
    vs.upsert(1, np.ones(8, np.float32) / np.sqrt(8))
    with pytest.raises(errors.MLError):
        vs.search(np.ones(9, np.float32), 1)
