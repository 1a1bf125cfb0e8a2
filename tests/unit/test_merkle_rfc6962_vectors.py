"""transparency-dev/merkle's RFC 6962 inclusion and consistency vectors: every file must pass."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from kbapp.core.errors import ConsistencyProofError, InclusionProofError
from kbapp.core.merkle import verify_consistency, verify_inclusion

VECTORS = Path(os.environ.get("KBAPP_VECTORS") or Path(__file__).resolve().parents[1] / "vectors")
RFC6962 = VECTORS / "rfc6962"
EXPECTED_FILES = 196


def _files(kind: str) -> list[Path]:
    return sorted((RFC6962 / kind).rglob("*.json"))


def _id(path: Path) -> str:
    return str(path.relative_to(RFC6962))


def _b64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def _proof(d: dict) -> list[bytes]:
    return [_b64(p) for p in (d["proof"] or [])]


INCLUSION = _files("inclusion")
CONSISTENCY = _files("consistency")


def test_every_vector_file_is_found():
    assert len(INCLUSION) + len(CONSISTENCY) == EXPECTED_FILES, f"vectors not found under {RFC6962}"


@pytest.mark.parametrize("path", INCLUSION, ids=_id)
def test_inclusion_vector(path: Path):
    d = json.loads(path.read_text())
    args = (_b64(d["leafHash"]), d["leafIdx"], d["treeSize"], _proof(d), _b64(d["root"]))
    if d["wantErr"]:
        with pytest.raises(InclusionProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_id)
def test_consistency_vector(path: Path):
    d = json.loads(path.read_text())
    args = (d["size1"], d["size2"], _proof(d), _b64(d["root1"]), _b64(d["root2"]))
    if d["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)
