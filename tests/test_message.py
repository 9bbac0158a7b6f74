"""Tests of building messages in code, ``make_response``, typed views and identifiers.

Serialisation: RFC 3261 §7 (CRLF, start line), §18.3 / §20.14 (Content-Length always
present and correct), §20.15 (a body needs a Content-Type). Responses: §8.2.6 (what a
UAS copies), §12.1.1 (Record-Route in dialog-creating responses). Identifiers: §8.1.1.4
(Call-ID), §8.1.1.7 (branch with magic cookie), §19.3 (tags).
"""

from __future__ import annotations

import re

import pytest

from sipwright import (
    BuildError,
    Headers,
    Request,
    Response,
    SequentialIdFactory,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    parse,
)
from sipwright.ids import SecretsIdFactory

TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\n"
    b"Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1,"
    b" SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK0;received=192.0.2.1\r\n"
    b"Max-Forwards: 68\r\n"
    b"Record-Route: <sip:p2.example.com;lr>\r\n"
    b"Record-Route: <sip:p1.example.com;lr>\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def invite() -> Request:
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    return msg


def request_with(method: str, to: str) -> Request:
    data = (
        INVITE.replace(b"INVITE sip:", method.encode() + b" sip:")
        .replace(b"314159 INVITE", b"2 " + method.encode())
        .replace(b"To: Bob <sip:bob@biloxi.example.com>", b"To: " + to.encode())
    )
    msg = parse(data)
    assert isinstance(msg, Request)
    return msg


# ---------------------------------------------------------------------------
# Building and serialising
# ---------------------------------------------------------------------------


def test_built_request_bytes_without_body() -> None:
    """§7 / §20.14: CRLF line ends, and Content-Length: 0 is written when there is no body."""
    req = Request(
        "OPTIONS",
        "sip:carol@chicago.example.com",
        [
            ("Via", "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877"),
            ("Max-Forwards", "70"),
            ("To", "<sip:carol@chicago.example.com>"),
            ("From", "Alice <sip:alice@atlanta.example.com>;tag=1928301774"),
            ("Call-ID", "a84b4c76e66710"),
            ("CSeq", "63104 OPTIONS"),
        ],
    )
    assert bytes(req) == (
        b"OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n"
        b"Max-Forwards: 70\r\n"
        b"To: <sip:carol@chicago.example.com>\r\n"
        b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
        b"Call-ID: a84b4c76e66710\r\n"
        b"CSeq: 63104 OPTIONS\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n"
    )


def test_built_request_with_body_computes_content_length() -> None:
    """§20.14 / §20.15: Content-Length counts body octets (UTF-8 here), Content-Type given."""
    body = "héllo\r\n".encode()
    req = Request(
        "MESSAGE",
        "sip:bob@example.com",
        [("Via", "SIP/2.0/TCP h.example.com;branch=z9hG4bK1")],
        body,
        content_type="text/plain;charset=utf-8",
    )
    assert bytes(req) == (
        b"MESSAGE sip:bob@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n"
        b"Content-Type: text/plain;charset=utf-8\r\n"
        b"Content-Length: 8\r\n"
        b"\r\n" + body
    )
    assert req.content_type == "text/plain"


def test_built_response_bytes() -> None:
    """§7.2 / §21: a default reason phrase comes from the status code."""
    assert bytes(Response(180)) == b"SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n"
    assert bytes(Response(599, "Custom")) == b"SIP/2.0 599 Custom\r\nContent-Length: 0\r\n\r\n"


def test_stale_content_length_is_corrected_on_output() -> None:
    """§20.14: the written Content-Length always equals the body actually sent."""
    resp = Response(200, "OK", [("Content-Length", "999"), ("Call-ID", "x")])
    assert bytes(resp) == b"SIP/2.0 200 OK\r\nContent-Length: 0\r\nCall-ID: x\r\n\r\n"


def test_changed_body_after_parse_rewrites_content_length() -> None:
    """§20.14: replacing a parsed body updates the Content-Length line, nothing else."""
    msg = parse(b"MESSAGE sip:b@example.com SIP/2.0\r\nContent-Type: text/plain\r\nl: 2\r\n\r\nhi")
    msg.body = b"hello"
    assert bytes(msg) == (
        b"MESSAGE sip:b@example.com SIP/2.0\r\nContent-Type: text/plain\r\nl: 5\r\n\r\nhello"
    )


def test_parsed_request_round_trips_and_reparses() -> None:
    """§7: parse, serialise, parse again: same start line and headers."""
    first = invite()
    data = bytes(first)
    assert data == INVITE
    again = parse(data)
    assert isinstance(again, Request)
    assert again.headers.items() == first.headers.items()


def test_body_without_content_type_is_a_build_error() -> None:
    """§20.15: a non-empty body MUST come with a Content-Type."""
    with pytest.raises(BuildError):
        Request("MESSAGE", "sip:bob@example.com", None, b"hello")
    with pytest.raises(BuildError):
        Response(200, None, None, b"v=0")
    resp = Response(200)
    with pytest.raises(BuildError):
        resp.body = b"x"


@pytest.mark.parametrize("method", ["", "BAD METHOD", "INV\u00c9TE", "A:B", "X\r\n"])
def test_bad_method_is_a_build_error(method: str) -> None:
    """§25.1: Method is a token."""
    with pytest.raises(BuildError):
        Request(method, "sip:bob@example.com")


@pytest.mark.parametrize("code", [0, 99, 700, 1000, -200])
def test_status_out_of_range_is_a_build_error(code: int) -> None:
    """§7.2: Status-Code is 100 to 699."""
    with pytest.raises(BuildError):
        Response(code)


def test_reason_with_crlf_is_a_build_error() -> None:
    """§7.2: the reason phrase is on the status line; CR/LF would break framing."""
    with pytest.raises(BuildError):
        Response(200, "OK\r\nVia: x")


@pytest.mark.parametrize(
    "uri", ["sip:bob@example.com x", "sip:bob@exa mple.com", "<sip:bob@example.com>"]
)
def test_request_uri_with_space_or_brackets_is_a_build_error(uri: str) -> None:
    """§7.1: the Request-URI has no spaces and is never enclosed in ``<>``.

    This is local misuse when building, so it is a BuildError (not a ParseError of
    network input).
    """
    with pytest.raises(BuildError):
        Request("INVITE", uri)


# ---------------------------------------------------------------------------
# make_response (§8.2.6)
# ---------------------------------------------------------------------------


def test_make_response_copies_via_from_call_id_cseq() -> None:
    """§8.2.6.2: Via values (all lines, in order), From, Call-ID and CSeq are copied."""
    req = invite()
    resp = make_response(req, 486, to_tag="a6c85cf")
    assert resp.status_code == 486
    assert resp.reason == "Busy Here"
    assert resp.headers.getall("via") == req.headers.getall("via")
    assert resp.headers.count("via") == 2
    assert resp.headers.get("from") == req.headers.get("from")
    assert resp.call_id == req.call_id
    assert resp.cseq == req.cseq
    assert "contact" not in resp.headers
    assert "max-forwards" not in resp.headers


def test_make_response_adds_to_tag() -> None:
    """§8.2.6.2: the UAS adds a To tag to a response outside a dialog."""
    resp = make_response(invite(), 180, to_tag="a6c85cf")
    assert resp.to is not None
    assert resp.to.tag == "a6c85cf"
    assert resp.to.display_name == "Bob"
    assert resp.headers.get("to") == "Bob <sip:bob@biloxi.example.com>;tag=a6c85cf"


def test_make_response_100_has_no_to_tag() -> None:
    """§8.2.6.2: the To tag is added to every response except a 100 (Trying)."""
    resp = make_response(invite(), 100, to_tag="a6c85cf")
    assert resp.to is not None
    assert resp.to.tag is None
    assert resp.headers.get("to") == "Bob <sip:bob@biloxi.example.com>"


def test_make_response_100_copies_timestamp() -> None:
    """§8.2.6.1: a Timestamp in the request MUST be copied into the 100 (Trying)."""
    data = INVITE.replace(b"Content-Length: 0", b"Timestamp: 54 0.5\r\nContent-Length: 0")
    req = parse(data)
    assert isinstance(req, Request)
    resp = make_response(req, 100)
    assert resp.headers.get("timestamp") == "54 0.5"


def test_make_response_keeps_existing_to_tag() -> None:
    """§8.2.6.2: a request inside a dialog already has a To tag; it is kept as is."""
    req = request_with("BYE", "<sip:bob@biloxi.example.com>;tag=old")
    resp = make_response(req, 200, to_tag="new")
    assert resp.to is not None
    assert resp.to.tag == "old"


@pytest.mark.parametrize(("code", "copied"), [(200, True), (180, True), (100, False), (486, False)])
def test_make_response_record_route_for_invite(code: int, copied: bool) -> None:
    """§12.1.1: Record-Route is copied into responses that create a dialog (2xx, 1xx with
    a tag), in order; not into 100 or a failure response."""
    resp = make_response(invite(), code, to_tag="t")
    expected = ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"] if copied else []
    assert resp.headers.getall("record-route") == expected


def test_make_response_no_record_route_for_non_dialog_request() -> None:
    """§12.1.1: a 200 to BYE creates no dialog, so Record-Route is not copied."""
    resp = make_response(request_with("BYE", "<sip:bob@biloxi.example.com>;tag=x"), 200)
    assert "record-route" not in resp.headers


def test_make_response_extra_headers_and_body() -> None:
    resp = make_response(
        invite(),
        200,
        to_tag="t",
        headers=[("Contact", "<sip:bob@192.0.2.4>")],
        body=b"v=0\r\n",
        content_type="application/sdp",
    )
    data = bytes(resp)
    assert data.startswith(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\n")
    assert data.endswith(b"Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n")
    assert resp.headers.get("contact") == "<sip:bob@192.0.2.4>"


def test_request_make_response_shortcut() -> None:
    resp = invite().make_response(404)
    assert (resp.status_code, resp.reason) == (404, "Not Found")


# ---------------------------------------------------------------------------
# Typed views: cached, invalidated on change
# ---------------------------------------------------------------------------


def test_typed_properties_are_cached() -> None:
    """Lazily parsed views are computed once per message (the same object comes back)."""
    msg = invite()
    assert msg.cseq is msg.cseq
    assert msg.via is msg.via
    assert msg.to is msg.to


def test_typed_properties_follow_header_changes() -> None:
    """A cached view must never outlive the header it was read from."""
    msg = invite()
    assert msg.cseq is not None and msg.cseq.number == 314159
    assert msg.via[0].branch == "z9hG4bK2"
    assert msg.max_forwards == 68
    msg.headers.set("CSeq", "314160 INVITE")
    msg.headers.prepend("Via", "SIP/2.0/UDP p3.example.com;branch=z9hG4bK3")
    msg.headers.set("Max-Forwards", "67")
    assert msg.cseq is not None and msg.cseq.number == 314160
    assert [v.branch for v in msg.via] == ["z9hG4bK3", "z9hG4bK2", "z9hG4bK1", "z9hG4bK0"]
    assert msg.max_forwards == 67
    msg.headers.remove("Record-Route")
    assert msg.record_route == []
    msg.headers.pop_first_value("via")
    assert msg.via[0].branch == "z9hG4bK2"


def test_typed_views_of_a_parsed_request() -> None:
    msg = invite()
    assert msg.method == "INVITE"
    assert str(msg.uri) == "sip:bob@biloxi.example.com"
    assert msg.from_ is not None and msg.from_.tag == "1928301774"
    assert msg.to is not None and msg.to.tag is None
    assert [str(c.uri) for c in msg.contact] == ["sip:alice@pc33.atlanta.example.com"]
    assert [str(r.uri) for r in msg.record_route] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert msg.route == []
    assert msg.content_length == 0
    assert msg.content_type is None
    assert msg.expires is None


def test_headers_object_given_to_a_message_is_used() -> None:
    headers = Headers([("Call-ID", "x")])
    req = Request("OPTIONS", "sip:a@example.com", headers)
    assert req.headers is headers
    assert req.call_id == "x"


# ---------------------------------------------------------------------------
# Identifiers (§8.1.1.4, §8.1.1.7, §19.3)
# ---------------------------------------------------------------------------


def test_new_branch_has_magic_cookie_and_is_unique() -> None:
    """§8.1.1.7: branches start with ``z9hG4bK`` and are unique across time."""
    branches = [new_branch() for _ in range(10_000)]
    assert len(set(branches)) == len(branches)
    for b in branches:
        assert b.startswith("z9hG4bK")
        assert len(b) > len("z9hG4bK") + 8
        assert TOKEN_RE.fullmatch(b), b


def test_tags_and_call_ids_are_unique_tokens() -> None:
    """§19.3: tags are tokens with ≥32 random bits; §8.1.1.4: Call-IDs are unique words."""
    tags = [new_tag() for _ in range(10_000)]
    call_ids = [new_call_id() for _ in range(10_000)]
    assert len(set(tags)) == len(tags)
    assert len(set(call_ids)) == len(call_ids)
    assert all(TOKEN_RE.fullmatch(t) for t in tags)
    assert all(TOKEN_RE.fullmatch(c) for c in call_ids)
    assert all(len(t) >= 8 for t in tags)


def test_call_id_with_host() -> None:
    """§8.1.1.4: ``Call-ID = word [ "@" word ]``."""
    cid = new_call_id("pc33.example.com")
    local, at, host = cid.partition("@")
    assert at and host == "pc33.example.com"
    assert TOKEN_RE.fullmatch(local)
    assert SecretsIdFactory("h.example.com").call_id().endswith("@h.example.com")


def test_sequential_id_factory_is_deterministic() -> None:
    """Reproducible identifiers for tests and traces; branches still carry the cookie."""
    a = SequentialIdFactory("x")
    b = SequentialIdFactory("x")
    seq_a = [a.branch(), a.tag(), a.call_id(), a.branch()]
    seq_b = [b.branch(), b.tag(), b.call_id(), b.branch()]
    assert seq_a == seq_b
    assert seq_a == ["z9hG4bKx1", "xtag2", "xcall3", "z9hG4bKx4"]
    assert len(set(seq_a)) == 4
