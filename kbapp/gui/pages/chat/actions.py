"""What the Chat page does when asked: send, edit, reply, react, threads, files, retry.

A mixin of ChatPage (page.py) so that file stays about layout and live updates. Each
action is one `app.chat` call through ops.run (errors in words on the banner, the
Qt thread never waits); what it changes comes back as engine events, which reload
the timeline: the page never edits its rows by hand.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QTextCursor
from PySide6.QtWidgets import QFileDialog, QMenu

from kbapp.client.chat.delivery import deliver

from ... import ops
from ...models import ObjectRole
from .composer import files_of
from .models import build_lines

_URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)


def links(text: str) -> list[str]:
    """http(s) links in a message, as typed (trailing punctuation left out): shown in full in
    the message's menu, so what opens is what you read."""
    return [u.rstrip(".,;:!?)]}") for u in _URL.findall(text or "")]


REACTIONS = ("👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅")


def _one_line(text: str | None, n: int = 60) -> str:
    t = (text or "").replace("\n", " ")
    return t if len(t) <= n else t[:n - 1] + "…"


class ChatActions:
    # -- sending --------------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        conv = self.current
        if conv is None:
            return
        c = self.composer
        if self.editing is not None:
            target = self.editing.msg_id
            work = lambda: self.app.chat.edit(conv, target, text)   # noqa: E731
        elif self.replying is not None:
            target = self.replying.msg_id
            work = lambda: self.app.chat.send(conv, text, reply_to=target, wait=False)   # noqa: E731
        else:
            boom = c.exploding
            work = lambda: self.app.chat.send(conv, text, exploding=boom, wait=False)   # noqa: E731
        c.edit.clear()
        self.cancel_mode()
        work = self._one_at_a_time(work)

        def failed(e) -> None:
            self.banner.show_error(e, subject="send")
            if not c.edit.toPlainText():
                c.edit.setPlainText(text)        # what could not even be queued is not lost
        ops.run(self, work, key=("send", self.app.chat.ctx.rng(4).hex()), banner=self.banner, cursor=False,
                clear=False, on_error=failed)

    def _one_at_a_time(self, work):
        """Sends from this page reach the outbox one after another, in the order typed (the
        engine is safe with sends at once, but does not order two that race to its outbox).
        A send only queues (`wait=False`): the outbox posts in that order in the background,
        so typing the next message never waits for the server to answer the last one."""
        lock = self.__dict__.setdefault("_send_lock", asyncio.Lock())

        async def queued():
            async with lock:
                res = await work()                 # in the outbox, after the ones typed before
            if res is None or res.msg_id is not None or res.state != "pending":
                return res
            return await deliver(self.app.chat, conv_id, res.outbox_id)
        conv_id = self.current
        return queued

    def send_in_thread(self, text: str) -> None:
        conv, root = self.current, self.thread.root
        if conv is None or root is None:
            return
        self.thread.composer.edit.clear()
        work = self._one_at_a_time(lambda: self.app.chat.send(conv, text, thread=root, wait=False))
        ops.run(self, work, key=("thread", root), banner=self.banner, cursor=False, clear=False)

    def edit_last(self) -> None:
        m = self.model.last_own_text()
        if m is not None:
            self.start_edit(m)

    def start_edit(self, m) -> None:
        self.replying = None
        self.editing = m
        self.composer.set_mode("Editing your message (Enter saves, Escape cancels)")
        self.composer.edit.setPlainText(m.text or "")
        self.composer.edit.moveCursor(QTextCursor.MoveOperation.End)
        self.composer.edit.setFocus()

    def start_reply(self, m) -> None:
        self.editing = None
        self.replying = m
        self.composer.set_mode(f"Replying to {m.sender}: {_one_line(m.text)}")
        self.composer.edit.setFocus()

    def cancel_mode(self) -> None:
        if self.editing is not None:
            self.composer.edit.clear()
        self.editing = self.replying = None
        self.composer.set_mode("")

    # -- outbox ---------------------------------------------------------------------------------

    def retry(self, outbox_id: str) -> None:
        ops.run(self, lambda: self.app.chat.retry(outbox_id), key=("retry", outbox_id), banner=self.banner,
                cursor=False)

    def discard(self, outbox_id: str) -> None:
        """Delete a message that was never sent (the engine drops its outbox entry: never posted after)."""
        ops.run(self, lambda: self.app.chat.discard(outbox_id), key=("discard", outbox_id), banner=self.banner,
                cursor=False)

    # -- reactions, threads, deletes ------------------------------------------------------------

    def toggle_reaction(self, msg_id: int, emoji: str) -> None:
        ln = None
        for model in (self.model, self.thread.model):
            idx = model.index_of_msg(msg_id)
            ln = ln or (idx.data(ObjectRole) if idx.isValid() else None)
        mine = ln is not None and self.me in (ln.msg.reactions or {}).get(emoji, [])
        self.react(msg_id, emoji, remove=mine)

    def react(self, msg_id: int, emoji: str, *, remove: bool = False) -> None:
        conv = self.current
        ops.run(self, lambda: self.app.chat.react(conv, msg_id, emoji, remove=remove),
                key=("react", msg_id, emoji), banner=self.banner, cursor=False)

    def pick_reaction(self, msg_id: int, where) -> None:
        menu = QMenu(self)
        menu.setObjectName("reactionPicker")
        for e in REACTIONS:
            menu.addAction(e, lambda e=e: self.react(msg_id, e))
        menu.popup(where)
        self.last_menu = menu

    def delete_message(self, msg_id: int) -> None:
        conv = self.current
        ops.run(self, lambda: self.app.chat.delete(conv, msg_id), key=("delete", msg_id), banner=self.banner,
                cursor=False)

    def pin(self, msg_id: int, *, remove: bool = False) -> None:
        conv = self.current
        ops.run(self, lambda: self.app.chat.pin(conv, msg_id, remove=remove), key=("pin", msg_id),
                banner=self.banner, cursor=False)

    def open_thread(self, root: int) -> None:
        conv = self.current
        if conv is None:
            return
        self.thread.root = root
        self.thread.title.setText("Thread")
        self.thread.title.setToolTip(f"The thread of message #{root}")
        self.thread.model.conv_id, self.thread.model.thread = conv, root
        self.thread.model.clear()
        self.info.hide()
        self.thread.show()
        self.thread.composer.setEnabled(True)

        async def work():
            return await self.app.chat.read(conv, thread=root)

        def done(th) -> None:
            if self.thread.root == root and conv == self.current:
                self.thread.model.timeline = th
                self.thread.model.set_items(build_lines(th, me=self.me, badges=self.badges, in_thread=True,
                                                        now=self.clock(), images=self.image_infos))
                self.thread.view.scrollToBottom()
        ops.run(self, work, key="thread", banner=self.banner, cursor=False, on_done=done)
        self.thread.composer.edit.setFocus()

    def close_thread(self) -> None:
        self.thread.root = None
        self.thread.hide()

    # -- files ----------------------------------------------------------------------------------

    def send_file(self, path: Path) -> None:
        conv = self.current
        if conv is None:
            return
        c = self.composer
        c.upload_started()

        def progress(done: int, total: int) -> None:
            if ops.alive(c):
                c.upload_progress(done, total)
                win = self.window()
                if hasattr(win, "statusBar"):
                    win.statusBar().showMessage(f"Uploading {Path(path).name}: {int(100 * done / max(total, 1))} %",
                                                2000)

        async def work():
            try:
                return await self.app.chat.upload(conv, path, progress=progress)
            finally:
                if ops.alive(c):
                    c.upload_finished()
        self._upload = ops.run(self, work, key="upload", banner=self.banner, cursor=False)

    def cancel_upload(self) -> None:
        if self._upload is not None and not self._upload.done():
            self._upload.cancel()
        self.composer.upload_finished()
        self.banner.show_message("info", "Upload cancelled", "Nothing was sent.")

    def save_file(self, msg_id: int) -> None:
        conv = self.current
        idx = self.model.index_of_msg(msg_id)
        ln = idx.data(ObjectRole) if idx.isValid() else None
        name = ((ln.msg.attachment or {}).get("name") if ln is not None else None) or f"file-{msg_id}"
        dest, _ = QFileDialog.getSaveFileName(self, "Save the file", Path(name).name)
        if dest:
            ops.run(self, lambda: self.app.chat.download(conv, msg_id, Path(dest)), key=("save", msg_id),
                    busy=self.busy, banner=self.banner, status=f"Downloading {Path(dest).name}…")

    # -- drops ----------------------------------------------------------------------------------

    def dragEnterEvent(self, e) -> None:
        if self.current and (e.mimeData().hasUrls() or e.mimeData().hasImage()):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        files = files_of(e.mimeData())
        if self.current and files:
            self.composer.offer_file(files[0])
            e.acceptProposedAction()

    def attach_clicked(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Send a file")
        if name:
            self.composer.offer_file(Path(name))

    # -- the conversation ---------------------------------------------------------------------

    def mute_clicked(self) -> None:
        v = self.current_view
        if v is None:
            return
        ops.run(self, lambda: self.app.chat.mute(v.conv_id, not v.muted), key="mute", banner=self.banner,
                on_done=lambda _v: self.refresh())

    def menu_actions(self, ln, *, in_thread: bool = False) -> list:
        """The right-click menu of a message: (text, callback) pairs, None for a separator."""
        m = ln.msg
        acts: list = []
        if m.msg_id is not None and m.status == "ok":
            content = m.type in ("text", "attachment")      # what threads and reactions may aim at
            if not in_thread:
                acts.append(("Reply", lambda: self.start_reply(m)))
                if content or m.thread_root:
                    acts.append(("Reply in thread", lambda: self.open_thread(m.thread_root or m.msg_id)))
            for e in REACTIONS[:4] if content else ():
                acts.append((f"React {e}", lambda e=e: self.react(m.msg_id, e)))
            if ln.mine and m.type == "text" and not in_thread:
                acts.append(("Edit", lambda: self.start_edit(m)))
            if ln.mine:
                acts.append(("Delete", lambda: self.delete_message(m.msg_id)))
            if m.edited:
                acts.append(("Show edits", lambda: self.show_history(m.msg_id)))
            info = getattr(ln, "image", None)
            if info is not None and info.sensitive and info.revealed is False:
                acts.append(("Show image", lambda: self.reveal_image(m.msg_id)))
            pinned = m.msg_id in (getattr(getattr(self.model, "timeline", None), "pins", None) or [])
            acts.append(("Unpin" if pinned else "Pin", lambda: self.pin(m.msg_id, remove=pinned)))
            acts.append(None)
        if m.text:
            acts.append(("Copy text", lambda: QGuiApplication.clipboard().setText(m.text)))
            for url in links(m.text)[:5]:     # the real target, opened only on this click
                acts.append((f"Open link: {url}".replace("&", "&&"), lambda url=url: QDesktopServices.openUrl(QUrl(url))))
        if m.outbox_id and m.msg_id is None and m.status in ("pending", "failed"):   # not one sent, being stored
            if m.error_code != "CHAT_OUTBOX_REFUSED":
                acts.append(("Retry now", lambda: self.retry(m.outbox_id)))
            acts.append(("Delete (never send)", lambda: self.discard(m.outbox_id)))
        return acts

