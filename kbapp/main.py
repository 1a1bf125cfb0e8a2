"""The `kbapp` program: picks the front end, the one module above every layer.

`kbapp` alone opens the desktop app, `kbapp server` runs the server, anything else is a
CLI command (kbapp/cli/main.py). This is also where the GUI is handed its way to run a
server on this computer (`embedded_server`): the GUI never imports the server, the CLI
neither the server nor the GUI (docs/architecture.md, layers; tests/unit/test_layers.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kbapp.cli import main as cli


def add_server_command(sub) -> None:
    from kbapp.server.flags import add_server_flags

    s = sub.add_parser("server", help="run the kbapp server")
    s.add_argument("--listen", default="127.0.0.1:8470", help="HOST:PORT (default 127.0.0.1:8470)")
    s.add_argument("--db", default=None, help="SQLite path or postgresql://... URL (default: SQLite in --data-dir)")
    s.add_argument("--data-dir", type=Path, default=None, help="server key and SQLite file")
    s.add_argument("--origin", default=None, help="log origin line of checkpoints")
    add_server_flags(s)


def build_parser() -> argparse.ArgumentParser:
    return cli.build_parser(more=add_server_command)


def run_server(args) -> int:
    from kbapp.client.paths import default_server_dir
    from kbapp.server.flags import config_kwargs
    from kbapp.server.main import ServerConfig, parse_listen, serve

    host, port = parse_listen(args.listen)
    cfg = ServerConfig(data_dir=args.data_dir or default_server_dir(), host=host, port=port, db=args.db,
                       origin=args.origin, **config_kwargs(args))

    def ready(url, service):
        info = service.info()
        print(f"kbapp server listening on {url}", flush=True)
        print(f"  log origin:  {info['origin']}", flush=True)
        print(f"  key:         {info['fingerprint']}", flush=True)

    serve(cfg, ready)
    return 0


def embedded_server(data_dir: Path, port: int):
    """A server for one profile on 127.0.0.1 (SQLite in `data_dir`), not started yet:
    `.start() -> url`, `.stop()`, `.url`, `.cfg.port`, `.cfg.data_dir` (gui/session.py)."""
    from kbapp.server.main import EmbeddedServer, ServerConfig   # only profiles with their own server pay

    return EmbeddedServer(ServerConfig(data_dir=data_dir, host="127.0.0.1", port=port))


def run_gui(args) -> int:
    try:
        from kbapp.gui.main import run
    except ImportError as e:
        print(f"kbapp: the desktop app needs PySide6 and qasync ({e}); "
              "`pip install PySide6-Essentials qasync`, or see `kbapp --help` for the commands", file=sys.stderr)
        return cli.EXIT_ERROR
    return run(args.home, server_factory=embedded_server)


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, parser=build_parser(), launch={None: run_gui, "server": run_server})


if __name__ == "__main__":
    raise SystemExit(main())
