"""Where profiles live: the platform data dir, or `--home` for a separate one."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "kbapp"


def default_home() -> Path:
    env = os.environ.get("KBAPP_HOME")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP)) / "profile"


def default_server_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP)) / "server"
