"""Server under load: one user posts links back to back (unthrottled) while attackers post
refused links under that user's uid, and 20 others sign up and look each other up, on a
real server process, SQLite and PostgreSQL.

What is checked is what happened, not how fast (speed is `kbapp bench server-load`'s
job, which runs this same load at full size against an idle baseline): every innocent
request answered 200, every attacker's post was refused with a typed 4xx, the writer's
posts all landed and the Merkle map names its tail. The others' p99 is printed.
"""

from __future__ import annotations

from kbapp.bench.server_load import LoadSizes, run_load
from kbapp.core.encoding import b64decode
from kbapp.core.transparency import ChainTail

SIZES = LoadSizes(others=20, lookups=2, pre_links=400, batch=16, attackers=3)
REFUSALS = {"INVALID_SIBKEY", "WRONG_SEQNO", "WRONG_PREV"}


async def test_one_writer_and_attackers_do_not_break_twenty_others(server_factory, db_url):
    server = server_factory(db_url)
    report = await run_load(server.url, SIZES)
    idle, loaded, poster, attackers = report["idle"], report["loaded"], report["poster"], report["attackers"]
    print(f"\n[{'postgresql' if db_url else 'sqlite'}] others' requests: idle p50 {idle['p50_ms']} ms, "
          f"p99 {idle['p99_ms']} ms; under load p50 {loaded['p50_ms']} ms, p99 {loaded['p99_ms']} ms "
          f"(max {loaded['max_ms']} ms); writer: {poster['posts']} posts, chain {poster['chain_links']} links; "
          f"attackers: {attackers['refused']} refused {attackers['codes']}")

    for phase in (idle, loaded):
        assert phase["failures"] == [] and phase["signed_up"] == SIZES.others
        assert phase["requests"] == SIZES.others * (1 + 3 * SIZES.lookups)
    # The writer kept writing through the whole loaded phase, and every post landed.
    assert poster["errors"] == [] and poster["posts"] >= 2
    assert poster["chain_links"] == SIZES.pre_links + poster["links"]
    tail = ChainTail.decode(b64decode(report["map_value"]))
    assert (tail.seqno, tail.link_id) == (poster["chain_links"], poster["link_id"])
    # Every attacker's post was refused, with a typed error (never a 5xx), and none landed.
    assert attackers["refused"] > 0 and set(attackers["codes"]) <= REFUSALS
