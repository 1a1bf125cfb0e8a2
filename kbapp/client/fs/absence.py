"""A folder the server says does not exist, proven absent by the transparency map.

A 404 is the server's word; a folder another member wrote is in the map (its head, FolderHead)
from the epoch its first revision landed. So before a reader treats a folder as empty, it asks
for the folder's map entry (`GET /v1/folders/{id}/head?team=&kind=`, served to the team's
readers even when the server has no row) and checks the proof against its own log: a map that
names a head means the server hid the folder (HiddenRevision); a folder we verified before must
never vanish (RevisionRollback). Nothing is saved here: the caller keeps its judge state.
"""

from __future__ import annotations

from kbapp.core import errors
from kbapp.core.transparency import FolderHead, map_key, verify_lookup


async def prove_absent(ctx, folder_id: str, team_id: str, kind: int, name: str, verified_head: int) -> None:
    """Return only if the verified map proves `folder_id` never written; else a typed error."""
    if verified_head > 0:
        raise errors.RevisionRollback(
            f"the server says {name} does not exist; we verified revision {verified_head}")
    since = ctx.logview.mark()
    try:
        answer = await ctx.api.fs_head(folder_id, team_id=team_id, kind=kind)
    except errors.NotFound:
        raise errors.HiddenRevision(
            f"the server refuses the map entry of {name}, which it must serve to its readers") from None
    bundle = answer.get("lookup") if isinstance(answer, dict) else None
    if not isinstance(bundle, dict):
        raise errors.EncodingError("malformed folder head answer")
    lv = ctx.logview
    note = bundle.get("checkpoint")
    cp = await lv.check_forward(lv.parse(note if isinstance(note, str) else ""), since=since)
    head, _leaf = verify_lookup(bundle, cp, map_key("folder", folder_id), decode=FolderHead.decode)
    if head is not None:
        raise errors.HiddenRevision(
            f"the server says {name} does not exist; the log names its revision {head.revision}")
