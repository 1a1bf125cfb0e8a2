"""From stored rows to what a reader sees, and the two export formats.

The store keeps only verified effects (an edit's text, a delete's mark were applied
when the reader rules passed them), so folding here is plain bookkeeping: reactions
per emoji (a deleted reaction is gone), thread reply counts, joins and leaves, the
problems (withheld bodies, bad messages by code, gaps) and the outbox's entries at the
end, marked pending or failed. No network, no crypto: opening a conversation is a
local read.
"""

from __future__ import annotations

import json
import time

from kbapp.core.display import block, one_line
from kbapp.core.errors import OutboxRefused

from .models import ConvTimeline, ConvView, MessageView, Problem
from .store import MessageRow, OutboxRow

REFUSED = OutboxRefused.code     # an outbox entry refused for good: shown failed, never retried

SHOWN = ("text", "attachment", "system", "headline", "metadata", "join", "leave")


def _attachment(body: dict | None) -> dict | None:
    if not body:
        return None
    return {"name": body.get("name"), "mime": body.get("mime"), "size": body.get("size"),
            "blob_id": body.get("blob_id"), "has_preview": body.get("preview") is not None}


def _shown_text(m: MessageRow) -> str | None:
    b = m.body or {}
    if m.type == "text":
        return m.text
    if m.type == "attachment":
        return f"[file] {b.get('name', '')}"
    if m.type == "metadata":
        return f"channel is #{b.get('name', '')}" + (f": {b['topic']}" if b.get("topic") else "")
    if m.type in ("headline", "system"):
        return b.get("text")
    if m.type == "join":
        return "joined"
    if m.type == "leave":
        return "left"
    return None


def _own_edits(outbox: list[OutboxRow], stored: set[str]) -> dict[int, str]:
    """target msg id -> the text our queued edit gives it (the newest one), until the edit
    is stored: our own message reads as we edited it at once, not only once the sync after
    the post has judged it (it read as before until then). A failed edit gives nothing."""
    out: dict[int, str] = {}
    for e in sorted(outbox, key=lambda e: e.created_at):
        body = e.payload.get("body") or {}
        if (body.get("kind") == "edit" and e.state in ("pending", "sending", "sent")
                and e.outbox_id not in stored and type(body.get("target")) is int):
            out[body["target"]] = str(body.get("text") or "")
    return out


def fold(conv: ConvView, rows: list[MessageRow], outbox: list[OutboxRow], *, me: str = "",
         thread: int | None = None, gaps: list[tuple[int, int]] = (), flat: bool = False) -> ConvTimeline:
    reactions: dict[int, dict[str, list[str]]] = {}
    replies: dict[int, int] = {}
    pins: dict[int, None] = {}
    headline = None
    content = {m.msg_id for m in rows if m.status == "ok" and m.type in ("text", "attachment") and m.deleted_by is None}
    problems: list[Problem] = [Problem(a, "CHAT_GAP", f"messages {a} to {b} are missing")
                               for a, b in gaps]
    for m in rows:
        if m.status == "bad":
            problems.append(Problem(m.msg_id, m.error_code or "CHAT", m.error or "refused by the reader rules"))
            continue
        if m.status == "withheld":
            problems.append(Problem(m.msg_id, m.error_code or "CHAT_WITHHELD", "withheld by the server"))
            continue
        if m.type == "reaction" and m.deleted_by is None and m.supersedes is not None and m.body:
            who = reactions.setdefault(m.supersedes, {}).setdefault(str(m.body.get("emoji", "")), [])
            if m.sender not in who:
                who.append(m.sender)
        if m.thread_root is not None and m.type in ("text", "attachment") and m.deleted_by is None:
            replies[m.thread_root] = replies.get(m.thread_root, 0) + 1
        if m.type in ("pin", "unpin") and m.body and m.deleted_by is None:
            pins.pop(m.body.get("target"), None)
            if m.type == "pin" and m.body.get("target") in content:
                pins[m.body["target"]] = None
        if m.type == "headline" and m.body and m.deleted_by is None:
            headline = str(m.body.get("text") or "") or None
    stored = {m.outbox_id for m in rows if m.outbox_id}
    edits = _own_edits(outbox, stored)
    out = []
    for m in rows:
        if m.status == "ok" and (m.type not in SHOWN or m.deleted_by is not None):
            continue
        if thread is not None and m.msg_id != thread and m.thread_root != thread:
            continue
        if thread is None and not flat and m.thread_root is not None and m.status == "ok":
            continue       # thread replies show under their root (`read --thread ID`)
        text, edited, editing = _shown_text(m) if m.status == "ok" else None, m.edited, False
        if m.msg_id in edits and m.status == "ok" and m.type == "text" and m.sender == me:
            text, edited, editing = edits[m.msg_id], True, True
        out.append(MessageView(
            msg_id=m.msg_id, sender=m.sender, type=m.type,
            text=text, ctime=m.ctime, status=m.status, edit_pending=editing,
            error_code=m.error_code, error=m.error, edited=edited, reply_to=m.reply_to,
            thread_root=m.thread_root, replies=replies.get(m.msg_id, 0),
            reactions={k: list(v) for k, v in sorted(reactions.get(m.msg_id, {}).items())},
            attachment=_attachment(m.body) if m.type == "attachment" and m.status == "ok" else None,
            outbox_id=m.outbox_id or None, explodes_at=m.explodes_at))
    for e in outbox:
        if e.outbox_id in stored:
            continue
        body = e.payload.get("body") or {}
        if body.get("kind") not in ("text", "attachment") and e.state != "failed":
            continue
        root = e.payload.get("thread_root")
        if thread is not None and root != thread:
            continue
        out.append(MessageView(
            msg_id=None, sender=me, type=str(body.get("kind", "")), text=body.get("text") or body.get("name"),
            ctime=e.created_at, status=e.state, error=e.last_error, reply_to=e.payload.get("reply_to"),
            thread_root=root, outbox_id=e.outbox_id,
            error_code=REFUSED if e.state == "failed" and not e.retryable else None))   # no Retry for it
    return ConvTimeline(conv, out, problems, thread, [p for p in pins if p in content], headline)


# -- export -----------------------------------------------------------------------------


def export_json(view: ConvTimeline) -> str:
    c = view.conv
    doc = {"conversation": {"name": c.name, "conv_id": c.conv_id, "team_id": c.team_id, "channel": c.channel,
                            "topic": c.topic},
           "messages": [{"msg_id": m.msg_id, "sender": m.sender, "type": m.type, "text": m.text,
                         "time": m.ctime, "status": m.status, "error_code": m.error_code, "edited": m.edited,
                         "reply_to": m.reply_to, "thread_root": m.thread_root, "reactions": m.reactions,
                         "attachment": m.attachment} for m in view.messages],
           "problems": [{"msg_id": p.msg_id, "code": p.code, "message": p.message} for p in view.problems]}
    return json.dumps(doc, indent=2, ensure_ascii=False)


def _when(ts: int) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
    except (ValueError, OverflowError, OSError):       # the server's ctime is its word: shown, never a crash
        return f"@{ts}"


def render_line(m: MessageView) -> str:
    """One message as a line of plain text (the CLI's `read` and the text export)."""
    ident = f"#{m.msg_id}" if m.msg_id is not None else "(outbox)"
    if m.status not in ("ok",):
        what = {"withheld": "[withheld by the server]", "bad": f"[refused: {m.error_code}]",
                "exploded": "[exploded]", "no_key": "[exploded / key deleted]",
                "pending": f"[pending] {m.text or ''}", "sending": f"[sending] {m.text or ''}",
                "sent": f"[sent] {m.text or ''}", "failed": f"[failed: {m.error or ''}] {m.text or ''}"}
        return f"{ident} {_when(m.ctime)} {one_line(m.sender or '?')}: {block(what.get(m.status, m.status))}"
    extra = []
    if m.edited:
        extra.append("(edited)")
    if m.reply_to is not None:
        extra.append(f"(reply to #{m.reply_to})")
    if m.thread_root is not None:
        extra.append(f"(thread #{m.thread_root})")
    if m.replies:
        extra.append(f"[{m.replies} in thread]")
    if m.reactions:
        extra.append(" ".join(f"{one_line(e)} {len(who)}" for e, who in m.reactions.items()))
    tail = (" " + " ".join(extra)) if extra else ""
    return f"{ident} {_when(m.ctime)} {one_line(m.sender)}: {block(m.text or '')}{tail}"


def export_text(view: ConvTimeline) -> str:
    c = view.conv
    lines = [f"# {one_line(c.name)}" + (f" — {one_line(c.topic)}" if c.topic else "")]
    lines += [render_line(m) for m in view.messages]
    lines += [f"! #{p.msg_id}: {p.code}: {one_line(p.message)}" for p in view.problems]
    return "\n".join(lines) + "\n"
