"""The proxy hot path's shortcuts give exactly what the general code gives.

Each fast path (issue 6) is checked against a reference built from the general rules on
the same inputs, odd ones included: compact and folded headers, IPv6, no ``rport``, an
``rport`` with a value or in capitals, a parameter that only starts with ``rport``, a
``received`` already there, several Vias, Route sets, maddr.
"""

from __future__ import annotations

import pytest

from sipwright import Request, Response, parse, response_target, stamp_received
from sipwright._netaddr import ip_of
from sipwright.headers import Via
from sipwright.headers.via import parse_via
from sipwright.proxy import destination_of, record_route_value
from sipwright.proxy.forward import _destination_of
from sipwright.uri import parse_uri

TOP_VIAS = [
    "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-1;rport",
    "SIP/2.0/UDP 127.0.0.1:6001;rport;branch=z9hG4bK-2",
    "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-3;RPort",
    "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-4",
    "SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-5",
    "SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-6;rport=1234",
    "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-7;rportx",
    "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-8;rportx;rport",
    "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-9;rport;rport",
    "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-10;received=1.2.3.4;rport",
    "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-11;Received=1.2.3.4",
    "SIP/2.0/UDP host.example.com;branch=z9hG4bK-12",
    "SIP/2.0/UDP host.example.com:5062;branch=z9hG4bK-13;rport",
    "SIP/2.0/TCP [::1]:6001;branch=z9hG4bK-14;rport",
    "SIP/2.0/udp [2001:db8::1];branch=z9hG4bK-15",
    "SIP/2.0/UDP 127.0.0.1:06001;branch=z9hG4bK-16;rport",
    "SIP / 2.0 / UDP 127.0.0.1 : 6001 ;branch=z9hG4bK-17 ; rport",
    'SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-18;x="a;rport";rport',
    "SIP/2.0/UDP 127.0.0.1:6001;rport;branch=z9hG4bK-19;maddr=10.1.1.1;ttl=3",
    "SIP/2.0/UDP 127.0.0.1:6001",
    "SIP/2.0/UDP 127.0.0.1:6001;rport",
]
SOURCES = [("127.0.0.1", 6001), ("10.0.0.9", 5070), ("::1", 7000), ("0:0::1", 7001)]


def reference_stamp(top: Via, host: str, port: int) -> str | None:
    """§18.2.1 and RFC 3581 §4 by ``Via.with_param``, what stamp_received documents."""
    source_ip = ip_of(host)
    received = str(source_ip) if source_ip is not None else host
    sent_by_ip = ip_of(top.host)
    wants_rport = top.has_rport and top.rport is None
    if not (wants_rport or sent_by_ip is None or sent_by_ip != source_ip):
        return None
    via = top.with_param("received", received)
    if wants_rport:
        via = via.with_param("rport", str(port))
    return str(via)


def wire_request(top_via: str, *, compact: bool, folded: bool) -> bytes:
    via_name = "v" if compact else "Via"
    second = "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKsecond;received=192.0.2.8"
    if folded:
        via_lines = f"{via_name}: {top_via},\r\n {second}\r\n"
    else:
        via_lines = f"{via_name}: {top_via}\r\n{via_name}: {second}\r\n"
    return (
        f"INVITE sip:bob@127.0.0.1:6002 SIP/2.0\r\n{via_lines}"
        "Route: <sip:127.0.0.1:5060;lr>, <sip:10.0.0.1;lr>\r\n"
        "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
        "Call-ID: fast-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.mark.parametrize("top_via", TOP_VIAS)
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("compact", "folded"), [(False, False), (True, False), (False, True)])
def test_stamp_received_matches_the_general_rule(
    top_via: str, source: tuple[str, int], compact: bool, folded: bool
) -> None:
    request = parse(wire_request(top_via, compact=compact, folded=folded))
    assert isinstance(request, Request)
    vias = list(request.via)
    expected = reference_stamp(vias[0], *source)
    changed = stamp_received(request, *source)
    assert changed is (expected is not None)
    after = request.via
    assert after[1:] == vias[1:]
    assert str(after[1]) == str(vias[1])
    if expected is None:
        assert after[0] is vias[0]
        return
    assert str(after[0]) == expected
    # The typed cache holds what a parse of the new text gives, and the wire says it too.
    fresh = parse_via(expected)
    assert after[0] == fresh
    assert after[0].branch == fresh.branch and after[0].rport == fresh.rport
    assert after[0].received == fresh.received
    again = parse(bytes(request))
    assert [str(v) for v in again.via] == [str(v) for v in after]
    assert request.headers.getall("Route") == ["<sip:127.0.0.1:5060;lr>", "<sip:10.0.0.1;lr>"]


def test_stamp_received_without_a_via_changes_nothing() -> None:
    request = Request("OPTIONS", "sip:127.0.0.1", [("Max-Forwards", "70")])
    assert stamp_received(request, "127.0.0.1", 5060) is False


def reference_target(top: Via) -> tuple[str, int, str, bool, bool]:
    """§18.2.2 / RFC 3581 §4 as first written (each parameter read where it is used)."""
    transport = top.transport
    port = top.port if top.port is not None else (5061 if transport == "TLS" else 5060)
    if top.rport is not None:
        port = top.rport
    reliable = transport in ("TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS")
    if not reliable and top.maddr is not None:
        maddr = top.maddr
        default = top.port if top.port is not None else (5061 if transport == "TLS" else 5060)
        return (maddr, default, transport, False, ip_of(maddr) is None)
    host = (top.received if top.received is not None else top.host).strip("[]")
    return (host, port, transport, reliable, ip_of(host) is None)


@pytest.mark.parametrize(
    "top_via",
    [
        *TOP_VIAS,
        "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-20;rport=7000;received=10.9.9.9",
        "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-21;maddr=10.1.1.1;rport=7000",
        "SIP/2.0/TCP 127.0.0.1:6001;branch=z9hG4bK-22;maddr=10.1.1.1;rport=7000",
        "SIP/2.0/TLS host.example.com;branch=z9hG4bK-23;received=[2001:db8::9]",
        "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-24;rport=70a0",
        "SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-25;maddr=relay.example.com",
    ],
)
def test_response_target_matches_the_general_rule(top_via: str) -> None:
    wire = (
        f"SIP/2.0 180 Ringing\r\nVia: {top_via}\r\n"
        "Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKsecond\r\n"
        "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
        "Call-ID: fast-2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    response = parse(wire)
    assert isinstance(response, Response)
    t = response_target(response)
    got = (t.host, t.port, t.transport, t.same_connection, t.needs_resolution)
    assert got == reference_target(response.via[0])


URIS = [
    "sip:127.0.0.1:6002;transport=UDP",
    "sip:bob@127.0.0.1:6002",
    "sip:[::1]:5070;transport=tcp",
    "sips:10.0.0.1",
    "sip:example.com",
    "sip:example.com;maddr=10.0.0.3;transport=tls",
    "sip:10.0.0.2;transport=ws",
    "tel:+15551234",
]


def test_destination_of_remembered_answer_matches() -> None:
    uris = [parse_uri(u) for u in URIS]
    # Alternate and repeat, with both default transports, so every question follows
    # both a different one and itself.
    for transport in ("UDP", "TCP"):
        for uri in uris + uris[::-1]:
            for _ in range(2):
                assert destination_of(uri, transport) == _destination_of(uri, transport)
    # Equal text, different objects: each gets its own (equal) answer.
    a, b = parse_uri(URIS[0]), parse_uri(URIS[0])
    assert destination_of(a) == destination_of(b) == _destination_of(a, "UDP")


@pytest.mark.parametrize(
    ("host", "port", "transport", "expected"),
    [
        ("127.0.0.1", 5060, "UDP", "<sip:127.0.0.1:5060;lr>"),
        ("127.0.0.1", 5061, "tls", "<sip:127.0.0.1:5061;transport=tls;lr>"),
        ("::1", 5060, "TCP", "<sip:[::1]:5060;transport=tcp;lr>"),
        ("[::1]", 5060, "UDP", "<sip:[::1]:5060;lr>"),
    ],
)
def test_record_route_value_cached_is_the_same(
    host: str, port: int, transport: str, expected: str
) -> None:
    assert record_route_value(host, port, transport) == expected
    assert record_route_value(host, port, transport) == expected


def reference_loop_hash(request: Request) -> str:
    """The loop hash as first written: the parts joined with NUL (§16.6 step 8)."""
    import hashlib

    to, frm, cseq = request.to, request.from_, request.cseq
    parts = (
        (to.tag or "") if to is not None else "",
        (frm.tag or "") if frm is not None else "",
        request.call_id or "",
        request.uri_text,
        str(cseq.number) if cseq is not None else "",
        ",".join(request.headers.getall("Proxy-Require")),
        ",".join(request.headers.getall("Proxy-Authorization")),
    )
    h = hashlib.blake2s(digest_size=8)
    h.update("\x00".join(parts).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


LOOP_EXTRAS = [
    "",
    "Proxy-Require: foo, bar\r\n",
    "Proxy-Require: foo\r\nProxy-Require: baz\r\n",
    'Proxy-Authorization: Digest username="a", realm="r"\r\n'
    'Proxy-Authorization: Digest username="b", realm="s"\r\n',
    "Proxy-Require: x\r\n  ,y\r\n",
]


@pytest.mark.parametrize("extra", LOOP_EXTRAS)
@pytest.mark.parametrize(
    ("to", "frm"),
    [
        ("<sip:bob@example.com>", "<sip:a@example.com>;tag=1"),
        ("<sip:bob@example.com>;tag=t2", "<sip:a@example.com>;tag=\u00e9t\u00e9"),
        ("sip:bob@example.com", "<sip:a@example.com>"),
    ],
)
def test_loop_hash_is_unchanged(extra: str, to: str, frm: str) -> None:
    from sipwright.proxy import loop_hash, stateless_branch

    wire = (
        "BYE sip:bob@[2001:db8::2]:5070;transport=tcp SIP/2.0\r\n"
        "v: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-lh;rport\r\n"
        f"t: {to}\r\nf: {frm}\r\ni: lh-1@127.0.0.1\r\nCSeq: 0042 BYE\r\n{extra}"
        "Max-Forwards: 70\r\nl: 0\r\n\r\n"
    ).encode()
    request = parse(wire)
    assert isinstance(request, Request)
    assert loop_hash(request) == reference_loop_hash(request)
    branch = stateless_branch(request)
    assert branch.startswith("z9hG4bKsw" + reference_loop_hash(request) + ".")
    assert stateless_branch(parse(wire)) == branch  # deterministic (§16.11)


def test_context_with_one_target_orders_like_many() -> None:
    from sipwright.proxy import ResponseContext, StartBranch, Target

    request = parse(wire_request(TOP_VIAS[0], compact=False, folded=False))
    assert isinstance(request, Request)
    one = ResponseContext(request, [Target(request.uri, q=0.3)])
    one.start(0.0)
    action = one.next_action()
    assert isinstance(action, StartBranch) and action.branch.target.q == 0.3
    assert one.next_action() is None and not one.done
    one.receive(action.branch, request.make_response(486), 1.0)
    assert one.done


def test_destination_of_shares_equal_destinations_and_stays_bounded() -> None:
    from sipwright.proxy import forward
    from sipwright.transaction import Destination

    first = destination_of(parse_uri("sip:10.0.0.1:5070;transport=tcp"))
    again = destination_of(parse_uri("sip:10.0.0.1:5070;transport=TCP"))
    assert first == again == Destination("10.0.0.1", 5070, "TCP")
    for i in range(1100):
        dest = destination_of(parse_uri(f"sip:10.1.{i // 250}.{i % 250}:{5000 + i}"))
        assert dest == Destination(f"10.1.{i // 250}.{i % 250}", 5000 + i, "UDP")
    assert len(forward._destinations) <= 1024
