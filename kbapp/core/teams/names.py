"""Team names, team ids and implicit (ad-hoc) team names.

Named teams: `acme`, `acme.sub`, `acme.sub.deeper`; each part follows
Keybase's rules (2 to 16 characters of a-z, 0-9, `_`, not leading `_`).

Team ids are 16 bytes like Keybase's, the last byte saying what kind of team:
a root team's id is SHA-256(lowercase name)[:15] + 0x24 (exactly Keybase's
RootTeamIDFromName, so anyone can check a root team's name without asking the
server); a subteam's id is SHA-256(context, parent id, name, 16 random bytes)
[:15] + 0x25 (it survives renames, so it cannot be the name's hash); an
implicit team's id hashes its canonical name at creation, under its own
context, with the root suffix.

Implicit teams are named by who is in them: `alice,bob` (both may write),
`alice,bob#carol` (carol only reads), `alice,bob@github` (an assertion that
no one has proven yet: an invite until someone does).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..errors import BadTeamName, BadUsername, EncodingError
from ..proofs import parse_assertion
from ..uid import check_username

TEAM_ID_LEN = 16
ROOT_TEAM_SUFFIX = 0x24
SUBTEAM_SUFFIX = 0x25
MAX_DEPTH = 8                     # parts in a subteam name
PART_MIN, PART_MAX = 2, 16
MAX_IMPLICIT_MEMBERS = 200
_PART_RE = re.compile(r"[a-z0-9][a-z0-9_]*")
_HEX_RE = re.compile(r"[0-9a-f]{32}")
_SUBTEAM_ID_CONTEXT = b"kbapp-subteam-id-v1\x00"
_IMPLICIT_ID_CONTEXT = b"kbapp-implicit-team-id-v1\x00"


# --- named teams ------------------------------------------------------------------


def check_team_name(name: object) -> str:
    """The normalised (lowercase) dotted team name, or BadTeamName."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_DEPTH * (PART_MAX + 1):
        raise BadTeamName("a team name is a short string")
    folded = name.lower()
    parts = folded.split(".")
    if len(parts) > MAX_DEPTH:
        raise BadTeamName(f"a team name has at most {MAX_DEPTH} parts")
    for p in parts:
        if not PART_MIN <= len(p) <= PART_MAX or not _PART_RE.fullmatch(p) or "__" in p:
            raise BadTeamName(f"{name[:80]!r}: each part has {PART_MIN} to {PART_MAX} "
                              "characters a-z, 0-9, '_' (not leading, not doubled)")
    return folded


def parent_name(name: str) -> str | None:
    """`acme.sub` -> `acme`; a root team has none."""
    name = check_team_name(name)
    return name.rpartition(".")[0] or None


def root_team_id(name: str) -> str:
    """Keybase's RootTeamIDFromName: SHA-256(lowercase name)[:15] + 0x24, hex."""
    name = check_team_name(name)
    if "." in name:
        raise BadTeamName(f"{name!r} is a subteam name; a root team's name has no dot")
    return (hashlib.sha256(name.encode()).digest()[:15] + bytes([ROOT_TEAM_SUFFIX])).hex()


def subteam_id(parent_id: str, name: str, random16: bytes) -> str:
    """A new subteam's id (hex); `random16` keeps a re-created subteam distinct."""
    parent_id = check_team_id(parent_id)
    name = check_team_name(name)
    if not isinstance(random16, (bytes, bytearray)) or len(random16) != 16:
        raise ValueError("subteam_id needs 16 random bytes")
    h = hashlib.sha256(_SUBTEAM_ID_CONTEXT + bytes.fromhex(parent_id) + name.encode() + b"\x00"
                       + bytes(random16)).digest()
    return (h[:15] + bytes([SUBTEAM_SUFFIX])).hex()


def check_team_id(team_id: object) -> str:
    if not isinstance(team_id, str) or not _HEX_RE.fullmatch(team_id):
        raise BadTeamName("a team id is 32 lowercase hex digits")
    if int(team_id[-2:], 16) not in (ROOT_TEAM_SUFFIX, SUBTEAM_SUFFIX):
        raise BadTeamName(f"team id {team_id} has an unknown suffix")
    return team_id


def is_subteam_id(team_id: str) -> bool:
    return int(check_team_id(team_id)[-2:], 16) == SUBTEAM_SUFFIX


# --- implicit teams ---------------------------------------------------------------


@dataclass(frozen=True)
class ImplicitName:
    """`alice,bob@github#carol`: writers before `#`, readers after.

    Each member is a kbapp username or an assertion (`bob@github`,
    `bob+bob@github`); canonical form sorts each side and drops duplicates
    (someone named on both sides is a writer).
    """

    writers: tuple[str, ...]
    readers: tuple[str, ...] = ()

    def __str__(self) -> str:
        s = ",".join(self.writers)
        return s + ("#" + ",".join(self.readers) if self.readers else "")

    @property
    def usernames(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(writer usernames, reader usernames): the plain kbapp names only."""
        return (tuple(w for w in self.writers if is_plain_username(w)),
                tuple(r for r in self.readers if is_plain_username(r)))

    @property
    def assertions(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(writer assertions, reader assertions) still to be proven by someone."""
        return (tuple(w for w in self.writers if not is_plain_username(w)),
                tuple(r for r in self.readers if not is_plain_username(r)))

    def resolve(self, assertion: str, username: str) -> "ImplicitName":
        """The name once `assertion` is proven by `username` (it keeps its side)."""
        username = check_username(username)
        w = tuple(username if m == assertion else m for m in self.writers)
        r = tuple(username if m == assertion else m for m in self.readers)
        return make_implicit_name(w, r)


def is_plain_username(member: str) -> bool:
    try:
        return check_username(member) == member
    except BadUsername:
        return False


def _member(text: str) -> str:
    text = text.strip()
    try:
        parts = parse_assertion(text)
    except EncodingError as e:
        raise BadTeamName(f"implicit team member {text[:64]!r}: {e}") from None
    if len(parts) == 1 and parts[0].service == "kbapp":
        try:
            return check_username(parts[0].name)
        except BadUsername as e:
            raise BadTeamName(str(e)) from None
    return "+".join(str(p) for p in parts)


def make_implicit_name(writers, readers=()) -> ImplicitName:
    w = sorted(set(_member(m) for m in writers))
    r = sorted(set(_member(m) for m in readers) - set(w))
    if not w:
        raise BadTeamName("an implicit team has at least one writer")
    if len(w) + len(r) > MAX_IMPLICIT_MEMBERS:
        raise BadTeamName(f"an implicit team has at most {MAX_IMPLICIT_MEMBERS} members")
    return ImplicitName(tuple(w), tuple(r))


def parse_implicit_name(text: object) -> ImplicitName:
    """`alice,bob@github#carol` -> ImplicitName (canonical), or BadTeamName."""
    if not isinstance(text, str) or not text.strip() or len(text) > 4096:
        raise BadTeamName("an implicit team name is a non-empty string")
    if text.count("#") > 1:
        raise BadTeamName("an implicit team name has at most one '#'")
    wpart, _, rpart = text.partition("#")
    writers = [m for m in wpart.split(",")]
    readers = [m for m in rpart.split(",")] if rpart.strip() else []
    if any(not m.strip() for m in writers + readers):
        raise BadTeamName(f"empty member in implicit team name {text[:80]!r}")
    return make_implicit_name(writers, readers)


def implicit_team_id(name: ImplicitName | str) -> str:
    """The id of the implicit team created under this (canonical) name."""
    if isinstance(name, str):
        name = parse_implicit_name(name)
    h = hashlib.sha256(_IMPLICIT_ID_CONTEXT + str(name).encode()).digest()
    return (h[:15] + bytes([ROOT_TEAM_SUFFIX])).hex()
