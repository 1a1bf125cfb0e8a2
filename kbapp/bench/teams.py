"""`kbapp bench teams`: load and verify a team of 1,000 members and 200 links.

Set-up (in memory, this process): an owner and 5 admins write a team chain
in kbapp's format: the root link (200 members), 160 change_membership links
adding 5 members each (1,000 members in all), 20 key rotations, 10 settings
and 9 invite links: 200 links, 221 signatures (each rotation's new key
countersigns its link). The loader's question "was this device key live for
this user then?" is answered from a dict, standing in for verified user
chains (their cost is the user chain benchmark's).

Measured, best of several runs:

* `teams.load_cold`: `load_team` of the whole chain (parse, signatures,
  roles, keys, invites) with nothing cached;
* `teams.load_warm`: the same chain again with the verified state cached
  (the client's TeamCache): only the tail's link id is recomputed;
* `teams.load_warm_one_new`: cached state of 199 links plus the 200th.

Baseline: the raw Ed25519 verification of the same 221 signatures
(PyNaCl, one VerifyKey per key), measured in the same run.
ratio = baseline / value (how close the loader gets to the bare signature cost).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict

from kbapp.bench.kit import RATIO_NOTE, baselines, best_of, machine_info, results_table, run_report, time_result

N_MEMBERS = 1_000
N_LINKS = 200
N_ADMINS = 5


def build_team(n_members: int = N_MEMBERS, n_links: int = N_LINKS):
    """(links, team_id, user_key_at, signatures) for a team of that size."""
    from kbapp.core.keys import SigningKeyPair
    from kbapp.core.teams import (ChainPos, Role, Settings, TeamKey, TeamSigner, UserVersion,
                                  build_change_membership, build_invite, build_root, build_rotate_key,
                                  build_settings, load_team, new_token, seitan_invite)
    from kbapp.core.uid import uid_for

    users = [f"u{i:05d}" for i in range(n_members)]
    keys = {u: SigningKeyPair.from_seed(os.urandom(32)) for u in users[: N_ADMINS + 1]}
    live = {(uid_for(u), k.kid.hex()) for u, k in keys.items()}

    def user_key_at(uid, kid, at):
        return 1 if (uid, kid) in live else None

    def signer(u):
        return TeamSigner(uid_for(u), u, keys[u].kid, keys[u])

    owner, admins = users[0], users[1: N_ADMINS + 1]
    ctime, size = 1_700_000_000, 100
    first = max(N_ADMINS + 1, n_members // 5)
    members = {UserVersion(uid_for(owner)): Role.OWNER}
    members.update({UserVersion(uid_for(a)): Role.ADMIN for a in admins})
    members.update({UserVersion(uid_for(u)): (Role.WRITER if i % 2 else Role.READER)
                    for i, u in enumerate(users[N_ADMINS + 1: first])})
    gen = 1
    links = [build_root(signer(owner), name="benchteam", members=members, ptk=TeamKey.derive(os.urandom(32), 1),
                        ctime=ctime, merkle_root={"size": size, "hash": "00" * 32})]
    st = load_team(links, team_id=_team_id(links[0]), user_key_at=user_key_at)
    rest = users[first:]
    n = n_links - 1                    # 199: 160 adds, 20 rotations, 10 settings, 9 invites
    n_rot, n_set = n // 10, n // 20
    n_inv = n - int(n * 0.8) - n_rot - n_set
    kinds = ["add"] * (n - n_rot - n_set - n_inv) + ["rotate"] * n_rot + ["settings"] * n_set + ["invite"] * n_inv
    # spread the non-add links through the chain
    order = sorted(range(len(kinds)), key=lambda i: (i * 7919) % len(kinds))
    kinds = [kinds[i] for i in order]
    adds_left = kinds.count("add")
    for i, kind in enumerate(kinds):
        by = admins[i % len(admins)] if kind != "rotate" else owner
        size += 1
        ctime += 60
        common = {"ctime": ctime, "merkle_root": {"size": size, "hash": "00" * 32}}
        pos = ChainPos(st.id, st.seqno + 1, bytes.fromhex(st.tail_link_id))
        if kind == "add" and rest:
            take = -(-len(rest) // adds_left)
            adds_left -= 1
            batch, rest = rest[:take], rest[take:]
            link = build_change_membership(signer(by), pos, changes={UserVersion(uid_for(u)): Role.WRITER
                                                                      for u in batch}, **common)
        elif kind == "rotate" or kind == "add":
            gen += 1
            link = build_rotate_key(signer(owner), pos, ptk=TeamKey.derive(os.urandom(32), gen), **common)
        elif kind == "settings":
            link = build_settings(signer(by), pos, settings=Settings(open=i % 2 == 0, join_as=Role.READER),
                                  **common)
        else:
            link = build_invite(signer(by), pos, invites=[seitan_invite(new_token(os.urandom(16)), Role.READER)],
                                **common)
        links.append(link)
        st = load_team([link], team_id=st.id, user_key_at=user_key_at, cached=st)
    return links, st, user_key_at


def _team_id(link: dict) -> str:
    from kbapp.core.sigchain.links import parse_link
    return parse_link(link).payload["body"]["team"]["id"]


def signatures(links: list[dict]) -> list[tuple[bytes, bytes, bytes]]:
    """(public key, signed message, signature) of every signature a load checks."""
    from kbapp.core.keys import PREFIX_REVERSE_SIG, decode_sig_packet, signed_message
    from kbapp.core.encoding import canonical_json
    from kbapp.core.sigchain.links import parse_link

    out = []
    for w in links:
        lk = parse_link(w)
        out.append((lk.signer[2:34], lk.signed_message, lk.signature))
        ptk = lk.payload["body"]["team"].get("per_team_key")
        if ptk:
            body = decode_sig_packet(ptk["reverse_sig"])["body"]
            expected = dict(lk.payload)
            expected["body"] = dict(expected["body"], team=dict(expected["body"]["team"],
                                                                 per_team_key=dict(ptk, reverse_sig=None)))
            out.append((body["key"][2:34], signed_message(PREFIX_REVERSE_SIG, canonical_json(expected)),
                        body["sig"]))
    return out


def _produce(quick: bool, log) -> dict:
    import nacl.signing

    from kbapp.core.teams import load_team

    n_members, n_links = (200, 50) if quick else (N_MEMBERS, N_LINKS)
    repeats = 3 if quick else 7
    log(f"building a team of {n_members} members and {n_links} links...")
    t0 = time.perf_counter()
    links, final, user_key_at = build_team(n_members, n_links)
    build_s = time.perf_counter() - t0
    if len(final.members) != n_members or final.seqno != n_links:
        raise RuntimeError(f"bench set-up: {len(final.members)} members, {final.seqno} links")
    sigs = signatures(links)
    tid = final.id

    def baseline():
        vks = {}
        for pub, msg, sig in sigs:
            vk = vks.get(pub)
            if vk is None:
                vk = vks[pub] = nacl.signing.VerifyKey(pub)
            vk.verify(msg, sig)

    log("measuring...")
    cold_state = {}

    def cold():
        cold_state["s"] = load_team(links, team_id=tid, user_key_at=user_key_at)

    # Alternate baseline and cold load, keeping the best of each, so that a burst of
    # other load on the machine cannot land on one side only.
    base = cold_s = float("inf")
    for _ in range(repeats):
        base = min(base, best_of(1, baseline))
        cold_s = min(cold_s, best_of(1, cold))
    if cold_state["s"].tail_link_id != final.tail_link_id:
        raise RuntimeError("bench: cold load ended elsewhere")
    warm_s = best_of(repeats * 3, lambda: load_team(links, team_id=tid, user_key_at=user_key_at, cached=final))
    st199 = load_team(links[:-1], team_id=tid, user_key_at=user_key_at)
    one_s = best_of(repeats * 3, lambda: load_team(links, team_id=tid, user_key_at=user_key_at, cached=st199))
    details = {"members": n_members, "links": n_links, "signatures": len(sigs),
               "generations": final.generation, "repeats": repeats, "build_s": round(build_s, 2)}
    what = f"raw Ed25519 verify of the same {len(sigs)} signatures (PyNaCl)"
    results = [
        time_result("teams.load_cold", cold_s * 1e6, base * 1e6, what, details=details),
        time_result("teams.load_warm", warm_s * 1e6, base * 1e6, what,
                    details={"note": "verified state cached; the served chain's tail id is recomputed"}),
        time_result("teams.load_warm_one_new", one_s * 1e6, base * 1e6, what,
                    details={"note": "cached state of all but the last link, plus the last link"}),
    ]
    return {"benchmark": "teams", "quick": quick, "machine": machine_info(),
            "results": [asdict(r) for r in results]}


def run_teams_bench(args) -> int:
    """Entry point for `kbapp bench teams [--quick] [--json]`."""
    return run_report(args, _produce, render_table)


def render_table(report: dict) -> str:
    m = report["machine"]
    d = report["results"][0]["details"]
    out = [f"kbapp bench teams{' --quick' if report['quick'] else ''}: {m['cpu_count']} CPUs, "
           f"Python {m['python']}; {report['elapsed_s']} s", "",
           f"team of {d['members']} members, {d['links']} links, {d['signatures']} signatures, "
           f"{d['generations']} key generations; best of {d['repeats']}+ runs", "",
           *results_table(report["results"]), "", RATIO_NOTE, *baselines(report["results"])]
    return "\n".join(out)
