"""`kbapp bench chat-gui [--quick] [--json]`: what the Chat page costs the GUI thread.

The page's own work, with the engine's part taken as given (its reads run off the Qt
thread; kbapp bench chat measures them): verified messages (as the engine's fold hands
them over) arrive at 100 per second for 20 s in the open conversation and the page
rebuilds and diffs its rows the way a ChatMessagesChanged does (a 200-message window,
reloads folded together while one runs); then a 10,000-message conversation is scrolled
top to bottom one viewport at a time, each frame painted synchronously. Numbers: the
longest event-loop stall while messages arrive (goal < 50 ms), the slowest frame while
scrolling (goal < 50 ms) and the memory the 10,000 rows added (goal < 100 MB).
Synthetic senders and texts; offscreen unless a display is there.
"""

from __future__ import annotations

import json
import sys


def run_chat_gui_bench(args) -> int:
    from kbapp.gui.benchprobe.chat import RATE, run_all

    report = run_all(bool(getattr(args, "quick", False)))
    if getattr(args, "json", False):
        print(json.dumps(report))
    else:
        a, s = report["arrivals"], report["scroll"]
        print(f"{a['messages']} messages at {RATE}/s in {a['seconds']} s: longest loop stall {a['max_ms']} ms "
              f"(p99 {a['p99_ms']} ms, {a['reloads']} reloads; goal < 50 ms)")
        print(f"scrolling {s['rows']} rows in {s['frames']} frames: slowest {s['max_frame_ms']} ms "
              f"(p99 {s['p99_frame_ms']} ms; goal < 50 ms); rows loaded in {s['load_ms']} ms; "
              f"memory +{s['memory_growth_mb']} MB (goal < 100 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(run_chat_gui_bench(type("A", (), {"quick": "--quick" in sys.argv, "json": "--json" in sys.argv})))
