"""verify_chain(new, resume=state): playing back only what a verified chain grew by must give
exactly what a whole playback gives (the same state, or the same error), at every split."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kbapp.bench.chains import build_bench_chain
from kbapp.core import errors
from kbapp.core.sigchain import build_eldest, build_per_user_key, build_revoke, build_subkey, verify_chain

from test_sigchain import DEV3, T0, UID, USER, base_chain, ek, sk, with_second_device

VECTORS = Path(os.environ.get("KBAPP_VECTORS") or Path(__file__).resolve().parents[1] / "vectors")
SIGCHAIN = VECTORS / "keybase-sigchain"
CASES = json.loads((SIGCHAIN / "chain_tests.json").read_text())["tests"]


def _ids(links) -> list:
    return [(lk.seqno, lk.link_id, lk.stubbed) for lk in links]


def _summary(st) -> tuple:
    """Everything a state holds, links by (seqno, id) (parsed links compare by identity)."""
    subs = [(s.eldest_kid, s.eldest_seqno, s.last_seqno, _ids(s.links), s.sibkeys, s.subkeys, s.keys, s.revoked,
             s.revoked_sig_ids, s.devices, s.puks, _ids(s.other_links)) for s in st.previous_subchains]
    return (st.uid, st.username, st.eldest_kid, st.eldest_seqno, _ids(st.links), st.tail_seqno, st.tail_link_id,
            st.sibkeys, st.subkeys, st.keys, st.revoked, st.revoked_sig_ids, st.devices, st.puks,
            st.merkle_roots, _ids(st.other_links), subs)


def _outcome(fn):
    try:
        return _summary(fn())
    except errors.KbappError as e:
        return type(e)


def _check_every_split(links, *, uid, username, eldest_kid=None):
    whole = _outcome(lambda: verify_chain(links, uid=uid, username=username, eldest_kid=eldest_kid))
    resumed = 0
    for k in range(1, len(links)):
        try:
            base = verify_chain(links[:k], uid=uid, username=username)
        except errors.KbappError:
            continue                    # the prefix itself does not verify (a stubbed tail, a bad link)
        got = _outcome(lambda: verify_chain(links[k:], uid=uid, username=username, eldest_kid=eldest_kid,
                                            resume=base))
        assert got == whole, f"split at {k}: {got!r} != {whole!r}"
        resumed += 1
    return whole, resumed


@pytest.mark.parametrize("name", sorted(CASES))
def test_keybase_vectors_resume_at_every_link(name):
    case = CASES[name]
    data = json.loads((SIGCHAIN / "chains" / case["input"]).read_text())
    eldest = data["label_kids"][case["eldest"]] if "eldest" in case else data["keys"][0]
    whole, resumed = _check_every_split(data["chain"], uid=data["uid"], username=data["username"],
                                        eldest_kid=eldest)
    if "err_type" in case:
        assert isinstance(whole, type) and issubclass(whole, errors.KbappError)
    else:
        assert whole[5] == len(data["chain"])        # tail_seqno
    assert resumed or len(data["chain"]) == 1 or "err_type" in case


def test_our_history_with_revokes_puks_and_devices():
    """A realistic chain from the benchmark's writer: devices added, renamed and revoked,
    PUK rotations, follows and proofs; resumed at every link."""
    writer, links = build_bench_chain(120, seed=3)
    whole, resumed = _check_every_split(links, uid=writer.uid, username=writer.username)
    state = verify_chain(links, uid=writer.uid, username=writer.username)
    assert resumed == 119 and state.revoked and len(state.puks) > 1 and state.previous_subchains == []


def test_reset_and_revocation_by_sig_id_across_the_split():
    c = with_second_device(base_chain())
    c.add(build_revoke(c.eldest, kids=[sk(2).kid], **c.common()))
    new = sk(50)
    c.add(build_eldest(new, uid=UID, username=USER, ctime=T0 + 10, device_id=DEV3, device_name="new laptop",
                       seqno=len(c.links) + 1, prev=bytes.fromhex(c.links[-1]["payload_hash"])))
    c.eldest = new
    c.add(build_subkey(new, ek(50), device_id=DEV3, **c.common()))
    whole, resumed = _check_every_split(c.links, uid=UID, username=USER, eldest_kid=new.kid)
    state = verify_chain(c.links, uid=UID, username=USER)
    assert state.eldest_seqno == 7 and len(state.previous_subchains) == 1 and resumed == len(c.links) - 1
    # A key of the old subchain signs after the reset: refused whether resumed or not.
    c.add(c.track(sk(1)))
    whole, _ = _check_every_split(c.links, uid=UID, username=USER)
    assert whole is errors.InvalidSibkey
    # Reset to the eldest key of an earlier subchain: refused across the split too.
    c.links.pop()
    c.add(build_eldest(sk(1), uid=UID, username=USER, ctime=T0 + 20, device_id=DEV3, device_name="x",
                       seqno=len(c.links) + 1, prev=bytes.fromhex(c.links[-1]["payload_hash"])))
    whole, _ = _check_every_split(c.links, uid=UID, username=USER)
    assert whole is errors.BadChainLink


def test_resume_leaves_the_state_it_started_from_intact():
    c = with_second_device(base_chain())
    base = c.verify()
    snapshot = (dict(base.sibkeys), dict(base.subkeys), dict(base.devices), list(base.links), dict(base.puks),
                list(base.merkle_roots))
    c.add(build_revoke(c.eldest, kids=[sk(2).kid], **c.common()))
    after = verify_chain(c.links[5:], uid=UID, username=USER, resume=base)
    assert after.tail_seqno == 6 and sk(2).kid.hex() not in {k[4:68] for k in after.sibkeys}
    assert (dict(base.sibkeys), dict(base.subkeys), dict(base.devices), list(base.links), dict(base.puks),
            list(base.merkle_roots)) == snapshot
    # Nothing new: the state itself (and the map's eldest key still checked).
    assert verify_chain([], uid=UID, username=USER, resume=base) is base
    with pytest.raises(errors.WrongEldest):
        verify_chain([], uid=UID, username=USER, resume=base, eldest_kid=sk(9).kid)


def test_resume_as_another_user_is_refused():
    base = base_chain().verify()
    more = base_chain()
    more.add(more.track(more.eldest))
    with pytest.raises(errors.WrongUid):
        verify_chain(more.links[3:], uid="11" * 15 + "19", resume=base)
    with pytest.raises(errors.WrongUsername):
        verify_chain(more.links[3:], uid=UID, username="mallory", resume=base)
    # Links that do not continue the state: the first one's seqno and prev must follow its tail.
    with pytest.raises(errors.WrongSeqno):
        verify_chain(more.links[2:], uid=UID, username=USER, resume=base)


def test_revocation_by_sig_id_of_a_delegation_made_before_the_split():
    """A key is named in a revocation by the sig id of the link that delegated it: that
    link lies before the split, so the resumed state must still know it."""
    c = with_second_device(base_chain())
    c.add(c.track(c.eldest))
    c.add(build_revoke(c.eldest, sig_ids=[c.links[3]["sig_id"]], **c.common()))      # link 4 delegated sk(2)
    c.add(c.track(sk(2)))
    whole, resumed = _check_every_split(c.links, uid=UID, username=USER)
    assert whole is errors.InvalidSibkey and resumed == len(c.links) - 1


def test_puk_key_reuse_across_the_split():
    c = base_chain()
    c.add(c.track(c.eldest))
    c.add(build_per_user_key(c.eldest, sk(100), ek(101).kid, generation=2, **c.common()))
    whole, resumed = _check_every_split(c.links, uid=UID, username=USER)
    assert whole is errors.BadPerUserKey and resumed == len(c.links) - 1


def _statements(st, since=None):
    from kbapp.core.proofs import chain_statements
    proofs, follows = chain_statements(st, since=since)
    return [(p.service, p.username, p.sig_id, p.seqno) for p in proofs], {u: f.seqno for u, f in follows.items()}


def test_statements_from_a_base_are_the_whole_chains():
    """The server's hints (live proofs and follows) read only a post's links on top of the
    base's result: the same answer as reading the whole chain, revocations and resets included."""
    from kbapp.core.proofs import chain_statements
    from kbapp.core.sigchain import LinkType, build_link
    writer, links = build_bench_chain(150, seed=4)
    from kbapp.core.uid import uid_for

    def follow(signer, who, kind=LinkType.TRACK):
        section = "track" if kind == LinkType.TRACK else "untrack"
        return build_link(signer, link_type=kind, **c.common(),
                          body_fields={section: {"basics": {"username": who}, "id": uid_for(who)}})
    c = with_second_device(base_chain())
    c.add(follow(c.eldest, "bob"))
    c.add(follow(c.eldest, "carol"))
    c.add(follow(c.eldest, "bob", LinkType.UNTRACK))
    tracked = c.add(follow(c.eldest, "dave"))
    c.add(build_revoke(c.eldest, sig_ids=[tracked["sig_id"]], **c.common()))   # a statement revoked by sig id
    c.add(follow(sk(2), "erin"))
    new = sk(60)
    c.add(build_eldest(new, uid=UID, username=USER, ctime=T0 + 50, device_id=DEV3, device_name="reset",
                       seqno=len(c.links) + 1, prev=bytes.fromhex(c.links[-1]["payload_hash"])))
    c.eldest = new
    c.add(follow(new, "frank"))
    assert _statements(c.verify())[1].keys() == {uid_for("frank")}
    assert _statements(verify_chain(c.links[:11], uid=UID, username=USER))[1].keys() == {uid_for("carol"),
                                                                                          uid_for("erin")}
    cases = [(links, writer.uid, writer.username, [len(links)])]
    cases += [(c.links, UID, USER, range(2, len(c.links) + 1))]          # every end: before the reset too
    for chain, uid, user, ends in cases:
        for j in ends:
            whole = _statements(verify_chain(chain[:j], uid=uid, username=user))
            for k in range(1, j):
                base = verify_chain(chain[:k], uid=uid, username=user)
                state = verify_chain(chain[k:j], uid=uid, username=user, resume=base)
                assert _statements(state, since=(base, chain_statements(base))) == whole, (k, j)
