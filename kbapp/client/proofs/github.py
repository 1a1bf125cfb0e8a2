"""GitHub proofs: a public gist holding `kbapp.md`, found through the REST API.

GET {api}/users/{user}/gists (JSON list; each gist has `files`, each file a
`raw_url`), then the raw file. The API base is configurable (tests serve an
imitation on 127.0.0.1); raw files are fetched only from the gist raw host or
from the API's own host.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from kbapp.core.errors import EncodingError

from .base import Fetcher, PermanentFailure, ProofConfig, register

FILENAME = "kbapp.md"
_USER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,38}$")
MAX_FILES = 3


@register
class GithubService:
    name = "github"
    kind = "gist"

    def __init__(self, config: ProofConfig):
        self.config = config

    def normalize(self, username: str) -> str:
        u = username.strip().lower()
        if not _USER_RE.match(u):
            raise EncodingError(f"{username!r} is not a GitHub username")
        return u

    def proof_url(self, username: str) -> str:
        return f"https://gist.github.com/{username}"

    def instructions(self, username: str, text: str) -> str:
        return (f"Create a public gist as {username} on GitHub (https://gist.github.com/) "
                f"with one file named {FILENAME} holding this text")

    async def fetch(self, fetcher: Fetcher, username: str) -> list[str]:
        api = self.config.github_api
        resp = await fetcher.get(f"{api}/users/{username}/gists", params={"per_page": "100"})
        gists = resp.json()
        if not isinstance(gists, list):
            raise PermanentFailure("GitHub's gist list is not a list")
        allowed = {h.lower() for h in self.config.github_raw_hosts} | {urlsplit(api).netloc.lower()}
        raws = []
        for g in gists:
            if not isinstance(g, dict) or g.get("public") is False:
                continue
            owner = g.get("owner")
            if isinstance(owner, dict) and str(owner.get("login", "")).lower() != username:
                continue
            files = g.get("files")
            if not isinstance(files, dict):
                continue
            for f in files.values():
                if isinstance(f, dict) and f.get("filename") == FILENAME and isinstance(f.get("raw_url"), str):
                    raws.append(f["raw_url"])
        if not raws:
            raise PermanentFailure(f"no public gist of {username} holds {FILENAME}")
        texts = []
        for url in raws[:MAX_FILES]:
            if urlsplit(url).netloc.lower() not in allowed:
                continue
            try:
                texts.append((await fetcher.get(url)).text())
            except PermanentFailure:
                continue   # one deleted file: look at the others
        if not texts:
            raise PermanentFailure(f"the {FILENAME} gists of {username} cannot be read")
        return texts
