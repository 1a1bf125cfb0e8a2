"""Custom concepts: a user's "my cat" / "not my cat" examples -> a classifier on embeddings.

Logistic regression in numpy (Newton's method with an L2 penalty and class-balanced
weights): with tens of examples in 1280 dims the problem is tiny and convex, so a
few Newton steps converge, and scikit-learn would be a 30 MB dependency for one
solver. Quality is estimated honestly before the user relies on it: stratified
k-fold cross-validation gives out-of-fold probabilities for every example, from
which we report ROC-AUC, pick the threshold with the best F1, and report precision,
recall and F1 at that threshold. The final model is then fitted on all examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kbapp.core import errors

MIN_PER_CLASS = 2
L2 = 1.0


@dataclass
class LogisticModel:
    w: np.ndarray
    b: float

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(np.asarray(X, dtype=np.float64) @ self.w.astype(np.float64) + self.b).astype(np.float32)


@dataclass
class ConceptMetrics:
    folds: int
    positives: int
    negatives: int
    threshold: float
    precision: float
    recall: float
    f1: float
    roc_auc: float


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def fit_logistic(X: np.ndarray, y: np.ndarray, *, l2: float = L2, iters: int = 25) -> LogisticModel:
    """L2-penalised, class-balanced logistic regression by Newton's method (Hessian (d+1)^2)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    pos = max(1.0, y.sum())
    neg = max(1.0, n - y.sum())
    sw = np.where(y > 0, n / (2 * pos), n / (2 * neg))        # balanced sample weights
    A = np.hstack([X, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 1e-6                                           # do not shrink the bias
    for _ in range(iters):
        p = _sigmoid(A @ theta)
        grad = A.T @ (sw * (p - y)) + reg * theta
        W = sw * p * (1 - p)
        H = (A.T * W) @ A + np.diag(reg)
        step = np.linalg.solve(H, grad)
        theta -= step
        if np.abs(step).max() < 1e-7:
            break
    return LogisticModel(theta[:-1].astype(np.float32), float(theta[-1]))


def stratified_folds(y: np.ndarray, k: int, seed: int = 0) -> list[np.ndarray]:
    """k test-index arrays; each class is spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    for cls in (0, 1):
        idx = np.nonzero(y == cls)[0]
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            folds[j % k].append(int(i))
    return [np.asarray(sorted(f), dtype=np.int64) for f in folds]


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    y = np.asarray(y)
    s = np.asarray(s, dtype=np.float64)
    pos, neg = s[y == 1], s[y == 0]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = ranks[y == 1].sum()
    return float((r_pos - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def prf_at(y: np.ndarray, s: np.ndarray, t: float) -> tuple[float, float, float]:
    pred = s >= t
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def best_threshold(y: np.ndarray, s: np.ndarray) -> float:
    """The threshold with the best F1 on out-of-fold scores (ties: the highest, fewer false tags)."""
    best_t, best_f = 0.5, -1.0
    for t in sorted(set(np.round(s, 6).tolist()) | {0.5}, reverse=True):
        f = prf_at(y, s, t)[2]
        if f > best_f + 1e-12:
            best_t, best_f = float(t), f
    return best_t


def train_concept(X: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0,
                  l2: float = L2) -> tuple[LogisticModel, ConceptMetrics]:
    """Cross-validate, choose the threshold, fit on everything. `ConceptError` if too few examples."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise errors.ConceptError("examples and labels differ in number")
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    if pos < MIN_PER_CLASS or neg < MIN_PER_CLASS:
        raise errors.ConceptError(f"need at least {MIN_PER_CLASS} positive and {MIN_PER_CLASS} negative examples "
                                  f"(have {pos} and {neg})")
    if not np.all(np.isfinite(X)):
        raise errors.ConceptError("an example embedding is not finite")
    k = max(2, min(folds, pos, neg))
    oof = np.zeros(len(y), dtype=np.float64)
    for test in stratified_folds(y, k, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        oof[test] = fit_logistic(X[train], y[train], l2=l2).predict_proba(X[test])
    t = best_threshold(y, oof)
    p, r, f = prf_at(y, oof, t)
    model = fit_logistic(X, y, l2=l2)
    return model, ConceptMetrics(folds=k, positives=pos, negatives=neg, threshold=round(t, 6),
                                 precision=round(p, 4), recall=round(r, 4), f1=round(f, 4),
                                 roc_auc=round(roc_auc(y, oof), 4))
