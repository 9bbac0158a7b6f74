"""Sans-I/O REFER helpers (RFC 3515): Refer-To, Referred-By, sipfrag, Subscription-State."""

from __future__ import annotations

import pytest

from sipwright import Request
from sipwright.errors import ParseError
from sipwright.refer import (
    SIPFRAG_CONTENT_TYPE,
    SipFrag,
    build_sipfrag,
    parse_refer_to,
    parse_referred_by,
    parse_sipfrag,
)
from sipwright.uri import SipUri


def refer(*extra: tuple[str, str]) -> Request:
    headers = [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKr1"),
        ("To", "<sip:alice@127.0.0.1>;tag=a"),
        ("From", "<sip:bob@127.0.0.1>;tag=b"),
        ("Call-ID", "c1"),
        ("CSeq", "2 REFER"),
        *extra,
    ]
    return Request("REFER", "sip:alice@127.0.0.1:5060", headers)


def test_refer_to_plain() -> None:
    target = parse_refer_to(refer(("Refer-To", "<sip:carol@127.0.0.1:5070>")))
    assert str(target.uri) == "sip:carol@127.0.0.1:5070"
    assert target.headers == ()
    assert target.method == "INVITE"


def test_refer_to_compact_form_and_embedded_replaces() -> None:
    value = "<sip:carol@127.0.0.1?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2&X-A=b>"
    target = parse_refer_to(refer(("r", value)))
    assert isinstance(target.uri, SipUri)
    assert target.uri.headers == ()
    assert str(target.uri) == "sip:carol@127.0.0.1"
    assert target.headers == (("Replaces", "abc@h;to-tag=1;from-tag=2"), ("X-A", "b"))


def test_refer_to_method_parameter() -> None:
    target = parse_refer_to(refer(("Refer-To", "<sip:carol@127.0.0.1;method=bye>")))
    assert target.method == "BYE"


@pytest.mark.parametrize(
    "headers",
    [
        (),
        (("Refer-To", "<sip:a@127.0.0.1>"), ("Refer-To", "<sip:b@127.0.0.1>")),
        (("Refer-To", "<sip:a@127.0.0.1>, <sip:b@127.0.0.1>"),),
    ],
)
def test_refer_to_missing_or_repeated_is_400(headers: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(ParseError) as info:
        parse_refer_to(refer(*headers))
    assert info.value.status_code == 400
    assert "Refer-To" in info.value.reason


def test_refer_to_not_sip_is_416() -> None:
    with pytest.raises(ParseError) as info:
        parse_refer_to(refer(("Refer-To", "<tel:+15551234>")))
    assert info.value.status_code == 416


def test_refer_to_garbage_is_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_refer_to(refer(("Refer-To", "<<<")))


def test_referred_by() -> None:
    assert parse_referred_by(refer()) is None
    by = parse_referred_by(refer(("Referred-By", "<sip:bob@127.0.0.1>")))
    assert by is not None and str(by.uri) == "sip:bob@127.0.0.1"
    assert parse_referred_by(refer(("b", "<<<"))) is None


def test_sipfrag_round_trip() -> None:
    body = build_sipfrag(100)
    assert body == b"SIP/2.0 100 Trying\r\n"
    assert parse_sipfrag(body) == SipFrag(100, "Trying")
    assert parse_sipfrag(build_sipfrag(486, "Busy Here")).status_code == 486
    frag = parse_sipfrag(b"SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n")
    assert frag.is_final and str(frag) == "SIP/2.0 200 OK"
    assert SIPFRAG_CONTENT_TYPE == "message/sipfrag;version=2.0"
    with pytest.raises(ValueError):
        build_sipfrag(99)


@pytest.mark.parametrize(
    "body", [b"", b"INVITE sip:a@b SIP/2.0\r\n", b"SIP/2.0 99 x", b"SIP/2.0 abc", b"\xff\xfe"]
)
def test_sipfrag_bad(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_sipfrag(body)


def test_refer_to_header_injection_is_400() -> None:
    with pytest.raises(ParseError) as info:
        parse_refer_to(refer(("Refer-To", "<sip:c@127.0.0.1?X-A=1%0D%0AVia:%20evil>")))
    assert info.value.status_code == 400


def test_refer_to_headers_the_ua_builds_are_not_copied() -> None:
    value = "<sip:c@127.0.0.1?Call-ID=evil&Replaces=x%40y%3Bto-tag%3D1&From=x&body=hi>"
    target = parse_refer_to(refer(("Refer-To", value)))
    assert len(target.headers) == 4
    assert target.request_headers() == (("Replaces", "x@y;to-tag=1"),)
