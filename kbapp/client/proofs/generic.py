"""A "parameterised" service described by configuration, not code.

    {"url": "https://social.example/api/users/{username}",   # {username} is URL-quoted
     "json_path": "profile.bio"        # dotted path; `*` walks every list element
       or "regex": "<div class=\"bio\">(.*?)</div>",          # group 1 (or the whole match)
     "username_re": "^[a-z0-9_]{1,30}$", "kind": "profile", "proof_url": "https://..."}
"""

from __future__ import annotations

import re
from urllib.parse import quote

from kbapp.core.errors import EncodingError

from .base import Fetcher, PermanentFailure, ProofConfig

MAX_MATCHES = 64


def walk_json_path(doc, path: str) -> list:
    """Values at a dotted path; `*` expands lists (and dict values), digits index lists."""
    items = [doc]
    for part in path.split(".") if path else []:
        nxt = []
        for it in items:
            if part == "*":
                if isinstance(it, list):
                    nxt.extend(it)
                elif isinstance(it, dict):
                    nxt.extend(it.values())
            elif isinstance(it, dict) and part in it:
                nxt.append(it[part])
            elif isinstance(it, list) and part.isdigit() and int(part) < len(it):
                nxt.append(it[int(part)])
        items = nxt[:10_000]
    return items


class GenericService:
    def __init__(self, name: str, spec: dict, config: ProofConfig):
        if not isinstance(spec, dict) or not isinstance(spec.get("url"), str) or "{username}" not in spec["url"]:
            raise EncodingError(f"generic service {name!r} needs a url with {{username}}")
        if ("json_path" in spec) == ("regex" in spec):
            raise EncodingError(f"generic service {name!r} needs exactly one of json_path and regex")
        self.name = name
        self.spec = spec
        self.kind = str(spec.get("kind", "profile"))
        self.config = config
        self._user_re = re.compile(spec.get("username_re", r"^[a-z0-9_.\-]{1,64}$"))
        self._regex = re.compile(spec["regex"], re.S) if "regex" in spec else None

    def normalize(self, username: str) -> str:
        u = username.strip().lower()
        if not self._user_re.match(u):
            raise EncodingError(f"{username!r} is not a {self.name} username")
        return u

    def url(self, username: str) -> str:
        return self.spec["url"].replace("{username}", quote(username, safe=""))

    def proof_url(self, username: str) -> str:
        return self.spec.get("proof_url", self.spec["url"]).replace("{username}", quote(username, safe=""))

    def instructions(self, username: str, text: str) -> str:
        return self.spec.get("instructions", f"Post this text on {self.name} as {username}")

    async def fetch(self, fetcher: Fetcher, username: str) -> list[str]:
        resp = await fetcher.get(self.url(username))
        if self._regex is None:
            values = walk_json_path(resp.json(), self.spec["json_path"])
            texts = [v for v in values if isinstance(v, str)]
            if not values:
                raise PermanentFailure(f"{self.name}: nothing at {self.spec['json_path']}")
            return texts
        body = resp.text()
        out = []
        for m in self._regex.finditer(body):
            out.append(m.group(1) if m.groups() else m.group(0))
            if len(out) >= MAX_MATCHES:
                break
        return out
