"""A banner belongs to the thing it is about and goes with it; server addresses as people type them."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from kbapp.core import errors
from kbapp.core.server_url import normalize_server_url

from gui_support import TIMEOUT_MS


def test_people_banner_goes_with_its_subject(qtbot, alice_window, run):
    w, _ = alice_window
    page = w.shell.people
    run(page.lookup("bbo"))
    assert page.banner.isVisible() and page.banner.title.text() == "Not found"
    run(page.lookup("bob"))                      # bob's card: "Not found: bbo" is not about him
    assert page.card.name.text() == "bob" and page.card.ident is not None
    assert not page.banner.isVisible()

    page.follow_clicked()
    qtbot.waitUntil(lambda: page.banner.title.text() == "You follow bob", timeout=TIMEOUT_MS)
    run(page.lookup("bob"))                      # still bob: the note stays
    assert page.banner.isVisible() and page.banner.title.text() == "You follow bob"
    run(page.lookup("alice"))                    # your own profile: it goes
    assert not page.banner.isVisible()

    page.search.setText("bad name!")
    run(page.lookup(page.search.text()))
    assert page.banner.isVisible() and "username" in page.banner.title.text()
    qtbot.keyClick(page.search, Qt.Key_Backspace)   # the name is being fixed: the error goes
    assert not page.banner.isVisible()


def test_welcome_username_error_goes_when_the_name_is_edited(qtbot, tmp_path, make_window, run):
    from kbapp.client.app import App
    from kbapp.server.main import EmbeddedServer, ServerConfig

    server = EmbeddedServer(ServerConfig(data_dir=tmp_path / "server", port=0))
    url = server.start()

    async def taken() -> None:
        app = App(tmp_path / "first")
        await app.open()
        await app.signup("carol", device_name="laptop", server_url=url)
        await app.close()

    try:
        run(taken())
        w = make_window(tmp_path / "second")
        wf = w.welcome
        qtbot.mouseClick(wf.start.joinServerButton, Qt.LeftButton)
        # typed as the Add-a-device window and `kbapp serve` print it: no http://
        wf.server.serverUrl.setText(url.removeprefix("http://"))
        qtbot.mouseClick(wf.server.connectButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: wf.server.fingerprintCard.isVisible(), timeout=TIMEOUT_MS)
        assert not wf.server.banner.isVisible()
        assert wf.server_url == url
        qtbot.mouseClick(wf.server.signupButton, Qt.LeftButton)
        c = wf.create
        qtbot.keyClicks(c.username, "carol")
        c.deviceName.setText("desk")
        qtbot.mouseClick(c.createButton, Qt.LeftButton)
        qtbot.waitUntil(lambda: c.banner.isVisible(), timeout=TIMEOUT_MS)
        assert "carol" in c.banner.message.text() and "another name" in c.banner.message.text()
        qtbot.keyClicks(c.username, "2")         # carol2: the error was about "carol"
        assert not c.banner.isVisible()
        c.deviceName.setText("desk2")            # another field: not what a username error is about
        run(w.shutdown())
    finally:
        server.stop()


def test_join_says_what_is_wrong_with_an_address(qtbot, tmp_path, make_window):
    w = make_window(tmp_path / "dora")
    wf = w.welcome
    qtbot.mouseClick(wf.start.joinServerButton, Qt.LeftButton)
    wf.server.serverUrl.setText("ftp://keys.example.org")
    qtbot.mouseClick(wf.server.connectButton, Qt.LeftButton)
    qtbot.waitUntil(lambda: wf.server.banner.isVisible(), timeout=TIMEOUT_MS)
    assert wf.server.banner.title.text() == "That is not a server address"
    assert "http:// or https://" in wf.server.banner.message.text()


@pytest.mark.parametrize("typed, url", [
    ("127.0.0.1:51339", "http://127.0.0.1:51339"),
    ("localhost:8080/", "http://localhost:8080"),
    ("[::1]:5000", "http://[::1]:5000"),
    ("keys.example.org", "https://keys.example.org"),      # never plain http to a remote host by guess
    ("  http://10.0.0.2:80  ", "http://10.0.0.2:80"),
    ("https://keys.example.org/", "https://keys.example.org"),
])
def test_server_address_as_typed(typed, url):
    assert normalize_server_url(typed) == url


@pytest.mark.parametrize("typed, says", [
    ("", "type the server"), ("ftp://x.org", "http:// or https://"), ("http://", "no host"),
    ("x.org:http", "port"), ("https://x.org/api", "without a path"), ("https://u:p@x.org", "password"),
])
def test_bad_server_addresses_say_why(typed, says):
    with pytest.raises(errors.BadServerUrl) as e:
        normalize_server_url(typed)
    assert says in str(e.value)


def test_status_bar_checkpoint_agrees_with_the_card_and_is_fresh(qtbot, alice_window, run):
    """The card and the status bar name the same checkpoint, and a check just made says so."""
    w, url = alice_window
    page = w.shell.people
    run(page.lookup("bob"))
    run(page.lookup("alice"))
    w._checkpoint = (w._checkpoint[0], w._checkpoint[1] - 400)   # as if last verified 6 min ago
    w._render_checkpoint()
    assert "6 min ago" in w.checkpoint_status.text.text()
    # the log grows through a path that does not announce it (following signs and re-reads our chain)
    run(w.app.follow("bob"))
    run(page.lookup("bob"))
    size = page.card.ident.checkpoint.size
    qtbot.waitUntil(lambda: w.checkpoint_status.text.text() == f"Checkpoint {size} · verified just now",
                    timeout=TIMEOUT_MS)
