"""The server's HTTP API as seen by a client: every answer is a hint.

Responses are size-capped while they stream in and parsed with depth caps;
failures become typed errors. Nothing here decides what is true: that is the
job of `identify` and `transparency`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator
from urllib.parse import quote

import httpx

from kbapp.core import errors
from kbapp.core.encoding import loads_json

MAX_RESPONSE = 8 << 20
_TYPED = {"BAD_READ_TOKEN": errors.BadReadToken, "READ_NOT_ALLOWED": errors.ReadNotAllowed,
          **{e.code: e for e in (errors.ChatPostNotAllowed, errors.ChatSenderMismatch, errors.ChatTargetRefused,
                                 errors.ChatConvIdMismatch, errors.ChatHistoryRefused, errors.ChatBlobNotYours)}}
# (the chat routes' refusals, by their code)
_TYPED_BLOB = {e.code: e for e in (errors.BlobQuotaExceeded, errors.BlobMismatch, errors.BadBlobId, errors.BadRange,
                                   errors.BlobLengthRequired)}
MAX_DEPTH = 24
# an ephemeral key refusal the client acts on (retry with the winner's generation): by code,
# before a 409 becomes a plain Conflict
_TYPED_EK = {e.code: e for e in (errors.EkGenerationTaken,)}
_TYPED_FS = {e.code: e for e in (errors.FolderIdMismatch, errors.FolderNotWriter, errors.FolderWriterMismatch,
                                 errors.FolderStaleKeyGenRefused, errors.FolderQuotaExceeded, errors.FolderBlockMismatch,
                                 errors.FolderPublicNotImplicit, errors.FolderGcRefused, errors.FolderGcTooEarly)}
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
BLOB_TIMEOUT = httpx.Timeout(120.0, connect=5.0)    # the server hashes and fsyncs a whole blob before it answers
# A pooled connection is dropped well before the server's idle timeout (5 s by default,
# docs/server.md): reusing one just as the server closes it fails the request mid-flight.
LIMITS = httpx.Limits(keepalive_expiry=2.0)


RETRY_READ_WITHIN = 2      # seconds: a GET refused with 429/503 and a shorter Retry-After is sent again once


def _retry_after(value: str | None) -> int:
    """Seconds from a Retry-After header (delta-seconds only), 1 when absent or odd, at most 3600."""
    if value is None or not value.strip().isdigit() or len(value.strip()) > 6:
        return 1
    return max(0, min(int(value.strip()), 3600))


async def _capped(resp: httpx.Response, cap: int) -> bytes:
    """An answer's bytes, at most `cap` of them (the rest is not read). Pieces are joined once
    (a 512 KiB block comes in 64 KiB pieces: adding them up one by one copied it 4 times)."""
    pieces, size = [], 0
    async for piece in resp.aiter_raw():
        pieces.append(piece)
        size += len(piece)
        if size >= cap:
            return b"".join(pieces)[:cap]
    return b"".join(pieces)


class ServerAPI:
    def __init__(self, base_url: str, *, client: httpx.AsyncClient | None = None,
                 max_response: int = MAX_RESPONSE):
        if not base_url.startswith(("http://", "https://")):
            raise errors.NetworkError(f"server URL must start with http:// or https://: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._own = client is None
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS, follow_redirects=False,
                                                   headers={"User-Agent": "kbapp"})
        self.max_response = max_response
        # Reads that are not public carry a read token (core/tokens.py): an object with
        # `async header() -> str` and `forget()` (client/team_access.py), set after login.
        self.read_tokens = None

    async def aclose(self) -> None:
        if self._own:
            await self._client.aclose()

    async def _request(self, method: str, path: str, *, params=None, json: Any = None, auth: bool = False) -> Any:
        try:
            return await self._request_once(method, path, params=params, json=json, auth=auth)
        except (errors.RateLimited, errors.ServerBusy) as e:
            # A read is safe to send again: once, after the wait the server asked for when
            # it is short (a write is left to the caller, who knows whether it landed).
            wait = getattr(e, "retry_after", 1)
            if method != "GET" or wait > RETRY_READ_WITHIN:
                raise
            await asyncio.sleep(wait)
            return await self._request_once(method, path, params=params, json=json, auth=auth)

    async def _request_once(self, method: str, path: str, *, params=None, json: Any = None,
                            auth: bool = False) -> Any:
        if not auth or self.read_tokens is None:
            return await self._send(method, path, params=params, json=json)
        try:
            return await self._send(method, path, params=params, json=json,
                                    headers={"Authorization": await self.read_tokens.header()})
        except errors.BadReadToken:
            self.read_tokens.forget()          # expired on the server's clock, say: once more, fresh
            return await self._send(method, path, params=params, json=json,
                                    headers={"Authorization": await self.read_tokens.header()})

    async def _send(self, method: str, path: str, *, params=None, json: Any = None, headers=None) -> Any:
        url = self.base_url + path
        try:
            async with self._client.stream(method, url, params=params, json=json, headers=headers) as resp:
                length = resp.headers.get("content-length")
                if length is not None and length.isdigit() and int(length) > self.max_response:
                    raise errors.TooLarge(f"server answer of {length} bytes is over {self.max_response}")
                chunks, total = [], 0
                async for chunk in resp.aiter_bytes():
                    total += len(chunk)
                    if total > self.max_response:
                        raise errors.TooLarge(f"server answer is over {self.max_response} bytes")
                    chunks.append(chunk)
                status = resp.status_code
                retry_after = _retry_after(resp.headers.get("retry-after"))
        except httpx.TimeoutException:
            raise errors.NetworkError(f"the server at {self.base_url} did not answer in time") from None
        except httpx.HTTPError as e:
            raise errors.NetworkError(f"cannot reach the server at {self.base_url}: {e}") from None
        raw = b"".join(chunks)
        if status >= 400:
            self._refused(status, raw, retry_after)
        body = loads_json(raw, max_size=self.max_response, max_depth=MAX_DEPTH) if raw else None
        if not isinstance(body, dict):
            raise errors.EncodingError(f"server answer to {path} is not a JSON object")
        return body

    def _refused(self, status: int, raw: bytes, retry_after: int) -> None:
        """Raise the typed error of an HTTP error answer (its JSON `error`, if it has one)."""
        try:
            body = loads_json(raw, max_size=self.max_response, max_depth=MAX_DEPTH) if raw else None
        except errors.EncodingError:
            body = None  # an HTML error page from a proxy, say
        err = body.get("error") if isinstance(body, dict) else None
        msg = str(err.get("message", ""))[:500] if isinstance(err, dict) else f"HTTP {status}"
        code = str(err.get("code", "")) if isinstance(err, dict) else ""
        if code in _TYPED_EK:
            raise _TYPED_EK[code](msg, status)
        if status == 404:
            raise errors.NotFound(msg)
        if status == 409:
            raise errors.Conflict(msg)
        if status == 429:
            raise errors.RateLimited(msg, status, code, retry_after=retry_after)
        if status == 408:
            raise errors.RequestTimeout(f"the server timed out this request: {msg}", status, code)
        if status == 503:
            raise errors.ServerBusy(f"the server is busy, try again in {retry_after} s: {msg}", status, code)
        if code in _TYPED:
            raise _TYPED[code](msg, status, code)
        if code in _TYPED_BLOB:
            raise _TYPED_BLOB[code](msg)
        if code in _TYPED_FS:
            raise _TYPED_FS[code](msg, status, code)
        raise errors.ServerError(f"server refused: {msg}", status, code)

    async def get(self, path: str, **params) -> dict:
        return await self._request("GET", path, params=params or None)

    async def get_auth(self, path: str, **params) -> dict:
        """A read that needs a read token (team chains, boxes, member lists...)."""
        return await self._request("GET", path, params=params or None, auth=True)

    async def post(self, path: str, body: dict) -> dict:
        return await self._request("POST", path, json=body)

    # endpoints -------------------------------------------------------------

    async def server_info(self) -> dict:
        return await self.get("/v1/server")

    async def checkpoint(self, size: int | None = None) -> str:
        body = await (self.get("/v1/checkpoint", size=size) if size else self.get("/v1/checkpoint"))
        note = body.get("note")
        if not isinstance(note, str):
            raise errors.EncodingError("checkpoint answer has no note")
        return note

    async def signup(self, body: dict) -> dict:
        return await self.post("/v1/signup", body)

    async def post_links(self, uid: str, body: dict) -> dict:
        return await self.post(f"/v1/chain/{uid}/links", body)

    async def chain(self, uid: str, since: int = 0, limit: int | None = None) -> dict:
        """One page of a chain: the links after seqno `since` (the server sends at most
        1000, about 2 MiB, and says `more`); chainfetch.fetch_links asks page by page."""
        params = {"since": since} if limit is None else {"since": since, "limit": limit}
        return await self.get(f"/v1/chain/{uid}", **params)

    async def user(self, username: str) -> dict:
        return await self.get(f"/v1/users/{username}")

    async def user_by_kid(self, kid: str) -> dict:
        return await self.get(f"/v1/keys/{kid}")

    async def proof_owners(self, service: str, name: str) -> list:
        """A hint: users the server says prove `name` on `service`."""
        users = (await self.get("/v1/proofs/search", service=service, name=name)).get("users")
        if not isinstance(users, list):
            raise errors.EncodingError("malformed proof search answer")
        return users[:100]

    async def proof_owners_page(self, service: str, name: str, after: str = "") -> tuple[list, str | None]:
        """One page of the hint (users in uid order after `after`) and where the next starts."""
        params = {"service": service, "name": name, **({"after": after} if after else {})}
        body = await self.get("/v1/proofs/search", **params)
        users, nxt = body.get("users"), body.get("next")
        if not isinstance(users, list) or not (nxt is None or isinstance(nxt, str) and len(nxt) <= 32):
            raise errors.EncodingError("malformed proof search answer")
        if nxt is not None and (nxt <= after or not users):
            raise errors.EncodingError("a proof search page that does not move on")
        return users[:1000], nxt

    async def followers(self, uid: str) -> list:
        """A hint: users the server says follow `uid`."""
        users = (await self.get(f"/v1/followers/{uid}")).get("followers")
        if not isinstance(users, list):
            raise errors.EncodingError("malformed followers answer")
        return users[:1000]

    async def puk_boxes(self, uid: str, device_kid: str) -> dict:
        return await self.get(f"/v1/puk/{uid}", device_kid=device_kid)

    async def lookup(self, kind: str, ident: str) -> dict:
        return await self.get(f"/v1/lookup/{kind}/{ident}")

    async def consistency(self, first: int, second: int) -> list:
        body = await self.get("/v1/log/consistency", first=first, second=second)
        return body.get("proof")

    async def inclusion(self, index: int, size: int) -> list:
        body = await self.get("/v1/log/inclusion", index=index, size=size)
        return body.get("proof")

    async def leaves(self, start: int, end: int) -> list:
        body = await self.get("/v1/log/leaves", start=start, end=end)
        leaves = body.get("leaves")
        if not isinstance(leaves, list) or body.get("start") != start:
            raise errors.EncodingError("malformed leaves answer")
        return leaves

    # teams (every answer a hint: the team chain is played back and checked
    # against the Merkle map before anything is believed)

    async def team_post(self, team_id: str, body: dict) -> dict:
        return await self.post(f"/v1/team/{team_id}/links", body)

    async def team_chain(self, team_id: str, since: int = 0) -> dict:
        """One page of a team chain (as `chain`); team_chain_links asks for all of it."""
        return await self.get_auth(f"/v1/team/{team_id}", since=since)

    async def team_chain_links(self, team_id: str, upto: int) -> tuple[dict, list]:
        """The first page's answer (its hints) and links 1..`upto`, page by page."""
        first, links = None, []
        while len(links) < upto:
            ans = await self.team_chain(team_id, since=len(links))
            page = ans.get("links")
            if not isinstance(page, list):
                raise errors.EncodingError("team chain answer has no link list")
            first = first or ans
            links += page[:upto - len(links)]
            if not page or not ans.get("more"):
                break
        return first or {}, links

    async def team_by_name(self, name: str) -> dict:
        return await self.get(f"/v1/teams/name/{quote(name, safe='')}")   # '#' would start a fragment

    async def team_boxes(self, team_id: str, uid: str) -> dict:
        return await self.get_auth(f"/v1/team/{team_id}/boxes", uid=uid)

    async def team_generation_boxes(self, team_id: str, generation: int) -> list:
        items = (await self.get_auth(f"/v1/team/{team_id}/boxes", generation=generation)).get("boxes")
        if not isinstance(items, list):
            raise errors.EncodingError("malformed team key box list")
        return items

    async def teams_of(self, uid: str) -> list:
        teams = (await self.get_auth(f"/v1/teams/of/{uid}")).get("teams")
        if not isinstance(teams, list):
            raise errors.EncodingError("malformed team list answer")
        return teams[:1000]

    async def subteams(self, team_id: str) -> list:
        items = (await self.get_auth(f"/v1/team/{team_id}/subteams")).get("subteams")
        if not isinstance(items, list):
            raise errors.EncodingError("malformed subteam list answer")
        return items[:1000]

    async def team_request_join(self, team_id: str, body: dict) -> dict:
        return await self.post(f"/v1/team/{team_id}/requests", body)

    async def team_join_requests(self, team_id: str) -> list:
        items = (await self.get_auth(f"/v1/team/{team_id}/requests")).get("requests")
        if not isinstance(items, list):
            raise errors.EncodingError("malformed join request list")
        return items[:500]

    async def team_deny_join(self, team_id: str, body: dict) -> dict:
        return await self.post(f"/v1/team/{team_id}/requests/deny", body)

    async def team_accept_invite(self, team_id: str, invite_id: str, body: dict) -> dict:
        return await self.post(f"/v1/team/{team_id}/invites/{invite_id}/accept", body)

    async def team_acceptances(self, team_id: str) -> list:
        items = (await self.get_auth(f"/v1/team/{team_id}/acceptances")).get("acceptances")
        if not isinstance(items, list):
            raise errors.EncodingError("malformed invite acceptance list")
        return items[:500]

    # chat (server/routes/chat.py): every call carries a read token; answers are hints that
    # core/chat verifies. A post is safe to send again: the server is idempotent on hints.outbox_id.

    async def chat_post(self, conv_id: str, body: dict) -> dict:
        """Post `{team_id, topic_type, topic_id, key_gen, ek_gen, header, body, hints}` -> {msg_id, ctime}."""
        return await self._request("POST", f"/v1/chat/{quote(conv_id, safe='')}/messages", json=body, auth=True)

    async def chat_messages(self, conv_id: str, after: int | None = None, before: int | None = None,
                            limit: int = 100) -> dict:
        """A page: ascending after `after` (default 0) or descending before `before` -> {messages, last}."""
        params = {"limit": limit, **({"after": after} if after is not None else {}),
                  **({"before": before} if before is not None else {})}
        body = await self.get_auth(f"/v1/chat/{quote(conv_id, safe='')}/messages", **params)
        if not isinstance(body.get("messages"), list) or type(body.get("last")) is not int:
            raise errors.EncodingError("malformed chat page")
        return body

    async def chat_inbox(self, since: int = 0) -> dict:
        """Conversations of my teams changed after version `since` -> {convs, vers}."""
        body = await self.get_auth("/v1/chat/inbox", since=since)
        if not isinstance(body.get("convs"), list) or type(body.get("vers")) is not int:
            raise errors.EncodingError("malformed chat inbox")
        return body

    async def team_channels(self, team_id: str) -> list:
        convs = (await self.get_auth(f"/v1/teams/{quote(team_id, safe='')}/channels")).get("convs")
        if not isinstance(convs, list):
            raise errors.EncodingError("malformed channel list")
        return convs

    async def chat_typing(self, conv_id: str) -> None:
        await self._request("POST", f"/v1/chat/{quote(conv_id, safe='')}/typing", json={}, auth=True)

    async def chat_read(self, conv_id: str, upto: int) -> None:
        """Tell this user's other devices we read `conv_id` up to `upto` (a hint they check)."""
        await self._request("POST", f"/v1/chat/{quote(conv_id, safe='')}/read", json={"upto": int(upto)}, auth=True)

    # blobs (chat attachments): streamed both ways, with a read token; what comes back is
    # checked chunk by chunk by client/chat/transfer.py, never trusted here

    async def blob_quota(self) -> dict:
        return await self.get_auth("/v1/blobs")

    async def blob_put(self, blob_id: str, content: AsyncIterator[bytes], size: int) -> dict:
        """Stream `size` bytes to the blob `blob_id`. Not retried here (the body is a
        one-shot stream): the caller starts over with a fresh one."""
        return await self._blob_send("PUT", f"/v1/blobs/{blob_id}", content, size)

    async def blob_post(self, content: AsyncIterator[bytes], size: int) -> dict:
        """Stream `size` bytes as a new blob; the server names it by their SHA-256 (the
        answer's `blob_id`, which the caller checks against its own hash). Not retried."""
        return await self._blob_send("POST", "/v1/blobs", content, size)

    async def _blob_send(self, method: str, path: str, content: AsyncIterator[bytes], size: int) -> dict:
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        if self.read_tokens is not None:
            headers["Authorization"] = await self.read_tokens.header()
        try:
            async with self._client.stream(method, f"{self.base_url}{path}", content=content,
                                           headers=headers, timeout=BLOB_TIMEOUT) as resp:
                raw = await _capped(resp, 65536)
        except httpx.TimeoutException:
            raise errors.NetworkError(f"the server at {self.base_url} stopped taking the upload") from None
        except httpx.HTTPError as e:
            raise errors.NetworkError(f"upload to {self.base_url} failed: {e}") from None
        if resp.status_code >= 400:
            self._blob_refused(resp, raw)
        body = loads_json(raw, max_size=65536, max_depth=2)
        if not isinstance(body, dict):
            raise errors.EncodingError("malformed blob upload answer")
        return body

    def _blob_refused(self, resp: httpx.Response, raw: bytes) -> None:
        if resp.status_code == 401 and self.read_tokens is not None:
            self.read_tokens.forget()             # the next try mints a fresh token
        try:
            self._refused(resp.status_code, raw, _retry_after(resp.headers.get("retry-after")))
        except errors.ServerError as e:
            if e.status == 413:
                raise errors.TooLarge(str(e)) from None
            raise

    @contextlib.asynccontextmanager
    async def blob_get(self, blob_id: str, start: int | None = None, stop: int | None = None):
        """The streamed response for the blob (bytes [start, stop) when given); the caller
        reads `aiter_raw()` and checks every byte."""
        headers = {"Authorization": await self.read_tokens.header()} if self.read_tokens is not None else {}
        if start is not None:
            headers["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        try:
            async with self._client.stream("GET", f"{self.base_url}/v1/blobs/{blob_id}", headers=headers,
                                           timeout=BLOB_TIMEOUT) as resp:
                if resp.status_code >= 400:
                    self._blob_refused(resp, await _capped(resp, 65536))
                if start is not None and resp.status_code != 206:
                    raise errors.EncodingError("the server ignored the byte range asked for")
                yield resp
        except httpx.TimeoutException:
            raise errors.NetworkError(f"the server at {self.base_url} stopped sending the blob") from None
        except httpx.HTTPError as e:
            raise errors.NetworkError(f"download from {self.base_url} failed: {e}") from None

    # encrypted folders (server/routes/folders.py): blocks and envelopes as raw bytes; everything
    # that comes back is a hint that core/fs checks (block ids, the judge, the map proof)

    async def _fs(self, method: str, path: str, *, content: bytes | None = None, json: Any = None,
                  params=None, length: int | None = None) -> tuple[int, bytes]:
        """(status, body) of one folder request with a read token (if logged in), once more on a 401.
        `content` may be a callable returning a fresh async iterable of pieces (sent again on
        a 401) with their total `length`: a streamed body, kept by nothing once sent."""
        for attempt in (0, 1):
            headers = {"Authorization": await self.read_tokens.header()} if self.read_tokens is not None else {}
            body = content
            if callable(content):
                body, headers["Content-Length"] = content(), str(length)
            try:
                async with self._client.stream(method, self.base_url + path, content=body, json=json,
                                               params=params, headers=headers) as resp:
                    raw = await _capped(resp, self.max_response + 1)
            except httpx.TimeoutException:
                raise errors.NetworkError(f"the server at {self.base_url} did not answer in time") from None
            except httpx.HTTPError as e:
                raise errors.NetworkError(f"cannot reach the server at {self.base_url}: {e}") from None
            if len(raw) > self.max_response:
                raise errors.TooLarge(f"server answer is over {self.max_response} bytes")
            if resp.status_code == 401 and attempt == 0 and self.read_tokens is not None:
                self.read_tokens.forget()
                continue
            return resp.status_code, raw
        return resp.status_code, raw

    def _fs_json(self, status: int, raw: bytes, retry_after: str | None = None) -> dict:
        if status >= 400:
            self._refused(status, raw, _retry_after(retry_after))
        body = loads_json(raw, max_size=self.max_response, max_depth=MAX_DEPTH) if raw else None
        if not isinstance(body, dict):
            raise errors.EncodingError("malformed folder answer")
        return body

    async def fs_put_block(self, folder_id: str, block_id: str, data: bytes, *, team_id: str | None = None,
                           kind: int | None = None) -> dict:
        """Put one stored block (idempotent); `team_id` and `kind` the first time the folder is used."""
        params = {"team": team_id, "kind": kind} if team_id is not None else None
        return self._fs_json(*await self._fs("PUT", f"/v1/folders/{quote(folder_id, safe='')}/blocks/"
                                                    f"{quote(block_id, safe='')}", content=data, params=params))

    async def fs_get_block(self, folder_id: str, block_id: str) -> bytes:
        """The stored bytes of a block (core/fs checks them against the pointer)."""
        status, raw = await self._fs("GET", f"/v1/folders/{quote(folder_id, safe='')}/blocks/"
                                            f"{quote(block_id, safe='')}")
        if status >= 400:
            self._refused(status, raw, 1)
        return raw

    async def fs_get_blocks(self, folder_id: str, block_ids: list[str]) -> dict:
        """Up to 64 blocks at once -> {"blocks": {id: base64 bytes or None}, "later": [ids to ask again]}."""
        body = self._fs_json(*await self._fs("POST", f"/v1/folders/{quote(folder_id, safe='')}/blocks:get",
                                             json={"ids": list(block_ids)}))
        if not isinstance(body.get("blocks"), dict) or not isinstance(body.get("later"), list):
            raise errors.EncodingError("malformed block batch")
        return body

    async def fs_post_revision(self, folder_id: str, envelope: bytes) -> dict:
        """Post a signed envelope -> {revision, id, ctime}; FolderHeadMoved (head, head_id) when the
        folder moved on (a head id equal to ours: it was accepted before)."""
        status, raw = await self._fs("POST", f"/v1/folders/{quote(folder_id, safe='')}/revisions", content=envelope)
        if status == 409:
            try:
                body = loads_json(raw, max_size=65536, max_depth=4)
            except errors.EncodingError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("error"), dict) and \
                    body["error"].get("code") == errors.FolderHeadMoved.code:
                head, head_id = body.get("head"), body.get("head_id")
                if type(head) is not int or not (head_id is None or isinstance(head_id, str)):
                    raise errors.EncodingError("malformed folder head in a 409")
                raise errors.FolderHeadMoved(str(body["error"].get("message", ""))[:500], 409, head, head_id)
        return self._fs_json(status, raw)

    async def fs_revisions(self, folder_id: str, since: int = 0, limit: int = 100) -> dict:
        """Envelopes after `since` up to the proven head -> {head, revisions, lookup}."""
        body = self._fs_json(*await self._fs("GET", f"/v1/folders/{quote(folder_id, safe='')}/revisions",
                                             params={"since": since, "limit": limit}))
        if not isinstance(body.get("revisions"), list) or not isinstance(body.get("lookup"), dict):
            raise errors.EncodingError("malformed folder revisions page")
        return body

    async def fs_head(self, folder_id: str, *, team_id: str | None = None, kind: int | None = None) -> dict:
        """The folder's head and its map lookup; with `team_id` and `kind`, also for a folder
        never written (the lookup then proves it absent)."""
        params = {"team": team_id, "kind": kind} if team_id is not None else None
        body = self._fs_json(*await self._fs("GET", f"/v1/folders/{quote(folder_id, safe='')}/head", params=params))
        if not isinstance(body.get("lookup"), dict):
            raise errors.EncodingError("malformed folder head")
        return body

    async def fs_folders(self, team_id: str) -> list:
        body = self._fs_json(*await self._fs("GET", "/v1/folders", params={"team_id": team_id}))
        if not isinstance(body.get("folders"), list):
            raise errors.EncodingError("malformed folder list")
        return body["folders"]

    async def kex_post(self, channel: str, msg_b64: str) -> int:
        body = await self.post(f"/v1/kex/{channel}", {"msg": msg_b64})
        return body.get("index")

    async def kex_read(self, channel: str, after: int) -> list:
        body = await self.get(f"/v1/kex/{channel}", after=after)
        msgs = body.get("messages")
        if not isinstance(msgs, list) or len(msgs) > 64:
            raise errors.EncodingError("malformed mailbox answer")
        return msgs
