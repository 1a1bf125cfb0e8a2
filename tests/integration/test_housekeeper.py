"""Reads do not write; the housekeeper does the chores (issue 12), against a real
server process (127.0.0.1, SQLite), in-process `App` clients and the real CLI:

* `app.teams.team()`, `list_members()` and `list_teams()` post nothing even when a
  chore is due (a member left, a member revoked a device): the server's log size and
  the team's chain tail stay put;
* `app.housekeeper.run_once()` does it (rotates), says what it did, and finds nothing
  to do the second time;
* `kbapp team chores` runs the same pass from the CLI.
"""

from __future__ import annotations

import pytest

from kbapp.core.uid import uid_for

from e2e_support import cli, server_checkpoint, signup_all

pytestmark = pytest.mark.timeout(300)


async def _tail(app, team_id: str) -> int:
    return (await app.logview.lookup("team", team_id))[0].seqno


async def test_a_read_posts_nothing_and_the_housekeeper_rotates(server, tmp_path, apps):
    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob", "carol"))
    alice, bob, carol = u["alice"], u["bob"], u["carol"]
    team_id = (await alice.create_team("rotors")).team_id
    await alice.add_member("rotors", "bob", "writer")
    await alice.add_member("rotors", "carol", "writer")
    await bob.leave_team("rotors")                       # a rotation is now due (alice is the admin)

    size, tail = server_checkpoint(server.url).size, await _tail(alice, team_id)
    v = await alice.teams.team("rotors")
    await alice.teams.list_members("rotors")
    await alice.teams.list_teams()
    assert server_checkpoint(server.url).size == size    # nothing posted by the reads
    assert await _tail(alice, team_id) == tail
    assert v.generation == 1 and "bob" not in {m.username for m in v.members}

    assert await alice.housekeeper.run_once() == {"rotors": ["rotated to generation 2: a member left"]}
    assert server_checkpoint(server.url).size > size
    assert (await alice.teams.team("rotors")).generation == 2
    assert await alice.housekeeper.run_once() == {}      # nothing due any more

    # carol revokes a device: her per-user key moves on; reads still post nothing
    await carol.create_paperkey()
    paper = next(d for d in await carol.devices() if d.type == "paper")
    await carol.revoke_device(paper.id)
    size = server_checkpoint(server.url).size
    assert (await alice.teams.team("rotors")).generation == 2
    assert server_checkpoint(server.url).size == size
    done = await alice.housekeeper.run_once()
    assert done == {"rotors": ["rotated to generation 3: new per-user key of carol"]}
    assert (await carol.team_key("rotors")).key == (await alice.team_key("rotors")).key
    assert (await carol.teams.team("rotors")).generation == 3
    # a member who is no admin has no chores to do
    assert await carol.housekeeper.run_once() == {}
    assert uid_for("carol") in {m.uid for m in (await alice.teams.team("rotors")).members}


def test_team_chores_from_the_cli(server, tmp_path):
    a, b = tmp_path / "alice", tmp_path / "bob"
    for home, name in ((a, "alice"), (b, "bob")):
        cli(home, "signup", name, "--server", server.url)
    cli(a, "team", "create", "deck")
    cli(a, "team", "add-member", "deck", "bob")
    cli(b, "team", "leave", "deck")
    size = server_checkpoint(server.url).size
    assert cli(a, "team", "list").json[0]["generation"] == 1          # a read: nothing posted
    assert server_checkpoint(server.url).size == size
    assert cli(a, "team", "chores").json == {"deck": ["rotated to generation 2: a member left"]}
    assert cli(a, "team", "chores", "deck").json == {}
    assert cli(a, "team", "list").json[0]["generation"] == 2
