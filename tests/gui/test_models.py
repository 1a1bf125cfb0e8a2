"""Every list model passes Qt's model tester (pytest-qt's qtmodeltester)."""

from __future__ import annotations

from kbapp.client.models import DeviceView, KeyView
from kbapp.gui.models import DeviceTableModel, KeyTableModel, SidebarModel

DEVICES = [
    DeviceView("d1", "laptop", "desktop", "0120aa", "0121bb", 1, 1_700_000_000, False, True),
    DeviceView("d2", "calm total", "paper", "0120cc", "0121dd", 4, 1_700_000_100, False, False),
    DeviceView("d3", "<b>old</b>", "desktop", "0120ee", None, 6, 1_700_000_200, True, False),
]
KEYS = [
    KeyView("0120aa", "sibkey", "aaaa bbbb", "d1"),
    KeyView("0121bb", "subkey", "cccc dddd", "d1"),
    KeyView("0120ff", "puk-signing", "eeee ffff"),
]


def test_sidebar_model(qtmodeltester, qloop):
    model = SidebarModel()
    qtmodeltester.check(model)
    coming = [s.key for s in model.sections if s.coming]
    assert coming == []          # every page is built (Files was the last placeholder)
    assert [s.label for s in model.sections] == ["Chat", "Files", "Photos", "People", "Teams", "Devices", "Settings"]


def test_device_model(qtmodeltester, qloop):
    model = DeviceTableModel()
    qtmodeltester.check(model)
    model.set_devices(DEVICES)
    qtmodeltester.check(model)
    assert [model.data(model.index(r, 3)) for r in range(3)] == ["This device", "Active", "Revoked"]
    assert model.data(model.index(2, 0)) == "<b>old</b>"


def test_key_model(qtmodeltester, qloop):
    model = KeyTableModel()
    qtmodeltester.check(model)
    model.set_keys(KEYS, DEVICES)
    qtmodeltester.check(model)
    assert model.data(model.index(0, 2)) == "laptop"
    assert model.data(model.index(2, 2)) == "all devices"
