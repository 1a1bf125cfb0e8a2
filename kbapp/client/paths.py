"""Where profiles live: the platform data dir, or `--home` for a separate one.

A profile holds the device's trusted state, its keystore file and a photo index of
the user's pictures: nobody else on the machine should read any of it. So its folders
are 0700 and its files 0600, whatever the umask, and an existing profile made with
looser modes is tightened when it is opened (POSIX only; Windows profiles live under
the user's own ACL'd AppData).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

# The modes themselves are one rule with the photo index's (ml/private_files.py).
from kbapp.ml.private_files import private_dir, private_file  # noqa: F401 - re-exported

APP = "kbapp"


def default_home() -> Path:
    env = os.environ.get("KBAPP_HOME")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP)) / "profile"


def default_server_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP)) / "server"
