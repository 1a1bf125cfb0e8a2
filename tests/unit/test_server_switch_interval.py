"""The server process's GIL switch interval (server/main.py `_switch_interval`): 1 ms unless
KBAPP_SERVER_SWITCH_INTERVAL says otherwise; nonsense falls back, extremes are clamped."""

from __future__ import annotations

import pytest

from kbapp.server.main import SWITCH_INTERVAL_S, _switch_interval


@pytest.mark.parametrize("raw, want", [("", SWITCH_INTERVAL_S), ("0.005", 0.005), ("fast", SWITCH_INTERVAL_S),
                                       ("0", 0.0001), ("-3", 0.0001), ("60", 0.1), ("nan", SWITCH_INTERVAL_S)])
def test_switch_interval(monkeypatch, raw, want):
    monkeypatch.setenv("KBAPP_SERVER_SWITCH_INTERVAL", raw)
    assert _switch_interval() == want
