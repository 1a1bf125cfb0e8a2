"""The benches' lean HTTP client (kbapp/bench/loadclient.py) against a real server process:
answers, JSON both ways, query strings, keep-alive reuse, and idle connections dropped
before the server's idle timeout could close them under a request."""

from __future__ import annotations

import asyncio

from kbapp.bench import loadclient
from kbapp.bench.loadclient import LoadClient


async def test_requests_answers_and_keep_alive(server_factory):
    server = server_factory(None)
    async with LoadClient(server.url, max_connections=4) as http:
        r = await http.get("/v1/checkpoint")
        assert r.status_code == 200 and "note" in r.json()
        missing = await http.get("/v1/users/nobody")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
        refused = await http.post("/v1/signup", json={"uid": "00" * 16, "username": "x", "links": []})
        assert 400 <= refused.status_code < 500 and "error" in refused.json()
        page = await http.get("/v1/chain/" + "00" * 16, params={"since": 0})
        assert page.status_code == 404
        assert len(http._idle) == 1                 # one connection served all four, in turn
        answers = await asyncio.gather(*(http.get("/v1/checkpoint") for _ in range(8)))
        assert {a.status_code for a in answers} == {200}
        assert 1 <= len(http._idle) <= 4           # never more open than max_connections


async def test_idle_connections_expire_before_reuse(server_factory, monkeypatch):
    server = server_factory(None)
    monkeypatch.setattr(loadclient, "KEEPALIVE_S", 0.05)
    async with LoadClient(server.url) as http:
        await http.get("/v1/checkpoint")
        old = http._idle[0]
        await asyncio.sleep(0.1)
        assert (await http.get("/v1/checkpoint")).status_code == 200
        assert http._idle[0] is not old and old.writer.is_closing()
