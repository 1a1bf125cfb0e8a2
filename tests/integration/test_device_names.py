"""One name per live device: a typed name in use is refused with a free one suggested;
the default (the machine's name) is made free; a revoked device frees its name."""

from __future__ import annotations

import pytest

from kbapp.client import app as app_module
from kbapp.core import errors
from kbapp.core.device_names import choose_device_name, suggest_device_name


def test_names_pure():
    assert suggest_device_name("vm", {"VM", "vm-2"}) == "vm-3"
    assert suggest_device_name("  my   laptop ", set()) == "my laptop"
    assert len(suggest_device_name("x" * 32, {"x" * 32})) == 32
    assert choose_device_name(None, "vm", {"vm"}) == "vm-2"
    assert choose_device_name("desk", "vm", {"vm"}) == "desk"
    with pytest.raises(errors.DuplicateDeviceName) as e:
        choose_device_name(" Vm ", "other", {"vm", "vm-2"})
    assert e.value.code == "DUPLICATE_DEVICE_NAME" and "'Vm-3'" in str(e.value)


async def test_paper_key_login_refuses_a_live_devices_name(server, tmp_path, apps, monkeypatch):
    monkeypatch.setattr(app_module, "default_device_name", lambda: "vm")
    first = await apps(tmp_path / "a")
    await first.signup("vera", server_url=server.url)          # the default: "vm"
    phrase = await first.create_paperkey()
    second = await apps(tmp_path / "b")
    with pytest.raises(errors.DuplicateDeviceName):
        await second.login_paperkey("vera", phrase, device_name="VM", server_url=server.url)
    assert not (await second.status()).logged_in               # nothing was signed or saved
    assert [d.name for d in await first.devices() if d.type != "paper"] == ["vm"]
    acct = await second.login_paperkey("vera", phrase, server_url=server.url)   # the default made free
    assert acct.device_name == "vm-2"
    names = sorted(d.name for d in await first.devices() if d.type != "paper")
    assert names == ["vm", "vm-2"]
    # a revoked device frees its name
    await second.revoke_device(next(d.id for d in await second.devices() if d.name == "vm"))
    third = await apps(tmp_path / "c")
    acct = await third.login_paperkey("vera", phrase, device_name="vm", server_url=server.url)
    assert acct.device_name == "vm"
