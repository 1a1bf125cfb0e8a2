"""The server under load, from the attacker's side: real `kbapp server` processes on
127.0.0.1, raw sockets for the slow clients, many loopback source addresses
(127.0.0.2, 127.0.1.1, ...: Linux answers all of 127.0.0.0/8) for the rate limits.

Small limits come in by flags so that each attack shows its mechanism in seconds.
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from kbapp.client import chainops
from kbapp.core.encoding import b64encode
from kbapp.core.keys import DeviceKeys, kid_hex
from kbapp.core.puk import PerUserKey, box_seed
from kbapp.core.sigchain import build_device, build_sibkey, build_subkey, link_id, verify_chain
from kbapp.core.uid import device_id as make_device_id, uid_for

from server_support import ServerProcess, free_port

pytestmark = pytest.mark.timeout(120)

HALF_HEAD = b"GET /v1/server HTTP/1.1\r\nHost: kbapp\r\nX-Slow: "


# -- helpers ---------------------------------------------------------------------------------


def start(tmp_path: Path, *flags: str, name: str = "server") -> ServerProcess:
    return ServerProcess(tmp_path / name, extra=list(flags))


class NofileServer(ServerProcess):
    """A server process whose file limit (soft and hard) is `nofile`: what a small
    machine, or a default of 1,024 against 1,100 attackers, looks like, scaled down."""

    def __init__(self, data_dir: Path, nofile: int, extra: list[str]):
        self.nofile = nofile
        super().__init__(data_dir, extra=extra, start=False)

    def command(self) -> list[str]:
        # the server's own limits stay on (no --rate 0): they are what is tested
        return [sys.executable, "-m", "kbapp", "server", "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.data_dir), *self.extra]

    def popen_options(self) -> dict:
        limit = self.nofile

        def lower():
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        return {"preexec_fn": lower}


def raw(srv: ServerProcess, source: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", srv.port))
    return s


def read_until_closed(s: socket.socket, deadline: float) -> tuple[bytes, bool]:
    """What the server sent, and whether it closed the connection before `deadline`."""
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return got, False
        except ConnectionResetError:
            return got, True
        if not chunk:
            return got, True
        got += chunk


def client(srv: ServerProcess, source: str = "127.0.0.1", timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(base_url=srv.url, timeout=timeout,
                        transport=httpx.HTTPTransport(local_address=source))


def signup_body(username: str, keys: DeviceKeys | None = None) -> tuple[dict, DeviceKeys, str]:
    keys = keys or DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
    seed, did = os.urandom(32), make_device_id(os.urandom(16))
    links = chainops.signup_links(uid=uid_for(username), username=username, keys=keys, device_id=did,
                                  device_name="dev", puk=PerUserKey.derive(seed, 1), ctime=int(time.time()),
                                  merkle_root=None)
    box = box_seed(seed, 1, keys.subkey.public, ephemeral_secret=os.urandom(32), nonce=os.urandom(24))
    return ({"uid": uid_for(username), "username": username, "links": links,
             "puk_boxes": [{"generation": 1, "device_kid": kid_hex(keys.subkey.kid), "box": b64encode(box)}]},
            keys, did)


class Account:
    """A signed-up user that posts links of its own (device renames, a new device)."""

    def __init__(self, srv: ServerProcess, username: str):
        body, self.keys, self.did = signup_body(username)
        self.uid, self.username = uid_for(username), username
        r = httpx.post(srv.url + "/v1/signup", json=body, timeout=10)
        assert r.status_code == 200, r.text
        self.links = list(body["links"])
        self.eldest = self.keys.sibkey.kid

    def _common(self) -> dict:
        return {"uid": self.uid, "username": self.username, "eldest_kid": self.eldest,
                "seqno": len(self.links) + 1, "prev": link_id(self.links[-1]), "ctime": int(time.time())}

    def rename(self, signer, did: str, name: str) -> dict:
        return build_device(signer, device_id=did, device_name=name, **self._common())

    def accepted(self, links: list[dict]) -> None:
        self.links += links
        verify_chain(self.links, uid=self.uid, username=self.username)

    def post(self, http: httpx.Client, links: list[dict]) -> httpx.Response:
        r = http.post(f"/v1/chain/{self.uid}/links", json={"links": links})
        if r.status_code == 200:
            self.accepted(links)
        return r

    def new_device(self) -> tuple[list[dict], DeviceKeys, str]:
        keys = DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
        did = make_device_id(os.urandom(16))
        first = build_sibkey(self.keys.sibkey, keys.sibkey, device_id=did, device_name="second", **self._common())
        common = self._common()
        common.update(seqno=common["seqno"] + 1, prev=link_id(first))
        return [first, build_subkey(keys.sibkey, keys.subkey, device_id=did, **common)], keys, did


def code_of(resp: httpx.Response) -> str:
    return resp.json()["error"]["code"]


# -- slow clients ----------------------------------------------------------------------------


def test_slowloris_half_sent_requests_are_closed_and_others_are_served(tmp_path):
    """200 connections each holding half a request against a process that may open 160
    files: without a header timeout and a cap they exhaust the descriptors and a normal
    request times out. Now the attacker's address holds at most its per-address share,
    the rest are refused with 503 at once, the held ones get 408 at the header timeout,
    and a client elsewhere is served during the attack."""
    srv = NofileServer(tmp_path / "server", 160, ["--rate", "0", "--header-timeout", "2",
                                                   "--max-connections-per-ip", "20"]).start()
    try:
        attackers = []
        for _ in range(200):
            try:
                s = raw(srv, "127.0.0.1")
                s.sendall(HALF_HEAD)
                attackers.append(s)
            except OSError:
                break
        assert len(attackers) == 200
        time.sleep(0.3)  # the server has seen them all
        t0 = time.monotonic()
        with client(srv, "127.0.0.99", timeout=5.0) as c:
            r = c.get("/v1/server")
        took = time.monotonic() - t0
        assert r.status_code == 200 and took < 3, f"normal request during the attack: {r.status_code}, {took:.2f} s"

        deadline = time.monotonic() + 2 + 3
        answers = [read_until_closed(s, deadline) for s in attackers]
        assert all(closed for _, closed in answers), "a half-sent request still holds its connection"
        busy = [a for a, _ in answers if a.startswith(b"HTTP/1.1 503")]
        timed_out = [a for a, _ in answers if a.startswith(b"HTTP/1.1 408")]
        # The per-address share was held, then 408; the rest got a 503 at once, or waited in
        # the kernel's listen queue (small at 160 files) for their turn at the same.
        assert timed_out and b"REQUEST_TIMEOUT" in timed_out[0]
        assert len(busy) >= 100 and b"SERVER_BUSY" in busy[0]
        for s in attackers:
            s.close()
        with client(srv) as c:
            assert c.get("/v1/server").status_code == 200
    finally:
        srv.stop()


def test_silent_and_idle_connections_are_closed(tmp_path):
    """A connection that never sends a byte is closed at the header timeout; one idle
    after a response at the idle timeout (uvicorn only had the second)."""
    srv = start(tmp_path, "--rate", "0", "--header-timeout", "1", "--idle-timeout", "1")
    try:
        silent = raw(srv)
        t0 = time.monotonic()
        got, closed = read_until_closed(silent, t0 + 3)
        assert closed and got.startswith(b"HTTP/1.1 408"), got[:80]
        assert time.monotonic() - t0 < 2.5

        idle = raw(srv)
        idle.sendall(b"GET /v1/server HTTP/1.1\r\nHost: kbapp\r\n\r\n")
        first = idle.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        got, closed = read_until_closed(idle, t0 + 3)
        assert closed and time.monotonic() - t0 < 2.5

        # Bytes of a second request that never completes: the header timeout again.
        slow = raw(srv)
        slow.sendall(b"GET /v1/server HTTP/1.1\r\nHost: kbapp\r\n\r\n")
        assert slow.recv(65536).startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        slow.sendall(b"GET /v1/ser")
        got, closed = read_until_closed(slow, t0 + 3)
        assert closed and time.monotonic() - t0 < 2.5
    finally:
        srv.stop()


def trickle(s: socket.socket, head: bytes, total: int, deadline: float) -> tuple[bytes, bool]:
    """Send `head`, then one body byte every 0.2 s until the server answers or closes."""
    s.sendall(head)
    got, sent = b"", 0
    while time.monotonic() < deadline and sent < total:
        try:
            s.sendall(b" ")
        except OSError:
            return got, True
        sent += 1
        s.settimeout(0.2)
        try:
            chunk = s.recv(65536)
            if not chunk:
                return got, True
            got += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            return got, True
    return got, False


def test_a_trickling_body_gets_408_and_the_connection_closed(tmp_path):
    srv = start(tmp_path, "--rate", "0", "--body-timeout", "1")
    try:
        s = raw(srv)
        t0 = time.monotonic()
        got, closed = trickle(s, b"POST /v1/signup HTTP/1.1\r\nHost: kbapp\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 200\r\n\r\n{", 200, t0 + 5)
        assert got.startswith(b"HTTP/1.1 408"), got[:80]
        assert b"REQUEST_TIMEOUT" in got and b"connection: close" in got.lower()
        assert closed or read_until_closed(s, time.monotonic() + 1)[1]
        assert time.monotonic() - t0 < 3

        # A body nobody reads (a GET with one): answered, then closed while it trickles.
        s = raw(srv)
        t0 = time.monotonic()
        got, closed = trickle(s, b"GET /v1/server HTTP/1.1\r\nHost: kbapp\r\nContent-Length: 500\r\n\r\n",
                              500, t0 + 6)
        assert got.startswith(b"HTTP/1.1 200") and closed, got[:80]
        assert time.monotonic() - t0 < 4
        with client(srv) as c:
            assert c.get("/v1/server").status_code == 200
    finally:
        srv.stop()


def test_over_the_connection_cap_a_quick_503_then_service_resumes(tmp_path):
    srv = start(tmp_path, "--rate", "0", "--max-connections", "30", "--max-connections-per-ip", "0",
                "--header-timeout", "60")
    try:
        holders = []
        for i in range(30):
            s = raw(srv, f"127.0.2.{i + 1}")
            s.sendall(HALF_HEAD)
            holders.append(s)
        time.sleep(0.3)
        t0 = time.monotonic()
        late = raw(srv, "127.0.3.1")
        got, closed = read_until_closed(late, t0 + 3)
        assert got.startswith(b"HTTP/1.1 503") and b"SERVER_BUSY" in got and closed, got[:80]
        assert b"retry-after: 1" in got.lower()
        assert time.monotonic() - t0 < 1.0
        for s in holders:
            s.close()
        time.sleep(0.3)
        with client(srv, "127.0.3.1") as c:
            assert c.get("/v1/server").status_code == 200
    finally:
        srv.stop()


# -- rate limits -----------------------------------------------------------------------------


def signup_from(srv: ServerProcess, source: str, username: str) -> httpx.Response:
    with client(srv, source) as c:
        return c.post("/v1/signup", json=signup_body(username)[0])


def test_signups_from_50_loopback_addresses_share_their_network_bucket(tmp_path):
    srv = start(tmp_path, "--rate", "0", "--signup-rate", "0.01", "--signup-burst", "5",
                "--signup-global-rate", "1", "--signup-global-burst", "1000")
    try:
        answers = [signup_from(srv, f"127.0.0.{i + 2}", f"net{i}_{os.urandom(3).hex()}") for i in range(50)]
        codes = [r.status_code for r in answers]
        assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}, codes
        refused = answers[-1]
        assert code_of(refused) == "RATE_LIMITED" and int(refused.headers["retry-after"]) >= 1
        with client(srv, "127.0.0.60") as c:  # other requests from the network still pass
            assert c.get("/v1/server").status_code == 200
        assert signup_from(srv, "127.0.9.1", f"other_{os.urandom(3).hex()}").status_code == 200
    finally:
        srv.stop()


def test_signups_from_50_networks_meet_the_global_bucket(tmp_path):
    srv = start(tmp_path, "--rate", "0", "--signup-rate", "0.01", "--signup-burst", "5",
                "--signup-global-rate", "0.01", "--signup-global-burst", "10")
    try:
        codes = [signup_from(srv, f"127.0.{i + 1}.1", f"glob{i}_{os.urandom(3).hex()}").status_code
                 for i in range(50)]
        assert codes[:10] == [200] * 10 and set(codes[10:]) == {429}, codes
    finally:
        srv.stop()


def test_one_address_cannot_register_usernames_in_bulk_with_the_defaults(tmp_path):
    """The defaults (not test flags): a generous per-address rate no longer lets one
    address register dozens of usernames a second."""
    srv = start(tmp_path, "--rate", "1000")
    try:
        bodies = [signup_body(f"bulk{i}_{os.urandom(3).hex()}")[0] for i in range(40)]
        t0 = time.monotonic()
        with client(srv) as c:
            codes = [c.post("/v1/signup", json=b).status_code for b in bodies]
        took = time.monotonic() - t0
        ok = codes.count(200)
        assert ok <= 11 and codes.count(429) == 40 - ok, codes
        assert ok / took < 136
    finally:
        srv.stop()


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(tmp_path):
    """uvicorn believed X-Forwarded-For from any client on 127.0.0.1: a new header per
    request was a new rate-limit bucket per request."""
    srv = start(tmp_path, "--rate", "0.01", "--burst", "6", name="direct")
    try:
        with client(srv, "127.0.0.1") as c:  # (the start-up probe spent one of the 6 tokens)
            codes = [c.get("/v1/server", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                     for i in range(10)]
        assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}, codes
    finally:
        srv.stop()
    proxied = start(tmp_path, "--rate", "0.01", "--burst", "5", "--trust-proxy", "127.0.0.1", name="proxied")
    try:
        with client(proxied) as c:
            assert {c.get("/v1/server", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                    for i in range(10)} == {200}
            codes = [c.get("/v1/server", headers={"X-Forwarded-For": "198.51.100.7"}).status_code
                     for _ in range(7)]
            assert codes == [200] * 5 + [429] * 2
    finally:
        proxied.stop()


def test_one_account_posting_from_many_addresses_hits_its_account_limit(tmp_path):
    srv = start(tmp_path, "--rate", "0", "--account-rate", "0.01", "--account-burst", "4",
                "--device-rate", "0", "--signup-rate", "0")
    try:
        alice, bob = Account(srv, f"alice_{os.urandom(3).hex()}"), Account(srv, f"bob_{os.urandom(3).hex()}")
        # Garbage under alice's uid (not signed by her) spends none of her tokens.
        mallory = DeviceKeys.from_seeds(os.urandom(32), os.urandom(32))
        for i in range(6):
            with client(srv, f"127.0.5.{i + 1}") as c:
                assert c.post(f"/v1/chain/{alice.uid}/links",
                              json={"links": [alice.rename(mallory.sibkey, alice.did, "x")]}).status_code == 400
        codes = []
        for i in range(6):
            with client(srv, f"127.0.6.{i + 1}") as c:
                r = alice.post(c, [alice.rename(alice.keys.sibkey, alice.did, f"name{i}")])
                codes.append(r.status_code)
        assert codes == [200] * 4 + [429] * 2, codes
        assert code_of(r) == "RATE_LIMITED" and "account" in r.json()["error"]["message"]
        assert int(r.headers["retry-after"]) >= 1
        with client(srv, "127.0.6.99") as c:  # another account is not affected
            assert bob.post(c, [bob.rename(bob.keys.sibkey, bob.did, "b")]).status_code == 200
            chain = c.get(f"/v1/chain/{alice.uid}").json()
        assert len(chain["links"]) == len(alice.links)  # nothing refused was stored
    finally:
        srv.stop()


def test_one_device_hits_its_device_limit_and_another_device_goes_on(tmp_path):
    srv = start(tmp_path, "--rate", "0", "--account-rate", "0.01", "--account-burst", "100",
                "--device-rate", "0.01", "--device-burst", "3", "--signup-rate", "0")
    try:
        alice = Account(srv, f"alice_{os.urandom(3).hex()}")
        links, second, did2 = alice.new_device()
        with client(srv, "127.0.7.1") as c:
            assert alice.post(c, links).status_code == 200  # first device: 1 of 3, second: 1 of 3
        codes = []
        for i in range(4):
            with client(srv, f"127.0.7.{i + 2}") as c:
                r = alice.post(c, [alice.rename(alice.keys.sibkey, alice.did, f"a{i}")])
                codes.append(r.status_code)
        assert codes == [200, 200, 429, 429], codes
        assert code_of(r) == "RATE_LIMITED" and "device" in r.json()["error"]["message"]
        codes = []
        for i in range(3):
            with client(srv, f"127.0.8.{i + 1}") as c:
                codes.append(alice.post(c, [alice.rename(second.sibkey, did2, f"b{i}")]).status_code)
        assert codes == [200, 200, 429], codes
    finally:
        srv.stop()
