"""Team invitations: by user, by assertion, by token (Keybase's seitan idea), and join requests.

A token invite lets an admin invite someone out of band without trusting the
server: the admin's client makes a random token, derives an Ed25519 key pair
from it and signs only the *public* key into the team chain (an invite of
type "seitan"). The invitee, given the token, derives the same key and signs
an acceptance (team, uid, eldest seqno, time) with it. An admin's client adds
the invitee only after checking that acceptance against the public key in the
chain, and records it in the change_membership link (`invite_proofs`) so every
member can check it too. The server sees the public key and the acceptance,
never the token, so it can neither accept an invite nor mint one.

The invitee also signs the acceptance with one of their own device keys: the
server stores an acceptance only for an open token invite of the team, only
with both signatures, and only the user it names can replace it (so junk from
others can neither overwrite nor crowd out a real one); admins' clients check
both signatures again.

A join request (open teams, or asking a closed team's admins) is signed by the
requester's device key, so the server cannot invent requests. An admin denies one
with a note signed by their own device key that names that very request (by
hash), so the server drops it only for an admin, and an old denial cannot be
replayed against the requester's next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from ..encoding import b64decode, b64encode, canonical_json
from ..errors import BadSignature, BadTeamInvite, BadTeamMembership, EncodingError, VerificationError
from ..keys import SigningKeyPair, kid_hex, parse_kid, sign_detached, verify_detached
from .names import check_team_id
from .state import Invite, Role, SigPoint, UserVersion

INVITE_ID_SUFFIX = 0x27                        # Keybase's TeamInviteID suffix
TOKEN_BYTES = 16
PREFIX_SEITAN_ACCEPT = b"kbapp-team-seitan-accept-v1"
PREFIX_SEITAN_ACCEPT_DEVICE = b"kbapp-team-seitan-accept-device-v1"
PREFIX_JOIN_REQUEST = b"kbapp-team-join-request-v1"
PREFIX_JOIN_DENIAL = b"kbapp-team-join-denial-v1"
_SEITAN_KEY_REASON = b"kbapp-seitan-invite-key-v1"
_SEITAN_ID_CONTEXT = b"kbapp-seitan-invite-id-v1\x00"
INVITE_TYPES_USER = "keybase"                  # name: "uid%eldest_seqno"
INVITE_TYPE_SEITAN = "seitan"                  # name: hex Ed25519 public key
MAX_USES = 10_000


def new_invite_id(random16: bytes) -> str:
    """A fresh invite id (hex) from 16 random bytes (the last is the suffix)."""
    if not isinstance(random16, (bytes, bytearray)) or len(random16) != 16:
        raise ValueError("new_invite_id needs 16 random bytes")
    return (bytes(random16[:15]) + bytes([INVITE_ID_SUFFIX])).hex()


def user_invite(uv: UserVersion, role: Role, random16: bytes) -> Invite:
    """Invite one kbapp user (by uid and incarnation), e.g. before they have a PUK."""
    return Invite(new_invite_id(random16), Role(role), INVITE_TYPES_USER, str(uv), 0)


def assertion_invite(service: str, account: str, role: Role, random16: bytes) -> Invite:
    """Invite whoever proves `account@service` (an unresolved assertion)."""
    if not service or not account or service in (INVITE_TYPES_USER, INVITE_TYPE_SEITAN):
        raise ValueError("an assertion invite names a social service and an account")
    return Invite(new_invite_id(random16), Role(role), service.lower(), account.lower(), 0)


# --- seitan tokens -------------------------------------------------------------------


def new_token(random16: bytes) -> str:
    """A token to hand to the invitee out of band (26 base32 characters)."""
    if not isinstance(random16, (bytes, bytearray)) or len(random16) != TOKEN_BYTES:
        raise ValueError(f"a token needs {TOKEN_BYTES} random bytes")
    return base64.b32encode(bytes(random16)).decode().rstrip("=").lower()


def _token_bytes(token: str) -> bytes:
    if not isinstance(token, str) or len(token) > 64:
        raise BadTeamInvite("an invite token is a short string")
    t = token.strip().replace("-", "").replace(" ", "").upper()
    try:
        raw = base64.b32decode(t + "=" * (-len(t) % 8))
    except (ValueError, TypeError):
        raise BadTeamInvite("an invite token is base32") from None
    if len(raw) != TOKEN_BYTES:
        raise BadTeamInvite("an invite token is 26 base32 characters")
    return raw


@dataclass(frozen=True)
class SeitanKey:
    invite_id: str
    key: SigningKeyPair

    @property
    def public_hex(self) -> str:
        return self.key.public.hex()


def seitan_key(token: str) -> SeitanKey:
    """The invite key and id a token derives (both sides compute the same)."""
    seed = hmac.new(_token_bytes(token), _SEITAN_KEY_REASON, hashlib.sha256).digest()
    key = SigningKeyPair.from_seed(seed)
    return SeitanKey(_seitan_invite_id(key.public), key)


def _seitan_invite_id(public: bytes) -> str:
    return (hashlib.sha256(_SEITAN_ID_CONTEXT + public).digest()[:15] + bytes([INVITE_ID_SUFFIX])).hex()


def seitan_invite(token: str, role: Role, *, max_uses: int | None = None) -> Invite:
    """The invite an admin signs into the chain: the token's public key only."""
    sk = seitan_key(token)
    if max_uses is not None and (type(max_uses) is not int or not 1 <= max_uses <= MAX_USES):
        raise ValueError(f"max_uses is 1 to {MAX_USES}")
    return Invite(sk.invite_id, Role(role), INVITE_TYPE_SEITAN, sk.public_hex, 0, max_uses)


def _accept_message(team_id: str, invite_id: str, uv: UserVersion, ctime: int) -> bytes:
    return canonical_json({"ctime": ctime, "eldest_seqno": uv.eldest_seqno, "invite_id": invite_id,
                           "team_id": team_id, "uid": uv.uid})


def sign_acceptance(token: str, *, team_id: str, uv: UserVersion, ctime: int) -> dict:
    """The invitee's proof of holding the token: {invite_id, uv, ctime, sig}."""
    sk = seitan_key(token)
    sig = sign_detached(sk.key, _accept_message(check_team_id(team_id), sk.invite_id, uv, ctime),
                        prefix=PREFIX_SEITAN_ACCEPT)
    return {"ctime": ctime, "invite_id": sk.invite_id, "sig": b64encode(sig), "uv": str(uv)}


def verify_acceptance(invite: Invite, acceptance: object, *, team_id: str) -> UserVersion:
    """Check an acceptance against the invite's public key; the accepting user, or BadTeamInvite."""
    if invite.type != INVITE_TYPE_SEITAN:
        raise BadTeamInvite(f"invite {invite.id} is not a token invite")
    if not isinstance(acceptance, dict):
        raise BadTeamInvite("an invite acceptance is an object")
    ctime, sig = acceptance.get("ctime"), acceptance.get("sig")
    if acceptance.get("invite_id") != invite.id:
        raise BadTeamInvite("acceptance names another invite")
    if type(ctime) is not int or ctime < 0 or not isinstance(sig, str) or len(sig) > 128:
        raise BadTeamInvite("malformed invite acceptance")
    try:
        uv = UserVersion.parse(acceptance.get("uv"))
    except BadTeamMembership as e:
        raise BadTeamInvite(f"invite acceptance: {e}") from None
    try:
        public = bytes.fromhex(invite.name)
        raw = b64decode(sig, max_size=64)
    except (ValueError, EncodingError):
        raise BadTeamInvite("malformed invite key or acceptance signature") from None
    if len(public) != 32 or len(raw) != 64:
        raise BadTeamInvite("malformed invite key or acceptance signature")
    try:
        verify_detached(public, _accept_message(team_id, invite.id, uv, ctime), raw,
                        prefix=PREFIX_SEITAN_ACCEPT)
    except BadSignature:
        raise BadTeamInvite(f"acceptance of invite {invite.id} is not signed by the token's key") from None
    return uv


def _accept_device_message(team_id: str, invite_id: str, uv: UserVersion, acceptance: dict) -> bytes:
    return canonical_json({"acceptance": hashlib.sha256(canonical_json(acceptance)).hexdigest(),
                           "eldest_seqno": uv.eldest_seqno, "invite_id": invite_id, "team_id": team_id,
                           "uid": uv.uid})


def sign_acceptance_device(key: SigningKeyPair, *, team_id: str, acceptance: dict) -> dict:
    """The accepting user's own word for a token-signed acceptance, signed by one of their
    device keys: only they can post (or replace) an acceptance in their name."""
    uv = UserVersion.parse(acceptance.get("uv"))
    sig = sign_detached(key, _accept_device_message(check_team_id(team_id), acceptance["invite_id"], uv, acceptance),
                        prefix=PREFIX_SEITAN_ACCEPT_DEVICE)
    return {"ctime": acceptance["ctime"], "kid": kid_hex(key.kid), "sig": b64encode(sig), "team_id": team_id}


def verify_acceptance_device(device: object, *, team_id: str, acceptance: object, user_key_at) -> UserVersion:
    """The user an acceptance names, if `device` is their signature over exactly that acceptance
    by a key live for them (see verify.UserKeyAt); else BadTeamInvite."""
    if not isinstance(acceptance, dict) or not isinstance(acceptance.get("invite_id"), str):
        raise BadTeamInvite("malformed invite acceptance")
    ctime, sig = _signed_statement(device, team_id, "acceptance device signature")
    try:
        uv = UserVersion.parse(acceptance.get("uv"))
    except BadTeamMembership as e:
        raise BadTeamInvite(f"invite acceptance: {e}") from None
    if ctime != acceptance.get("ctime"):
        raise BadTeamInvite("the device signature is of another acceptance")
    _check_live_signer(device, uv, _accept_device_message(team_id, acceptance["invite_id"], uv, acceptance),
                       PREFIX_SEITAN_ACCEPT_DEVICE, team_id=team_id, ctime=ctime, sig=sig, user_key_at=user_key_at,
                       what="acceptance", whose="accepting user's")
    return uv


# --- join requests ------------------------------------------------------------------


def _join_message(team_id: str, uv: UserVersion, ctime: int) -> bytes:
    return canonical_json({"ctime": ctime, "eldest_seqno": uv.eldest_seqno, "team_id": team_id,
                           "uid": uv.uid})


def sign_join_request(key: SigningKeyPair, *, team_id: str, uv: UserVersion, ctime: int) -> dict:
    """A request to join `team_id`, signed by one of the requester's device keys."""
    sig = sign_detached(key, _join_message(check_team_id(team_id), uv, ctime), prefix=PREFIX_JOIN_REQUEST)
    return {"ctime": ctime, "kid": kid_hex(key.kid), "sig": b64encode(sig), "team_id": team_id,
            "uv": str(uv)}


def _signed_statement(obj: object, team_id: str, what: str) -> tuple[int, str]:
    """(ctime, sig) of a join request or denial for this team, or BadTeamInvite."""
    if not isinstance(obj, dict) or obj.get("team_id") != team_id:
        raise BadTeamInvite(f"a {what} for another team, or malformed")
    ctime, sig = obj.get("ctime"), obj.get("sig")
    if type(ctime) is not int or ctime < 0 or not isinstance(sig, str) or len(sig) > 128:
        raise BadTeamInvite(f"malformed {what}")
    return ctime, sig


def _check_live_signer(obj: dict, uv: UserVersion, message: bytes, prefix: bytes, *, team_id: str, ctime: int,
                       sig: str, user_key_at, what: str, whose: str) -> None:
    """`obj` is signed over `message` by a device key live for `uv` (see verify.UserKeyAt)."""
    kid = obj.get("kid")
    try:
        k = parse_kid(kid if isinstance(kid, str) else "")
        verify_detached(k.public, message, b64decode(sig, max_size=64), prefix=prefix)
    except (EncodingError, VerificationError) as e:   # BadKID, BadSignature
        raise BadTeamInvite(f"{what} signature: {e}") from None
    eldest = user_key_at(uv.uid, k.hex, SigPoint(team_id, 0, ctime))
    if eldest is None or eldest != uv.eldest_seqno:
        raise BadTeamInvite(f"{what} signed by a key that is not the {whose} live device key")


def verify_join_request(request: object, *, team_id: str, user_key_at) -> UserVersion:
    """The requesting user, if the request is signed by a key live for them (see verify.UserKeyAt)."""
    ctime, sig = _signed_statement(request, team_id, "join request")
    try:
        uv = UserVersion.parse(request.get("uv"))
    except BadTeamMembership as e:
        raise BadTeamInvite(f"join request: {e}") from None
    _check_live_signer(request, uv, _join_message(team_id, uv, ctime), PREFIX_JOIN_REQUEST, team_id=team_id,
                       ctime=ctime, sig=sig, user_key_at=user_key_at, what="join request", whose="user's")
    return uv


def join_request_hash(request: dict) -> str:
    """The id of one join request (hex SHA-256 of its canonical JSON): what a denial names."""
    return hashlib.sha256(canonical_json(request)).hexdigest()


def _denial_message(team_id: str, admin: UserVersion, requester: str, request_hash: str, ctime: int) -> bytes:
    return canonical_json({"admin_eldest_seqno": admin.eldest_seqno, "admin_uid": admin.uid, "ctime": ctime,
                           "request": request_hash, "team_id": team_id, "uid": requester})


def sign_join_denial(key: SigningKeyPair, *, team_id: str, admin: UserVersion, request: dict, ctime: int) -> dict:
    """An admin's "no" to one join request, signed by one of the admin's device keys."""
    requester = UserVersion.parse(request.get("uv") if isinstance(request, dict) else None).uid
    rh = join_request_hash(request)
    sig = sign_detached(key, _denial_message(check_team_id(team_id), admin, requester, rh, ctime),
                        prefix=PREFIX_JOIN_DENIAL)
    return {"ctime": ctime, "kid": kid_hex(key.kid), "request": rh, "sig": b64encode(sig), "team_id": team_id,
            "uid": requester, "uv": str(admin)}


def verify_join_denial(denial: object, *, team_id: str, request: dict, user_key_at) -> UserVersion:
    """The admin who signed a denial of exactly `request` with a live device key (their
    role is the caller's to check), or BadTeamInvite."""
    ctime, sig = _signed_statement(denial, team_id, "join denial")
    try:
        admin = UserVersion.parse(denial.get("uv"))
        requester = UserVersion.parse(request.get("uv") if isinstance(request, dict) else None).uid
    except BadTeamMembership as e:
        raise BadTeamInvite(f"join denial: {e}") from None
    if denial.get("uid") != requester or denial.get("request") != join_request_hash(request):
        raise BadTeamInvite("the join denial names another request")
    _check_live_signer(denial, admin, _denial_message(team_id, admin, requester, denial["request"], ctime),
                       PREFIX_JOIN_DENIAL, team_id=team_id, ctime=ctime, sig=sig, user_key_at=user_key_at,
                       what="join denial", whose="admin's")
    return admin


def implicit_team_invites(name, randoms) -> list[Invite]:
    """The invites an implicit team's root link must carry: one per unresolved
    assertion of its name (`bob@github` -> type "github", name "bob"), writers
    as owners and readers as readers. `randoms`: 16 random bytes per invite."""
    wa, ra = name.assertions
    out = []
    it = iter(randoms)
    for assertions, role in ((wa, Role.OWNER), (ra, Role.READER)):
        for a in assertions:
            account, _, service = a.rpartition("@")
            out.append(Invite(new_invite_id(next(it)), role, service, account, 0))
    return out
