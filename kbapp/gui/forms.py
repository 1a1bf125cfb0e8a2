"""Designer forms (`ui/*.ui`), loaded at run time with QUiLoader.

Loading at run time (not pyside6-uic) keeps `ui/` the one source of truth that
Designer edits. Every QLabel of a form is switched to plain text on load, so a
form can never render server data as HTML.
"""

from __future__ import annotations

from PySide6.QtCore import QFile, QIODevice, QObject, Qt
from PySide6.QtUiTools import QUiLoader
from PySide6.QtWidgets import QLabel, QWidget

from .assets import ui_dir
from .widgets import Banner, BusyBar, ChoiceButton


class Form:
    """A widget loaded from a form; `form.name` finds its child named `name`."""

    def __init__(self, widget: QWidget):
        self.widget = widget

    def __getattr__(self, name: str):
        child = self.widget.findChild(QObject, name)
        if child is None:
            raise AttributeError(f"form {self.widget.objectName()!r} has no child {name!r}")
        return child


def load_form(name: str, parent: QWidget | None = None) -> Form:
    path = ui_dir() / f"{name}.ui"
    loader = QUiLoader()
    for cls in (Banner, BusyBar, ChoiceButton):  # the forms' <customwidgets>
        loader.registerCustomWidget(cls)
    f = QFile(str(path))
    if not f.open(QIODevice.ReadOnly):
        raise FileNotFoundError(path)
    try:
        widget = loader.load(f, parent)
    finally:
        f.close()
    if widget is None:
        raise RuntimeError(f"cannot load {path}: {loader.errorString()}")
    for lab in widget.findChildren(QLabel):
        lab.setTextFormat(Qt.PlainText)
    return Form(widget)
