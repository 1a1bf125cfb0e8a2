"""The test server launcher when another test's server holds its port (the suite runs in
parallel: free_port() and the server's bind are apart): it must not take the other server
for its own, and it moves to a new port."""

from __future__ import annotations

import http.server
import threading

from server_support import ServerProcess


class _Other(http.server.BaseHTTPRequestHandler):
    def do_GET(self):                      # answers /v1/server like any kbapp server would
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


def test_a_port_taken_by_another_server_is_left_to_it(tmp_path):
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    taken = other.server_address[1]
    srv = ServerProcess(tmp_path / "s", start=False)
    srv.port, srv.url = taken, f"http://127.0.0.1:{taken}"
    try:
        srv.start()
        assert srv.port != taken and srv._owns_port()
        import httpx
        info = httpx.get(srv.url + "/v1/server", timeout=5).json()
        assert info != {}                                  # a kbapp server's answer, not the other's
    finally:
        srv.stop()
        other.shutdown()
        other.server_close()
