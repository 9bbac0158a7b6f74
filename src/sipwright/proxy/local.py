"""Which URIs name this proxy, and which domains it is responsible for (§16.4, §16.5).

Two questions a proxy asks all the time, answered from plain data (the addresses it
listens on, the domains it serves), never from DNS:

* :meth:`LocalIdentity.is_this_proxy` — does a Route value or a Request-URI point at
  *this element* (§16.4: "indicates this proxy")? True for one of our listening
  addresses (host and port, the port defaulting to 5060/5061 as in §19.1.2) and for a
  served domain.
* :meth:`LocalIdentity.is_local_domain` — is the Request-URI in a domain we serve, so
  the location service decides the targets (§16.5)?

An IP-literal domain (``"127.0.0.1"``) only matches with no port or one of our ports:
``sip:bob@127.0.0.1:5072`` is a user agent's contact on the same host, not our domain.
A domain name matches whatever the port.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from .._netaddr import ip_of
from ..uri import SipUri, Uri

__all__ = ["LocalIdentity", "canonical_ip"]


@lru_cache(maxsize=4096)
def canonical_ip(host: str) -> str | None:
    """An IP literal in canonical form (brackets dropped), or None for a name.

    Cached: a proxy asks this several times per message about the same few hosts, and
    ``ipaddress`` parsing is one of the costliest steps of the hot path.
    """
    ip = ip_of(host)
    return str(ip) if ip is not None else None


def _norm_host(host: str) -> str:
    ip = canonical_ip(host)
    return ip if ip is not None else host.lower()


class LocalIdentity:
    """Our listening addresses and served domains; see the module doc."""

    __slots__ = ("_addresses", "_domains", "_local", "_ours", "_ports")

    def __init__(
        self, domains: Iterable[str] = (), addresses: Iterable[tuple[str, int]] = ()
    ) -> None:
        self._domains = frozenset(_norm_host(d.strip("[]")) for d in domains)
        self._addresses: set[tuple[str, int]] = set()
        self._ports: set[int] = set()
        # Answers per URI object (URIs are immutable; the parsers share one object per
        # Route text, so our own Record-Route value is judged once, not per message).
        # The URI is kept with its answer so that an id is never reused under us.
        self._local: dict[int, tuple[Uri, bool]] = {}
        self._ours: dict[int, tuple[Uri, bool]] = {}
        for host, port in addresses:
            self.add_address(host, port)

    def add_address(self, host: str, port: int) -> None:
        """Record one address we listen on (as bound: 0.0.0.0 stays a wildcard)."""
        self._addresses.add((_norm_host(host.strip("[]")), port))
        self._ports.add(port)
        self._local.clear()
        self._ours.clear()

    @property
    def domains(self) -> frozenset[str]:
        return self._domains

    @property
    def ports(self) -> frozenset[int]:
        return frozenset(self._ports)

    def is_our_address(self, host: str, port: int | None, transport: str = "UDP") -> bool:
        """Whether ``host:port`` is one of our listening addresses."""
        if port is None:
            port = 5061 if transport.upper() in ("TLS", "WSS") else 5060
        h = _norm_host(host.strip("[]"))
        if (h, port) in self._addresses:
            return True
        # A wildcard listener answers on every address of the host.
        return port in self._ports and (
            ("0.0.0.0", port) in self._addresses or ("::", port) in self._addresses
        )

    def is_our_host(self, host: str) -> bool:
        """Whether ``host`` is one of our domains or listening addresses, whatever the port."""
        h = _norm_host(host.strip("[]"))
        return h in self._domains or any(a == h for a, _ in self._addresses)

    def is_local_domain(self, uri: Uri) -> bool:
        """Whether ``uri``'s host is a domain we serve (or one of our addresses)."""
        seen = self._local.get(id(uri))
        if seen is not None and seen[0] is uri:
            return seen[1]
        answer = self._is_local_domain(uri)
        _remember(self._local, uri, answer)
        return answer

    def _is_local_domain(self, uri: Uri) -> bool:
        if not isinstance(uri, SipUri):
            return False
        host = _norm_host(uri.bare_host)
        if host in self._domains:
            return canonical_ip(host) is None or uri.port is None or uri.port in self._ports
        return self.is_our_address(host, uri.port, uri.transport or "UDP")

    def is_this_proxy(self, uri: Uri) -> bool:
        """Whether a Route value (or a Request-URI) designates this element (§16.4)."""
        seen = self._ours.get(id(uri))
        if seen is not None and seen[0] is uri:
            return seen[1]
        answer = self._is_this_proxy(uri)
        _remember(self._ours, uri, answer)
        return answer

    def _is_this_proxy(self, uri: Uri) -> bool:
        if not isinstance(uri, SipUri):
            return False
        if uri.user is None and self.is_local_domain(uri):
            return True
        return self.is_our_address(uri.bare_host, uri.port, uri.transport or "UDP")


def _remember(cache: dict[int, tuple[Uri, bool]], uri: Uri, answer: bool) -> None:
    if len(cache) >= 512:
        cache.clear()  # bounded: per-message URIs only pass through
    cache[id(uri)] = (uri, answer)
