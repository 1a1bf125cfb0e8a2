"""What `kbapp bench gui|photos-gui|files-gui|chat-gui` measure inside a Qt window.

Each module here runs in a child process the bench (kbapp/bench) starts, shows the real
window or page, and prints its raw measurements (timer tick gaps, paint times, counts) as
one JSON line; the bench sets up servers and baselines and computes the statistics. Kept
in the GUI layer so that only kbapp/gui imports Qt (docs/architecture.md, layers).
"""
