"""The provisioning messages and the server's mailbox limits."""

import os

import pytest

from kbapp.core import errors, kex
from kbapp.core.encoding import b64encode
from kbapp.server.db import make_engine, upgrade
from kbapp.server.mailbox import MAX_MESSAGES, TTL, Mailbox

SECRET = bytes(range(32))


def test_messages_open_only_with_the_phrase_secret():
    sealed = kex.seal_message(SECRET, "offer", {"username": "ann"}, os.urandom(24))
    assert kex.open_message(SECRET, sealed) == ("offer", {"username": "ann"})
    assert kex.open_message(bytes(32), sealed) is None
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert kex.open_message(SECRET, tampered) is None
    assert kex.channel_id(SECRET) != kex.channel_id(bytes(32))
    with pytest.raises(ValueError):
        kex.seal_message(SECRET, "evil", {}, os.urandom(24))


def test_a_sealed_message_of_the_wrong_shape_is_refused():
    from kbapp.core.boxes import secretbox_seal
    from kbapp.core.encoding import pack

    bad = secretbox_seal(kex._key(SECRET), pack({"role": "offer", "body": []}), os.urandom(24), kex.CONTEXT)
    with pytest.raises(errors.EncodingError):
        kex.open_message(SECRET, bad)


@pytest.fixture
def mailbox(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    upgrade(engine)
    now = [1000.0]
    return Mailbox(engine, clock=lambda: now[0]), now


def test_mailbox_caps_and_expiry(mailbox):
    box, now = mailbox
    ch = "ab" * 32
    for i in range(MAX_MESSAGES):
        assert box.post(ch, b64encode(b"m%d" % i)) == {"index": i}
    with pytest.raises(errors.Conflict):
        box.post(ch, b64encode(b"one too many"))
    assert [m["index"] for m in box.read(ch, 10)["messages"]] == list(range(10, MAX_MESSAGES))
    now[0] += TTL + 1
    assert box.read(ch, 0)["messages"] == []
    assert box.post(ch, b64encode(b"fresh")) == {"index": 0}  # expired ones were swept


@pytest.mark.parametrize("channel", ["", "ZZ" * 16, "ab" * 40, "../etc"])
def test_mailbox_refuses_bad_channels(mailbox, channel):
    with pytest.raises(errors.EncodingError):
        mailbox[0].post(channel, b64encode(b"x"))


def test_mailbox_refuses_big_or_empty_messages(mailbox):
    with pytest.raises(errors.TooLarge):
        mailbox[0].post("cd" * 32, b64encode(os.urandom(64 * 1024)))
    with pytest.raises(errors.EncodingError):
        mailbox[0].post("cd" * 32, "")
