"""Push in the window (issues 12, 13): a device added from another process shows up in the
Devices list of a running window within seconds, with no click; the status bar says
whether the push channel is live."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from gui_support import TIMEOUT_MS

ROOT = Path(__file__).resolve().parents[2]


def kbapp_cli(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "KBAPP_KEYSTORE": "file", "KBAPP_PASSPHRASE": "correct horse battery staple, push"}
    env.pop("KBAPP_PAPERKEY", None)
    proc = subprocess.run([sys.executable, "-m", "kbapp", "--home", str(home), "--json", *args], input=stdin,
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_a_paper_key_made_elsewhere_shows_up_by_itself(qtbot, alice_window, run, tmp_path):
    w, url = alice_window
    w.shell.go("devices")
    model = w.shell.devices.model
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: w.push_status.text.text() == "live", timeout=TIMEOUT_MS)

    phrase = run(w.session.app.create_paperkey())            # so that another device can log in
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=TIMEOUT_MS)

    # alice's second device, a CLI in its own process, logs in and makes a paper key there
    other = tmp_path / "alice-cli"
    kbapp_cli(other, "login", "alice", "--paperkey", "--server", url, "--device", "alice-cli", stdin=phrase + "\n")
    t0 = time.monotonic()
    qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=5000)
    # every device of the account is told (Keybase does): a key a thief added does not go unnoticed
    title, text = w.tray.last_notice
    assert title == "A device was added to your account" and "alice-cli" in text, w.tray.last_notice
    kbapp_cli(other, "paperkey")
    t1 = time.monotonic()
    qtbot.waitUntil(lambda: model.rowCount() == 4, timeout=5000)
    print(f"devices list updated {time.monotonic() - t1:.2f} s after the CLI's paper key "
          f"(login: {t1 - t0:.2f} s incl. the second CLI run)")
    assert {d.type for d in model.devices} >= {"paper"}
    assert any(d.name == "alice-cli" for d in model.devices)

    # and a revocation made elsewhere is told too
    paper = next(d for d in model.devices if d.type == "paper" and not d.revoked)
    kbapp_cli(other, "device", "remove", paper.id, "--yes")
    qtbot.waitUntil(lambda: any(d.revoked for d in model.devices), timeout=5000)
    assert w.tray.last_notice[0] == "A device was revoked" and paper.name in w.tray.last_notice[1]
