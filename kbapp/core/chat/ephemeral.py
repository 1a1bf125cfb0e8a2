"""Ephemeral keys of exploding messages (docs/protocol.md "Exploding messages"), pure.

Keybase's design reduced to two levels (../shared/research/chat-files.md section 3):

* a **device EK** per device and generation: a random 32-byte seed, the X25519 key pair
  HMAC-SHA256(seed, "kbapp-derived-ephemeral-device-dh-v1"), and a statement
  {uid, kid, generation, dh_public, ctime, checkpoint} signed by the device sibkey
  (prefix kbapp-device-ek-v1);
* a **team EK** per team and generation: a random 32-byte seed, a statement
  {team_id, generation, ptk_generation, public, ctime, checkpoint} signed by the team's
  PTK signing key of `ptk_generation` (prefix kbapp-team-ek-v1), and one NaCl box of the
  seed per member device, to that device's current, non-stale device EK, from a fresh
  X25519 key per box. `public` (X25519 of HMAC-SHA256(seed, "kbapp-derived-team-ek-dh-v1"))
  binds the seed to the signed statement: a box holding any other seed is refused.

An exploding body is sealed under seal.exploding_body_key(team EK seed, conv_id). Forward
secrecy comes from deleting seeds on schedule: a generation lives a day, and its keys are
deleted a week after the next generation begins (so at most ~8 days of exposure).
Whether a statement's signer is (still) a live key is the client's question, answered from
verified chains; this module checks shapes, signatures and bindings only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

import nacl.exceptions
import nacl.public

from ..encoding import EncodingError, b64decode, b64encode, pack, unpack
from ..errors import (BadEkBox, BadEkSignature, BadEkStatement, BadKID, BadSignature, BadTeamEkSignature,
                      InvalidLifetime, TeamEkMismatch, TeamEkStalePtk)
from ..keys import ED25519_KID_TYPE, EncryptionKeyPair, SigningKeyPair, parse_kid, sign_detached, verify_detached
from .header import MAX_LIFETIME, MIN_LIFETIME

PREFIX_DEVICE_EK = b"kbapp-device-ek-v1"
PREFIX_TEAM_EK = b"kbapp-team-ek-v1"
DEVICE_DH_CONTEXT = b"kbapp-derived-ephemeral-device-dh-v1"
TEAM_DH_CONTEXT = b"kbapp-derived-team-ek-dh-v1"

GENERATION_INTERVAL = 24 * 3600        # a new device EK and team EK each day
KEEP_AFTER_NEXT = 7 * 24 * 3600        # a generation's keys are deleted a week after the next one begins
DEVICE_EK_STALE = 90 * 24 * 3600       # a device EK older than this gets no boxes (a device long offline)
MAX_GENERATION = 1 << 31
MAX_TIME = (1 << 53) - 1
MAX_STATEMENT = 512
SEED = 32
BOX_SIZE = 32 + 24 + SEED + 16         # ephemeral public || nonce || box(seed)
MAX_BOXES = 1000                       # member devices per team EK generation

_DURATION = re.compile(r"(\d{1,9})\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _derive_dh(seed: bytes, context: bytes) -> EncryptionKeyPair:
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED:
        raise ValueError("an ephemeral seed is 32 bytes")
    return EncryptionKeyPair.from_seed(hmac.new(bytes(seed), context, hashlib.sha256).digest())


def device_ek_keypair(seed: bytes) -> EncryptionKeyPair:
    """The X25519 key pair of a device EK seed."""
    return _derive_dh(seed, DEVICE_DH_CONTEXT)


def team_ek_public(seed: bytes) -> bytes:
    """The public key a team EK statement signs for its seed (the seed's commitment)."""
    return _derive_dh(seed, TEAM_DH_CONTEXT).public


# -- statements ----------------------------------------------------------------------


def _bad(msg: str) -> BadEkStatement:
    return BadEkStatement(msg)


def _int(v: object, name: str, lo: int = 0, hi: int = MAX_TIME) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise _bad(f"{name} is an integer in [{lo}, {hi}]")
    return v


def _bytes(v: object, name: str, size: int) -> bytes:
    if not isinstance(v, bytes) or len(v) != size:
        raise _bad(f"{name} is {size} bytes")
    return v


def _checkpoint(v: object) -> tuple[int, bytes]:
    if not isinstance(v, list) or len(v) != 2:
        raise _bad("checkpoint is [size, root]")
    return _int(v[0], "checkpoint size", 1), _bytes(v[1], "checkpoint root", 32)


def _map(data: object, keys: set) -> dict:
    if not isinstance(data, bytes) or len(data) > MAX_STATEMENT:
        raise _bad("a statement is at most 512 bytes")
    try:
        m = unpack(data, max_size=MAX_STATEMENT, max_depth=3)
    except EncodingError as e:
        raise _bad(f"statement: {e}") from None
    if not isinstance(m, dict) or set(m) != keys:
        raise _bad(f"a statement has exactly the fields {sorted(keys)}")
    if m["v"] != 1:
        raise _bad(f"unknown statement version {m['v']!r}")
    return m


def _canonical(m: dict, data: bytes) -> None:
    if pack({k: m[k] for k in sorted(m)}) != data:
        raise _bad("a statement is in canonical form (sorted keys, shortest encodings)")


def _wire(wire: object) -> tuple[bytes, bytes]:
    """(statement bytes, 64-byte signature) of {"statement": b64, "sig": b64}."""
    if not isinstance(wire, dict) or not {"statement", "sig"} <= set(wire):
        raise _bad("a signed statement is {statement, sig}")
    try:
        data = b64decode(wire["statement"], max_size=MAX_STATEMENT)
        sig = b64decode(wire["sig"], max_size=64)
    except EncodingError as e:
        raise _bad(f"signed statement: {e}") from None
    if len(sig) != 64:
        raise _bad("a statement signature is 64 bytes")
    return data, sig


@dataclass(frozen=True)
class DeviceEk:
    """A device EK statement: `dh_public` receives team EK boxes for this device and generation."""

    uid: str                          # hex
    kid: str                          # hex KID of the signing sibkey
    generation: int
    dh_public: bytes
    ctime: int                        # the device's clock: staleness and rotation, informational
    checkpoint: tuple[int, bytes]     # the log checkpoint the device had verified
    data: bytes                       # the signed bytes
    sig: bytes

    def wire(self) -> dict:
        return {"statement": b64encode(self.data), "sig": b64encode(self.sig)}

    def stale(self, now: int) -> bool:
        return now - self.ctime > DEVICE_EK_STALE


_DEVICE_KEYS = {"v", "uid", "kid", "generation", "dh_public", "ctime", "checkpoint"}


def make_device_ek(device: SigningKeyPair, *, uid: str, generation: int, seed: bytes, ctime: int,
                   checkpoint: tuple[int, bytes]) -> DeviceEk:
    """Sign a device EK statement for `seed` with the device's sibkey."""
    m = {"checkpoint": [int(checkpoint[0]), bytes(checkpoint[1])], "ctime": int(ctime),
         "dh_public": device_ek_keypair(seed).public, "generation": int(generation), "kid": bytes(device.kid),
         "uid": bytes.fromhex(uid), "v": 1}
    data = pack(m)
    return parse_device_ek({"statement": b64encode(data),
                            "sig": b64encode(sign_detached(device, data, prefix=PREFIX_DEVICE_EK))})


def parse_device_ek(wire: object) -> DeviceEk:
    """A device EK statement, strictly parsed, its signature checked with the kid it names.
    BadEkStatement (shape) or BadEkSignature; whether that kid is live is the caller's question."""
    data, sig = _wire(wire)
    m = _map(data, _DEVICE_KEYS)
    try:
        kid = parse_kid(_bytes(m["kid"], "kid", 35))
    except BadKID as e:
        raise _bad(f"kid: {e}") from None
    if kid.kind != ED25519_KID_TYPE:
        raise _bad("a device EK statement is signed by an Ed25519 sibkey")
    st = DeviceEk(uid=_bytes(m["uid"], "uid", 16).hex(), kid=kid.hex,
                  generation=_int(m["generation"], "generation", 1, MAX_GENERATION),
                  dh_public=_bytes(m["dh_public"], "dh_public", 32), ctime=_int(m["ctime"], "ctime"),
                  checkpoint=_checkpoint(m["checkpoint"]), data=data, sig=sig)
    _canonical(m, data)
    try:
        verify_detached(kid.public, data, sig, prefix=PREFIX_DEVICE_EK)
    except BadSignature:
        raise BadEkSignature("the device EK statement's signature does not verify with its kid") from None
    return st


@dataclass(frozen=True)
class TeamEk:
    """A team EK statement (its signature checked against the verified team chain)."""

    team_id: str                      # hex
    generation: int
    ptk_generation: int
    public: bytes
    ctime: int
    checkpoint: tuple[int, bytes]
    data: bytes
    sig: bytes

    def wire(self) -> dict:
        return {"statement": b64encode(self.data), "sig": b64encode(self.sig)}


_TEAM_KEYS = {"v", "team_id", "generation", "ptk_generation", "public", "ctime", "checkpoint"}


def parse_team_ek_unchecked(wire: object) -> TeamEk:
    """The statement's fields, shape checked, signature NOT checked (use verify_team_ek)."""
    data, sig = _wire(wire)
    m = _map(data, _TEAM_KEYS)
    st = TeamEk(team_id=_bytes(m["team_id"], "team_id", 16).hex(),
                generation=_int(m["generation"], "generation", 1, MAX_GENERATION),
                ptk_generation=_int(m["ptk_generation"], "ptk_generation", 1, MAX_GENERATION),
                public=_bytes(m["public"], "public", 32), ctime=_int(m["ctime"], "ctime"),
                checkpoint=_checkpoint(m["checkpoint"]), data=data, sig=sig)
    _canonical(m, data)
    return st


def make_team_ek(ptk, *, team_id: str, generation: int, seed: bytes, ctime: int,
                 checkpoint: tuple[int, bytes]) -> TeamEk:
    """Sign a team EK statement with `ptk` (a core.teams.TeamKey: its generation is bound in)."""
    m = {"checkpoint": [int(checkpoint[0]), bytes(checkpoint[1])], "ctime": int(ctime),
         "generation": int(generation), "ptk_generation": int(ptk.generation), "public": team_ek_public(seed),
         "team_id": bytes.fromhex(team_id), "v": 1}
    data = pack(m)
    return parse_team_ek_unchecked({"statement": b64encode(data),
                                    "sig": b64encode(sign_detached(ptk.signing, data, prefix=PREFIX_TEAM_EK))})


def verify_team_ek(wire: object, team, *, team_id: str | None = None, generation: int | None = None) -> TeamEk:
    """A team EK statement of the verified TeamState `team`, signed by the PTK signing key of the
    generation it names. BadTeamEkSignature, TeamEkMismatch (another team or generation than
    asked), BadEkStatement."""
    st = parse_team_ek_unchecked(wire)
    if st.team_id != (team_id or team.id) or (generation is not None and st.generation != generation):
        raise TeamEkMismatch(f"a team EK statement of team {st.team_id} generation {st.generation} "
                             f"where {team_id or team.id} generation {generation} was asked for")
    ptk = team.ptks.get(st.ptk_generation)
    if ptk is None:
        raise BadTeamEkSignature(f"the team has no PTK generation {st.ptk_generation}")
    try:
        verify_detached(parse_kid(ptk.signing_kid).public, st.data, st.sig, prefix=PREFIX_TEAM_EK)
    except (BadSignature, BadKID):
        raise BadTeamEkSignature("the team EK statement is not signed by the team's PTK of the generation "
                                 "it names") from None
    return st


def check_current(st: TeamEk, team) -> TeamEk:
    """A team EK a sender may use now: bound to the team's newest PTK generation (a rotation,
    e.g. a removal, retires every team EK of older PTKs: the removed member knew those PTKs)."""
    if st.ptk_generation != team.generation:
        raise TeamEkStalePtk(f"team EK generation {st.generation} is bound to PTK generation "
                             f"{st.ptk_generation}, the team is at {team.generation}")
    return st


def check_order(older: TeamEk | None, newer: TeamEk) -> None:
    """Team EK generations never go back to an older PTK generation than an earlier one."""
    if older is not None and older.generation < newer.generation and newer.ptk_generation < older.ptk_generation:
        raise TeamEkStalePtk(f"team EK generation {newer.generation} names PTK generation "
                             f"{newer.ptk_generation} after generation {older.generation} named "
                             f"{older.ptk_generation}")


# -- boxes ---------------------------------------------------------------------------


def box_seed(seed: bytes, recipient: DeviceEk, *, ephemeral_secret: bytes, nonce: bytes) -> bytes:
    """eph_pub || nonce || box(eph, recipient dh_public, seed): a fresh X25519 key per box."""
    if len(ephemeral_secret) != 32 or len(nonce) != 24 or len(seed) != SEED:
        raise ValueError("a box takes a 32-byte seed, a 32-byte ephemeral secret and a 24-byte nonce")
    eph = nacl.public.PrivateKey(bytes(ephemeral_secret))
    ct = nacl.public.Box(eph, nacl.public.PublicKey(recipient.dh_public)).encrypt(bytes(seed), bytes(nonce)).ciphertext
    return bytes(eph.public_key) + bytes(nonce) + ct


def open_seed_box(box: bytes, device_ek_seed: bytes, statement: TeamEk) -> bytes:
    """The team EK seed in `box`, checked against the statement's public key."""
    if not isinstance(box, (bytes, bytearray)) or len(box) != BOX_SIZE:
        raise BadEkBox(f"a team EK box is {BOX_SIZE} bytes")
    mine = device_ek_keypair(device_ek_seed)
    try:
        seed = nacl.public.Box(mine.private, nacl.public.PublicKey(bytes(box[:32]))).decrypt(
            bytes(box[56:]), bytes(box[32:56]))
    except (nacl.exceptions.CryptoError, ValueError):
        raise BadEkBox("the team EK box does not open with this device's ephemeral key") from None
    if len(seed) != SEED or not hmac.compare_digest(team_ek_public(seed), statement.public):
        raise TeamEkMismatch("the boxed seed is not the one the team EK statement signs")
    return seed


# -- the schedule --------------------------------------------------------------------


def due(ctime: int | None, now: int) -> bool:
    """A new generation is due: none yet, or the newest began a day ago (or in the future)."""
    return ctime is None or now - ctime >= GENERATION_INTERVAL or ctime > now + GENERATION_INTERVAL


def delete_after(next_ctime: int) -> int:
    """When a generation's keys are deleted: a week after the next generation began."""
    return next_ctime + KEEP_AFTER_NEXT


def parse_lifetime(text: object) -> int:
    """Seconds of an exploding lifetime: `90`, `90s`, `10m`, `1h`, `2d`, within 30 s .. 7 days."""
    if isinstance(text, int) and not isinstance(text, bool):
        secs = text
    else:
        m = _DURATION.fullmatch(str(text).strip().lower())
        if m is None:
            raise InvalidLifetime(f"an exploding lifetime is like 30s, 10m, 1h or 7d, not {str(text)[:40]!r}")
        secs = int(m.group(1)) * _UNITS[m.group(2)]
    if not MIN_LIFETIME <= secs <= MAX_LIFETIME:
        raise InvalidLifetime(f"an exploding lifetime is 30 s to 7 days, not {secs} s")
    return secs


__all__ = ["DeviceEk", "TeamEk", "make_device_ek", "parse_device_ek", "make_team_ek", "verify_team_ek",
           "parse_team_ek_unchecked", "check_current", "check_order", "box_seed", "open_seed_box",
           "device_ek_keypair", "team_ek_public", "due", "delete_after", "parse_lifetime"]
