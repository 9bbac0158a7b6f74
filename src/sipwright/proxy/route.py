"""Route information pre-processing (RFC 3261 §16.4), sans-I/O.

Before it decides targets, a proxy cleans up the routing headers of a received request:

1. A strict router upstream (RFC 2543 routing, §16.12) puts the Route value it was
   sent to — a URI *we* placed in Record-Route — into the Request-URI and moves the real
   target into the last Route value. When the Request-URI designates this proxy, has no
   user part and carries ``lr`` (as every Record-Route value of ours does), and there
   are Route values, the Request-URI becomes the last Route value, which is
   removed.
2. Route values designating this proxy are removed from the top. There can be two:
   the double Record-Route of a proxy that switches transports (RFC 5658 §4), one for
   each interface; both are ours.

Also, a Request-URI whose ``maddr`` names this proxy loses the ``maddr`` (and its port
and transport parameter), as §16.4 requires. What remains decides the next hop (§16.6
step 7): the first Route, else the Request-URI.
"""

from __future__ import annotations

from ..message import Request
from ..uri import SipUri
from .local import LocalIdentity

__all__ = ["preprocess_routes"]


def preprocess_routes(request: Request, local: LocalIdentity) -> int:
    """Apply §16.4 to ``request`` in place; return how many Route values were removed.

    Raises :class:`~sipwright.errors.ParseError` for a malformed Route (validation
    answers it 400).
    """
    uri = request.uri
    if isinstance(uri, SipUri) and uri.maddr is not None:
        # §16.4: a maddr naming us (or a domain of ours) is stripped, with any
        # non-default port and transport, so the request is handled as ours.
        if local.is_our_host(uri.maddr):
            stripped = uri.without_param("maddr").without_param("transport")
            request.uri = stripped.replace(port=None)
    if "route" not in request.headers:
        return 0
    removed = 0
    routes = request.route
    uri = request.uri
    if (
        routes
        and isinstance(uri, SipUri)
        and uri.lr
        and uri.user is None
        and local.is_this_proxy(uri)
    ):
        # Strict-router compatibility: the real Request-URI is the last Route value.
        values = request.headers.getall_key("route")
        last = routes[-1].uri
        request.headers.remove("Route")
        for value in values[:-1]:
            request.headers.add("Route", value)
        request.uri = last
        removed += 1
        routes = request.route
    while routes and local.is_this_proxy(routes[0].uri):
        request.headers.pop_first_value("Route")
        removed += 1
        routes = routes[1:]
    return removed
