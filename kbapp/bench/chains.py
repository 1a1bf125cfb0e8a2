"""A realistic account history for the benches and tests: a long user chain written with
kbapp's own link builders (devices, revokes, PUK rotations, statements, embedded roots)."""

from __future__ import annotations

import random
from typing import Any, Callable


class _ChainWriter:
    """A realistic account history, written with kbapp's own link builders."""

    def __init__(self, rng: random.Random, username: str, merkle_root: Callable[[], dict | None]):
        from kbapp.core.keys import EncryptionKeyPair, SigningKeyPair
        from kbapp.core.puk import PerUserKey
        from kbapp.core.uid import device_id, uid_for

        self._sk = lambda: SigningKeyPair.from_seed(rng.randbytes(32))
        self._ek = lambda: EncryptionKeyPair.from_seed(rng.randbytes(32))
        self._puk = lambda gen: PerUserKey.derive(rng.randbytes(32), gen)
        self._dev_id = lambda: device_id(rng.randbytes(16))
        self.rng = rng
        self.username = username
        self.uid = uid_for(username)
        self.merkle_root = merkle_root
        self.seqno, self.prev = 1, None
        self.ctime = 1_700_000_000
        self.eldest = None
        self.devices: list[tuple[str, Any, Any]] = []     # active (id, sibkey, subkey); [0] = eldest device
        self.puk_gen = 0
        self.counts: dict[str, int] = {}
        self.verifies = 0                                  # Ed25519 checks a verifier must do
        self._others = [self._other_user(i) for i in range(32)]
        self._plan = self._history()

    def _other_user(self, i: int) -> dict:
        from kbapp.core.keys import kid_hex
        from kbapp.core.uid import uid_for

        name = f"friend{i:03d}"
        return {"name": name, "uid": uid_for(name), "kid": kid_hex(self._sk().kid),
                "proofs": [self.rng.randbytes(32).hex() for _ in range(2)]}

    def _common(self) -> dict:
        self.ctime += 37
        return {"uid": self.uid, "username": self.username, "eldest_kid": self.eldest.kid,
                "seqno": self.seqno, "prev": self.prev, "ctime": self.ctime, "merkle_root": self.merkle_root()}

    def _emit(self, kind: str, link: dict, verifies: int = 1) -> dict:
        from kbapp.core.sigchain import link_id

        self.prev = link_id(link)
        self.seqno += 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.verifies += verifies
        return link

    def _signer(self):
        return self.rng.choice(self.devices)[1]

    def _track_body(self) -> dict:
        o = self.rng.choice(self._others)
        proofs = [{"ctime": self.ctime - 86_400 * (k + 1), "curr": h, "etime": self.ctime + 10**8,
                   "prev": None if k == 0 else o["proofs"][k - 1],
                   "remote_key_proof": {"check_data_json": {"name": ("github", "twitter")[k],
                                                            "username": o["name"]},
                                        "proof_type": 3 + k, "state": 1},
                   "sig_id": h + "0f", "sig_type": 2}
                  for k, h in enumerate(o["proofs"])]
        return {"track": {"basics": {"id_version": 7, "last_id_change": self.ctime - 3600, "username": o["name"]},
                          "id": o["uid"], "key": {"kid": o["kid"]}, "remote_proofs": proofs,
                          "seq_tail": {"payload_hash": o["proofs"][-1], "seqno": 12,
                                       "sig_id": o["proofs"][0] + "0f"}}}

    def _history(self):
        from kbapp.core.sigchain import (build_device, build_eldest, build_link, build_per_user_key,
                                         build_revoke, build_sibkey, build_subkey)

        # signup: eldest device, its subkey, PUK generation 1 (as chainops.signup_links)
        sib, sub, dev = self._sk(), self._ek(), self._dev_id()
        self.eldest = sib
        self.ctime += 1
        yield self._emit("eldest", build_eldest(sib, uid=self.uid, username=self.username, ctime=self.ctime,
                                                device_id=dev, device_name="laptop", device_type="desktop",
                                                merkle_root=self.merkle_root()))
        yield self._emit("subkey", build_subkey(sib, sub, device_id=dev, **self._common()))
        self.devices.append((dev, sib, sub))
        self.puk_gen = 1
        puk = self._puk(1)
        yield self._emit("per_user_key", build_per_user_key(sib, puk.signing, puk.encryption_kid, generation=1,
                                                            **self._common()), 2)
        n_dev = 0
        while True:
            # a new device (as chainops.device_links): vouched for by an active device
            n_dev += 1
            sib, sub, dev = self._sk(), self._ek(), self._dev_id()
            kind = ("mobile", "desktop", "paper")[n_dev % 3]
            yield self._emit("sibkey", build_sibkey(self._signer(), sib, device_id=dev, device_name=f"dev{n_dev}",
                                                    device_type=kind, **self._common()), 2)
            yield self._emit("subkey", build_subkey(sib, sub, device_id=dev, **self._common()))
            self.devices.append((dev, sib, sub))
            for _ in range(12):
                yield self._emit("track", build_link(self._signer(), link_type="track",
                                                     body_fields=self._track_body(), **self._common()))
            yield self._emit("web_service_binding", build_link(
                self._signer(), link_type="web_service_binding", **self._common(),
                body_fields={"service": {"name": "github", "username": self.username}}))
            yield self._emit("device", build_device(self._signer(), device_id=dev, device_name=f"dev{n_dev}-renamed",
                                                    **self._common()))
            for _ in range(2):
                yield self._emit("track", build_link(self._signer(), link_type="track",
                                                     body_fields=self._track_body(), **self._common()))
            if len(self.devices) > 3:
                # revoke the oldest non-eldest device, then rotate the PUK (as chainops.revoke_links)
                _, old_sib, old_sub = self.devices.pop(1)
                yield self._emit("revoke", build_revoke(self.eldest, kids=[old_sib.kid, old_sub.kid],
                                                        **self._common()))
                self.puk_gen += 1
                puk = self._puk(self.puk_gen)
                yield self._emit("per_user_key", build_per_user_key(
                    self.eldest, puk.signing, puk.encryption_kid, generation=self.puk_gen, **self._common()), 2)

    def take(self, n: int) -> list[dict]:
        return [next(self._plan) for _ in range(n)]


def build_bench_chain(n: int, seed: int = 1) -> tuple[_ChainWriter, list[dict]]:
    rng = random.Random(seed)
    size = [1000]

    def root() -> dict:
        size[0] += 3
        return {"size": size[0], "hash": rng.randbytes(32).hex()}

    writer = _ChainWriter(rng, "benchuser", root)
    return writer, writer.take(n)
