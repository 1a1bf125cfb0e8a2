"""Folder names and path components: what a writer may name, and what a reader may export.

A folder rides on a team: `/private/alice,bob#carol` and `/public/alice` on the implicit team
`alice,bob#carol` / `alice` (core/teams/names.py spells and sorts them), `/team/acme.eng` on
the named team. A public folder has no readers list (everyone reads) and shares its team with
the private folder of the same writers; its folder id differs by kind (revision.py).

Path components come from other writers through the server, so every one is checked on read,
not only on write: a name that could climb out of an export (`..`, `/`), hide its extension
(bidi overrides), or break a Windows or macOS disk (reserved names, trailing dots) is refused
with BadPathName before anything uses it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..errors import BadFolderName, BadPathName, BadTeamName, TreeTooDeep, UnsafeExport
from ..teams.names import ImplicitName, check_team_name, parse_implicit_name

PRIVATE, PUBLIC, TEAM = "private", "public", "team"
KINDS = (PRIVATE, PUBLIC, TEAM)
KIND_CODES = {PRIVATE: 1, PUBLIC: 2, TEAM: 3}         # the byte in folder ids and revisions
MAX_NAME_BYTES = 255                                  # per component, UTF-8
MAX_PATH_DEPTH = 256                                  # components below the folder root
MAX_FOLDER_NAME = 4096
# Bidi embeddings, overrides and isolates, plus marks that reorder or hide text.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_RESERVED = re.compile(r"con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]", re.IGNORECASE)   # the stem before any '.'
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_JOINERS = frozenset("\u200c\u200d")                 # ZWNJ/ZWJ: Persian, Indic scripts, emoji sequences
_WINDOWS_REFUSES = frozenset('<>:"|?*')


# --- folder names -------------------------------------------------------------------


@dataclass(frozen=True)
class FolderName:
    """A canonical folder name: `kind` and the team it rides on (`team_name`)."""

    kind: str
    team_name: str                   # "alice,bob#carol" (implicit) or "acme.eng" (named)

    def __str__(self) -> str:
        return f"/{self.kind}/{self.team_name}"

    @property
    def implicit(self) -> bool:
        return self.kind != TEAM

    @property
    def encrypted(self) -> bool:
        return self.kind != PUBLIC

    @property
    def kind_code(self) -> int:
        return KIND_CODES[self.kind]

    @property
    def implicit_name(self) -> ImplicitName | None:
        return parse_implicit_name(self.team_name) if self.implicit else None

    def resolve(self, assertion: str, username: str) -> "FolderName":
        """The name once `assertion` (`bob@github`) is proven by `username` (`/private/alice,bob`)."""
        iname = self.implicit_name
        if iname is None:
            raise BadFolderName("a team folder's name does not change with proofs")
        return FolderName(self.kind, str(iname.resolve(assertion, username)))


def parse_folder_name(text: object) -> FolderName:
    """`/private/Alice,bob` -> FolderName("private", "alice,bob"); BadFolderName otherwise."""
    if not isinstance(text, str) or not text or len(text) > MAX_FOLDER_NAME:
        raise BadFolderName("a folder name is a short string")
    parts = text.split("/")
    if len(parts) != 3 or parts[0] != "" or parts[1] not in KINDS or not parts[2]:
        raise BadFolderName(f"{text[:80]!r}: a folder is /private/NAMES, /public/NAMES or /team/TEAM")
    kind, name = parts[1], parts[2]
    try:
        if kind == TEAM:
            return FolderName(kind, check_team_name(name))
        if kind == PUBLIC and "#" in name:
            raise BadFolderName("a public folder has no readers list: everyone reads it")
        return FolderName(kind, str(parse_implicit_name(name)))
    except BadTeamName as e:
        raise BadFolderName(f"{text[:80]!r}: {e}") from None


def split_path(text: object) -> tuple[FolderName, tuple[str, ...]]:
    """`/private/alice/docs/a.txt` -> (folder, ("docs", "a.txt")), every component checked.
    One trailing `/` is allowed (a directory); an empty component anywhere else is not."""
    if not isinstance(text, str) or len(text) > MAX_FOLDER_NAME + MAX_PATH_DEPTH * (MAX_NAME_BYTES + 1):
        raise BadFolderName("a path is a string")
    parts = text.split("/")
    if len(parts) > 3 and parts[-1] == "":
        parts = parts[:-1]
    folder = parse_folder_name("/".join(parts[:3]))
    return folder, check_path(parts[3:])


def conflicted_folder_name(folder: FolderName, date: str, n: int = 1) -> str:
    """Keybase's name for the older of two folders whose names converged after a proof:
    `/private/alice,bob (conflicted copy 2026-12-06)` (` #2` and on for more). A view name
    only: the older folder keeps its id and its data."""
    _check_date(date)
    if type(n) is not int or n < 1:
        raise BadFolderName("a conflict number is a positive integer")
    return f"{folder} (conflicted copy {date}{'' if n == 1 else f' #{n}'})"


def _check_date(date: object) -> None:
    if not isinstance(date, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise BadFolderName("a date is YYYY-MM-DD")


# --- path components ----------------------------------------------------------------


def check_component(name: object) -> str:
    """The component itself if any writer may use it; BadPathName otherwise."""
    if isinstance(name, (bytes, bytearray)):
        try:
            name = bytes(name).decode("utf-8")
        except UnicodeDecodeError:
            raise BadPathName("a name is UTF-8") from None
    if not isinstance(name, str):
        raise BadPathName("a name is a string")
    shown = repr(name[:40])
    if name in ("", ".", ".."):
        raise BadPathName(f"{shown} is not a name")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadPathName(f"{shown} is not valid UTF-8 (a lone surrogate)") from None
    if size > MAX_NAME_BYTES:
        raise BadPathName(f"a name is at most {MAX_NAME_BYTES} bytes of UTF-8, not {size}")
    for ch in name:
        if ch in "/\\" or ch in _BIDI or (unicodedata.category(ch) in _REFUSED_CATEGORIES and ch not in _JOINERS):
            raise BadPathName(f"{shown} holds a separator, control, format or bidi character (U+{ord(ch):04X})")
    if name[-1] in ". ":
        raise BadPathName(f"{shown} ends with a dot or a space (Windows drops them)")
    if _RESERVED.fullmatch(name.split(".", 1)[0].rstrip(" ")):
        raise BadPathName(f"{shown} is a reserved name on Windows (with any extension)")
    if unicodedata.normalize("NFC", name) != name:
        raise BadPathName(f"{shown} is not in Unicode NFC (two spellings of one name)")
    return name


def check_path(components) -> tuple[str, ...]:
    """A tuple of checked components, at most MAX_PATH_DEPTH deep."""
    if not isinstance(components, (list, tuple)):
        raise BadPathName("a path is a list of names")
    if len(components) > MAX_PATH_DEPTH:
        raise TreeTooDeep(f"a path is at most {MAX_PATH_DEPTH} names deep")
    return tuple(check_component(c) for c in components)


def normalise_component(name: str) -> str:
    """What a writer's client stores for a name the user typed or the disk gave (NFC), checked."""
    if not isinstance(name, str):
        raise BadPathName("a name is a string")
    return check_component(unicodedata.normalize("NFC", name))


# --- export to a local disk ---------------------------------------------------------


def export_relpath(components, *, entry_type: str = "file", windows: bool = False) -> str:
    """The relative path (joined with `/`) a tree entry may be written at under an export
    target: every component checked, no symlink. The client joins it under its target and
    creates nothing outside it (it also opens with O_NOFOLLOW; this is the name check).
    `windows`: also refuse the characters only Windows forbids (`a:b` is an alternate stream)."""
    if entry_type == "symlink":
        raise UnsafeExport("symlinks are not exported (they could point outside the target)")
    path = check_path(components)
    if not path:
        raise UnsafeExport("an export writes below its target, never the target itself")
    if windows and any(ch in _WINDOWS_REFUSES for c in path for ch in c):
        raise UnsafeExport("a name holds a character Windows refuses (<>:\"|?*)")
    return "/".join(path)


def check_export_names(names) -> None:
    """Refuse a directory whose names collide on a case-insensitive or normalising disk
    (`Report.txt` and `report.txt` would overwrite each other on Windows and macOS)."""
    seen: dict[str, str] = {}
    for name in names:
        key = unicodedata.normalize("NFKC", check_component(name)).casefold()
        if key in seen:
            raise UnsafeExport(f"{name[:40]!r} and {seen[key][:40]!r} are one name on a case-insensitive disk")
        seen[key] = name
