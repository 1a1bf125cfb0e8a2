"""A minimal chat client for the chat server's tests: read tokens of real devices, posts of
random "sealed" bytes (the server cannot open a message, so it never needs real ones), raw
HTTP so the tests see every status and error code. (tests/chat_support.py is the format
tests' in-memory world.) Not a test module; tests/ is on sys.path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from kbapp.core.chat.ids import conv_id_hex, general_topic_id
from kbapp.core.encoding import b64encode
from kbapp.core.tokens import parse_read_token


def general(team_id: str) -> tuple[str, str]:
    """(conv_id, topic_id) of a team's #general."""
    topic = general_topic_id(team_id).hex()
    return conv_id_hex(team_id, 1, topic), topic


def channel(team_id: str, topic: str | None = None) -> tuple[str, str]:
    """(conv_id, topic_id) of another channel (a random topic id unless given)."""
    topic = topic or os.urandom(16).hex()
    return conv_id_hex(team_id, 1, topic), topic


@dataclass
class Member:
    """A logged-in App's identity as the chat routes see it: its read token's uid and key."""

    app: object

    async def token(self) -> str:
        return await self.app.api.read_tokens.header()

    async def ids(self) -> tuple[str, str]:
        t, _ = parse_read_token(await self.token())
        return t.uid, t.kid

    async def message(self, team_id: str, topic_id: str, *, type: str = "text", outbox_id: str | None = None,
                      header: bytes | None = None, body: bytes | None = None, key_gen: int = 1,
                      ek_gen: int | None = None, **hints) -> dict:
        """A post body of random 'sealed' bytes; `hints` override or add to the sender's own."""
        uid, kid = await self.ids()
        return {"team_id": team_id, "topic_type": 1, "topic_id": topic_id, "key_gen": key_gen, "ek_gen": ek_gen,
                "header": b64encode(header if header is not None else os.urandom(200)),
                "body": b64encode(body if body is not None else os.urandom(256)),
                "hints": {"type": type, "sender_uid": uid, "sender_kid": kid,
                          "outbox_id": outbox_id or os.urandom(16).hex(), "supersedes": None, "deletes": [],
                          "reply_to": None, "thread_root": None, "lifetime": None, **hints}}


class ChatHTTP:
    """Raw requests to one server, each with the member's read token."""

    def __init__(self, url: str):
        # at most 30 connections each: four clients stay under the server's 128 per address
        self.client = httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=30))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def post(self, who: Member | None, conv_id: str, payload: dict) -> httpx.Response:
        headers = {"Authorization": await who.token()} if who else {}
        return await self.client.post(f"/v1/chat/{conv_id}/messages", json=payload, headers=headers)

    async def get(self, who: Member | None, path: str, **params) -> httpx.Response:
        headers = {"Authorization": await who.token()} if who else {}
        return await self.client.get(path, params=params, headers=headers)

    async def messages(self, who: Member, conv_id: str, **params) -> httpx.Response:
        return await self.get(who, f"/v1/chat/{conv_id}/messages", **params)

    async def typing(self, who: Member, conv_id: str) -> httpx.Response:
        return await self.client.post(f"/v1/chat/{conv_id}/typing", json={},
                                      headers={"Authorization": await who.token()})


def code(r: httpx.Response) -> str:
    return r.json()["error"]["code"]
