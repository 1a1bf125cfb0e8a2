"""The reader's rules (docs/protocol.md "Chat messages (MB1)", rules 1-6), pure and incremental.

`ConversationJudge` is fed one conversation's messages in msg_id order, with what the client
verified itself: the team chain (roles, key generations), the team's chat keys, whether a
device key was live at a point (`key_at`, the team loader's question), and the log
checkpoints known consistent with our own log. It returns one `Verdict` per message. Only
valid messages change what it remembers (`JudgeState`), so a lying server can make its own
messages fail, never make a later honest one pass a check it should not, nor move the
high-water marks that shut out removed members and revoked devices.
"""

from __future__ import annotations

from typing import Callable, Container, Iterable, Mapping

from ..encoding import b64decode
from ..errors import (BadBody, BadChatMessage, ChatError, CheckpointRollback, DuplicateMessageId, ForgedSupersede,
                      ForkedCheckpoint, HintMismatch, MessageOrder, PrevMismatch, ReplayedMessage, RevokedSenderKey,
                      EncodingError, SenderNotMember, StaleKeyGeneration, UnknownKeyGeneration, UnknownTeamState,
                      Withheld, WrongConversation)
from ..teams.authors import (AuthorErrors, Authored, check_checkpoint, check_key_gen, check_team_seqno,
                             writer_at_high_water)
from ..teams.state import Role, SigPoint, TeamState
from .body import MAX_MSG_ID
from .header import Header
from .ids import conv_id_bytes
from .seal import (MAX_SEALED_HEADER, OVERHEAD, ConvKeys, body_hash, decode_wire, exploding_body_key, header_hash,
                   hints_of, open_body, open_header)
from .state import (BAD, DELETED, EXPLODED, HISTORY_DELETED, NO_KEY, OK, SUPERSEDED, WITHHELD, JudgeState,
                    MsgInfo, Verdict)

KeyAt = Callable[[str, str, SigPoint], "int | None"]
CONTENT = frozenset({"text", "attachment"})          # what reactions, edits and pins aim at
UNDELETABLE = frozenset({"delete", "delete_history", "delete_mine"})
HISTORY = frozenset({"text", "attachment", "edit", "reaction"})   # what a delete_history / delete_mine reaches
MEMO = 4096                                          # opened headers kept between opened() and feed()
ERRORS = AuthorErrors(forked=ForkedCheckpoint, rollback=CheckpointRollback, unknown_state=UnknownTeamState,
                      unknown_gen=UnknownKeyGeneration, stale_gen=StaleKeyGeneration, not_member=SenderNotMember,
                      revoked=RevokedSenderKey, who="sender")


class ConversationJudge:
    """Rules 1-6 for one conversation; feed messages in msg_id order, keep `state` between runs."""

    def __init__(self, *, conv_id: bytes | str, team: TeamState, chat_keys: Mapping[int, bytes], key_at: KeyAt,
                 known_checkpoints: Container[tuple[int, bytes]], now: int,
                 ek_keys: Mapping[int, bytes] | None = None, state: JudgeState | None = None):
        self.conv_id = conv_id_bytes(conv_id)
        self.key_at = key_at
        self.known = known_checkpoints
        self.now = now
        self.ek_keys = dict(ek_keys or {})
        self.state = state or JudgeState()
        self._opened: dict[tuple[bytes, bytes], tuple[Header, bytes]] = {}   # see opened()
        self.update_team(team, chat_keys)

    def update_team(self, team: TeamState, chat_keys: Mapping[int, bytes]) -> None:
        """A newer verified team chain (and its keys): after a reload for UnknownTeamState."""
        self.team = team
        self._in_force: dict[int, int] = {}         # team seqno -> key generation in force then
        self.keys = {g: ConvKeys.derive(k, self.conv_id) for g, k in chat_keys.items()}

    # -- the feed ------------------------------------------------------------------
    def feed_all(self, wires: Iterable[dict]) -> list[Verdict]:
        return [self.feed(w) for w in wires]

    def feed(self, wire: dict) -> Verdict:
        """Judge one served message (a dict as GET /v1/chat/{conv}/messages serves it)."""
        st = self.state
        msg_id = wire.get("msg_id") if isinstance(wire, dict) else None
        if type(msg_id) is not int or not 1 <= msg_id <= MAX_MSG_ID:
            return Verdict(0, BAD, error=BadChatMessage("a served message without a valid msg_id"))
        if msg_id == st.last_msg_id or msg_id in st.hashes:
            return Verdict(msg_id, BAD, error=DuplicateMessageId(f"msg_id {msg_id} served twice"))
        if msg_id < st.last_msg_id:
            return Verdict(msg_id, BAD, error=MessageOrder(f"msg_id {msg_id} after {st.last_msg_id}"))
        gap = (st.last_msg_id + 1, msg_id - 1) if msg_id > st.last_msg_id + 1 else None
        st.last_msg_id = msg_id
        try:
            return self._judge(msg_id, wire, gap)
        except ChatError as e:
            return Verdict(msg_id, BAD, error=e, gap=gap)

    def _judge(self, msg_id: int, wire: dict, gap: tuple[int, int] | None) -> Verdict:
        w = decode_wire(wire)
        h, hh = self._rule1_open(w, text=wire["header"])
        self._rule2_sequence(msg_id, h)
        self._rule1_fields(w, h)
        author = Authored(h.uid, h.kid, h.sender_eldest_seqno, h.checkpoint, h.team_seqno, h.compose_time)
        check_checkpoint(author, self.known, self.state.marks, ERRORS)                       # rule 3
        hw_size, hw_seqno = writer_at_high_water(self.team, self.key_at, author, self.state.hw_size,
                                                 self.state.hw_seqno, ERRORS)                # rule 4
        self._rule6_targets(msg_id, h, hw_seqno)
        status, body = self._rule5_body(h, w["body"])
        covers = self._commit(msg_id, h, hh, body, w["body"] is not None, hw_size, hw_seqno)
        err = Withheld("withheld by the server: the body is missing and nothing explains it") \
            if status == WITHHELD else None
        if status == WITHHELD:
            self.state.withheld.add(msg_id)
        return Verdict(msg_id, status, h, hh, body, err, covers, gap)

    # -- rule 1: the header opens, is signed, and belongs here ---------------------
    def _rule1_open(self, w: dict, *, keep: bool = False, text: str) -> tuple[Header, bytes]:
        """(header, header hash) of a wire whose "header" is the sealed bytes or still the
        served base64 `text`; kept by (key, text): a pure function of them (the decoding is
        strict), so opened() decodes and checks a header once per sync, not once per look."""
        if w.get("v") != 1:
            raise BadChatMessage(f"unknown message version {w.get('v')!r}")
        if w.get("conv_id") != self.conv_id.hex():
            raise WrongConversation("the server served a message of another conversation")
        gen = w.get("key_gen")
        keys = self.keys.get(gen) if type(gen) is int else None
        if keys is None:
            raise UnknownKeyGeneration(f"no team key generation {gen!r} for this conversation")
        memo = (keys.header, text)
        hit = self._opened.get(memo) if keep else self._opened.pop(memo, None)
        if hit is None:
            raw = w["header"]
            if not isinstance(raw, (bytes, bytearray)):
                raw = b64decode(raw, max_size=MAX_SEALED_HEADER)
            hit = open_header(raw, keys.header).header, header_hash(raw)
            if keep and len(self._opened) < MEMO:
                self._opened[memo] = hit
        return hit

    def _rule1_fields(self, w: dict, h: Header) -> None:
        if h.conv_id != self.conv_id or h.team_id.hex() != self.team.id:
            raise WrongConversation("the signed conversation is not this one")
        ek = None if h.ephemeral is None else h.ephemeral["ek_gen"]
        if w.get("hints") != hints_of(h) or w.get("key_gen") != h.key_gen or w.get("ek_gen") != ek:
            raise HintMismatch("a server-visible hint differs from the signed header")
        check_team_seqno(self.team, h.team_seqno, ERRORS)
        check_key_gen(self.team, h.key_gen, h.team_seqno, ERRORS, self._in_force)

    # -- rule 2: never seen, in order, agreeing with what we hold --------------------
    def _rule2_sequence(self, msg_id: int, h: Header) -> None:
        if h.nonce in self.state.nonces:
            raise ReplayedMessage("this message's nonce was already used in this conversation")
        for pid, phash in h.prev:
            if pid >= msg_id:
                raise PrevMismatch(f"message {msg_id} names a later message {pid} as seen before it")
            held = self.state.hashes.get(pid)
            if held is not None and held != phash:
                raise PrevMismatch(f"message {pid} is not the one the sender saw (two histories?)")

    # rules 3 (checkpoints in our log, never going back) and 4 (a writer with a live key at the
    # high-water marks) are kbapp/core/teams/authors.py's, shared with the folder judge

    def is_admin_at(self, uid: str, seqno: int) -> bool:
        """Admins may delete others' messages, in real teams only (in a DM everyone is an owner)."""
        return not self.team.implicit and self.team.role_at(uid, seqno)[0] >= Role.ADMIN

    # -- rule 5: the body is the signed one, or its absence is explained -----------
    def _rule5_body(self, h: Header, sealed: bytes | None) -> tuple[str, dict | None]:
        exploded = h.ephemeral is not None and h.compose_time + h.ephemeral["lifetime"] < self.now
        if sealed is None:
            return (EXPLODED if exploded else WITHHELD), None
        if body_hash(sealed) != h.body_hash or len(sealed) - OVERHEAD != h.body_len:
            raise BadBody("the body is not the one the header signs")
        if h.ephemeral is None:
            k_b = self.keys[h.key_gen].body
        else:
            ek = self.ek_keys.get(h.ephemeral["ek_gen"])
            if ek is None or exploded:
                return (EXPLODED if exploded else NO_KEY), None
            k_b = exploding_body_key(ek, self.conv_id)
        body = open_body(sealed, k_b)
        if body["kind"] != h.type:
            raise BadBody(f"a {body['kind']} body under a {h.type} header")
        target = body.get("target") if h.type in ("edit", "reaction") else None
        if target != h.supersedes or (h.type == "delete" and tuple(sorted(body["targets"])) != h.deletes):
            raise BadBody("the body's targets are not the header's")
        return OK, body

    # -- rule 6: supersedes and deletes only where the sender may -----------------
    def _rule6_targets(self, msg_id: int, h: Header, hw_seqno: int) -> None:
        for what, ref in (("reply_to", h.reply_to), ("thread_root", h.thread_root)):
            if ref is not None and ref >= msg_id:
                raise ForgedSupersede(f"{what} names a later message")
        if h.thread_root is not None:
            # a thread hangs under a text or a file; under anything else (a pin, a join) its
            # replies would be hidden from the conversation yet counted as unread
            root = self.state.valid.get(h.thread_root)
            if root is None or root.type not in CONTENT:
                raise ForgedSupersede(f"thread_root {h.thread_root} is not an earlier text or file of this "
                                      "conversation")
        if h.type == "edit":
            self._target(msg_id, h.supersedes, CONTENT, sender=h.uid)
        elif h.type == "reaction":
            self._target(msg_id, h.supersedes, CONTENT)
        elif h.type == "delete":
            admin = self.is_admin_at(h.uid, hw_seqno)
            for t in h.deletes:
                info = self._target(msg_id, t, None)
                if info.type in UNDELETABLE or (info.uid != h.uid and not admin):
                    raise ForgedSupersede(f"message {t} may not be deleted by this sender")
        elif h.type == "delete_history" and not self.is_admin_at(h.uid, hw_seqno):
            raise ForgedSupersede("only an admin may delete a conversation's history")

    def _target(self, msg_id: int, target: int | None, kinds: frozenset | None, *, sender: str | None = None):
        info = self.state.valid.get(target) if target is not None else None     # (valid: earlier ones only)
        if info is None:
            raise ForgedSupersede(f"target {target} is not an earlier valid message of this conversation")
        if (kinds is not None and info.type not in kinds) or (sender is not None and info.uid != sender):
            raise ForgedSupersede(f"message {target} may not be edited or reacted to this way")
        return info

    # -- remembering a valid message ------------------------------------------------
    def _commit(self, msg_id: int, h: Header, hh: bytes, body: dict | None, has_body: bool, hw_size: int,
                hw_seqno: int) -> tuple[tuple[int, str], ...]:
        st = self.state
        upto = body["upto"] if body is not None and h.type in ("delete_history", "delete_mine") else 0
        if upto >= msg_id:
            raise ForgedSupersede("delete_history reaches past itself")
        st.nonces.add(h.nonce)
        st.hashes[msg_id] = hh
        st.marks[(h.uid, h.kid)] = (h.checkpoint[0], h.team_seqno)
        st.hw_size, st.hw_seqno = hw_size, hw_seqno
        st.valid[msg_id] = MsgInfo(h.uid, h.type, has_body)
        if h.type == "delete_history":
            st.history_upto = max(st.history_upto, upto)
        if not upto and h.type != "edit" and not h.deletes:
            return ()                                    # (most messages: they explain nothing)
        explained: dict[int, str] = {t: HISTORY_DELETED for t in st.withheld if t <= upto and self._reaches(h, t)}
        if h.type == "edit":
            explained[h.supersedes] = SUPERSEDED
        explained.update({t: DELETED for t in h.deletes})
        covers = []
        for t, why in sorted(explained.items()):
            st.covered.setdefault(t, why)
            if t in st.withheld:
                st.withheld.discard(t)
                covers.append((t, why))
        return tuple(covers)

    def _reaches(self, h: Header, t: int) -> bool:
        """An admin's delete_history explains every missing body before it; anyone's
        delete_mine only the sender's own content (never another member's message)."""
        if h.type != "delete_mine":
            return True
        info = self.state.valid[t]
        return info.uid == h.uid and info.type in HISTORY

    # -- helpers for the client --------------------------------------------------
    def prev_pointers(self, n: int = 3) -> list[list]:
        """[msg_id, header_hash] of the last n valid messages: what a new message should name."""
        return [[i, self.state.hashes[i]] for i in sorted(self.state.valid)[-n:]]

    def opened(self, wire: object) -> Header | None:
        """The header of a served message if it opens, is signed and belongs here (None if not):
        what the client looks at before feeding (whose chains, which checkpoints). The answer is
        kept until feed() takes it, so each header is opened and its signature checked once per
        sync; a pure function of (key, sealed bytes), so keeping it weakens nothing."""
        if not isinstance(wire, dict):
            return None
        text = wire.get("header")
        if not isinstance(text, str):
            return None
        try:
            return self._rule1_open(wire, keep=True, text=text)[0]
        except (ChatError, EncodingError):
            return None

    def needs(self, wires: Iterable[dict]) -> tuple[int, set[tuple[int, bytes]]]:
        """(highest team seqno, checkpoints not known good) named by the headers that open:
        what to reload and check against the log (logview.roots_in_log) before feeding."""
        seqno, unknown = 0, set()
        for wire in wires:
            h = self.opened(wire)
            if h is None:
                continue
            seqno = max(seqno, h.team_seqno)
            if tuple(h.checkpoint) not in self.known:
                unknown.add(tuple(h.checkpoint))
        return seqno, unknown


__all__ = ["ConversationJudge", "JudgeState", "Verdict"]
