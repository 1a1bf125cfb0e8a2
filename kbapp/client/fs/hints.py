"""Push hints of encrypted folders: `team:<id>` kind `folder`, subject `<folder id>:<revision>`.

The server records one after each accepted revision, in the same transaction (server
routes/folders.py), and the push channel (client/sync.py) emits it as a PushHint. Here it
becomes `on_hint(folder_id, revision)`: the folder engine marks its view stale (or fresh, if
it names the head we hold) and emits `FolderHinted` for a page showing the folder. A hint is
unverified: a made-up one costs a sync, a dropped one costs latency; reads still judge every
revision (docs/threat-model.md "Encrypted folders: server side").
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..events import Event

log = logging.getLogger(__name__)

_TOPIC = re.compile(r"^team:[0-9a-f]{32}$")
_SUBJECT = re.compile(r"^([0-9a-f]{32}):([1-9][0-9]{0,15})$")


@dataclass(frozen=True)
class FolderHinted(Event):
    """The server says `folder_id` reached `revision` (unverified: the next read syncs)."""

    folder_id: str
    revision: int


def parse(topic: str, kind: str, subject: str) -> tuple[str, int] | None:
    """(folder id, revision) of a well-formed folder hint, else None (ignored)."""
    if kind != "folder" or not isinstance(topic, str) or not _TOPIC.match(topic):
        return None
    m = _SUBJECT.match(subject or "")
    return None if m is None else (m.group(1), int(m.group(2)))


def on_hint(files, folder_id: str, revision: int) -> None:
    """Hand one hint to the engine (`files.fs.hint`: stale or fresh) and announce it."""
    engine = getattr(files, "fs", None)
    if engine is not None and hasattr(engine, "hint"):
        engine.hint(folder_id, revision)
    files.ctx.events.emit(FolderHinted(folder_id, revision))


def listen(files) -> None:
    """Install the listener on the profile's event bus (once per FilesService)."""
    if files.__dict__.get("_hints_listening"):
        return
    files.__dict__["_hints_listening"] = True
    from ..sync import PushHint

    def on_event(ev) -> None:
        if isinstance(ev, PushHint):
            hint = parse(ev.topic, ev.kind, ev.subject)
            if hint is not None:
                try:
                    on_hint(files, *hint)
                except Exception:  # noqa: BLE001 - a hint must never break the push channel
                    log.exception("fs: folder hint %s", hint)
    files.ctx.events.on(on_event)
