"""DNS proofs: a TXT record on _kbapp.DOMAIN, through dnspython.

The resolver is the system's, or the address/port in the configuration (tests
run a tiny UDP DNS server on 127.0.0.1).
"""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.resolver

from .base import Fetcher, PermanentFailure, ProofConfig, TemporaryFailure, check_hostname, register

PREFIX = "_kbapp."


@register
class DnsService:
    name = "dns"
    kind = "txt"

    def __init__(self, config: ProofConfig):
        self.config = config

    def normalize(self, username: str) -> str:
        return check_hostname(username)

    def proof_url(self, username: str) -> str:
        return f"dns:{PREFIX}{username}?type=TXT"

    def instructions(self, username: str, text: str) -> str:
        return f"Add a TXT record on {PREFIX}{username} holding this text"

    def resolver(self) -> dns.asyncresolver.Resolver:
        if self.config.dns_resolver:
            r = dns.asyncresolver.Resolver(configure=False)
            r.nameservers = [self.config.dns_resolver]
            r.port = self.config.dns_port
        else:
            r = dns.asyncresolver.Resolver()
        r.timeout = r.lifetime = self.config.timeout
        return r

    async def fetch(self, fetcher: Fetcher, username: str) -> list[str]:
        name = PREFIX + username
        try:
            answer = await self.resolver().resolve(name, "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            raise PermanentFailure(f"no TXT record on {name}") from None
        except dns.exception.Timeout:
            raise TemporaryFailure(f"DNS: no answer for {name} within {self.config.timeout:g} s") from None
        except (dns.resolver.NoNameservers, dns.resolver.YXDOMAIN, dns.exception.DNSException) as e:
            raise TemporaryFailure(f"DNS: {type(e).__name__}: {e}") from None
        texts = []
        for rdata in answer:
            texts.append(b"".join(rdata.strings).decode("utf-8", errors="replace"))
        return texts
