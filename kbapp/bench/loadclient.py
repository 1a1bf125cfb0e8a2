"""A lean HTTP/1.1 client for load generators: h11 over asyncio streams, keep-alive pooled.

Why not httpx, which the app uses: on this 2-core machine httpx spends about 1.4 ms of
CPU per request (its transport layers: anyio, httpcore's pool, URL parsing), more than
the server spends answering a lookup (about 0.9 ms). A benchmark that plays 20 users
and 5 writers through it on the same cores measures its own queue: the users' process
ran at 0.95 of a core in the idle phase of `bench server-load`. h11 is the same HTTP/1.1
state machine httpx rides on, without the layers; about a tenth of the CPU.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from urllib.parse import urlencode, urlsplit

import h11

READ_CHUNK = 65536
KEEPALIVE_S = 2.0    # as the app's client (api.LIMITS): idle connections go well before the server's 5 s idle timeout


class LoadResponse:
    """What the benches read of an answer: status, body, JSON."""

    def __init__(self, status_code: int, content: bytes):
        self.status_code, self.content = status_code, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return jsonlib.loads(self.content)


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    async def exchange(self, request: h11.Request, body: bytes) -> LoadResponse:
        conn = self.h11
        self.writer.write(conn.send(request) + (conn.send(h11.Data(data=body)) if body else b"")
                          + conn.send(h11.EndOfMessage()))
        status, chunks = 0, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self.reader.read(READ_CHUNK))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return LoadResponse(status, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection mid-answer")

    def reusable(self) -> bool:
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False

    def close(self) -> None:
        self.writer.close()


class LoadClient:
    """`await client.get(path)`, `.post(path, json=...)`: one request per connection at a
    time, idle connections reused (keep-alive), at most `max_connections` open."""

    def __init__(self, base_url: str, max_connections: int = 32, headers: dict[str, str] | None = None):
        u = urlsplit(base_url)
        self._headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self._authority = u.netloc.encode()
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def __aenter__(self) -> LoadClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def request(self, method: str, path: str, *, json=None, params: dict | None = None) -> LoadResponse:
        if params:
            path = f"{path}?{urlencode(params)}"
        body = jsonlib.dumps(json, separators=(",", ":")).encode() if json is not None else b""
        headers = [(b"host", self._authority), (b"content-length", str(len(body)).encode()), *self._headers]
        if json is not None:
            headers.append((b"content-type", b"application/json"))
        request = h11.Request(method=method, target=path, headers=headers)
        async with self._slots:
            conn = self._reuse() or _Conn(*await asyncio.open_connection(self.host, self.port))
            try:
                response = await conn.exchange(request, body)
            except BaseException:
                conn.close()
                raise
            if conn.reusable():
                conn.idle_since = asyncio.get_running_loop().time()
                self._idle.append(conn)
            else:
                conn.close()
            return response

    def _reuse(self) -> _Conn | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < KEEPALIVE_S:
                return conn
            conn.close()
        return None

    async def get(self, path: str, **kw) -> LoadResponse:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw) -> LoadResponse:
        return await self.request("POST", path, **kw)
