"""An edited message's earlier versions, from the supersedes chain this device verified.

The store applies a valid edit's text to its target and keeps the edit itself as a row
(type `edit`, `supersedes` = the target). The versions are: the target's own signed body
(a reader that synced only after the edit never got it: the server drops a superseded
body), then every edit row that the reader rules passed (`ok`), signed by the target's own
sender, in msg id order. A row that is not `ok` (refused, withheld) or that names another
sender is never a version, whatever its text says; it is counted so the reader knows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from kbapp.core import errors

from .schema import _msg, messages


@dataclass(frozen=True)
class Version:
    msg_id: int                 # the original message's id, or the edit's
    text: str | None            # None: the original text is not kept on this device
    ctime: int
    current: bool = False


@dataclass(frozen=True)
class EditHistory:
    target: int
    sender: str
    versions: list              # oldest first; the last is what the message reads now
    not_shown: int = 0          # edit rows that are not versions (refused, withheld, another sender)


def chain(target, rows) -> EditHistory:
    """The versions of `target` (a MessageRow) among `rows` (its edit rows): pure."""
    if target is None or target.status != "ok" or target.deleted_by is not None:
        raise errors.NotFound("no such message")
    original = (target.body or {}).get("text") if target.body else None
    versions = [Version(target.msg_id, original if isinstance(original, str) else None, target.ctime)]
    skipped = 0
    for r in sorted(rows, key=lambda r: r.msg_id):
        if r.msg_id == target.msg_id or r.type != "edit":
            continue
        ok = (r.status == "ok" and r.supersedes == target.msg_id and r.sender_uid == target.sender_uid
              and r.msg_id > target.msg_id and isinstance((r.body or {}).get("text"), str)
              and (r.body or {}).get("target") == target.msg_id)
        if not ok:
            skipped += 1
            continue
        versions.append(Version(r.msg_id, r.body["text"], r.ctime))
    versions[-1] = Version(versions[-1].msg_id, versions[-1].text, versions[-1].ctime, True)
    return EditHistory(target.msg_id, target.sender, versions, skipped)


async def edit_history(svc, conv: str, msg_id: int) -> EditHistory:
    """`chain` over the store's rows for one message (read on the store's own thread)."""
    row = await svc.conv(conv, network=False)
    st = svc.store

    def read():
        with st.engine.connect() as conn:
            rows = [_msg(r) for r in conn.execute(select(messages).where(
                messages.c.conv_id == row.conv_id,
                (messages.c.msg_id == int(msg_id)) | (messages.c.supersedes == int(msg_id))))]
        return rows

    rows = await st.db.run(read)
    target = next((r for r in rows if r.msg_id == int(msg_id)), None)
    if target is None:
        raise errors.NotFound(f"no message #{msg_id} in {row.name}")
    return chain(target, [r for r in rows if r is not target])
