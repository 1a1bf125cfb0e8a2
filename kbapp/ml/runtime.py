"""onnxruntime sessions: pick the execution provider, report the one in use.

The CUDA provider is asked for when the installed onnxruntime offers it
(`onnxruntime-gpu`, the `[gpu]` extra). Asking is not getting: without a usable
GPU, onnxruntime falls back to the CPU with only a log line, so the provider we
report is always read back from `session.get_providers()`, never guessed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import onnxruntime as ort

from kbapp.core import errors

log = logging.getLogger(__name__)

PREFERRED = ("CUDAExecutionProvider", "CPUExecutionProvider")


def available_providers() -> list[str]:
    return list(ort.get_available_providers())


def choose_providers(requested: list[str] | None = None) -> list[str]:
    """The providers to ask for, best first, limited to what this onnxruntime has.

    `requested` (e.g. from `--provider cpu`) narrows the choice; short names
    ("cuda", "cpu") are accepted. The CPU provider is always the last resort.
    """
    avail = available_providers()
    if requested:
        wanted = []
        for r in requested:
            name = r if r.endswith("ExecutionProvider") else f"{r.upper()}ExecutionProvider"
            if name not in avail:
                raise errors.MLError(f"execution provider {r!r} is not available here (have: {', '.join(avail)})")
            wanted.append(name)
    else:
        wanted = [p for p in PREFERRED if p in avail]
    if "CPUExecutionProvider" not in wanted and "CPUExecutionProvider" in avail:
        wanted.append("CPUExecutionProvider")
    return wanted


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


def make_session(model: Path | bytes, providers: list[str], *, threads: int | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    # Idle onnxruntime threads spin by default, burning the cores the decode workers need
    # between batches; the pipeline overlaps the two, so they sleep instead.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        sess = ort.InferenceSession(str(model) if isinstance(model, Path) else model,
                                    sess_options=opts, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for bad models
        raise errors.MLError(f"cannot load model {model if isinstance(model, Path) else '<bytes>'}: {e}") from e
    active = active_provider(sess)
    if providers and providers[0] != active:
        log.info("asked for %s, onnxruntime is using %s", providers[0], active)
    return sess


def active_provider(session: ort.InferenceSession) -> str:
    """The provider that really runs the model: the first one the session kept."""
    used = session.get_providers()
    return used[0] if used else "CPUExecutionProvider"
