"""Custom concepts ("my cat"): photos labelled as examples or not, a logistic model trained on
their embeddings and cross-validated, then applied to every indexed photo as a tag. A mixin of
PhotoLibrary (ml/library.py), which holds the database and the vectors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

import numpy as np

from kbapp.core import errors
from kbapp.ml import concepts as concept_ml
from kbapp.ml.files import MAX_FILE_BYTES, sha256_regular
from kbapp.ml.library_types import ConceptInfo, ConceptReport

CONCEPT_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")


class ConceptStore:
    def concept_add(self, name: str, positives: Iterable[Path] = (), negatives: Iterable[Path] = ()) -> ConceptInfo:
        """Label photos as examples of a concept ("my cat") or not; embeddings are stored with the labels."""
        name = _concept_name(name)
        labelled = [(Path(p), 1) for p in positives] + [(Path(p), 0) for p in negatives]
        if not labelled:
            raise errors.ConceptError("give at least one --positive or --negative photo")
        vecs = []
        for p, label in labelled:
            v, _ = self._example_vector(p)
            row = self.db.photo_by_path(p.resolve())
            sha = row.sha256 if row is not None and row.sha256 else sha256_regular(p, MAX_FILE_BYTES)
            vecs.append((str(p.resolve()), sha, label, v))
        with self.db.write_lock, self.db.engine.begin() as conn:
            self.db.ensure_concept(conn, name)
            for path, sha, label, v in vecs:
                self.db.add_example(conn, name, sha, path, label, v)
        return self._concept_info(name)

    def concept_train(self, name: str) -> ConceptReport:
        """Cross-validate, fit, store and apply a concept to every indexed photo."""
        name = _concept_name(name)
        if self.db.concept_row(name) is None:
            raise errors.ConceptError(f"no concept named {name!r} (add examples first)")
        X, y, problems = self.db.examples(name)
        if X.shape[0] == 0:
            raise errors.ConceptError(f"concept {name!r} has no usable examples")
        model, m = concept_ml.train_concept(X, y)
        scores = self._apply_concept(model, m.threshold)
        with self.db.write_lock, self.db.engine.begin() as conn:
            self.db.save_model(conn, name, model.w, model.b, m.threshold, m.__dict__)
            self.db.set_concept_tags(conn, name, scores)
        self._concepts[name] = (model, m.threshold)
        return ConceptReport(name=name, positives=m.positives, negatives=m.negatives, folds=m.folds,
                             threshold=m.threshold, precision=m.precision, recall=m.recall, f1=m.f1,
                             roc_auc=m.roc_auc, tagged=len(scores), problems=problems)

    def _apply_concept(self, model: concept_ml.LogisticModel, threshold: float) -> dict[int, float]:
        vs = self.vectors.get("image")
        if vs is None or len(vs) == 0 or vs.dim != model.w.shape[0]:
            return {}
        p = model.predict_proba(vs.matrix)
        keep = np.nonzero(p >= threshold)[0]
        return {int(vs.ids[i]): round(float(p[i]), 4) for i in keep}

    def concepts(self) -> list[ConceptInfo]:
        return [self._concept_info(r.name) for r in self.db.concept_rows()]

    def _concept_info(self, name: str) -> ConceptInfo:
        row = self.db.concept_row(name)
        pos, neg = self.db.example_counts(name)
        tagged = len(self.db.photos_with_tags([name])) if row is not None and row.trained_at else 0
        return ConceptInfo(name=name, positives=pos, negatives=neg, trained=bool(row is not None and row.trained_at),
                           threshold=row.threshold if row is not None else None,
                           metrics=json.loads(row.metrics) if row is not None and row.metrics else None,
                           tagged=tagged)

    def concept_remove(self, name: str) -> bool:
        name = _concept_name(name)
        self._concepts.pop(name, None)
        return self.db.delete_concept(name)


def _concept_name(name: str) -> str:
    name = (name or "").strip()
    if not CONCEPT_NAME.match(name):
        raise errors.ConceptError("a concept name is 1 to 64 printable characters")
    return name
