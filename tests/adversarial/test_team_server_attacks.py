"""Teams against a malicious server (a real server process, the evil proxy in front
of it, and its own database written directly with map, log and checkpoints kept
consistent). Each attack ends in exactly one typed error and leaves the
client's trusted state unchanged:

* the server adds a member with no link an admin signed (a link signed by its
  own account, or by a key it made up, committed in the map; or only its hints
  and a made-up box);
* it hides a removal from one member (an older chain, or an older log);
* it replays a link (a whole chain) from another team;
* it drops or reorders links;
* it serves a key box that does not match the chain.
"""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import insert

from kbapp.core import errors
from kbapp.core.encoding import b64decode, b64encode, canonical_json, loads_json
from kbapp.core.keys import EncryptionKeyPair, SigningKeyPair, parse_kid
from kbapp.core.sigchain import link_id, link_id_hex
from kbapp.core.teams import ChainPos, Role, TeamKey, TeamSigner, UserVersion, box_seed, build_change_membership
from kbapp.core.transparency import ChainTail, map_key
from kbapp.core.uid import uid_for


def team_name(name) -> str:
    return name("tm").replace("_", "")[:16]


async def team_with(user, name, *others):
    """alice's team with `others` added as writers: (alice app, team name, {role: (app, username)})."""
    alice, a, _ = await user("alice")
    people = {}
    for role in others:
        app, username, _ = await user(role)
        people[role] = (app, username)
    t = team_name(name)
    await alice.create_team(t)
    for app, username in people.values():
        await alice.add_member(t, username, "writer")
    return alice, a, t, people


def append_team_links(db, team_id: str, wires: list[dict]) -> None:
    """The server stores links as the next ones of a team chain, unchecked, and commits to them."""
    from kbapp.server import db as tables

    svc = db.service
    old = ChainTail.decode(svc.map.get(map_key("team", team_id)))
    now = int(time.time())
    with db._epoch() as (conn, apply):
        conn.execute(insert(tables.team_links), [
            {"team_id": team_id, "seqno": old.seqno + 1 + i, "link_id": link_id_hex(w),
             "wire": canonical_json(w).decode(), "received": now} for i, w in enumerate(wires)])
        tail = ChainTail(old.seqno + len(wires), link_id_hex(wires[-1]), old.eldest_kid)
        apply([(map_key("team", team_id), tail.encode())])


def _chain_rows(db, team_id: str) -> list[dict]:
    from sqlalchemy import select

    from kbapp.server import db as tables

    with db.service.engine.connect() as conn:
        rows = conn.execute(select(tables.team_links.c.wire).where(tables.team_links.c.team_id == team_id)
                            .order_by(tables.team_links.c.seqno)).all()
    return [loads_json(r.wire) for r in rows]


def next_change(db, team_id: str, signer: TeamSigner, changes: dict, **kw) -> dict:
    chain = _chain_rows(db, team_id)
    pos = ChainPos(team_id, len(chain) + 1, link_id(chain[-1]))
    return build_change_membership(signer, pos, changes=changes, ctime=int(time.time()),
                                   merkle_root=db.checkpoint(), **kw)


async def settle(app, *usernames: str) -> None:
    """Let `app` verify the (genuine) user chains the team names against the newest log
    first: that moves its trusted checkpoint honestly, so that what `detected` compares
    is what the team attack itself would change."""
    for u in usernames:
        await app.identify(u, proofs=False)


async def auth(app) -> dict:
    """A member's read token: the attacker (the server) reads its own database anyway."""
    return {"Authorization": await app.api.read_tokens.header()}


async def device_signer(app, username: str) -> TeamSigner:
    user = await app.identifier.identify(username)
    return TeamSigner(user.uid, username, user.state.eldest_kid, (await app._device_keys()).sibkey)


# --- the server adds a member ------------------------------------------------------------------


async def test_member_added_by_the_servers_own_account(user, name, world, detected, cli):
    """The server signs up mallory (a real account) and commits a change_membership
    adding her, signed by her own device: she is no admin, so every member refuses it."""
    alice, a, t, people = await team_with(user, name, "carol")
    carol, c = people["carol"]
    view = await carol.team(t)
    mallory, m, _ = await user("mallory")
    signer = await device_signer(mallory, m)
    mv = UserVersion(uid_for(m), 1)
    with world.database() as db:
        link = next_change(db, view.team_id, signer, {mv: Role.ADMIN})
        append_team_links(db, view.team_id, [link])
    # (mallory's own chain is genuine: identifying her is not part of the attack)
    await settle(carol, a, m)
    await settle(alice, a, m)
    await detected(carol, errors.TeamPermissionDenied, carol.team(t))
    await detected(alice, errors.TeamPermissionDenied, alice.list_members(t))
    # and the CLI says so as a verification failure
    rc, _out, err = await cli(carol.home, "team", "list-members", t)
    assert rc == 3 and "TEAM_PERMISSION_DENIED" in err


async def test_member_added_with_a_made_up_key_in_alices_name(user, name, world, detected):
    """A link claiming to be alice's, signed by a key the server made up."""
    alice, a, t, people = await team_with(user, name, "carol")
    carol, c = people["carol"]
    view = await carol.team(t)
    mallory, m, _ = await user("mallory")
    fake = TeamSigner(uid_for(a), a, (await alice.identifier.identify(a)).state.eldest_kid,
                      SigningKeyPair.from_seed(os.urandom(32)))
    with world.database() as db:
        append_team_links(db, view.team_id, [next_change(db, view.team_id, fake,
                                                         {UserVersion(uid_for(m), 1): Role.WRITER})])
    await settle(carol, a)
    await detected(carol, errors.TeamSignerKeyNotLive, carol.team(t))


async def test_member_only_in_the_servers_hints_is_ignored(user, name, world, proxy):
    """No link at all: the server lists mallory as a member and gives her a box of
    a seed it made up. Her client does not count the team as hers, alice's does not
    list her, and the made-up box does not open as the team's key."""
    from kbapp.server import db as tables

    alice, a, t, people = await team_with(user, name, "carol")
    mallory, m, _ = await user("mallory")
    view = await alice.team(t)
    puk = (await mallory.identifier.identify(m)).state.puk
    seed = TeamKey.derive(os.urandom(32), 1)     # the server has no member's PUK: it boxes from any key
    box = box_seed(seed, EncryptionKeyPair.from_seed(os.urandom(32)), parse_kid(puk.encryption_kid).public,
                   nonce=os.urandom(24), per_user_key_seqno=puk.seqno)
    with world.database() as db:
        with db.service.engine.begin() as conn:
            conn.execute(insert(tables.team_members).values(team_id=view.team_id, uid=uid_for(m), role="admin"))
            conn.execute(insert(tables.ptk_boxes).values(
                team_id=view.team_id, generation=1, recipient_uid=uid_for(m), puk_generation=puk.generation,
                box=canonical_json(box.to_wire())))
    assert [x["name"] for x in proxy.upstream_json(f"/v1/teams/of/{uid_for(m)}", await auth(mallory))["teams"]] == [t]
    assert await mallory.list_teams() == []
    assert "mallory" not in {x.username.split("_")[0] for x in (await alice.list_members(t)).members}
    with pytest.raises(errors.BadTeamKey):
        await mallory.team_key(t)


# --- hiding a removal ------------------------------------------------------------------------


async def test_removal_hidden_from_one_member(user, name, proxy, detected):
    """After alice removes bob, the server keeps serving carol the chain without the
    removal: the verified map names a longer chain."""
    alice, a, t, people = await team_with(user, name, "bob", "carol")
    carol, c = people["carol"]
    before = await carol.team(t)
    await alice.remove_member(t, people["bob"][1])
    await settle(carol, a)
    proxy.set("json", match=f"^/v1/team/{before.team_id}$",
              fn=lambda body: {**body, "links": body["links"][:before.seqno]})
    e = await detected(carol, errors.ChainTailMismatch, carol.team(t))
    assert "hidden" in str(e) or "Merkle map" in str(e)
    assert proxy.tampered >= 1
    proxy.clear()
    assert (await carol.team(t)).generation == 2


async def test_removal_hidden_with_an_older_log(user, name, proxy, detected):
    """The server replays the whole older answer (checkpoint, lookup, chain) that
    carol saw before the removal, after she has seen a newer log: a rollback."""
    alice, a, t, people = await team_with(user, name, "bob", "carol")
    carol, c = people["carol"]
    view = await carol.team(t)
    old = proxy.record()
    await alice.remove_member(t, people["bob"][1])
    await carol.identify(c)              # carol sees the newer log (any verification does)
    proxy.set("replay", answers=old, match=rf"^/v1/(checkpoint|lookup/team/{view.team_id}|team/{view.team_id})")
    await detected(carol, errors.RollbackDetected, carol.team(t))


# --- replays, drops, reorders ----------------------------------------------------------------------


async def test_chain_of_another_team_replayed(user, name, proxy, detected, clients):
    """Team t's id served with the (genuine, same-length) chain of another team:
    a member loading t for the first time sees links naming another team; a member
    who verified t before sees its links change (a fork)."""
    alice, a, t, people = await team_with(user, name, "carol", "viewer")
    carol, c = people["carol"]
    viewer, v = people["viewer"]            # in t (team reads need a member's token), never loaded it
    other = team_name(name)
    await alice.create_team(other)
    await alice.add_member(other, c, "writer")
    await alice.add_member(other, v, "writer")
    mine = await carol.team(t)
    theirs = await carol.team(other)
    await settle(viewer, a, c)
    chain = proxy.upstream_json(f"/v1/team/{theirs.team_id}", await auth(carol))["links"]
    proxy.set("json", match=f"^/v1/team/{mine.team_id}$", fn=lambda body: {**body, "links": chain})
    await detected(viewer, errors.TeamWrongId, viewer.team(t))
    await detected(carol, errors.ForkDetected, carol.team(t))


async def test_link_of_another_team_spliced_in(user, name, proxy, detected, clients):
    """One link of the other team at the same seqno: it points at another prev."""
    alice, a, t, people = await team_with(user, name, "carol", "viewer")
    carol, c = people["carol"]
    viewer, v = people["viewer"]
    other = team_name(name)
    await alice.create_team(other)
    await alice.add_member(other, c, "reader")
    mine = await carol.team(t)
    theirs = proxy.upstream_json(f"/v1/team/{(await carol.team(other)).team_id}", await auth(carol))["links"]
    await settle(viewer, a, c)
    proxy.set("json", match=f"^/v1/team/{mine.team_id}$",
              fn=lambda body: {**body, "links": body["links"][:1] + theirs[1:2] + body["links"][2:]})
    await detected(viewer, errors.WrongPrev, viewer.team(t))


async def test_links_dropped_or_reordered(user, name, proxy, detected, clients):
    alice, a, t, people = await team_with(user, name, "bob", "carol", "dave", "viewer")
    dave, d = people["dave"]
    viewer, v = people["viewer"]            # a member who never loaded t
    view = await dave.team(t)
    assert view.seqno == 5
    await settle(viewer, a, people["bob"][1], people["carol"][1], d)
    drop = lambda body: {**body, "links": body["links"][:1] + body["links"][2:]}  # noqa: E731
    swap = lambda body: {**body, "links": [body["links"][i] for i in (0, 2, 1, 3, 4)]}  # noqa: E731
    proxy.set("json", match=f"^/v1/team/{view.team_id}$", fn=drop)
    await detected(viewer, errors.WrongSeqno, viewer.team(t))      # a hole
    await detected(dave, errors.RollbackDetected, dave.team(t))    # shorter than what dave verified
    proxy.set("json", match=f"^/v1/team/{view.team_id}$", fn=swap)
    await detected(viewer, errors.WrongSeqno, viewer.team(t))
    await detected(dave, errors.ForkDetected, dave.team(t))        # links dave verified changed places


# --- boxes ----------------------------------------------------------------------------------------


async def test_box_that_does_not_match_the_chain(user, name, proxy, detected):
    """A box of a seed the server picked, to carol's real PUK: it opens, but the seed
    derives other keys than the chain announced."""
    alice, a, t, people = await team_with(user, name, "carol")
    carol, c = people["carol"]
    view = await carol.team(t)
    puk = (await carol.identifier.identify(c)).state.puk

    def forge(body):
        for b in body["boxes"]:
            decoy = TeamKey.derive(os.urandom(32), b["generation"])
            fake = box_seed(decoy, EncryptionKeyPair.from_seed(os.urandom(32)), parse_kid(puk.encryption_kid).public,
                            nonce=os.urandom(24))
            b["box"] = b64encode(canonical_json(fake.to_wire()))
        return body

    proxy.set("json", match=f"^/v1/team/{view.team_id}/boxes$", fn=forge)
    await detected(carol, errors.BadTeamKey, carol.team_key(t))


async def test_box_relabelled_to_another_generation(user, name, proxy, detected):
    """After a rotation the server serves carol's generation-1 box as generation 2."""
    alice, a, t, people = await team_with(user, name, "bob", "carol")
    carol, c = people["carol"]
    await carol.team_key(t)
    await alice.remove_member(t, people["bob"][1])
    await carol.team(t)

    def relabel(body):
        gen1 = next(b for b in body["boxes"] if b["generation"] == 1)
        wire = loads_json(b64decode(gen1["box"]))
        wire["generation"] = 2
        body["boxes"] = [{**gen1, "generation": 2, "box": b64encode(canonical_json(wire))}]
        return body

    proxy.set("json", match=r"^/v1/team/[0-9a-f]+/boxes$", fn=relabel)
    await detected(carol, errors.BadTeamKey, carol.team_key(t))


async def test_newest_box_withheld_from_a_member(user, name, proxy, detected):
    """After a rotation the server gives carol only her old box: a member must get the
    newest generation, so withholding it is an error, not a silent downgrade."""
    alice, a, t, people = await team_with(user, name, "bob", "carol")
    carol, c = people["carol"]
    await alice.remove_member(t, people["bob"][1])
    await carol.team(t)
    proxy.set("json", match=r"^/v1/team/[0-9a-f]+/boxes$",
              fn=lambda body: {**body, "boxes": [b for b in body["boxes"] if b["generation"] == 1]})
    e = await detected(carol, errors.BadTeamKey, carol.team_key(t))
    assert "newest generation" in str(e)


# --- names the server maps to the wrong team -----------------------------------------------------


async def test_subteam_name_pointed_at_another_subteam(user, name, proxy, detected):
    alice, a, t, people = await team_with(user, name, "carol")
    carol, c = people["carol"]
    await alice.create_subteam(t, "dev")
    ops = await alice.create_subteam(t, "ops")
    for sub in ("dev", "ops"):              # carol may read both (team reads need a member's token)
        await alice.add_member(f"{t}.{sub}", c, "writer")
    await settle(carol, a)
    await carol.team(t)                  # the parent, verified honestly first
    proxy.set("json", match=rf"^/v1/teams/name/{t}\.dev$", fn=lambda body: {**body, "team_id": ops.team_id})
    await detected(carol, errors.BadTeamName, carol.team(f"{t}.dev"))


async def test_implicit_team_name_pointed_at_another_group(user, name, proxy):
    """alice,bob asked for; the server's name table answers with the team of alice,carol.
    The client does not ask it: the id of the team made as alice,bob is that name's hash,
    checked in the verified map, so bob reaches the real team whatever the name table says."""
    alice, a, _ = await user("alice")
    bob, b, _ = await user("bob")
    carol, c, _ = await user("carol")
    other = await alice.implicit_team(f"{a},{c}")
    real = await alice.implicit_team(f"{a},{b}")
    await settle(bob, a)
    proxy.set("json", match=r"^/v1/teams/name/", fn=lambda body: {**body, "team_id": other.team_id})
    assert (await bob.implicit_team(f"{a},{b}")).team_id == real.team_id != other.team_id
    assert (await bob.team(f"{b},{a}")).team_id == real.team_id
