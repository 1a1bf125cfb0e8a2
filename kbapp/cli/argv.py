"""Command-line conveniences every command shares.

`--json` and `--home DIR` are options of `kbapp` itself, but people type them after
the subcommand too (`kbapp status --json`): they are moved to the front before
argparse sees them. Nothing after `--` moves, and an option's value is never taken
for one (`--home --json` keeps "--json" as the folder name, as argparse would).

`quiet_broken_pipe` ends a command whose reader went away (`kbapp photos search | head`)
without a traceback, as other Unix tools do (exit status 141, 128 + SIGPIPE).
"""

from __future__ import annotations

import argparse
import os
import sys

GLOBAL_FLAGS = ("--json",)
GLOBAL_WITH_VALUE = ("--home",)
EXIT_BROKEN_PIPE = 141


def hoist_global_options(argv: list[str]) -> list[str]:
    """`argv` with the global options moved before the subcommand (order otherwise kept)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest.extend(argv[i:])
            break
        if a in GLOBAL_FLAGS:
            if a not in front:
                front.append(a)
        elif a in GLOBAL_WITH_VALUE and i + 1 < len(argv):
            front.extend([a, argv[i + 1]])
            i += 1
        elif any(a.startswith(f"{opt}=") for opt in GLOBAL_WITH_VALUE):
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest


def quiet_broken_pipe() -> int:
    """Call from `except BrokenPipeError`: stdout goes to /dev/null (so the interpreter's final
    flush cannot fail again) and the exit status says SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


def json_flag(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`--json` on a subcommand too (`kbapp team list --json`); SUPPRESS keeps the global value
    when it is not given there."""
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON")
    return p
