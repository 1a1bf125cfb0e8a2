"""Chat notifications and unread counts, driven by the engine's push-fed events.

A sync that stored new messages emits ChatMessagesChanged; we then read (off the Qt
thread) what arrived after what we last saw and notify for a direct message or a
mention of us, titled with the sender's name as the verified message carries it. No
notice for a muted conversation or the one open in front of you. The unread total (from
the read markers, which are per device) goes on the tray icon and the window title.
Notices are plain text: through the freedesktop service where there is one (freedesktop.py:
escaped for a server that reads markup), else the tray (markup characters swapped for
look-alikes).
"""

from __future__ import annotations

import asyncio
import logging
import re

from PySide6.QtCore import QObject

from kbapp.client.chat.models import ChatMessagesChanged, ChatOutboxChanged

from ...freedesktop import DesktopNotices

log = logging.getLogger(__name__)


def mentions(text: str | None, me: str) -> bool:
    return bool(me and text) and re.search(rf"(?<![\w@])@{re.escape(me)}\b", text, re.IGNORECASE) is not None


class ChatNotifier(QObject):
    def __init__(self, app, tray, window, page, bridge):
        super().__init__(page)
        self.app, self.tray, self.window, self.page = app, tray, window, page
        self.seen: dict[str, int] = {}          # conv id -> msg id notified up to
        self.stored: dict[str, int] = {}        # conv id -> the sync cursor its last event named
        self.mention_counts: dict[str, int] = {}
        self.total_unread = 0
        self.notified = 0                        # notices shown (tests)
        self.desktop = DesktopNotices()
        self._task: asyncio.Task | None = None
        self._queue: list[str] = []
        bridge.listen(ChatMessagesChanged, self._changed, owner=self)
        bridge.listen(ChatOutboxChanged, lambda _ev: self.recount(), owner=self)

    def _changed(self, ev: ChatMessagesChanged) -> None:
        self.stored[ev.conv_id] = max(self.stored.get(ev.conv_id, 0), ev.upto)
        if ev.conv_id not in self._queue:
            self._queue.append(ev.conv_id)
        self._kick()

    def recount(self) -> None:
        self._kick()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while True:
                convs = await self.app.chat.conversations()
                todo, self._queue = self._queue, []
                for conv_id in todo:
                    await self._notify(conv_id, {c.conv_id: c for c in convs})
                self._show_unread(convs)
                if not self._queue:
                    return
        except Exception as e:   # noqa: BLE001 - a notice is best effort, never an error dialog
            log.info("chat notifications: %s", e)

    async def _notify(self, conv_id: str, convs: dict) -> None:
        view = convs.get(conv_id)
        if view is None:
            return
        after = max(self.seen.get(conv_id, 0), view.read_upto)
        if view.muted or self.page.is_focused(conv_id):
            self.seen[conv_id] = max(after, self.stored.get(conv_id, 0))   # stored, never the inbox's hint
            return
        me = self.page.me
        tl = await self.app.chat.read(conv_id, after=after)
        self.seen[conv_id] = max([after] + [m.msg_id for m in tl.messages if m.msg_id is not None])
        for m in tl.messages:
            if m.status != "ok" or m.msg_id is None or m.sender == me or m.type not in ("text", "attachment"):
                continue
            mention = mentions(m.text, me)
            if mention:
                self.mention_counts[conv_id] = self.mention_counts.get(conv_id, 0) + 1
            if view.kind == "implicit" or mention:
                where = "" if view.kind == "implicit" else f" in {view.name}"
                # an exploding message's text never goes to the desktop's notification history
                await self._notice(f"{m.sender}{where}", "(an exploding message)" if m.explodes_at else m.text or "")
                self.notified += 1

    async def _notice(self, title: str, text: str) -> None:
        """The freedesktop notification service where the session has one, else the tray."""
        if not await self.desktop.notify(title, text):
            self.tray.message(title, text)

    def cleared(self, conv_id: str) -> None:
        """The conversation was read here: its mentions are no longer news."""
        self.mention_counts.pop(conv_id, None)

    def _show_unread(self, convs: list) -> None:
        n = sum(c.unread for c in convs if not c.muted)
        self.total_unread = n
        self.tray.set_unread(n)
        self.window.setWindowTitle(f"kbapp ({n} unread)" if n else "kbapp")
        self.page.unread_changed(convs, dict(self.mention_counts))
