"""IP literal helpers shared by the transport rules and the validator."""

from __future__ import annotations

import ipaddress

__all__ = ["IPAddress", "ip_of"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ip_of(host: str) -> IPAddress | None:
    """The IP address a host string denotes, or None for a domain name.

    Brackets around an IPv6 reference are accepted (RFC 3261 §25.1
    ``IPv6reference``, and RFC 5118 §4.5 for a bracketed ``received``).
    """
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
