"""Website proofs: the text at https://HOST/.well-known/kbapp.txt."""

from __future__ import annotations

from .base import Fetcher, PermanentFailure, ProofConfig, check_hostname, is_loopback, register

PATH = "/.well-known/kbapp.txt"


@register
class WebsiteService:
    name = "website"
    kind = "well-known"

    def __init__(self, config: ProofConfig):
        self.config = config

    def normalize(self, username: str) -> str:
        return check_hostname(username)

    def base(self, host: str) -> str:
        """https://HOST, unless the configuration maps the host (tests: http://127.0.0.1:PORT)."""
        mapped = self.config.website_hosts.get(host)
        if mapped is None:
            return f"https://{host}"
        if mapped.startswith("http://") and not is_loopback(mapped[7:].split("/")[0].rsplit(":", 1)[0]):
            raise PermanentFailure(f"refused: {host} is mapped to plain http on a non-loopback address")
        return mapped

    def proof_url(self, username: str) -> str:
        return f"https://{username}{PATH}"

    def instructions(self, username: str, text: str) -> str:
        return f"Put this text in a file served at {self.proof_url(username)}"

    async def fetch(self, fetcher: Fetcher, username: str) -> list[str]:
        resp = await fetcher.get(self.base(username) + PATH)
        return [resp.text()]
