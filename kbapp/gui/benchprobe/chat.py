"""`kbapp bench chat-gui`, measured: the Chat page's timeline view and model in a window, fed
verified messages at a steady rate, then scrolled through a long conversation frame by frame.
Runs in the bench's own process (kbapp/bench/chat_gui.py prints the report)."""

from __future__ import annotations

import asyncio
import os
import time

from kbapp.gui.benchprobe.loopmeter import gaps_during

RATE, SECONDS, SCROLL_ROWS, TIMER_MS = 100, 20, 10_000, 5


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _messages(n: int, start: int = 1) -> list:
    from kbapp.client.chat.models import MessageView

    t0 = int(time.time()) - 3 * 86400
    senders = ("alice", "bob", "carol", "dave")
    return [MessageView(msg_id=i, sender=senders[(i // 3) % 4], type="text",
                        text=f"message {i}: " + "lorem ipsum dolor sit amet " * (1 + i % 5),
                        ctime=t0 + i * 20, status="ok", reactions={"👍": ["bob"]} if i % 7 == 0 else {},
                        replies=2 if i % 11 == 0 else 0, reply_to=i - 1 if i % 13 == 0 else None)
            for i in range(start, start + n)]


def _timeline(msgs: list):
    from kbapp.client.chat.models import ConvTimeline, ConvView

    conv = ConvView("alice,bob", "c" * 32, "t" * 32, "implicit", "general", "", 0, False, 0, 0)
    return ConvTimeline(conv, msgs, [])


def _stats(gaps: list[float]) -> dict:
    ms = sorted(g * 1000 for g in gaps)
    if not ms:
        return {"ticks": 0, "max_ms": 0.0, "p99_ms": 0.0}
    return {"ticks": len(ms), "max_ms": round(ms[-1], 1), "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 1),
            "over_50ms": sum(g > 50 for g in ms)}


async def _arrivals(view, model, seconds: float) -> dict:
    from kbapp.gui.pages.chat.models import build_lines

    msgs: list = []
    state = {"running": False, "dirty": False, "reloads": 0}

    async def reload() -> None:
        state["running"] = True
        while True:
            state["dirty"] = False
            await asyncio.sleep(0)                     # the engine's read, off this thread
            sb = view.verticalScrollBar()
            at_bottom = sb.value() >= sb.maximum() - 8
            model.set_items(build_lines(_timeline(msgs[-model.limit:]), me="alice"))
            state["reloads"] += 1
            if at_bottom:
                view.scrollToBottom()
            if not state["dirty"]:
                break
            await asyncio.sleep(0.05)                  # as the page: a burst is one more read
        state["running"] = False

    async def feed() -> None:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            due = int((time.perf_counter() - start) * RATE)
            if due > n:
                msgs.extend(_messages(due - n, n + 1))
                n = due
                if state["running"]:
                    state["dirty"] = True
                else:
                    asyncio.ensure_future(reload())
            await asyncio.sleep(1 / RATE)

    gaps, _, took = await gaps_during(feed(), TIMER_MS)
    return dict(_stats(gaps), messages=len(msgs), reloads=state["reloads"], seconds=round(took, 1))


def _scroll(view, model, rows: int) -> dict:
    from PySide6.QtWidgets import QApplication

    from kbapp.gui.pages.chat.models import build_lines

    before = _rss_mb()
    t = time.perf_counter()
    model.limit = rows
    model.set_items(build_lines(_timeline(_messages(rows)), me="alice"))
    sb = view.verticalScrollBar()
    sb = view.verticalScrollBar()
    view.doItemsLayout()
    last, same = -1, 0
    while same < 50:                                    # batched layout: until every row is measured
        QApplication.processEvents()
        time.sleep(0.001)
        same = same + 1 if sb.maximum() == last else 0
        last = sb.maximum()
    load_s = time.perf_counter() - t
    frames = []
    sb.setValue(0)
    step = max(1, view.viewport().height())
    v = 0
    while v <= sb.maximum():
        t = time.perf_counter()
        sb.setValue(v)
        view.viewport().repaint()
        frames.append(time.perf_counter() - t)
        v += step
    grown = _rss_mb() - before
    worst = max(range(len(frames)), key=frames.__getitem__) if frames else -1
    fr = sorted(f * 1000 for f in frames)
    return {"rows": model.rowCount(), "load_ms": round(load_s * 1000, 1), "frames": len(fr),
            "max_frame_ms": round(fr[-1], 1) if fr else 0.0,
            "p99_frame_ms": round(fr[int(len(fr) * 0.99) - 1], 1) if fr else 0.0,
            "slowest_frame_index": worst, "memory_growth_mb": round(grown, 1)}


def run_all(quick: bool) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "xcb")
    import qasync
    from PySide6.QtGui import QGuiApplication

    from kbapp.gui.main import setup_application
    from kbapp.gui.pages.chat.models import TimelineModel
    from kbapp.gui.pages.chat.panels import timeline_view

    app = setup_application([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    model = TimelineModel()
    view, _delegate = timeline_view(model, "alice", "benchTimeline")
    view.resize(900, 700)
    view.show()
    seconds = 5 if quick else SECONDS
    rows = 2000 if quick else SCROLL_ROWS
    with loop:
        arrivals = loop.run_until_complete(_arrivals(view, model, seconds))
    scroll = _scroll(view, model, rows)
    return {"benchmark": "chat-gui", "quick": quick, "platform": QGuiApplication.platformName(),
            "rate_per_s": RATE, "goal_ms": 50, "goal_memory_mb": 100,
            "arrivals": arrivals, "scroll": scroll,
            "what": "the page's own work on the Qt thread (rows rebuilt and diffed, painted); "
                    "the engine's verify and store are off this thread and measured by `kbapp bench chat`"}
