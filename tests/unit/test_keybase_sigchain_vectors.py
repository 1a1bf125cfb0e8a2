"""Keybase's NaCl user sigchain vectors: each case must give exactly Keybase's result."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kbapp.core.sigchain import KEYBASE_ERRORS, verify_chain

VECTORS = Path(os.environ.get("KBAPP_VECTORS") or Path(__file__).resolve().parents[1] / "vectors")
SIGCHAIN = VECTORS / "keybase-sigchain"
CASES = json.loads((SIGCHAIN / "chain_tests.json").read_text())["tests"]


def test_all_sixteen_cases_are_here():
    assert len(CASES) == 16
    assert all((SIGCHAIN / "chains" / case["input"]).is_file() for case in CASES.values())


def _run(case: dict):
    data = json.loads((SIGCHAIN / "chains" / case["input"]).read_text())
    # Keybase's harness: the eldest key is keys[0] unless the case names one.
    eldest = data["label_kids"][case["eldest"]] if "eldest" in case else data["keys"][0]
    return data, lambda: verify_chain(data["chain"], uid=data["uid"], username=data["username"],
                                      eldest_kid=eldest)


@pytest.mark.parametrize("name", sorted(CASES))
def test_vector(name):
    case = CASES[name]
    data, run = _run(case)
    if "err_type" in case:
        expected = KEYBASE_ERRORS[case["err_type"]]
        with pytest.raises(expected) as info:
            run()
        assert type(info.value) is expected, f"{name}: got {type(info.value).__name__}: {info.value}"
        return
    state = run()
    # `len` counts the live, unstubbed, unrevoked links (Keybase's identity table).
    assert len(state.active_links) == case["len"]
    assert len(state.sibkeys) == case["sibkeys"]
    assert len(state.subkeys) == case["subkeys"]
    assert state.tail_seqno == len(data["chain"])
    if "eldest" in case:
        assert state.eldest_kid == data["label_kids"][case["eldest"]]
    if "eldest_seqno" in case:
        assert state.eldest_seqno == case["eldest_seqno"]
    if "previous_subchains" in case:
        got = [{"eldest_seqno": sc.eldest_seqno, "sibkeys": len(sc.sibkeys), "subkeys": len(sc.subkeys)}
               for sc in state.previous_subchains]
        assert got == case["previous_subchains"]
