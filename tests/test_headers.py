"""Tests of the header container and the typed header values (RFC 3261 §7.3, §20, §25.1).

Container: §7.3.1 (order, case, comma lists), §7.3.3 compact forms, §16.6 (a proxy adds
its Via on top), §16.4 (popping a Route). Typed values: Via §20.42 / §18.2.1 / RFC 3581
/ RFC 5118, name-addr §20.10 / §20.20 / §20.39, Contact ``*`` §10.2.2, CSeq §8.1.1.5 /
§20.16, auth headers §20.7 / §20.44 / §25.1, Event RFC 6665 §8.2.1, media types §20.15.
"""

from __future__ import annotations

import pytest

from sipwright import (
    AuthHeader,
    Contact,
    CSeq,
    Headers,
    MediaType,
    NameAddr,
    ParamHeader,
    Params,
    ParseError,
    SipUri,
    Via,
)
from sipwright.headers import (
    parse_auth,
    parse_contact,
    parse_cseq,
    parse_media_type,
    parse_name_addr,
    parse_param_header,
    parse_params,
    parse_via,
    split_commas,
)
from sipwright.headers.misc import parse_token_list

VIA_A = "SIP/2.0/UDP a.example.com;branch=z9hG4bKa"
VIA_B = "SIP/2.0/UDP b.example.com;branch=z9hG4bKb"
VIA_C = "SIP/2.0/TCP c.example.com;branch=z9hG4bKc"


def sample() -> Headers:
    return Headers(
        [
            ("Via", f"{VIA_A}, {VIA_B}"),
            ("v", VIA_C),
            ("Max-Forwards", "70"),
            ("m", '"Doe, J" <sip:j@example.com>, <sip:k@example.com>'),
            ("Subject", "a, b"),
        ]
    )


# ---------------------------------------------------------------------------
# Headers container
# ---------------------------------------------------------------------------


def test_get_returns_first_value_and_getall_every_value() -> None:
    """§7.3.1: list headers are values across lines and commas, in order."""
    h = sample()
    assert h.get("via") == VIA_A
    assert h.getall("Via") == [VIA_A, VIA_B, VIA_C]
    assert h.getall("contact") == ['"Doe, J" <sip:j@example.com>', "<sip:k@example.com>"]
    assert h.getall("subject") == ["a, b"]
    assert h.getall("absent") == []


def test_compact_and_long_names_are_interchangeable() -> None:
    """§7.3.3: ``v``/``Via``/``VIA`` and ``m``/``Contact`` name the same header."""
    h = sample()
    assert h.getall("v") == h.getall("VIA") == h.getall("via")
    assert h.get("M") == h.get("contact")
    assert "v" in h and "VIA" in h and "m" in h
    assert h.count("via") == h.count("v") == 2


def test_get_default_getitem_and_contains() -> None:
    """Mapping-style access: default for absent headers, KeyError from ``[]``."""
    h = sample()
    assert h.get("Call-ID") is None
    assert h.get("Call-ID", "x") == "x"
    assert h["max-forwards"] == "70"
    with pytest.raises(KeyError):
        h["call-id"]
    assert "call-id" not in h
    assert 42 not in h


def test_count_items_and_len_count_lines() -> None:
    """§7.3.1: ``count``/``len`` count header lines; ``items`` lists them as written."""
    h = sample()
    assert len(h) == 5
    assert h.count("contact") == 1
    assert h.count("absent") == 0
    assert h.items() == [
        ("Via", f"{VIA_A}, {VIA_B}"),
        ("Via", VIA_C),
        ("Max-Forwards", "70"),
        ("Contact", '"Doe, J" <sip:j@example.com>, <sip:k@example.com>'),
        ("Subject", "a, b"),
    ]


def test_add_appends_with_conventional_spelling() -> None:
    """Built lines get the conventional spelling (compact or lower-case names expanded)."""
    h = Headers()
    h.add("call-id", "abc")
    h.add("f", "<sip:a@example.com>;tag=1")
    h.add("cseq", "1 INVITE")
    h.add("X-Custom", "y")
    assert h.items() == [
        ("Call-ID", "abc"),
        ("From", "<sip:a@example.com>;tag=1"),
        ("CSeq", "1 INVITE"),
        ("X-Custom", "y"),
    ]


def test_add_refuses_cr_or_lf_in_a_value() -> None:
    """§7.3.1: a CRLF inside a built value would inject a header line."""
    with pytest.raises(ValueError):
        Headers().add("Subject", "a\r\nVia: evil")


def test_prepend_puts_the_value_first() -> None:
    """§16.6 step 8: a proxy inserts its Via above the existing ones."""
    h = sample()
    h.prepend("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp")
    assert h.getall("via")[0] == "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp"
    assert h.getall("via")[1:] == [VIA_A, VIA_B, VIA_C]
    h.prepend("Record-Route", "<sip:p.example.com;lr>")
    assert h.items()[0] == ("Record-Route", "<sip:p.example.com;lr>")


def test_set_replaces_every_line_in_place() -> None:
    """``set`` keeps the header where its first line was and drops the other lines."""
    h = sample()
    h.set("v", VIA_C)
    assert [name for name, _ in h.items()] == ["Via", "Max-Forwards", "Contact", "Subject"]
    assert h.getall("via") == [VIA_C]
    h.set("Call-ID", "new")
    assert h.items()[-1] == ("Call-ID", "new")


def test_remove_returns_number_of_lines() -> None:
    h = sample()
    assert h.remove("VIA") == 2
    assert h.remove("via") == 0
    assert "via" not in h


def test_replace_first_value_keeps_the_rest() -> None:
    """§18.2.1: stamping the top Via must leave the other values of its line intact."""
    h = sample()
    h.replace_first_value("v", "SIP/2.0/UDP a.example.com;branch=z9hG4bKa;received=192.0.2.1")
    assert h.getall("via") == [
        "SIP/2.0/UDP a.example.com;branch=z9hG4bKa;received=192.0.2.1",
        VIA_B,
        VIA_C,
    ]
    with pytest.raises(KeyError):
        h.replace_first_value("Route", "<sip:x>")


def test_pop_first_value() -> None:
    """§16.4: a proxy pops the top Route; §16.7 step 3: a response loses its top Via."""
    h = sample()
    assert h.pop_first_value("via") == VIA_A
    assert h.getall("via") == [VIA_B, VIA_C]
    assert h.pop_first_value("via") == VIA_B
    assert h.pop_first_value("via") == VIA_C
    assert "via" not in h
    with pytest.raises(KeyError):
        h.pop_first_value("via")


def test_copy_is_independent() -> None:
    h = sample()
    clone = h.copy()
    clone.remove("via")
    clone.add("Call-ID", "x")
    assert h.getall("via") == [VIA_A, VIA_B, VIA_C]
    assert "call-id" not in h
    assert clone.getall("via") == []


def test_headers_api_rejects_invalid_names() -> None:
    """§7.3.1: header-name is a token."""
    with pytest.raises(ParseError):
        Headers().add("Bad Name", "x")


def test_split_commas() -> None:
    """§7.3.1: commas inside quotes or ``<>`` are not separators; empties are kept."""
    assert split_commas('"a, b" <sip:x@y>, <sip:u,v@w>, c') == [
        '"a, b" <sip:x@y>',
        "<sip:u,v@w>",
        "c",
    ]
    assert split_commas("a,,b") == ["a", "", "b"]
    assert split_commas('"a\\", b" <sip:x@y>') == ['"a\\", b" <sip:x@y>']
    with pytest.raises(ParseError):
        split_commas('"open, x')


# ---------------------------------------------------------------------------
# Via (§20.42, §18.2.1, RFC 3581, RFC 5118)
# ---------------------------------------------------------------------------


def test_via_components() -> None:
    via = parse_via("SIP/2.0/UDP pc33.example.com:5066;branch=z9hG4bK776;received=192.0.2.1")
    assert (via.protocol_name, via.protocol_version, via.transport) == ("SIP", "2.0", "UDP")
    assert (via.host, via.port) == ("pc33.example.com", 5066)
    assert via.branch == "z9hG4bK776"
    assert via.received == "192.0.2.1"
    assert via.sent_by == "pc33.example.com:5066"
    assert via.has_magic_cookie


def test_via_transport_is_upper_cased_and_port_optional() -> None:
    """§20.42: transport is case-insensitive; sent-by port is optional."""
    via = parse_via("SIP/2.0/tls h.example.com;branch=z9hG4bK1")
    assert via.transport == "TLS"
    assert via.port is None
    assert via.sent_by == "h.example.com"


def test_via_rport_flag_versus_value() -> None:
    """RFC 3581 §3/§4: ``rport`` empty in a request (flag), filled with a port by the server."""
    empty = parse_via("SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bK1")
    assert empty.has_rport is True
    assert empty.rport is None
    filled = parse_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;rport=5070")
    assert filled.has_rport is True
    assert filled.rport == 5070
    absent = parse_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
    assert absent.has_rport is False
    assert absent.rport is None


def test_via_ipv6_sent_by() -> None:
    """RFC 5118 §4.1: an IPv6 sent-by is a bracketed reference, then an optional port."""
    via = parse_via("SIP/2.0/TCP [2001:db8::9:1]:5061;branch=z9hG4bK1;received=2001:db8::9:255")
    assert via.host == "[2001:db8::9:1]"
    assert via.port == 5061
    assert via.received == "2001:db8::9:255"


def test_via_lws_around_slashes_and_colon() -> None:
    """§25.1 ``SLASH = SWS "/" SWS`` and ``COLON``, ``SEMI``, ``EQUAL`` (RFC 4475 wsinv)."""
    via = parse_via("SIP  /   2.0 / UDP  192.0.2.2 : 5060 ; branch = z9hG4bK390 ; rport")
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.2", 5060)
    assert via.branch == "z9hG4bK390"
    assert via.has_rport


def test_via_with_param_returns_changed_copy() -> None:
    """§18.2.1: adding ``received`` keeps the other parameters in order; Via is immutable."""
    via = parse_via("SIP/2.0/UDP h.example.com;branch=z9hG4bK1;rport")
    stamped = via.with_param("received", "192.0.2.7")
    assert str(stamped) == "SIP/2.0/UDP h.example.com;branch=z9hG4bK1;rport;received=192.0.2.7"
    assert stamped.received == "192.0.2.7"
    assert via.received is None
    filled = stamped.with_param("rport", "4000")
    assert str(filled) == "SIP/2.0/UDP h.example.com;branch=z9hG4bK1;rport=4000;received=192.0.2.7"


def test_via_built_in_code() -> None:
    via = Via("udp", "192.0.2.1", 5060, Params((("branch", "z9hG4bKx"),)))
    assert str(via) == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx"
    assert via == parse_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx")


def test_via_branch_without_magic_cookie() -> None:
    """§8.1.1.7: a branch without ``z9hG4bK`` is RFC 2543 style."""
    assert not parse_via("SIP/2.0/UDP h;branch=390skdjuw").has_magic_cookie
    assert not parse_via("SIP/2.0/UDP h").has_magic_cookie


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP",
        "SIP/2.0 h.example.com",
        "SIP/2.0/UDP h.example.com:70000",
        "SIP/2.0/UDP h.example.com;;branch=z9hG4bK1",
        "SIP/2.0/UDP h.example.com;branch=",
    ],
)
def test_malformed_via(text: str) -> None:
    """§20.42 / §25.1: sent-protocol LWS sent-by *(SEMI via-params); port ≤ 65535."""
    with pytest.raises(ParseError):
        parse_via(text)


# ---------------------------------------------------------------------------
# NameAddr (§20.10, §20.20, §20.39, §25.1 name-addr / addr-spec)
# ---------------------------------------------------------------------------


def test_quoted_display_name_with_escaped_quote() -> None:
    """§25.1: quoted-string with quoted-pair; the display name is unescaped."""
    na = parse_name_addr('"Alice \\"The Great\\" Smith" <sip:alice@example.com>;tag=88')
    assert na.display_name == 'Alice "The Great" Smith'
    assert str(na.uri) == "sip:alice@example.com"
    assert na.tag == "88"


def test_token_display_name() -> None:
    """§25.1: display-name = *(token LWS) / quoted-string (RFC 4475 lwsdisp: no space)."""
    assert parse_name_addr("Bob Jones <sip:bob@example.com>").display_name == "Bob Jones"
    assert parse_name_addr("caller<sip:caller@example.com>").display_name == "caller"


def test_addr_spec_form_params_belong_to_the_header() -> None:
    """§20: in the bare addr-spec form every ``;param`` is a header parameter (``tag``)."""
    na = parse_name_addr("sip:bob@example.com;tag=1928301774")
    assert na.display_name is None
    assert str(na.uri) == "sip:bob@example.com"
    assert na.tag == "1928301774"
    assert na.params.items() == (("tag", "1928301774"),)


def test_uri_params_inside_brackets_header_params_outside() -> None:
    """§20.10: ``<uri;uriparam>;hparam``: brackets decide who owns a parameter."""
    na = parse_name_addr("<sip:bob@example.com;transport=tcp>;expires=60")
    assert isinstance(na.uri, SipUri)
    assert na.uri.params == (("transport", "tcp"),)
    assert na.params.items() == (("expires", "60"),)
    assert na.params.get("transport") is None


def test_name_addr_with_param_and_str() -> None:
    """§8.2.6.2: adding the To tag gives a copy; a parsed value prints as written."""
    text = '"Bob" <sip:bob@example.com>'
    na = parse_name_addr(text)
    assert str(na) == text
    tagged = na.with_param("tag", "a6c85cf")
    assert tagged.tag == "a6c85cf"
    assert str(tagged) == "Bob <sip:bob@example.com>;tag=a6c85cf"
    assert na.tag is None
    assert tagged == parse_name_addr("<sip:bob@example.com>;tag=a6c85cf")


def test_name_addr_built_in_code_quotes_when_needed() -> None:
    uri = SipUri(user="alice", host="example.com")
    assert str(NameAddr(uri, 'A "B"')) == '"A \\"B\\"" <sip:alice@example.com>'
    assert str(NameAddr(uri)) == "<sip:alice@example.com>"


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ('"Alice <sip:alice@example.com>', "unterminated quote (RFC 4475 quotbal)"),
        ("< sip:alice@example.com >", "spaces inside <> (RFC 4475 badaspec)"),
        ("sip:alice@example.com?Route=%3Csip:x%3E", "bare URI with ? (RFC 4475 regbadct)"),
        ("sip:alice@example.com, sip:bob@example.com", "bare URI with ,"),
        ("Alice, Bob <sip:alice@example.com>", "unquoted display name with , (baddn)"),
        ("<sip:alice@example.com", "missing >"),
        ("", "empty"),
    ],
)
def test_malformed_name_addr(text: str, fault: str) -> None:
    with pytest.raises(ParseError):
        parse_name_addr(text)
        pytest.fail(fault)


# ---------------------------------------------------------------------------
# Contact (§20.10, §10.2.2)
# ---------------------------------------------------------------------------


def test_contact_wildcard() -> None:
    """§10.2.2 / §20.10: ``Contact: *`` removes every binding of a REGISTER."""
    c = parse_contact(" * ")
    assert c.is_wildcard
    assert str(c) == "*"
    assert not parse_contact("<sip:a@example.com>").is_wildcard


def test_contact_expires_and_q() -> None:
    """§20.10: ``expires`` in seconds and ``q`` from 0 to 1."""
    c = parse_contact("<sip:a@example.com>;q=0.7;expires=3600")
    assert isinstance(c, Contact)
    assert c.q == 0.7
    assert c.expires == 3600
    plain = parse_contact("<sip:a@example.com>")
    assert plain.q is None and plain.expires is None


def test_contact_expires_caps_and_q_range() -> None:
    """§20.10 / §25.1: huge expires is taken as 2**32-1; q outside 0..1 is not a q."""
    c = parse_contact("<sip:a@example.com>;expires=280297596632815;q=1.5")
    assert c.expires == 2**32 - 1
    assert c.q is None


def test_several_contacts_in_a_message() -> None:
    """§20.10: Contact is a list; each value has its own parameters."""
    h = Headers([("Contact", '"A, B" <sip:a@example.com>;q=0.1, <sip:b@example.com>;q=0.9')])
    contacts = [parse_contact(v) for v in h.getall("contact")]
    assert [c.display_name for c in contacts] == ["A, B", None]
    assert [c.q for c in contacts] == [0.1, 0.9]


# ---------------------------------------------------------------------------
# CSeq (§8.1.1.5, §20.16)
# ---------------------------------------------------------------------------


def test_cseq() -> None:
    assert parse_cseq("314159 INVITE") == CSeq(314159, "INVITE")
    assert parse_cseq("  0009 \t ACK ") == CSeq(9, "ACK")
    assert str(CSeq(1, "BYE")) == "1 BYE"


def test_cseq_number_range() -> None:
    """§8.1.1.5: the sequence number fits 32 bits unsigned (RFC 4475 scalar02)."""
    assert parse_cseq("4294967295 INVITE").number == 2**32 - 1
    with pytest.raises(ParseError):
        parse_cseq("4294967296 INVITE")


@pytest.mark.parametrize("text", ["INVITE", "1", "-1 INVITE", "1 IN VITE", "x INVITE", "1 <>"])
def test_malformed_cseq(text: str) -> None:
    """§20.16: ``1*DIGIT LWS Method``."""
    with pytest.raises(ParseError):
        parse_cseq(text)


# ---------------------------------------------------------------------------
# Authentication headers (§20.7, §20.27, §20.28, §20.44, §25.1)
# ---------------------------------------------------------------------------


def test_digest_challenge_with_quoted_commas() -> None:
    """§25.1 / RFC 7616: auth-params are comma-separated; quoted values keep commas."""
    a = parse_auth(
        'Digest realm="atlanta.com, inc", domain="sip:ss1.example.com",'
        ' qop="auth,auth-int", nonce="f84f1cec41e6cbe5aea9c8e88d359",'
        ' opaque="", stale=FALSE, algorithm=MD5'
    )
    assert isinstance(a, AuthHeader)
    assert a.scheme == "Digest" and a.is_digest
    assert a.realm == "atlanta.com, inc"
    assert a.qop == "auth,auth-int"
    assert a.nonce == "f84f1cec41e6cbe5aea9c8e88d359"
    assert a.opaque == ""
    assert a.stale is False
    assert a.algorithm == "MD5"
    assert a.domain == "sip:ss1.example.com"


def test_digest_credentials() -> None:
    a = parse_auth(
        'Digest username="bob", realm="biloxi.com", nonce="dcd98b", uri="sip:bob@biloxi.com",'
        ' qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae4"'
    )
    assert (a.username, a.uri, a.nc, a.cnonce, a.response) == (
        "bob",
        "sip:bob@biloxi.com",
        "00000001",
        "0a4f113b",
        "6629fae4",
    )
    assert a.qop == "auth"
    assert parse_auth(str(a)).params == a.params


def test_unknown_auth_scheme_kept_verbatim() -> None:
    """§25.1 other-challenge / RFC 4475 §3.3.7 regaut01: unknown schemes parse."""
    a = parse_auth("NoOneKnowsThisScheme opaque-data=here")
    assert a.scheme == "NoOneKnowsThisScheme"
    assert not a.is_digest
    assert a.params == {"opaque-data": "here"}


@pytest.mark.parametrize(
    "text",
    [
        'Digest realm="x',
        "Digest realm",
        'Digest realm="a",',
        'Digest realm="a" nonce="b"',
        "Digest =1",
        "@ x=1",
    ],
)
def test_malformed_auth(text: str) -> None:
    """§25.1: ``auth-scheme LWS auth-param *(COMMA auth-param)``."""
    with pytest.raises(ParseError):
        parse_auth(text)


@pytest.mark.parametrize("text", ["Digest realm=biloxi.com nonce=abc", "Digest realm=a b"])
def test_unquoted_auth_param_value_must_be_a_token(text: str) -> None:
    """§25.1: ``auth-param = auth-param-name EQUAL ( token / quoted-string )``.

    A value with blanks is not a token: a missing comma between two parameters must not
    be swallowed into the first one's value (``realm`` would read ``biloxi.com nonce=abc``).
    """
    with pytest.raises(ParseError):
        parse_auth(text)


# ---------------------------------------------------------------------------
# Token lists, media types, generic parameter headers, Params
# ---------------------------------------------------------------------------


def test_token_lists() -> None:
    """§20.5 / §20.37: Allow and Supported are comma lists of tokens (empty is legal)."""
    h = Headers([("Allow", "INVITE, ACK,CANCEL"), ("Supported", "")])
    assert parse_token_list(h.getall("allow"), "Allow") == ["INVITE", "ACK", "CANCEL"]
    assert parse_token_list(h.getall("supported"), "Supported") == []
    with pytest.raises(ParseError):
        parse_token_list(["100rel", "not a token"], "Require")


def test_media_type() -> None:
    """§20.15 / RFC 2045: type and subtype are case-insensitive (lower-cased here)."""
    m = parse_media_type("Application/SDP ; charset=UTF-8")
    assert isinstance(m, MediaType)
    assert (m.value, m.type, m.subtype) == ("application/sdp", "application", "sdp")
    assert m.params.get("charset") == "UTF-8"
    for bad in ("text", "text/", "/plain", "te xt/plain"):
        with pytest.raises(ParseError):
            parse_media_type(bad)


def test_param_header_event() -> None:
    """RFC 6665 §8.2.1: ``Event: presence;id=1`` is a package plus parameters."""
    e = parse_param_header("presence;id=1")
    assert isinstance(e, ParamHeader)
    assert e.value == "presence"
    assert e.params.get("id") == "1"
    assert str(e) == "presence;id=1"
    with pytest.raises(ParseError):
        parse_param_header(";id=1")


def test_params_case_insensitive_and_flag_versus_absent() -> None:
    """§7.3.1 / §25.1: parameter names are case-insensitive; ``lr`` is a valueless flag."""
    p = Params(parse_params(";Lr;Transport=TCP;q=0.5"))
    assert p.get("transport") == "TCP"
    assert p.get("TRANSPORT") == "TCP"
    assert p.get("lr") is None and "lr" in p and "LR" in p
    assert p.get("maddr") is None and "maddr" not in p
    assert p.get("maddr", "absent") == "absent"
    assert p.get("lr", "absent") is None
    assert list(p) == ["Lr", "Transport", "q"]
    assert str(p) == ";Lr;Transport=TCP;q=0.5"


def test_params_from_fast_text_behave_the_same() -> None:
    """A parsed Via keeps its parameters as text; reads must match the split form."""
    via = parse_via("SIP/2.0/UDP h;Branch=z9hG4bK1;RPORT;received=192.0.2.1")
    assert via.branch == "z9hG4bK1"
    assert via.params.get("rport") is None and "rport" in via.params
    assert via.params.get("RECEIVED") == "192.0.2.1"
    assert via.params.get("ttl", "absent") == "absent"


def test_params_with_param_and_without() -> None:
    p = Params(parse_params(";a=1;b"))
    assert p.with_param("A", "2").items() == (("a", "2"), ("b", None))
    assert p.with_param("c", None).items() == (("a", "1"), ("b", None), ("c", None))
    assert p.without("B").items() == (("a", "1"),)
    assert p.items() == (("a", "1"), ("b", None))


@pytest.mark.parametrize("text", ["a=1", ";", ";a=", ";a b=1", ';a="x"y', ";a=x y"])
def test_malformed_params(text: str) -> None:
    """§25.1 generic-param: ``SEMI token [EQUAL gen-value]``."""
    with pytest.raises(ParseError):
        parse_params(text)
