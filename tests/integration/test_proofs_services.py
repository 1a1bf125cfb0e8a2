"""Proofs against faithful imitations of each service on 127.0.0.1 (fake_services.py):
made, verified, deleted (broken), edited (changed), service down (temporary),
slow (timeout), redirect to another host (refused), 50 MB answer (refused);
assertions resolved live; revocation by sig id; the CLI's `prove --wait`."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import pytest

from kbapp.client.proofs import ProofConfig
from kbapp.core import errors
from kbapp.core.proofs import proof_text

from e2e_support import PASSPHRASE, ROOT, cli, open_app
from fake_services import FakeDNS, FakeGitHub, FakeMastodon, FakeProfiles, FakeWebsite, allow_list

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def fakes():
    f = {"web": FakeWebsite(), "other": FakeWebsite(), "github": FakeGitHub(), "mastodon": FakeMastodon(),
         "profiles": FakeProfiles(), "dns": FakeDNS()}
    f["web"].other_host = f["other"].url.replace("127.0.0.1", "localhost")
    yield f
    for s in f.values():
        s.stop()


def config_for(f, **kw) -> ProofConfig:
    return ProofConfig(timeout=kw.get("timeout", 1.0), ttl=kw.get("ttl", 0),
                       website_hosts={"alice.dev": f["web"].url},
                       dns_resolver="127.0.0.1", dns_port=f["dns"].port,
                       github_api=f["github"].url, github_raw_hosts=[],
                       mastodon_instances={"mastodon.social": f["mastodon"].url},
                       generic={"fakebook": {"url": f["profiles"].url + "/api/users/{username}",
                                             "json_path": "profile.bio", "kind": "bio"}},
                       allow_private_hosts=allow_list(*(f[k] for k in ("web", "github", "mastodon", "profiles")
                                                        if hasattr(f[k], "url"))))


@pytest.fixture
async def pair(server, tmp_path, fakes):
    """alice (the prover) and bob (who identifies her), in-process."""
    alice = await open_app(tmp_path / "alice")
    bob = await open_app(tmp_path / "bob")
    for app in (alice, bob):
        app.proof_config = config_for(fakes)
    await alice.signup("alice", server_url=server.url, device_name="laptop")
    await bob.signup("bob", server_url=server.url, device_name="desk")
    for f in fakes.values():
        f.mode = "ok"
    yield alice, bob
    for app in (alice, bob):
        with contextlib.suppress(Exception):
            await app.close()


def state_of(ident, service):
    return next(p for p in ident.proofs if p.service == service)


async def test_website_proof_lifecycle(pair, fakes):
    alice, bob = pair
    web = fakes["web"]
    web.text = None
    req = await alice.start_proof("https", "alice.dev")
    assert req.text == proof_text("alice", req.sig_id)
    assert req.sig_id[:32] in req.text and "alice" in req.text
    assert (await alice.check_proof(req)).state == "broken"          # not posted yet
    with pytest.raises(errors.ProofCheckFailed):
        await alice.finish_proof(req)
    assert (await bob.identify("alice")).proofs == []                # nothing was posted
    web.text = "hello\n" + req.text + "\n"
    assert (await alice.check_proof(req)).ok
    proof = await alice.finish_proof(req)
    assert proof.state == "ok" and proof.service == "website" and proof.name == "alice.dev"

    ident = await bob.identify("alice")
    assert [(p.service, p.name, p.state) for p in ident.proofs] == [("website", "alice.dev", "ok")]

    def check(expect_state, expect_reason=""):
        async def run():
            p = state_of(await bob.identify("alice"), "website")
            assert p.state == expect_state, p
            assert expect_reason in p.reason, p
        return run()

    web.text = None
    await check("broken", "404")
    web.text = proof_text("alice", "ab" * 33)                       # edited to another sig
    await check("changed", "sig")
    web.text = proof_text("mallory", req.sig_id)                    # another user
    await check("changed", "mallory")
    web.text = req.text
    web.mode = "down"
    await check("temporary", "503")
    web.mode = "slow"
    await check("temporary")
    web.mode = "redirect"
    await check("broken", "another host")
    web.mode = "huge"
    await check("broken", "over")
    web.mode = "ok"
    await check("ok")

    # the cache: with a TTL, a second identify does not fetch again
    bob.proof_config = config_for(fakes, ttl=300)
    await bob.identify("alice")
    hits = web.hits
    p = state_of(await bob.identify("alice"), "website")
    assert p.cached and web.hits == hits


async def test_every_service_resolve_and_revoke(pair, fakes):
    alice, bob = pair
    gh, masto, dns_, prof, web = fakes["github"], fakes["mastodon"], fakes["dns"], fakes["profiles"], fakes["web"]

    async def prove(service, name, post):
        req = await alice.start_proof(service, name)
        post(req.text)
        return await alice.finish_proof(req)

    p_web = await prove("https", "alice.dev", lambda t: setattr(web, "text", t))
    p_gh = await prove("github", "alice", lambda t: gh.set_gist("alice", "# kbapp\n\n" + t))
    p_ma = await prove("mastodon", "alice@mastodon.social", lambda t: masto.post("alice", t))
    p_dns = await prove("dns", "alice.dev", lambda t: dns_.records.__setitem__("_kbapp.alice.dev", [t]))
    p_fb = await prove("fakebook", "alice_fb", lambda t: prof.bios.__setitem__("alice_fb", "hi! " + t))
    assert all(p.state == "ok" for p in (p_web, p_gh, p_ma, p_dns, p_fb))

    ident = await bob.identify("alice")
    assert sorted((p.service, p.state) for p in ident.proofs) == [
        ("dns", "ok"), ("fakebook", "ok"), ("github", "ok"), ("mastodon", "ok"), ("website", "ok")]

    for assertion in ("alice", "alice@github", "alice.dev@dns", "alice@mastodon.social", "alice.dev@https",
                      "alice@github+alice.dev@https", "alice_fb@fakebook+alice"):
        res = await bob.resolve(assertion)
        assert res.username == "alice", assertion
    with pytest.raises(errors.NotFound):
        await bob.resolve("bob@github")
    with pytest.raises(errors.NotFound):
        await bob.resolve("bob+alice@github")

    # deleted on each service: broken; down: temporary
    gh.set_gist("alice", None)
    masto.clear("alice")
    dns_.records.pop("_kbapp.alice.dev")
    prof.bios["alice_fb"] = "nothing here"
    states = {p.service: p.state for p in (await bob.identify("alice")).proofs}
    assert states == {"website": "ok", "github": "broken", "mastodon": "broken", "dns": "broken",
                      "fakebook": "broken"}
    gh.mode = masto.mode = prof.mode = dns_.mode = "down"
    states = {p.service: p.state for p in (await bob.identify("alice")).proofs}
    assert states == {"website": "ok", "github": "temporary", "mastodon": "temporary", "dns": "temporary",
                      "fakebook": "temporary"}
    with pytest.raises(errors.NotFound):
        await bob.resolve("alice@github")

    # revoke by sig id prefix, and by assertion
    await alice.revoke_proof(p_gh.sig_id[:12])
    await alice.revoke_proof("alice.dev@https")
    left = {p.service for p in (await bob.identify("alice")).proofs}
    assert left == {"mastodon", "dns", "fakebook"}
    with pytest.raises(errors.NotFound):
        await bob.resolve("alice.dev@https")
    with pytest.raises(errors.NotFound):
        await alice.revoke_proof(p_gh.sig_id)


async def test_cli_prove_wait_list_revoke(server, tmp_path, fakes):
    web = fakes["web"]
    web.text, web.mode = None, "ok"
    cfg_path = tmp_path / "proofs.json"
    config_for(fakes).save(cfg_path)
    env = {"KBAPP_PROOF_CONFIG": str(cfg_path)}
    home = tmp_path / "carol"
    cli(home, "signup", "carol", "--server", server.url, env=env)
    full_env = dict(os.environ, KBAPP_KEYSTORE="file", KBAPP_PASSPHRASE=PASSPHRASE, **env)
    proc = subprocess.Popen([sys.executable, "-m", "kbapp", "--home", str(home), "--json", "prove", "https",
                             "alice.dev", "--wait", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env, cwd=ROOT)
    first = json.loads(proc.stdout.readline())
    assert first["proof_text"] == proof_text("carol", first["sig_id"])
    web.text = first["proof_text"]
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    done = json.loads(out)
    assert done["state"] == "ok" and done["sig_id"] == first["sig_id"]

    listed = cli(home, "prove", "--list", env=env).json
    assert [(p["service"], p["name"], p["state"]) for p in listed] == [("website", "alice.dev", "ok")]
    ident = cli(home, "id", "carol", env=env).json
    assert ident["proofs"][0]["state"] == "ok"
    web.text = None
    assert cli(home, "id", "carol", env=env).json["proofs"][0]["state"] == "broken"
    assert cli(home, "resolve", "alice.dev@https", env=env, expect_rc=1).json["error"]["code"] == "NOT_FOUND"
    r = cli(home, "revoke", "proof", first["sig_id"][:16], env=env).json
    assert r["state"] == "revoked"
    assert cli(home, "prove", "--list", env=env).json == []
    # a check that fails: nothing is posted, exit 1
    r = cli(home, "prove", "https", "alice.dev", "--wait", "1", env=env, expect_rc=1)
    assert r.stdout and json.loads(r.stdout.strip().splitlines()[-1])["error"]["code"] == "PROOF_CHECK_FAILED"
