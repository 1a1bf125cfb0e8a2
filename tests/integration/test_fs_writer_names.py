"""The Files page's "By" column names each writer: `writer_names` verifies members whose chains
the folder's load did not need (bob opening alice's shared folder saw her uid, not "alice")."""

from __future__ import annotations

import pytest

from kbapp.client.fs.known import writer_names

from e2e_support import signup_all

pytestmark = pytest.mark.timeout(300)


async def test_the_other_writer_is_named_not_shown_as_a_uid(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    await bob.files.write("/private/alice,bob/hello.txt", b"bob made the folder")   # bob's client signs its team
    await bob.files.sync(timeout=60)
    await bob.files.ls("/private/alice,bob")
    await alice.files.write("/private/alice,bob/plan.txt", b"from alice")
    await alice.files.sync(timeout=60)
    rows = await bob.files.ls("/private/alice,bob")
    writer = next(r["writer"] for r in rows if r["name"] == "plan.txt")
    names = await writer_names(bob.files, "/private/alice,bob")
    assert names[writer] == "alice"
    assert names[bob.files.ctx.require_login()[0]] == "bob"
