"""Tests of the server-transport rules: ``stamp_received`` and ``response_target``.

RFC 3261 §18.2.1 (a server adds ``received`` to the top Via when the sent-by host is a
name or differs from the packet's source), RFC 3581 §4 (fill in an empty ``rport`` and
always add ``received``), RFC 3261 §18.2.2 / RFC 3581 §4 (where a response is sent),
RFC 5118 §4.5 (IPv6 in ``received``).
"""

from __future__ import annotations

import pytest

from sipwright import ParseError, Request, Response, parse, response_target, stamp_received
from sipwright.server_transport import ResponseTarget, default_port

SECOND_VIA = "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKsecond"


def request(top_via: str) -> Request:
    return Request(
        "INVITE",
        "sip:bob@biloxi.example.com",
        [("Via", f"{top_via}, {SECOND_VIA}"), ("Max-Forwards", "70")],
    )


def response(top_via: str) -> Response:
    return Response(200, "OK", [("Via", top_via), ("Via", SECOND_VIA)])


# ---------------------------------------------------------------------------
# stamp_received (§18.2.1, RFC 3581)
# ---------------------------------------------------------------------------


def test_domain_sent_by_gets_received() -> None:
    """§18.2.1: a sent-by that is a domain name always gets ``received``."""
    req = request("SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1")
    assert stamp_received(req, "192.0.2.4", 5060) is True
    assert req.headers.getall("via") == [
        "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1;received=192.0.2.4",
        SECOND_VIA,
    ]
    assert req.via[0].received == "192.0.2.4"


def test_same_ip_is_left_unchanged() -> None:
    """§18.2.1: sent-by equal to the source address needs no ``received``."""
    req = request("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1")
    before = bytes(req)
    assert stamp_received(req, "192.0.2.4", 5060) is False
    assert bytes(req) == before
    assert req.via[0].received is None


def test_different_ip_gets_received() -> None:
    """§18.2.1: a NAT in the path: sent-by 10.0.0.1 but the packet came from 192.0.2.9."""
    req = request("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1")
    assert stamp_received(req, "192.0.2.9", 3456) is True
    top = req.via[0]
    assert top.received == "192.0.2.9"
    assert top.rport is None and not top.has_rport
    assert (top.host, top.port, top.branch) == ("10.0.0.1", 5060, "z9hG4bK1")


def test_ipv6_source() -> None:
    """RFC 5118 §4.5: ``received`` holds the IPv6 address (grammar form, no brackets);
    a bracketed sent-by equal to the source is left unchanged."""
    req = request("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1")
    assert stamp_received(req, "2001:db8::1", 5060) is False
    assert stamp_received(req, "2001:DB8:0::2", 5060) is True
    assert req.via[0].received == "2001:db8::2"
    named = request("SIP/2.0/TCP host.example.com;branch=z9hG4bK1")
    assert stamp_received(named, "2001:db8::7", 5060) is True
    assert named.via[0].received == "2001:db8::7"


def test_empty_rport_is_filled_and_received_added_even_if_ip_matches() -> None:
    """RFC 3581 §4: an empty rport gets the source port; received is added regardless."""
    req = request("SIP/2.0/UDP 192.0.2.4:5060;rport;branch=z9hG4bK1")
    assert stamp_received(req, "192.0.2.4", 40000) is True
    top = req.via[0]
    assert top.rport == 40000
    assert top.received == "192.0.2.4"
    assert top.branch == "z9hG4bK1"
    assert req.headers.getall("via")[0] == (
        "SIP/2.0/UDP 192.0.2.4:5060;rport=40000;branch=z9hG4bK1;received=192.0.2.4"
    )
    assert req.headers.getall("via")[1] == SECOND_VIA


def test_filled_rport_is_not_changed() -> None:
    """RFC 3581 §4: only an *empty* rport asks to be filled in."""
    req = request("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1;rport=1234")
    assert stamp_received(req, "192.0.2.4", 40000) is False
    assert req.via[0].rport == 1234


def test_only_the_top_via_is_stamped() -> None:
    """§18.2.1: the receiving server examines the topmost Via only."""
    req = request("SIP/2.0/UDP a.example.com;branch=z9hG4bK1")
    stamp_received(req, "192.0.2.4", 5060)
    assert [v.received for v in req.via] == ["192.0.2.4", None]


def test_stamped_request_serialises_and_reparses() -> None:
    """The stamped Via goes out on the wire and reads back the same."""
    data = (
        b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP pc33.example.com;rport;branch=z9hG4bK1\r\n"
        b"Max-Forwards: 70\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    req = parse(data)
    assert isinstance(req, Request)
    assert stamp_received(req, "192.0.2.4", 5070)
    again = parse(bytes(req))
    assert (again.via[0].received, again.via[0].rport) == ("192.0.2.4", 5070)
    assert again.max_forwards == 70


def test_request_without_via() -> None:
    assert stamp_received(Request("OPTIONS", "sip:a@example.com"), "192.0.2.4", 5060) is False


# ---------------------------------------------------------------------------
# response_target (§18.2.2, RFC 3581 §4)
# ---------------------------------------------------------------------------


def test_reliable_transport_uses_the_same_connection() -> None:
    """§18.2.2: over TCP/TLS/SCTP the response goes back over the request's connection."""
    for transport in ("TCP", "TLS", "SCTP", "WS", "WSS"):
        target = response_target(
            response(f"SIP/2.0/{transport} h.example.com:5070;branch=z9hG4bK1;received=192.0.2.1")
        )
        assert target.same_connection is True, transport
        assert (target.host, target.port) == ("192.0.2.1", 5070)


def test_maddr_on_unreliable_transport() -> None:
    """§18.2.2: with maddr, send there, on the sent-by port or 5060."""
    target = response_target(
        response("SIP/2.0/UDP h.example.com;branch=z9hG4bK1;maddr=239.255.255.1;ttl=1")
    )
    assert target == ResponseTarget("239.255.255.1", 5060, "UDP", False, False)
    named = response_target(
        response("SIP/2.0/UDP h.example.com:5070;branch=z9hG4bK1;maddr=mc.example.com")
    )
    assert (named.host, named.port, named.needs_resolution) == ("mc.example.com", 5070, True)


def test_received_and_rport() -> None:
    """RFC 3581 §4: with received and a filled rport, send to received:rport."""
    target = response_target(
        response("SIP/2.0/UDP h.example.com:5070;branch=z9hG4bK1;received=192.0.2.1;rport=4000")
    )
    assert target == ResponseTarget("192.0.2.1", 4000, "UDP", False, False)


def test_received_without_rport_uses_sent_by_port() -> None:
    """§18.2.2: with received only, send to received on the sent-by port, or 5060."""
    with_port = response_target(
        response("SIP/2.0/UDP h.example.com:5070;branch=z9hG4bK1;received=192.0.2.1")
    )
    assert (with_port.host, with_port.port) == ("192.0.2.1", 5070)
    without = response_target(
        response("SIP/2.0/UDP h.example.com;branch=z9hG4bK1;received=192.0.2.1")
    )
    assert (without.host, without.port) == ("192.0.2.1", 5060)


def test_received_ipv6_bracketed_or_not() -> None:
    """RFC 5118 §4.5: received with or without brackets names the same address."""
    for received in ("[2001:db8::9]", "2001:db8::9"):
        target = response_target(
            response(f"SIP/2.0/UDP h.example.com;branch=z9hG4bK1;received={received};rport=7")
        )
        assert (target.host, target.port, target.needs_resolution) == ("2001:db8::9", 7, False)


@pytest.mark.parametrize(
    ("transport", "port"),
    [("UDP", 5060), ("TCP", 5060), ("SCTP", 5060), ("TLS", 5061), ("TLS-SCTP", 5061)],
)
def test_default_ports(transport: str, port: int) -> None:
    """§18.2.2 (RFC 3261 §18: 5060 for UDP/TCP/SCTP, 5061 for TLS)."""
    assert default_port(transport) == port
    target = response_target(response(f"SIP/2.0/{transport} h.example.com;branch=z9hG4bK1"))
    assert target.port == port


def test_domain_sent_by_needs_resolution() -> None:
    """§18.2.2 / RFC 3263 §5: a name in sent-by must be resolved; an address need not."""
    named = response_target(response("SIP/2.0/UDP h.example.com;branch=z9hG4bK1"))
    assert named == ResponseTarget("h.example.com", 5060, "UDP", False, True)
    literal = response_target(response("SIP/2.0/UDP [2001:db8::9]:5080;branch=z9hG4bK1"))
    assert literal == ResponseTarget("2001:db8::9", 5080, "UDP", False, False)


def test_response_without_via_is_an_error() -> None:
    """§18.2.2: without a Via there is nowhere to send the response."""
    with pytest.raises(ParseError):
        response_target(Response(200))
