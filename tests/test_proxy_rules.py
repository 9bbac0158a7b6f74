"""The sans-I/O proxy rules (RFC 3261 §16.3, §16.4, §16.6): validation, routes, forwarding."""

from __future__ import annotations

from sipwright import Request, parse
from sipwright.proxy import (
    LocalIdentity,
    destination_of,
    detect_loop,
    flow_connection,
    forward_request,
    loop_hash,
    make_branch,
    next_hop_uri,
    preprocess_routes,
    record_route_value,
    stateless_branch,
    targets_of,
    validate_request,
)
from sipwright.registrar import Binding, Flow
from sipwright.transaction import Destination
from sipwright.uri import parse_uri

PROXY = LocalIdentity(["example.com", "10.0.0.1"], [("10.0.0.1", 5060), ("10.0.0.1", 5070)])


def invite(*extra: str, uri: str = "sip:bob@example.com", via: str | None = None) -> Request:
    lines = [
        f"INVITE {uri} SIP/2.0",
        via or "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcaller1",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=a1",
        "To: <sip:bob@example.com>",
        "Call-ID: c1@192.0.2.1",
        "CSeq: 1 INVITE",
        "Contact: <sip:alice@192.0.2.1>",
        *extra,
        "Content-Type: application/sdp",
        "",
        "v=0\r\n",
    ]
    msg = parse("\r\n".join(lines).encode())
    assert isinstance(msg, Request)
    return msg


def our_via(via: object) -> bool:
    return PROXY.is_our_address(via.host, via.port, via.transport)  # type: ignore[attr-defined]


# -- §16.3 validation ----------------------------------------------------------------


def test_valid_request_passes() -> None:
    assert validate_request(invite()) is None


def test_missing_call_id_is_400_naming_it() -> None:
    req = invite()
    req.headers.remove("Call-ID")
    resp = validate_request(req)
    assert resp is not None and resp.status_code == 400 and "Call-ID" in resp.reason


def test_bad_max_forwards_is_400() -> None:
    req = invite()
    req.headers.set("Max-Forwards", "lots")
    resp = validate_request(req)
    assert resp is not None and resp.status_code == 400


def test_cseq_method_mismatch_is_400() -> None:
    req = invite()
    req.headers.set("CSeq", "1 BYE")
    resp = validate_request(req)
    assert resp is not None and resp.status_code == 400


def test_tel_uri_is_416() -> None:
    resp = validate_request(invite(uri="tel:+15551234"))
    assert resp is not None and resp.status_code == 416


def test_max_forwards_zero_is_483() -> None:
    req = invite()
    req.headers.set("Max-Forwards", "0")
    resp = validate_request(req)
    assert resp is not None and resp.status_code == 483


def test_options_to_us_with_max_forwards_zero_passes() -> None:
    raw = invite().headers.copy()
    req = Request("OPTIONS", "sip:example.com", raw)
    req.headers.set("CSeq", "1 OPTIONS")
    req.headers.set("Max-Forwards", "0")
    assert validate_request(req, options_to_us=True) is None
    resp = validate_request(req)
    assert resp is not None and resp.status_code == 483


def test_unknown_proxy_require_is_420_with_unsupported() -> None:
    resp = validate_request(invite("Proxy-Require: foo, bar"))
    assert resp is not None and resp.status_code == 420
    assert resp.headers.getall("Unsupported") == ["foo", "bar"]


def test_supported_proxy_require_passes() -> None:
    assert validate_request(invite("Proxy-Require: foo"), supported=frozenset({"foo"})) is None


# -- §16.3 step 4 loops -----------------------------------------------------------------


def _forwarded_back(req: Request, new_uri: str | None = None) -> Request:
    via = f"SIP/2.0/UDP 10.0.0.1:5060;branch={make_branch(loop_hash(req), 'x1')}"
    fwd = forward_request(req, via=via)
    # The next hop sends it back to us, adding its own Via on top.
    fwd.headers.prepend("Via", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKother")
    if new_uri is not None:
        fwd.uri = new_uri
    return parse(bytes(fwd))  # type: ignore[return-value]


def test_request_coming_back_unchanged_is_a_loop() -> None:
    req = invite()
    assert not detect_loop(req, our_via)
    assert detect_loop(_forwarded_back(req), our_via)


def test_request_coming_back_retargeted_is_a_spiral() -> None:
    assert not detect_loop(_forwarded_back(invite(), "sip:carol@example.com"), our_via)


def test_foreign_via_with_our_hash_is_no_loop() -> None:
    req = invite()
    branch = make_branch(loop_hash(req), "y")
    req.headers.prepend("Via", f"SIP/2.0/UDP 10.9.9.9:5060;branch={branch}")
    assert not detect_loop(req, our_via)


def test_loop_hash_ignores_top_via_but_not_cseq() -> None:
    a = invite()
    b = invite(via="Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKdifferent")
    assert loop_hash(a) == loop_hash(b)
    c = invite()
    c.headers.set("CSeq", "2 INVITE")
    assert loop_hash(a) != loop_hash(c)


def test_stateless_branch_is_deterministic() -> None:
    a, b = invite(), invite()
    assert stateless_branch(a) == stateless_branch(b)
    assert stateless_branch(a).startswith("z9hG4bK")
    c = invite(via="Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcaller2")
    assert stateless_branch(a) != stateless_branch(c)


# -- local identity ---------------------------------------------------------------------


def test_local_identity() -> None:
    assert PROXY.is_local_domain(parse_uri("sip:bob@EXAMPLE.com:5099"))
    assert PROXY.is_local_domain(parse_uri("sip:bob@10.0.0.1"))
    assert PROXY.is_local_domain(parse_uri("sip:bob@10.0.0.1:5070"))
    # Another element on the same host (a UA's contact) is not our domain.
    assert not PROXY.is_local_domain(parse_uri("sip:bob@10.0.0.1:5072"))
    assert not PROXY.is_local_domain(parse_uri("sip:bob@example.org"))
    assert PROXY.is_this_proxy(parse_uri("sip:10.0.0.1:5070;lr"))
    assert PROXY.is_this_proxy(parse_uri("sip:example.com;lr"))
    assert not PROXY.is_this_proxy(parse_uri("sip:10.0.0.2;lr"))
    assert not PROXY.is_this_proxy(parse_uri("tel:+1555"))


# -- §16.4 route pre-processing -----------------------------------------------------------


def test_our_route_is_removed() -> None:
    req = invite("Route: <sip:10.0.0.1:5060;lr>, <sip:192.0.2.50;lr>")
    assert preprocess_routes(req, PROXY) == 1
    assert req.headers.getall("Route") == ["<sip:192.0.2.50;lr>"]
    assert str(next_hop_uri(req)) == "sip:192.0.2.50;lr"


def test_double_record_route_both_removed() -> None:
    req = invite("Route: <sip:10.0.0.1:5060;lr>", "Route: <sip:10.0.0.1:5070;transport=tcp;lr>")
    assert preprocess_routes(req, PROXY) == 2
    assert "Route" not in req.headers
    assert next_hop_uri(req) == req.uri


def test_foreign_route_is_kept() -> None:
    req = invite("Route: <sip:192.0.2.50;lr>")
    assert preprocess_routes(req, PROXY) == 0
    assert req.headers.getall("Route") == ["<sip:192.0.2.50;lr>"]


def test_strict_router_upstream_restores_request_uri() -> None:
    # An RFC 2543 router put our Record-Route URI in the Request-URI and the remote
    # target at the end of Route (§16.4, §16.12).
    req = invite("Route: <sip:bob@192.0.2.77:5062>", uri="sip:10.0.0.1:5060;lr")
    assert preprocess_routes(req, PROXY) == 1
    assert req.uri_text == "sip:bob@192.0.2.77:5062"
    assert "Route" not in req.headers


def test_register_to_us_with_preloaded_route_keeps_request_uri() -> None:
    req = invite("Route: <sip:10.0.0.1:5060;lr>", uri="sip:10.0.0.1:5060")
    preprocess_routes(req, PROXY)
    assert req.uri_text == "sip:10.0.0.1:5060"
    assert "Route" not in req.headers


# -- §16.6 forwarding ---------------------------------------------------------------------


def test_forward_copies_and_edits_the_copy_only() -> None:
    req = invite("Record-Route: <sip:192.0.2.60;lr>")
    before = bytes(req)
    fwd = forward_request(
        req,
        via="SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKswabc.1",
        target=parse_uri("sip:bob@192.0.2.2:5080"),
        record_route=["<sip:10.0.0.1:5070;transport=tcp;lr>", "<sip:10.0.0.1:5060;lr>"],
    )
    assert bytes(req) == before
    assert fwd.uri_text == "sip:bob@192.0.2.2:5080"
    assert fwd.max_forwards == 69
    assert [v.branch for v in fwd.via] == ["z9hG4bKswabc.1", "z9hG4bKcaller1"]
    assert fwd.headers.getall("Record-Route") == [
        "<sip:10.0.0.1:5070;transport=tcp;lr>",
        "<sip:10.0.0.1:5060;lr>",
        "<sip:192.0.2.60;lr>",
    ]
    assert fwd.body == req.body
    again = parse(bytes(fwd))
    assert isinstance(again, Request) and again.max_forwards == 69


def test_forward_adds_max_forwards_when_missing() -> None:
    req = invite()
    req.headers.remove("Max-Forwards")
    fwd = forward_request(req, via="SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx")
    assert fwd.max_forwards == 70


def test_path_becomes_route() -> None:
    req = invite()
    fwd = forward_request(
        req,
        via="SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx",
        target=parse_uri("sip:bob@192.0.2.2"),
        path=("<sip:edge1.example.net;lr>", "<sip:192.0.2.30;lr>"),
    )
    assert fwd.headers.getall("Route") == ["<sip:edge1.example.net;lr>", "<sip:192.0.2.30;lr>"]
    assert str(next_hop_uri(fwd)) == "sip:edge1.example.net;lr"


def test_strict_router_next_hop() -> None:
    req = invite("Route: <sip:192.0.2.40>, <sip:192.0.2.41;lr>")
    fwd = forward_request(req, via="SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx")
    assert fwd.uri_text == "sip:192.0.2.40"
    assert fwd.headers.getall("Route") == ["<sip:192.0.2.41;lr>", "<sip:bob@example.com>"]


def test_record_route_value() -> None:
    assert record_route_value("10.0.0.1", 5060, "UDP") == "<sip:10.0.0.1:5060;lr>"
    assert record_route_value("::1", 5070, "tcp") == "<sip:[::1]:5070;transport=tcp;lr>"


def test_destination_of() -> None:
    assert destination_of(parse_uri("sip:bob@192.0.2.2")) == Destination("192.0.2.2", 5060)
    assert destination_of(parse_uri("sip:192.0.2.2:5070;transport=tcp")) == Destination(
        "192.0.2.2", 5070, "TCP"
    )
    assert destination_of(parse_uri("sips:bob@192.0.2.2")) == Destination("192.0.2.2", 5061, "TLS")
    assert destination_of(parse_uri("sip:bob@[::1]:5080")) == Destination("::1", 5080)
    assert destination_of(parse_uri("sip:bob@example.com")) is None
    assert destination_of(parse_uri("tel:+15551234")) is None


# -- §16.5 targets from bindings ---------------------------------------------------------


def _binding(contact: str, **kw: object) -> Binding:
    return Binding("sip:bob@example.com", contact, 2e9, "c", 1, **kw)  # type: ignore[arg-type]


def test_targets_of_bindings() -> None:
    bindings = [
        _binding("sip:bob@192.0.2.5:5070", q=0.5),
        _binding(
            "sip:bob@10.1.1.1;transport=tcp",
            path=("<sip:edge.example.net;lr>",),
            flow=Flow("TCP", "198.51.100.7", 40001, flow_connection("w1", 12)),
        ),
        _binding("not a uri at all"),
        _binding("sip:bob@192.0.2.9", flow=Flow("TCP", "198.51.100.8", 40002, "w2/3")),
    ]
    t1, t2, t3 = targets_of(bindings, process="w1")
    assert (str(t1.uri), t1.q, t1.destination, t1.path) == ("sip:bob@192.0.2.5:5070", 0.5, None, ())
    # The flow overrides the contact's address (RFC 5626 §5.3); Path becomes Route.
    assert t2.q == 1.0 and t2.path == ("<sip:edge.example.net;lr>",)
    assert t2.destination == Destination("198.51.100.7", 40001, "TCP")
    assert t2.connection == 12
    # Another process's connection is not ours to use: its address is.
    assert t3.connection is None and t3.destination == Destination("198.51.100.8", 40002, "TCP")
    assert flow_connection("w1", None) is None


def test_maddr_naming_us_is_stripped() -> None:
    req = invite(uri="sip:bob@example.org:5090;maddr=10.0.0.1;transport=udp")
    preprocess_routes(req, PROXY)
    assert req.uri_text == "sip:bob@example.org"
    other = invite(uri="sip:bob@example.org;maddr=192.0.2.99")
    preprocess_routes(other, PROXY)
    assert other.uri_text == "sip:bob@example.org;maddr=192.0.2.99"


def test_repeated_single_value_header_is_400() -> None:
    resp = validate_request(invite("CSeq: 59 INVITE"))
    assert resp is not None and resp.status_code == 400 and "CSeq" in resp.reason
    resp = validate_request(invite("Call-ID: other"))
    assert resp is not None and resp.status_code == 400 and "Call-ID" in resp.reason
