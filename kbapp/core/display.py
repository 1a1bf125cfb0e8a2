"""Untrusted text made safe for a terminal or a plain-text file, without changing what it says.

Names, topics, headlines and messages come from other people through an untrusted server. In a
terminal a control character can move the cursor or set the title, a bidi override can turn
`invoice\u202etxt.exe` around, and a newline can forge a line that looks like another
message or another conversation. `one_line` escapes all of those (`\\n`, `\\u202e`); `block`
keeps a message's own line breaks but marks every continuation line, so no line of one
message can pass for the start of another.
"""

from __future__ import annotations

_BIDI_FORMAT = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
CONTINUATION = "    | "


def _safe(ch: str) -> bool:
    return ch.isprintable() and ch not in _BIDI_FORMAT


def _escaped(s: str, keep: str = "") -> str:
    if all(ch in keep or _safe(ch) for ch in s):
        return s
    return "".join(ch if ch in keep or _safe(ch) else ch.encode("unicode_escape").decode() for ch in s)


def one_line(text: object) -> str:
    """The text on one line: controls (newlines included), bidi and other unprintables escaped."""
    return _escaped(str(text))


def block(text: object, prefix: str = CONTINUATION) -> str:
    """Several lines of one message: each line made safe as by `one_line`, every line after the
    first starting with `prefix` (tabs kept)."""
    return ("\n" + prefix).join(_escaped(line, keep="\t") for line in str(text).split("\n"))
