"""How strong a new keystore passphrase must be.

The keystore file is sealed with argon2id (~0.65 s a guess on one core): that slows
an attacker who copied the file, but a one-word passphrase still falls in hours. So a
new file needs at least MIN_LENGTH characters and a zxcvbn score of MIN_SCORE (of 4:
"safely unguessable", more than ~1e10 guesses). An existing file opens with whatever
it was sealed with: the rule applies when a passphrase is chosen.
"""

from __future__ import annotations

import unicodedata

from kbapp.core.errors import WeakPassphrase

MIN_LENGTH = 10
MIN_SCORE = 3
_MAX_CHECKED = 100   # zxcvbn is quadratic in length; past this, length alone is plenty


def passphrase_problem(passphrase: str) -> str | None:
    """Why `passphrase` is too weak for a new keystore file, in a sentence; None if it is fine."""
    text = unicodedata.normalize("NFC", passphrase or "")
    if len(text) < MIN_LENGTH:
        return (f"A keystore passphrase needs at least {MIN_LENGTH} characters "
                f"(this one has {len(text)}). A few unrelated words work well.")
    from zxcvbn import zxcvbn

    result = zxcvbn(text[:_MAX_CHECKED])
    if result["score"] >= MIN_SCORE:
        return None
    feedback = result.get("feedback") or {}
    hints = " ".join(h for h in [feedback.get("warning") or "", *(feedback.get("suggestions") or [])] if h)
    return ("This passphrase is too easy to guess for a file anyone who copies it can attack offline"
            + (f": {hints}" if hints else ". Add another word or two; uncommon words are better."))


def check_passphrase(passphrase: str) -> None:
    """Raise `WeakPassphrase` with the reason when a new passphrase is below the minimum."""
    problem = passphrase_problem(passphrase)
    if problem is not None:
        raise WeakPassphrase(problem)
