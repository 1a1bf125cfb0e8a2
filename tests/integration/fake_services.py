"""Faithful imitations of the proof services, served on 127.0.0.1.

Same endpoints, JSON shapes and status codes as the real APIs (the parts a proof
checker uses): a website's /.well-known/kbapp.txt, GitHub's REST API (gist list
and raw files), Mastodon's API (account lookup and statuses), a generic JSON
profile API, and DNS TXT records through a tiny UDP DNS server built with
dnspython's message API.

Every web fake has a `mode` to misbehave: "ok", "down" (503), "slow" (answers
after 30 s), "redirect" (302 to another host), "huge" (a streamed 50 MB body).
Proof checks refuse loopback addresses unless the configuration opts them in:
`allow_list(...)` gives the `allow_private_hosts` entries of some fakes (their
own address and port, nothing else on 127.0.0.1).
Not a test module; imported by tests/integration/test_proofs_*.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from kbapp.server.main import free_port

HUGE = 50 * 1024 * 1024


def allow_list(*fakes) -> list[str]:
    """`allow_private_hosts` for these fakes: 127.0.0.1:PORT of each, nothing more."""
    out = []
    for f in fakes:
        port = getattr(f, "port", None) or f.url.rsplit(":", 1)[1]
        out.append(f"127.0.0.1:{port}")
    return out


class Served:
    """A Starlette app under uvicorn in a daemon thread."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                                    lifespan="off", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake service did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


class Misbehaving:
    """Shared misbehaviours of the web fakes."""

    mode = "ok"
    other_host = "http://localhost:9"   # where "redirect" points (another host)

    async def misbehave(self, request) -> Response | None:
        if self.mode == "down":
            return PlainTextResponse("503 Service Unavailable", status_code=503)
        if self.mode == "slow":
            await asyncio.sleep(30)
        if self.mode == "redirect":
            return RedirectResponse(self.other_host + request.url.path, status_code=302)
        if self.mode == "huge":
            async def body():
                chunk = b"x" * 65536
                for _ in range(HUGE // len(chunk)):
                    yield chunk
            return StreamingResponse(body(), media_type="text/plain")
        return None


class FakeWebsite(Misbehaving):
    """One website: /.well-known/kbapp.txt holds `text` (None: 404)."""

    def __init__(self):
        self.text: str | None = None
        self.hits = 0

        async def well_known(request):
            self.hits += 1
            bad = await self.misbehave(request)
            if bad is not None:
                return bad
            if self.text is None:
                return PlainTextResponse("404 Not Found", status_code=404)
            return PlainTextResponse(self.text)

        async def moved(request):   # a same-host redirect is followed
            return RedirectResponse("/.well-known/kbapp.txt", status_code=301)

        self.served = Served(Starlette(routes=[Route("/.well-known/kbapp.txt", well_known),
                                               Route("/kbapp.txt", moved)]))
        self.url = self.served.url

    def stop(self):
        self.served.stop()


class FakeGitHub(Misbehaving):
    """GitHub's REST API: GET /users/{user}/gists and the gists' raw files."""

    def __init__(self):
        self.gists: dict[str, list[dict]] = {}   # user -> [{"id", "files": {name: content}, "public"}]
        self.users: set[str] = set()

        async def user_gists(request):
            bad = await self.misbehave(request)
            if bad is not None:
                return bad
            user = request.path_params["user"].lower()
            if user not in self.users:
                return JSONResponse({"message": "Not Found",
                                     "documentation_url": "https://docs.github.com/rest/gists/gists#list-gists-for-a-user",
                                     "status": "404"}, status_code=404)
            out = []
            for g in self.gists.get(user, []):
                files = {}
                for name, content in g["files"].items():
                    sha = hashlib.sha1(content.encode()).hexdigest()
                    files[name] = {"filename": name, "type": "text/markdown", "language": "Markdown",
                                   "raw_url": f"{self.url}/{user}/{g['id']}/raw/{sha}/{name}",
                                   "size": len(content.encode())}
                out.append({"url": f"{self.url}/gists/{g['id']}", "id": g["id"],
                            "html_url": f"https://gist.github.com/{user}/{g['id']}", "files": files,
                            "public": g.get("public", True), "created_at": "2025-01-01T00:00:00Z",
                            "updated_at": "2025-01-01T00:00:00Z", "description": g.get("description", ""),
                            "comments": 0, "owner": {"login": user, "id": 1, "type": "User"},
                            "truncated": False})
            return JSONResponse(out)

        async def raw(request):
            user, gid, name = (request.path_params[k] for k in ("user", "gid", "name"))
            for g in self.gists.get(user, []):
                if g["id"] == gid and name in g["files"]:
                    return PlainTextResponse(g["files"][name])
            return PlainTextResponse("404: Not Found", status_code=404)

        self.served = Served(Starlette(routes=[Route("/users/{user}/gists", user_gists),
                                               Route("/{user}/{gid}/raw/{sha}/{name}", raw)]))
        self.url = self.served.url

    def set_gist(self, user: str, content: str | None, gid: str = "aa5a315d61ae9438b18d") -> None:
        self.users.add(user)
        if content is None:
            self.gists[user] = [g for g in self.gists.get(user, []) if g["id"] != gid]
        else:
            self.gists[user] = [g for g in self.gists.get(user, []) if g["id"] != gid] + [
                {"id": gid, "files": {"kbapp.md": content}, "description": "kbapp proof"}]

    def stop(self):
        self.served.stop()


class FakeMastodon(Misbehaving):
    """Mastodon's API: /api/v1/accounts/lookup and /api/v1/accounts/{id}/statuses."""

    def __init__(self, domain: str = "mastodon.social"):
        self.domain = domain
        self.accounts: dict[str, dict] = {}   # username -> {"id", "statuses": [html], "note": html}

        async def lookup(request):
            bad = await self.misbehave(request)
            if bad is not None:
                return bad
            acct = request.query_params.get("acct", "").lower().split("@")[0]
            a = self.accounts.get(acct)
            if a is None:
                return JSONResponse({"error": "Record not found"}, status_code=404)
            return JSONResponse(self._account(acct, a))

        async def statuses(request):
            bad = await self.misbehave(request)
            if bad is not None:
                return bad
            aid = request.path_params["id"]
            for name, a in self.accounts.items():
                if a["id"] == aid:
                    limit = int(request.query_params.get("limit", "20"))
                    return JSONResponse([
                        {"id": str(1000 + i), "created_at": "2025-01-01T00:00:00.000Z", "in_reply_to_id": None,
                         "sensitive": False, "spoiler_text": "", "visibility": "public", "language": "en",
                         "uri": f"https://{self.domain}/users/{name}/statuses/{1000 + i}",
                         "url": f"https://{self.domain}/@{name}/{1000 + i}", "content": html,
                         "account": self._account(name, a), "reblog": None}
                        for i, html in enumerate(reversed(a["statuses"]))][:limit])
            return JSONResponse({"error": "Record not found"}, status_code=404)

        self.served = Served(Starlette(routes=[Route("/api/v1/accounts/lookup", lookup),
                                               Route("/api/v1/accounts/{id}/statuses", statuses)]))
        self.url = self.served.url

    def _account(self, name: str, a: dict) -> dict:
        return {"id": a["id"], "username": name, "acct": name, "display_name": name.title(),
                "locked": False, "bot": False, "note": a.get("note", ""),
                "url": f"https://{self.domain}/@{name}", "followers_count": 0, "statuses_count": len(a["statuses"])}

    def post(self, user: str, text: str) -> None:
        a = self.accounts.setdefault(user, {"id": str(109000000000000000 + len(self.accounts)), "statuses": []})
        # Mastodon renders statuses as HTML and escapes what the user typed.
        a["statuses"].append("<p>" + text.replace("&", "&amp;").replace("<", "&lt;") + "</p>")

    def clear(self, user: str) -> None:
        if user in self.accounts:
            self.accounts[user]["statuses"] = []

    def stop(self):
        self.served.stop()


class FakeProfiles(Misbehaving):
    """A generic JSON profile API: GET /api/users/{name} -> {"profile": {"bio": ...}}."""

    def __init__(self):
        self.bios: dict[str, str] = {}

        async def user(request):
            bad = await self.misbehave(request)
            if bad is not None:
                return bad
            name = request.path_params["name"]
            if name not in self.bios:
                return JSONResponse({"error": "no such user"}, status_code=404)
            return JSONResponse({"user": name, "profile": {"bio": self.bios[name], "links": []}})

        self.served = Served(Starlette(routes=[Route("/api/users/{name}", user)]))
        self.url = self.served.url

    def stop(self):
        self.served.stop()


class FakeDNS:
    """A tiny authoritative UDP DNS server: TXT records by name; NXDOMAIN else.
    `mode = "down"` drops every query (the resolver times out)."""

    def __init__(self):
        self.records: dict[str, list[str]] = {}
        self.mode = "ok"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            if self.mode == "down":
                continue
            try:
                query = dns.message.from_wire(data)
            except Exception:
                continue
            resp = dns.message.make_response(query)
            resp.flags |= dns.flags.AA
            q = query.question[0]
            name = q.name.to_text().rstrip(".").lower()
            texts = self.records.get(name)
            if texts is None:
                resp.set_rcode(dns.rcode.NXDOMAIN)
            elif q.rdtype == dns.rdatatype.TXT:
                quoted = ['"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in texts]
                resp.answer.append(dns.rrset.from_text(q.name, 60, dns.rdataclass.IN, dns.rdatatype.TXT, *quoted))
            self.sock.sendto(resp.to_wire(), addr)

    def stop(self) -> None:
        self._stop = True
        self.thread.join(2)
        self.sock.close()
