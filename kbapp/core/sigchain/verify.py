"""Sigchain playback: from the links the server serves to the keys a user has.

Follows Keybase's loader: seqnos run 1, 2, 3...; each link's prev is the
previous link's id; every full link names our uid (and username); each link is
signed by a sibkey that is active at that point (delegated earlier in the same
subchain, not revoked, not expired at the link's ctime). An eldest link starts
a new subchain (an account reset): the keys of earlier subchains are gone, and
only links since the last eldest link are live. Every subchain, earlier ones
included, is verified in full.

Where kbapp is stricter than Keybase, it is on purpose: re-delegating a key the
subchain already knew is refused (a revoked key never comes back), a stubbed
tail is refused (a stub is unsigned, so only a signed successor vouches for
it), and revoking a sibkey also retires the subkeys it delegated.

One pass, no quadratic work; the cost is one Ed25519 verification per link
(two for links carrying a reverse signature) plus parsing.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

from dataclasses import replace

import nacl.exceptions
import nacl.signing

from ..errors import (
    BadChainLink,
    BadPerUserKey,
    BadSignature,
    ChainLinkStubbedUnsupported,
    InvalidSibkey,
    NonexistentKid,
    StubbedFirstLink,
    StubbedSignatureNeeded,
    TooLarge,
    WrongEldest,
    WrongPerUserKeyReverseSig,
    WrongPrev,
    WrongReverseSig,
    WrongSeqno,
    WrongUid,
    WrongUsername,
)
from ..keys import (
    CURVE25519_KID_TYPE,
    ED25519_KID_TYPE,
    kid_hex,
)
from .links import (
    SEQ_TYPE_PUBLIC,
    ChainLink,
    LinkType,
    allow_stubbing,
    body_has_revokes,
    parse_kid_field,
    parse_link,
    stub_type_supported,
)
from .reverse import check_reverse_sig
from .state import ChainState, Device, KeyInfo, PukInfo, Subchain  # noqa: F401 (re-exported)

MAX_CHAIN_LINKS = 1 << 20
MAX_REVOKES_PER_LINK = 256
DEVICE_TYPES_OURS = frozenset({"desktop", "mobile", "paper"})

# Known user link types that carry statements (proofs, follows...) but no keys.
STATEMENT_TYPES = frozenset({
    LinkType.WEB_SERVICE_BINDING, LinkType.WEB_SERVICE_BINDING_WITH_REVOKE,
    LinkType.TRACK, LinkType.UNTRACK, LinkType.CRYPTOCURRENCY, LinkType.CRYPTOCURRENCY_WITH_REVOKE,
    LinkType.ANNOUNCEMENT, LinkType.WALLET_STELLAR, LinkType.PGP_UPDATE,
})


# --- playback -----------------------------------------------------------------------


class _Verifier:
    """Ed25519 checks with one VerifyKey per signer (chains reuse a few keys)."""

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: dict[bytes, nacl.signing.VerifyKey] = {}

    def ok(self, kid: bytes, message: bytes, signature: bytes) -> bool:
        vk = self._keys.get(kid)
        if vk is None:
            vk = self._keys[kid] = nacl.signing.VerifyKey(kid[2:34])
        try:
            vk.verify(message, signature)
        except (nacl.exceptions.BadSignatureError, ValueError):
            return False
        return True

    def check_link(self, link: ChainLink) -> None:
        if not self.ok(link.signer, link.signed_message, link.signature):
            raise BadSignature(f"link {link.seqno}: signature does not verify")


class _Device:
    __slots__ = ("id", "name", "type", "sibkey", "subkey", "added_seqno", "revoked_seqno", "ctime")

    def __init__(self, id: str, name, type, sibkey, added_seqno: int, ctime: int):
        self.id, self.name, self.type, self.sibkey = id, name, type, sibkey
        self.subkey = None
        self.added_seqno, self.revoked_seqno, self.ctime = added_seqno, None, ctime

    def freeze(self) -> Device:
        return Device(self.id, self.name, self.type, self.sibkey, self.subkey,
                      self.added_seqno, self.revoked_seqno, self.ctime)


def _section(link: ChainLink, name: str) -> dict:
    sec = link.payload["body"].get(name)
    if type(sec) is not dict:
        raise BadChainLink(f"link {link.seqno}: a {link.type_name} link needs a body.{name} object")
    return sec


def _etime(link: ChainLink) -> int | None:
    """When a key this link delegates expires: kbapp's links only. Keybase does not
    enforce expiry when it plays its chains back (its own data has links signed
    by keys past their expire_in), so neither do we for its links."""
    return link.ctime + link.expire_in if link.expire_in and link.is_ours else None


class _Subchain:
    """Key state while one subchain plays back."""

    def __init__(self, link: ChainLink, verifier: _Verifier, used_eldests: set[bytes]):
        if link.link_type != LinkType.ELDEST:
            raise BadChainLink(f"link {link.seqno}: a chain must start with an eldest link")
        if link.eldest_kid is not None and link.eldest_kid != link.signer:
            raise WrongEldest(f"link {link.seqno}: an eldest link names another eldest key")
        if link.signer in used_eldests:
            raise BadChainLink(f"link {link.seqno}: reset to an eldest key used before")
        verifier.check_link(link)
        self.verifier = verifier
        self.eldest = link.signer
        self.eldest_seqno = link.seqno
        self.links: list[ChainLink] = [link]
        self.keys: dict[bytes, KeyInfo] = {}
        self.sibkeys: dict[bytes, KeyInfo] = {}
        self.subkeys: dict[bytes, KeyInfo] = {}
        self.key_by_sig: dict[str, bytes] = {}
        self.revoked_sig_ids: set[str] = set()
        self.devices: dict[str, _Device] = {}
        self.puks: dict[int, PukInfo] = {}
        self.puk_kids: set[bytes] = set()
        self.other_links: list[ChainLink] = []
        dev = self._new_device(link, link.signer)
        self._add_key(link, link.signer, "sibkey", None, dev)
        self._revocations(link)

    @classmethod
    def resume(cls, state: "ChainState", verifier: _Verifier) -> "_Subchain":
        """The live subchain of a verified state, ready to take more links. Built from
        copies: the state stays valid whatever the new links turn out to be."""
        self = cls.__new__(cls)
        self.verifier = verifier
        self.eldest = bytes.fromhex(state.eldest_kid)
        self.eldest_seqno = state.eldest_seqno
        self.links = list(state.links)
        self.keys = {bytes.fromhex(k): info for k, info in state.keys.items()}
        self.sibkeys = {bytes.fromhex(k): info for k, info in state.sibkeys.items()}
        self.subkeys = {bytes.fromhex(k): info for k, info in state.subkeys.items()}
        # Each key was delegated by exactly one link: its sig id names the key in revocations.
        self.key_by_sig = {self.links[info.added_seqno - self.eldest_seqno].sig_id.hex(): kid
                           for kid, info in self.keys.items()}
        self.revoked_sig_ids = set(state.revoked_sig_ids)
        self.devices = {}
        for d in state.devices.values():
            dev = self.devices[d.id] = _Device(d.id, d.name, d.type, d.sibkey, d.added_seqno, d.ctime)
            dev.subkey, dev.revoked_seqno = d.subkey, d.revoked_seqno
        self.puks = dict(state.puks)
        self.puk_kids = {bytes.fromhex(k) for p in state.puks.values() for k in (p.signing_kid, p.encryption_kid)}
        self.other_links = list(state.other_links)
        return self

    # -- the per-link step ------------------------------------------------------

    def apply(self, link: ChainLink) -> None:
        info = self.sibkeys.get(link.signer)
        if info is None:
            known = self.keys.get(link.signer)
            why = "was revoked" if known is not None and known.revoked_seqno else \
                "is not a sibkey of this subchain"
            raise InvalidSibkey(f"link {link.seqno}: signing key {link.signer.hex()} {why}")
        if info.etime is not None and link.ctime > info.etime:
            raise InvalidSibkey(f"link {link.seqno}: signing key {link.signer.hex()} had expired")
        self.verifier.check_link(link)
        if link.eldest_kid is not None and link.eldest_kid != self.eldest:
            raise WrongEldest(f"link {link.seqno}: names eldest key {link.eldest_kid.hex()}, "
                              f"but its subchain's is {self.eldest.hex()}")
        t = link.link_type
        if t == LinkType.SIBKEY:
            self._sibkey(link)
        elif t == LinkType.SUBKEY:
            self._subkey(link)
        elif t == LinkType.PER_USER_KEY:
            self._per_user_key(link)
        elif t == LinkType.DEVICE:
            self._device_update(link)
        elif t == LinkType.REVOKE:
            if not body_has_revokes(link.payload["body"]):
                raise BadChainLink(f"link {link.seqno}: a revoke link that revokes nothing")
        elif t in STATEMENT_TYPES or link.ignore_if_unsupported:
            self.other_links.append(link)
        else:
            raise BadChainLink(f"link {link.seqno}: unsupported link type {link.type_name!r} "
                               "that may not be ignored")
        self._revocations(link)
        self.links.append(link)

    # -- delegations -----------------------------------------------------------------

    def _new_kid(self, link: ChainLink, value, kind: int, what: str) -> bytes:
        kid = parse_kid_field(value, f"link {link.seqno} {what}")
        if kid[1] != kind:
            raise BadChainLink(f"link {link.seqno}: {what} has the wrong key type")
        if kid in self.keys:
            raise BadChainLink(f"link {link.seqno}: {what} {kid.hex()} was delegated before")
        return kid

    def _add_key(self, link: ChainLink, kid: bytes, kind: str, parent: bytes | None,
                 device: _Device | None) -> None:
        info = KeyInfo(kid.hex(), kind, link.seqno, device.id if device else None,
                       parent.hex() if parent else None, _etime(link))
        self.keys[kid] = info
        (self.sibkeys if kind == "sibkey" else self.subkeys)[kid] = info
        self.key_by_sig[link.sig_id.hex()] = kid

    def _sibkey(self, link: ChainLink) -> None:
        sec = _section(link, "sibkey")
        kid = self._new_kid(link, sec.get("kid"), ED25519_KID_TYPE, "sibkey")
        self._reverse_sig(link, "sibkey", kid, WrongReverseSig)
        self._add_key(link, kid, "sibkey", link.signer, self._new_device(link, kid))

    def _subkey(self, link: ChainLink) -> None:
        sec = _section(link, "subkey")
        kid = self._new_kid(link, sec.get("kid"), CURVE25519_KID_TYPE, "subkey")
        parent = link.signer
        if sec.get("parent_kid") is not None:
            parent = parse_kid_field(sec["parent_kid"], f"link {link.seqno} subkey.parent_kid")
            if parent not in self.keys:   # Keybase's NONEXISTENT_KID: outside the key family
                raise NonexistentKid(f"link {link.seqno}: subkey parent {parent.hex()} is not a key "
                                     "of this subchain")
            if parent not in self.sibkeys:
                raise InvalidSibkey(f"link {link.seqno}: subkey parent is not an active sibkey")
        device = None
        dev = link.payload["body"].get("device")
        if dev is not None:
            dev_id = dev.get("id") if type(dev) is dict else None
            device = self.devices.get(dev_id.lower()) if isinstance(dev_id, str) else None
            if device is None or device.revoked_seqno is not None or device.subkey is not None:
                raise BadChainLink(f"link {link.seqno}: subkey for an unknown, revoked or complete device")
            if device.sibkey != parent.hex():
                raise BadChainLink(f"link {link.seqno}: a device's subkey must hang off its own sibkey")
            if dev.get("kid") is not None and parse_kid_field(dev["kid"], "device.kid") != kid:
                raise BadChainLink(f"link {link.seqno}: device.kid is not the subkey")
            device.subkey = kid.hex()
        elif link.is_ours:
            raise BadChainLink(f"link {link.seqno}: a kbapp subkey belongs to a device")
        self._add_key(link, kid, "subkey", parent, device)

    def _per_user_key(self, link: ChainLink) -> None:
        sec = _section(link, "per_user_key")
        gen = sec.get("generation")
        want = max(self.puks) + 1 if self.puks else 1
        if type(gen) is not int or gen != want:
            raise BadPerUserKey(f"link {link.seqno}: PUK generation {gen!r}, expected {want}")
        try:
            sign = parse_kid_field(sec.get("signing_kid"), "per_user_key.signing_kid")
            enc = parse_kid_field(sec.get("encryption_kid"), "per_user_key.encryption_kid")
        except BadChainLink as e:
            raise BadPerUserKey(str(e)) from None
        if sign[1] != ED25519_KID_TYPE or enc[1] != CURVE25519_KID_TYPE:
            raise BadPerUserKey(f"link {link.seqno}: PUK keys of the wrong types")
        if sign in self.puk_kids or enc in self.puk_kids:
            raise BadPerUserKey(f"link {link.seqno}: PUK generation {gen} reuses an older key")
        self._reverse_sig(link, "per_user_key", sign, WrongPerUserKeyReverseSig)
        self.puk_kids.update((sign, enc))
        self.puks[gen] = PukInfo(gen, sign.hex(), enc.hex(), link.seqno)

    def _reverse_sig(self, link: ChainLink, section: str, kid: bytes, err: type[WrongReverseSig]) -> None:
        """The delegated key signed this very link, with its reverse_sig set to null (reverse.py)."""
        check_reverse_sig(link.payload, ("body", section), kid, ours=link.is_ours, verifier=self.verifier,
                          fail=lambda why: err(f"link {link.seqno}: {section} {why}"))

    # -- devices -------------------------------------------------------------------

    def _new_device(self, link: ChainLink, kid: bytes) -> _Device | None:
        dev = link.payload["body"].get("device")
        if dev is None:
            if link.is_ours:
                raise BadChainLink(f"link {link.seqno}: a kbapp sibkey belongs to a device")
            return None
        dev_id, name, typ = _device_fields(link, dev)
        if dev_id in self.devices:
            raise BadChainLink(f"link {link.seqno}: device {dev_id} was added before")
        if dev.get("kid") is not None and parse_kid_field(dev["kid"], "device.kid") != kid:
            raise BadChainLink(f"link {link.seqno}: device.kid is not the key this link delegates")
        device = self.devices[dev_id] = _Device(dev_id, name, typ, kid.hex(), link.seqno, link.ctime)
        return device

    def _device_update(self, link: ChainLink) -> None:
        dev_id, name, typ = _device_fields(link, _section(link, "device"))
        device = self.devices.get(dev_id)
        if device is None or device.revoked_seqno is not None:
            raise BadChainLink(f"link {link.seqno}: update of an unknown or revoked device")
        device.name = name if name is not None else device.name
        device.type = typ if typ is not None else device.type

    # -- revocations -----------------------------------------------------------------

    def _revocations(self, link: ChainLink) -> None:
        rev = link.payload["body"].get("revoke")
        if rev is None:
            return
        if type(rev) is not dict:
            raise BadChainLink(f"link {link.seqno}: body.revoke is not an object")
        kids = _list_field(link, rev, "kid", "kids")
        sig_ids = _list_field(link, rev, "sig_id", "sig_ids")
        for value in kids:
            kid = parse_kid_field(value, f"link {link.seqno} revoke.kid")
            if kid not in self.keys:
                raise BadChainLink(f"link {link.seqno}: revokes {kid.hex()}, a key this subchain never had")
            self._revoke_key(kid, link.seqno)
        for value in sig_ids:
            if not isinstance(value, str) or len(value) != 66:
                raise BadChainLink(f"link {link.seqno}: malformed revoke.sig_id")
            sid = value.lower()
            self.revoked_sig_ids.add(sid)
            kid = self.key_by_sig.get(sid)
            if kid is not None:
                self._revoke_key(kid, link.seqno)

    def _revoke_key(self, kid: bytes, seqno: int) -> None:
        info = self.keys[kid]
        if info.revoked_seqno is not None:
            return
        self.keys[kid] = replace(info, revoked_seqno=seqno)
        self.sibkeys.pop(kid, None)
        self.subkeys.pop(kid, None)
        if info.kind == "sibkey":
            if info.device_id is not None:
                self.devices[info.device_id].revoked_seqno = seqno
            for sub, sinfo in list(self.subkeys.items()):
                if sinfo.parent == info.kid:
                    self._revoke_key(sub, seqno)

    def finish(self) -> Subchain:
        def hexed(d: dict[bytes, KeyInfo]) -> dict[str, KeyInfo]:
            return {info.kid: info for info in d.values()}

        return Subchain(
            eldest_kid=self.eldest.hex(), eldest_seqno=self.eldest_seqno,
            last_seqno=self.links[-1].seqno, links=self.links,
            sibkeys=hexed(self.sibkeys), subkeys=hexed(self.subkeys), keys=hexed(self.keys),
            revoked=frozenset(i.kid for i in self.keys.values() if i.revoked_seqno is not None),
            revoked_sig_ids=frozenset(self.revoked_sig_ids),
            devices={d.id: d.freeze() for d in self.devices.values()},
            puks=dict(self.puks), other_links=self.other_links)


def _device_fields(link: ChainLink, dev) -> tuple[str, str | None, str | None]:
    if type(dev) is not dict:
        raise BadChainLink(f"link {link.seqno}: body.device is not an object")
    dev_id, name, typ = dev.get("id"), dev.get("name"), dev.get("type")
    if not isinstance(dev_id, str) or not 2 <= len(dev_id) <= 64 or len(dev_id) % 2:
        raise BadChainLink(f"link {link.seqno}: malformed device id")
    try:
        bytes.fromhex(dev_id)
    except ValueError:
        raise BadChainLink(f"link {link.seqno}: malformed device id") from None
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 64):
        raise BadChainLink(f"link {link.seqno}: malformed device name")
    if typ is not None and (not isinstance(typ, str) or len(typ) > 32):
        raise BadChainLink(f"link {link.seqno}: malformed device type")
    if link.is_ours and link.link_type != LinkType.DEVICE and (name is None or typ not in DEVICE_TYPES_OURS):
        raise BadChainLink(f"link {link.seqno}: a kbapp device needs a name and a type in "
                           f"{sorted(DEVICE_TYPES_OURS)}")
    return dev_id.lower(), name, typ


def _list_field(link: ChainLink, obj: dict, one: str, many: str) -> list:
    out = [] if obj.get(one) is None else [obj[one]]
    more = obj.get(many)
    if more is not None:
        if not isinstance(more, list) or len(more) > MAX_REVOKES_PER_LINK:
            raise BadChainLink(f"link {link.seqno}: revoke.{many} must be a short list")
        out.extend(more)
    return out


def _merkle_root(link: ChainLink) -> tuple[int, int, str] | None:
    """kbapp's `body.merkle_root = {"size", "hash"}`; Keybase's other shape is skipped."""
    mr = link.payload["body"].get("merkle_root")
    if mr is None:
        return None
    if type(mr) is dict and "size" in mr:
        size, root = mr.get("size"), mr.get("hash")
        if type(size) is int and 0 <= size < 1 << 63 and isinstance(root, str) and len(root) == 64:
            try:
                bytes.fromhex(root)
                return (link.seqno, size, root.lower())
            except ValueError:
                pass
    if link.is_ours:
        raise BadChainLink(f"link {link.seqno}: malformed merkle_root")
    return None


@contextmanager
def _cyclic_gc_paused():
    """Playback allocates many small, acyclic objects that all survive into the
    result: the cyclic collector would rescan them again and again (about 15%
    of a 10,000-link playback) and can free nothing. Reference counting still
    frees everything; the collector resumes (if it was on) when we are done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def verify_chain(links: list[dict], *, uid: str, username: str | None = None,
                 eldest_kid: str | bytes | None = None, resume: ChainState | None = None) -> ChainState:
    """Play back a whole chain, from seqno 1, as served; raise a typed ChainError,
    BadSignature or EncodingError at the first thing that does not check out.

    `username` None takes the first link's and holds every link to it.
    `eldest_kid` (from the Merkle map), when given, must be the live subchain's.
    `resume`, a state this function returned for the same uid, makes `links` the links
    after its tail: only they are played back (the result is the one a whole playback
    gives), so a long chain that grows costs in proportion to what it grew by.
    """
    with _cyclic_gc_paused():
        return _verify_chain(links, uid=uid, username=username, eldest_kid=eldest_kid, resume=resume)


def _verify_chain(links: list[dict], *, uid: str, username: str | None,
                  eldest_kid: str | bytes | None, resume: ChainState | None = None) -> ChainState:
    start = 0 if resume is None else resume.tail_seqno
    _check_arguments(links, start, uid, username)
    uid = uid.lower()
    verifier = _Verifier()
    finished: list[Subchain] = []
    used_eldests: set[bytes] = set()
    current: _Subchain | None = None
    merkle_roots: list[tuple[int, int, str]] = []
    prev_id: bytes | None = None
    link: ChainLink | None = None
    if resume is not None and start:
        if resume.uid != uid:
            raise WrongUid(f"cannot resume uid {resume.uid}'s chain as {uid}'s")
        if username is not None and username.lower() != resume.username.lower():
            raise WrongUsername(f"cannot resume {resume.username!r}'s chain as {username!r}'s")
        if not links:
            return _check_eldest(resume, eldest_kid)
        username = resume.username
        finished = list(resume.previous_subchains)
        used_eldests = {bytes.fromhex(s.eldest_kid) for s in finished}
        current = _Subchain.resume(resume, verifier)
        merkle_roots = list(resume.merkle_roots)
        prev_id = bytes.fromhex(resume.tail_link_id)
    want_name = username.lower() if username is not None else None

    for index, wire in enumerate(links, start):
        link = parse_link(wire)
        if link.seqno != index + 1:
            raise WrongSeqno(f"link at position {index + 1} has seqno {link.seqno}")
        if link.prev != prev_id:
            raise WrongPrev(f"link {link.seqno}: prev does not point at link {index}")
        if link.seq_type != SEQ_TYPE_PUBLIC:
            raise BadChainLink(f"link {link.seqno}: seq_type {link.seq_type} in a user chain")
        starts = link.seqno == 1 or link.link_type == LinkType.ELDEST
        if link.stubbed:
            _check_stub(link, starts)
            current.links.append(link)
        else:
            if link.uid != uid:
                raise WrongUid(f"link {link.seqno} is for uid {link.uid}, not {uid}")
            name = link.username.lower()
            if want_name is None:
                want_name, username = name, link.username
            elif name != want_name:
                raise WrongUsername(f"link {link.seqno} is for {link.username!r}, not {username!r}")
            if starts:
                if current is not None:
                    finished.append(current.finish())
                    used_eldests.add(current.eldest)
                current = _Subchain(link, verifier, used_eldests)
            else:
                current.apply(link)
            mr = _merkle_root(link)
            if mr is not None:
                merkle_roots.append(mr)
        prev_id = link.link_id

    if link is not None and link.stubbed:
        raise StubbedSignatureNeeded(f"link {link.seqno}: the chain's last link is stubbed")
    live = current.finish() if current is not None else None
    if live is None:
        return _check_eldest(ChainState(uid, username, None, None, [], 0, None, {}, {}, {}, frozenset(),
                                        frozenset(), {}, {}, merkle_roots, [], finished), eldest_kid)
    return _check_eldest(ChainState(
        uid=uid, username=username, eldest_kid=live.eldest_kid, eldest_seqno=live.eldest_seqno,
        links=live.links, tail_seqno=link.seqno, tail_link_id=link.link_id.hex(),
        sibkeys=live.sibkeys, subkeys=live.subkeys, keys=live.keys, revoked=live.revoked,
        revoked_sig_ids=live.revoked_sig_ids, devices=live.devices, puks=live.puks,
        merkle_roots=merkle_roots, other_links=live.other_links, previous_subchains=finished), eldest_kid)


def _check_arguments(links: object, start: int, uid: object, username: object) -> None:
    if not isinstance(links, list):
        raise BadChainLink("a chain must be a list of links")
    if start + len(links) > MAX_CHAIN_LINKS:
        raise TooLarge(f"chain of {start + len(links)} links")
    if not isinstance(uid, str):
        raise WrongUid("uid must be a hex string")
    if username is not None and not isinstance(username, str):
        raise WrongUsername("username must be a string")


def _check_stub(link: ChainLink, starts: bool) -> None:
    """A stub stands only where Keybase allows one, checked in Keybase's order."""
    if not stub_type_supported(link):   # Keybase checks this first, as it unpacks
        raise ChainLinkStubbedUnsupported(f"link {link.seqno}: a stub of type {link.link_type}, "
                                          "not a user link type and not marked ignorable")
    if starts:
        raise StubbedFirstLink(f"link {link.seqno}: an eldest link is stubbed")
    if not allow_stubbing(link.link_type):
        raise StubbedSignatureNeeded(f"link {link.seqno}: a link of type {link.link_type} is stubbed")


def _check_eldest(state: ChainState, eldest_kid: str | bytes | None) -> ChainState:
    """`eldest_kid` (from the Merkle map), when given, must be the live subchain's."""
    if eldest_kid is not None:
        want = kid_hex(eldest_kid)
        if state.eldest_kid is None or state.eldest_kid != want:
            raise WrongEldest(f"the chain's live eldest key is not {want}")
    return state
