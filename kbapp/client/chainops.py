"""The link batches the client writes, and the views it makes of a chain.

Each batch extends a chain we have just verified (`state`), so seqno, prev and
the eldest key come from verified data, never from the server's word.
"""

from __future__ import annotations

from kbapp.core import errors
from kbapp.core.chains import embed
from kbapp.core.keys import DeviceKeys, SigningKeyPair, kid_hex
from kbapp.core.merkle.note import key_fingerprint
from kbapp.core.keys import parse_kid
from kbapp.core.puk import PerUserKey
from kbapp.core.encoding import loads_json
from kbapp.core.sigchain import (ChainState, Device, KidOnly, LinkType, Unsigned, build_eldest,
                                 build_per_user_key, build_revoke, build_sibkey, build_subkey, link_id,
                                 verify_chain)

from .models import BadCheckpointView, CheckpointView, DeviceView, Identity, KeyView


class _Chain:
    """Tracks seqno and prev while a batch of links is built."""

    def __init__(self, uid: str, username: str, eldest_kid, seqno: int, prev: bytes | None, ctime: int, cp):
        self.common = {"uid": uid, "username": username, "eldest_kid": eldest_kid, "ctime": ctime,
                       "merkle_root": embed(cp)}
        self.seqno, self.prev = seqno, prev
        self.links: list[dict] = []

    @classmethod
    def after(cls, state: ChainState, ctime: int, cp) -> "_Chain":
        return cls(state.uid, state.username, state.eldest_kid, state.tail_seqno + 1,
                   bytes.fromhex(state.tail_link_id), ctime, cp)

    def add(self, builder, *args, **kwargs) -> None:
        link = builder(*args, seqno=self.seqno, prev=self.prev, **self.common, **kwargs)
        self.links.append(link)
        self.prev = link_id(link)
        self.seqno += 1


def signup_links(*, uid: str, username: str, keys: DeviceKeys, device_id: str, device_name: str,
                 puk: PerUserKey, ctime: int, merkle_root) -> list[dict]:
    """eldest (this device's sibkey), its subkey, and PUK generation 1."""
    eldest = build_eldest(keys.sibkey, uid=uid, username=username, ctime=ctime, device_id=device_id,
                          device_name=device_name, device_type="desktop", merkle_root=embed(merkle_root))
    chain = _Chain(uid, username, keys.sibkey.kid, 2, link_id(eldest), ctime, merkle_root)
    chain.links.append(eldest)
    chain.add(build_subkey, keys.sibkey, keys.subkey, device_id=device_id)
    chain.add(build_per_user_key, keys.sibkey, puk.signing, puk.encryption_kid, generation=1)
    return chain.links


def device_links(*, state: ChainState, signer: SigningKeyPair, keys: DeviceKeys, device_id: str,
                 device_name: str, device_type: str, ctime: int, merkle_root) -> list[dict]:
    """A new device: its sibkey vouched for by `signer`, then its own subkey."""
    chain = _Chain.after(state, ctime, merkle_root)
    chain.add(build_sibkey, signer, keys.sibkey, device_id=device_id, device_name=device_name,
              device_type=device_type)
    chain.add(build_subkey, keys.sibkey, keys.subkey, device_id=device_id)
    return chain.links


def revoke_links(*, state: ChainState, signer: SigningKeyPair, device: Device, new_puk: PerUserKey,
                 ctime: int, merkle_root) -> list[dict]:
    """Revoke a device's keys, then announce the next PUK generation."""
    kids = [k for k in (device.sibkey, device.subkey) if k]
    if not kids:
        raise errors.NotFound(f"device {device.id} has no keys to revoke")
    chain = _Chain.after(state, ctime, merkle_root)
    chain.add(build_revoke, signer, kids=kids)
    chain.add(build_per_user_key, signer, new_puk.signing, new_puk.encryption_kid,
              generation=new_puk.generation)
    return chain.links


def kex_new_device(*, state: ChainState, signer_kid: str, keys: DeviceKeys, device_id: str,
                   device_name: str, ctime: int, merkle_root) -> tuple[Unsigned, dict]:
    """The new device's half: its sibkey link for `signer_kid` to sign, and its subkey link."""
    if kid_hex(signer_kid) not in state.sibkeys:
        raise errors.ProvisioningError("the offering key is not an active device of this account")
    chain = _Chain.after(state, ctime, merkle_root)
    sib = build_sibkey(KidOnly(parse_kid(signer_kid).raw), keys.sibkey, device_id=device_id,
                       device_name=device_name, device_type="desktop", sign=False,
                       seqno=chain.seqno, prev=chain.prev, **chain.common)
    chain.seqno, chain.prev = chain.seqno + 1, sib.link_id
    chain.add(build_subkey, keys.sibkey, keys.subkey, device_id=device_id)
    return sib, chain.links[0]


def kex_countersign(*, state: ChainState, chain: list[dict], signer: SigningKeyPair,
                    reply: dict) -> tuple[list[dict], Device]:
    """The existing device's half: sign the new sibkey link, then check the whole
    batch by playing the chain back with it, exactly as every reader will."""
    payload, subkey = reply.get("sibkey_payload"), reply.get("subkey")
    if not isinstance(payload, str) or not isinstance(subkey, dict) or len(payload) > 64 * 1024:
        raise errors.ProvisioningError("malformed reply from the new device")
    inner = loads_json(payload, max_size=64 * 1024, max_depth=16)
    ctime = inner.get("ctime") if isinstance(inner, dict) else None
    if type(ctime) is not int:
        raise errors.ProvisioningError("the new device's link has no ctime")
    sib = Unsigned(payload.encode(), state.tail_seqno + 1, bytes.fromhex(state.tail_link_id),
                   int(LinkType.SIBKEY), False, ctime).sign(signer)
    links = [sib, subkey]
    try:
        after = verify_chain(chain + links, uid=state.uid, username=state.username)
    except errors.KbappError as e:
        raise errors.ProvisioningError(f"the new device's links do not verify: {e}") from None
    new = [d for d in after.devices.values() if d.id not in state.devices]
    if len(new) != 1 or after.tail_seqno != state.tail_seqno + 2 or not new[0].subkey:
        raise errors.ProvisioningError("the new device's links must add exactly one device with its keys")
    return links, new[0]


def check_puk(state: ChainState, generation: int, seed: bytes) -> PerUserKey:
    """A seed is only a PUK if its derived keys are the ones the chain signed."""
    info = state.puks.get(generation)
    if info is None:
        raise errors.BadPerUserKey(f"the chain has no per-user key generation {generation}")
    return PerUserKey.derive(seed, generation).check(signing_kid=info.signing_kid,
                                                     encryption_kid=info.encryption_kid)


def _fingerprint(kid: str) -> str:
    return key_fingerprint(parse_kid(kid).public)


def identity_view(user, *, current_device: str | None = None) -> Identity:
    state: ChainState = user.state
    devices = sorted(
        (DeviceView(d.id, d.name or "(unnamed)", d.type or "?", d.sibkey or "", d.subkey, d.added_seqno,
                    d.ctime, d.revoked_seqno is not None, d.id == current_device)
         for d in state.devices.values()),
        key=lambda d: (d.revoked, d.added_seqno))
    keys = [KeyView(k.kid, "sibkey", _fingerprint(k.kid), k.device_id) for k in state.sibkeys.values()]
    keys += [KeyView(k.kid, "subkey", _fingerprint(k.kid), k.device_id) for k in state.subkeys.values()]
    puk = state.puk
    if puk is not None:
        keys += [KeyView(puk.signing_kid, "puk-signing", _fingerprint(puk.signing_kid)),
                 KeyView(puk.encryption_kid, "puk-encryption", _fingerprint(puk.encryption_kid))]
    cp = user.checkpoint
    return Identity(
        username=user.username, uid=user.uid, eldest_kid=kid_hex(state.eldest_kid),
        chain_length=state.tail_seqno, tail_link_id=state.tail_link_id,
        puk_generation=puk.generation if puk else 0, devices=devices, keys=keys,
        checkpoint=CheckpointView(cp.size, cp.root.hex(), cp.seen_at) if cp else None,
        changed=user.changed,
        bad_checkpoints=[BadCheckpointView(b["seqno"], b["signer"], b["why"]) for b in user.bad_checkpoints])
