"""Per-team keys (PTK): a 32-byte seed per generation, boxed to each member's PUK.

Byte-compatible with Keybase (go/teams/keys.go, per_team_key.go), so the boxes
and prevs in Keybase's team vectors open with this code:

    signing    Ed25519 seed      = HMAC-SHA512(seed, "Keybase-Derived-Team-NaCl-EdDSA-1")[:32]
    encryption Curve25519 secret = HMAC-SHA512(seed, "Keybase-Derived-Team-NaCl-DH-1")[:32]
    secretbox  key               = HMAC-SHA512(seed, "Keybase-Derived-Team-NaCl-SecretBox-1")[:32]

A seed box is a NaCl box from the sender's PUK encryption key to the
recipient's PUK encryption key; its plaintext is the bare seed. A box proves
nothing on its own: the seed it holds is accepted only when its derived KIDs
are the ones the verified chain announced for that generation (open_seed_box
checks this), so the server cannot relabel a box for another generation, and
a box from anyone else cannot plant a key.

Generation n's record also carries `prev`: generation n-1's seed sealed under
generation n's secretbox key (msgpack `[1, nonce, secretbox]`), so a member
added later, who is boxed only the newest seed, unrolls every older one; a
member removed before the rotation never learns generation n.

Application keys (chat, kbfs) hash the seed under their own reason string, so
a key handed to one application says nothing about the team key or the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import nacl.exceptions
import nacl.public
import nacl.secret

from ..derive import TEAM, check_generation, check_seed, derive_keys, derive_secret
from ..encoding import b64decode, b64encode, pack, unpack
from ..errors import BadKID, BadTeamKey, EncodingError
from ..keys import CURVE25519_KID_TYPE, EncryptionKeyPair, SigningKeyPair, parse_kid
from ..puk import _same_kid

if TYPE_CHECKING:
    from .state import TeamState

SEED_SIZE = 32
NONCE_SIZE = 24
REASON_SIGNING, REASON_ENCRYPTION, REASON_SECRETBOX = TEAM.signing, TEAM.encryption, TEAM.secretbox
# Application keys: one reason per application (kbapp's own strings).
APPLICATIONS = {
    "chat": b"kbapp-team-app-key-chat-v1",
    "kbfs": b"kbapp-team-app-key-kbfs-v1",
}
PREV_VERSION = 1
MAX_GENERATION = 1 << 31
MAX_BOX_B64 = 512


def derive_team_secret(seed: bytes, reason: bytes) -> bytes:
    """Keybase's team derivation: HMAC-SHA512(key=seed, message=reason)[:32] (core/derive.py)."""
    return derive_secret(seed, reason, TEAM)


def _check_generation(generation: object) -> int:
    return check_generation(generation, TEAM)


def _check_seed(seed: object) -> bytes:
    return check_seed(seed, TEAM)


@dataclass(frozen=True)
class TeamKey:
    """One generation of a team's keys, all derived from `seed`."""

    generation: int
    seed: bytes = field(repr=False)
    signing: SigningKeyPair = field(repr=False)
    encryption: EncryptionKeyPair = field(repr=False)
    secretbox_key: bytes = field(repr=False)

    @classmethod
    def derive(cls, seed: bytes, generation: int) -> "TeamKey":
        seed, signing, encryption, secretbox_key = derive_keys(seed, TEAM)
        return cls(generation=_check_generation(generation), seed=seed, signing=signing,
                   encryption=encryption, secretbox_key=secretbox_key)

    @property
    def signing_kid(self) -> bytes:
        return self.signing.kid

    @property
    def encryption_kid(self) -> bytes:
        return self.encryption.kid

    def check(self, signing_kid: bytes | str, encryption_kid: bytes | str) -> "TeamKey":
        """Raise BadTeamKey unless the derived keys are the ones the chain names."""
        if not _same_kid(signing_kid, self.signing.kid) or not _same_kid(encryption_kid, self.encryption.kid):
            raise BadTeamKey(f"team key generation {self.generation}: the seed does not derive "
                             "the keys the chain announced")
        return self

    def application_key(self, app: str) -> bytes:
        """The 32-byte key of one application ("chat", "kbfs") for this generation."""
        reason = APPLICATIONS.get(app)
        if reason is None:
            raise ValueError(f"unknown team application {app!r}")
        return derive_team_secret(self.seed, reason)


# --- seed boxes (to members' PUKs) --------------------------------------------------


@dataclass(frozen=True)
class SeedBox:
    """One member's box of one generation, in Keybase's wire shape (`to_wire`)."""

    generation: int
    nonce: bytes
    sender_kid: bytes            # the sender's PUK encryption KID
    ctext: bytes
    per_user_key_seqno: int      # the recipient's PUK link (Keybase's field)

    def to_wire(self) -> dict:
        return {"ctext": b64encode(self.ctext), "generation": self.generation,
                "nonce": b64encode(self.nonce), "per_user_key_seqno": self.per_user_key_seqno,
                "sender_kid": self.sender_kid.hex()}

    @classmethod
    def from_wire(cls, wire: object) -> "SeedBox":
        if not isinstance(wire, dict):
            raise BadTeamKey("a team key box is an object")
        try:
            nonce = b64decode(_str(wire.get("nonce")), max_size=64)
            ctext = b64decode(_str(wire.get("ctext")), max_size=MAX_BOX_B64)
            sender = parse_kid(_str(wire.get("sender_kid"))).raw
        except (EncodingError, BadKID) as e:
            raise BadTeamKey(f"malformed team key box: {e}") from None
        gen, puk_seqno = wire.get("generation"), wire.get("per_user_key_seqno", 0)
        if len(nonce) != NONCE_SIZE or sender[1] != CURVE25519_KID_TYPE:
            raise BadTeamKey("malformed team key box: nonce or sender key")
        if type(puk_seqno) is not int or puk_seqno < 0:
            raise BadTeamKey("malformed team key box: per_user_key_seqno")
        return cls(_check_generation(gen), nonce, sender, ctext, puk_seqno)


def _str(v: object) -> str:
    if not isinstance(v, str):
        raise EncodingError("expected a string")
    return v


def box_seed(key: TeamKey, sender: EncryptionKeyPair, recipient_public: bytes, *, nonce: bytes,
             per_user_key_seqno: int = 0) -> SeedBox:
    """Seal `key`'s seed from the sender's PUK to one member's PUK encryption key.

    `nonce`: 24 fresh random bytes (Keybase: 20 random + a 4-byte counter).
    """
    if not isinstance(recipient_public, (bytes, bytearray)) or len(recipient_public) != 32:
        raise ValueError("recipient_public is a 32-byte Curve25519 key")
    if not isinstance(nonce, (bytes, bytearray)) or len(nonce) != NONCE_SIZE:
        raise ValueError("nonce is 24 bytes")
    box = nacl.public.Box(sender.private, nacl.public.PublicKey(bytes(recipient_public)))
    ctext = box.encrypt(key.seed, bytes(nonce)).ciphertext
    return SeedBox(key.generation, bytes(nonce), sender.kid, bytes(ctext), per_user_key_seqno)


def open_seed_box(box: SeedBox | dict, recipient: EncryptionKeyPair, *, signing_kid: bytes | str,
                  encryption_kid: bytes | str, generation: int | None = None) -> TeamKey:
    """The team key in a member's box, checked against the chain's KIDs for its generation.

    BadTeamKey when it does not open (not ours, tampered) or its seed derives
    other keys than the chain announced (a box that does not match the chain).
    """
    if not isinstance(box, SeedBox):
        box = SeedBox.from_wire(box)
    if generation is not None and box.generation != generation:
        raise BadTeamKey(f"team key box is for generation {box.generation}, expected {generation}")
    try:
        sender = nacl.public.PublicKey(box.sender_kid[2:34])
        seed = nacl.public.Box(recipient.private, sender).decrypt(box.ctext, box.nonce)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise BadTeamKey(f"team key box for generation {box.generation} does not open") from None
    return TeamKey.derive(_check_seed(seed), box.generation).check(signing_kid, encryption_kid)


# --- prev chaining -------------------------------------------------------------------


def encrypt_prev(new: TeamKey, prev: TeamKey, nonce: bytes) -> str:
    """Generation n-1's seed sealed under generation n's secretbox key (Keybase's `prev`)."""
    if prev.generation != new.generation - 1:
        raise ValueError("prev must be the generation just below")
    if not isinstance(nonce, (bytes, bytearray)) or len(nonce) != NONCE_SIZE:
        raise ValueError("nonce is 24 bytes")
    ctext = nacl.secret.SecretBox(new.secretbox_key).encrypt(prev.seed, bytes(nonce)).ciphertext
    return b64encode(pack([PREV_VERSION, bytes(nonce), bytes(ctext)]))


def decrypt_prev(new: TeamKey, prev: str, *, signing_kid: bytes | str,
                 encryption_kid: bytes | str) -> TeamKey:
    """Generation n-1 from the `prev` stored with generation n, checked against the chain."""
    if new.generation < 2:
        raise BadTeamKey("generation 1 has no previous key")
    try:
        obj = unpack(b64decode(_str(prev), max_size=MAX_BOX_B64), max_size=MAX_BOX_B64, max_depth=2)
    except EncodingError as e:
        raise BadTeamKey(f"opening prev of generation {new.generation}: {e}") from None
    if (not isinstance(obj, list) or len(obj) != 3 or obj[0] != PREV_VERSION
            or not isinstance(obj[1], bytes) or len(obj[1]) != NONCE_SIZE or not isinstance(obj[2], bytes)):
        raise BadTeamKey(f"opening prev of generation {new.generation}: malformed")
    try:
        seed = nacl.secret.SecretBox(new.secretbox_key).decrypt(obj[2], obj[1])
    except (nacl.exceptions.CryptoError, ValueError):
        raise BadTeamKey(f"opening prev of generation {new.generation}: does not open") from None
    return TeamKey.derive(_check_seed(seed), new.generation - 1).check(signing_kid, encryption_kid)


def unroll(newest: TeamKey, prevs: Mapping[int, str], kids: Mapping[int, tuple[str, str]]) -> dict[int, TeamKey]:
    """Every generation from `newest` down to 1, each checked against the chain.

    `prevs[g]` is the prev stored with generation g (it holds g-1); `kids[g]`
    = (signing_kid, encryption_kid) from the verified TeamState.ptks.
    """
    if newest.generation not in kids:
        raise BadTeamKey(f"the chain has no generation {newest.generation}")
    newest.check(*kids[newest.generation])
    out = {newest.generation: newest}
    cur = newest
    while cur.generation > 1:
        p = prevs.get(cur.generation)
        if p is None:
            raise BadTeamKey(f"missing the prev of team key generation {cur.generation}")
        if cur.generation - 1 not in kids:
            raise BadTeamKey(f"the chain has no generation {cur.generation - 1}")
        cur = decrypt_prev(cur, p, signing_kid=kids[cur.generation - 1][0],
                           encryption_kid=kids[cur.generation - 1][1])
        out[cur.generation] = cur
    return out


def open_team_keys(state: "TeamState", box: SeedBox | dict | None, recipient: EncryptionKeyPair,
                   prevs: Mapping[int, str], known: Mapping[int, TeamKey] | None = None) -> dict[int, TeamKey]:
    """Every generation a member can read, checked against the verified chain.

    `box`: the member's box of the team's newest generation (a box of another
    generation means the server withholds the newest key: refused); `prevs[g]`
    the prev stored with generation g; `known`: generations already held (a
    warm client), which stop the unrolling early.
    """
    if box is None:
        raise BadTeamKey("no key box for this member at the newest generation")
    if not isinstance(box, SeedBox):
        box = SeedBox.from_wire(box)
    g = box.generation
    info = state.ptks.get(g)
    if info is None:
        raise BadTeamKey(f"per-team key not found for generation {g} in the verified chain")
    if g != state.generation:
        raise BadTeamKey(f"key box is for generation {g}, but the team is at generation {state.generation}")
    out: dict[int, TeamKey] = {}
    for kg, k in (known or {}).items():
        ki = state.ptks.get(kg)
        if ki is None or k.generation != kg:
            raise BadTeamKey(f"a cached team key of generation {kg} the chain does not have")
        out[kg] = k.check(ki.signing_kid, ki.encryption_kid)
    cur = open_seed_box(box, recipient, signing_kid=info.signing_kid, encryption_kid=info.encryption_kid)
    have = out.get(g)
    if have is not None and have.seed != cur.seed:
        raise BadTeamKey(f"two different seeds for generation {g}")
    out[g] = cur
    # Walk down through the prevs served; each one served is checked, even
    # where the generation below is already known; stop at the first known.
    while cur.generation > 1:
        p = prevs.get(cur.generation)
        known_below = out.get(cur.generation - 1)
        if p is None:
            if known_below is None:
                raise BadTeamKey(f"gap in per-team keys: no prev stored with generation {cur.generation}")
            break
        below = state.ptks.get(cur.generation - 1)
        if below is None:
            raise BadTeamKey(f"per-team key not found for generation {cur.generation - 1}")
        cur = decrypt_prev(cur, p, signing_kid=below.signing_kid, encryption_kid=below.encryption_kid)
        if known_below is not None:
            break
        out[cur.generation] = cur
    return out
