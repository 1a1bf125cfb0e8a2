"""Proofs, assertions and follow snapshots: the pure part (no I/O, no clock).

A proof is a `web_service_binding` link in the prover's sigchain whose body
names the service and the account there; the prover posts a short text on
that service that names the kbapp user and the link's sig id. A checker
fetches that text (client/proofs/) and checks it here.

Follow (`track`) links snapshot what the follower verified; `follow_diff`
compares such a snapshot with a newer identity.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from .errors import EncodingError

# -- proof text ------------------------------------------------------------------

SHORT_SIG_ID_LEN = 32          # hex characters of the sig id shown in a proof (128 bits)
PROOF_TEMPLATE = "kbapp proof: I am {user} on kbapp, sig {sigid}"
_PROOF_RE = re.compile(r"kbapp proof: I am ([a-z0-9_]{1,32}) on kbapp, sig ([0-9a-f]{16,66})")

# Proof states, from best to worst. `temporary`: could not tell (network, 5xx,
# timeout); `broken`: the proof is gone (404, deleted); `changed`: a proof text
# is there but for another sig or another user.
OK, TEMPORARY, BROKEN, CHANGED, UNCHECKED = "ok", "temporary", "broken", "changed", "unchecked"
STATES = (OK, TEMPORARY, BROKEN, CHANGED, UNCHECKED)


def short_sig_id(sig_id_hex: str) -> str:
    return sig_id_hex.lower()[:SHORT_SIG_ID_LEN]


def proof_text(username: str, sig_id_hex: str) -> str:
    """The text a user posts on a service: fixed, readable, names user and sig."""
    return PROOF_TEMPLATE.format(user=username, sigid=short_sig_id(sig_id_hex))


def find_proof_claims(text: str) -> list[tuple[str, str]]:
    """Every (username, short sig id) a text claims, HTML entities and tags undone."""
    plain = html.unescape(re.sub(r"<[^>]{0,2000}>", " ", text))
    plain = re.sub(r"\s+", " ", plain)
    return [(m.group(1), m.group(2)) for m in _PROOF_RE.finditer(plain)]


@dataclass(frozen=True)
class TextCheck:
    state: str     # ok | changed | broken
    reason: str


def check_proof_text(texts: list[str], username: str, sig_id_hex: str) -> TextCheck:
    """Does any of `texts` (what a service shows) carry this proof?

    `ok` when one names exactly this user and sig id; `changed` when proof texts
    are there but for another sig or user; `broken` when none is there.
    """
    want = short_sig_id(sig_id_hex)
    claims = [c for t in texts for c in find_proof_claims(t)]
    for user, sid in claims:
        if user == username and sid == want:
            return TextCheck(OK, "the proof text names this user and sig id")
    if claims:
        user, sid = claims[0]
        if user != username:
            return TextCheck(CHANGED, f"the text found names kbapp user {user!r}, not {username!r}")
        return TextCheck(CHANGED, f"the text found names sig {sid}, not {want}")
    return TextCheck(BROKEN, "no proof text found")


# -- link bodies --------------------------------------------------------------------

MAX_NAME = 255


def proof_body(service: str, username: str, kind: str) -> dict:
    """body_fields of a web_service_binding link."""
    return {"service": {"name": service, "username": username, "proof_kind": kind}}


@dataclass(frozen=True)
class ProofClaim:
    """A live proof link as the chain states it (not yet checked on the service)."""

    service: str
    username: str
    kind: str
    sig_id: str        # full hex
    seqno: int
    ctime: int | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.service, self.username)


def parse_proof_body(body: dict) -> tuple[str, str, str]:
    svc = body.get("service") if isinstance(body, dict) else None
    if not isinstance(svc, dict):
        raise EncodingError("a web_service_binding link has no body.service object")
    name, user, kind = svc.get("name"), svc.get("username"), svc.get("proof_kind", "")
    for v in (name, user, kind):
        if not isinstance(v, str) or len(v) > MAX_NAME:
            raise EncodingError("malformed body.service")
    if not name or not user:
        raise EncodingError("body.service needs a name and a username")
    return name, user, kind


# -- assertions ------------------------------------------------------------------------

# Service aliases a user may type after the `@`.
SERVICE_ALIASES = {"https": "website", "http": "website", "web": "website", "website": "website",
                   "dns": "dns", "github": "github", "mastodon": "mastodon", "kbapp": "kbapp"}
_ASSERT_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,253}$")


@dataclass(frozen=True)
class AssertionPart:
    service: str       # kbapp | website | dns | github | mastodon | a generic service's name
    name: str          # kbapp username, host, domain, account (mastodon: user@instance)

    def __str__(self) -> str:
        if self.service == "kbapp":
            return self.name
        if self.service == "mastodon":
            return self.name
        rev = {"website": "https"}.get(self.service, self.service)
        return f"{self.name}@{rev}"


def parse_assertion(text: str, *, generic_services: frozenset[str] | set[str] = frozenset()) -> list[AssertionPart]:
    """`alice`, `alice@github`, `alice.dev@dns`, `alice@mastodon.social`,
    `alice.dev@https`, and `+`-joined compounds (all parts must hold)."""
    if not isinstance(text, str) or not text.strip() or len(text) > 1024:
        raise EncodingError("an assertion is a non-empty string")
    parts = []
    for raw in text.strip().split("+"):
        raw = raw.strip()
        if raw.count("@") > 1:
            raise EncodingError(f"bad assertion part {raw!r}")
        if "@" not in raw:
            name, svc = raw, "kbapp"
        else:
            name, svc = raw.split("@")
        if not name or not _ASSERT_NAME_RE.match(name) or not svc:
            raise EncodingError(f"bad assertion part {raw!r}")
        svc_l = svc.lower()
        if svc_l in SERVICE_ALIASES:
            service = SERVICE_ALIASES[svc_l]
            if service in ("website", "dns"):
                name = name.lower()
            elif service == "kbapp":
                name = name.lower()
            elif service == "mastodon":
                raise EncodingError("a mastodon assertion names the instance: user@instance.example")
            elif service == "github":
                name = name.lower()
            parts.append(AssertionPart(service, name))
        elif svc_l in generic_services:
            parts.append(AssertionPart(svc_l, name.lower()))
        elif "." in svc_l and _ASSERT_NAME_RE.match(svc_l):
            parts.append(AssertionPart("mastodon", f"{name.lower()}@{svc_l}"))
        else:
            raise EncodingError(f"unknown service {svc!r} in assertion {raw!r}")
    return parts


# -- follow snapshots and diffs ----------------------------------------------------------


def track_body(*, uid: str, username: str, eldest_kid: str, sibkeys: list[str], subkeys: list[str],
               devices: list[dict], tail_seqno: int, tail_link_id: str, proofs: list[dict]) -> dict:
    """body_fields of a `track` link: what the follower verified of the followee."""
    return {"track": {
        "basics": {"uid": uid, "username": username},
        "id": uid,
        "key": {"eldest_kid": eldest_kid},
        "sibkeys": sorted(sibkeys),
        "subkeys": sorted(subkeys),
        "devices": sorted(devices, key=lambda d: d.get("id", "")),
        "seq_tail": {"seqno": tail_seqno, "payload_hash": tail_link_id},
        "remote_proofs": sorted(proofs, key=lambda p: (p.get("service", ""), p.get("username", ""),
                                                       p.get("sig_id", ""))),
    }}


def untrack_body(*, uid: str, username: str) -> dict:
    return {"untrack": {"basics": {"uid": uid, "username": username}, "id": uid}}


def tracked_uid(body: dict, section: str) -> str | None:
    sec = body.get(section) if isinstance(body, dict) else None
    if not isinstance(sec, dict):
        return None
    uid = sec.get("id")
    return uid.lower() if isinstance(uid, str) and len(uid) == 32 else None


@dataclass(frozen=True)
class FollowChange:
    kind: str          # proof_added | proof_removed | proof_broken | proof_fixed | key_added |
                       # key_removed | device_added | device_revoked | account_reset
    detail: str
    subject: str = ""  # the proof (service:name), key or device concerned


@dataclass
class Snapshot:
    """The comparable part of a track body or of a current identity."""

    eldest_kid: str
    sibkeys: set[str] = field(default_factory=set)
    subkeys: set[str] = field(default_factory=set)
    devices: dict[str, dict] = field(default_factory=dict)     # id -> {name, revoked}
    proofs: dict[tuple[str, str], dict] = field(default_factory=dict)  # (service, user) -> {sig_id, state}
    tail_seqno: int = 0


def snapshot_from_track(body: dict) -> Snapshot:
    t = body.get("track") if isinstance(body, dict) else None
    if not isinstance(t, dict):
        raise EncodingError("a track link has no body.track")
    key = t.get("key") if isinstance(t.get("key"), dict) else {}
    tail = t.get("seq_tail") if isinstance(t.get("seq_tail"), dict) else {}
    devs = {}
    for d in t.get("devices") or []:
        if isinstance(d, dict) and isinstance(d.get("id"), str):
            devs[d["id"]] = {"name": str(d.get("name", "")), "revoked": bool(d.get("revoked"))}
    proofs = {}
    for p in t.get("remote_proofs") or []:
        if isinstance(p, dict) and isinstance(p.get("service"), str) and isinstance(p.get("username"), str):
            proofs[(p["service"], p["username"])] = {"sig_id": str(p.get("sig_id", "")),
                                                     "state": str(p.get("state", OK))}
    return Snapshot(str(key.get("eldest_kid", "")), {str(k) for k in t.get("sibkeys") or []},
                    {str(k) for k in t.get("subkeys") or []}, devs, proofs,
                    int(tail.get("seqno", 0)) if type(tail.get("seqno", 0)) is int else 0)


def follow_diff(old: Snapshot, new: Snapshot) -> list[FollowChange]:
    """What changed since the follow: a reset first (it makes the rest moot)."""
    if old.eldest_kid != new.eldest_kid:
        return [FollowChange("account_reset", f"the account was reset: new eldest key {new.eldest_kid[:20]}...",
                             new.eldest_kid)]
    out: list[FollowChange] = []
    for key, p in sorted(new.proofs.items()):
        name = f"{key[1]}@{key[0]}"
        before = old.proofs.get(key)
        if before is None or before["sig_id"] != p["sig_id"]:
            out.append(FollowChange("proof_added", f"new proof {name}", name))
        elif before["state"] not in (BROKEN, CHANGED) and p["state"] in (BROKEN, CHANGED):
            out.append(FollowChange("proof_broken", f"proof {name} is now {p['state']}", name))
        elif before["state"] in (BROKEN, CHANGED) and p["state"] == OK:
            out.append(FollowChange("proof_fixed", f"proof {name} checks again", name))
    for key in sorted(old.proofs.keys() - new.proofs.keys()):
        name = f"{key[1]}@{key[0]}"
        out.append(FollowChange("proof_removed", f"proof {name} was revoked", name))
    for dev_id, d in sorted(new.devices.items()):
        before = old.devices.get(dev_id)
        if d["revoked"] and (before is None or not before["revoked"]):
            out.append(FollowChange("device_revoked", f"device {d['name']} was revoked", dev_id))
        elif before is None and not d["revoked"]:
            out.append(FollowChange("device_added", f"new device {d['name']}", dev_id))
    for kid in sorted(new.sibkeys - old.sibkeys):
        out.append(FollowChange("key_added", f"new signing key {kid[:20]}...", kid))
    for kid in sorted(old.sibkeys - new.sibkeys):
        out.append(FollowChange("key_removed", f"signing key {kid[:20]}... was revoked", kid))
    return out


# -- what a verified chain states -----------------------------------------------------


@dataclass(frozen=True)
class FollowClaim:
    uid: str
    username: str
    seqno: int
    ctime: int | None
    body: dict


def chain_statements(state, *, since=None) -> tuple[list[ProofClaim], dict[str, FollowClaim]]:
    """The live proofs and follows of a verified chain (`ChainState`).

    Live: in the current subchain (a reset drops them), not revoked by sig id.
    Follows: the newest track per followee, unless an untrack came after it.
    Malformed statement bodies are skipped (they cannot be about keys).
    `since` = (base state, its result): the same answer from only the links after the
    base's tail, when nothing since can drop an earlier statement (no reset, no new
    revocation by sig id); else the whole chain is read.
    """
    from .sigchain import LinkType   # here: core.proofs stays importable without the sigchain

    proofs: list[ProofClaim] = []
    follows: dict[str, FollowClaim] = {}
    links = None                     # the whole chain's active links only when needed: O(chain)
    if since is not None:
        base, (old_proofs, old_follows) = since
        grown = state.tail_seqno - base.tail_seqno
        if (base.tail_seqno and state.eldest_seqno == base.eldest_seqno and grown >= 0
                and state.revoked_sig_ids == base.revoked_sig_ids):
            proofs, follows = list(old_proofs), dict(old_follows)
            links = [lk for lk in state.links[len(state.links) - grown:]
                     if not lk.stubbed and lk.sig_id.hex() not in state.revoked_sig_ids]
    if links is None:
        links = state.active_links
    for link in links:
        body = link.payload.get("body") if isinstance(link.payload, dict) else None
        if not isinstance(body, dict):
            continue
        if link.link_type == LinkType.WEB_SERVICE_BINDING:
            try:
                service, user, kind = parse_proof_body(body)
            except EncodingError:
                continue
            proofs.append(ProofClaim(service, user, kind, link.sig_id.hex(), link.seqno, link.ctime))
        elif link.link_type == LinkType.TRACK:
            uid = tracked_uid(body, "track")
            basics = body["track"].get("basics") if uid else None
            name = basics.get("username") if isinstance(basics, dict) else None
            if uid and isinstance(name, str):
                follows[uid] = FollowClaim(uid, name, link.seqno, link.ctime, body)
        elif link.link_type == LinkType.UNTRACK:
            uid = tracked_uid(body, "untrack")
            if uid:
                follows.pop(uid, None)
    return proofs, follows
