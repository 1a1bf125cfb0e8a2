"""What PhotoLibrary (ml/library.py) answers with: progress and summaries of indexing, search hits,
a photo's tags, near-duplicate groups and custom concepts; and the date filter's parser."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kbapp.core import errors

# --- results ---------------------------------------------------------------------------------


@dataclass
class IndexProgress:
    phase: str          # "scan", "analyze", "done"
    done: int
    total: int
    path: str | None = None


@dataclass
class IndexSummary:
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)      # reason code -> count
    skipped_files: list[tuple[str, str]] = field(default_factory=list)  # (path, reason), first 100
    cancelled: bool = False
    provider: str | None = None
    seconds: float = 0.0


@dataclass
class Hit:
    path: str
    score: float
    photo_id: int
    tags: list[str]
    nsfw: float | None
    taken: str | None
    why: list[str]
    origin: dict | None = None     # a chat image: {source, conv, conv_id, msg_id, sender} (ml/origins.py)
    sha256: str | None = None      # the file's content hash: a correction follows the content, not the path


@dataclass
class PhotoTags:
    path: str
    indexed: bool
    width: int
    height: int
    tags: list[tuple[str, float, str]]     # (tag, score, source: model|concept)
    nsfw: float | None
    ocr_text: str | None
    taken: str | None


@dataclass
class DupeGroup:
    paths: list[str]
    similarity: float          # the lowest pairwise link that joined the group


@dataclass
class ConceptInfo:
    name: str
    positives: int
    negatives: int
    trained: bool
    threshold: float | None
    metrics: dict | None
    tagged: int


@dataclass
class ConceptReport:
    name: str
    positives: int
    negatives: int
    folds: int
    threshold: float
    precision: float
    recall: float
    f1: float
    roc_auc: float
    tagged: int
    problems: list[str]


# --- helpers ---------------------------------------------------------------------------------


def parse_date(s: str | None) -> str | None:
    """"2024", "2024-05", "2024-05-01" or a full ISO time -> a comparable ISO prefix; typed error if bad."""
    if s is None or s == "":
        return None
    m = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$", s.strip())
    if not m:
        raise errors.PhotoIndexError(f"bad date {s!r} (use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM)")
    y, mo, d, h, mi, sec = m.groups()
    mo, d = mo or "01", d or "01"
    if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31):
        raise errors.PhotoIndexError(f"bad date {s!r}")
    return f"{y}-{mo}-{d}T{h or '00'}:{mi or '00'}:{sec or '00'}"
