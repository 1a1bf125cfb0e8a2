"""ServerAPI against httpx.MockTransport: answers are size- and depth-capped
while they stream in, and HTTP failures become typed errors."""

from __future__ import annotations

import json

import httpx
import pytest

from kbapp.client.api import MAX_DEPTH, ServerAPI
from kbapp.core import errors

CAP = 1000


def api_for(handler, cap: int = CAP) -> ServerAPI:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ServerAPI("http://server.test", client=client, max_response=cap)


async def test_answer_over_the_cap_by_content_length():
    api = api_for(lambda req: httpx.Response(200, content=b"{" + b" " * CAP + b"}"))
    with pytest.raises(errors.TooLarge):
        await api.server_info()


async def test_answer_over_the_cap_while_streaming():
    streamed = []

    async def body():
        for _ in range(10_000):  # 10 MB if read to the end
            streamed.append(1)
            yield b" " * 1000

    api = api_for(lambda req: httpx.Response(200, content=body()))
    with pytest.raises(errors.TooLarge):
        await api.server_info()
    assert len(streamed) < 10  # stopped reading right after the cap


async def test_answer_at_the_cap_is_read():
    payload = json.dumps({"origin": "x" * (CAP - 20)}).encode()
    payload += b" " * (CAP - len(payload))
    assert len(payload) == CAP
    api = api_for(lambda req: httpx.Response(200, content=payload))
    assert (await api.server_info())["origin"] == "x" * (CAP - 20)


async def test_deep_answer_is_refused():
    deep = b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5)
    api = api_for(lambda req: httpx.Response(200, content=b'{"a": ' + deep + b"}"), cap=1 << 20)
    with pytest.raises(errors.TooDeep):
        await api.server_info()


@pytest.mark.parametrize("status, exc", [
    (404, errors.NotFound), (409, errors.Conflict), (429, errors.RateLimited), (400, errors.ServerError),
    (500, errors.ServerError)])
async def test_error_statuses_become_typed_errors(status, exc):
    body = {"error": {"code": "SOME_CODE", "message": "m" * 2000}}
    api = api_for(lambda req: httpx.Response(status, json=body), cap=1 << 20)
    with pytest.raises(exc) as caught:
        await api.chain("aa" * 16)
    assert len(str(caught.value)) < 600  # the server's message is truncated
    if isinstance(caught.value, errors.ServerError):
        assert caught.value.status == status and caught.value.server_code == "SOME_CODE"


async def test_non_object_answers_are_refused():
    api = api_for(lambda req: httpx.Response(200, json=[1, 2, 3]))
    with pytest.raises(errors.EncodingError):
        await api.server_info()
    api = api_for(lambda req: httpx.Response(200, json={"no_note": 1}))
    with pytest.raises(errors.EncodingError):
        await api.checkpoint()
    api = api_for(lambda req: httpx.Response(200, json={"start": 5, "leaves": []}))
    with pytest.raises(errors.EncodingError):
        await api.leaves(0, 10)  # answered for another start


async def test_network_failures_become_network_errors():
    def refuse(req):
        raise httpx.ConnectError("connection refused", request=req)

    def slow(req):
        raise httpx.ReadTimeout("too slow", request=req)

    with pytest.raises(errors.NetworkError):
        await api_for(refuse).server_info()
    with pytest.raises(errors.NetworkError):
        await api_for(slow).server_info()
    with pytest.raises(errors.NetworkError):
        ServerAPI("file:///etc/passwd")


async def test_requests_carry_parameters_and_bodies():
    seen = []

    def handler(req: httpx.Request):
        seen.append((req.method, req.url.path, dict(req.url.params), req.content))
        return httpx.Response(200, json={"proof": [], "start": 2, "leaves": ["AA=="]})

    api = api_for(handler)
    await api.consistency(3, 7)
    await api.leaves(2, 9)
    await api.post_links("ab" * 16, {"links": []})
    assert seen[0][:3] == ("GET", "/v1/log/consistency", {"first": "3", "second": "7"})
    assert seen[1][:3] == ("GET", "/v1/log/leaves", {"start": "2", "end": "9"})
    assert seen[2][:2] == ("POST", f"/v1/chain/{'ab' * 16}/links") and json.loads(seen[2][3]) == {"links": []}


def _refusal(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, json={"error": {"code": code, "message": "no"}}, headers=headers)


async def test_limits_and_timeouts_are_typed_errors():
    api = api_for(lambda req: _refusal(429, "RATE_LIMITED", "30"))
    with pytest.raises(errors.RateLimited) as info:
        await api.server_info()
    assert info.value.retry_after == 30
    api = api_for(lambda req: _refusal(408, "REQUEST_TIMEOUT"))
    with pytest.raises(errors.RequestTimeout):
        await api.server_info()
    api = api_for(lambda req: _refusal(503, "SERVER_BUSY", "999999999"))
    with pytest.raises(errors.ServerBusy):
        await api.server_info()


async def test_a_read_is_retried_once_after_a_short_retry_after():
    seen = []

    def handler(req):
        seen.append(req.method)
        if len(seen) == 1:
            return _refusal(429, "RATE_LIMITED", "0")
        return httpx.Response(200, json={"origin": "o"})

    api = api_for(handler)
    assert (await api.server_info())["origin"] == "o"
    assert seen == ["GET", "GET"]


async def test_a_write_or_a_long_wait_is_not_retried():
    seen = []

    def handler(req):
        seen.append(req.method)
        return _refusal(429, "RATE_LIMITED", "0" if req.method == "POST" else "60")

    api = api_for(handler)
    with pytest.raises(errors.RateLimited):
        await api.post_links("ab" * 16, {"links": []})
    with pytest.raises(errors.RateLimited):
        await api.server_info()
    assert seen == ["POST", "GET"]
