"""Chat format (core/chat ids, body, header, seal): derivations, strict parsing, padding, sealing."""

from __future__ import annotations

import hashlib

import pytest
from chat_support import ChatWorld

from kbapp.core import errors
from kbapp.core.chat import body as B
from kbapp.core.chat.header import build_header, pack_header, parse_header
from kbapp.core.chat.ids import conv_id_for, conv_id_hex, general_topic_id, check_conv_id, new_topic_id
from kbapp.core.chat.seal import (ConvKeys, body_hash, body_key, decode_wire, header_hash, header_key,
                                  open_body, open_header, seal_body)
from kbapp.core.encoding import pack

TEAM = bytes(range(16))


def test_ids_are_the_spec_derivations():
    topic = hashlib.sha256(b"kbapp-general-topic-v1\0" + TEAM).digest()[:16]
    assert general_topic_id(TEAM) == general_topic_id(TEAM.hex()) == topic
    cid = hashlib.sha256(b"kbapp-conv-id-v1\0" + TEAM + b"\x01" + topic).digest()[:16]
    assert conv_id_for(TEAM, 1, topic) == cid and conv_id_hex(TEAM.hex(), 1, topic.hex()) == cid.hex()
    assert check_conv_id(cid.hex(), TEAM, 1, topic) == cid
    with pytest.raises(errors.WrongConversation):
        check_conv_id(cid, TEAM, 1, b"\x07" * 16)
    for bad in [b"x" * 15, "AB" * 16, "zz" * 16, 5]:
        with pytest.raises(errors.BadChatMessage):
            conv_id_for(bad, 1, topic)
    with pytest.raises(errors.BadChatMessage):
        conv_id_for(TEAM, 2, topic)              # only chat (1) for now
    with pytest.raises(errors.BadChatMessage):
        new_topic_id(bytes(16))


@pytest.mark.parametrize("n,size", [(0, 256), (252, 256), (253, 512), (4092, 4096), (4093, 8192),
                                    (65536, 69632)])
def test_padding_size_classes(n, size):
    padded = B.pad(b"a" * n)
    assert len(padded) == size == B.padded_len(n) and B.unpad(padded) == b"a" * n


def test_unpad_refuses_tampering():
    padded = bytearray(B.pad(b"hello"))
    with pytest.raises(errors.BadChatMessage):
        B.unpad(bytes(padded[:-1]))                        # not a size class
    padded[-1] = 1
    with pytest.raises(errors.BadChatMessage):
        B.unpad(bytes(padded))                             # padding not zeros
    with pytest.raises(errors.BadChatMessage):
        B.pad(b"x" * (B.MAX_BODY + 1))
    with pytest.raises(errors.BadChatMessage):
        B.unpad(b"\x00\x00\x01\x00" + bytes(252))          # claims 256 bytes inside 256


ATTACH = dict(blob_id=(b"h" * 32).hex(), enc_hash=b"h" * 32, size=10, key=b"k" * 32, verify_pub=b"v" * 32,
              nonce=b"n" * 16, name="dog.jpg", mime="image/jpeg", meta={"width": 3, "height": 2})


@pytest.mark.parametrize("kind,fields", [
    ("text", {"text": "hi", "mentions": ["ab" * 16], "channel_mention": True}),
    ("edit", {"target": 3, "text": "fixed"}), ("delete", {"targets": [1, 2]}),
    ("reaction", {"target": 1, "emoji": ":+1:"}), ("attachment", ATTACH),
    ("attachment", {**ATTACH, "preview": {k: v for k, v in ATTACH.items() if k != "name"}}),
    ("metadata", {"name": "random", "topic": "anything goes"}), ("headline", {"text": ""}),
    ("join", {}), ("leave", {}), ("system", {"text": "bob was added"}), ("delete_history", {"upto": 9}),
    ("pin", {"target": 4}), ("unpin", {"target": 4})])
def test_every_kind_round_trips(kind, fields):
    body = B.make_body(kind, **fields)
    packed = B.pack_body(body)
    assert len(packed) % 256 == 0 and B.unpack_body(packed) == body


@pytest.mark.parametrize("bad", [
    {"kind": "text", "text": "hi", "mentions": [], "channel_mention": False, "extra": 1},
    {"kind": "text", "text": "", "mentions": [], "channel_mention": False},
    {"kind": "text", "text": "a\x00b", "mentions": [], "channel_mention": False},
    {"kind": "text", "text": "hi", "mentions": ["AB" * 16], "channel_mention": False},
    {"kind": "text", "text": "hi", "mentions": [], "channel_mention": 1},
    {"kind": "text", "text": "x" * (B.MAX_TEXT + 1), "mentions": [], "channel_mention": False},
    {"kind": "edit", "target": 0, "text": "x"}, {"kind": "edit", "target": True, "text": "x"},
    {"kind": "delete", "targets": []}, {"kind": "delete", "targets": [1, 1]},
    {"kind": "reaction", "target": 1, "emoji": "a\nb"},
    {"kind": "attachment", **ATTACH, "name": "../etc/passwd", "preview": None},
    {"kind": "attachment", **ATTACH, "key": b"short", "preview": None},
    {"kind": "attachment", **ATTACH, "mime": "Image/JPEG", "preview": None},
    {"kind": "attachment", **ATTACH, "preview": {"blob_id": "ab" * 32}},
    {"kind": "attachment", **ATTACH, "blob_id": "ab" * 32, "preview": None},
    {"kind": "attachment", **ATTACH, "nonce": b"n" * 24, "preview": None},
    {"kind": "metadata", "name": "General Chat", "topic": ""},
    {"kind": "nope"}, {"kind": 5}, [], {"kind": "join", "x": 1}, {"kind": "delete_history", "upto": -1}])
def test_bad_bodies_are_refused(bad):
    with pytest.raises(errors.BadChatMessage):
        B.check_body(bad)


def test_unpack_body_refuses_garbage_inside_valid_padding():
    with pytest.raises(errors.BadChatMessage):
        B.unpack_body(B.pad(b"\xc1"))
    with pytest.raises(errors.BadChatMessage):
        B.unpack_body(B.pad(pack({"kind": "text", "text": 3})))


def _fields(**kw):
    base = dict(conv_id=conv_id_for(TEAM, 1, general_topic_id(TEAM)), team_id=TEAM, topic_type=1,
                topic_id=general_topic_id(TEAM), type="text", prev=[[1, b"p" * 32]], sender_uid=b"u" * 16,
                sender_eldest_seqno=1, sender_kid=b"\x01\x20" + b"k" * 32 + b"\x0a", key_gen=1,
                body_hash=b"b" * 32, body_len=256, checkpoint=[5, b"r" * 32], team_seqno=3, nonce=b"n" * 16,
                outbox_id=b"o" * 16, compose_time=1)
    base.update(kw)
    return base


def test_header_round_trip_is_canonical():
    h = build_header(**_fields(reply_to=1, thread_root=1, ephemeral={"lifetime": 60, "ek_gen": 2}))
    data = pack_header(h)
    assert parse_header(data) == h
    m = h.to_map()
    with pytest.raises(errors.BadChatMessage):            # same fields, keys in another order
        parse_header(pack({k: m[k] for k in reversed(sorted(m))}))


@pytest.mark.parametrize("kw", [
    {"v": 2}, {"type": "nope"}, {"conv_id": b"c" * 16}, {"team_id": b"t" * 15}, {"topic_type": 2},
    {"prev": [[2, b"p" * 32], [1, b"p" * 32]]}, {"prev": [[1, b"p" * 32]] * 2}, {"prev": [[i, b"p" * 32]
                                                                                         for i in range(1, 12)]},
    {"prev": [[0, b"p" * 32]]}, {"sender_kid": b"\x01\x21" + b"k" * 32 + b"\x0a"}, {"sender_kid": b"k" * 35},
    {"key_gen": 0}, {"body_hash": b"b"}, {"body_len": 300}, {"checkpoint": [5]}, {"checkpoint": [0, b"r" * 32]},
    {"supersedes": 1}, {"deletes": [1]}, {"type": "edit"}, {"type": "delete"},
    {"ephemeral": {"lifetime": 5, "ek_gen": 1}}, {"ephemeral": {"lifetime": 60}}, {"nonce": b"n" * 15},
    {"compose_time": -1}, {"sender_eldest_seqno": True}, {"reply_to": 0}])
def test_bad_headers_are_refused(kw):
    with pytest.raises(errors.BadChatMessage):
        build_header(**_fields(**kw))


def test_deletes_are_sorted_when_built_and_must_be_when_parsed():
    h = build_header(**_fields(type="delete", deletes=[5, 3]))
    assert h.deletes == (3, 5)
    m = h.to_map()
    m["deletes"] = [5, 3]
    with pytest.raises(errors.BadChatMessage):
        parse_header(pack({k: m[k] for k in sorted(m)}))
    with pytest.raises(errors.BadChatMessage):
        build_header(**_fields(type="delete", deletes=[3, 3]))


def test_header_needs_exactly_its_fields():
    m = build_header(**_fields()).to_map()
    with pytest.raises(errors.BadChatMessage):
        parse_header(pack({**m, "extra": 1}))
    del m["nonce"]
    with pytest.raises(errors.BadChatMessage):
        parse_header(pack(m))


def test_keys_are_the_spec_hmacs():
    import hmac
    ck, cid = b"c" * 32, b"i" * 16
    assert header_key(ck, cid) == hmac.new(ck, b"kbapp-chat-header-key-v1\0" + cid, "sha512").digest()[:32]
    assert body_key(ck, cid) == hmac.new(ck, b"kbapp-chat-body-key-v1\0" + cid, "sha512").digest()[:32]
    assert header_key(ck, cid) != header_key(ck, b"j" * 16) != body_key(ck, cid)
    assert header_hash(b"x") == hashlib.sha256(b"kbapp-chat-header-hash-v1\0x").digest()
    assert body_hash(b"x") == hashlib.sha256(b"kbapp-chat-body-hash-v1\0x").digest()


def test_seal_and_open_a_real_message():
    cw = ChatWorld()
    s = cw.compose(cw.bob, body_fields={"text": "hi team"})
    keys = cw.keys()
    opened = open_header(s.sealed_header, keys.header)
    assert opened.header == s.header and opened.header.uid == cw.bob.uid
    assert opened.header.body_hash == body_hash(s.sealed_body)
    assert open_body(s.sealed_body, keys.body)["text"] == "hi team"
    assert len(s.sealed_body) == 256 + 40 and s.header.body_len == 256
    wire = cw.post(s)
    dec = decode_wire(wire)
    assert dec["header"] == s.sealed_header and dec["body"] == s.sealed_body
    other = ConvKeys.derive(b"z" * 32, cw.conv_id)
    with pytest.raises(errors.BadChatHeader):
        open_header(s.sealed_header, other.header)
    with pytest.raises(errors.BadBody):
        open_body(s.sealed_body, other.body)


def test_a_signature_from_another_device_fails_to_open():
    cw = ChatWorld()
    s = cw.compose(cw.bob)
    from kbapp.core.encoding import unpack
    import nacl.secret
    keys = cw.keys()
    data, sig = unpack(nacl.secret.SecretBox(keys.header).decrypt(s.sealed_header[24:], s.sealed_header[:24]))
    forged = cw.carol.device.sign(b"kbapp-chat-header-v1\0" + data)
    sealed = b"\x00" * 24 + nacl.secret.SecretBox(keys.header).encrypt(pack([data, forged]), b"\x00" * 24).ciphertext
    with pytest.raises(errors.BadChatHeader):
        open_header(sealed, keys.header)
    sealed = b"\x00" * 24 + nacl.secret.SecretBox(keys.header).encrypt(pack([data, sig]), b"\x00" * 24).ciphertext
    assert open_header(sealed, keys.header).header == s.header      # re-sealing alone changes nothing


def test_seal_body_checks_its_body():
    with pytest.raises(errors.BadChatMessage):
        seal_body({"kind": "text"}, b"k" * 32, nonce=b"n" * 24)


def worked_example() -> dict:
    """docs/protocol.md "Worked example": fixed keys and nonces (Ed25519 is deterministic)."""
    from kbapp.core.chat.seal import seal_message
    from kbapp.core.encoding import b64encode
    from kbapp.core.keys import SigningKeyPair
    team_id = bytes(range(16))
    device = SigningKeyPair.from_seed(bytes([0x22]) * 32)
    topic = general_topic_id(team_id)
    conv = conv_id_for(team_id, 1, topic)
    keys = ConvKeys.derive(bytes([0x11]) * 32, conv)
    s = seal_message(body=B.make_body("text", text="hello, world"), device=device, keys=keys,
                     header_nonce=bytes([0x33]) * 24, body_nonce=bytes([0x44]) * 24, conv_id=conv, team_id=team_id,
                     topic_type=1, topic_id=topic, prev=[], sender_uid=bytes([0x55]) * 16, sender_eldest_seqno=1,
                     key_gen=1, checkpoint=[42, bytes([0x66]) * 32], team_seqno=1, nonce=bytes([0x77]) * 16,
                     outbox_id=bytes([0x88]) * 16, compose_time=1700000000)
    assert open_header(s.sealed_header, keys.header).header == s.header
    assert open_body(s.sealed_body, keys.body)["text"] == "hello, world"
    return {"topic_id": topic.hex(), "conv_id": conv.hex(), "sender_kid": device.kid.hex(),
            "K_h": keys.header.hex(), "K_b": keys.body.hex(), "body_hash": s.header.body_hash.hex(),
            "header_hash": header_hash(s.sealed_header).hex(), "header": b64encode(s.sealed_header),
            "body": b64encode(s.sealed_body)}


def test_the_worked_example_in_protocol_md():
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    section = doc[doc.index("### Worked example"):]
    block = section[section.index("```") + 3:section.index("```", section.index("```") + 3)]
    lines = block.strip().splitlines()
    values = {ln.split("=")[0].strip(): ln.split("=", 1)[1].strip() for ln in lines if " = " in ln}
    h_at = next(i for i, ln in enumerate(lines) if ln.startswith("header (b64"))
    b_at = next(i for i, ln in enumerate(lines) if ln.startswith("body (b64"))
    values["header"] = "".join(lines[h_at + 1:b_at])
    values["body"] = "".join(lines[b_at + 1:])
    assert values == worked_example()


@pytest.mark.parametrize("text", ["I agree\x9cI do NOT agree", "a\x80b", "x\x85y"])
def test_c1_controls_are_refused_in_texts(text):
    """Qt paints only the text before U+009C (its "length variants" separator): a message could
    show "I agree" while it says more (found in review). C1 controls are refused like C0."""
    with pytest.raises(errors.BadChatMessage):
        B.make_body("text", text=text)
    assert B.make_body("text", text="line one\nline two, déjà vu")["text"].endswith("vu")


@pytest.mark.parametrize("name", ["invoice\u202efdp.exe", "a\u200bb.pdf", "x\x9c.pdf.exe", "sh\u00adell.sh"])
def test_attachment_names_refuse_invisible_and_bidi_characters(name):
    zero = bytes(32)
    with pytest.raises(errors.BadChatMessage):
        B.make_body("attachment", blob_id=zero.hex(), enc_hash=zero, size=0, key=zero, verify_pub=zero,
                    nonce=bytes(16), name=name, mime="application/pdf")
