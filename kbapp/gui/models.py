"""Qt item models over the facade's dataclasses: the sidebar, devices, keys.

Views never hold data of their own; every list on screen is one of these models
(each is checked with pytest-qt's `qtmodeltester`). Display strings come from
server data and item views render them as plain text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from kbapp.client.models import DeviceView, KeyView

from . import theme
from .assets import icon
from .plain import plain_tip

_Index = QModelIndex | QPersistentModelIndex
ObjectRole = Qt.UserRole + 1   # the dataclass behind a row
KeyRole = Qt.UserRole + 2      # sidebar: page key
ComingRole = Qt.UserRole + 3   # sidebar: True for pages not built yet


def short_date(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


def device_icon_name(dev_type: str) -> str:
    return {"paper": "paper", "mobile": "mobile", "laptop": "laptop"}.get(dev_type, "desktop")


# -- sidebar ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    icon: str
    coming: bool = False


SECTIONS = (
    Section("chat", "Chat", "chat"),
    Section("files", "Files", "files"),
    Section("photos", "Photos", "photos"),
    Section("people", "People", "people"),
    Section("teams", "Teams", "teams"),
    Section("devices", "Devices", "devices"),
    Section("settings", "Settings", "settings"),
)


class SidebarModel(QAbstractListModel):
    def __init__(self, sections=SECTIONS, parent=None):
        super().__init__(parent)
        self.sections = list(sections)
        self._icons: dict[str, object] = {}

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.sections)

    def row_of(self, key: str) -> int:
        return next(i for i, s in enumerate(self.sections) if s.key == key)

    def retint(self) -> None:
        """Icons follow the theme; called when it changes."""
        self._icons.clear()
        if self.sections:
            self.dataChanged.emit(self.index(0), self.index(len(self.sections) - 1), [Qt.DecorationRole])

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.sections):
            return None
        s = self.sections[index.row()]
        if role == Qt.DisplayRole:
            return s.label
        if role == Qt.DecorationRole:
            if s.key not in self._icons:
                self._icons[s.key] = icon(s.icon, theme.colour("text-muted"), selected=theme.colour("accent"))
            return self._icons[s.key]
        if role == Qt.ToolTipRole:
            return plain_tip(f"{s.label}: coming in a later version" if s.coming else s.label)
        if role == KeyRole:
            return s.key
        if role == ComingRole:
            return s.coming
        if role == Qt.AccessibleTextRole:
            return f"{s.label} (coming)" if s.coming else s.label
        return None


# -- devices -------------------------------------------------------------------------------


class HeaderTableModel(QAbstractTableModel):
    """A table over one Python list (`ROWS` names the attribute) with upper-case headers."""

    HEADERS: tuple[str, ...] = ()
    ROWS = "rows"

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(getattr(self, self.ROWS))

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section].upper()
        return None


class DeviceTableModel(HeaderTableModel):
    """A user's devices: name, type, when added, state (this device / active / revoked)."""

    ROWS = "devices"
    HEADERS = ("Name", "Type", "Added", "Status")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.devices: list[DeviceView] = []

    def set_devices(self, devices: list[DeviceView]) -> None:
        self.beginResetModel()
        self.devices = list(devices)
        self.endResetModel()

    @staticmethod
    def status(d: DeviceView) -> str:
        return "Revoked" if d.revoked else "This device" if d.current else "Active"

    def row_of(self, device_id: str) -> int:
        return next((i for i, d in enumerate(self.devices) if d.id == device_id), -1)

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.devices):
            return None
        d, col = self.devices[index.row()], index.column()
        if role == Qt.DisplayRole:
            return (d.name, d.type.capitalize(), short_date(d.ctime), self.status(d))[col]
        if role == Qt.DecorationRole and col == 0:
            return icon(device_icon_name(d.type), theme.colour("text-faint" if d.revoked else "text-muted"))
        if role == Qt.ToolTipRole:
            return plain_tip(f"device id {d.id}\nsigning key {d.sibkey}\nadded at link {d.added_seqno}")
        if role == Qt.ForegroundRole:
            if col == 3:
                return QBrush(QColor(theme.colour("bad" if d.revoked else "link" if d.current else "ok")))
            if d.revoked:
                return QBrush(QColor(theme.colour("text-faint")))
        if role == Qt.FontRole and (d.current or col == 3):
            f = QFont()
            f.setBold(True)
            return f
        if role == ObjectRole:
            return d
        return None


# -- keys -----------------------------------------------------------------------------------


KIND_LABELS = {"sibkey": "Signing (device)", "subkey": "Encryption (device)",
               "puk-signing": "Per-user signing", "puk-encryption": "Per-user encryption"}


class KeyTableModel(HeaderTableModel):
    """A user's verified keys with their fingerprints and the device that holds each."""

    ROWS = "keys"
    HEADERS = ("Key", "Fingerprint", "Device")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.keys: list[KeyView] = []
        self.device_names: dict[str, str] = {}
        self.revoked: set[str] = set()

    def set_keys(self, keys: list[KeyView], devices: list[DeviceView] = ()) -> None:
        self.beginResetModel()
        self.keys = list(keys)
        self.device_names = {d.id: d.name for d in devices}
        self.revoked = {d.id for d in devices if d.revoked}
        self.endResetModel()

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.keys):
            return None
        k, col = self.keys[index.row()], index.column()
        if role == Qt.DisplayRole:
            device = self.device_names.get(k.device_id or "", "—" if k.device_id else "all devices")
            return (KIND_LABELS.get(k.kind, k.kind), k.fingerprint, device)[col]
        if role == Qt.DecorationRole and col == 0:
            return icon("key", theme.colour("text-muted"))
        if role == Qt.FontRole and col == 1:
            f = QFont("DejaVu Sans Mono")
            f.setPixelSize(12)
            return f
        if role == Qt.ToolTipRole:
            return plain_tip(f"KID {k.kid}")
        if role == Qt.ForegroundRole and k.device_id in self.revoked:
            return QBrush(QColor(theme.colour("text-faint")))
        if role == ObjectRole:
            return k
        return None


# -- proofs ---------------------------------------------------------------------------------

CHECKING = "checking"   # a row whose live check is running (not a ProofView state)
STATE_LABELS = {"ok": "OK", "temporary": "Temporary failure", "broken": "Broken", "changed": "Changed",
                "unchecked": "Not checked", "revoked": "Revoked", CHECKING: "Checking…"}
STATE_TOKENS = {"ok": "ok", "temporary": "warn", "broken": "bad", "changed": "bad",
                "unchecked": "text-muted", "revoked": "text-faint", CHECKING: "text-muted"}
SERVICE_LABELS = {"website": "Website", "dns": "DNS", "github": "GitHub", "mastodon": "Mastodon"}
SERVICE_ICONS = {"website": "globe", "dns": "server", "github": "code", "mastodon": "at"}


def service_label(service: str) -> str:
    return SERVICE_LABELS.get(service, service)


def openable_url(url: str) -> bool:
    """Only http(s) links may be offered for opening (never file:, dns:, javascript:...)."""
    parts = urlsplit(url or "")
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class ProofTableModel(HeaderTableModel):
    """A user's live proofs: account, service, state (with the reason), details, link.

    A row can be "checking" (its live check is running: `set_checking`) before the
    identity with results arrives (`set_proofs`). Names, reasons and URLs come from
    chains and services: views render them as plain text.
    """

    ROWS = "proofs"
    HEADERS = ("Account", "Service", "State", "Details", "Link")
    STATE_COL, LINK_COL = 2, 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.proofs: list = []            # ProofView
        self.checking: set[str] = set()   # sig ids being checked

    def set_proofs(self, proofs) -> None:
        self.beginResetModel()
        self.proofs = list(proofs)
        self.checking = set()
        self.endResetModel()

    def set_checking(self, proofs) -> None:
        """Rows whose check is under way: unchecked ones without a reason are busy."""
        self.beginResetModel()
        self.proofs = list(proofs)
        self.checking = {p.sig_id for p in self.proofs if p.state == "unchecked" and not p.reason}
        self.endResetModel()

    def state_of(self, row: int) -> str:
        p = self.proofs[row]
        return CHECKING if p.sig_id in self.checking else p.state

    def details(self, row: int) -> str:
        p, state = self.proofs[row], self.state_of(row)
        if state == CHECKING:
            return "fetching it from the service…"
        if state == "ok":
            when = time.strftime("%H:%M", time.localtime(p.checked_at)) if p.checked_at else ""
            return f"{'cached check' if p.cached else 'checked'}{' at ' + when if when else ''}"
        # "https://host/path: HTTP 404 (not found)": the link column already says where
        head, sep, tail = p.reason.partition(": ")
        return tail if sep and head.startswith(("http://", "https://")) and tail else p.reason

    @staticmethod
    def short_url(url: str) -> str:
        return url.split("://", 1)[1] if url.startswith(("https://", "http://")) else url

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.proofs):
            return None
        row, col = index.row(), index.column()
        p, state = self.proofs[row], self.state_of(row)
        if role == Qt.DisplayRole:
            return (p.name, service_label(p.service), STATE_LABELS.get(state, state), self.details(row),
                    self.short_url(p.proof_url))[col]
        if role == Qt.DecorationRole:
            if col == 0:
                return icon(SERVICE_ICONS.get(p.service, "link"), theme.colour("text-muted"))
            if col == self.STATE_COL:
                name = {"ok": "verified", "broken": "broken", "changed": "alert", "temporary": "alert"}.get(
                    state, "pending")
                return icon(name, theme.colour(STATE_TOKENS.get(state, "text-muted")))
        if role == Qt.ToolTipRole:   # the proof's name and reason are anyone's text
            return plain_tip(self.tooltip(row, col, p, state))
        if role == Qt.ForegroundRole:
            if col == self.STATE_COL:
                return QBrush(QColor(theme.colour(STATE_TOKENS.get(state, "text-muted"))))
            if col == 3:
                return QBrush(QColor(theme.colour("text-muted")))
            if col == self.LINK_COL:
                return QBrush(QColor(theme.colour("link" if openable_url(p.proof_url) else "text-faint")))
        if role == Qt.FontRole and col in (0, self.STATE_COL):
            f = QFont()
            f.setBold(True)
            return f
        if role == Qt.FontRole and col == self.LINK_COL and openable_url(p.proof_url):
            f = QFont()
            f.setUnderline(True)
            return f
        if role == Qt.AccessibleTextRole and col == self.STATE_COL:
            return f"{STATE_LABELS.get(state, state)}: {self.details(row)}"
        if role == ObjectRole:
            return p
        return None

    def tooltip(self, row: int, col: int, p, state: str) -> str | None:
        """The raw tooltip text (data() makes it plain)."""
        if col == self.STATE_COL or col == 3:
            why = p.reason if state not in ("ok", CHECKING) else self.details(row)
            return f"{STATE_LABELS.get(state, state)}: {why}" if why else None
        if col == self.LINK_COL:
            return (f"Open {p.proof_url} (asks first)" if openable_url(p.proof_url)
                    else f"{p.proof_url} (not a web link: nothing to open)")
        return f"{p.assertion}\nproof sig id {p.sig_id}\nlink {p.seqno} of the chain"
