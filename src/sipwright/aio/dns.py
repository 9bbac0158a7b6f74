"""RFC 3263 over real DNS: the I/O shell of :mod:`sipwright.locate`, with dnspython.

:class:`SipResolver` answers a :class:`~sipwright.locate.ServerLocator`'s questions
(NAPTR, SRV, A, AAAA) with dnspython's asyncio resolver and returns the ordered
destinations for a SIP URI. Answers are cached for their TTL (dnspython's LRU cache,
negative answers included), so a proxy forwarding many requests to one domain asks once.

Host names in the system's hosts file (``/etc/hosts``: ``localhost``, names an operator
pins) are answered from it before DNS, as the C library's resolver does with the usual
``files dns`` order. The name servers are the system's (``/etc/resolv.conf``) unless
given (``[dns] servers`` in ``serve``'s config). A lookup that fails (timeout, SERVFAIL,
REFUSED, no such name) counts as "no records": RFC 3263 then goes on to its next step.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from .._netaddr import ip_of
from ..locate import Answer, DnsQuery, NaptrRecord, ServerLocator, SrvRecord
from ..transaction import Destination
from ..uri import SipUri

__all__ = ["SipResolver", "read_hosts"]

log = logging.getLogger("sipwright.dns")

HOSTS_FILE = Path("/etc/hosts")


def read_hosts(text: str) -> dict[str, tuple[str, ...]]:
    """name -> addresses from hosts-file text (``address name [alias...]``, ``#``
    comments); names lower-cased, addresses in file order."""
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.partition("#")[0].split()
        if len(fields) < 2 or ip_of(fields[0]) is None:
            continue
        address = fields[0].partition("%")[0]  # a zone index cannot be sent to
        for name in fields[1:]:
            known = table.setdefault(name.rstrip(".").lower(), [])
            if address not in known:
                known.append(address)
    return {name: tuple(addresses) for name, addresses in table.items()}


class SipResolver:
    """Destinations for SIP URIs by RFC 3263 (see the module docstring).

    ``nameservers``: ``(address, port)`` pairs to ask instead of the system's.
    ``timeout``: seconds one lookup may take in all (retries included).
    ``hosts``: the hosts table (default: read from ``/etc/hosts`` once).
    ``draw``: ``draw(n)`` in ``[0, n]`` for SRV weights (default: random).
    """

    def __init__(
        self,
        nameservers: Sequence[tuple[str, int]] = (),
        *,
        timeout: float = 2.0,
        cache_size: int = 4096,
        hosts: Mapping[str, Sequence[str]] | None = None,
        draw: Callable[[int], int] | None = None,
    ) -> None:
        if nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in nameservers
            ]
        else:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = ["127.0.0.1"]
        resolver.lifetime = timeout
        resolver.timeout = min(timeout, resolver.timeout)
        resolver.cache = dns.resolver.LRUCache(cache_size)
        self._resolver = resolver
        if hosts is None:
            try:
                hosts = read_hosts(HOSTS_FILE.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                hosts = {}
        self._hosts = {name.lower(): tuple(addrs) for name, addrs in hosts.items()}
        #: SRV weights are drawn at random (RFC 2782): load spreads over equal servers.
        rng = random.Random()
        self._draw: Callable[[int], int] = draw or (lambda n: rng.randint(0, n))
        #: Lookups made (cache hits included) and failed, for tests and metrics.
        self.queries = 0
        self.failures = 0

    async def locate(
        self,
        uri: SipUri,
        transports: Collection[str] = ("UDP", "TCP", "TLS"),
        families: Iterable[str] = ("A", "AAAA"),
    ) -> list[Destination]:
        """Where to send a request for ``uri``, in the order to try (RFC 3263 §4)."""
        locator = ServerLocator(uri, transports, tuple(families), draw=self._draw)
        while (query := locator.next_query()) is not None:
            locator.give(query, await self.ask(query))
        return locator.destinations

    async def ask(self, query: DnsQuery) -> Answer:
        """One question, answered from the hosts table or DNS; None when nothing."""
        self.queries += 1
        if query.rdtype in ("A", "AAAA"):
            known = self._hosts.get(query.name.lower())
            if known is not None:
                want = 4 if query.rdtype == "A" else 6
                return [a for a in known if (ip := ip_of(a)) is not None and ip.version == want]
        try:
            answer = await self._resolver.resolve(
                query.name, query.rdtype, search=False, raise_on_no_answer=False
            )
        except dns.exception.DNSException as exc:
            self.failures += 1
            log.debug("DNS %s %s: %s", query.rdtype, query.name, exc)
            return None
        if answer.rrset is None:
            return None
        return _records(query.rdtype, answer.rrset)


def _records(rdtype: str, rrset: Iterable[Any]) -> Answer:
    kind = dns.rdatatype.from_text(rdtype)
    if kind == dns.rdatatype.NAPTR:
        return [
            NaptrRecord(
                r.order,
                r.preference,
                r.flags.decode("ascii", "replace"),
                r.service.decode("ascii", "replace"),
                r.replacement.to_text(),
            )
            for r in rrset
        ]
    if kind == dns.rdatatype.SRV:
        return [SrvRecord(r.priority, r.weight, r.port, r.target.to_text()) for r in rrset]
    return [str(r.address) for r in rrset]
