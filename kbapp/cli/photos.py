"""`kbapp photos ...`: index, search, tags, near-duplicates, custom concepts, watched folders, watch.

A thin shell over `app.photos` (kbapp/client/photos.py), the service the GUI uses
too: the same index (`<home>/photos/index.db`, `--home` else the platform data dir)
and the same watched folders (the profile's `photos.folders` preference), so
`kbapp photos watch` with no folder watches those set in the app. No account is
needed. Progress goes to stderr; results to stdout, as text or `--json`.
`photos models ...` is kbapp/cli/photos_models.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
import time
from pathlib import Path

from kbapp.cli import photos_models
from kbapp.cli.argv import json_flag
from kbapp.ml.origins import describe as describe_origin


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("photos", help="index and search your photos locally (tags, text, similar, concepts)")
    psub = p.add_subparsers(dest="photos_cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    json_flag(common)
    common.add_argument("--models-dir", type=Path, default=argparse.SUPPRESS, help="extra folder of models")

    s = psub.add_parser("index", parents=[common], help="index (or re-scan) folders of photos")
    s.add_argument("dirs", nargs="+", type=Path)
    s.add_argument("--ocr", action="store_true", help="also read text in photos (needs the [ocr] extra)")
    s.add_argument("--follow-symlinks", action="store_true",
                   help="also follow symlinks that lead out of these folders (not followed by default)")

    s = psub.add_parser("search", parents=[common], help="search by tag, free text, example image, filters")
    s.add_argument("query", nargs="?", default=None, help='a tag ("dog"), words, or text seen in photos')
    s.add_argument("--like", type=Path, default=None, help="only photos similar to this image (and-ed with QUERY)")
    s.add_argument("--nsfw", choices=["include", "exclude", "only"], default="include")
    s.add_argument("--folder", type=Path, default=None, help="only photos under this folder")
    s.add_argument("--since", default=None, help="taken (EXIF) or modified on/after YYYY[-MM[-DD]]")
    s.add_argument("--until", default=None, help="taken or modified before YYYY[-MM[-DD]]")
    s.add_argument("--limit", type=int, default=20)

    s = psub.add_parser("tags", parents=[common], help="the tags of one photo (analysed on the fly if not indexed)")
    s.add_argument("image", type=Path)

    s = psub.add_parser("dupes", parents=[common], help="groups of near-duplicate photos")
    s.add_argument("--threshold", type=float, default=None, help="cosine similarity (default 0.88)")

    s = psub.add_parser("concept", parents=[common], help="custom concepts: label examples, train, list")
    csub = s.add_subparsers(dest="concept_cmd", required=True)
    a = csub.add_parser("add", parents=[common], help="label photos as examples (or counter-examples) of NAME")
    a.add_argument("name")
    a.add_argument("--positive", nargs="+", type=Path, default=[], metavar="IMG")
    a.add_argument("--negative", nargs="+", type=Path, default=[], metavar="IMG")
    t = csub.add_parser("train", parents=[common], help="train NAME (cross-validated) and tag every photo")
    t.add_argument("name")
    csub.add_parser("list", parents=[common], help="concepts, their examples and quality")
    r = csub.add_parser("remove", parents=[common], help="forget a concept and its tags")
    r.add_argument("name")

    s = psub.add_parser("watch", parents=[common],
                        help="keep folders indexed until Ctrl-C (no folder: the watched folders set in the app)")
    s.add_argument("dirs", nargs="*", type=Path)
    s.add_argument("--interval", type=float, default=2.0,
                   help="seconds the folders must be quiet before a pass (default 2)")
    s.add_argument("--ocr", action="store_true")
    s.add_argument("--follow-symlinks", action="store_true",
                   help="also follow symlinks that lead out of these folders (not followed by default)")

    s = psub.add_parser("folders", parents=[common], help="the watched folders (shared with the app's Settings)")
    fsub = s.add_subparsers(dest="folders_cmd")
    fsub.add_parser("list", parents=[common], help="the watched folders (the default)")
    a = fsub.add_parser("add", parents=[common], help="watch a folder (`kbapp photos watch` or the app indexes it)")
    a.add_argument("dirs", nargs="+", type=Path)
    r = fsub.add_parser("remove", parents=[common], help="stop watching a folder and forget its photos")
    r.add_argument("dir", type=Path)
    r.add_argument("--keep-photos", action="store_true", help="keep its photos in the index (still found)")

    photos_models.add_parser(psub)
    return p


class ProgressBar:
    """One updating line on stderr (nothing when --json or stderr is not wanted)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.last = 0.0
        self.drawn = False

    def __call__(self, p) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if p.phase == "analyze" and p.done not in (0, p.total) and now - self.last < 0.1:
            return
        self.last = now
        if p.phase == "scan":
            line = "scanning..."
        elif p.total:
            width = 30
            filled = int(width * p.done / p.total)
            line = f"[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total}"
        else:
            line = f"{p.done} photos"
        sys.stderr.write("\r" + line.ljust(60))
        sys.stderr.flush()
        self.drawn = True

    def end(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False


def _dump(obj) -> None:
    from kbapp.cli.main import to_jsonable

    print(json.dumps(to_jsonable(obj), indent=2, sort_keys=True))


def _summary_text(s) -> str:
    skipped = sum(s.skipped.values())
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(s.skipped.items()))
    out = [f"indexed {s.indexed}, unchanged {s.unchanged}, skipped {skipped}{f' ({reasons})' if reasons else ''}, "
           f"removed {s.removed} in {s.seconds:.1f} s" + (f" on {s.provider}" if s.provider else "")]
    out += [f"  skipped {p}: {why}" for p, why in s.skipped_files[:20]]
    if s.cancelled:
        out.append("cancelled: run `kbapp photos index` again to finish")
    return "\n".join(out)


def shown_line(shown: int, total: int | None, limit: int) -> str:
    """What the list holds: "20 of 37 (--limit N to see more)", "5 photos", or for a similarity
    search (every photo ranks) "20 shown (--limit N for more than 20)"."""
    if total is None:
        return f"{shown} shown" + (f" (--limit N for more than {limit})" if shown >= limit else "")
    if total > shown:
        return f"{shown} of {total} (--limit N to see more)"
    return f"{shown} photo{'s' if shown != 1 else ''}"


def run(args) -> int:
    if args.photos_cmd == "models":
        return photos_models.run(args)
    # File names are bytes: one that is not UTF-8 is printed as those bytes, as `ls` does,
    # instead of ending the command (JSON escapes it as \udcXX, which json.loads round-trips).
    sys.stdout.reconfigure(errors="surrogateescape")
    return asyncio.run(_open_and_run(args))


async def _open_and_run(args) -> int:
    from kbapp.client.app import App

    async with App(args.home) as app:   # the profile's preferences; no login, no keystore
        photos = app.photos
        photos.configure(models_dir=getattr(args, "models_dir", None), ocr=bool(getattr(args, "ocr", False)))
        return await _run(photos, args, bool(getattr(args, "json", False)))


async def _run(photos, args, as_json: bool) -> int:
    cmd = args.photos_cmd
    if cmd == "index":
        bar = ProgressBar(not as_json)
        cancel = threading.Event()
        try:
            with _interrupts_set(cancel):
                s = await photos.index(args.dirs, progress=bar, cancel=cancel, follow_symlinks=args.follow_symlinks)
        finally:
            bar.end()
        _dump(s) if as_json else print(_summary_text(s))
        return 130 if cancel.is_set() else 0
    elif cmd == "search":
        hits, total = await photos.search_counted(args.query, like=args.like, nsfw=args.nsfw, folder=args.folder,
                                                  since=args.since, until=args.until, limit=args.limit)
        if as_json:
            _dump({"query": args.query, "like": str(args.like) if args.like else None, "hits": hits,
                   "total": total, "note": getattr(photos, "last_note", None)})
        else:
            if not hits:
                print("no photos found")
            # ranks, not raw scores: a fused score like 0.0164 means nothing to a person (--json has them)
            for rank, h in enumerate(hits, 1):
                came = describe_origin(getattr(h, "origin", None))      # a chat image: where it was posted
                print(f"{rank:3}. {h.path}  [{', '.join(h.tags[:4])}]  ({'; '.join(h.why[:3])})"
                      + (f"  {came}" if came else ""))
            if hits:
                print(shown_line(len(hits), total, args.limit), file=sys.stderr)
            note = getattr(photos, "last_note", None)
            if note:   # a multi-word query: how its words were combined, and when CLIP would do better
                print(note, file=sys.stderr)
    elif cmd == "tags":
        t = await photos.tags(args.image)
        if as_json:
            _dump(t)
        else:
            print(f"{t.path}: {t.width}x{t.height}" + ("" if t.indexed else " (not indexed)")
                  + (f", taken {t.taken}" if t.taken else "")
                  + (f", NSFW {t.nsfw:.3f}" if t.nsfw is not None else ""))
            for tag, score, source in t.tags:
                print(f"  {score:6.3f}  {tag}" + ("  (concept)" if source == "concept" else ""))
            if t.ocr_text:
                print(f"  text: {t.ocr_text[:200]!r}")
    elif cmd == "dupes":
        groups = await photos.dupes(args.threshold)
        if as_json:
            _dump({"groups": groups})
        else:
            if not groups:
                print("no near-duplicates")
            for i, g in enumerate(groups, 1):
                print(f"group {i} ({len(g.paths)} photos, similarity >= {g.similarity:.3f}):")
                for p in g.paths:
                    print(f"  {p}")
    elif cmd == "concept":
        return await _concept(photos, args, as_json)
    elif cmd == "folders":
        return await _folders(photos, args, as_json)
    elif cmd == "watch":
        return await _watch(photos, args, as_json)
    return 0


async def _concept(photos, args, as_json: bool) -> int:
    c = args.concept_cmd
    if c == "add":
        info = await photos.concept_add(args.name, args.positive, args.negative)
        _dump(info) if as_json else print(f"{info.name}: {info.positives} positive, {info.negatives} negative "
                                          f"examples; run `kbapp photos concept train {info.name}`")
    elif c == "train":
        r = await photos.concept_train(args.name)
        if as_json:
            _dump(r)
        else:
            print(f"{r.name}: {r.positives} positive / {r.negatives} negative examples, {r.folds}-fold "
                  f"cross-validation\n  threshold {r.threshold:.3f}: precision {r.precision:.3f}, "
                  f"recall {r.recall:.3f}, F1 {r.f1:.3f}; ROC-AUC {r.roc_auc:.3f}\n"
                  f"  tagged {r.tagged} indexed photos as {r.name!r}")
            for p in r.problems:
                print(f"  skipped example {p}")
    elif c == "list":
        items = await photos.concepts()
        if as_json:
            _dump({"concepts": items})
        else:
            if not items:
                print("no concepts")
            for i in items:
                m = i.metrics or {}
                q = (f"F1 {m.get('f1', 0):.3f}, AUC {m.get('roc_auc', 0):.3f}, {i.tagged} photos" if i.trained
                     else "not trained")
                print(f"{i.name}: {i.positives}+ / {i.negatives}-, {q}")
    elif c == "remove":
        ok = await photos.concept_remove(args.name)
        _dump({"removed": args.name, "existed": ok}) if as_json else print(
            f"removed {args.name}" if ok else f"no concept {args.name!r}")
    return 0


async def _folders(photos, args, as_json: bool) -> int:
    """`photos folders [list|add|remove]`: the list the app's Settings page shows and edits."""
    c = args.folders_cmd or "list"
    if c == "add":
        for d in args.dirs:
            folders = photos.add_folder(d)
        if as_json:
            _dump({"folders": folders})
        else:
            print("\n".join(f"watching {_norm(d)}" for d in args.dirs))
            print("run `kbapp photos watch` (or open the app) to index them", file=sys.stderr)
    elif c == "remove":
        forgotten = await photos.remove_folder(args.dir, forget=not args.keep_photos)
        if as_json:
            _dump({"removed": _norm(args.dir), "forgotten": forgotten, "folders": photos.folders()})
        else:
            print(f"stopped watching {_norm(args.dir)}" + ("; its photos stay in the index" if args.keep_photos
                                                          else f"; forgot {forgotten} of its photos"))
    else:
        present, missing = photos.watched()
        if as_json:
            _dump({"folders": photos.folders(), "missing": missing})
        else:
            if not photos.folders():
                print("no watched folders (add one: kbapp photos folders add DIR)")
            for f in photos.folders():
                print(f + ("  (not found)" if f in missing else ""))
    return 0


def _norm(d: Path) -> str:
    return str(Path(d).expanduser().resolve())


class _interrupts_set:
    """Ctrl-C and SIGTERM set `event` (a clean stop of the worker's job) instead of raising."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __enter__(self):
        def on_signal(*_):
            self.event.set()
        self.old = signal.signal(signal.SIGINT, on_signal), signal.signal(signal.SIGTERM, on_signal)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.old[0])
        signal.signal(signal.SIGTERM, self.old[1])


async def _watch(photos, args, as_json: bool) -> int:
    stop = threading.Event()
    bar = ProgressBar(not as_json)

    def update(s) -> None:
        bar.end()
        if as_json:
            print(json.dumps({"event": "indexed", "indexed": s.indexed, "unchanged": s.unchanged,
                              "removed": s.removed, "skipped": s.skipped}), flush=True)
        elif s.indexed or s.removed or sum(s.skipped.values()):
            print(f"{time.strftime('%H:%M:%S')} " + _summary_text(s), flush=True)

    folders = args.dirs or None   # None: the app's folders (photos.watch says NotFound when there is none)
    what = ", ".join(map(str, args.dirs))
    if folders is None:   # say which, on stderr with --json too (stdout is the events)
        present, missing = photos.watched()
        if missing:
            print(f"not found, skipped: {', '.join(missing)}", file=sys.stderr, flush=True)
        what = "the app's folders: " + ", ".join(map(str, present)) if present else ""
    if what and (not as_json or folders is None):
        print(f"watching {what} (every {args.interval:g} s; Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        with _interrupts_set(stop):
            await photos.watch(folders, interval=args.interval, stop=stop, on_update=update, progress=bar,
                               follow_symlinks=args.follow_symlinks)
    finally:
        bar.end()
    return 0
