"""`kbapp chat ...`: encrypted chat from the command line (a thin shell over `app.chat`).

CONV is `alice,bob`, `alice,bob,carol`, `alice,bob#carol` (carol reads), `alice,bob@github`
or `team#channel` (`acme` alone is `acme#general`). Every message shown was verified by
this device; one the reader rules refused is shown as such, with its error code, and a
command that meets a lie from the server exits 3. Text from other people is printed as
plain text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from kbapp.cli.argv import json_flag
from kbapp.core import errors
from kbapp.core.display import one_line

EXIT_UNSUPPORTED = 2
EXIT_VERIFY = 3


def add_parser(sub) -> None:
    s = sub.add_parser("chat", help="encrypted chat: conversations, messages, channels, search")
    c = s.add_subparsers(dest="chat_cmd", required=True)

    def cmd(name: str, help: str) -> argparse.ArgumentParser:
        p = c.add_parser(name, help=help)
        json_flag(p)
        return p

    p = cmd("list", "your conversations, with unread counts")
    p.add_argument("--local", action="store_true", help="only what this device has (no network)")
    p = cmd("send", "send a message")
    p.add_argument("conv")
    p.add_argument("text", nargs="?", help="the text ('-' or nothing: read it from stdin)")
    p.add_argument("--reply", type=int, default=None, metavar="ID", help="reply to message ID")
    p.add_argument("--thread", type=int, default=None, metavar="ID", help="post in the thread of message ID")
    p.add_argument("--exploding", default=None, metavar="LIFETIME", help="explode after LIFETIME (30s..7d, e.g. 1h)")
    p.add_argument("--no-wait", action="store_true", help="leave it in the outbox; it is sent in the background")
    p = cmd("read", "read a conversation (verified, from this device's store, after fetching what is new)")
    p.add_argument("conv")
    p.add_argument("--thread", type=int, default=None, metavar="ID", help="only the thread of message ID")
    p.add_argument("--limit", type=int, default=None, help="only the newest N messages")
    p.add_argument("--local", action="store_true", help="do not fetch: show what this device has")
    p.add_argument("--follow", action="store_true", help="keep printing new messages as they come")
    p.add_argument("--timeout", type=float, default=None, help="with --follow: stop after this many seconds")
    p = cmd("edit", "edit one of your messages")
    p.add_argument("conv")
    p.add_argument("id", type=int)
    p.add_argument("text")
    p = cmd("delete", "delete messages (yours; an admin's client may delete anyone's)")
    p.add_argument("conv")
    p.add_argument("ids", type=int, nargs="+")
    p = cmd("react", "react to a message with an emoji (--remove takes yours back)")
    p.add_argument("conv")
    p.add_argument("id", type=int)
    p.add_argument("emoji")
    p.add_argument("--remove", action="store_true")
    p = cmd("pin", "pin a message for everyone (--remove takes the pin back)")
    p.add_argument("conv")
    p.add_argument("id", type=int)
    p.add_argument("--remove", action="store_true")
    p = cmd("headline", "set the conversation's headline ('' clears it)")
    p.add_argument("conv")
    p.add_argument("text")
    p = cmd("retry", "send a failed outbox entry again")
    p.add_argument("outbox_id")
    p = cmd("mute", "mute a conversation (--off: unmute); local to this device")
    p.add_argument("conv")
    p.add_argument("--off", action="store_true")
    _channel_parsers(cmd("channel", "team channels"))
    p = cmd("search", "search this device's decrypted history")
    p.add_argument("query")
    p.add_argument("--in", dest="conv", default=None, metavar="CONV")
    p = cmd("export", "export a conversation as JSON or plain text")
    p.add_argument("conv")
    p.add_argument("--format", choices=("json", "text"), default="json")
    p.add_argument("--local", action="store_true", help="do not fetch first")
    cmd("api", "a JSON-lines API on stdin/stdout for bots (docs/chat.md)")
    p = cmd("upload", "send a file")
    p.add_argument("conv")
    p.add_argument("file")
    p.add_argument("--exploding", default=None, metavar="LIFETIME",
                   help="the file's keys explode after LIFETIME (30s..7d); the server deletes it then")
    p = cmd("delete-history", "delete a team conversation's messages up to ID (team admins); "
            "--mine: your own messages, in any conversation (all of them without ID)")
    p.add_argument("conv")
    p.add_argument("upto", type=int, metavar="ID", nargs="?")
    p.add_argument("--mine", action="store_true", help="only your own messages (any member, DMs too)")
    p = cmd("typing", "tell the conversation you are typing (shown for about 5 s)")
    p.add_argument("conv")
    p = cmd("download", "save an attachment")
    p.add_argument("conv")
    p.add_argument("id", type=int)
    p.add_argument("dest")


def _channel_parsers(p) -> None:
    """`kbapp chat channel create|rename|join|leave|list`."""
    ch = p.add_subparsers(dest="channel_cmd", required=True)
    for name, what in (("create", "create TEAM#NAME"), ("rename", "rename TEAM#NAME to NEW"),
                       ("join", "join TEAM#NAME"), ("leave", "leave TEAM#NAME"), ("list", "channels of TEAM")):
        q = ch.add_parser(name, help=what)
        json_flag(q)
        q.add_argument("name")
        if name == "rename":
            q.add_argument("new_name")
        if name in ("create", "rename"):
            q.add_argument("--topic", default=None)


def render_convs(items) -> str:
    if not items:
        return "no conversations yet: kbapp chat send alice,bob 'hello'"
    out = []
    for c in items:
        flags = [f"{c.unread} unread"] if c.unread else []
        flags += [f"{c.mentions} mentioning you"] if c.mentions else []
        flags += ["muted"] if c.muted else []
        flags += [f"{c.pending} pending"] if c.pending else []
        flags += [f"{c.failed} failed"] if c.failed else []
        out.append(f"{one_line(c.name):<32} {c.last_msg_id:>6} msgs" + (f"  ({', '.join(flags)})" if flags else "")
                   + (f"  — {one_line(c.topic)}" if c.topic else ""))
    return "\n".join(out)


def render_timeline(view) -> str:
    from kbapp.client.chat.views import render_line

    head = f"# {one_line(view.conv.name)}" + (f"  thread #{view.thread}" if view.thread else "") \
        + (f" — {one_line(view.conv.topic)}" if view.conv.topic else "")
    lines = [head] + ([f"  headline: {one_line(view.headline)}"] if view.headline else []) \
        + ([f"  pinned: {', '.join('#' + str(p) for p in view.pins)}"] if view.pins else []) \
        + [render_line(m) for m in view.messages]
    lines += [f"! #{p.msg_id}: {p.code}: {one_line(p.message)}" for p in view.problems]
    return "\n".join(lines)


def _sent(res) -> str:
    if res.state == "sent":
        return f"sent #{res.msg_id} to {res.conv}"
    if res.state == "pending":
        return f"kept in the outbox ({res.outbox_id}): {res.error or 'not sent yet'}; it is sent when the server answers"
    if not getattr(res, "retryable", True):
        return f"refused ({res.outbox_id}): {res.error}; it is not sent again"
    return f"failed ({res.outbox_id}): {res.error}; `kbapp chat retry {res.outbox_id}` sends it again"


def _text_arg(args) -> str:
    if args.text is None or args.text == "-":
        return sys.stdin.read().rstrip("\n")
    return args.text


async def run(app, args, emit) -> int:
    """Dispatch one `kbapp chat` command; `emit(args, obj, text)` prints text or JSON."""
    try:
        return await _run(app, args, emit)
    except errors.NotSupported as e:
        print(f"kbapp: {e}: not yet supported", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": {"code": e.code, "message": str(e), "verification": False}}))
        return EXIT_UNSUPPORTED


async def _run(app, args, emit) -> int:
    c = args.chat_cmd
    chat = app.chat
    await chat.open()
    local = getattr(args, "local", False)
    if not app.connected and not local and c not in ("search", "mute"):
        await app.connect()
    if c == "list":
        items = await chat.conversations(sync=not local)
        emit(args, items, render_convs(items))
    elif c == "send":
        res = await chat.send(args.conv, _text_arg(args), reply_to=args.reply, thread=args.thread,
                              exploding=args.exploding, wait=not args.no_wait)     # 30s .. 7d, e.g. 1h
        emit(args, res, _sent(res))
        return 0 if res.state != "failed" else 1
    elif c == "read":
        view = await chat.read(args.conv, thread=args.thread, limit=args.limit, sync=not local, mark_read=True)
        emit(args, view, render_timeline(view))
        if args.follow:
            await _follow(app, args, view, emit)
        return _verdict(view)
    elif c in ("edit", "delete", "react"):
        if c == "edit":
            res = await chat.edit(args.conv, args.id, args.text)
        elif c == "delete":
            res = await chat.delete(args.conv, *args.ids)
        else:
            res = await chat.react(args.conv, args.id, args.emoji, remove=args.remove)
        emit(args, res, _sent(res))
        return 0 if res.state != "failed" else 1
    elif c == "pin":
        res = await chat.pin(args.conv, args.id, remove=args.remove)
        emit(args, res, _sent(res))
        return 0 if res.state != "failed" else 1
    elif c == "delete-history":
        if args.mine:
            res = await chat.delete_mine(args.conv, args.upto)
        elif args.upto is None:
            raise errors.InvalidChatInput("name the last message to delete (ID), or delete your own with --mine")
        else:
            res = await chat.delete_history(args.conv, args.upto)
        emit(args, res, _sent(res))
        return 0 if res.state != "failed" else 1
    elif c == "typing":
        told = await chat.typing(args.conv)
        emit(args, {"conv": args.conv, "told": told},
             f"told {args.conv} you are typing" if told else "not told (told less than 3 s ago)")
    elif c == "headline":
        res = await chat.set_headline(args.conv, args.text)
        emit(args, res, _sent(res))
        return 0 if res.state != "failed" else 1
    elif c == "retry":
        res = await chat.retry(args.outbox_id)
        emit(args, res, _sent(res))
    elif c == "mute":
        v = await chat.mute(args.conv, not args.off)
        emit(args, v, f"{v.name} is {'muted' if v.muted else 'not muted'}")
    elif c == "channel":
        return await _channel(chat, args, emit)
    elif c == "search":
        hits = await chat.search(args.query, args.conv)
        emit(args, hits, "\n".join(f"{one_line(h.conv)} #{h.msg_id} {one_line(h.sender)}: {one_line(h.snippet)}"
                                   for h in hits) or "no matches")
    elif c == "export":
        out = await chat.export(args.conv, args.format, sync=not local)
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
    elif c == "api":
        from . import chat_api
        return await chat_api.serve(app)
    elif c in ("upload", "download"):
        return await _transfer(app, args, emit)
    return 0


def _verdict(view) -> int:
    """Exit 3 when the conversation holds messages the reader rules refused, bodies the server
    withheld or msg ids it dropped: the view was printed, with each problem marked."""
    if not view.problems:
        return 0
    first = view.problems[0]
    print(f"kbapp: VERIFICATION FAILED ({first.code}): {len(view.problems)} problem(s) in {view.conv.name}, "
          f"first at #{first.msg_id}: {first.message}", file=sys.stderr)
    return EXIT_VERIFY


async def _channel(chat, args, emit) -> int:
    c = args.channel_cmd
    if c == "create":
        v = await chat.create_channel(args.name, args.topic or "")
        emit(args, v, f"created {v.name}")
    elif c == "rename":
        v = await chat.rename_channel(args.name, args.new_name, topic=args.topic)
        emit(args, v, f"renamed to #{args.new_name}")
    elif c == "join":
        v = await chat.join_channel(args.name)
        emit(args, v, f"joined {v.name}")
    elif c == "leave":
        v = await chat.leave_channel(args.name)
        emit(args, v, f"left {v.name}")
    elif c == "list":
        items = await chat.channels(args.name)
        emit(args, items, render_convs(items))
    return 0


async def _transfer(app, args, emit) -> int:
    if args.chat_cmd == "upload":
        res = await app.chat.upload(args.conv, args.file, exploding=args.exploding)
        emit(args, res, _sent(res))
    else:
        path = await app.chat.download(args.conv, args.id, args.dest)
        emit(args, {"saved": str(path)}, f"saved {path}")
    return 0


async def _follow(app, args, view, emit) -> None:
    """Print new messages as they come: a push hint wakes a sync, and a slow poll covers a
    push channel that is down. Ends on Ctrl-C or after --timeout seconds."""
    from kbapp.client import sync as push
    from kbapp.client.chat.models import ChatMessagesChanged, ChatTyping
    from kbapp.client.chat.views import render_line

    chat = app.chat
    seen = max((m.msg_id for m in view.messages if m.msg_id is not None), default=view.conv.read_upto)
    q = app.events.subscribe()
    runner = push.attach(app)
    runner.start()
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    try:
        while deadline is None or time.monotonic() < deadline:
            left = 5.0 if deadline is None else max(0.0, min(5.0, deadline - time.monotonic()))
            try:
                while True:
                    ev = await asyncio.wait_for(q.get(), left)
                    if isinstance(ev, ChatMessagesChanged) and ev.conv_id == view.conv.conv_id:
                        break
                    if isinstance(ev, ChatTyping) and ev.conv_id == view.conv.conv_id and not args.json:
                        print(f"{ev.username} is typing…", file=sys.stderr, flush=True)
            except asyncio.TimeoutError:
                pass
            fresh = await chat.read(args.conv, thread=args.thread, after=seen, sync=True, mark_read=True)
            for m in fresh.messages:
                if m.msg_id is None or m.msg_id <= seen:
                    continue
                seen = m.msg_id
                if args.json:
                    from kbapp.cli.main import to_jsonable
                    print(json.dumps(to_jsonable(m), sort_keys=True), flush=True)
                else:
                    print(render_line(m), flush=True)
    finally:
        app.events.unsubscribe(q)
        await runner.stop()
