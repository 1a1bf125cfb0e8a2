"""The Chat page queues sends (issue 15): several messages typed in a row go into the outbox at
once, in the order typed, without waiting for the server to answer each one; they go out in
that order when it does. The server here is a real listening socket that never answers (a
stalled server), then the real embedded server again on the same port.
"""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlparse

from chat_gui_support import line_with, open_dm, texts, type_and_enter
from gui_support import TIMEOUT_MS

N = 4


def test_several_sends_queue_at_once_and_go_out_in_the_order_typed(qtbot, alice_window, run):
    wa, url = alice_window
    qtbot.waitUntil(lambda: wa.shell.chat.loaded, timeout=TIMEOUT_MS)
    wa.shell.go("chat")
    a = wa.shell.chat
    open_dm(qtbot, run, a, "alice,bob")
    server = wa.session.server
    run(asyncio.get_running_loop().run_in_executor(None, server.stop))
    hole = socket.socket()
    hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hole.bind(("127.0.0.1", urlparse(url).port))
    hole.listen(64)                                   # connections are taken, never answered
    try:
        t0 = time.monotonic()
        for i in range(N):
            type_and_enter(qtbot, a.composer.edit, f"queued {i}")
        qtbot.waitUntil(lambda: all(line_with(a, f"queued {i}") is not None for i in range(N)), timeout=5000)
        took = time.monotonic() - t0
        assert [t for t in texts(a) if t.startswith("queued")] == [f"queued {i}" for i in range(N)]
        assert all(line_with(a, f"queued {i}").msg.msg_id is None for i in range(N))
        assert took < 5, took
    finally:
        hole.close()
    run(asyncio.get_running_loop().run_in_executor(None, server.start))
    a.app.chat.outbox.wake()
    qtbot.waitUntil(lambda: all((ln := line_with(a, f"queued {i}")) is not None and ln.msg.status == "ok"
                                for i in range(N)), timeout=TIMEOUT_MS)
    ids = [line_with(a, f"queued {i}").msg.msg_id for i in range(N)]
    assert ids == sorted(ids), ids                    # posted in the order typed
