"""Merging two offline branches of a folder (KBFS's rules), as a pure function over op lists.

The *remote* branch is what the server accepted first: it stays as it is. The *local* ops
(this device's unmerged revisions) are replayed on top of it, each mapped through the remote
renames, and turned into actions the client applies to the merged tree:

- disjoint changes apply as they are (an edit follows a remotely renamed file or directory);
- the same file written on both: the remote one stays, the local one is written beside it
  as `name.conflicted (alice's laptop copy 2026-12-06).ext` (KBFS's conflict_renamer);
- create/create: two files -> the local one renamed as above; two directories -> merged;
  a file against a directory -> the file is renamed, whichever branch made it;
- a local rename onto a name the remote branch created -> the rename lands on a conflict name;
- a local edit of something removed remotely -> recreated (edits win over deletes); a local
  delete of something changed remotely -> skipped (nothing lost);
- a rename cycle (or anything else we cannot order) -> `Merge.parked`: the client keeps the
  local branch as a read-only `(local conflicted copy DATE)` view and the folder stays
  writable. Never stuck, never lost.

Every write, rename and setattr op carries the entry it produced, so replay needs nothing
from the local tree. Conflict names are unique within one merge; one that is taken in the
merged tree anyway is retried by the client with the next `n`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..errors import BadPathName
from .names import MAX_NAME_BYTES, check_component
from .revision import Op

MAX_MERGE_OPS = 50_000
Path = tuple[str, ...]


@dataclass(frozen=True)
class Action:
    """One step on the merged tree: write (place `entry` at path, creating missing parents),
    mkdir, rm, move (path -> to), setattr, or keep (nothing to do; `note` says which local op
    was dropped and why). `note` says why an action differs from the local op."""

    kind: str
    path: Path
    to: Path | None = None
    entry: object = None
    attr: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Merge:
    actions: tuple[Action, ...] = ()
    renamed: tuple[tuple[Path, Path], ...] = ()      # (original, conflict name) to tell the user about
    parked: bool = False
    reason: str = ""
    view: str | None = None                           # the parked branch's view name


def split_ext(name: str) -> tuple[str, str]:
    """('archive', '.tar.gz'), ('.bashrc', ''), ('README', '')."""
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    base, ext = name[:dot], name[dot:]
    if base.lower().endswith(".tar") and base.rfind(".") > 0:
        base, ext = base[:-4], base[-4:] + ext
    return base, ext


_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")


def conflicted_name(name: str, user: str, device: str, date: str, n: int = 1) -> str:
    """KBFS's `%s.conflicted (%s's %s copy %s)%s`, with ` #n` for the n-th, at most 255 bytes."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) or type(n) is not int or n < 1:
        raise ValueError("a conflict date is YYYY-MM-DD and n a positive integer")
    base, ext = split_ext(check_component(name))
    who = _UNSAFE.sub("_", f"{user}'s {device}")[:80]
    tail = f".conflicted ({who} copy {date}{'' if n == 1 else f' #{n}'}){ext}"
    while base and len((base + tail).encode("utf-8")) > MAX_NAME_BYTES:
        base = base[:-1]
    try:
        return check_component(base + tail)
    except BadPathName:
        return check_component(f"file{tail}")


def parked_view_name(date: str) -> str:
    """What the client calls a parked local branch (Keybase's clear-conflicts name)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise ValueError("a date is YYYY-MM-DD")
    return f"(local conflicted copy {date})"


def _under(p: Path, q: Path) -> bool:
    return p[:len(q)] == q


def _move(paths: set, src: Path, dst: Path) -> set:
    return {dst + p[len(src):] if _under(p, src) else p for p in paths}


class _Remote:
    """What the remote branch did, in merged-tree terms."""

    def __init__(self, ops):
        self.renames: list[tuple[Path, Path]] = []
        self.wrote: set[Path] = set()          # files written or created
        self.made: set[Path] = set()           # directories created (or moved in)
        self.arrived: dict[Path, bool] = {}    # moved in by a rename, content unchanged -> is a directory
        self.removed: set[Path] = set()        # base paths removed
        for op in ops:
            if op.op == "write":
                self.wrote.add(op.path)
                self.removed.discard(op.path)
            elif op.op == "mkdir":
                self.made.add(op.path)
                self.removed.discard(op.path)
            elif op.op == "rm":
                self.wrote = {p for p in self.wrote if not _under(p, op.path)}
                self.made = {p for p in self.made if not _under(p, op.path)}
                self.arrived = {p: d for p, d in self.arrived.items() if not _under(p, op.path)}
                self.removed.add(op.path)
            elif op.op == "rename":
                self.renames.append((op.path, op.to))
                self.wrote, self.made = _move(self.wrote, op.path, op.to), _move(self.made, op.path, op.to)
                self.arrived = {op.to + p[len(op.path):] if _under(p, op.path) else p: d
                                for p, d in self.arrived.items()}
                if op.to not in self.wrote and op.to not in self.made:
                    self.arrived[op.to] = op.entry.is_dir
                self.removed.discard(op.to)

    def forward(self, p: Path) -> Path:
        for s, d in self.renames:
            if _under(p, s):
                p = d + p[len(s):]
        return p

    def gone(self, p: Path) -> bool:
        return any(_under(p, r) for r in self.removed)

    def touched_below(self, p: Path) -> bool:
        return any(_under(q, p) for q in self.wrote | self.made | set(self.arrived))

    def is_dir(self, p: Path) -> bool:
        return p in self.made or self.arrived.get(p, False)

    def taken(self, p: Path, followed: bool) -> bool:
        """Something remote now sits at p other than the local op's own (followed) node."""
        return p in self.wrote or p in self.made or (p in self.arrived and not followed)

    def file_prefix(self, p: Path) -> Path | None:
        for i in range(1, len(p)):
            if p[:i] in self.wrote:
                return p[:i]
        return None


class _Merger:
    def __init__(self, remote: _Remote, local_label, remote_label, date: str):
        self.r = remote
        self.local_label, self.remote_label, self.date = local_label, remote_label, date
        self.alias: dict[Path, Path] = {}
        self.actions: list[Action] = []
        self.renamed: list[tuple[Path, Path]] = []
        self.used: set[Path] = set()

    def map(self, p: Path) -> Path:
        for i in range(len(p), 0, -1):
            hit = self.alias.get(p[:i])
            if hit is not None:
                return hit + p[i:]
        return self.r.forward(p)

    def followed(self, p: Path, m: Path) -> bool:
        """The local path was carried to m by a remote rename of that very file."""
        return m != p and p not in self.alias

    def conflict_path(self, p: Path, label) -> Path:
        n = 1
        while True:
            q = p[:-1] + (conflicted_name(p[-1], label[0], label[1], self.date, n),)
            if q not in self.used and not self.r.taken(q, False):
                self.used.add(q)
                self.renamed.append((p, q))
                return q
            n += 1

    def emit(self, kind: str, path: Path, note: str = "", **kw) -> None:
        self.actions.append(Action(kind, path, note=note, **kw))

    def clear_file_prefix(self, m: Path) -> None:
        """A remote file where the local op needs a directory: the file moves aside (KBFS)."""
        q = self.r.file_prefix(m)
        if q is not None:
            q2 = self.conflict_path(q, self.remote_label)
            self.emit("move", q, to=q2, note="a remote file where a local directory goes: renamed")
            self.r.wrote = (self.r.wrote - {q}) | {q2}

    def write(self, op: Op) -> None:
        m = self.map(op.path)
        self.clear_file_prefix(m)
        if self.r.taken(m, self.followed(op.path, m)):
            why = "a remote directory" if self.r.is_dir(m) else "changed on both"
            m2 = self.conflict_path(m, self.local_label)
            self.alias[op.path] = m2
            self.emit("write", m2, entry=dataclasses.replace(op.entry, name=m2[-1]),
                      note=f"{why}: the local file is kept under a conflict name")
            return
        self.emit("write", m, entry=op.entry, note="recreated (removed remotely)" if self.r.gone(m) else "")

    def mkdir(self, op: Op) -> None:
        m = self.map(op.path)
        self.clear_file_prefix(m)
        if self.r.is_dir(m):
            return                                      # both have it: the directories merge
        if m in self.r.wrote or m in self.r.arrived:
            q = self.conflict_path(m, self.remote_label)
            self.emit("move", m, to=q, note="a remote file where a local directory goes: renamed")
            self.r.wrote.discard(m)
            self.r.arrived.pop(m, None)
            self.r.wrote.add(q)
        self.emit("mkdir", m)

    def rm(self, op: Op) -> None:
        m = self.map(op.path)
        followed = self.followed(op.path, m)
        if self.r.gone(m) or (m in self.r.arrived and not followed):
            return                                      # gone, or something else moved in: not ours
        changed = {q for q in self.r.wrote | self.r.made | set(self.r.arrived) if _under(q, m)}
        if followed:
            changed.discard(m)                          # the very node, only moved: the delete follows
        if changed:
            self.emit("keep", m, note="changed remotely: the local delete is skipped")
            return
        self.emit("rm", m)

    def rename(self, op: Op) -> bool:
        s, d = self.map(op.path), self.map(op.to)
        if _under(d, s):
            return False                                # a cycle once both branches are applied
        parent = self.map(op.path[:-1]) + op.path[-1:]
        if s != parent and op.path not in self.alias:
            self.alias[op.to] = s                       # both renamed it: the remote name stays
            self.emit("keep", s, note="renamed on both: the remote name is kept")
            return True
        self.clear_file_prefix(d)
        if self.r.taken(d, False):
            d = self.conflict_path(d, self.local_label)
            self.alias[op.to] = d
        entry = dataclasses.replace(op.entry, name=d[-1]) if op.entry is not None else None
        if self.r.gone(s):
            self.emit("write", d, entry=entry, note="recreated (its source was removed remotely)")
        else:
            self.emit("move", s, to=d)
        return True

    def setattr(self, op: Op) -> None:
        m = self.map(op.path)
        if not self.r.gone(m):
            self.emit("setattr", m, attr=op.attr, entry=op.entry)


def merge(local_ops, remote_ops, *, local_label: tuple[str, str], remote_label: tuple[str, str],
          date: str) -> Merge:
    """The actions that replay `local_ops` on top of the remote branch, or a parked Merge.
    Labels are (username, device name); `date` is today's YYYY-MM-DD (core has no clock)."""
    local_ops, remote_ops = list(local_ops), list(remote_ops)
    if len(local_ops) + len(remote_ops) > MAX_MERGE_OPS:
        return Merge(parked=True, reason=f"more than {MAX_MERGE_OPS} operations to merge",
                     view=parked_view_name(date))
    m = _Merger(_Remote(remote_ops), local_label, remote_label, date)
    for op in local_ops:
        if op.op == "rename":
            if not m.rename(op):
                return Merge(parked=True, reason=f"renaming {'/'.join(op.path)} would make a cycle",
                             view=parked_view_name(date))
        else:
            getattr(m, op.op)(op)
    return Merge(tuple(m.actions), tuple(m.renamed))
