"""The watched folders are the app's, from the CLI too: a folder added through `app.photos` (what
the Settings page calls) is watched by `kbapp photos watch` with no folder argument, and
`kbapp photos folders remove` forgets its photos. Real processes, the real model, a profile
with no account in a temporary --home; file-system events (watchfiles), bounded waits."""

import asyncio
import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from photo_support import copy_photos, dev_items, need_model

from kbapp.client.app import App

ROOT = Path(__file__).resolve().parents[2]
WAIT = 120   # seconds for one watcher event (the first pass loads the model)


def kbapp(home: Path, *args) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "kbapp", "--home", str(home), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return p


def js(home: Path, *args) -> dict:
    return json.loads(kbapp(home, *args, "--json").stdout)


class Lines:
    """A process's output lines, read in a thread, so that each wait has a deadline."""

    def __init__(self, stream):
        self.q: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.q.put(line)
        self.q.put(None)

    def next(self, timeout: float = WAIT) -> str:
        line = self.q.get(timeout=timeout)
        assert line is not None, "the process ended"
        return line


def test_watch_with_no_folder_watches_the_apps_folders_and_remove_forgets(tmp_path, monkeypatch):
    need_model()
    monkeypatch.setenv("KBAPP_KEYSTORE", "memory")
    src = [p for p, _ in dev_items()[:3]]
    home, folder, other = tmp_path / "home", tmp_path / "pics", tmp_path / "other"
    copy_photos(src[:1], folder)
    copy_photos(src[2:], other)

    async def add_in_the_app():
        async with App(home) as app:
            app.photos.add_folder(folder)       # as the Settings page does
    asyncio.run(add_in_the_app())
    assert js(home, "photos", "folders", "list")["folders"] == [str(folder.resolve())]
    js(home, "photos", "index", str(other))     # indexed, not watched: must survive the forgetting

    proc = subprocess.Popen([sys.executable, "-m", "kbapp", "--home", str(home), "photos", "watch",
                             "--interval", "0.2", "--json"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        assert f"watching the app's folders: {folder.resolve()} " in err.next()   # says which
        first = json.loads(out.next())
        assert (first["event"], first["indexed"], first["unchanged"]) == ("indexed", 1, 0)
        copy_photos(src[1:2], folder)            # a new photo dropped in the app's folder
        second = json.loads(out.next())
        assert (second["indexed"], second["unchanged"]) == (1, 1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert len(js(home, "photos", "search", "--folder", str(folder))["hits"]) == 2
    r = js(home, "photos", "folders", "remove", str(folder))
    assert (r["forgotten"], r["folders"]) == (2, [])
    assert js(home, "photos", "search", "--folder", str(folder))["hits"] == []
    assert [Path(h["path"]).name for h in js(home, "photos", "search")["hits"]] == [src[2].name]
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in src[:2])   # the files stay

    async def seen_in_the_app():
        async with App(home) as app:
            return app.photos.folders()
    assert asyncio.run(seen_in_the_app()) == []
