"""The team loader: play a team chain back link by link, checking everything.

Every member's client runs this on what the server serves; nothing the server
says is taken on trust. For each link, in order:

- it parses and is signed by the key its body names (sigchain/links.py), the
  signed outer link says seqno n+1, prev = link n's id and seq_type
  semiprivate (no holes, no reordering);
- it names this team's id (a link replayed from another team fails here);
- its signing key was a live device key of the user it names, at that point
  (asked of the caller: `user_key_at`, backed by the verified user chains);
- the signer held the role the link type needs *at that point of this chain*
  (owner / admin / member), explicitly or as an admin of an ancestor team
  (the `admin` section, checked against the ancestor's verified state);
- admins cannot touch owners; only owners make owners;
- a per-team key generation is exactly the next one, its keys are fresh, and
  the new key countersigned the link (reverse signature);
- a removal carries the next key generation; a leave is followed by one;
- invites are well formed and used at most as often as they allow; a token
  (seitan) invite is completed only with the invitee's signed acceptance;
- an implicit team's members are exactly who its name says.

Result: a TeamState, or the first typed error (errors.TeamError and friends).
A verified state can be extended later with only the new links (`cached`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any


from ..chains import RootOk, fault
from ..errors import (
    BadChainLink,
    BadSignature,
    BadTeamInvite,
    BadTeamKey,
    BadTeamMembership,
    ChainTailMismatch,
    EncodingError,
    ForkDetected,
    KbappError,
    RollbackDetected,
    StubbedSignatureNeeded,
    TeamError,
    TeamPermissionDenied,
    TeamRotationRequired,
    TeamSignerKeyNotLive,
    TeamWrongId,
    TooLarge,
    WrongPrev,
    WrongSeqno,
)
from ..keys import CURVE25519_KID_TYPE, ED25519_KID_TYPE
from ..sigchain.links import TEAM_TYPES, ChainLink, LinkType, link_id, parse_kid_field, parse_link
from ..sigchain.reverse import check_reverse_sig
from ..sigchain.verify import _cyclic_gc_paused, _Verifier
from .linktypes import HANDLERS, _obj
from .invites import INVITE_TYPE_SEITAN, INVITE_TYPES_USER, MAX_USES, verify_acceptance
from .names import check_team_id
from .state import ROLE_SECTIONS, Invite, Member, PtkInfo, Role, Settings, SigPoint, TeamState, UserVersion

# (uid, signing KID hex, where) -> the eldest seqno of the user's subchain in
# which that KID was a live (delegated, unrevoked, unexpired) sibkey at that
# point, or None when it was not. The client answers from verified user chains.
UserKeyAt = Callable[[str, str, SigPoint], "int | None"]

SEQ_TYPE_PUBLIC = 1
SEQ_TYPE_SEMIPRIVATE = 3
MAX_TEAM_LINKS = 1 << 20
MAX_MEMBERS_PER_LINK = 20_000
MAX_INVITES_PER_LINK = 1_000
MAX_ANCESTOR_DEPTH = 8


class _Player:
    """Mutable state while links play back; `freeze()` gives the TeamState."""

    def __init__(self, team_id: str, user_key_at: UserKeyAt, ancestors: Mapping[str, TeamState],
                 log_size: int | None = None, root_ok: RootOk | None = None):
        self.id = team_id
        self.user_key_at = user_key_at
        # The embedded-checkpoint rule (core/chains.py): the size of a log holding these links
        # and "is this our log's root at that size?"; unknown (offline loads): not checked.
        self.log_size = log_size if log_size is not None else 1 << 63
        self.root_ok = root_ok or (lambda _size, _root: True)
        self.bad_checkpoints: list[tuple[int, str, str, str]] = []   # (seqno, uid, kid, why)
        self.claim_bad = False          # the link being applied has an unsound checkpoint
        self.ancestors = ancestors
        self.verifier = _Verifier()
        self.name = ""
        self.parent_id: str | None = None
        self.implicit = False
        self.public = False
        self.seqno = 0
        self.tail: bytes | None = None
        self.members: dict[str, Member] = {}
        self.history: dict[str, tuple[tuple[int, Role, int], ...]] = {}   # tuples: cheap to resume
        self.ptks: dict[int, PtkInfo] = {}
        self.ptk_kids: set[str] = set()
        self.settings = Settings()
        self.invites: dict[str, Invite] = {}
        self.used_invite_ids: set[str] = set()
        self.subteams: dict[str, str] = {}
        self.needs_rotation = False
        self.link_ids: list[str] = []
        self.sig_ids: set[str] = set()
        self.merkle_sizes: list[int | None] = []
        self.deleted = False

    # -- state in and out --------------------------------------------------------

    @classmethod
    def resume(cls, st: TeamState, user_key_at: UserKeyAt, ancestors: Mapping[str, TeamState],
               log_size: int | None = None, root_ok: RootOk | None = None) -> "_Player":
        p = cls(st.id, user_key_at, ancestors, log_size, root_ok)
        p.bad_checkpoints = list(st.bad_checkpoints)
        p.name, p.parent_id, p.implicit, p.public = st.name, st.parent_id, st.implicit, st.public
        p.seqno, p.tail = st.seqno, bytes.fromhex(st.tail_link_id)
        p.members = dict(st.members)
        p.history = dict(st.role_history)
        p.ptks = dict(st.ptks)
        p.ptk_kids = {k for i in st.ptks.values() for k in (i.signing_kid, i.encryption_kid)}
        p.settings, p.invites, p.subteams = st.settings, dict(st.invites), dict(st.subteams)
        p.used_invite_ids = set(st.used_invite_ids)
        p.needs_rotation, p.deleted = st.needs_rotation, st.deleted
        p.link_ids, p.sig_ids, p.merkle_sizes = list(st.link_ids), set(st.sig_ids), list(st.merkle_sizes)
        return p

    def freeze(self) -> TeamState:
        if self.seqno == 0:
            raise TeamError("a team chain has at least its first link")
        return TeamState(
            id=self.id, name=self.name, parent_id=self.parent_id, implicit=self.implicit,
            public=self.public, seqno=self.seqno, tail_link_id=self.tail.hex(),
            members=dict(self.members), ptks=dict(self.ptks), settings=self.settings,
            invites=dict(self.invites), subteams=dict(self.subteams),
            needs_rotation=self.needs_rotation,
            role_history=dict(self.history),
            link_ids=tuple(self.link_ids), sig_ids=frozenset(self.sig_ids),
            merkle_sizes=tuple(self.merkle_sizes), deleted=self.deleted,
            bad_checkpoints=tuple(self.bad_checkpoints),
            used_invite_ids=frozenset(self.used_invite_ids))

    # -- one link ------------------------------------------------------------------

    def apply(self, wire: Any) -> None:
        lk = parse_link(wire)
        n = self.seqno + 1
        if lk.stubbed:
            raise StubbedSignatureNeeded(f"team link {lk.seqno}: stubbed (kbapp serves full team chains)")
        if lk.seqno != n:
            raise WrongSeqno(f"team link at position {n} has seqno {lk.seqno} (a hole or a reorder)")
        if lk.prev != self.tail:
            raise WrongPrev(f"team link {n}: prev does not point at link {n - 1}")
        want_seq = (SEQ_TYPE_SEMIPRIVATE,) if lk.is_ours else (SEQ_TYPE_PUBLIC, SEQ_TYPE_SEMIPRIVATE)
        if lk.seq_type not in want_seq:
            raise BadChainLink(f"team link {n}: seq_type {lk.seq_type} is not a team chain's")
        if self.deleted:
            raise TeamError(f"team link {n}: the team was deleted at an earlier link")
        body = lk.payload["body"]
        team = body.get("team")
        if type(team) is not dict:
            raise BadChainLink(f"team link {n}: no body.team section")
        if team.get("id") != self.id:
            raise TeamWrongId(f"team link {n} names team {str(team.get('id'))[:40]!r}, not {self.id} "
                              "(a link replayed from another team?)")
        sid = lk.sig_id.hex()
        if sid in self.sig_ids:
            raise TeamError(f"team link {n}: a signature already in this chain (replay)")
        if not self.verifier.ok(lk.signer, lk.signed_message, lk.signature):
            raise BadSignature(f"team link {n}: signature does not verify")
        msize = self._merkle_size(lk)
        point = SigPoint(self.id, n, lk.ctime, msize, body.get("merkle_root"))
        eldest = self.user_key_at(lk.uid, lk.signer.hex(), point)
        if eldest is None or type(eldest) is not int:
            raise TeamSignerKeyNotLive(f"team link {n}: signed by {lk.signer.hex()}, not a live device "
                                       f"key of user {lk.uid} at that point (revoked or unknown)")
        signer = UserVersion(lk.uid, eldest)
        t = lk.link_type
        if n == 1 and t not in (LinkType.TEAM_ROOT, LinkType.TEAM_SUBTEAM_HEAD):
            raise BadChainLink("a team chain starts with team.root or team.subteam_head")
        if n > 1 and t in (LinkType.TEAM_ROOT, LinkType.TEAM_SUBTEAM_HEAD):
            raise BadChainLink(f"team link {n}: {lk.type_name} only starts a chain")
        # kbapp is stricter than Keybase (whose clients rotate lazily): in
        # kbapp's own links a leave is followed by a rotation.
        if lk.is_ours and self.needs_rotation and t not in (LinkType.TEAM_LEAVE, LinkType.TEAM_ROTATE_KEY) \
                and team.get("per_team_key") is None:
            raise TeamRotationRequired(f"team link {n}: a member left, the next change must rotate the key")
        handler = HANDLERS.get(t)
        if handler is None:
            if not lk.ignore_if_unsupported or (t != LinkType.NONE and t not in TEAM_TYPES):
                raise BadChainLink(f"team link {n}: unsupported link type {lk.type_name!r} that may not be ignored")
            if "per_team_key" in team or "members" in team:
                raise BadChainLink(f"team link {n}: an ignorable link may not change keys or members")
        else:
            handler(self, lk, team, signer)
        self.seqno, self.tail = n, lk.link_id
        self.link_ids.append(lk.link_id.hex())
        self.sig_ids.add(sid)
        self.merkle_sizes.append(msize)

    def _merkle_size(self, lk: ChainLink) -> int | None:
        """The log size the link's author saw; None when it names none, or an unsound one
        (core/chains.py: the signer's fault, noted in bad_checkpoints, the claim dropped, so
        the team still loads and an admin can remove that member)."""
        self.claim_bad = False
        mr = lk.payload["body"].get("merkle_root")
        size = mr.get("size") if type(mr) is dict else None
        if type(size) is not int:
            if lk.is_ours and mr is not None:
                raise BadChainLink(f"team link {lk.seqno}: malformed merkle_root")
            return None
        root = mr.get("hash")
        if not isinstance(root, str) or len(root) != 64:
            if lk.is_ours:
                raise BadChainLink(f"team link {lk.seqno}: malformed merkle_root")
            root = ""
        last = next((s for s in reversed(self.merkle_sizes) if s is not None), 0)
        why = fault(size, root.lower(), log_size=self.log_size, previous=last, root_ok=self.root_ok)
        if why is not None:
            self.bad_checkpoints.append((lk.seqno, lk.uid, lk.signer.hex(), why))
            self.claim_bad = True
            return None
        return size

    # -- roles ---------------------------------------------------------------------------

    def explicit_role(self, uv: UserVersion) -> Role:
        m = self.members.get(uv.uid)
        return m.role if m is not None and m.uv == uv else Role.NONE

    def _ancestor_chain(self) -> list[str]:
        out, cur = [], self.parent_id
        while cur is not None and len(out) < MAX_ANCESTOR_DEPTH:
            out.append(cur)
            anc = self.ancestors.get(cur)
            cur = anc.parent_id if anc is not None else None
        return out

    def implicit_admin(self, lk: ChainLink, team: dict, signer: UserVersion) -> bool:
        """The `admin` section: signer is an admin of this team or an ancestor at that seqno."""
        adm = team.get("admin")
        if adm is None:
            return False
        n = lk.seqno
        adm = _obj(adm, "team.admin", n)
        tid, seqno = adm.get("team_id"), adm.get("seqno")
        if type(seqno) is not int or seqno < 1 or not isinstance(tid, str):
            raise TeamPermissionDenied(f"team link {n}: malformed admin section")
        if tid == self.id:
            if seqno >= n:
                raise TeamPermissionDenied(f"team link {n}: admin section points at a later link")
            r, e = self._role_at(self.history, signer.uid, seqno)
            if r < Role.ADMIN or e != signer.eldest_seqno or self.explicit_role(signer) < Role.ADMIN:
                raise TeamPermissionDenied(f"team link {n}: admin section: the signer is not an admin here")
            return True
        if tid not in self._ancestor_chain():
            raise TeamPermissionDenied(f"team link {n}: admin section names {tid[:40]}, not an ancestor team")
        anc = self.ancestors.get(tid)
        if anc is None:
            raise TeamPermissionDenied(f"team link {n}: ancestor {tid} is not loaded, cannot check the admin")
        if seqno > anc.seqno:
            raise TeamPermissionDenied(f"team link {n}: admin section points past the ancestor's chain")
        r, e = anc.role_at(signer.uid, seqno)
        if r < Role.ADMIN or e != signer.eldest_seqno:
            raise TeamPermissionDenied(f"team link {n}: the signer was not an admin of {anc.name} at "
                                       f"its link {seqno}")
        # Not demoted since, as far as the log sizes the authors saw can tell (an unsound
        # claim tells nothing: the newest ancestor link counts).
        msize = self._merkle_size_of(lk)
        later = [s for s in range(seqno + 1, anc.seqno + 1)
                 if self.claim_bad or (msize is not None and anc.merkle_sizes[s - 1] is not None
                                       and anc.merkle_sizes[s - 1] <= msize)]
        if later:
            r2, e2 = anc.role_at(signer.uid, later[-1])
            if r2 < Role.ADMIN or e2 != signer.eldest_seqno:
                raise TeamPermissionDenied(f"team link {n}: the signer had stopped being an admin of "
                                           f"{anc.name} (its link {later[-1]}) before signing")
        return True

    @staticmethod
    def _merkle_size_of(lk: ChainLink) -> int | None:
        mr = lk.payload["body"].get("merkle_root")
        size = mr.get("size") if type(mr) is dict else None
        return size if type(size) is int else None

    @staticmethod
    def _role_at(history, uid: str, seqno: int) -> tuple[Role, int]:
        role, eldest = Role.NONE, 0
        for s, r, e in history.get(uid, ()):
            if s > seqno:
                break
            role, eldest = r, e
        return role, eldest

    def need_role(self, lk: ChainLink, team: dict, signer: UserVersion, need: Role) -> Role:
        """The signer's effective role, or TeamPermissionDenied when below `need`.

        Implicit admins (of an ancestor) count as ADMIN, never as OWNER.
        """
        role = self.explicit_role(signer)
        if "admin" in team:
            self.implicit_admin(lk, team, signer)     # a bad admin section fails even for members
            role = max(role, Role.ADMIN)
        if role < need:
            raise TeamPermissionDenied(f"team link {lk.seqno}: a {lk.type_name} link needs a {need.label} "
                                       f"or better; the signer is {role.label}")
        return role

    def set_role(self, uv: UserVersion, role: Role, seqno: int) -> None:
        if role == Role.NONE:
            self.members.pop(uv.uid, None)
        else:
            self.members[uv.uid] = Member(uv, role, seqno)
        self.history[uv.uid] = self.history.get(uv.uid, ()) + ((seqno, role, uv.eldest_seqno),)

    # -- sections -------------------------------------------------------------------

    def parse_members(self, lk: ChainLink, team: dict) -> dict[UserVersion, Role]:
        sec = team.get("members")
        if sec is None:
            return {}
        sec = _obj(sec, "team.members", lk.seqno)
        out: dict[UserVersion, Role] = {}
        seen: set[str] = set()
        total = 0
        for label, lst in sec.items():
            if label not in ROLE_SECTIONS:
                raise BadTeamMembership(f"team link {lk.seqno}: unknown role section {str(label)[:32]!r}")
            if type(lst) is not list:
                raise BadTeamMembership(f"team link {lk.seqno}: members.{label} is not a list")
            total += len(lst)
            if total > MAX_MEMBERS_PER_LINK:
                raise TooLarge(f"team link {lk.seqno}: more than {MAX_MEMBERS_PER_LINK} member changes")
            role = Role.parse(label)
            for item in lst:
                uv = UserVersion.parse(item)
                if uv.uid in seen:
                    raise BadTeamMembership(f"team link {lk.seqno}: user {uv.uid} appears twice")
                seen.add(uv.uid)
                out[uv] = role
        return out

    def ptk(self, lk: ChainLink, team: dict, *, required: bool) -> None:
        sec = team.get("per_team_key")
        n = lk.seqno
        if sec is None:
            if required:
                raise BadTeamKey(f"team link {n}: a {lk.type_name} link must carry the next key generation")
            return
        sec = _obj(sec, "team.per_team_key", n)
        gen = sec.get("generation")
        want = max(self.ptks) + 1 if self.ptks else 1
        if type(gen) is not int or gen != want:
            raise BadTeamKey(f"team link {n}: key generation {gen!r}, expected {want} (no skipping, no reuse)")
        try:
            sign = parse_kid_field(sec.get("signing_kid"), "per_team_key.signing_kid")
            enc = parse_kid_field(sec.get("encryption_kid"), "per_team_key.encryption_kid")
        except BadChainLink as e:
            raise BadTeamKey(f"team link {n}: {e}") from None
        if sign[1] != ED25519_KID_TYPE or enc[1] != CURVE25519_KID_TYPE:
            raise BadTeamKey(f"team link {n}: team keys of the wrong types")
        if sign.hex() in self.ptk_kids or enc.hex() in self.ptk_kids:
            raise BadTeamKey(f"team link {n}: key generation {gen} reuses an older key")
        self._reverse_sig(lk, sec, sign)
        self.ptk_kids.update((sign.hex(), enc.hex()))
        self.ptks[gen] = PtkInfo(gen, sign.hex(), enc.hex(), n)
        self.needs_rotation = False

    def _reverse_sig(self, lk: ChainLink, sec: dict, kid: bytes) -> None:
        """The new team key signed this very link with its own reverse_sig null (sigchain/reverse.py)."""
        check_reverse_sig(lk.payload, ("body", "team", "per_team_key"), kid, ours=lk.is_ours,
                          verifier=self.verifier, fail=lambda why: BadTeamKey(f"team link {lk.seqno}: the team key {why}"))

    def parse_settings(self, lk: ChainLink, sec: Any) -> Settings:
        sec = _obj(sec, "team.settings", lk.seqno)
        op = sec.get("open")
        if op is None:
            return self.settings
        op = _obj(op, "team.settings.open", lk.seqno)
        enabled = op.get("enabled")
        if type(enabled) is not bool:
            raise BadChainLink(f"team link {lk.seqno}: settings.open.enabled is not a boolean")
        join_as = Role.READER
        opts = op.get("options")
        if opts is not None:
            ja = _obj(opts, "settings.open.options", lk.seqno).get("join_as", "reader")
            join_as = Role.parse(ja)
            if join_as not in (Role.READER, Role.WRITER):
                raise TeamPermissionDenied(f"team link {lk.seqno}: open teams admit readers or writers only")
        if enabled and self.implicit:
            raise BadChainLink(f"team link {lk.seqno}: an implicit team cannot be open")
        return Settings(open=enabled, join_as=join_as)

    def add_invites(self, lk: ChainLink, sec: Any, signer_role: Role) -> None:
        n = lk.seqno
        sec = _obj(sec, "team.invites", n)
        count = 0
        for label, lst in sec.items():
            if label == "cancel":
                continue
            if label not in ROLE_SECTIONS or label == "none":
                raise BadTeamInvite(f"team link {n}: unknown invite role {str(label)[:32]!r}")
            role = Role.parse(label)
            if role == Role.OWNER and signer_role < Role.OWNER:
                raise TeamPermissionDenied(f"team link {n}: only an owner may invite owners")
            if type(lst) is not list:
                raise BadTeamInvite(f"team link {n}: invites.{label} is not a list")
            for e in lst:
                count += 1
                if count > MAX_INVITES_PER_LINK:
                    raise TooLarge(f"team link {n}: too many invites")
                inv = self._invite(n, e, role)
                if inv.id in self.used_invite_ids:
                    raise BadTeamInvite(f"team link {n}: invite id {inv.id} was used before")
                self.used_invite_ids.add(inv.id)
                self.invites[inv.id] = inv
        cancel = sec.get("cancel")
        if cancel is not None:
            if type(cancel) is not list or len(cancel) > MAX_INVITES_PER_LINK:
                raise BadTeamInvite(f"team link {n}: invites.cancel is not a short list")
            for iid in cancel:
                if not isinstance(iid, str) or iid not in self.invites:
                    raise BadTeamInvite(f"team link {n}: cancels an unknown invite {str(iid)[:40]!r}")
                del self.invites[iid]

    @staticmethod
    def _invite(n: int, e: Any, role: Role) -> Invite:
        e = _obj(e, "an invite", n)
        iid, typ, name, mx, etime = e.get("id"), e.get("type"), e.get("name"), e.get("max_uses"), e.get("etime")
        if not isinstance(iid, str) or len(iid) != 32 or any(c not in "0123456789abcdef" for c in iid):
            raise BadTeamInvite(f"team link {n}: malformed invite id")
        if not isinstance(typ, str) or not 0 < len(typ) <= 32 or not isinstance(name, str) or not 0 < len(name) <= 256:
            raise BadTeamInvite(f"team link {n}: malformed invite {iid}")
        if typ == INVITE_TYPES_USER:
            try:
                UserVersion.parse(name)
            except BadTeamMembership:
                raise BadTeamInvite(f"team link {n}: invite {iid} names a malformed user") from None
        elif typ == INVITE_TYPE_SEITAN:
            if len(name) != 64 or any(c not in "0123456789abcdef" for c in name):
                raise BadTeamInvite(f"team link {n}: token invite {iid} needs a 32-byte hex public key")
        if mx is not None and (type(mx) is not int or not (mx == -1 or 1 <= mx <= MAX_USES)):
            raise BadTeamInvite(f"team link {n}: invite {iid}: max_uses must be -1 or 1 to {MAX_USES}")
        if etime is not None and (type(etime) is not int or etime < 0):
            raise BadTeamInvite(f"team link {n}: invite {iid}: malformed etime")
        return Invite(iid, role, typ, name, n, mx, 0, etime)

    def complete_invites(self, lk: ChainLink, team: dict, added: dict[UserVersion, Role]) -> set[UserVersion]:
        """`completed_invites` {id: uv} (single use) and Keybase's `used_invites`
        [{id, uv}] (multi-use): each names someone this very link adds. Returns them."""
        n = lk.seqno
        completed: set[UserVersion] = set()
        done, used = team.get("completed_invites"), team.get("used_invites")
        uses: list[tuple[str, Any]] = []
        if done is not None:
            uses += list(_obj(done, "team.completed_invites", n).items())
        if used is not None:
            if type(used) is not list or len(used) > MAX_INVITES_PER_LINK:
                raise BadTeamInvite(f"team link {n}: used_invites is not a short list")
            for u in used:
                u = _obj(u, "a used invite", n)
                uses.append((u.get("id"), u.get("uv")))
                if not isinstance(u.get("id"), str) or (self.invites.get(u["id"]) is not None
                                                       and self.invites[u["id"]].max_uses is None):
                    raise BadTeamInvite(f"team link {n}: used_invites names a single-use invite")
        proofs = _obj(team.get("invite_proofs") or {}, "team.invite_proofs", n)
        for iid, uvs in uses:
            inv = self.invites.get(iid) if isinstance(iid, str) else None
            if inv is None:
                raise BadTeamInvite(f"team link {n}: completes an unknown or used-up invite {str(iid)[:40]!r}")
            uv = UserVersion.parse(uvs)
            if added.get(uv) != inv.role:
                raise BadTeamInvite(f"team link {n}: invite {iid} is for a {inv.role.label}; "
                                    f"the link must add {uv} as one")
            if inv.etime is not None and lk.ctime > inv.etime:
                raise BadTeamInvite(f"team link {n}: invite {iid} had expired")
            if inv.type == INVITE_TYPES_USER and UserVersion.parse(inv.name) != uv:
                raise BadTeamInvite(f"team link {n}: invite {iid} was for another user")
            if inv.type == INVITE_TYPE_SEITAN:
                if verify_acceptance(inv, proofs.get(iid), team_id=self.id) != uv:
                    raise BadTeamInvite(f"team link {n}: the acceptance of invite {iid} is by another user")
            completed.add(uv)
            count = inv.uses + 1
            if inv.max_uses is not None and inv.max_uses != -1 and count > inv.max_uses:
                raise BadTeamInvite(f"team link {n}: illegal used_invites: invite {iid} is expired "
                                    f"after {inv.max_uses} uses")
            if inv.max_uses is None:
                del self.invites[iid]
            else:
                inv = self.invites[iid] = replace(inv, uses=count)
        if set(proofs) - {i for i, _ in uses}:
            raise BadTeamInvite(f"team link {n}: invite proofs for invites it does not complete")
        return completed

    def owners_left(self) -> int:
        return sum(1 for m in self.members.values() if m.role == Role.OWNER)


# --- entry points -------------------------------------------------------------------


def load_team(links: list, *, team_id: str, user_key_at: UserKeyAt,
              ancestors: Mapping[str, TeamState] | None = None, cached: TeamState | None = None,
              tail: Any = None, log_size: int | None = None, root_ok: RootOk | None = None) -> TeamState:
    """Verify a team chain as served and return its state, or raise a typed error.

    `links`: the whole chain from seqno 1, or (with `cached`) only the links
    after `cached.seqno`. `cached`: a state verified earlier (warm load: only
    new links are checked, and the served chain must extend the cached one).
    `ancestors`: verified states of the parent chain (for implicit admins and
    subteam heads), by team id. `tail`: the verified transparency map entry
    (transparency.ChainTail or anything with `seqno` and `link_id`): the
    chain must end exactly there, so a server that hides the latest links
    (a removal, say) from one member is caught. `log_size`, `root_ok`: the
    embedded-checkpoint rule's view of the log (core/chains.py); an unsound
    checkpoint is noted in `bad_checkpoints` against its signer, not raised.
    """
    with _cyclic_gc_paused():
        return _load_team(links, team_id=team_id, user_key_at=user_key_at, ancestors=ancestors,
                          cached=cached, tail=tail, log_size=log_size, root_ok=root_ok)


def _load_team(links: list, *, team_id: str, user_key_at: UserKeyAt, ancestors: Mapping[str, TeamState] | None,
               cached: TeamState | None, tail: Any, log_size: int | None = None,
               root_ok: RootOk | None = None) -> TeamState:
    team_id = check_team_id(team_id)
    if not isinstance(links, list):
        raise BadChainLink("a team chain is a list of links")
    if len(links) > MAX_TEAM_LINKS:
        raise TooLarge(f"team chain of {len(links)} links")
    ancestors = ancestors or {}
    if cached is not None:
        if cached.id != team_id:
            raise TeamWrongId("the cached state is another team's")
        new = _new_links(links, cached)
        if not new:                 # nothing new: the cached state stands (tail still checked)
            if tail is not None:
                check_team_tail(cached, tail)
            return cached
        player = _Player.resume(cached, user_key_at, ancestors, log_size, root_ok)
    else:
        new = links
        player = _Player(team_id, user_key_at, ancestors, log_size, root_ok)
    for wire in new:
        player.apply(wire)
    state = player.freeze()
    if tail is not None:
        check_team_tail(state, tail)
    return state


def _new_links(links: list, cached: TeamState) -> list:
    """The links after the cached tail; the served chain must contain that tail."""
    k = cached.seqno
    if len(links) >= k:
        try:
            at_k = link_id(links[k - 1]).hex()
        except (EncodingError, BadChainLink):
            at_k = None
        if at_k == cached.tail_link_id:
            return links[k:]
        # Not a whole chain through our tail: either only the new links, or a fork.
        if len(links) > 0 and _first_seqno(links[0]) == 1:
            raise ForkDetected(f"the server's team chain differs from the verified one at seqno {k}")
    if links and _first_seqno(links[0]) == 1 and len(links) < k:
        raise RollbackDetected(f"the server's team chain ends at {len(links)}, before the verified {k}")
    return links


def _first_seqno(wire: Any) -> int | None:
    try:
        return parse_link(wire).seqno
    except KbappError:     # unparseable: not a chain start we can use
        return None


def check_team_tail(state: TeamState, tail: Any) -> None:
    """The loaded chain must end where the verified transparency map says."""
    seqno, lid = getattr(tail, "seqno", None), getattr(tail, "link_id", None)
    if state.seqno < (seqno or 0):
        raise ChainTailMismatch(f"team chain served ends at seqno {state.seqno} but the Merkle map "
                                f"says {seqno}: links are being hidden")
    if state.seqno != seqno or state.tail_link_id != lid:
        raise ChainTailMismatch("team chain tail differs from the Merkle map")
