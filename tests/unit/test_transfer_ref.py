"""AttachmentRef <-> the attachment body (core/chat/body.py): what transfer.py hands the
chat service and reads back from a verified message."""

from __future__ import annotations

import os

import pytest

from kbapp.client.chat.transfer import AttachmentRef, _guess_mime
from kbapp.core import errors
from kbapp.core.chat import body as chat_body
from kbapp.core.chat import signencrypt as se


def test_ref_round_trips_through_a_checked_body():
    k = se.AttachmentKeys.generate(os.urandom)
    _, h = se.encrypt(k, b"hello")
    ref = AttachmentRef(h.hex(), h, 5, k.key, k.verify_pub, k.nonce, "hello.txt", "text/plain")
    b = chat_body.make_body("attachment", **ref.to_body(meta={"width": 3}))
    assert AttachmentRef.from_body(b) == ref and ref.keys() == k.reader()
    assert ref.sealed_size == 5 + se.OVERHEAD


def test_from_body_refuses_an_id_that_is_not_the_hash():
    k = se.AttachmentKeys.generate(os.urandom)
    fields = {"blob_id": "ab" * 32, "enc_hash": bytes(32), "size": 1, "key": k.key, "verify_pub": k.verify_pub,
              "nonce": k.nonce, "name": "x", "mime": "text/plain"}
    with pytest.raises(errors.EncodingError):
        AttachmentRef.from_body(fields)


def test_mime_types_the_body_refuses_fall_back():
    assert _guess_mime("cat.jpg") == "image/jpeg"
    assert _guess_mime("no-extension") == "application/octet-stream"
