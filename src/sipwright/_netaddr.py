"""IP literal helpers shared by the transport rules and the validator."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

__all__ = ["IPAddress", "ip_of"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=4096)
def ip_of(host: str) -> IPAddress | None:
    """The IP address a host string denotes, or None for a domain name.

    Brackets around an IPv6 reference are accepted (RFC 3261 §25.1
    ``IPv6reference``, and RFC 5118 §4.5 for a bracketed ``received``).

    Cached (bounded LRU): the transport calls this several times per message
    (received/rport stamping, response routing, host normalisation) on the same
    few peer addresses, and ``ipaddress`` parsing is slow; the results are
    immutable, and unknown hosts only evict entries.
    """
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
