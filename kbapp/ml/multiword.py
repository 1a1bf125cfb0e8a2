"""Multi-word text queries without CLIP: "puppy in the snow" means dog AND snow.

Why: the tag model's text side embeds a whole phrase into one point, which lands near
whichever word dominates ("snowplow", "toy terrier") and misses a photo that shows
both. So each content word (stop words dropped) is matched on its own, through the
same machinery as a one-word query (an exact tag, the nearest tags by the text
encoder, a trained concept of that name, text read in the photo), widened by tag names
that contain a matched tag as a word ("dog" -> "Eskimo dog") and by a small table of
scene words the ImageNet vocabulary lacks ("snow" -> dogsled, ski, snowmobile...).
A photo must match every word; photos are ranked by the product of their per-word
scores; when none matches every word, none is shown and the note says so. A CLIP model answers such phrases as a whole: the note says how to add
one when none is installed.
"""

from __future__ import annotations

import logging
import math
import re

import numpy as np

from kbapp.core import errors

log = logging.getLogger(__name__)

STOP_WORDS = frozenset("""
a an the in on at of with and or to for from by near under over into onto out up down
my our your his her their its this that these those some any is are was were be being
photo photos picture pictures image images showing shows show me find
""".split())

# Scene words the ImageNet tags cannot say, each with the tags that imply it (score factor).
SCENE_TAGS: dict[str, tuple[str, ...]] = {
    "snow": ("dogsled", "ski", "snowmobile", "snowplow", "alp", "ice bear", "snow leopard", "bobsled"),
    "beach": ("seashore", "sandbar", "beach wagon", "swimming trunks", "bikini", "sarong"),
    "sea": ("seashore", "sandbar", "coral reef", "liner", "speedboat", "lifeboat", "yawl", "catamaran"),
    "mountain": ("alp", "volcano", "cliff", "valley", "mountain tent", "ski"),
    "water": ("lakeside", "seashore", "canoe", "paddle", "speedboat", "fountain", "water ouzel"),
    "road": ("street sign", "traffic light", "car wheel", "sports car", "cab", "pickup", "trailer truck"),
}
SCENE_ALIASES = {"snowy": "snow", "winter": "snow", "ice": "snow", "shore": "beach", "ocean": "sea",
                 "mountains": "mountain", "lake": "water", "river": "water", "street": "road"}
SCENE_SCORE = 0.8      # a scene tag is evidence, not proof
TEXT_BONUS = 0.6       # the word read in the photo (OCR)
MIN_SIM = 0.45         # library.TEXT_TAG_MIN_SIM: nearest tags below this cosine are not used
MAX_WORDS = 6

CLIP_ADVICE = ("A CLIP model would understand the whole phrase: add one with "
               "`kbapp photos models pull NAME --hub URL` (docs/ml.md, \"CLIP models\").")


def content_words(text: str) -> list[str]:
    """The query's words that carry meaning, lowercased, in order, each once."""
    out: list[str] = []
    for w in re.findall(r"[^\W_]+(?:['-][^\W_]+)*", text.lower()):
        if w not in STOP_WORDS and w not in out:
            out.append(w)
    return out[:MAX_WORDS]


def _word_tags(lib, word: str) -> dict[str, float]:
    """Tag name -> how well it stands for `word` (0..1)."""
    sims: dict[str, float] = {}
    if lib.db.photos_with_tags([word]):     # a tag, or a trained concept (stored as a tag) of that name
        sims[word] = 1.0
    try:
        near = lib.analyzer.embed_text_to_tags(word, k=5)
    except errors.ModelMissing as e:
        log.info("free-text to tags off: %s", e)
        near = [(t, 1.0) for t, _ in lib.db.known_tags(like=word, limit=5)]
    for tag, s in near:
        if s >= MIN_SIM:
            sims[tag] = max(sims.get(tag, 0.0), float(s))
    for tag, s in list(sims.items()):   # "dog" -> "Eskimo dog", "Maltese dog": the same word inside
        pattern = re.compile(rf"\b{re.escape(tag.lower())}\b")
        for other, _ in lib.db.known_tags(like=tag, limit=50):
            if other not in sims and pattern.search(other.lower()):
                sims[other] = 0.9 * s
    scene = SCENE_ALIASES.get(word, word)
    for tag in SCENE_TAGS.get(scene, ()):
        sims[tag] = max(sims.get(tag, 0.0), SCENE_SCORE)
    return sims


def word_scores(lib, word: str) -> dict[int, tuple[float, str]]:
    """Photo id -> (score, why) for one word."""
    sims = _word_tags(lib, word)
    out: dict[int, tuple[float, str]] = {}
    for tag, sim in sims.items():   # photos_with_tags keeps one tag a photo: ask tag by tag
        for pid, (_t, s) in lib.db.photos_with_tags([tag]).items():
            score = sim * s
            if score > out.get(pid, (0.0, ""))[0]:
                out[pid] = (score, f"{word}: tag {tag} {s:.2f}")
    for pid, _ in lib.db.search_text(word):
        if TEXT_BONUS > out.get(pid, (0.0, ""))[0]:
            out[pid] = (TEXT_BONUS, "text in photo")
    return out


def combined_scores(lib, words: list[str], allowed: np.ndarray | None,
                    why: dict[int, list[str]]) -> tuple[dict[int, float], str]:
    """Photo id -> score (the geometric mean of its per-word scores, higher first) for the photos
    matching every word, and a note saying how the words were combined."""
    ok = None if allowed is None else set(allowed.tolist())
    per_word = [word_scores(lib, w) for w in words]
    best: dict[int, tuple[int, float]] = {}    # photo id -> (words matched, geometric mean)
    for pid in set().union(*per_word):
        if ok is not None and pid not in ok:
            continue
        got = [m[pid][0] for m in per_word if pid in m]
        best[pid] = (len(got), math.prod(got) ** (1.0 / len(got)))
    joined = " and ".join(words)
    if not best:
        return {}, f"Searched for photos showing {joined}: none found."
    top = max(n for n, _ in best.values())
    chosen = {pid: v for pid, v in best.items() if v[0] == top}
    if top < len(words):
        return {}, f"No photo shows {joined} together."
    for pid in chosen:
        for reason in (m[pid][1] for m in per_word if pid in m):
            if reason not in why.setdefault(pid, []):
                why[pid].append(reason)
    note = f"Photos showing {joined}, all together."
    return {pid: round(g, 6) for pid, (_n, g) in chosen.items()}, note
