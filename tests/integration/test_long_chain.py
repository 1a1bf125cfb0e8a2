"""A 10,000-link chain (23 MB of links: three times the client's 8 MiB answer cap).

The server plays back only the links a post adds, on top of the verified state of
the stored chain (kbapp/server/chains.py), so a post costs what it adds, not what
the chain already holds; counted in links played back, not timed. A fresh client
loads the chain page by page, and a client that loaded it before fetches and
plays back only what was added since.
"""

from __future__ import annotations

import random

import httpx

from kbapp.bench.chains import _ChainWriter
from kbapp.client.app import App
from kbapp.client.keystore import open_keystore
from kbapp.core.encoding import canonical_json
from kbapp.core.merkle.note import parse_checkpoint_body
from kbapp.server.chains import CHAIN_PAGE_LINKS
from kbapp.server.db import make_engine, normalise_url, upgrade
from kbapp.server.service import Service, load_or_create_server_key

from server_support import ServerProcess

N = 10_000
BATCH = 64


def _service(data_dir) -> Service:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(normalise_url(None, data_dir))
    upgrade(engine)
    key = load_or_create_server_key(data_dir)
    return Service(engine, key, f"kbapp.local/{bytes(key.verify_key).hex()[:16]}")


def _post(service: Service, writer: _ChainWriter, n: int, *, signup: bool = False) -> int:
    """Post n links in one batch through the server's write path; links played back for it."""
    before = service.chains.links_played
    links = writer.take(n)
    body = {"uid": writer.uid, "username": writer.username, "links": links}
    batch = service.prepare(writer.uid, body, signup=signup)
    service.append_links(writer.uid, body, signup=signup, batch=batch)
    return service.chains.links_played - before


async def test_ten_thousand_links(tmp_path, monkeypatch):
    data = tmp_path / "server"
    service = _service(data)
    live_root = {}
    writer = _ChainWriter(random.Random(5), "longchain", lambda: live_root["root"])

    def saw_log(svc: Service) -> None:     # each batch embeds the checkpoint its author saw
        live_root["root"] = {"size": svc.log.size, "hash": svc.log.root(svc.log.size).hex()}

    wire_bytes = 0
    for i in range(N // BATCH + 1):
        saw_log(service)
        n = min(BATCH, N - i * BATCH)
        if n <= 0:
            break
        # Each post plays back exactly its own links: never the stored chain again.
        assert _post(service, writer, n, signup=(i == 0)) == n
    assert service.chains.links_played == N
    with service.engine.connect() as conn:
        wire_bytes = sum(len(canonical_json(w)) for w in Service.chain_wires(conn, writer.uid))
    assert wire_bytes > 8 << 20, "the chain should be over the client's whole-answer cap"
    service.engine.dispose()

    # A cold server (a restart, another process): one whole playback, then posts cost their links.
    service = _service(data)
    saw_log(service)
    assert _post(service, writer, 8) == N + 8
    saw_log(service)
    assert _post(service, writer, 8) == 8
    service.engine.dispose()

    server = ServerProcess(data)
    try:
        url = server.url
        page = httpx.get(f"{url}/v1/chain/{writer.uid}", timeout=60).json()
        assert len(page["links"]) <= CHAIN_PAGE_LINKS and page["more"] is True
        assert page["next"] == len(page["links"])

        played: list[int] = []
        import kbapp.client.chainfetch as chainfetch
        real = chainfetch.verify_chain

        def counting(links, **kw):
            played.append(len(links))
            return real(links, **kw)
        monkeypatch.setattr(chainfetch, "verify_chain", counting)

        home = tmp_path / "client"
        app = App(home, keystore=open_keystore(home, backend="memory"))
        await app.open()
        try:
            await app.connect(url)
            ident = await app.identify(writer.username)            # fresh: page by page
            assert ident.chain_length == N + 16 and played == [N + 16]

            # Two more links; the client that knows the chain fetches and plays back only them.
            note = httpx.get(f"{url}/v1/checkpoint", timeout=10).json()["note"]
            _, size, root, _ = parse_checkpoint_body(note.split("\n\n", 1)[0] + "\n")
            live_root["root"] = {"size": size, "hash": root.hex()}
            r = httpx.post(f"{url}/v1/chain/{writer.uid}/links", json={"links": writer.take(2)}, timeout=60)
            assert r.status_code == 200, r.text
            ident = await app.identify(writer.username)
            assert ident.chain_length == N + 18 and ident.changed and played == [N + 16, 2]
            # Nothing new: nothing fetched, nothing played back.
            assert (await app.identify(writer.username)).chain_length == N + 18 and played == [N + 16, 2]
        finally:
            await app.close()
    finally:
        server.stop()
