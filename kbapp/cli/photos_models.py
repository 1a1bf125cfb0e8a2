"""`kbapp photos models list|pull|remove`: the models the photo pipeline uses.

`list` shows installed models (shipped in resources/models, pulled into the user's
data folder, or shipped by a Python package) and, with `--hub URL`, what a hub
offers. `pull NAME --hub URL` downloads a model (a CLIP pair, Immich's layout),
checks every file's size and sha256 against the hub's manifest and installs it
atomically (kbapp/ml/hub.py). The `photos` command (kbapp/cli/photos.py) mounts
this as its `models` sub-command with `add_parser`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from kbapp.cli.argv import json_flag


def add_parser(photos_sub) -> argparse.ArgumentParser:
    """Add `models {list,pull,remove}` to the `photos` sub-parsers."""
    m = photos_sub.add_parser("models", help="list, pull or remove photo models (CLIP for text-to-image search)")
    msub = m.add_subparsers(dest="models_cmd", required=True)
    ls = msub.add_parser("list", help="installed models, and what a hub offers")
    ls.add_argument("--hub", default=None, help="model hub URL (default: $KBAPP_MODEL_HUB)")
    pl = msub.add_parser("pull", help="download, verify (sha256) and install a model")
    pl.add_argument("name")
    pl.add_argument("--hub", default=None, help="model hub URL (default: $KBAPP_MODEL_HUB)")
    pl.add_argument("--manifest-sha256", default=None,
                    help="pin the model's manifest (a hash published out of band): refuse any other")
    rm = msub.add_parser("remove", help="remove a pulled model")
    rm.add_argument("name")
    for p in (m, ls, pl, rm):
        p.add_argument("--models-dir", type=Path, default=argparse.SUPPRESS,
                       help="folder for pulled models (default: the platform data dir; $KBAPP_MODELS_HOME)")
        json_flag(p)
    return m


def run(args) -> int:
    """Run `photos models ...` (no profile or server needed). Typed errors propagate to main()."""
    from kbapp.ml import hub

    as_json = bool(getattr(args, "json", False))
    models_dir = getattr(args, "models_dir", None)
    if args.models_cmd == "list":
        hub_url = args.hub or hub.default_hub()
        infos = hub.list_models(hub_url, models_dir=models_dir)
        if as_json:
            print(json.dumps({"models": [asdict(i) for i in infos], "hub": hub_url}, indent=2, sort_keys=True))
        else:
            for i in infos:
                state = "installed" if i.installed else "available"
                size = f"{i.size / 1e6:.1f} MB" if i.size else "-"
                print(f"{i.name:<24} {i.task:<11} {state:<10} {size:>10}  {i.where or i.description or ''}")
        return 0
    if args.models_cmd == "pull":
        def progress(path: str, n: int) -> None:
            if not as_json:
                print(f"  {path}: {n:,} bytes, sha256 ok", file=sys.stderr)

        folder = hub.pull(args.name, args.hub, dest_dir=models_dir, progress=progress,
                          manifest_sha256=args.manifest_sha256)
        if as_json:
            print(json.dumps({"installed": args.name, "path": str(folder)}))
        else:
            print(f"installed {args.name} in {folder}")
        return 0
    if args.models_cmd == "remove":
        hub.remove(args.name, dest_dir=models_dir)
        if as_json:
            print(json.dumps({"removed": args.name}))
        else:
            print(f"removed {args.name}")
        return 0
    raise SystemExit(f"unknown models command {args.models_cmd!r}")
