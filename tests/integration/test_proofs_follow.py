"""Follow (track) diffs through the CLI's --json: bob follows alice, then alice
adds a proof, loses one, revokes a device and resets her account; each shows up
in `kbapp id alice --json` as the right typed change. Also following/followers."""

from __future__ import annotations

import contextlib

import httpx
import pytest

from e2e_support import cli, open_app
from fake_services import FakeGitHub, FakeWebsite
from reset_support import reset_body
from test_proofs_services import config_for

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def fakes():
    f = {"web": FakeWebsite(), "github": FakeGitHub()}
    f["other"] = f["web"]
    yield f
    f["web"].stop()
    f["github"].stop()


class _NoDns:
    port = 9


async def test_follow_diffs_in_cli_json(server, tmp_path, fakes):
    web, gh = fakes["web"], fakes["github"]
    cfg = config_for({**fakes, "dns": _NoDns(), "mastodon": web, "profiles": web})
    cfg_path = tmp_path / "proofs.json"
    cfg.save(cfg_path)
    env = {"KBAPP_PROOF_CONFIG": str(cfg_path)}
    alice = await open_app(tmp_path / "alice")
    alice.proof_config = cfg
    try:
        await alice.signup("alice", server_url=server.url, device_name="laptop")
        req = await alice.start_proof("https", "alice.dev")
        web.text = req.text
        await alice.finish_proof(req)
        paper = await alice.create_paperkey()
        assert paper

        bob = tmp_path / "bob"
        cli(bob, "signup", "bob", "--server", server.url, env=env)
        f = cli(bob, "follow", "alice", env=env).json
        assert f["username"] == "alice"
        assert [x["username"] for x in cli(bob, "following", env=env).json] == ["alice"]
        assert [x["username"] for x in cli(bob, "followers", "alice", env=env).json] == ["bob"]
        ident = cli(bob, "id", "alice", env=env).json
        assert ident["following"] is True and ident["follow_diff"] == []

        def kinds():
            return {(c["kind"], c["subject"]) for c in cli(bob, "id", "alice", env=env).json["follow_diff"]}

        # alice adds a proof
        req = await alice.start_proof("github", "alice")
        gh.set_gist("alice", req.text)
        await alice.finish_proof(req)
        assert kinds() == {("proof_added", "alice@github")}

        # alice loses one (deleted on the service), then revokes it
        web.text = None
        assert kinds() == {("proof_added", "alice@github"), ("proof_broken", "alice.dev@website")}
        await alice.revoke_proof("alice.dev@https")
        assert kinds() == {("proof_added", "alice@github"), ("proof_removed", "alice.dev@website")}

        # alice revokes her paper key device
        paper_dev = next(d for d in await alice.devices() if d.type == "paper")
        await alice.revoke_device(paper_dev.id)
        got = kinds()
        assert ("device_revoked", paper_dev.id) in got
        assert ("key_removed", paper_dev.sibkey) in got

        # alice resets her account from her device: a new eldest key
        uid, body = await reset_body(alice, "alice")
        r = httpx.post(f"{server.url}/v1/chain/{uid}/links", json=body, timeout=10)
        assert r.status_code == 200, r.text
        got = cli(bob, "id", "alice", env=env).json
        assert [c["kind"] for c in got["follow_diff"]] == ["account_reset"]
        assert got["proofs"] == []

        # unfollow
        cli(bob, "unfollow", "alice", env=env)
        assert cli(bob, "following", env=env).json == []
        assert cli(bob, "followers", "alice", env=env).json == []
        ident = cli(bob, "id", "alice", env=env).json
        assert ident["following"] is False and ident["follow_diff"] == []
    finally:
        with contextlib.suppress(Exception):
            await alice.close()
