"""`kbapp chat api`: a JSON-lines API on stdin/stdout for bots (in the spirit of `keybase chat api`).

One request per line, one answer per line, in order:

    {"id": 1, "method": "send", "params": {"conv": "alice,bob", "text": "hi"}}
    {"id": 1, "result": {"conv": "alice,bob", "msg_id": 7, "state": "sent", ...}}

Methods: list, read, send, edit, delete, delete_history, delete_mine (your own messages, up to
an optional `upto`), react, attach, download, search, typing, listen. `listen` answers at
once, then streams `{"event": "message", "conv": ..., "message": {...}}` lines for every new
verified message (push hints wake it; a slow poll covers a dead push channel)
until stdin closes. A failure answers `{"id": .., "error": {"code", "message",
"verification"}}` and the next line is read: one bad request never ends the session.
Everything a bot reads was verified by this device, as for `kbapp chat read`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from kbapp.core import errors
from kbapp.core.chat.body import MAX_MSG_ID

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20
POLL = 5.0


def _out(obj) -> None:
    from kbapp.cli.main import to_jsonable

    sys.stdout.write(json.dumps(to_jsonable(obj), ensure_ascii=False, sort_keys=True) + "\n")
    sys.stdout.flush()


def _err(e: errors.KbappError) -> dict:
    return _error(e.code, str(e), isinstance(e, errors.VerificationError))


def _error(code: str, message: str, verification: bool = False) -> dict:
    return {"code": code, "message": message, "verification": verification}


def _need(params: dict, name: str, kind=str):
    v = params.get(name)
    if not isinstance(v, kind) or isinstance(v, bool) and kind is int:
        raise errors.InvalidChatInput(f"params.{name} is required ({kind.__name__})")
    return v


async def _call(app, method: str, p: dict):
    chat = app.chat
    if method == "list":
        return {"conversations": await chat.conversations(sync=not p.get("local"))}
    if method == "read":
        return await chat.read(_need(p, "conv"), thread=p.get("thread"), limit=p.get("limit"),
                               sync=not p.get("local"), mark_read=bool(p.get("mark_read", True)))
    if method == "send":
        return await chat.send(_need(p, "conv"), _need(p, "text"), reply_to=p.get("reply_to"),
                               thread=p.get("thread"), exploding=p.get("exploding"))
    if method == "edit":
        return await chat.edit(_need(p, "conv"), _need(p, "id", int), _need(p, "text"))
    if method == "delete":
        ids = _need(p, "ids", list)
        return await chat.delete(_need(p, "conv"), *[int(i) for i in ids if type(i) is int])
    if method == "react":
        return await chat.react(_need(p, "conv"), _need(p, "id", int), _need(p, "emoji"),
                                remove=bool(p.get("remove")))
    if method == "attach":
        return await chat.upload(_need(p, "conv"), _need(p, "path"), exploding=p.get("exploding"))
    if method == "delete_history":
        return await chat.delete_history(_need(p, "conv"), _need(p, "upto", int))
    if method == "delete_mine":
        upto = p.get("upto")
        if upto is not None and type(upto) is not int:
            raise errors.InvalidChatInput("upto is a message id")
        return await chat.delete_mine(_need(p, "conv"), upto)
    if method == "typing":
        return {"told": await chat.typing(_need(p, "conv"))}
    if method == "download":
        return {"saved": str(await chat.download(_need(p, "conv"), _need(p, "id", int), _need(p, "dest")))}
    if method == "search":
        return {"hits": await chat.search(_need(p, "query"), p.get("conv"))}
    raise errors.InvalidChatInput(f"unknown method {method[:40]!r}: list, read, send, edit, delete, "
                                  "delete_history, delete_mine, react, attach, download, search, typing, listen")


class Listener:
    """Streams new verified messages of the conversations a bot listens to."""

    def __init__(self, app, convs: list[str] | None):
        self.app, self.convs = app, convs
        self.seen: dict[str, int] = {}
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        for c in await self.app.chat.conversations(sync=True):
            self.seen[c.conv_id] = c.last_msg_id
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        from kbapp.client import sync as push
        from kbapp.client.chat.models import ChatMessagesChanged

        q = self.app.events.subscribe()
        runner = push.attach(self.app)
        runner.start()
        try:
            while True:
                try:
                    while not isinstance(await asyncio.wait_for(q.get(), POLL), ChatMessagesChanged):
                        pass
                except asyncio.TimeoutError:
                    try:
                        await self.app.chat.sync_inbox()
                    except errors.KbappError:
                        continue
                await self._emit_new()
        finally:
            self.app.events.unsubscribe(q)
            await runner.stop()

    async def _emit_new(self) -> None:
        try:
            convs = await self.app.chat.conversations()
        except errors.KbappError as e:
            return _out({"event": "error", "error": _err(e)})
        for c in convs:
            if self.convs and c.name not in self.convs:
                continue
            try:
                await self._emit_conv(c)
            except errors.KbappError as e:     # this conversation cannot be read now: said, the others go on
                _out({"event": "error", "conv": c.name, "error": _err(e)})

    async def _emit_conv(self, c) -> None:
        after = min(self.seen.get(c.conv_id, 0), MAX_MSG_ID)    # seeded from the inbox: the server's number
        if c.last_msg_id <= after:
            return
        view = await self.app.chat.read(c.conv_id, after=after, flat=True)
        for m in view.messages:
            if m.msg_id is not None and m.msg_id > after:
                _out({"event": "message", "conv": c.name, "conv_id": c.conv_id, "message": m})
        self.seen[c.conv_id] = max([after] + [m.msg_id for m in view.messages if m.msg_id is not None])

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass


async def serve(app) -> int:
    """Answer requests from stdin until it closes."""
    loop = asyncio.get_running_loop()
    listener: Listener | None = None
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return 0
            if not line.strip():
                continue
            rid, req = None, None
            try:
                if len(line) > MAX_LINE:
                    raise errors.InvalidChatInput(f"a request is at most {MAX_LINE} bytes")
                try:
                    req = json.loads(line)
                except (ValueError, RecursionError):
                    raise errors.InvalidChatInput("a request is one JSON object per line (nested 1,000 deep "
                                                  "at most)") from None
                if not isinstance(req, dict) or not isinstance(req.get("method"), str):
                    raise errors.InvalidChatInput('a request is {"method": ..., "params": {...}}')
                rid = req.get("id")
                params = req.get("params") or {}
                if not isinstance(params, dict):
                    raise errors.InvalidChatInput("params is an object")
                if req["method"] == "listen":
                    if listener is None:
                        convs = params.get("convs")
                        listener = Listener(app, [str(c) for c in convs] if isinstance(convs, list) else None)
                        await listener.start()
                    result = {"listening": True}
                else:
                    result = await _call(app, req["method"], params)
                _out({"id": rid, "result": result})
            except errors.KbappError as e:
                _out({"id": rid, "error": _err(e)})
            except BrokenPipeError:
                raise                   # the bot's reader went away: nobody to answer
            except OSError as e:        # a local path a request named: that request fails, the bot goes on
                _out({"id": rid, "error": _error("LOCAL_IO", f"{e.strerror or e}")})
            except (ValueError, TypeError) as e:    # a parameter of the wrong shape the checks let through
                _out({"id": rid, "error": _error(errors.InvalidChatInput.code, str(e)[:300])})
            except Exception as e:  # noqa: BLE001 - one request's bug is that request's error, never the session's
                log.exception("chat api: %s", req.get("method") if isinstance(req, dict) else "?")
                _out({"id": rid, "error": _error("INTERNAL", f"{type(e).__name__}: {str(e)[:200]}")})
    finally:
        if listener is not None:
            await listener.stop()
