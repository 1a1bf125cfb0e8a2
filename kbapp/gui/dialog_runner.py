"""Dialogs that keep what was typed: the action runs while the dialog stays open.

A dialog that closes on OK and reports a failure on the page behind it makes the
user open it again and retype. `run_dialog` opens the dialog (never `exec()`),
runs the action on each OK with the inputs greyed out, shows a failure inside the
dialog next to the input, and closes it only after a success (or Cancel).

A dialog used here has `submitted` (a Signal emitted on OK once its own checks
pass, instead of accepting while `hold` is set), `set_busy(bool)` and
`show_error(exc)`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable


async def run_dialog(dialog, attempt: Callable[[], Awaitable[tuple[bool, Any]]]) -> tuple[bool, Any]:
    """(True, result) after an attempt succeeded (the dialog closed), (False, None) when cancelled."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future = loop.create_future()
    running: list[asyncio.Task] = []
    dialog.hold = True

    async def one() -> None:
        dialog.set_busy(True)
        try:
            ok, result = await attempt()
        finally:
            try:
                dialog.set_busy(False)
            except RuntimeError:   # the dialog went away meanwhile
                pass
        if outcome.done():
            return                 # cancelled while it ran: the page shows what happened
        if ok:
            outcome.set_result((True, result))
            dialog.accept()
        else:
            dialog.show_error(result)

    def submitted() -> None:
        if not running or running[-1].done():
            running.append(asyncio.ensure_future(one()))

    def finished(_result: int) -> None:
        if not outcome.done():
            outcome.set_result((False, None))

    dialog.submitted.connect(submitted)
    dialog.finished.connect(finished)
    dialog.open()
    return await outcome
