"""The revoke-a-device confirmation: enough to tell two devices apart, and the red button is the
one that revokes.

Devices are named by their owner and may look alike ("vm", "laptop"), so the box shows
the type, the date it was added, its place in the chain and its signing key's
fingerprint (the same one the Keys table on People shows). Cancel is the default:
Enter never revokes. Names are untrusted text: plain labels only.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QFormLayout, QHBoxLayout, QPushButton, QVBoxLayout

from kbapp.core.keys import parse_kid
from kbapp.core.merkle.note import key_fingerprint

from .models import short_date
from .plain import plain_title
from .widgets import label

TYPE_LABELS = {"desktop": "Computer", "laptop": "Laptop", "mobile": "Phone", "paper": "Paper key"}


def device_fingerprint(sibkey_hex: str) -> str:
    """The signing key's fingerprint, or "" for a malformed key (never raises on server data)."""
    try:
        return key_fingerprint(parse_kid(sibkey_hex).public)
    except Exception:   # noqa: BLE001 - a verified chain has well-formed keys; be safe anyway
        return ""


class RevokeDeviceDialog(QDialog):
    def __init__(self, device, parent=None):
        super().__init__(parent)
        self.setObjectName("revokeDeviceDialog")
        self.setWindowTitle(plain_title(f"Revoke “{device.name}”?"))
        self.setMinimumWidth(520)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(28, 24, 28, 20)
        lay.setSpacing(10)
        lay.addWidget(label(f"Revoke “{device.name}”?", "title", wrap=True))
        form = QFormLayout()
        form.setHorizontalSpacing(14)
        self.type_label = label(TYPE_LABELS.get(device.type, device.type or "Unknown"))
        self.type_label.setObjectName("revokeType")
        self.added_label = label(f"{short_date(device.ctime) or 'unknown'} (link {device.added_seqno} of your chain)")
        self.added_label.setObjectName("revokeAdded")
        self.fingerprint_label = label(device_fingerprint(device.sibkey) or "—", "mono", selectable=True)
        self.fingerprint_label.setObjectName("revokeFingerprint")
        form.addRow(label("Type", "faint"), self.type_label)
        form.addRow(label("Added", "faint"), self.added_label)
        form.addRow(label("Key fingerprint", "faint"), self.fingerprint_label)
        lay.addLayout(form)
        lay.addWidget(label("It will no longer be able to sign or decrypt anything new. kbapp makes a new "
                            "per-user key for your other devices, so what is sent to you from now on is sealed "
                            "without it. Revoking cannot be undone.", "muted", wrap=True))
        row = QHBoxLayout()
        row.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("revokeCancelButton")
        self.cancel_button.setDefault(True)
        self.cancel_button.setAutoDefault(True)
        self.cancel_button.clicked.connect(self.reject)
        self.revoke_button = QPushButton("Revoke device")
        self.revoke_button.setObjectName("revokeConfirmButton")
        self.revoke_button.setProperty("role", "destructive")   # filled red: the one that destroys
        self.revoke_button.setAutoDefault(False)
        self.revoke_button.clicked.connect(self.accept)
        row.addWidget(self.cancel_button)
        row.addWidget(self.revoke_button)
        lay.addLayout(row)
