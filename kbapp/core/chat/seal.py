"""Chat keys, sign-then-encrypt headers, sealed bodies, their hashes, and the wire form.

Keybase's shape: the device signs the packed header (context prefix `kbapp-chat-header-v1`),
then header and signature are sealed together, so the server sees neither the text nor who
signed. Keys come from the team's `chat` application key of one generation, bound to one
conversation (K_h, K_b), so a sealed message cannot even be opened in another conversation.
Hashes are over the *sealed* bytes: what the server stores is what prev pointers and
body_hash commit to.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.secret

from ..encoding import b64decode, b64encode, pack, unpack
from ..errors import BadBody, BadChatHeader, BadChatMessage, BadSignature, EncodingError
from ..keys import SigningKeyPair, parse_kid, sign_detached, verify_detached
from .body import MAX_PADDED, pack_body, unpack_body
from .header import MAX_HEADER, Header, build_header, pack_header, parse_header
from .ids import conv_id_bytes

PREFIX_CHAT_HEADER = b"kbapp-chat-header-v1"
HEADER_KEY_CONTEXT = b"kbapp-chat-header-key-v1\0"
BODY_KEY_CONTEXT = b"kbapp-chat-body-key-v1\0"
EXPLODING_KEY_CONTEXT = b"kbapp-chat-exploding-v1\0"
HEADER_HASH_CONTEXT = b"kbapp-chat-header-hash-v1\0"
BODY_HASH_CONTEXT = b"kbapp-chat-body-hash-v1\0"
NONCE = nacl.secret.SecretBox.NONCE_SIZE             # 24
OVERHEAD = NONCE + nacl.secret.SecretBox.MACBYTES    # 40
MAX_SEALED_HEADER = 4096
MAX_SEALED_BODY = MAX_PADDED + OVERHEAD


# -- keys --------------------------------------------------------------------------


def chat_key(team_key) -> bytes:
    """The team's chat application key of one generation (a core.teams.TeamKey)."""
    return team_key.application_key("chat")


def _derive(key: bytes, context: bytes, conv_id: bytes | str) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
        raise ValueError("a chat key is 32 bytes")
    return hmac.new(bytes(key), context + conv_id_bytes(conv_id), "sha512").digest()[:32]


def header_key(chat_app_key: bytes, conv_id: bytes | str) -> bytes:
    """K_h = HMAC-SHA512(chat key, "kbapp-chat-header-key-v1\\0" || conv_id)[:32]."""
    return _derive(chat_app_key, HEADER_KEY_CONTEXT, conv_id)


def body_key(chat_app_key: bytes, conv_id: bytes | str) -> bytes:
    """K_b = HMAC-SHA512(chat key, "kbapp-chat-body-key-v1\\0" || conv_id)[:32]."""
    return _derive(chat_app_key, BODY_KEY_CONTEXT, conv_id)


def exploding_body_key(team_ek: bytes, conv_id: bytes | str) -> bytes:
    """K_b of an exploding message: from the team ephemeral key of its ek_gen instead."""
    return _derive(team_ek, EXPLODING_KEY_CONTEXT, conv_id)


@dataclass(frozen=True)
class ConvKeys:
    """K_h and K_b of one conversation and key generation."""

    header: bytes
    body: bytes

    @classmethod
    def derive(cls, chat_app_key: bytes, conv_id: bytes | str) -> "ConvKeys":
        return cls(header_key(chat_app_key, conv_id), body_key(chat_app_key, conv_id))


# -- hashes ------------------------------------------------------------------------


def header_hash(sealed_header: bytes) -> bytes:
    return hashlib.sha256(HEADER_HASH_CONTEXT + bytes(sealed_header)).digest()


def body_hash(sealed_body: bytes) -> bytes:
    return hashlib.sha256(BODY_HASH_CONTEXT + bytes(sealed_body)).digest()


# -- sealing -----------------------------------------------------------------------


def _nonce(nonce: bytes) -> bytes:
    if not isinstance(nonce, (bytes, bytearray)) or len(nonce) != NONCE:
        raise ValueError(f"a seal nonce is {NONCE} fresh random bytes")
    return bytes(nonce)


def _open(sealed: bytes, key: bytes) -> bytes:
    """secretbox open of n || box (the binding itself: SecretBox's wrapping cost half as much
    again as the open, twice per message). CryptoError when it does not open."""
    if not isinstance(key, (bytes, bytearray)) or len(key) != nacl.secret.SecretBox.KEY_SIZE:
        raise nacl.exceptions.CryptoError("a secretbox key is 32 bytes")
    sealed = bytes(sealed)
    return nacl.bindings.crypto_secretbox_open_easy(sealed[NONCE:], sealed[:NONCE], bytes(key))


def seal_body(body: dict, k_b: bytes, *, nonce: bytes) -> bytes:
    """n || secretbox(K_b, n, pad(pack(body)))."""
    return _nonce(nonce) + nacl.secret.SecretBox(k_b).encrypt(pack_body(body), _nonce(nonce)).ciphertext


def open_body(sealed: bytes, k_b: bytes) -> dict:
    """The checked body map; BadBody if it does not open or parse."""
    if not isinstance(sealed, (bytes, bytearray)) or not OVERHEAD < len(sealed) <= MAX_SEALED_BODY:
        raise BadBody("a sealed body has the wrong size")
    try:
        padded = _open(sealed, k_b)
        return unpack_body(padded)
    except nacl.exceptions.CryptoError:
        raise BadBody("the body does not open under the conversation's key") from None
    except BadChatMessage as e:
        raise BadBody(str(e)) from None


def seal_header(header: Header, device: SigningKeyPair, k_h: bytes, *, nonce: bytes) -> bytes:
    """n || secretbox(K_h, n, pack([header bytes, Ed25519 sig over prefix || 0 || header bytes]))."""
    if device.kid != header.sender_kid:
        raise ValueError("the header names another device than the one signing it")
    data = pack_header(header)
    sig = sign_detached(device, data, prefix=PREFIX_CHAT_HEADER)
    sealed = _nonce(nonce) + nacl.secret.SecretBox(k_h).encrypt(pack([data, sig]), _nonce(nonce)).ciphertext
    if len(sealed) > MAX_SEALED_HEADER:
        raise BadChatMessage("the sealed header is over its cap")
    return sealed


@dataclass(frozen=True)
class OpenedHeader:
    header: Header
    raw: bytes                       # the signed, canonical header bytes
    sig: bytes


def open_header(sealed: bytes, k_h: bytes) -> OpenedHeader:
    """Open, parse and check the signature with the header's own sender_kid.

    Whether that key belongs to the sender, and was live, is judge.py's question.
    """
    if not isinstance(sealed, (bytes, bytearray)) or not OVERHEAD < len(sealed) <= MAX_SEALED_HEADER:
        raise BadChatHeader("a sealed header has the wrong size")
    try:
        inner = _open(sealed, k_h)
    except nacl.exceptions.CryptoError:
        raise BadChatHeader("the header does not open under the conversation's key") from None
    try:
        pair = unpack(inner, max_size=MAX_HEADER + 128, max_depth=None)     # the shape is checked just below
    except EncodingError as e:
        raise BadChatHeader(f"sealed header: {e}") from None
    if (not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], bytes)
            or not isinstance(pair[1], bytes) or len(pair[1]) != 64):
        raise BadChatHeader("a sealed header holds [header bytes, 64-byte signature]")
    data, sig = pair
    try:
        h = parse_header(data)
    except BadChatMessage as e:
        raise BadChatHeader(str(e)) from None
    try:
        verify_detached(parse_kid(h.sender_kid).public, data, sig, prefix=PREFIX_CHAT_HEADER)
    except BadSignature:
        raise BadChatHeader("the header's signature does not verify with its sender_kid") from None
    return OpenedHeader(h, data, sig)


# -- the wire ----------------------------------------------------------------------


def hints_of(h: Header) -> dict:
    """The server-visible copies of signed fields (the reader checks each equals its field)."""
    return {"type": h.type, "sender_uid": h.uid, "sender_kid": h.kid, "outbox_id": h.outbox_id.hex(),
            "supersedes": h.supersedes, "deletes": list(h.deletes), "reply_to": h.reply_to,
            "thread_root": h.thread_root, "lifetime": h.lifetime}


@dataclass(frozen=True)
class Sealed:
    """One message ready to post: sealed header and body, and what the server is told."""

    header: Header
    sealed_header: bytes
    sealed_body: bytes

    @property
    def header_hash(self) -> bytes:
        return header_hash(self.sealed_header)

    def post(self) -> dict:
        """The body of POST /v1/chat/{conv_id}/messages."""
        h = self.header
        return {"team_id": h.team_id.hex(), "topic_type": h.topic_type, "topic_id": h.topic_id.hex(),
                "key_gen": h.key_gen, "ek_gen": None if h.ephemeral is None else h.ephemeral["ek_gen"],
                "header": b64encode(self.sealed_header), "body": b64encode(self.sealed_body),
                "hints": hints_of(h)}


def seal_message(*, body: dict, device: SigningKeyPair, keys: ConvKeys, header_nonce: bytes,
                 body_nonce: bytes, body_k: bytes | None = None, **fields) -> Sealed:
    """Seal a body, then build, sign and seal its header (`fields`: the Header's other fields,
    without body_hash / body_len / sender_kid / type, which come from the body and device).
    `body_k` overrides K_b (exploding messages)."""
    sealed_body = seal_body(body, keys.body if body_k is None else body_k, nonce=body_nonce)
    h = build_header(type=body["kind"], body_hash=body_hash(sealed_body),
                     body_len=len(sealed_body) - OVERHEAD, sender_kid=device.kid, **fields)
    return Sealed(h, seal_header(h, device, keys.header, nonce=header_nonce), sealed_body)


def decode_wire(wire: object) -> dict:
    """Decode the base64 fields of one served message (sizes capped); BadChatMessage if malformed."""
    if not isinstance(wire, dict):
        raise BadChatMessage("a chat message is an object")
    try:
        header = b64decode(wire.get("header"), max_size=MAX_SEALED_HEADER)
        body = wire.get("body")
        body = None if body is None else b64decode(body, max_size=MAX_SEALED_BODY)
    except EncodingError as e:
        raise BadChatMessage(f"chat message: {e}") from None
    return {**wire, "header": header, "body": body}
