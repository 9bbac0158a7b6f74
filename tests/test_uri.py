"""Tests of ``sipwright.uri``: SIP/SIPS, tel and other URIs.

Grammar: RFC 3261 §19.1.1 and §25.1, RFC 3966, RFC 5118; comparison: RFC 3261 §19.1.4 and
RFC 3966 §4; torture inputs: RFC 4475 §3 (``shared/torture``).
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peers import shared_dir

from sipwright.errors import ParseError
from sipwright.uri import (
    HEADER_SAFE,
    PARAM_SAFE,
    PASSWORD_SAFE,
    USER_SAFE,
    AbsoluteUri,
    SipUri,
    TelUri,
    Uri,
    escape,
    parse_uri,
    unescape,
)


def sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri), uri
    return uri


def tel(text: str) -> TelUri:
    uri = parse_uri(text)
    assert isinstance(uri, TelUri), uri
    return uri


def reason_of(text: str) -> str:
    with pytest.raises(ParseError) as info:
        parse_uri(text)
    return info.value.reason


# ---------------------------------------------------------------------------
# Round trips and components
# ---------------------------------------------------------------------------

ROUND_TRIP = [
    "sip:alice@example.com",
    "sip:151@10.135.0.12;line=12071",
    "SIP:ALICE@AtLanTa.CoM;Transport=udp",
    "sips:alice:secret@example.com:5061;transport=tls;lr?Subject=hi%20there&Priority=urgent",
    "sip:example.com.",
    "sip:alice@example.com:05060",
    "sip:user;par=u%40example.net@example.com",
    "sip:sips%3Auser%40example.com@example.net",
    "sip:null-%00-null@example.com",
    "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
    "sip:[2001:db8::10]",
    "sip:[2001:db8::10:5070]",
    "sip:[2001:db8::10]:5070",
    "sip:user@[2001:db8:::192.0.2.1]",
    "sip:ted@[::ffff:192.0.2.2]",
    "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
    "sip:services.example.com;lr;unknownwith=value;unknown-no-value",
    "sip:alice:@example.com",
    "tel:+1-201-555-0123",
    "TEL:+1-201-555-0123;ext=22;isub=ab:cd@e",
    "tel:7042;phone-context=example.com",
    "soap.beep://192.0.2.103:3002",
    "nobodyKnowsThisScheme:totallyopaquecontent",
    "isbn:2983792873",
    "http://www.example.com",
    "name:John_Smith",
    "urn:service:sos",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_parsed_uri_gives_back_exact_text(text: str) -> None:
    """A proxy forwards URIs it does not own unchanged (RFC 3261 §16.6), so str() of a parsed
    URI must be byte-exact, whatever the case, escapes or leading zeros."""
    uri = parse_uri(text)
    assert str(uri) == text
    assert repr(uri) == f"{type(uri).__name__}({text!r})"
    assert uri == uri and hash(uri) == hash(parse_uri(text))


def test_components_of_a_full_sip_uri() -> None:
    """RFC 3261 §19.1.1: sip:user:password@host:port;uri-parameters?headers."""
    uri = sip("SIPS:Alice:se%63ret@Example.COM:5061;transport=TLS;lr;maddr=239.255.255.1?h=v&X=")
    assert uri.scheme == "sips"  # lower-cased
    assert uri.user == "Alice"
    assert uri.password == "se%63ret"
    assert uri.password_unescaped == "secret"
    assert uri.host == "Example.COM"
    assert uri.port == 5061
    assert uri.params == (("transport", "TLS"), ("lr", None), ("maddr", "239.255.255.1"))
    assert uri.headers == (("h", "v"), ("X", ""))
    assert uri.host_port == "Example.COM:5061"
    assert uri.transport == "tls"
    assert uri.lr is True
    assert uri.maddr == "239.255.255.1"


def test_minimal_sip_uri_has_no_optional_components() -> None:
    """RFC 3261 §19.1.1: only the host is mandatory (e.g. a registrar's Request-URI)."""
    uri = sip("sip:example.com")
    assert (uri.user, uri.password, uri.port, uri.params, uri.headers) == (None, None, None, (), ())
    assert uri.host_port == "example.com"
    assert uri.transport is None and uri.lr is False and uri.ttl is None
    assert uri.user_unescaped is None


def test_typed_parameter_views() -> None:
    """The §19.1.1 parameters with a defined meaning get typed, case-insensitive accessors."""
    uri = sip("sip:a@b;TTL=15;Method=INVITE;User=Phone;Transport=SCTP;flag")
    assert uri.ttl == 15
    assert uri.method == "INVITE"  # methods are case-sensitive: as written
    assert uri.user_param == "phone"
    assert uri.transport == "sctp"
    assert uri.get_param("TRANSPORT") == "SCTP"
    assert uri.has_param("flag") and uri.get_param("flag") is None
    assert uri.get_param("flag", "default") is None  # present flag: None, not the default
    assert not uri.has_param("missing")
    assert uri.get_param("missing", "default") == "default"


def test_repeated_parameter_get_param_returns_first() -> None:
    """Parameters are kept in order, duplicates included; lookups see the first one."""
    uri = sip("sip:a@b;x=1;X=2")
    assert uri.params == (("x", "1"), ("X", "2"))
    assert uri.get_param("x") == "1"


# ---------------------------------------------------------------------------
# User part (RFC 3261 §25.1 userinfo; RFC 4475)
# ---------------------------------------------------------------------------


def test_semicolon_in_user_part_belongs_to_user() -> None:
    """RFC 4475 §3.1.1.9 (semiuri): 'user;par=u%40example.net' is the user, and the URI has
    no parameters, because the userinfo ends at the '@'."""
    uri = sip("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u%40example.net"
    assert uri.user_unescaped == "user;par=u@example.net"
    assert uri.host == "example.com"
    assert uri.params == ()


def test_escaped_user_part_esc01() -> None:
    """RFC 4475 §3.1.1.3 (esc01): escapes in the user part are kept as written and decoded on
    demand; the embedded 'sips:user@example.com' is not a URI of its own."""
    uri = sip("sip:sips%3Auser%40example.com@example.net")
    assert uri.user == "sips%3Auser%40example.com"
    assert uri.user_unescaped == "sips:user@example.com"
    assert uri.host == "example.net"
    assert sip("sip:%75se%72@example.com") == sip("sip:user@example.com")


def test_escaped_null_in_user_part_escnull() -> None:
    """RFC 4475 §3.1.1.4 (escnull): %00 decodes to NUL without truncating the user, and the
    Contacts %00 and %00%00 stay distinct."""
    uri = sip("sip:null-%00-null@example.com")
    assert uri.user_unescaped == "null-\x00-null"
    assert sip("sip:%00@host5.example.com") != sip("sip:%00%00@host5.example.com")


def test_escaped_contact_parameters_esc01() -> None:
    """RFC 4475 §3.1.1.3: ';%6C%72;n%61me=v%61lue%25%34%31' is the parameters 'lr' and
    name=value%41 (the %25 stays a literal '%'); equality uses the unescaped forms."""
    uri = sip("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.params == (("%6C%72", None), ("n%61me", "v%61lue%25%34%31"))
    assert uri == sip("sip:caller@host5.example.net;lr;name=value%2541")
    assert uri != sip("sip:caller@host5.example.net;lr;name=valueA")


def test_unusual_but_legal_userinfo_intmeth() -> None:
    """RFC 4475 §3.1.1.2 (intmeth): every user-unreserved and mark character, and a password
    full of legal oddities; the user ends at the first ':'."""
    text = (
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
        ":&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com"
    )
    uri = sip(text)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert str(uri) == text


def test_question_mark_before_at_is_part_of_user() -> None:
    """'?' is user-unreserved (RFC 3261 §25.1), so before the '@' it does not start headers."""
    uri = sip("sip:a?b=c@example.com")
    assert uri.user == "a?b=c" and uri.headers == ()


def test_telephone_subscriber_user() -> None:
    """RFC 3261 §19.1.6: a telephone-subscriber user part, with user=phone."""
    uri = sip("sip:+1-212-555-1212;phone-context=example.com@gw.example.com;user=phone")
    assert uri.user == "+1-212-555-1212;phone-context=example.com"
    assert uri.user_param == "phone"


# ---------------------------------------------------------------------------
# Hosts and ports (RFC 3261 §25.1, RFC 5118)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::10]", "[2001:db8::10]", None),  # RFC 5118 §4.1
        ("sip:[2001:db8::10:5070]", "[2001:db8::10:5070]", None),  # §4.3: 5070 is address
        ("sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070),  # §4.4
        ("sip:user@[2001:db8:::192.0.2.1]", "[2001:db8:::192.0.2.1]", None),  # §4.10 3 colons
        ("sip:user@[2001:db8::192.0.2.1]", "[2001:db8::192.0.2.1]", None),  # §4.10 2 colons
        ("sip:ted@[::ffff:192.0.2.2]", "[::ffff:192.0.2.2]", None),  # §4.9
        ("sip:[::1]:0", "[::1]", 0),
        ("sip:192.0.2.4:65535", "192.0.2.4", 65535),
        ("sip:a-b.c-d.example.com.", "a-b.c-d.example.com.", None),
    ],
)
def test_host_forms(text: str, host: str, port: int | None) -> None:
    """Hostnames, IPv4 and bracketed IPv6 references (RFC 5118 torture cases): IPv6 keeps its
    brackets, and digits inside the brackets are never a port."""
    uri = sip(text)
    assert (uri.host, uri.port) == (host, port)
    assert uri.is_ipv6 == host.startswith("[")
    assert uri.bare_host == host.strip("[]")


def test_three_colon_ipv6_equals_two_colon_form() -> None:
    """RFC 5118 §4.10: the three-colon form RFC 3261's ABNF admits names the same address as
    the RFC 4291 two-colon form; IPv6 addresses compare as addresses, not text."""
    assert sip("sip:user@[2001:db8:::192.0.2.1]") == sip("sip:user@[2001:db8::192.0.2.1]")
    assert sip("sip:[2001:DB8:0::1]") == sip("sip:[2001:db8::1]")
    assert hash(sip("sip:[2001:DB8:0::1]")) == hash(sip("sip:[2001:db8::1]"))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sip:2001:db8::10", "IPv6 address must be in brackets"),  # RFC 5118 §4.2 (ipv6-bad)
        ("sip:user@2001:db8::10", "IPv6 address must be in brackets"),
        ("sip:user@2001:db8::10;lr", "IPv6 address must be in brackets"),
        ("sip:[2001:db8::10", "unterminated IPv6 reference"),
        ("sip:[1::2::3]", "bad IPv6 address"),
        ("sip:[1:2:3:4:5:6:7:8:9]", "bad IPv6 address"),
        ("sip:[12345::1]", "bad IPv6 address"),
        ("sip:[::1:::1.2.3.4]", "bad IPv6 address"),
        ("sip:[fe80::1%25eth0]", "bad IPv6 address"),
        ("sip:[::1]x", "bad character after URI host"),
        ("sip:", "missing URI host"),
        ("sip:alice@", "missing URI host"),
        ("sip:alice@;lr", "missing URI host"),
        ("sip:alice@:5060", "missing URI host"),
        ("sip:a@-example.com", "bad URI host"),
        ("sip:a@example-.com", "bad URI host"),
        ("sip:a@example..com", "bad URI host"),
        ("sip:a@.example.com", "bad URI host"),
        ("sip:a@exa_mple.com", "bad character in URI host"),
        ("sip:a@b:65536", "bad URI port"),
        ("sip:a@b:123456", "bad URI port"),
        ("sip:a@b:", "bad URI port"),
        ("sip:a@b:-1", "bad URI port"),
        ("sip:a@b:50x", "bad URI port"),
        ("sip:a@b:5060:5060", "bad URI port"),
        ("sip:[::1]:70000", "bad URI port"),
    ],
)
def test_bad_hosts_and_ports(text: str, reason: str) -> None:
    """Malformed hosts and ports raise ParseError with a reason that names the fault."""
    assert reason_of(text) == reason


# ---------------------------------------------------------------------------
# Schemes (RFC 3261 §19.1, §25.1 absoluteURI; RFC 4475 §3.3.2-3.3.4)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scheme", "rest"),
    [
        (
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "nobodyknowsthisscheme",
            "totallyopaquecontent",
        ),
        ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),  # novelsc
        ("isbn:2983792873", "isbn", "2983792873"),  # unksm2 To
        ("http://www.example.com", "http", "//www.example.com"),  # unksm2 From
        ("name:John_Smith", "name", "John_Smith"),  # unksm2 Contact
        ("im:alice@example.com", "im", "alice@example.com"),
        ("x+y-z.w:a%20b", "x+y-z.w", "a%20b"),
    ],
)
def test_other_schemes_are_opaque(text: str, scheme: str, rest: str) -> None:
    """RFC 4475 §3.3.2-3.3.4: unknown or non-SIP schemes must parse (a proxy then answers 416
    or forwards), so they are kept opaque: lower-cased scheme, the rest as written."""
    uri = parse_uri(text)
    assert isinstance(uri, AbsoluteUri)
    assert (uri.scheme, uri.rest) == (scheme, rest)


def test_scheme_is_case_insensitive() -> None:
    """RFC 3261 §19.1.4: schemes compare case-insensitively; sip and sips are never equal."""
    assert sip("SiP:a@b").scheme == "sip"
    assert sip("SIPS:a@b").scheme == "sips"
    assert sip("SIP:a@b") == sip("sip:a@b")
    assert sip("sips:a@b") != sip("sip:a@b")
    assert parse_uri("HTTP://x") == parse_uri("http://x")
    assert parse_uri("http://x") != parse_uri("http://X")  # the opaque rest is exact


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "missing URI scheme"),
        ("example.com", "missing URI scheme"),
        (":alice@example.com", "missing URI scheme"),
        ("<sip:user@example.com>", "bad URI scheme"),  # RFC 4475 §3.1.2.7 ltgtruri
        ("1sip:a@b", "bad URI scheme"),
        ("s_p:a", "bad URI scheme"),
        ("foo:", "empty URI after scheme"),
        ("foo:a<b", "bad character in URI"),
        ("foo:a%2", "bad % escape in URI"),
    ],
)
def test_bad_schemes(text: str, reason: str) -> None:
    """scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':' and a non-empty rest."""
    assert reason_of(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "sip:user@example.com; lr",  # RFC 4475 §3.1.2.8 lwsruri
        " sip:a@b",
        "sip:a@b ",
        "sip:a b@c",
        "sip:a@b;x=\t1",
        "sip:a@b\r\n",
        "sip:a\x00@b",
        "sip:a@b\x7f",
        "tel:+1 555",
        "foo:a b",
        "fo o:ab",
    ],
)
def test_whitespace_and_controls_are_rejected(text: str) -> None:
    """No whitespace or control character may appear anywhere in a URI (RFC 3261 §25.1)."""
    assert reason_of(text) == "whitespace or control character in URI"


@pytest.mark.parametrize("text", ["sip:alicé@example.com", "sip:a@exämple.com", "foo:ü", "tel:+1٣"])
def test_non_ascii_is_rejected(text: str) -> None:
    """Non-ASCII characters must be %-escaped in a URI (RFC 3261 §25.1)."""
    assert reason_of(text) == "non-ASCII character in URI"


# ---------------------------------------------------------------------------
# Parameters, headers, escapes
# ---------------------------------------------------------------------------


def test_param_and_header_character_sets() -> None:
    """paramchar admits param-unreserved '[ ] / : & + $'; header values admit hnv-unreserved
    '[ ] / ? : + $' (RFC 3261 §25.1)."""
    uri = sip("sip:a@b;x=[::1]/a:b&c+d$e;maddr=[2001:db8::1]?h=[a]/b?c:d+e$f&g=")
    assert uri.params == (("x", "[::1]/a:b&c+d$e"), ("maddr", "[2001:db8::1]"))
    assert uri.headers == (("h", "[a]/b?c:d+e$f"), ("g", ""))
    assert uri.maddr == "[2001:db8::1]"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sip:a@b;", "empty URI parameter"),
        ("sip:a@b;;lr", "empty URI parameter"),
        ("sip:a@b;=1", "empty URI parameter"),
        ("sip:a@b;x=", "bad URI parameter"),
        ("sip:a@b;x=1=2", "bad URI parameter"),
        ("sip:a@b;x=a,b", "bad URI parameter"),
        ("sip:a@b;ttl=256", "bad ttl parameter"),
        ("sip:a@b;ttl=abc", "bad ttl parameter"),
        ("sip:a@b;ttl", "bad ttl parameter"),
        ("sip:a@b;maddr=a..b", "bad maddr parameter"),
        ("sip:a@b;maddr", "bad maddr parameter"),
        ("sip:a@b?", "bad URI header"),
        ("sip:a@b?x", "bad URI header"),
        ("sip:a@b?=1", "bad URI header"),
        ("sip:a@b?x=1&", "bad URI header"),
        ("sip:a@b?x=1;y", "bad URI header"),
        ("sip:%zz@b", "bad % escape in URI"),
        ("sip:a%4@b", "bad % escape in URI"),
        ("sip:a@b;x=%", "bad % escape in URI"),
        ("sip:a@b?x=%G0", "bad % escape in URI"),
        ("sip:a@@b", "unescaped '@' in URI"),
        ("sip:a@b?x=c@d", "unescaped '@' in URI"),
        ("sip:@b", "empty URI user"),
        ("sip::pw@b", "empty URI user"),
        ("sip:a[b@c", "bad character in URI user"),
        ("sip:a:b:c@d", "bad character in URI password"),
        ("sip:a:p;w@d", "bad character in URI password"),
        ("sip:a@b/c", "bad character in URI host"),
    ],
)
def test_bad_params_headers_and_userinfo(text: str, reason: str) -> None:
    """Each grammar fault of §25.1 is rejected with a reason naming it."""
    assert reason_of(text) == reason


def test_unescape_decodes_utf8_and_keeps_bad_octets() -> None:
    """RFC 3261 §19.1.2: %HH is one octet; octets form UTF-8, and invalid UTF-8 survives a
    round trip through escape()."""
    assert unescape("I%20have%20spaces") == "I have spaces"
    assert unescape("caf%C3%A9") == "café"
    assert unescape("no-escapes") == "no-escapes"
    assert unescape("%ff") == "\udcff"
    assert escape(unescape("%FF"), "") == "%FF"


@pytest.mark.parametrize("text", ["%", "%4", "%4g", "a%zz", "%%41"])
def test_unescape_rejects_bad_escapes(text: str) -> None:
    """A '%' must be followed by two hex digits (RFC 3261 §25.1 escaped)."""
    with pytest.raises(ParseError):
        unescape(text)


def test_escape_keeps_unreserved_and_safe_characters() -> None:
    """escape() writes %HH for everything but unreserved and the component's safe set."""
    assert escape("alice smith", USER_SAFE) == "alice%20smith"
    assert escape("a;b?c@d:e", USER_SAFE) == "a;b?c%40d%3Ae"
    assert escape("a;b&c", PASSWORD_SAFE) == "a%3Bb&c"
    assert escape("[::1]:5060", PARAM_SAFE) == "[::1]:5060"
    assert escape("a=b&c?d", HEADER_SAFE) == "a%3Db%26c?d"
    assert escape("-_.!~*'()%", "") == "-_.!~*'()%25"
    assert escape("é", "") == "%C3%A9"


def test_escape_of_unencodable_text_raises_parse_error() -> None:
    """A lone surrogate outside the surrogateescape range has no octets to escape."""
    with pytest.raises(ParseError):
        escape("\ud800", "")


# ---------------------------------------------------------------------------
# RFC 3261 §19.1.4 comparison
# ---------------------------------------------------------------------------

# "The URIs within each of the following sets are equivalent" (RFC 3261 §19.1.4).
EQUAL_SETS = [
    ["sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"],
    [
        "sip:carol@chicago.com",
        "sip:carol@chicago.com;newparam=5",
        "sip:carol@chicago.com;security=on",
    ],
    [
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ],
    [
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ],
]

# "The URIs within each of the following sets are not equivalent" (RFC 3261 §19.1.4).
NOT_EQUAL_PAIRS = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
]


@pytest.mark.parametrize(
    ("a", "b"), [(a, b) for group in EQUAL_SETS for a in group for b in group if a != b]
)
def test_rfc3261_equivalent_examples(a: str, b: str) -> None:
    """Every pair of the §19.1.4 'equivalent' sets is equal, and hashes alike."""
    ua, ub = sip(a), sip(b)
    assert ua == ub
    assert hash(ua) == hash(ub)


@pytest.mark.parametrize(("a", "b"), NOT_EQUAL_PAIRS)
def test_rfc3261_not_equivalent_examples(a: str, b: str) -> None:
    """Every §19.1.4 'not equivalent' pair differs, in both directions."""
    assert sip(a) != sip(b)
    assert sip(b) != sip(a)


def test_equality_is_not_transitive() -> None:
    """§19.1.4: carol ≡ carol;security=on and carol ≡ carol;security=off, but the two with
    security differ, because a parameter in both must match."""
    plain = sip("sip:carol@chicago.com")
    on = sip("sip:carol@chicago.com;security=on")
    off = sip("sip:carol@chicago.com;security=off")
    assert plain == on and plain == off
    assert on != off


@pytest.mark.parametrize("name", ["user", "ttl", "method", "maddr", "transport"])
def test_parameters_with_default_values_never_match_when_only_in_one(name: str) -> None:
    """§19.1.4: user, ttl, method and maddr (and, by the rule on default values and the
    transport=udp example, transport) present in only one URI make them unequal."""
    values = {"user": "ip", "ttl": "1", "method": "INVITE", "maddr": "1.2.3.4", "transport": "udp"}
    with_it = sip(f"sip:a@b;{name}={values[name]}")
    without = sip("sip:a@b")
    assert with_it != without and without != with_it
    assert with_it == sip(f"sip:a@b;{name.upper()}={values[name]};other=1")


def test_userinfo_is_case_sensitive_host_is_not() -> None:
    """§19.1.4: userinfo compares case-sensitively (passwords too), the host does not."""
    assert sip("sip:alice@ATLANTA.com") == sip("sip:alice@atlanta.COM")
    assert sip("sip:Alice@atlanta.com") != sip("sip:alice@atlanta.com")
    assert sip("sip:a:PW@b") != sip("sip:a:pw@b")
    assert sip("sip:a:pw@b") != sip("sip:a@b")
    assert sip("sip:a:%70w@b") == sip("sip:a:pw@b")


def test_escaped_reserved_character_differs_from_literal() -> None:
    """§19.1.4: only characters outside 'reserved' equal their %HH form, so %3B is not ';'
    (in a telephone-subscriber user part ';' is structure); the hex case does not matter."""
    assert sip("sip:a%3Bb@c") != sip("sip:a;b@c")
    assert sip("sip:a%3Bb@c") == sip("sip:a%3bb@c")
    assert hash(sip("sip:a%3Bb@c")) == hash(sip("sip:a%3bb@c"))
    assert sip("sip:%2541@c") != sip("sip:%41@c")  # an escaped '%' is not an escape


def test_parameter_values_compare_case_insensitively_after_unescaping() -> None:
    """§19.1.4: 'comparison of all other components is case-insensitive', escapes decoded."""
    assert sip("sip:a@b;foo=BAR") == sip("sip:a@b;FOO=b%61r")
    assert sip("sip:a@b;foo=bar") != sip("sip:a@b;foo=baz")
    assert sip("sip:a@b;lr") != sip("sip:a@b;lr=on")  # a flag is not a value


def test_headers_are_never_ignored() -> None:
    """§19.1.4: every header must be present in both URIs and match; order is irrelevant,
    names are case-insensitive, a repeated header counts each time."""
    assert sip("sip:a@b?Subject=x") == sip("sip:a@b?subject=x")
    assert sip("sip:a@b?subject=x") != sip("sip:a@b?subject=X")
    assert sip("sip:a@b?subject=x") != sip("sip:a@b?subject=x&priority=urgent")
    assert sip("sip:a@b?f=a&f=b") == sip("sip:a@b?f=b&f=a")
    assert sip("sip:a@b?f=a&f=b") != sip("sip:a@b?f=b&f=b")
    assert sip("sip:a@b?f=a&f=a") != sip("sip:a@b?f=a")


def test_missing_port_never_matches_explicit_port() -> None:
    """§19.1.4: a URI omitting the port does not match one with the default port."""
    assert sip("sip:bob@biloxi.com:5060") == sip("sip:bob@biloxi.com:05060")
    assert sip("sips:bob@biloxi.com") != sip("sips:bob@biloxi.com:5061")


def test_uri_kinds_never_compare_equal() -> None:
    """A SIP URI, a tel URI and an opaque URI are different URIs even with similar text."""
    assert parse_uri("sip:+15550123@example.com") != parse_uri("tel:+15550123")
    assert parse_uri("tel:+15550123") != parse_uri("x-tel:+15550123")
    assert sip("sip:a@b") != "sip:a@b"


def test_uris_work_as_dict_keys() -> None:
    """Hashes are consistent with §19.1.4 equality, so equal URIs share a dict slot (a
    registrar's binding table, a proxy's location service)."""
    table: dict[Uri, int] = {sip("sip:carol@chicago.com"): 1}
    assert table[sip("sip:carol@CHICAGO.com;newparam=5")] == 1
    assert sip("sip:carol@chicago.com;transport=tcp") not in table


# ---------------------------------------------------------------------------
# tel URIs (RFC 3966)
# ---------------------------------------------------------------------------


def test_global_tel_number() -> None:
    """RFC 3966 §5.1.4: a global number starts with '+' and may hold visual separators."""
    uri = tel("tel:+1-201-555-0123;ext=1234")
    assert uri.scheme == "tel"
    assert uri.is_global
    assert uri.number == "+1-201-555-0123"
    assert uri.digits == "+12015550123"
    assert uri.ext == "1234"
    assert uri.isub is None and uri.phone_context is None


def test_local_tel_number_needs_phone_context() -> None:
    """RFC 3966 §5.1.5: a local number must carry phone-context (a domain or global digits)."""
    uri = tel("tel:7042;phone-context=example.com")
    assert not uri.is_global
    assert uri.phone_context == "example.com"
    assert tel("tel:*70#;phone-context=+1-201").phone_context == "+1-201"
    assert reason_of("tel:7042") == "local tel number without phone-context"
    assert reason_of("tel:7042;ext=1") == "local tel number without phone-context"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("tel:", "missing tel number"),
        ("tel:+", "bad tel number"),
        ("tel:+-", "bad tel number"),
        ("tel:+1x2", "bad tel number"),
        ("tel:1+2;phone-context=a.b", "bad tel number"),
        ("tel:;ext=1", "bad tel number"),
        ("tel:+1;ext=", "bad tel parameter"),
        ("tel:+1;ext=a", "bad ext parameter"),
        ("tel:+1;ext", "bad ext parameter"),
        ("tel:+1;isub", "bad isub parameter"),
        ("tel:+1;phone-context=a..b", "bad phone-context parameter"),
        ("tel:+1;pa_ram=1", "bad tel parameter"),
        ("tel:+1;x=a@b", "bad tel parameter"),
        ("tel:+1;x=%4", "bad % escape in URI"),
    ],
)
def test_bad_tel_uris(text: str, reason: str) -> None:
    """Malformed tel URIs raise ParseError naming the fault (RFC 3966 §3 grammar)."""
    assert reason_of(text) == reason


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tel:+1-201-555-0123", "tel:+1.201.555.0123"),
        ("tel:+1-201-555-0123", "tel:+1(201)5550123"),
        ("tel:+1234;ext=12;isub=ab", "TEL:+1234;ISUB=AB;Ext=1-2"),
        ("tel:7042;phone-context=Example.COM", "tel:7042;phone-context=example.com"),
        ("tel:7042;phone-context=+1-201", "tel:7042;phone-context=+1201"),
        ("tel:ab12;phone-context=x.y", "tel:AB12;phone-context=x.y"),
        ("tel:+1;foo=b%61r", "tel:+1;foo=BAR"),
    ],
)
def test_rfc3966_equivalent(a: str, b: str) -> None:
    """RFC 3966 §4: visual separators ignored, parameters in any order, case-insensitive,
    escapes resolved; equal URIs hash alike."""
    assert tel(a) == tel(b)
    assert hash(tel(a)) == hash(tel(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tel:+1234", "tel:+1235"),
        ("tel:+1234", "tel:1234;phone-context=+1"),  # global vs local
        ("tel:+1234", "tel:+1234;ext=1"),  # a parameter in one only
        ("tel:+1234;ext=1", "tel:+1234;ext=2"),
        ("tel:1234;phone-context=a.example", "tel:1234;phone-context=b.example"),
        ("tel:+1234;isub=a", "tel:+1234;isub=b"),
    ],
)
def test_rfc3966_not_equivalent(a: str, b: str) -> None:
    """RFC 3966 §4: a parameter missing from one URI, or any differing digit, differs."""
    assert tel(a) != tel(b)


# ---------------------------------------------------------------------------
# Building and changing URIs
# ---------------------------------------------------------------------------


def test_constructor_writes_canonical_text() -> None:
    """A URI built from escaped components is written in §19.1.1 order."""
    uri = SipUri(
        host="example.com",
        user="alice",
        password="pw",
        port=5060,
        params=(("transport", "tcp"), ("lr", None)),
        headers=(("Subject", "hi%20there"),),
    )
    assert str(uri) == "sip:alice:pw@example.com:5060;transport=tcp;lr?Subject=hi%20there"
    assert uri == sip(str(uri))
    assert str(SipUri(host="[::1]", scheme="SIPS")) == "sips:[::1]"


def test_build_escapes_plain_values() -> None:
    """SipUri.build takes unescaped values and escapes each with its component's safe set."""
    uri = SipUri.build(
        "2001:db8::1",
        user="alice smith@home",
        password="p:w",
        port=5061,
        scheme="sips",
        params={"x": "a b", "lr": None},
        headers=[("Subject", "hello & bye")],
    )
    assert str(uri) == (
        "sips:alice%20smith%40home:p%3Aw@[2001:db8::1]:5061;x=a%20b;lr?Subject=hello%20%26%20bye"
    )
    assert uri.user_unescaped == "alice smith@home"
    assert parse_uri(str(uri)) == uri


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"host": ""}, "missing URI host"),
        ({"host": "exa mple.com"}, "bad URI host"),
        ({"host": "2001:db8::1"}, "bad URI host"),
        ({"host": "[1::2::3]"}, "bad URI host"),
        ({"host": "b", "scheme": "tel"}, "bad SIP URI scheme"),
        ({"host": "b", "port": 65536}, "bad URI port"),
        ({"host": "b", "port": -1}, "bad URI port"),
        ({"host": "b", "port": True}, "bad URI port"),
        ({"host": "b", "user": ""}, "bad URI user"),
        ({"host": "b", "user": "a@b"}, "bad URI user"),
        ({"host": "b", "user": "%zz"}, "bad % escape in URI"),
        ({"host": "b", "password": "x"}, "URI password without user"),
        ({"host": "b", "user": "a", "password": "x;y"}, "bad URI password"),
        ({"host": "b", "params": (("", None),)}, "bad URI parameter"),
        ({"host": "b", "params": (("a", ""),)}, "bad URI parameter"),
        ({"host": "b", "params": (("a", "b;c"),)}, "bad URI parameter"),
        ({"host": "b", "params": (("ttl", "999"),)}, "bad ttl parameter"),
        ({"host": "b", "headers": (("", "v"),)}, "bad URI header"),
        ({"host": "b", "headers": (("h", "a&b"),)}, "bad URI header"),
    ],
)
def test_constructor_validates(kwargs: dict[str, object], reason: str) -> None:
    """str() must always give a valid URI, so the constructor rejects bad components."""
    with pytest.raises(ParseError) as info:
        SipUri(**kwargs)  # type: ignore[arg-type]
    assert info.value.reason == reason


def test_replace_rebuilds_the_text() -> None:
    """replace() returns a validated copy whose text reflects the change (and is canonical)."""
    uri = sip("SIP:alice@example.com;lr")
    moved = uri.replace(host="proxy.example.net", port=5070)
    assert str(moved) == "sip:alice@proxy.example.net:5070;lr"
    assert str(uri) == "SIP:alice@example.com;lr"  # the original is untouched
    with pytest.raises(ParseError):
        uri.replace(port=99999)
    assert str(tel("tel:+1-2;ext=3").replace(number="+4")) == "tel:+4;ext=3"
    assert str(AbsoluteUri(scheme="URN", rest="service:sos")) == "urn:service:sos"


def test_with_and_without_param() -> None:
    """Proxies add or strip parameters (lr, transport) without touching the rest."""
    uri = sip("sip:p.example.com;Transport=udp;lr;x=1")
    assert str(uri.with_param("transport", "tcp")) == "sip:p.example.com;transport=tcp;lr;x=1"
    assert str(uri.with_param("maddr", "1.2.3.4")).endswith(";x=1;maddr=1.2.3.4")
    assert str(uri.without_param("LR")) == "sip:p.example.com;Transport=udp;x=1"
    assert str(sip("sip:b;x=1;X=2").with_param("x", "3")) == "sip:b;x=3"


def test_uris_are_immutable_and_picklable() -> None:
    """Parsed URIs are cached and shared, so they must be frozen; they survive pickle/copy."""
    uri = sip("sip:alice@example.com;lr")
    with pytest.raises(dataclasses.FrozenInstanceError):
        uri.host = "evil.example.com"  # type: ignore[misc]
    for other in (pickle.loads(pickle.dumps(uri)), copy.copy(uri), copy.deepcopy(uri)):
        assert other == uri and str(other) == str(uri) and other.params == uri.params
    t = tel("tel:+1-2")
    assert pickle.loads(pickle.dumps(t)) == t


def test_parse_cache_shares_objects_and_long_uris_still_parse() -> None:
    """parse_uri caches short texts (same object back); long ones bypass the cache but parse
    all the same (RFC 4475 §3.1.1.7 longreq has URIs of hundreds of characters)."""
    text = "sip:alice@example.com;lr"
    assert parse_uri(text) is parse_uri(text)
    long_text = "sip:user@example.com:6000;" + ";".join(f"p{i}=" + "v" * 40 for i in range(40))
    first, second = sip(long_text), sip(long_text)
    assert first is not second and first == second
    assert len(first.params) == 40 and first.port == 6000


# ---------------------------------------------------------------------------
# The torture corpus (RFC 4475, RFC 5118)
# ---------------------------------------------------------------------------

# Request-URIs in the corpus that are malformed as URIs.
BAD_REQUEST_URIS = {
    "ltgtruri.dat": "bad URI scheme",  # RFC 4475 §3.1.2.7: wrapped in <>
    "ipv6-bad.dat": "IPv6 address must be in brackets",  # RFC 5118 §4.2
}


def test_torture_request_uris() -> None:
    """Every Request-URI of the RFC 4475 / RFC 5118 corpus parses and round-trips, except the
    ones the RFCs call malformed URIs (lwsruri's is checked by its text)."""
    root = shared_dir() / "torture"
    files = sorted(root.glob("*.dat")) + sorted((root / "rfc5118" / "wire").glob("*.dat"))
    checked = 0
    for path in files:
        line = path.read_bytes().split(b"\r\n", 1)[0].decode("utf-8", "replace")
        if line.startswith("SIP/2.0 "):
            continue  # a response
        if path.name == "lwsruri.dat":  # RFC 4475 §3.1.2.8: "sip:user@example.com; lr"
            text = line[len("INVITE ") : -len(" SIP/2.0")]
            assert reason_of(text) == "whitespace or control character in URI"
            continue
        parts = line.split()
        assert len(parts) == 3, (path.name, line)
        if path.name in BAD_REQUEST_URIS:
            assert reason_of(parts[1]) == BAD_REQUEST_URIS[path.name], path.name
        else:
            assert str(parse_uri(parts[1])) == parts[1], path.name
        checked += 1
    assert checked >= 50


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

URI_ALPHABET = string.ascii_letters[:8] + string.digits + "-_.!~*'()%;:@?&=+$,/[]# \t<>\"é"

any_text = st.text(max_size=60)
uri_like_text = st.builds(
    str.__add__,
    st.sampled_from(["sip:", "sips:", "tel:", "tel:+", "sip:a@", "sip:[", "sip:a@[", "x:", ""]),
    st.text(alphabet=URI_ALPHABET, max_size=30),
)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(any_text, uri_like_text))
def test_parse_raises_only_parse_error(text: str) -> None:
    """Whatever the input, parse_uri returns a URI or raises ParseError, never anything else,
    so a server can always answer 400 (RFC 4475 §3: parsers must not crash). A URI it
    accepts gives back the same text and equals itself."""
    try:
        uri = parse_uri(text)
    except ParseError as exc:
        assert exc.reason and exc.reason != "malformed SIP URI"
        return
    assert str(uri) == text
    assert uri == parse_uri(text) and hash(uri) == hash(parse_uri(text))


_UNRESERVED = string.ascii_letters + string.digits + "-_.!~*'()"
_label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?", fullmatch=True)
hosts = st.one_of(
    st.lists(_label, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
plain_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
param_names = st.text(alphabet=_UNRESERVED, min_size=1, max_size=8).filter(
    lambda n: n.lower() not in ("ttl", "maddr")
)
sip_uris = st.builds(
    SipUri.build,
    hosts,
    user=st.none() | plain_text,
    password=st.none(),
    port=st.none() | st.integers(0, 65535),
    scheme=st.sampled_from(["sip", "sips"]),
    # Unique names: with a repeated name, which one counts depends on the order.
    params=st.lists(
        st.tuples(param_names, st.none() | plain_text), max_size=4, unique_by=lambda p: p[0].lower()
    ),
    headers=st.lists(st.tuples(plain_text, st.text(max_size=8)), max_size=3),
)


@settings(max_examples=300)
@given(sip_uris)
def test_built_uris_round_trip(uri: SipUri) -> None:
    """Whatever plain values a URI is built from, its text parses back to the same
    components, so what we send is what a peer reads."""
    text = str(uri)
    parsed = sip(text)
    assert str(parsed) == text
    assert (parsed.scheme, parsed.user, parsed.password, parsed.host, parsed.port) == (
        uri.scheme,
        uri.user,
        uri.password,
        uri.host,
        uri.port,
    )
    assert parsed.params == uri.params and parsed.headers == uri.headers
    assert parsed == uri and hash(parsed) == hash(uri)


def _escape_some(text: str, flags: list[bool]) -> str:
    """Write some unreserved characters of an escaped component as %HH (equivalent text);
    existing escapes are left alone."""
    out = []
    for i, m in enumerate(re.finditer(r"%[0-9A-Fa-f]{2}|.", text, re.DOTALL)):
        ch = m.group()
        escape_it = ch in _UNRESERVED and flags[i % len(flags)]
        out.append(f"%{ord(ch):02x}" if escape_it else ch)
    return "".join(out)


@settings(max_examples=300)
@given(sip_uris, st.lists(st.booleans(), min_size=1, max_size=8), st.randoms())
def test_equivalent_spellings_are_equal_with_equal_hashes(
    uri: SipUri, flags: list[bool], rnd: random.Random
) -> None:
    """§19.1.4: escaping unreserved characters, changing the host's or the parameters' case,
    reordering parameters and headers, and adding an unknown parameter give an equal URI,
    and equal URIs must hash alike (dict and set lookups depend on it)."""
    params = [(n.swapcase(), None if v is None else v.swapcase()) for n, v in uri.params]
    rnd.shuffle(params)
    headers = [(n.swapcase(), v) for n, v in uri.headers]
    rnd.shuffle(headers)
    if not any(n.lower() == "x-hypothesis" for n, _ in params):
        params.append(("x-hypothesis", "1"))
    variant = SipUri(
        scheme=uri.scheme.upper(),
        user=None if uri.user is None else _escape_some(uri.user, flags),
        host=uri.host.swapcase(),
        port=uri.port,
        params=tuple(params),
        headers=tuple(headers),
    )
    assert variant == uri and uri == variant
    assert hash(variant) == hash(uri)
    if uri.user is not None and unescape(uri.user) != unescape(uri.user.swapcase()):
        assert uri.replace(user=uri.user.swapcase()) != uri  # userinfo is case-sensitive


@given(st.text(), st.sampled_from(["", USER_SAFE, PASSWORD_SAFE, PARAM_SAFE, HEADER_SAFE]))
def test_unescape_inverts_escape(text: str, safe: str) -> None:
    """unescape(escape(s)) == s for any text, and escape() output is within the component's
    character set (only unreserved, safe characters and %HH)."""
    escaped = escape(text, safe)
    assert unescape(escaped) == text
    allowed = set(_UNRESERVED) | set(safe) | set("%" + string.hexdigits)
    assert set(escaped) <= allowed
