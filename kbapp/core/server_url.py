"""What a person types as a server address, made into a URL, or refused with the reason.

`127.0.0.1:51339` is what the Add-a-device window and `kbapp serve` print: a
missing scheme means http for loopback (the embedded server has no TLS) and
https for everything else, so a typed remote address never goes out in the clear.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .errors import BadServerUrl

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_server_url(text: str) -> str:
    """The URL for `text` (scheme added when missing, trailing slash dropped), or BadServerUrl."""
    raw = text.strip()
    if not raw:
        raise BadServerUrl("type the server's address, e.g. https://keys.example.org or 127.0.0.1:51339")
    if "://" not in raw:
        host = urlsplit("//" + raw).hostname or ""
        raw = ("http://" if is_loopback(host) else "https://") + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https"):
        raise BadServerUrl(f"a server address starts with http:// or https://, not {parts.scheme}://")
    try:
        port = parts.port
    except ValueError:
        raise BadServerUrl("the port after ':' must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise BadServerUrl("the address has no host name: e.g. https://keys.example.org")
    if port == 0:
        raise BadServerUrl("the port after ':' must be a number from 1 to 65535")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise BadServerUrl("give only the server's address (scheme, host and port), without a path")
    if parts.username or parts.password:
        raise BadServerUrl("a server address carries no user name or password")
    return f"{parts.scheme}://{parts.netloc}"
