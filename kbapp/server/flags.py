"""The limit and timeout flags of `kbapp server` (docs/server.md explains each).

Kept apart from main.py so that building the CLI's parser imports no server code.
"""

from __future__ import annotations

import argparse

LIMIT_FLAGS = ("account_rate", "account_burst", "device_rate", "device_burst", "signup_rate", "signup_burst",
               "chat_rate", "chat_burst", "chat_sweep_every",
               "signup_global_rate", "signup_global_burst",
               "blob_rate", "blob_burst", "blob_max", "blob_quota", "blob_min_rate",
               "folder_rate", "folder_burst", "folder_quota_user", "folder_quota_team", "folder_gc_delay")


def add_server_flags(s: argparse.ArgumentParser) -> None:
    s.add_argument("--rate", type=float, default=200.0,
                   help="requests/s per client address (0: no limit, and the rates below default to 0 too)")
    s.add_argument("--burst", type=int, default=400, help="requests per client address in a burst")
    g = s.add_argument_group("write and signup limits (default: on unless --rate is 0)")
    g.add_argument("--account-rate", type=float, default=None, help="accepted writes/s per account (default 2)")
    g.add_argument("--account-burst", type=int, default=None, help="(default 60)")
    g.add_argument("--device-rate", type=float, default=None, help="accepted writes/s per device key (default 1)")
    g.add_argument("--device-burst", type=int, default=None, help="(default 30)")
    g.add_argument("--signup-rate", type=float, default=None,
                   help="signups/s per network, /24 or /64 (default 0.1: 6 a minute)")
    g.add_argument("--signup-burst", type=int, default=None, help="(default 10)")
    g.add_argument("--signup-global-rate", type=float, default=None, help="signups/s in all (default 10)")
    g.add_argument("--signup-global-burst", type=int, default=None, help="(default 100)")
    g.add_argument("--chat-rate", type=float, default=None, help="chat posts/s per device key (default 5)")
    g.add_argument("--chat-burst", type=int, default=None, help="(default 60)")
    g.add_argument("--chat-sweep-every", type=float, default=None,
                   help="seconds between purges of exploded chat messages (default 60; 0: only on read)")
    b = s.add_argument_group("blobs (chat attachments: PUT/GET /v1/blobs/ID)")
    b.add_argument("--blob-rate", type=float, default=None, help="blob uploads/s per device key (default 0.5)")
    b.add_argument("--blob-burst", type=int, default=None, help="(default 20)")
    b.add_argument("--blob-max", type=int, default=None,
                   help="bytes of one blob (default: a 2 GiB attachment and its encryption overhead)")
    b.add_argument("--blob-quota", type=int, default=None, help="bytes of blobs per account (default 20 GiB)")
    b.add_argument("--blob-min-rate", type=float, default=None,
                   help="bytes/s a blob upload must average beyond --body-timeout, else 408 (default 65536)")
    f = s.add_argument_group("encrypted folders (/v1/folders/...)")
    f.add_argument("--folder-rate", type=float, default=None, help="folder writes/s per device key (default 20)")
    f.add_argument("--folder-burst", type=int, default=None, help="(default 200)")
    f.add_argument("--folder-quota-user", type=int, default=None, help="folder bytes per uploader (default 20 GiB)")
    f.add_argument("--folder-quota-team", type=int, default=None, help="folder bytes per team (default 100 GiB)")
    f.add_argument("--folder-gc-delay", type=int, default=None,
                   help="seconds a revision is kept whole before a writer may collect its blocks (default 14 days)")
    c = s.add_argument_group("connections")
    c.add_argument("--header-timeout", type=float, default=10.0,
                   help="seconds for a request's headers to arrive (default 10)")
    c.add_argument("--idle-timeout", type=float, default=5.0,
                   help="seconds a keep-alive connection may idle between requests (default 5)")
    c.add_argument("--body-timeout", type=float, default=30.0,
                   help="seconds for a request's body to arrive, else 408 (default 30)")
    c.add_argument("--max-connections", type=int, default=4096,
                   help="open connections in all; more are answered 503 and closed (default 4096, "
                        "kept below the process's file limit)")
    c.add_argument("--max-connections-per-ip", type=int, default=128,
                   help="open connections per client address (0: no cap; trusted proxies are exempt)")
    c.add_argument("--trust-proxy", default="",
                   help="comma-separated addresses or networks of reverse proxies whose X-Forwarded-For "
                        "names the client (default: none; the peer address is the client)")


def config_kwargs(args: argparse.Namespace) -> dict:
    """ServerConfig's limit and connection fields from parsed flags."""
    return {
        "rate": args.rate, "burst": args.burst,
        "limits": {k: getattr(args, k) for k in LIMIT_FLAGS if getattr(args, k) is not None},
        "header_timeout": args.header_timeout, "idle_timeout": args.idle_timeout,
        "body_timeout": args.body_timeout, "max_connections": args.max_connections,
        "max_per_client": args.max_connections_per_ip,
        "trust_proxy": tuple(p.strip() for p in args.trust_proxy.split(",") if p.strip()),
    }
