"""A proof that points the checker at this machine or its network (SSRF).

The attacker posts a proof naming a host (a website, a Mastodon instance) that
is, or resolves to, a loopback, private, link-local or metadata address, in any
spelling `getaddrinfo` accepts; or a host whose DNS answer changes to such an
address between a redirect's two hops. Every check must end in
`ProofHostRefused` (the proof is shown broken with that reason) and no
connection may reach the address. Only addresses the configuration lists
(`allow_private_hosts`: the test imitations) are reachable, port by port.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from kbapp.client.proofs.base import Fetcher, PermanentFailure, ProofConfig, TemporaryFailure, proof_http_client
from kbapp.client.proofs.netguard import is_public
from kbapp.core.errors import ProofHostRefused

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from fake_services import FakeWebsite, allow_list  # noqa: E402

pytestmark = pytest.mark.timeout(120)


class Listener:
    """A TCP server on 127.0.0.1 that counts who connects (a stand-in for a local service)."""

    def __init__(self):
        self.accepted = 0

    async def start(self):
        async def on_connect(reader, writer):
            self.accepted += 1
            writer.close()
        self.server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def listener():
    lst = await Listener().start()
    yield lst
    await lst.stop()


@pytest.fixture(scope="module")
def web():
    w = FakeWebsite()
    yield w
    w.stop()


async def fetch(url: str, cfg: ProofConfig, resolve=None):
    async with proof_http_client(cfg, resolve=resolve) as client:
        return await Fetcher(client, cfg).get(url)


# Spellings of this machine that getaddrinfo accepts (inet_aton short, hex and decimal forms).
LOOPBACK = ["127.1", "0x7f.0.0.1", "2130706433", "127.0.0.1", "[::ffff:127.0.0.1]", "localhost", "0.0.0.0",
            "017700000001"]


@pytest.mark.parametrize("host", LOOPBACK)
async def test_loopback_in_any_spelling_is_refused_before_connecting(listener, host):
    with pytest.raises(ProofHostRefused, match="not a public address"):
        await fetch(f"https://{host}:{listener.port}/.well-known/kbapp.txt", ProofConfig(timeout=2.0))
    await asyncio.sleep(0.05)
    assert listener.accepted == 0, "the checker connected to a loopback service"


# Private, link-local (cloud metadata), CGNAT, multicast, reserved, IPv6 local and
# IPv4-in-IPv6 forms: none is routable from here, so the unfixed checker would only
# time out; the fixed one refuses at once.
NON_PUBLIC = ["10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "224.0.0.1",
              "240.0.0.1", "[::1]", "[fe80::1]", "[fc00::1]", "[ff02::1]", "[64:ff9b::a9fe:a9fe]",
              "[2002:a9fe:a9fe::]", "[::ffff:169.254.169.254]", "[::]"]


@pytest.mark.parametrize("host", NON_PUBLIC)
async def test_non_public_addresses_are_refused(host):
    with pytest.raises(ProofHostRefused):
        await fetch(f"https://{host}/.well-known/kbapp.txt", ProofConfig(timeout=2.0))


async def test_a_name_resolving_to_a_private_address_is_refused(web):
    """A public-looking name whose DNS answer holds one private address among public ones."""
    async def resolve(host, port):
        return ["93.184.216.34", "10.1.2.3"]
    hits = web.hits
    with pytest.raises(ProofHostRefused, match="10.1.2.3"):
        await fetch("https://proofs.example/.well-known/kbapp.txt", ProofConfig(timeout=2.0), resolve)
    assert web.hits == hits


async def test_opt_in_is_per_address_and_port(web):
    web.mode, web.text = "ok", "the proof"
    port = int(web.url.rsplit(":", 1)[1])
    url = f"{web.url}/.well-known/kbapp.txt"
    assert (await fetch(url, ProofConfig(timeout=2.0, allow_private_hosts=allow_list(web)))).text() == "the proof"
    hits = web.hits
    with pytest.raises(ProofHostRefused):       # another port of the same address
        await fetch(url, ProofConfig(timeout=2.0, allow_private_hosts=[f"127.0.0.1:{port + 1}"]))
    with pytest.raises(PermanentFailure, match="not https"):   # nothing opted in: no plain http at all
        await fetch(url, ProofConfig(timeout=2.0))
    assert web.hits == hits


async def test_a_redirect_is_checked_again_when_the_name_moves(web):
    """DNS rebinding across a redirect: the first hop resolves to the opted-in
    imitation, the same-host redirect's hop to an address nobody opted in."""
    web.mode, web.text = "ok", "the proof"
    port = int(web.url.rsplit(":", 1)[1])
    cfg = ProofConfig(timeout=2.0, allow_private_hosts=allow_list(web))
    answers = []

    async def rebinding(host, port):
        answers.append(host)
        return ["127.0.0.1"] if len(answers) == 1 else ["127.0.0.2"]

    hits = web.hits
    with pytest.raises(ProofHostRefused, match="127.0.0.2"):
        await fetch(f"http://rebind.test:{port}/kbapp.txt", cfg, rebinding)   # 301 -> /.well-known/kbapp.txt
    assert len(answers) == 2 and web.hits == hits, "the redirect's hop was not checked again"

    async def steady(host, port):
        return ["127.0.0.1"]
    assert (await fetch(f"http://rebind.test:{port}/kbapp.txt", cfg, steady)).text() == "the proof"


async def test_an_unresolvable_name_is_temporary():
    async def nxdomain(host, port):
        raise OSError("Name or service not known")
    with pytest.raises(TemporaryFailure, match="cannot resolve"):
        await fetch("https://gone.example/x", ProofConfig(timeout=2.0), nxdomain)


def test_address_rules():
    import ipaddress
    for a in ("8.8.8.8", "2001:4860:4860::8888", "93.184.216.34"):
        assert is_public(ipaddress.ip_address(a)), a
    for a in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1", "224.0.0.1", "::1", "fe80::1",
              "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "0.0.0.0", "255.255.255.255"):
        assert not is_public(ipaddress.ip_address(a)), a


@pytest.mark.parametrize("service,account", [("website", "127.1"), ("website", "169.254.169.254"),
                                          ("mastodon", "alice@10.0.0.1"), ("mastodon", "alice@0x7f.0.0.1")])
async def test_a_posted_proof_naming_a_local_host_is_broken_for_everyone(user, service, account):
    """The attacker posts the proof unchecked; the reader's client refuses to fetch it."""
    mallory, mallory_name, _ = await user("mallory")
    bob, _, _ = await user("bob")
    for app in (mallory, bob):
        app.proof_config = ProofConfig(timeout=2.0)
    req = await mallory.start_proof(service, account)
    await mallory.finish_proof(req, check=False)
    ident = await bob.identify(mallory_name)
    [proof] = ident.proofs
    assert proof.state == "broken", proof
    assert proof.reason.startswith("refused:") and "not a public address" in proof.reason, proof.reason
