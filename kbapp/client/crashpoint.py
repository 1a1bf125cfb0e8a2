"""A test hook: die at a named point, the way a kill -9 or a Ctrl-C would.

`KBAPP_TEST_CRASH_AT=before-post` makes the process SIGKILL itself when it reaches
`crash_point("before-post")`; `before-post:sigint` sends it SIGINT instead (what
Ctrl-C sends: asyncio cancels the running command at its next await). The crash
tests (tests/integration/test_crash_safety.py) run the real `kbapp` with it; unset,
it costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "KBAPP_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    where, _, how = spec.partition(":")
    if where != name:
        return
    if how == "sigint":
        os.kill(os.getpid(), signal.SIGINT)
    else:
        os.kill(os.getpid(), signal.SIGKILL)
