"""Rules a server transport applies to messages, as pure functions.

RFC 3261 §18.2.1 (stamp ``received`` on the top Via of a request), RFC 3581
(fill in ``rport``), and §18.2.2 / RFC 3581 §4 (where a response is sent).
No sockets here: the transport layer calls these with the packet's source.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._netaddr import ip_of
from .errors import ParseError
from .headers.params import format_params
from .message import Request, Response, _via

__all__ = ["ResponseTarget", "default_port", "response_target", "stamp_received"]

_RELIABLE = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})


def default_port(transport: str) -> int:
    """5061 for TLS-based transports, else 5060 (RFC 3261 §18.2.2, §19.1.2)."""
    return 5061 if transport.upper() in ("TLS", "TLS-SCTP") else 5060


def stamp_received(request: Request, source_host: str, source_port: int) -> bool:
    """Add ``received`` (and fill ``rport``) on the top Via of a received request.

    §18.2.1: ``received`` is added when the sent-by host is a domain name or an
    address other than the packet's source. RFC 3581 §4: when the request
    carries an empty ``rport``, its value becomes the source port and
    ``received`` is added even if the address matches. Returns whether the
    Via changed. A request without a parseable Via raises ParseError.
    """
    vias = request.via
    if not vias:
        return False
    top = vias[0]
    source_ip = ip_of(source_host)
    received = str(source_ip) if source_ip is not None else source_host
    sent_by_ip = ip_of(top.host)
    wants_rport = top.has_rport and top.rport is None
    if not (wants_rport or sent_by_ip is None or sent_by_ip != source_ip):
        return False
    # What ``top.with_param("received", ...).with_param("rport", ...)`` gives, without
    # the intermediate Via objects: each parameter replaced in place (first one of
    # that name) or appended. The new Via goes straight into the message's typed
    # cache, so the transaction layer and the proxy do not parse it again.
    pairs = list(top.params.items())
    _set_param(pairs, "received", received)
    if wants_rport:
        _set_param(pairs, "rport", str(source_port))
    params = tuple(pairs)
    text = (
        f"{top.protocol_name}/{top.protocol_version}/{top.transport} "
        f"{top.sent_by}{format_params(params)}"
    )
    # Memoised: the responses to this request carry the same text below the next
    # hop's Via.
    new = _via(text)
    headers = request.headers
    headers.replace_first_value("Via", text)
    headers.typed["via"] = [new, *vias[1:]]
    return True


def _set_param(pairs: list[tuple[str, str | None]], name: str, value: str) -> None:
    """:meth:`Params.with_param` on a list: replace the first ``name``, else append."""
    for i, (existing, _) in enumerate(pairs):
        if existing.lower() == name:
            pairs[i] = (existing, value)
            return
    pairs.append((name, value))


@dataclass(frozen=True, slots=True)
class ResponseTarget:
    """Where a response goes, by §18.2.2.

    ``same_connection`` is True for reliable transports: send over the
    connection the request arrived on, and only if it is gone, connect to
    ``host``:``port``. ``needs_resolution`` is True when ``host`` is a domain
    name that must be resolved by RFC 3263 §5.
    """

    host: str
    port: int
    transport: str
    same_connection: bool
    needs_resolution: bool


def response_target(response: Response) -> ResponseTarget:
    """Destination of a response from its top Via (§18.2.2, RFC 3581 §4)."""
    vias = response.via
    if not vias:
        raise ParseError("response has no Via to route it by", header="Via")
    top = vias[0]
    transport = top.transport
    port = top.port if top.port is not None else default_port(transport)
    if top.rport is not None:
        port = top.rport
    reliable = transport in _RELIABLE
    received = top.received
    if not reliable and top.maddr is not None:
        maddr = top.maddr
        return ResponseTarget(
            maddr,
            top.port if top.port is not None else default_port(transport),
            transport,
            False,
            ip_of(maddr) is None,
        )
    if received is not None:
        host = received.strip("[]")
        return ResponseTarget(host, port, transport, reliable, ip_of(host) is None)
    host = top.host.strip("[]")
    return ResponseTarget(host, port, transport, reliable, ip_of(host) is None)
