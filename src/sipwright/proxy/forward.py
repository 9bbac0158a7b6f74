"""Building the request a proxy forwards to one target (RFC 3261 §16.6), sans-I/O.

:func:`forward_request` makes the copy of §16.6 step 1 (a copy of the header list —
the header lines are immutable and shared — and the same body bytes, no re-parse) and
applies steps 2–8 to it: Request-URI (step 2), Max-Forwards decremented or set to 70
(step 3), Record-Route values on top (step 4; the shell decides one or two values, RFC
5658), the target's Path values as Route (RFC 3327 §5.3: the registrar's Path becomes
the route towards the UA), the strict-router rewrite of the next hop (step 7, §16.12),
and our Via on top (step 8). Everything else — the next hop address, the transport —
is the caller's: :func:`next_hop_uri` (the first Route, else the Request-URI: §16.6
step 7) and :func:`destination_of` (an IP-literal URI to an address; the core never
resolves names).

Branches (step 8). Each branch id is ``z9hG4bKsw`` + a 16-hex-digit hash of what
identifies the request as received + ``.`` + a unique part, so the same request coming
back (§16.3 step 4) is recognisable by its hash. The hash covers the To and From tags,
Call-ID, the Request-URI as received, the CSeq number, Proxy-Require and
Proxy-Authorization, as §16.6 step 8 lists — but not the topmost Via, which the RFC also
lists: a looping request always comes back with a different top Via (the previous hop's),
so with it no loop could ever be detected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

from ..headers import Headers
from ..headers.memo import register_table
from ..message import Request
from ..message import _via as parse_via_memo
from ..transaction import Destination
from ..uri import SipUri, Uri
from .local import canonical_ip

__all__ = [
    "BRANCH_PREFIX",
    "destination_of",
    "forward_request",
    "loop_hash",
    "make_branch",
    "next_hop_uri",
    "record_route_value",
    "stateless_branch",
]

#: The magic cookie (§8.1.1.7) and a marker of our branches.
BRANCH_PREFIX = "z9hG4bKsw"
_DEFAULT_PORTS = {"TLS": 5061, "WSS": 443, "WS": 80}


def loop_hash(request: Request) -> str:
    """The loop-detection hash of a received request (§16.6 step 8; see the module doc)."""
    to = request.to
    frm = request.from_
    cseq = request.cseq
    headers = request.headers
    # One f-string, and the two rare headers read only when present: this runs for
    # every request proxied (and every ACK, via stateless_branch).
    text = (
        f"{(to.tag or '') if to is not None else ''}\x00"
        f"{(frm.tag or '') if frm is not None else ''}\x00"
        f"{request.call_id or ''}\x00{request.uri_text}\x00"
        f"{cseq.number if cseq is not None else ''}\x00"
        f"{_joined(headers, 'proxy-require')}\x00{_joined(headers, 'proxy-authorization')}"
    )
    return hashlib.blake2s(text.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


def _joined(headers: Headers, key: str) -> str:
    return ",".join(headers.getall_key(key)) if headers.has_key(key) else ""


def make_branch(hash_: str, unique: str) -> str:
    """``z9hG4bKsw<hash>.<unique>``; ``unique`` is made of token characters."""
    return f"{BRANCH_PREFIX}{hash_}.{unique}"


def stateless_branch(request: Request) -> str:
    """A branch for a statelessly forwarded request (the ACK of a 2xx, §16.11).

    Deterministic: the same received request always gets the same branch, derived from
    its own top Via branch and the loop hash.
    """
    vias = request.via
    incoming = (vias[0].branch or "") if vias else ""
    lh = loop_hash(request)
    tail = hashlib.blake2s(f"{incoming}\x00{lh}".encode(), digest_size=8).hexdigest()
    return make_branch(lh, tail)


@lru_cache(maxsize=256)
def record_route_value(host: str, port: int, transport: str) -> str:
    """Our Record-Route value for one interface: ``<sip:host:port;transport=x;lr>``.

    Always loose routing (``lr``, §16.6 step 4, §19.1.1); the transport parameter is
    left out for UDP. An IPv6 address gets brackets. Cached: a proxy has a handful of
    interfaces and writes one of these into every dialog-creating request.
    """
    h = f"[{host}]" if ":" in host and not host.startswith("[") else host
    t = transport.upper()
    param = "" if t == "UDP" else f";transport={t.lower()}"
    return f"<sip:{h}:{port}{param};lr>"


def next_hop_uri(request: Request) -> Uri:
    """Where a request goes next: its first Route, else its Request-URI (§16.6 step 7)."""
    routes = request.route
    if routes:
        return routes[0].uri
    return request.uri


def destination_of(uri: Uri, default_transport: str = "UDP") -> Destination | None:
    """The address of an IP-literal SIP URI (§19.1.2 default ports), else None.

    The transport is the URI's ``transport`` parameter, else TLS for ``sips``, else
    ``default_transport``. None for host names (no DNS here, RFC 3263 is the shell's)
    and for non-SIP URIs.
    """
    last_uri, last_transport, last_dest = _last_destination[0]
    if last_uri is uri and last_transport == default_transport:
        # The shell asks twice about the same next hop of a request (can it be routed,
        # then where does the branch go): URIs are immutable, so the answer stands.
        return last_dest
    dest = _destination_of(uri, default_transport)
    _last_destination[0] = (uri, default_transport, dest)
    return dest


#: The last :func:`destination_of` question and its answer.
_last_destination: list[tuple[Uri | None, str, Destination | None]] = [(None, "", None)]


def _destination_of(uri: Uri, default_transport: str) -> Destination | None:
    if not isinstance(uri, SipUri):
        return None
    maddr = uri.maddr
    host = maddr if maddr is not None else uri.bare_host
    ip = canonical_ip(host)
    if ip is None:
        return None
    transport = (uri.transport or ("TLS" if uri.scheme == "sips" else default_transport)).upper()
    port = uri.port or _DEFAULT_PORTS.get(transport, 5060)
    # Shared instances: a Destination is immutable, costly to build (a frozen dataclass)
    # and the next hops are few (the callee's address, the next proxy).
    key = (ip, port, transport)
    dest = _destinations.get(key)
    if dest is None:
        if len(_destinations) >= 1024:
            _destinations.clear()
        dest = _destinations[key] = Destination(ip, port, transport)
    return dest


_destinations: dict[tuple[str, int, str], Destination] = {}
register_table(_destinations)


def forward_request(
    request: Request,
    *,
    via: str,
    target: Uri | None = None,
    record_route: Sequence[str] = (),
    path: Sequence[str] = (),
) -> Request:
    """The request to send to one target (§16.6 steps 1–8); ``request`` is unchanged.

    ``target`` replaces the Request-URI (None keeps it: in-dialog requests, foreign
    domains). ``record_route``: values to add, the first one ending on top. ``path``:
    the binding's Path values, added as Route in order (RFC 3327 §5.3). ``via``: our
    complete Via value with its branch. A ParseError from a bad Max-Forwards or Route
    propagates (validation reads both first).
    """
    headers = request.headers.copy()
    mf = request.max_forwards
    if mf is None:
        headers.add("Max-Forwards", "70")
    else:
        headers.replace_first_value("Max-Forwards", str(max(mf - 1, 0)))
    for value in reversed(record_route):
        headers.prepend("Record-Route", value)
    for value in reversed(path):
        headers.prepend("Route", value)
    fwd = Request(request.method, target if target is not None else request.uri, headers)
    fwd._body = request.body  # shared bytes: the body is never edited by a proxy
    routes = fwd.route if (path or "route" in headers) else []
    if routes:
        first = routes[0].uri
        if isinstance(first, SipUri) and not first.lr:
            # §16.6 step 7 / §16.12: a strict router takes the Request-URI; the old one
            # becomes the last Route value.
            old = fwd.uri_text
            headers.pop_first_value("Route")
            headers.add("Route", f"<{old}>")
            fwd.uri = first
    below = headers.typed.get("via")
    headers.prepend("Via", via)
    if isinstance(below, list):
        # The received Vias were parsed already (the copy kept them): only ours is new.
        # Memoised: the responses coming back carry the same text on top.
        headers.typed["via"] = [parse_via_memo(via), *below]
    return fwd
