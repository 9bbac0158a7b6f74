"""The minimal UA core for INVITE sessions, until the dialog layer lands.

This is *not* a dialog layer (RFC 3261 §12). It is the part of the UA core that the
transport and transaction layers need so that an INVITE can complete over UDP:

* building the ACK of a 2xx (§13.2.2.4) and an in-dialog BYE (§15.1.1) from the INVITE
  and its 2xx: Request-URI = the 2xx's Contact, Route = its Record-Route reversed
  (§12.1.2), To with the remote tag, the INVITE's From and Call-ID;
* choosing the next hop for such a request: the first Route entry when there is a route
  set, else the remote target; an IP literal there is used as is, anything else (a name
  this core does not resolve) falls back to the INVITE's destination;
* :func:`place_call`, behind :meth:`sipwright.aio.endpoint.Endpoint.call`: INVITE with an
  SDP offer, the ACK (sent by the endpoint itself), an optional pause, BYE and its 200.

The endpoint retransmits the 2xx it sends to an INVITE and re-sends the ACK for each
retransmitted 2xx it receives (§13.3.1.4, §13.2.2.4); see ``endpoint.py``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._netaddr import ip_of
from ..message import Request, Response
from ..transaction import Destination
from ..uri import SipUri, Uri

if TYPE_CHECKING:
    from .endpoint import Endpoint

__all__ = [
    "CallResult",
    "build_in_dialog_request",
    "default_sdp_offer",
    "literal_hop",
    "next_hop",
    "place_call",
]

#: Default ports by transport (RFC 3261 §19.1.2, RFC 7118 §4 for WS/WSS); others 5060.
_DEFAULT_PORTS = {"TLS": 5061, "WSS": 443, "WS": 80}


def literal_hop(uri: SipUri, default_transport: str) -> Destination | None:
    """The hop an IP-literal SIP URI names: its host, its port or the transport's default,
    its ``transport`` parameter (``sips:`` → TLS, else ``default_transport``). None for a
    host name: this layer does no DNS (RFC 3263)."""
    host = uri.bare_host
    if ip_of(host) is None:
        return None
    transport = (uri.transport or ("TLS" if uri.scheme == "sips" else default_transport)).upper()
    return Destination(host, uri.port or _DEFAULT_PORTS.get(transport, 5060), transport)


def default_sdp_offer(host: str = "127.0.0.1", port: int = 6000) -> bytes:
    """A minimal valid RFC 4566 offer: one PCMU/PCMA audio stream, sendrecv."""
    family = "IP6" if ":" in host else "IP4"
    session = int(time.time())
    return (
        "v=0\r\n"
        f"o=sipwright {session} {session} IN {family} {host}\r\n"
        "s=-\r\n"
        f"c=IN {family} {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 8 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=sendrecv\r\n"
    ).encode("ascii")


def next_hop(uri: Uri, fallback: Destination) -> Destination:
    """Where to send a request whose next hop is ``uri`` (no DNS here).

    An IP-literal SIP URI gives host, port (default 5060, 5061 for TLS) and transport
    (its ``transport`` parameter, else ``fallback``'s). Anything else — a host name, a
    non-SIP URI — falls back to ``fallback`` (the INVITE's destination).
    """
    hop = literal_hop(uri, fallback.transport) if isinstance(uri, SipUri) else None
    if hop is None or (hop.host, hop.port, hop.transport) == (
        fallback.host,
        fallback.port,
        fallback.transport,
    ):
        return fallback
    return hop


def build_in_dialog_request(
    method: str,
    invite: Request,
    response: Response,
    cseq: int,
    destination: Destination,
    *,
    via: str | None = None,
) -> tuple[Request, Destination]:
    """Build ``method`` within the dialog the 2xx ``response`` to ``invite`` created.

    Returns the request and its next hop. Request-URI and Route follow §12.2.1.1 with
    the route set from the 2xx's Record-Route reversed (§12.1.2); a strict router first
    in the set (no ``lr``) gets the Request-URI and the remote target goes last. ``via``,
    when given, becomes the top Via (an ACK is sent statelessly and needs its own).
    """
    contacts = response.contact
    target: Uri = contacts[0].uri if contacts else invite.uri
    route_set = list(reversed(response.record_route))
    routes = [str(r) for r in route_set]
    ruri: Uri = target
    hop_uri: Uri = target
    if route_set:
        first = route_set[0].uri
        hop_uri = first
        if isinstance(first, SipUri) and not first.lr:
            ruri = first
            routes = [*routes[1:], f"<{target}>"]
    headers: list[tuple[str, str]] = []
    if via is not None:
        headers.append(("Via", via))
    headers.append(("Max-Forwards", "70"))
    headers.extend(("Route", r) for r in routes)
    headers.append(("From", invite.headers.get("From") or ""))
    headers.append(("To", response.headers.get("To") or ""))
    headers.append(("Call-ID", invite.call_id or ""))
    headers.append(("CSeq", f"{cseq} {method}"))
    if method == "ACK":
        # §13.2.2.4: the ACK carries the INVITE's credentials.
        for name in ("Authorization", "Proxy-Authorization"):
            headers.extend((name, v) for v in invite.headers.getall(name))
    return Request(method, ruri, headers), next_hop(hop_uri, destination)


@dataclass(slots=True)
class CallResult:
    """What :func:`place_call` saw. ``ok``: the INVITE got a 2xx and the BYE a 2xx."""

    call_id: str
    invite_response: Response | None
    bye_response: Response | None = None
    #: Seconds from sending the INVITE to its final response.
    setup_time: float = 0.0
    #: Seconds from sending the INVITE to the BYE's final response (or to failure).
    total_time: float = 0.0
    error: str | None = None

    @property
    def status(self) -> int | None:
        """The INVITE's final status code (None when none came)."""
        return self.invite_response.status_code if self.invite_response is not None else None

    @property
    def ok(self) -> bool:
        return (
            self.invite_response is not None
            and 200 <= self.invite_response.status_code < 300
            and self.bye_response is not None
            and 200 <= self.bye_response.status_code < 300
        )


async def place_call(
    ep: Endpoint,
    uri: str | Uri,
    destination: Destination,
    *,
    sdp: bytes | None = None,
    duration: float = 0.0,
    from_uri: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> CallResult:
    """INVITE ``uri`` via ``destination``, ACK the 2xx, wait ``duration`` s, BYE.

    The ACK is sent by the endpoint as soon as the 2xx arrives (and again for each
    retransmitted 2xx). A non-2xx final response ends the call there (its ACK belongs
    to the INVITE transaction). Not bounded in time by itself: the transaction timers
    bound each step (64·T1), wrap it in :func:`asyncio.wait_for` for less.
    """
    local = await ep.local_for(destination)
    host = local.host if local is not None else "127.0.0.1"
    hostport = f"[{host}]" if ":" in host else host
    if local is not None and local.port:
        hostport += f":{local.port}"
    transport_param = (
        "" if destination.transport == "UDP" else f";transport={destination.transport}"
    )
    call_id = ep.ids.call_id()
    req_uri = uri if isinstance(uri, str) else str(uri)
    from_value = f"<{from_uri or f'sip:sipwright@{hostport}'}>;tag={ep.ids.tag()}"
    invite = Request(
        "INVITE",
        req_uri,
        [
            ("From", from_value),
            ("To", f"<{req_uri}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:sipwright@{hostport}{transport_param}>"),
            ("User-Agent", ep.user_agent),
            *headers,
        ],
        sdp if sdp is not None else default_sdp_offer(host),
        content_type="application/sdp",
    )
    start = time.monotonic()
    result = CallResult(call_id, None)
    resp = await ep.request(invite, destination)
    result.invite_response = resp
    result.setup_time = time.monotonic() - start
    if not 200 <= resp.status_code < 300:
        result.error = f"INVITE answered {resp.status_code} {resp.reason}"
        result.total_time = result.setup_time
        return result
    if duration > 0:
        await asyncio.sleep(duration)
    bye, hop = build_in_dialog_request("BYE", invite, resp, 2, destination)
    bye.headers.add("User-Agent", ep.user_agent)
    result.bye_response = await ep.request(bye, hop)
    result.total_time = time.monotonic() - start
    if not 200 <= result.bye_response.status_code < 300:
        code = result.bye_response.status_code
        result.error = f"BYE answered {code} {result.bye_response.reason}"
    return result
