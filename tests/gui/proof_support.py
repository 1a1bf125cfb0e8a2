"""Helpers for the GUI proof tests (not a test module): the loopback imitations of the
proof services (tests/integration/fake_services.py), their configuration, and other
users who prove accounts or change their identity on their own "machines".
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from kbapp.client.app import App
from kbapp.client.proofs import ProofConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from fake_services import FakeDNS, FakeGitHub, FakeWebsite, allow_list  # noqa: E402
from reset_support import reset_body  # noqa: E402


class Fakes:
    """A website (for *.dev hosts), GitHub and DNS, each on 127.0.0.1."""

    def __init__(self):
        self.web, self.github, self.dns = FakeWebsite(), FakeGitHub(), FakeDNS()

    def reset(self) -> None:
        self.web.mode = self.github.mode = self.dns.mode = "ok"
        self.web.text = None
        self.github.gists.clear()
        self.dns.records.clear()

    def config(self, hosts=("alice.dev", "bob.dev")) -> ProofConfig:
        return ProofConfig(timeout=1.0, ttl=0, website_hosts={h: self.web.url for h in hosts},
                           dns_resolver="127.0.0.1", dns_port=self.dns.port,
                           github_api=self.github.url, github_raw_hosts=[],
                           allow_private_hosts=allow_list(self.web, self.github))

    def post(self, service: str, name: str, text: str | None) -> None:
        """Put (or, with None, delete) a proof text where `service` looks for it."""
        if service == "website":
            self.web.text = text
        elif service == "github":
            self.github.set_gist(name, text)
        elif service == "dns":
            if text is None:
                self.dns.records.pop(f"_kbapp.{name}", None)
            else:
                self.dns.records[f"_kbapp.{name}"] = [text]
        else:
            raise ValueError(service)

    def stop(self) -> None:
        for f in (self.web, self.github, self.dns):
            f.stop()


async def as_user(home: Path, cfg: ProofConfig, work):
    """Open another user's profile, run `await work(app)`, close it."""
    app = App(home)
    await app.open()
    app.proof_config = cfg
    try:
        return await work(app)
    finally:
        await app.close()


async def prove(home: Path, fakes: Fakes, service: str, name: str):
    async def work(app):
        req = await app.start_proof(service, name)
        fakes.post(req.service, req.name, req.text)
        return await app.finish_proof(req)
    return await as_user(home, fakes.config(), work)


async def revoke_paper_device(home: Path, fakes: Fakes):
    async def work(app):
        paper = next(d for d in await app.devices() if d.type == "paper" and not d.revoked)
        await app.revoke_device(paper.id)
        return paper
    return await as_user(home, fakes.config(), work)


async def reset_account(server_url: str, home: Path, fakes: Fakes, username: str) -> None:
    """What an account reset looks like to others: a new eldest key starts a new subchain
    (authorized by the owner's device, as the server requires)."""
    async def work(app):
        uid, body = await reset_body(app, username)
        async with httpx.AsyncClient() as client:
            r = await client.post(f"{server_url}/v1/chain/{uid}/links", json=body, timeout=10)
        if r.status_code != 200:
            raise RuntimeError(r.text)
    await as_user(home, fakes.config(), work)
