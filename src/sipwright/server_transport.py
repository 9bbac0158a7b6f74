"""Rules a server transport applies to messages, as pure functions.

RFC 3261 §18.2.1 (stamp ``received`` on the top Via of a request), RFC 3581
(fill in ``rport``), and §18.2.2 / RFC 3581 §4 (where a response is sent).
No sockets here: the transport layer calls these with the packet's source.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

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
    received = _received_text(source_host)
    ptext = top._params_text
    if ptext is not None and top.protocol_name == "SIP":
        # Fast path for the usual shape (a Via from the parser's one-pass match: its
        # parameters are validated text with no blanks or quotes): edit that text
        # instead of splitting, re-pairing and re-formatting the parameters. Exactly
        # what the general path below writes; anything unusual falls through to it.
        params = _stamp_params(ptext, received, source_port)
        if params == _NO_RPORT:
            # §18.2.1 alone: received only when the sent-by is not the source address.
            source_ip = ip_of(source_host)
            if source_ip is not None and ip_of(top.host) == source_ip:
                return False
            params = f"{ptext};received={received}"
    else:
        params = None
    if params is None:
        source_ip = ip_of(source_host)
        sent_by_ip = ip_of(top.host)
        wants_rport = top.has_rport and top.rport is None
        if not (wants_rport or sent_by_ip is None or sent_by_ip != source_ip):
            return False
        # What ``top.with_param("received", ...).with_param("rport", ...)`` gives,
        # without the intermediate Via objects: each parameter replaced in place
        # (first one of that name) or appended. The new Via goes straight into the
        # message's typed cache, so the transaction layer and the proxy do not parse
        # it again.
        pairs = list(top.params.items())
        _set_param(pairs, "received", received)
        if wants_rport:
            _set_param(pairs, "rport", str(source_port))
        params = format_params(tuple(pairs))
    text = f"{top.protocol_name}/{top.protocol_version}/{top.transport} {top.sent_by}{params}"
    # Memoised: the responses to this request carry the same text below the next
    # hop's Via.
    new = _via(text)
    headers = request.headers
    headers.replace_first_value("Via", text)
    headers.typed["via"] = [new, *vias[1:]]
    return True


#: :func:`_stamp_params`' answer when the text has no rport (nor received) at all.
_NO_RPORT = ""


@lru_cache(maxsize=1024)
def _received_text(source_host: str) -> str:
    """The ``received`` value for a packet source: the address in its canonical form.

    Cached: ``str()`` of an ``ipaddress`` object is slow and the peers are few.
    """
    source_ip = ip_of(source_host)
    return str(source_ip) if source_ip is not None else source_host


def _stamp_params(ptext: str, received: str, source_port: int) -> str | None:
    """The general path's parameter text, computed on validated text (``;a=1;b``).

    Handles the common request: an empty ``rport`` (RFC 3581 §4: then ``received`` is
    always added) and no ``received`` yet. Returns :data:`_NO_RPORT` when there is no
    ``rport`` at all (the caller then compares addresses), None for any other shape
    (an ``rport`` with a value, a ``received`` already there, a name that merely
    starts with ``rport``): the general path decides those. Only the first ``rport``
    is filled, as :meth:`Params.with_param` does.
    """
    low = ptext.lower()
    if ";received" in low:
        return None
    i = low.find(";rport")
    if i < 0:
        return _NO_RPORT
    end = i + 6
    if end != len(low) and low[end] != ";":
        return None
    # rport filled in place (keeping its spelling), received appended (§18.2.1).
    return f"{ptext[:end]}={source_port}{ptext[end:]};received={received}"


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
    rport = top.rport  # read once: each read searches the parameters
    if rport is not None:
        port = rport
    else:
        port = top.port if top.port is not None else default_port(transport)
    reliable = transport in _RELIABLE
    received = top.received
    maddr = None if reliable else top.maddr
    if maddr is not None:
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
