"""Writing new links: kbapp's own, in Keybase's format, with context prefixes.

Every link we write is an outer link v2 signed as a signature packet v2 with
PREFIX_SIGCHAIN, and its inner JSON says `body.version` 3 (the verifier holds
such links to the prefix; see links.py). Reverse signatures (the delegated
key signing the link with its `reverse_sig` set to null, as Keybase does) are
detached packets v2 with PREFIX_REVERSE_SIG. Pure: time, ids and keys come in
as arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..encoding import b64encode, canonical_json, pack
from ..errors import BadChainLink
from ..keys import (
    PREFIX_REVERSE_SIG,
    PREFIX_SIGCHAIN,
    EncryptionKeyPair,
    SigningKeyPair,
    decode_sig_packet,
    kid_hex,
    make_sig_packet,
    sig_id,
)
from .links import (
    KBAPP_BODY_VERSION,
    NAME_BY_TYPE,
    SEQ_TYPE_PUBLIC,
    TYPE_BY_NAME,
    LinkType,
    body_has_revokes,
    load_inner,
    v2_type_for,
)

DEFAULT_EXPIRE_IN = 314_496_000   # Keybase's: ten years
HOST = "kbapp"
DEVICE_TYPES = ("desktop", "mobile", "paper")
_RESERVED = frozenset({"key", "type", "version", "merkle_root"})


def sign_inner(signer: SigningKeyPair, payload_json: bytes, *, seqno: int, prev: bytes | None,
               link_type: int, ignore_if_unsupported: bool = False,
               prefix: bytes | None = PREFIX_SIGCHAIN, ctime: int | None = None,
               seq_type: int = SEQ_TYPE_PUBLIC) -> dict:
    """Wrap inner JSON in an outer link v2 and sign it: the low level under build_link.

    Returns the server wire dict. `payload_hash` is the link id (the next
    link's prev) and `sig_id` Keybase's sig id; verifiers recompute both.
    """
    outer = _outer(payload_json, seqno, prev, link_type, ignore_if_unsupported, seq_type)
    sig = make_sig_packet(signer, outer, prefix=prefix)
    return {
        "seqno": seqno,
        "prev": prev.hex() if prev is not None else None,
        "sig": sig,
        "payload_json": payload_json.decode("utf-8"),
        "kid": kid_hex(signer.kid),
        "ctime": ctime,
        "sig_version": 2,
        "sig_id": sig_id(sig).hex(),
        "payload_hash": hashlib.sha256(outer).hexdigest(),
    }


def _outer(payload_json: bytes, seqno: int, prev: bytes | None, link_type: int, ignore: bool,
           seq_type: int = SEQ_TYPE_PUBLIC) -> bytes:
    return pack([2, seqno, prev, hashlib.sha256(payload_json).digest(), int(link_type),
                 seq_type, ignore])


@dataclass(frozen=True)
class Unsigned:
    """A link built by one device and signed by another (device provisioning:
    the new device writes and reverse-signs its sibkey link, an existing
    device signs it). Its link id is known before the signature exists."""

    payload_json: bytes
    seqno: int
    prev: bytes | None
    link_type: int
    ignore_if_unsupported: bool
    ctime: int
    seq_type: int = SEQ_TYPE_PUBLIC

    @property
    def link_id(self) -> bytes:
        return hashlib.sha256(_outer(self.payload_json, self.seqno, self.prev, self.link_type,
                                     self.ignore_if_unsupported, self.seq_type)).digest()

    def sign(self, signer: SigningKeyPair) -> dict:
        return sign_inner(signer, self.payload_json, seqno=self.seqno, prev=self.prev,
                          link_type=self.link_type, ignore_if_unsupported=self.ignore_if_unsupported,
                          ctime=self.ctime, seq_type=self.seq_type)


@dataclass(frozen=True)
class KidOnly:
    """Stands for a signer known only by its KID, with `build_link(..., sign=False)`."""

    kid: bytes


def _type_of(link_type: LinkType | str, body_fields: dict, ignore: bool) -> tuple[str, int]:
    if isinstance(link_type, str):
        name = link_type
        if name not in TYPE_BY_NAME and not ignore:
            raise ValueError(f"unknown link type {name!r} needs ignore_if_unsupported=True")
    else:
        name = NAME_BY_TYPE[LinkType(link_type)]
    try:
        number = v2_type_for(name, has_revokes=body_has_revokes(body_fields), ignore_if_unsupported=ignore)
    except BadChainLink as e:
        raise ValueError(str(e)) from None
    if not isinstance(link_type, str) and number != link_type:
        raise ValueError(f"type {LinkType(link_type).name} does not match the body (it is {number})")
    return name, number


def _merkle_root(mr: dict) -> dict:
    size, root = mr.get("size"), mr.get("hash")
    if isinstance(root, (bytes, bytearray)):
        root = bytes(root).hex()
    if type(size) is not int or size < 0 or not isinstance(root, str) or len(root) != 64:
        raise ValueError("merkle_root is {'size': int, 'hash': 32-byte hex}")
    bytes.fromhex(root)
    out = {"hash": root.lower(), "size": size}
    sig = mr.get("sig")          # the server's signature of that checkpoint (core/chains.py)
    if sig is not None:
        if not isinstance(sig, str) or not 0 < len(sig) <= 200:
            raise ValueError("merkle_root's sig is the checkpoint note's signature, base64")
        out["sig"] = sig
    return out


def build_link(signer: SigningKeyPair, *, uid: str, username: str, eldest_kid: bytes | str | None,
               seqno: int, prev: bytes | None, link_type: LinkType | str, body_fields: dict,
               ctime: int, expire_in: int = DEFAULT_EXPIRE_IN, merkle_root: dict | None = None,
               ignore_if_unsupported: bool = False,
               reverse_signer: tuple[str, SigningKeyPair] | None = None,
               sign: bool = True, seq_type: int = SEQ_TYPE_PUBLIC) -> dict | Unsigned:
    """Build and sign one link; returns the wire dict the server stores and serves.

    With `sign=False` the link is returned as `Unsigned` for `signer` (which
    may be a `KidOnly`) to sign elsewhere.

    `body_fields` go into the body beside `key`, `type`, `version` (and
    `merkle_root`, the checkpoint `{"size", "hash"}` the author last verified).
    `reverse_signer = (section, key)`: `key` signs the link with
    `body[section].reverse_sig` null, and that signature fills the field.
    """
    if type(seqno) is not int or seqno < 1:
        raise ValueError("seqno starts at 1")
    if prev is not None and (not isinstance(prev, bytes) or len(prev) != 32):
        raise ValueError("prev is a 32-byte link id or None")
    if (seqno == 1) != (prev is None):
        raise ValueError("exactly the first link has no prev")
    if type(ctime) is not int or ctime < 0 or type(expire_in) is not int or expire_in <= 0:
        raise ValueError("ctime and expire_in are non-negative integers (expire_in > 0)")
    if not isinstance(uid, str) or not isinstance(username, str):
        raise ValueError("uid and username are strings")
    if _RESERVED & body_fields.keys():
        raise ValueError(f"body_fields may not set {sorted(_RESERVED & body_fields.keys())}")
    name, number = _type_of(link_type, body_fields, ignore_if_unsupported)

    body = dict(body_fields)
    body["key"] = {"eldest_kid": kid_hex(eldest_kid if eldest_kid is not None else signer.kid),
                   "host": HOST, "kid": kid_hex(signer.kid), "uid": uid.lower(), "username": username}
    body["type"] = name
    body["version"] = KBAPP_BODY_VERSION
    if merkle_root is not None:
        body["merkle_root"] = _merkle_root(merkle_root)
    payload: dict[str, Any] = {"body": body, "ctime": ctime, "expire_in": expire_in,
                               "prev": prev.hex() if prev is not None else None,
                               "seq_type": seq_type, "seqno": seqno, "tag": "signature"}
    if ignore_if_unsupported:
        payload["ignore_if_unsupported"] = True
    if reverse_signer is not None:
        section, key = reverse_signer
        sec = body.get(section)
        if not isinstance(sec, dict) or sec.get("reverse_sig") is not None:
            raise ValueError(f"body.{section} must exist with reverse_sig None")
        body[section] = dict(sec, reverse_sig=None)
        rsig = make_sig_packet(key, canonical_json(payload), prefix=PREFIX_REVERSE_SIG, detached=True)
        body[section] = dict(sec, reverse_sig=rsig)
    payload_json = canonical_json(payload)
    load_inner(payload_json)   # the verifier's caps: never write what no one can read
    if not sign:
        return Unsigned(payload_json, seqno, prev, number, ignore_if_unsupported, ctime, seq_type)
    return sign_inner(signer, payload_json, seqno=seqno, prev=prev, link_type=number,
                      ignore_if_unsupported=ignore_if_unsupported, ctime=ctime, seq_type=seq_type)


def _device(device_id: str, name: str | None, device_type: str | None, kid: bytes | None) -> dict:
    if not isinstance(device_id, str) or not 2 <= len(device_id) <= 64 or len(device_id) % 2:
        raise ValueError("device_id is 1 to 32 bytes of hex")
    bytes.fromhex(device_id)
    dev: dict[str, Any] = {"id": device_id.lower()}
    if name is not None:
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise ValueError("a device name is 1 to 64 characters")
        dev["name"] = name
    if device_type is not None:
        if device_type not in DEVICE_TYPES:
            raise ValueError(f"device_type is one of {DEVICE_TYPES}")
        dev["type"] = device_type
    if kid is not None:
        dev["kid"] = kid_hex(kid)
        dev["status"] = 1
    return dev


def build_eldest(signer: SigningKeyPair, *, uid: str, username: str, ctime: int, device_id: str,
                 device_name: str, device_type: str = "desktop", seqno: int = 1,
                 prev: bytes | None = None, **extra: Any) -> dict:
    """The first link of a (sub)chain: `signer` becomes the eldest key, of this device.

    A reset writes another eldest link at the chain's next seqno.
    `extra`: expire_in, merkle_root.
    """
    return build_link(signer, uid=uid, username=username, eldest_kid=signer.kid, seqno=seqno, prev=prev,
                      link_type=LinkType.ELDEST, ctime=ctime, **extra,
                      body_fields={"device": _device(device_id, device_name, device_type, signer.kid)})


def build_sibkey(signer: SigningKeyPair, new_key: SigningKeyPair, *, device_id: str, device_name: str,
                 device_type: str = "desktop", **common: Any) -> dict:
    """Delegate a new device's signing key; the new key countersigns (reverse sig).

    `common`: build_link's uid, username, eldest_kid, seqno, prev, ctime,
    expire_in, merkle_root.
    """
    return build_link(signer, link_type=LinkType.SIBKEY, reverse_signer=("sibkey", new_key), **common,
                      body_fields={"device": _device(device_id, device_name, device_type, new_key.kid),
                                   "sibkey": {"kid": kid_hex(new_key.kid), "reverse_sig": None}})


def build_subkey(signer: SigningKeyPair, subkey: EncryptionKeyPair | bytes, *, device_id: str,
                 **common: Any) -> dict:
    """Delegate a device's encryption key; its parent is the signing sibkey."""
    kid = subkey.kid if isinstance(subkey, EncryptionKeyPair) else subkey
    return build_link(signer, link_type=LinkType.SUBKEY, **common,
                      body_fields={"device": _device(device_id, None, None, kid),
                                   "subkey": {"kid": kid_hex(kid), "parent_kid": kid_hex(signer.kid),
                                              "reverse_sig": None}})


def build_device(signer: SigningKeyPair, *, device_id: str, device_name: str | None = None,
                 device_type: str | None = None, **common: Any) -> dict:
    """Update a device's name or type."""
    return build_link(signer, link_type=LinkType.DEVICE, **common,
                      body_fields={"device": _device(device_id, device_name, device_type, None)})


def build_revoke(signer: SigningKeyPair, *, kids: Sequence[bytes | str] = (),
                 sig_ids: Sequence[bytes | str] = (), **common: Any) -> dict:
    """Revoke keys (a device: its sibkey and subkey) and/or earlier links by sig id."""
    rev: dict[str, list[str]] = {}
    if kids:
        rev["kids"] = [kid_hex(k) for k in kids]
    if sig_ids:
        rev["sig_ids"] = [s.hex() if isinstance(s, bytes) else s.lower() for s in sig_ids]
    if not rev:
        raise ValueError("a revoke link revokes at least one key or link")
    return build_link(signer, link_type=LinkType.REVOKE, body_fields={"revoke": rev}, **common)


def build_per_user_key(signer: SigningKeyPair, puk_signing: SigningKeyPair,
                       puk_encryption_kid: bytes | str, *, generation: int, **common: Any) -> dict:
    """Announce PUK generation `generation`; its signing key countersigns."""
    if type(generation) is not int or generation < 1:
        raise ValueError("PUK generations start at 1")
    return build_link(signer, link_type=LinkType.PER_USER_KEY, reverse_signer=("per_user_key", puk_signing),
                      **common, body_fields={"per_user_key": {
                          "encryption_kid": kid_hex(puk_encryption_kid), "generation": generation,
                          "reverse_sig": None, "signing_kid": kid_hex(puk_signing.kid)}})


def stub(wire: dict) -> dict:
    """The stubbed form `{"s2": outer}` of a v2 link (what a server may serve instead)."""
    if wire.get("sig_version") != 2:
        raise ValueError("only v2 links can be stubbed")
    return {"s2": b64encode(decode_sig_packet(wire["sig"])["body"]["payload"])}
