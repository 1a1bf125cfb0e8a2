"""Mastodon proofs: a public status (or the profile note) on any instance.

GET {instance}/api/v1/accounts/lookup?acct=USER -> {"id", "note", ...}, then
GET {instance}/api/v1/accounts/{id}/statuses -> [{"content": "<p>...</p>"}].
An assertion names the instance: `alice@mastodon.social`. Instances map to base
URLs in the configuration (tests), https://INSTANCE otherwise.
"""

from __future__ import annotations

import re

from kbapp.core.errors import EncodingError

from .base import Fetcher, PermanentFailure, ProofConfig, check_hostname, register

_USER_RE = re.compile(r"^[a-z0-9_]{1,30}$")
STATUSES = 40


@register
class MastodonService:
    name = "mastodon"
    kind = "status"

    def __init__(self, config: ProofConfig):
        self.config = config

    def normalize(self, username: str) -> str:
        u = username.strip().lower().lstrip("@")
        if u.count("@") != 1:
            raise EncodingError(f"a Mastodon account is user@instance, not {username!r}")
        user, instance = u.split("@")
        if not _USER_RE.match(user):
            raise EncodingError(f"{user!r} is not a Mastodon username")
        return f"{user}@{check_hostname(instance)}"

    def base(self, instance: str) -> str:
        return self.config.mastodon_instances.get(instance, f"https://{instance}")

    def proof_url(self, username: str) -> str:
        user, instance = username.split("@")
        return f"https://{instance}/@{user}"

    def instructions(self, username: str, text: str) -> str:
        return f"Post this text as a public status of {username} (or put it in your profile)"

    async def fetch(self, fetcher: Fetcher, username: str) -> list[str]:
        user, instance = username.split("@")
        base = self.base(instance)
        acct = (await fetcher.get(f"{base}/api/v1/accounts/lookup", params={"acct": user})).json()
        if not isinstance(acct, dict) or not isinstance(acct.get("id"), str):
            raise PermanentFailure("malformed Mastodon account")
        if str(acct.get("username", "")).lower() != user:
            raise PermanentFailure(f"the instance answered with another account ({acct.get('username')!r})")
        acct_id = acct["id"]
        if not acct_id.isdigit() and not acct_id.isalnum():
            raise PermanentFailure("malformed Mastodon account id")
        statuses = (await fetcher.get(f"{base}/api/v1/accounts/{acct_id}/statuses",
                                      params={"limit": str(STATUSES), "exclude_reblogs": "true"})).json()
        if not isinstance(statuses, list):
            raise PermanentFailure("malformed Mastodon statuses")
        texts = [s["content"] for s in statuses
                 if isinstance(s, dict) and isinstance(s.get("content"), str)
                 and s.get("visibility", "public") in ("public", "unlisted")]
        if isinstance(acct.get("note"), str):
            texts.append(acct["note"])
        return texts
