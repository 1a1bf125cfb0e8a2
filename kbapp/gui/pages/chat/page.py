"""The Chat page: conversations on the left, the open one in the middle, a thread or the
conversation's info on the right.

Everything it shows comes from `app.chat` (the local store, read off the Qt thread) and
moves when the engine says so: ChatMessagesChanged after a verified sync (push-fed),
ChatOutboxChanged as a message goes pending -> sent | failed. No polling, no reload on
page switches. Every name, topic and message is other people's text: painted or set as
plain text only.
"""

from __future__ import annotations

import asyncio
import time

import qasync
from PySide6.QtCore import QEvent, QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLineEdit, QListView, QMenu, QPushButton,
                               QSplitter, QVBoxLayout)

from kbapp.client.chat import readsync
from kbapp.client.chat.models import ChatMessagesChanged, ChatOutboxChanged
from kbapp.core import errors

from ... import ops
from ...models import ObjectRole
from ...plain import plain_tip
from ...widgets import Banner, label
from ..base import Page
from .actions import ChatActions
from .composer import Composer
from .inline import ChatInline
from .members import member_badges, warning_text
from .models import ConvListStyled, SearchModel, TimelineModel, build_lines, conv_items, dm_title
from .newchat import NewChatDialog
from .panels import InfoPanel, ThreadPanel, timeline_view
from .typing_line import TypingLine

class ChatPage(ChatActions, ChatInline, Page):
    def __init__(self, session, bridge, tray=None, parent=None):
        super().__init__("Chat", parent=parent)
        self.app = session.app
        self.tray = tray
        self.me = ""
        self.current: str | None = None          # the open conversation's id
        self.current_view = None                  # its ConvView
        self.loaded = False
        self.convs: list = []
        self.collapsed: set[str] = set()
        self.mention_counts: dict[str, int] = {}
        self.badges: dict[str, str] = {}
        self.members: list = []
        self.drafts: dict[str, str] = {}          # conv id -> what was typed there, unsent
        self.editing = None                        # MessageView being edited
        self.replying = None                       # MessageView replied to
        self._reloading: dict[str, asyncio.Task] = {}
        self._dirty: set[str] = set()
        self._upload: asyncio.Task | None = None
        self.notifier = None
        self.body.setContentsMargins(0, 0, 0, 0)
        self.setAcceptDrops(True)

        split = QSplitter(Qt.Horizontal)
        split.setObjectName("chatSplit")
        split.setChildrenCollapsible(False)
        self.split = split
        split.addWidget(self._build_left())
        split.addWidget(self._build_middle())
        # -- right: a thread, or the conversation's info
        self.thread = ThreadPanel("")
        self.thread.hide()
        split.addWidget(self.thread)
        self.info = InfoPanel()
        self.info.hide()
        split.addWidget(self.info)
        split.setSizes([250, 640, 320, 280])
        self.body.addWidget(split, 1)

        self._wire()
        self._setup_inline()
        self.typing_line = TypingLine(self, bridge)     # "bob is typing…" under the timeline
        self.middle.layout().insertWidget(self.middle.layout().indexOf(self.composer), self.typing_line)
        bridge.listen(ChatMessagesChanged, self._messages_changed, owner=self)
        bridge.listen(ChatOutboxChanged, self._outbox_changed, owner=self)
        bridge.listen(readsync.ChatReadChanged, self._read_elsewhere, owner=self)
        readsync.listen(self.app.chat)          # read markers from our other devices (push hints)
        self.spinner = QTimer(self)
        self.spinner.setInterval(80)
        self.spinner.timeout.connect(self._spin)
        self.clock = time.time                  # exploding messages' countdown (tests move it)
        self.ticker = QTimer(self)              # runs while an exploding message is shown
        self.ticker.setInterval(1000)
        self.ticker.timeout.connect(self._tick)

    def _build_left(self) -> QFrame:
        """Search, filter, New, the conversation list (and search results in its place)."""
        left = QFrame()
        left.setObjectName("chatLeft")
        ll = QVBoxLayout(left)
        ll.setContentsMargins(16, 0, 8, 8)
        self.search = QLineEdit()
        self.search.setObjectName("chatSearch")
        self.search.setPlaceholderText("Search messages")
        self.search.setClearButtonEnabled(True)
        self.search.returnPressed.connect(self.search_clicked)
        self.search.textChanged.connect(lambda t: self._show_results(False) if not t else None)
        ll.addWidget(self.search)
        row = QHBoxLayout()
        self.filter = QLineEdit()
        self.filter.setObjectName("chatFilter")
        self.filter.setPlaceholderText("Filter conversations")
        self.filter.textChanged.connect(lambda _t: self._relist())
        row.addWidget(self.filter, 1)
        self.new_button = QPushButton("New")
        self.new_button.setObjectName("newChatButton")
        self.new_button.setToolTip("Start a conversation with someone (bob, bob@github)")
        self.new_button.clicked.connect(self.new_chat_clicked)
        row.addWidget(self.new_button)
        ll.addLayout(row)
        self.conv_model = ConvListStyled(self)
        self.conv_list = QListView()
        self.conv_list.setObjectName("convList")
        self.conv_list.setModel(self.conv_model)
        self.conv_list.setUniformItemSizes(False)
        self.conv_list.setFrameShape(QFrame.NoFrame)
        self.conv_list.clicked.connect(self._conv_clicked)
        self.conv_list.activated.connect(self._conv_clicked)
        ll.addWidget(self.conv_list, 1)
        self.results_model = SearchModel(parent=self)
        self.results = QListView()
        self.results.setObjectName("searchResults")
        self.results.setModel(self.results_model)
        self.results.setWordWrap(True)
        self.results.clicked.connect(self._result_clicked)
        self.results.activated.connect(self._result_clicked)
        self.results.hide()
        ll.addWidget(self.results, 1)
        return left

    def _build_middle(self) -> QFrame:
        """Title, topic, Mute, Info, the identity warning, the timeline and the composer."""
        mid = QFrame()
        mid.setObjectName("chatMain")
        ml = QVBoxLayout(mid)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.setSpacing(0)
        head = QHBoxLayout()
        head.setContentsMargins(16, 0, 16, 6)
        self.conv_title = label("", "name")
        self.conv_title.setObjectName("convTitle")
        head.addWidget(self.conv_title)
        head.addSpacing(12)
        self.conv_topic = label("", "muted")
        self.conv_topic.setObjectName("convTopic")
        head.addWidget(self.conv_topic, 1)
        self.mute_button = QPushButton("Mute")
        self.mute_button.setObjectName("muteButton")
        self.mute_button.clicked.connect(self.mute_clicked)
        head.addWidget(self.mute_button)
        self.info_button = QPushButton("Info")
        self.info_button.setObjectName("infoButton")
        self.info_button.clicked.connect(self.toggle_info)
        head.addWidget(self.info_button)
        ml.addLayout(head)
        self.warning = Banner()
        self.warning.setObjectName("convWarning")
        ml.addWidget(self.warning)
        self.empty = label("Pick a conversation on the left, or start one with New.", "muted")
        self.empty.setObjectName("chatEmpty")
        self.empty.setAlignment(Qt.AlignCenter)
        ml.addWidget(self.empty, 1)
        self.model = TimelineModel(self)
        self.timeline, self.delegate = timeline_view(self.model, "", "timeline")
        self.timeline.hide()
        ml.addWidget(self.timeline, 1)
        self.composer = Composer()
        self.composer.setEnabled(False)
        ml.addWidget(self.composer)
        self.middle = mid
        return mid

    def _wire(self) -> None:
        c = self.composer
        c.sendText.connect(self.send_text)
        c.editLast.connect(self.edit_last)
        c.modeCancelled.connect(self.cancel_mode)
        c.sendFile.connect(self.send_file)
        c.cancelUpload.connect(self.cancel_upload)
        c.attachClicked.connect(self.attach_clicked)
        for view, d in ((self.timeline, self.delegate), (self.thread.view, self.thread.delegate)):
            d.retryClicked.connect(self.retry)
            d.discardClicked.connect(self.discard)
            d.reactionClicked.connect(self.toggle_reaction)
            d.addReactionClicked.connect(self.pick_reaction)
            d.threadClicked.connect(self.open_thread)
            d.quoteClicked.connect(self.jump_to)
            d.fileClicked.connect(self.save_file)
            view.customContextMenuRequested.connect(lambda pos, v=view: self._menu(v, pos))
        self.timeline.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.thread.closed.connect(self.close_thread)
        self.thread.composer.sendText.connect(self.send_in_thread)
        self.info.closed.connect(self.info.hide)
        self.info.files.itemActivated.connect(lambda it: self.save_file(it.data(Qt.UserRole))
                                              if it.data(Qt.UserRole) is not None else None)

    # -- life cycle ---------------------------------------------------------------------------

    def shown(self) -> None:
        """First visit: the conversations (and a sync of the server's inbox) in the background."""
        if not self.loaded:
            self.refresh(sync=True)
        elif self.current:
            self.mark_read()

    def refresh_clicked(self) -> None:
        self.refresh(sync=True)

    def refresh(self, *, sync: bool = False) -> asyncio.Task:
        async def work():
            if not self.me:
                self.me = (await self.app.status()).username or ""
                for d in (self.delegate, self.thread.delegate):
                    d.me = self.me
            convs = await self.app.chat.conversations()
            if sync:
                self._set_convs(convs)     # what is here shows at once; the sync adds to it
                await self._sync_teams()
                convs = await self.app.chat.conversations(sync=True)
            return convs

        return ops.run(self, work, key="convs", busy=self.busy, banner=self.banner, cursor=False, clear=False,
                       on_done=self._set_convs)

    async def _sync_teams(self) -> None:
        """Channels of the teams we are in (each team verified; the server's list is a hint)."""
        try:
            teams = await self.app.list_teams()
        except Exception:    # noqa: BLE001 - the list still shows what this device knows
            return
        for t in teams:
            name = getattr(t, "name", "")
            if name and not getattr(t, "implicit", False) and "," not in name:
                try:
                    await self.app.chat.channels(name)
                except Exception:   # noqa: BLE001 - one team's trouble must not hide the others
                    continue

    def _set_convs(self, convs: list) -> None:
        self.convs = list(convs)
        self.loaded = True
        self._relist()
        if self.current:
            self.current_view = next((c for c in self.convs if c.conv_id == self.current), self.current_view)
            self._show_header()

    def _relist(self) -> None:
        self.conv_model.set_items(conv_items(self.convs, collapsed=self.collapsed, needle=self.filter.text(),
                                             mentions=self.mention_counts, me=self.me))
        if self.current:
            r = self.conv_model.row_of(self.current)
            if r >= 0:
                self.conv_list.setCurrentIndex(self.conv_model.index(r))

    def unread_changed(self, convs: list, mentions: dict) -> None:
        """The notifier's count: the list's numbers and @ badges follow."""
        self.mention_counts = mentions
        self._set_convs(convs)

    def is_focused(self, conv_id: str) -> bool:
        """The conversation is in front of the user (no notice for it)."""
        win = self.window()
        return (self.current == conv_id and self.isVisible() and win is not None and win.isActiveWindow()
                and not win.isMinimized())

    # -- choosing a conversation ----------------------------------------------------------------

    def _conv_clicked(self, index: QModelIndex) -> None:
        it = index.data(ObjectRole)
        if it is None:
            return
        if it.header:
            self.collapsed ^= {it.group}
            self._relist()
            return
        self.open_conv(it.conv.conv_id)

    def open_conv(self, conv_id: str) -> None:
        if conv_id == self.current and self.timeline.isVisible():
            return
        if self.current is not None:
            self.drafts[self.current] = self.composer.edit.toPlainText()
        self.current = conv_id
        self.current_view = next((c for c in self.convs if c.conv_id == conv_id), None)
        self.cancel_mode()
        self.composer.edit.setPlainText(self.drafts.pop(conv_id, ""))
        self.close_thread()
        self.model.conv_id, self.model.limit = conv_id, TimelineModel.PAGE
        self.model.clear()
        self.image_infos, self._rechecks, self._image_tries = {}, 0, {}
        self._show_sensitive()                    # this conversation's choice, greyed until read
        self.badges, self.members = {}, []
        self.warning.clear()
        self.empty.hide()
        self.timeline.show()
        self.composer.setEnabled(True)
        self._show_header()
        self._relist()
        self.reload(conv_id, bottom=True)
        self.load_members(conv_id)
        self.catch_up(conv_id)
        self.composer.edit.setFocus()

    def catch_up(self, conv_id: str) -> None:
        """Fetch what the server has that this device missed (a new conversation, a lost hint):
        once per opening; after that, push hints bring the rest. A team whose hints we do not
        hear yet (its conversation was new here) gets the push channel reconnected with it."""
        view = self.current_view

        async def work():
            await self.app.chat.sync_conv(conv_id)
            sync = getattr(self.app, "sync", None)
            if view is not None and sync is not None and f"team:{view.team_id}" not in sync.topics:
                sync.resubscribe()

        def failed(e: BaseException) -> None:
            if not isinstance(e, errors.NotFound):        # a conversation nobody wrote in yet
                self.banner.show_error(e, subject="chat")

        def done(_r) -> None:
            self.reload(conv_id)
            if conv_id == self.current and self.isVisible():
                self.mark_read()
        ops.run(self, work, key=("catch-up", conv_id), cursor=False, on_error=failed, on_done=done)

    async def open_named(self, name: str) -> None:
        """Open (and if need be make) the conversation a name means: `alice,bob`, `acme#general`."""
        async def work():
            row = await self.app.chat.conv(name, create=True)
            return row.conv_id, await self.app.chat.conversations()

        def done(got) -> None:
            conv_id, convs = got
            self._set_convs(convs)
            self.open_conv(conv_id)
        await ops.run(self, work, key="open", busy=self.busy, banner=self.banner, on_done=done)

    async def message_person(self, username: str) -> None:
        """The direct conversation with `username` (Ctrl+K's "Message bob")."""
        me = self.me or (await self.app.status()).username or ""
        await self.open_named(",".join(sorted({me, username})))

    def _show_header(self) -> None:
        v = self.current_view
        self.conv_title.setText(("" if not v else dm_title(v.name, self.me) if v.kind == "implicit" else v.name))
        self.conv_title.setToolTip(plain_tip(v.name) if v else "")
        self.conv_topic.setText(v.topic if v and v.topic else "")
        self.mute_button.setText("Unmute" if v and v.muted else "Mute")
        self.info.topic.setText(f"Topic: {v.topic}" if v and v.topic else "No topic")

    # -- the timeline ---------------------------------------------------------------------------

    def _messages_changed(self, ev: ChatMessagesChanged) -> None:
        if ev.conv_id == self.current:
            self.reload(ev.conv_id)
            if self.isVisible():
                self.mark_read()
        if self.notifier is None:
            self.refresh()

    def _read_elsewhere(self, ev) -> None:
        """Another device of ours read a conversation: counts and badges follow."""
        if self.notifier is not None:
            self.notifier.cleared(ev.conv_id)
            self.notifier.recount()
        else:
            self.refresh()

    def _outbox_changed(self, ev: ChatOutboxChanged) -> None:
        if ev.conv_id == self.current:
            self.reload(ev.conv_id, bottom=ev.state == "pending")

    def reload(self, conv_id: str, *, bottom: bool = False) -> None:
        """Read the open conversation again; reloads asked for meanwhile fold into one more."""
        task = self._reloading.get(conv_id)
        if task is not None and not task.done():
            self._dirty.add(conv_id)
            return
        self._reloading[conv_id] = asyncio.ensure_future(self._reload(conv_id, bottom))

    async def _reload(self, conv_id: str, bottom: bool) -> None:
        while True:
            self._dirty.discard(conv_id)
            try:
                tl = await self.app.chat.read(conv_id, limit=self.model.limit)
                th = (await self.app.chat.read(conv_id, thread=self.thread.root)
                      if self.thread.root is not None and self.thread.isVisible() else None)
                await self._read_images(conv_id, tl)
            except Exception as e:    # noqa: BLE001 - shown in words
                if ops.alive(self.banner):
                    self.banner.show_error(e, subject="chat")
                return
            if not ops.alive(self) or conv_id != self.current:
                return
            self._apply(tl, th, bottom)
            bottom = False
            if conv_id not in self._dirty:
                return
            await asyncio.sleep(0.05)     # a burst of arrivals: one more read for all of them

    def _apply(self, tl, th, bottom: bool) -> None:
        sb = self.timeline.verticalScrollBar()
        at_bottom = bottom or sb.value() >= sb.maximum() - 8
        self.model.timeline = tl
        self.model.set_items(build_lines(tl, me=self.me, badges=self.badges, now=self.clock(),
                                         images=self.image_infos))
        if th is not None:
            self.thread.model.timeline = th
            self.thread.model.set_items(build_lines(th, me=self.me, badges=self.badges, in_thread=True,
                                                    now=self.clock(), images=self.image_infos))
        exploding = any(getattr(ln.msg, "explodes_at", None) for ln in self.model.items + self.thread.model.items)
        self.ticker.start() if exploding else self.ticker.stop()
        busy = any(ln.msg is not None and ln.msg.status in ("pending", "sending") and not ln.msg.error
                   for ln in self.model.items + self.thread.model.items)
        self.spinner.start() if busy else self.spinner.stop()
        if self.info.isVisible():
            self.info.show_files(self.model.items)
            self.info.show_pins(tl, self.model.items)
        if at_bottom:
            self.timeline.scrollToBottom()
            QTimer.singleShot(0, lambda: self.timeline.scrollToBottom() if ops.alive(self.timeline) else None)

    def _tick(self) -> None:
        """Exploding messages: the countdown moves, and what reached zero leaves the view."""
        now = self.clock()
        for model, view, d, thread in ((self.model, self.timeline, self.delegate, False),
                                       (self.thread.model, self.thread.view, self.thread.delegate, True)):
            d.clock = self.clock
            if model.timeline is not None and any(0 < (getattr(ln.msg, "explodes_at", None) or 0) <= now
                                                  for ln in model.items):
                model.set_items(build_lines(model.timeline, me=self.me, badges=self.badges, in_thread=thread,
                                            now=now, images=self.image_infos))
            view.viewport().update()

    def _spin(self) -> None:
        for d, v in ((self.delegate, self.timeline), (self.thread.delegate, self.thread.view)):
            d.spin = (d.spin + 1) % 12
            v.viewport().update()

    def _scrolled(self, value: int) -> None:
        """At the top: older history, keeping the rows in view where they are."""
        if value > 0 or not self.current or not self.model.wants_older():
            return
        if (t := self._reloading.get(self.current)) is not None and not t.done():
            return
        sb = self.timeline.verticalScrollBar()
        from_bottom = sb.maximum() - sb.value()
        self.model.limit += TimelineModel.PAGE

        async def older(conv_id=self.current):
            await self._reload(conv_id, False)
            sb.setValue(sb.maximum() - from_bottom)
        self._reloading[self.current] = asyncio.ensure_future(older())

    def jump_to(self, msg_id: int) -> None:
        """Show a message (a reply's target, a search hit), loading older history if needed."""
        idx = self.model.index_of_msg(msg_id)
        if idx.isValid():
            self.timeline.scrollTo(idx, QListView.PositionAtCenter)
            self.timeline.setCurrentIndex(idx)
            return
        oldest = self.model.oldest_id()
        if self.current and oldest is not None and msg_id < oldest:
            self.model.limit += (oldest - msg_id) + 20

            async def then(conv_id=self.current):
                await self._reload(conv_id, False)
                idx2 = self.model.index_of_msg(msg_id)
                if idx2.isValid():
                    self.timeline.scrollTo(idx2, QListView.PositionAtCenter)
                    self.timeline.setCurrentIndex(idx2)
            self._reloading[self.current] = asyncio.ensure_future(then())

    @qasync.asyncSlot()
    async def mark_read(self) -> None:
        if self.current is None:
            return
        conv_id = self.current
        if self.notifier is not None:
            self.notifier.cleared(conv_id)
        try:
            await readsync.mark_read(self.app.chat, conv_id)     # and told to our other devices
        except Exception:   # noqa: BLE001 - a read marker is best effort
            return
        if self.notifier is not None:
            self.notifier.recount()

    # -- members (badges, completion) -----------------------------------------------------------

    def load_members(self, conv_id: str) -> None:
        view = self.current_view
        if view is None:
            return

        senders = {ln.msg.sender for ln in self.model.items if ln.msg is not None and ln.msg.sender}

        async def work():
            members, team_error = await member_badges(self.app, view, senders, self.me)
            chans = [c.channel for c in await self.app.chat.conversations() if c.team_id == view.team_id]
            return members, team_error, chans

        def done(got) -> None:
            members, team_error, chans = got
            if conv_id != self.current:
                return
            self.members = members
            self.badges = {m.username: m.badge for m in self.members}
            if text := warning_text(members, team_error):
                self.warning.show_message("error", "Identity warning", text)
            self.composer.edit.members = [m.username for m in self.members if m.username != self.me]
            self.composer.edit.channels = [c for c in chans if view.kind == "team"]
            self.thread.composer.edit.members = self.composer.edit.members
            self.info.title.setText(view.name)
            self.info.show_members(self.members)
            self.reload(conv_id)

        ops.run(self, work, key="members", cursor=False, banner=self.warning, clear=False, on_done=done)

    def toggle_info(self) -> None:
        if self.info.isVisible():
            self.info.hide()
            return
        self.info.show_members(self.members)
        self.info.show_files(self.model.items)
        self.info.show_pins(self.model.timeline, self.model.items)
        self.info.show()

    # -- drops, search, new chat ---------------------------------------------------------------

    @qasync.asyncSlot()
    async def search_clicked(self) -> None:
        q = self.search.text().strip()
        if not q:
            self._show_results(False)
            return

        def done(hits) -> None:
            self.results_model.replace(hits)
            self._show_results(True)
        await ops.run(self, lambda: self.app.chat.search(q), key="search", busy=self.busy, banner=self.banner,
                      on_done=done)

    def _show_results(self, on: bool) -> None:
        self.results.setVisible(on)
        self.conv_list.setVisible(not on)
        self.filter.setVisible(not on)

    def _result_clicked(self, index: QModelIndex) -> None:
        hit = index.data(ObjectRole)
        if hit is None:
            return
        self.open_conv(hit.conv_id)

        async def then(conv_id=hit.conv_id):
            t = self._reloading.get(conv_id)
            if t is not None:
                await asyncio.shield(t)
            self.jump_to(hit.msg_id)
        asyncio.ensure_future(then())

    def new_chat_clicked(self) -> None:
        dlg = NewChatDialog(self.app, self.me, self)
        self.new_dialog = dlg
        dlg.started.connect(lambda name: asyncio.ensure_future(self.open_named(name)))
        dlg.open()

    def changeEvent(self, e) -> None:
        super().changeEvent(e)
        if e.type() == QEvent.ActivationChange and self.current and self.isVisible():
            self.mark_read()

    def _menu(self, view, pos) -> None:
        idx = view.indexAt(pos)
        ln = idx.data(ObjectRole) if idx.isValid() else None
        if ln is None or ln.msg is None:
            return
        menu = QMenu(self)
        for action in self.menu_actions(ln, in_thread=view is self.thread.view):
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action[0], action[1])
        menu.popup(view.viewport().mapToGlobal(pos))
        self.last_menu = menu

