"""A wheel (non-editable install) carries everything the app reads outside the code:
each file under resources/ and ui/ is matched by a `[tool.setuptools.data-files]` glob
that lands it where kbapp/gui/assets.py and kbapp/ml/registry.py look (share/kbapp/)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_resource_and_form_ships_in_the_wheel():
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped: dict[str, set[str]] = {}
    for dest, globs in data_files.items():
        for pattern in globs:
            for f in ROOT.glob(pattern):
                if f.is_file():
                    shipped.setdefault(f.relative_to(ROOT).as_posix(), set()).add(dest)
    wanted = [f.relative_to(ROOT).as_posix() for top in ("resources", "ui") for f in (ROOT / top).rglob("*")
              if f.is_file() and not f.name.startswith(".")]
    missing = [f for f in wanted if f not in shipped]
    assert not missing, f"not in any data-files glob: {missing}"
    # and each lands under share/kbapp/<same folder>, the place the app looks
    wrong = [f for f in wanted if "share/kbapp/" + f.rsplit("/", 1)[0] not in shipped[f]]
    assert not wrong, f"shipped to the wrong folder: {wrong}"
