"""Reads do not write; the housekeeper does the chores (issue 12), against a real
server process (127.0.0.1, SQLite), in-process `App` clients and the real CLI:

* `team()`, `list_members()` and `list_teams()`, on `app.teams` and on the `App`
  facade alike, post nothing even when a chore is due (a member left, a member revoked
  a device): the server's log size and the team's chain tail stay put, and no POST
  reaches the server at all (counted on the client's HTTP transport);
* `app.housekeeper.run_once()` does it (rotates), says what it did, and finds nothing
  to do the second time;
* `kbapp team chores` runs the same pass from the CLI; `team list-members` is a read
  unless asked `--chores`;
* a push hint for a team makes the client's Sync reload it (TeamChanged), a read too:
  the chores it may make due wait for whoever asks the housekeeper (the GUI does).
"""

from __future__ import annotations

import pytest

from kbapp.core.uid import uid_for

from e2e_support import cli, server_checkpoint, signup_all

pytestmark = pytest.mark.timeout(300)


def count_posts(app) -> list[str]:
    """Every request other than a GET this client sends from now on (an httpx request hook
    on its API transport): a read must send none."""
    posts: list[str] = []

    async def hook(request):
        if request.method != "GET":
            posts.append(f"{request.method} {request.url.path}")
    hooks = app.api._client.event_hooks
    app.api._client.event_hooks = {**hooks, "request": [*hooks.get("request", []), hook]}
    return posts


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
    posts = count_posts(alice)
    v = await alice.teams.team("rotors")
    await alice.teams.list_members("rotors")
    await alice.teams.list_teams()
    for read in (alice.team("rotors"), alice.list_members("rotors"), alice.list_teams()):   # the facade's
        assert not getattr(await read, "rotated", False)
    assert server_checkpoint(server.url).size == size    # nothing posted by the reads
    assert await _tail(alice, team_id) == tail
    assert v.generation == 1 and "bob" not in {m.username for m in v.members}
    assert (await alice.team("rotors")).generation == 1
    assert posts == []

    assert await alice.housekeeper.run_once() == {"rotors": ["rotated to generation 2: a member left"]}
    assert server_checkpoint(server.url).size > size
    assert (await alice.teams.team("rotors")).generation == 2
    assert await alice.housekeeper.run_once() == {}      # nothing due any more

    # carol revokes a device: her per-user key moves on; reads still post nothing
    await carol.create_paperkey()
    paper = next(d for d in await carol.devices() if d.type == "paper")
    await carol.revoke_device(paper.id)
    size = server_checkpoint(server.url).size
    assert posts                                         # the hook sees the housekeeper's posts
    posts.clear()
    assert (await alice.teams.team("rotors")).generation == 2
    assert (await alice.list_members("rotors")).generation == 2
    assert server_checkpoint(server.url).size == size and posts == []
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
    for team in ("deck", "pile"):
        cli(a, "team", "create", team)
        cli(a, "team", "add-member", team, "bob")
        cli(b, "team", "leave", team)
    size = server_checkpoint(server.url).size
    assert [t["generation"] for t in cli(a, "team", "list").json] == [1, 1]      # reads: nothing posted
    v = cli(a, "team", "list-members", "pile").json
    assert v["generation"] == 1 and v["rotated"] is False
    assert server_checkpoint(server.url).size == size
    v = cli(a, "team", "list-members", "pile", "--chores").json    # asked: the chores, then the list
    assert v["generation"] == 2 and v["rotated"] is True
    assert cli(a, "team", "chores").json == {"deck": ["rotated to generation 2: a member left"]}
    assert cli(a, "team", "chores", "deck").json == {}
    cli(a, "team", "add-member", "deck", "bob")
    cli(b, "team", "leave", "deck")
    assert cli(a, "team", "chores", "deck").json == {"deck": ["rotated to generation 3: a member left"]}
    assert cli(a, "team", "chores").json == {}
    assert [t["generation"] for t in cli(a, "team", "list").json] == [3, 2]


async def test_a_push_hint_reloads_the_team_and_posts_nothing(server, tmp_path, apps):
    import asyncio

    from kbapp.client.events import TeamChanged
    from kbapp.client.sync import Backoff, ConnectionStateChanged, Machine, PushHint, Sync

    u = await signup_all(apps, tmp_path, server.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    team_id = (await alice.create_team("bells")).team_id
    await alice.add_member("bells", "bob", "writer")
    seen: list = []
    alice.events.on(seen.append)
    sync = Sync(alice, machine=Machine(Backoff(base=0.1, cap=0.5)))
    sync.start()
    try:
        async def until(pred, timeout=15.0):
            for _ in range(int(timeout / 0.05)):
                if any(pred(ev) for ev in seen):
                    return
                await asyncio.sleep(0.05)
            raise AssertionError("no such event")
        await until(lambda ev: isinstance(ev, ConnectionStateChanged) and ev.state == "online")
        assert f"team:{team_id}" in sync.topics
        posts = count_posts(alice)
        await bob.leave_team("bells")                    # a rotation is now due (alice is the admin)
        await until(lambda ev: isinstance(ev, PushHint) and ev.topic == f"team:{team_id}")
        await until(lambda ev: isinstance(ev, TeamChanged) and ev.team_id == team_id)   # reloaded
        await asyncio.sleep(1.0)                         # what a chore would have posted by now
        assert posts == [] and (await alice.teams.team("bells")).generation == 1
    finally:
        await sync.stop()
    assert await alice.housekeeper.run_once() == {"bells": ["rotated to generation 2: a member left"]}
