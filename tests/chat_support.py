"""A team conversation in memory for the chat core's tests (no server).

Real team chains (team_support.TeamBuilder), real team keys and device keys; `post` plays
an honest server (msg_id = last + 1, hints copied from the header), and tests then tamper
with the served dicts the way a malicious server would.
"""

from __future__ import annotations

import hashlib

from team_support import TeamBuilder, World

from kbapp.core.chat.body import make_body
from kbapp.core.chat.ids import TOPIC_TYPE_CHAT, conv_id_for, general_topic_id
from kbapp.core.chat.seal import ConvKeys, Sealed, chat_key, seal_message
from kbapp.core.encoding import b64encode
from kbapp.core.teams import Role


def root_at(size: int) -> bytes:
    return hashlib.sha256(str(size).encode()).digest()       # team_support's stand-in log roots


class ChatWorld:
    def __init__(self, seed: str = "chat", members: dict | None = None, topic_id: bytes | None = None):
        self.w = World(seed)
        self.alice, self.bob, self.carol = (self.w.user(n) for n in ("alice", "bob", "carol"))
        members = {"bob": Role.WRITER, "carol": Role.WRITER} if members is None else members
        self.team = TeamBuilder(self.w, "acme", self.alice, members)
        self.team_id = bytes.fromhex(self.team.id)
        self.topic_id = topic_id or general_topic_id(self.team_id)
        self.conv_id = conv_id_for(self.team_id, TOPIC_TYPE_CHAT, self.topic_id)
        self.served: list[dict] = []
        self.sealed: dict[int, Sealed] = {}
        self.time = 1_700_000_000

    # -- keys and log ------------------------------------------------------------------
    def keys(self, gen: int | None = None, conv_id: bytes | None = None) -> ConvKeys:
        gen = self.team.state.generation if gen is None else gen
        return ConvKeys.derive(chat_key(self.team.keys[gen]), conv_id or self.conv_id)

    def checkpoint(self) -> list:
        return [self.w.log_size, root_at(self.w.log_size)]

    def known(self) -> set:
        return {(s, root_at(s)) for s in range(1, self.w.log_size + 1)}

    # -- composing and serving -----------------------------------------------------------
    def compose(self, user, kind: str = "text", *, device=None, prev=None, **fields) -> Sealed:
        """What an honest client of `user` would post now (fields override any header field)."""
        body = fields.pop("body", None) or make_body(kind, **fields.pop("body_fields", {"text": "hello"}
                                                                           if kind == "text" else {}))
        st = self.team.state
        self.time += 1
        if prev is None:
            prev = [[m["msg_id"], self.sealed[m["msg_id"]].header_hash] for m in self.served[-3:]
                    if m["msg_id"] in self.sealed]
        hdr = dict(conv_id=self.conv_id, team_id=self.team_id, topic_type=TOPIC_TYPE_CHAT, topic_id=self.topic_id,
                   prev=prev, sender_uid=bytes.fromhex(user.uid), sender_eldest_seqno=user.eldest_seqno,
                   key_gen=st.generation, checkpoint=self.checkpoint(), team_seqno=st.seqno,
                   nonce=self.w.rand(16), outbox_id=self.w.rand(16), compose_time=self.time)
        keys = fields.pop("keys", None)
        body_k = fields.pop("body_k", None)
        hdr.update(fields)
        keys = keys or self.keys(hdr["key_gen"], hdr["conv_id"])
        return seal_message(body=body, device=device or user.device, keys=keys, header_nonce=self.w.rand(24),
                            body_nonce=self.w.rand(24), body_k=body_k, **hdr)

    def post(self, sealed: Sealed, msg_id: int | None = None) -> dict:
        msg_id = msg_id or (self.served[-1]["msg_id"] + 1 if self.served else 1)
        h = sealed.header
        wire = {"v": 1, "conv_id": self.conv_id.hex(), "msg_id": msg_id, "ctime": self.time,
                "key_gen": h.key_gen, "ek_gen": sealed.post()["ek_gen"], "header": b64encode(sealed.sealed_header),
                "body": b64encode(sealed.sealed_body), "hints": sealed.post()["hints"], "superseded_by": None}
        self.served.append(wire)
        self.sealed[msg_id] = sealed
        return wire

    def send(self, user, kind: str = "text", **kw) -> dict:
        return self.post(self.compose(user, kind, **kw))

    def judge(self, **kw):
        from kbapp.core.chat.judge import ConversationJudge
        kw.setdefault("known_checkpoints", self.known())
        kw.setdefault("now", self.time + 10)
        kw.setdefault("team", self.team.state)
        return ConversationJudge(conv_id=self.conv_id,
                                 chat_keys={g: chat_key(k) for g, k in self.team.keys.items()},
                                 key_at=self.w.user_key_at, **kw)
