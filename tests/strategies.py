"""Hypothesis strategies that build well-formed SIP messages (RFC 3261) as bytes.

Every strategy returns the wire bytes *and* the values it chose while building
them (:class:`GeneratedMessage`), so that the property tests compare what the
parser reports against independent expectations, never against the parser's
own output.

The messages exercise the legal oddities of RFC 3261 §7 and §25 (the ones
RFC 4475's ``wsinv`` collects): header names in any case and in compact form,
whitespace before the colon, SWS around ``/``, ``;``, ``=`` and ``,``, header
folding (a continuation line starting with SP or HT), several Via values on one
line and on separate lines, quoted display names with escaped quotes and UTF-8,
``%HH`` escapes in URIs, IPv6 references, leading zeros in numbers, extension
methods and headers, and a body of arbitrary octets framed by a correct
Content-Length.

Nothing here imports sipwright: the expectations must not come from the code
under test. Strategies are built once at import (module constants, cached
factories): building them inside every draw would make generation several
times slower.
"""

from __future__ import annotations

import datetime
import functools
import re
import string
from dataclasses import dataclass
from ipaddress import IPv6Address

from hypothesis import strategies as st

__all__ = [
    "COMPACT",
    "METHODS",
    "GeneratedMessage",
    "GeneratedUri",
    "GeneratedVia",
    "StreamItem",
    "hosts",
    "keepalive_streams",
    "quoted_strings",
    "requests",
    "responses",
    "sip_messages",
    "sip_uris",
    "tel_uris",
    "tokens",
    "unfold",
    "uri_texts",
    "via_values",
]

# -- character sets of RFC 3261 §25.1 -------------------------------------------------

ALPHANUM = string.ascii_letters + string.digits
TOKEN_CHARS = ALPHANUM + "-.!%*_+`'~"
UNRESERVED = ALPHANUM + "-_.!~*'()"
USER_CHARS = UNRESERVED + "&=+$,;?/"
# The user part of a bare addr-spec (From: sip:a@b;tag=1) may not hold ';', '?' or ','.
BARE_USER_CHARS = UNRESERVED + "&=+$"
PASSWORD_CHARS = UNRESERVED + "&=+$,"
PARAM_CHARS = UNRESERVED + "[]/:&+$"
HEADER_CHARS = UNRESERVED + "[]/?:+$"
WORD_CHARS = TOKEN_CHARS + '()<>:\\"/[]?{}'
# reason-phrase = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
REASON_ASCII = UNRESERVED + ";/?:@&=+$, \t"
# Printable ASCII but the quote and the backslash: qdtext (without LWS).
QDTEXT_ASCII = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\')
VISIBLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))

METHODS = (
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "INFO",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "UPDATE",
    "MESSAGE",
    "REFER",
    "PUBLISH",
)

#: Long name -> compact form (RFC 3261 §7.3.3) for the headers generated here.
COMPACT = {
    "Via": "v",
    "From": "f",
    "To": "t",
    "Call-ID": "i",
    "Contact": "m",
    "Content-Length": "l",
    "Content-Type": "c",
    "Supported": "k",
    "Subject": "s",
}

_FOLD_RE = re.compile(r"[ \t]*\r\n[ \t]+")


def unfold(text: str) -> str:
    """RFC 3261 §7.3.1: a line fold (LWS containing CRLF) means the same as one SP."""
    return _FOLD_RE.sub(" ", text)


# -- small building blocks ---------------------------------------------------------------

_BOOL = st.booleans()


@functools.cache
def _upto(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n)


@functools.cache
def _pick(options: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(options)


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """True with probability about 1/n (while the search is unguided)."""
    return draw(_upto(n - 1)) == 0


@functools.cache
def tokens(max_size: int = 10) -> st.SearchStrategy[str]:
    """``token`` (§25.1)."""
    return st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=max_size)


# One UTF8-NONASCII character (any code point above U+007F but surrogates), with
# extra weight on those Python treats specially: str.splitlines() breaks lines at
# NEL, LS and PS, str.split() and str.strip() take NBSP, ideographic space and
# the other Unicode spaces for whitespace.
_NON_ASCII = st.one_of(
    st.characters(min_codepoint=0x80, exclude_categories=("Cs",)),
    st.sampled_from(["\x85", "\u2028", "\u2029", "\xa0", "\u3000", "\u2003", "\ufeff", "é"]),
)

# Whitespace that is not a line fold, and LWS that may be one.
_WSP = st.sampled_from([" ", "  ", "\t", " \t"])
_LWS = st.sampled_from([" ", "  ", "\t", " \t", "\r\n ", "\r\n\t", " \r\n  ", "\t\r\n \t"])
_SWS = st.one_of(st.just(""), _LWS)
# SWS that never folds, for spots where a value should stay on one line.
_SWS_NOFOLD = st.one_of(st.just(""), _WSP)

# escaped = "%" HEXDIG HEXDIG (either case of hex digits)
_ESCAPE = st.builds(
    lambda b, upper: f"%{b:02X}" if upper else f"%{b:02x}", st.integers(0, 255), _BOOL
)


@functools.cache
def _escaped_text(chars: str, min_size: int = 1, max_size: int = 8) -> st.SearchStrategy[str]:
    """Text of ``chars`` and ``%HH`` escapes (a URI component)."""
    piece = st.one_of(st.sampled_from(chars), _ESCAPE)
    return st.lists(piece, min_size=min_size, max_size=max_size).map("".join)


def _mixed_case(draw: st.DrawFn, text: str) -> str:
    style = draw(_upto(4))
    if style == 1:
        return text.lower()
    if style == 2:
        return text.upper()
    if style == 3:
        mask = draw(st.integers(0, 2 ** len(text) - 1))
        return "".join(c.upper() if mask >> i & 1 else c.lower() for i, c in enumerate(text))
    return text


_LEADING_ZEROS = st.sampled_from([0, 0, 0, 1, 3])


def _digits(draw: st.DrawFn, number: int) -> str:
    """A number with optional leading zeros (``1*DIGIT`` allows them)."""
    return "0" * draw(_LEADING_ZEROS) + str(number)


# -- hosts ------------------------------------------------------------------------------

_LABEL = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,6}[A-Za-z0-9])?", fullmatch=True)
_TOPLABEL = st.from_regex(r"[A-Za-z](?:[A-Za-z0-9-]{0,6}[A-Za-z0-9])?", fullmatch=True)
_HOSTNAMES = st.builds(
    lambda labels, top: ".".join([*labels, top]), st.lists(_LABEL, max_size=3), _TOPLABEL
)
_IPV4 = st.ip_addresses(v=4).map(str)


def _ipv6_text(addr: IPv6Address, full: bool, upper: bool) -> str:
    text = addr.exploded if full else str(addr)
    return "[" + (text.upper() if upper else text) + "]"


# IPv6reference (RFC 5118): compressed or full form, either hex case.
_IPV6_REFERENCE = st.builds(_ipv6_text, st.ip_addresses(v=6), _BOOL, _BOOL)
_HOSTS = st.one_of(_HOSTNAMES, _IPV4, _IPV6_REFERENCE)
_PORTS = st.one_of(st.none(), st.integers(0, 65535))


def hosts() -> st.SearchStrategy[str]:
    """``host = hostname / IPv4address / IPv6reference``."""
    return _HOSTS


# -- quoted strings and display names -------------------------------------------------------

# (as written, as meant) pieces of a quoted-string: qdtext, LWS, UTF-8 and quoted-pairs
# (the escaped quote and backslash first of all).
_QS_PIECE = st.one_of(
    st.sampled_from(QDTEXT_ASCII).map(lambda c: (c, c)),
    st.sampled_from([" ", "\t"]).map(lambda c: (c, c)),
    _NON_ASCII.map(lambda c: (c, c)),
    st.sampled_from(['"', "\\", *VISIBLE_ASCII]).map(lambda c: ("\\" + c, c)),
)


def _join_quoted(pieces: list[tuple[str, str]]) -> tuple[str, str]:
    return '"' + "".join(p[0] for p in pieces) + '"', "".join(p[1] for p in pieces)


@functools.cache
def quoted_strings(max_size: int = 12) -> st.SearchStrategy[tuple[str, str]]:
    """A ``quoted-string`` as written and its content once quoted-pairs are undone."""
    return st.lists(_QS_PIECE, max_size=max_size).map(_join_quoted)


def _join_tokens(words: list[str], seps: list[str]) -> tuple[str, str]:
    text = words[0] + "".join(s + w for s, w in zip(seps, words[1:], strict=False))
    return text, text


# display-name = *(token LWS) / quoted-string, as written and as meant.
_DISPLAY_NAMES: st.SearchStrategy[tuple[str, str] | None] = st.one_of(
    st.none(),
    st.builds(
        _join_tokens,
        st.lists(tokens(8), min_size=1, max_size=3),
        st.lists(_WSP, min_size=2, max_size=2),
    ),
    quoted_strings(),
)

# gen-value = token / host / quoted-string
_GEN_VALUES = st.one_of(st.none(), tokens(10), _HOSTS, quoted_strings(8).map(lambda q: q[0]))


@st.composite
def _generic_params(
    draw: st.DrawFn, reserved: frozenset[str] = frozenset()
) -> list[tuple[str, str | None]]:
    """``generic-param = token [ EQUAL gen-value ]`` with names not in ``reserved``."""
    out: list[tuple[str, str | None]] = []
    seen = set(reserved)
    for _ in range(draw(_upto(2))):
        name = draw(tokens(8))
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        out.append((name, draw(_GEN_VALUES)))
    return out


def _render_params(draw: st.DrawFn, params: list[tuple[str, str | None]], fold: bool) -> str:
    """``*(SEMI param)`` with SWS around ';' and '=' (which may fold when ``fold``)."""
    sws = _SWS if fold else _SWS_NOFOLD
    out = []
    for name, value in params:
        text = draw(sws) + ";" + draw(sws) + name
        if value is not None:
            text += draw(sws) + "=" + draw(sws) + value
        out.append(text)
    return "".join(out)


# -- URIs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedUri:
    """A URI as written and the parts the strategy chose."""

    text: str
    scheme: str  # lower-cased: "sip", "sips" or "tel"
    user: str | None = None  # as written (escapes kept)
    host: str | None = None
    port: int | None = None
    number: str | None = None  # tel only

    @property
    def bare_ok(self) -> bool:
        """Whether the URI may be written as a bare addr-spec in a header (§20)."""
        return not any(c in self.text for c in ";,?")


_URI_SPECIAL_PARAMS = ("transport", "lr", "user", "maddr", "ttl", "method")
_URI_PARAM_VALUES: dict[str, st.SearchStrategy[str | None]] = {
    "transport": st.sampled_from(["udp", "tcp", "tls", "sctp", "ws", "wss", "TCP"]),
    "lr": st.none(),
    "user": st.sampled_from(["phone", "ip", "dialstring"]),
    "maddr": _HOSTS,
    "ttl": st.integers(0, 255).map(str),
    "method": st.sampled_from(METHODS),
}
_URI_PARAM_KIND = st.sampled_from([*_URI_SPECIAL_PARAMS, "other", "other"])
_OTHER_PARAM_VALUES = st.none() | _escaped_text(PARAM_CHARS, max_size=8)


@st.composite
def _uri_params(draw: st.DrawFn) -> list[tuple[str, str | None]]:
    """``uri-parameters``: the well-known ones with legal values, plus others."""
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for _ in range(draw(_upto(4))):
        kind = draw(_URI_PARAM_KIND)
        if kind == "other":
            name = draw(_escaped_text(PARAM_CHARS, max_size=6))
            value = draw(_OTHER_PARAM_VALUES)
        else:
            name = kind.upper() if kind == "lr" and draw(_BOOL) else kind
            value = draw(_URI_PARAM_VALUES[kind])
        if name.lower() in seen or (kind == "other" and name.lower() in _URI_SPECIAL_PARAMS):
            continue
        seen.add(name.lower())
        out.append((name, value))
    return out


_URI_HEADERS = st.lists(
    st.tuples(
        _escaped_text(HEADER_CHARS, max_size=6),
        _escaped_text(HEADER_CHARS, min_size=0, max_size=8),
    ),
    min_size=1,
    max_size=3,
)
_SIP_SCHEMES = st.sampled_from(["sip", "sips", "SIP", "Sips"])


@st.composite
def _sip_uris(draw: st.DrawFn, bare: bool, allow_headers: bool) -> GeneratedUri:
    scheme = draw(_SIP_SCHEMES)
    user: str | None = None
    password: str | None = None
    if not _one_in(draw, 4):
        user = draw(_escaped_text(BARE_USER_CHARS if bare else USER_CHARS, max_size=10))
        if not bare and _one_in(draw, 6):
            password = draw(_escaped_text(PASSWORD_CHARS, min_size=0, max_size=6))
    host = draw(_HOSTS)
    port = draw(_PORTS)
    params = [] if bare else draw(_uri_params())
    headers: list[tuple[str, str]] = []
    if allow_headers and not bare and _one_in(draw, 5):
        headers = draw(_URI_HEADERS)
    text = f"{scheme}:"
    if user is not None:
        text += user if password is None else f"{user}:{password}"
        text += "@"
    text += host
    if port is not None:
        text += f":{port}"
    text += "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)
    if headers:
        text += "?" + "&".join(f"{n}={v}" for n, v in headers)
    return GeneratedUri(text=text, scheme=scheme.lower(), user=user, host=host, port=port)


@functools.cache
def sip_uris(*, bare: bool = False, allow_headers: bool = False) -> st.SearchStrategy[GeneratedUri]:
    """A ``SIP-URI`` / ``SIPS-URI`` (§19.1.1).

    ``bare``: fit to be written without ``<>`` (no params, headers, ',' ';' '?').
    ``allow_headers``: may carry ``?name=value`` URI headers (never on a Request-URI).
    """
    return _sip_uris(bare, allow_headers)


_PHONE_SEPARATORS = st.sampled_from("-.()")
_TEL_CONTEXTS = st.one_of(
    _HOSTNAMES, st.text(string.digits, min_size=1, max_size=6).map(lambda d: "+" + d)
)
_TEL_EXT_NAMES = st.from_regex(r"x-[A-Za-z0-9-]{1,6}", fullmatch=True)
_ISUB_VALUES = _escaped_text(UNRESERVED + "/?:@&=+$,", max_size=6)
_TEL_SCHEMES = st.sampled_from(["tel", "TEL", "Tel"])


def _phone_digits(draw: st.DrawFn, digits: str) -> str:
    """Digits with optional visual separators (never first), at least one digit."""
    pieces = draw(st.lists(_pick(tuple(digits)), min_size=1, max_size=12))
    out: list[str] = []
    for piece in pieces:
        out.append(piece)
        if _one_in(draw, 5):
            out.append(draw(_PHONE_SEPARATORS))
    return "".join(out)


@st.composite
def _tel_uris(draw: st.DrawFn, bare: bool) -> GeneratedUri:
    scheme = draw(_TEL_SCHEMES)
    local = not bare and draw(_BOOL)
    params: list[tuple[str, str | None]] = []
    if local:
        # RFC 3966 §5.1.5: a local number must carry a phone-context.
        number = _phone_digits(draw, string.digits + "ABCDEFabcdef*#")
        params.append(("phone-context", draw(_TEL_CONTEXTS)))
    else:
        number = "+" + _phone_digits(draw, string.digits)
    if not bare:
        if draw(_BOOL):
            params.append(("ext", _phone_digits(draw, string.digits)))
        if _one_in(draw, 4):
            params.append(("isub", draw(_ISUB_VALUES)))
        for _ in range(draw(_upto(2))):
            name = draw(_TEL_EXT_NAMES)
            if name.lower() not in {n.lower() for n, _ in params}:
                params.append((name, draw(_OTHER_PARAM_VALUES)))
        params = draw(st.permutations(params))
    text = f"{scheme}:{number}" + "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)
    return GeneratedUri(text=text, scheme="tel", number=number)


@functools.cache
def tel_uris(*, bare: bool = False) -> st.SearchStrategy[GeneratedUri]:
    """A ``tel:`` URI (RFC 3966): global, or local with a phone-context."""
    return _tel_uris(bare)


def uri_texts() -> st.SearchStrategy[str]:
    """Text of valid sip, sips and tel URIs (for ``parse_uri`` properties)."""
    return st.one_of(sip_uris(allow_headers=True), tel_uris()).map(lambda u: u.text)


# -- addresses ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Address:
    text: str
    uri: GeneratedUri
    display: str | None


_ADDRESS_URIS = st.one_of(sip_uris(), sip_uris(bare=True), tel_uris(), tel_uris(bare=True))
_CONTACT_URIS = st.one_of(
    sip_uris(allow_headers=True), sip_uris(bare=True), tel_uris(), tel_uris(bare=True)
)
_ROUTE_URIS = sip_uris()
_DISPLAY_SEP_TOKEN = st.one_of(st.just(""), _WSP)


@st.composite
def _addresses(
    draw: st.DrawFn,
    uris: st.SearchStrategy[GeneratedUri],
    params: tuple[tuple[str, str | None], ...],
    reserved: frozenset[str],
    name_addr_only: bool,
) -> _Address:
    """``(name-addr / addr-spec) *(SEMI param)`` for From, To, Contact, Route…"""
    uri = draw(uris)
    display = draw(_DISPLAY_NAMES)
    extra = draw(_generic_params(reserved | {n.lower() for n, _ in params}))
    all_params = draw(st.permutations([*params, *extra]))
    if not name_addr_only and display is None and uri.bare_ok and draw(_BOOL):
        text = uri.text
    else:
        lead = ""
        if display is not None:
            quoted = display[0].startswith('"')
            lead = display[0] + draw(_SWS if quoted else _DISPLAY_SEP_TOKEN)
        text = f"{lead}<{uri.text}>"
    text += _render_params(draw, list(all_params), fold=True)
    return _Address(text, uri, None if display is None else display[1])


# -- headers ---------------------------------------------------------------------------------

_HCOLON_BEFORE = st.sampled_from(["", "", "", " ", "\t", "  "])
_HCOLON_AFTER = st.sampled_from([" ", " ", " ", "", "  ", "\t", "\r\n ", " \r\n\t"])
_HCOLON_AFTER_EMPTY = st.sampled_from(["", " "])


def _header_line(draw: st.DrawFn, name: str, value: str) -> str:
    """``header-name HCOLON value``: SP/HT before the colon, SWS (maybe a fold) after."""
    compact = COMPACT.get(name)
    if compact is not None and _one_in(draw, 3):
        shown = compact.upper() if draw(_BOOL) else compact
    else:
        shown = _mixed_case(draw, name)
    before = draw(_HCOLON_BEFORE)
    after = draw(_HCOLON_AFTER if value else _HCOLON_AFTER_EMPTY)
    return f"{shown}{before}:{after}{value}"


def _list_lines(draw: st.DrawFn, name: str, values: list[str]) -> list[str]:
    """A list header (§7.3.1): the values spread over one or more lines, COMMA-joined."""
    if not values:
        return []
    lines = []
    text = values[0]
    for value in values[1:]:
        if draw(_BOOL):  # a new header line
            lines.append(_header_line(draw, name, text))
            text = value
        else:
            text += draw(_SWS) + "," + draw(_SWS) + value
    lines.append(_header_line(draw, name, text))
    return lines


@dataclass(frozen=True)
class GeneratedVia:
    """One Via value as written and the parts the strategy chose."""

    text: str
    host: str
    port: int | None
    transport: str  # upper-cased
    branch: str | None


_VIA_NAMES = st.sampled_from(["SIP", "sip", "Sip"])
_TRANSPORTS = st.one_of(
    st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "udp", "tls"]), tokens(6)
)
_BRANCH_NAMES = st.sampled_from(["branch", "Branch", "BRANCH"])
_RECEIVED = st.one_of(_IPV4, st.ip_addresses(v=6).map(str))
_RPORT = st.none() | st.integers(0, 65535).map(str)
_VIA_RESERVED = frozenset({"branch", "received", "rport", "ttl", "maddr"})


@st.composite
def _via_values(draw: st.DrawFn) -> GeneratedVia:
    sws = _SWS
    name = draw(_VIA_NAMES)
    transport = draw(_TRANSPORTS)
    proto = f"{name}{draw(sws)}/{draw(sws)}2.0{draw(sws)}/{draw(sws)}{transport}"
    host = draw(_HOSTS)
    port = draw(_PORTS)
    sent_by = host if port is None else f"{host}{draw(sws)}:{draw(sws)}{port}"
    branch = "z9hG4bK" + draw(tokens(16))
    params: list[tuple[str, str | None]] = [(draw(_BRANCH_NAMES), branch)]
    if draw(_BOOL):
        params.append(("received", draw(_RECEIVED)))
    if draw(_BOOL):
        params.append(("rport", draw(_RPORT)))
    if _one_in(draw, 5):
        params.append(("ttl", str(draw(_upto(255)))))
    if _one_in(draw, 5):
        params.append(("maddr", draw(_HOSTS)))
    params.extend(draw(_generic_params(_VIA_RESERVED)))
    params = draw(st.permutations(params))
    text = f"{proto}{draw(_LWS)}{sent_by}{_render_params(draw, params, fold=True)}"
    return GeneratedVia(text, host, port, transport.upper(), branch)


_VIA_VALUES = _via_values()


def via_values() -> st.SearchStrategy[GeneratedVia]:
    """``via-parm = sent-protocol LWS sent-by *( SEMI via-params )`` with legal LWS."""
    return _VIA_VALUES


_TEXT_WORDS = st.text(
    alphabet=st.one_of(st.sampled_from(VISIBLE_ASCII), _NON_ASCII), min_size=1, max_size=8
)


def _text_value(draw: st.DrawFn) -> str:
    """A TEXT-UTF8 header value: words of visible ASCII or UTF-8 joined by LWS."""
    words = draw(st.lists(_TEXT_WORDS, max_size=4))
    if not words:
        return ""
    return words[0] + "".join(draw(_LWS) + w for w in words[1:])


_HEX32 = st.text("0123456789abcdef", min_size=32, max_size=32)
_DIGEST = st.sampled_from(["Digest", "digest", "DIGEST"])


def _auth_value(draw: st.DrawFn, uri: str) -> tuple[str, str, str]:
    """Digest credentials or challenge: (value as written, username, realm)."""
    username = draw(quoted_strings(8))
    realm = draw(quoted_strings(8))
    pairs = [
        ("username", username[0]),
        ("realm", realm[0]),
        ("nonce", draw(quoted_strings(10))[0]),
        ("uri", f'"{uri}"'),
        ("response", '"' + draw(_HEX32) + '"'),
    ]
    if draw(_BOOL):
        pairs += [("algorithm", "MD5"), ("qop", "auth"), ("nc", "00000001")]
        pairs.append(("cnonce", draw(quoted_strings(8))[0]))
    pairs = draw(st.permutations(pairs))
    parts = [f"{n}{draw(_SWS_NOFOLD)}={draw(_SWS_NOFOLD)}{v}" for n, v in pairs]
    body = parts[0] + "".join(draw(_SWS) + "," + draw(_SWS) + p for p in parts[1:])
    return f"{draw(_DIGEST)}{draw(_LWS)}{body}", username[1], realm[1]


# -- whole messages --------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedMessage:
    """A well-formed message and what the strategy put into it."""

    data: bytes
    is_request: bool
    method: str  # request method ("" for a response)
    request_uri: GeneratedUri | None
    status_code: int  # 0 for a request
    reason: str
    call_id: str
    cseq_number: int
    cseq_method: str
    vias: tuple[GeneratedVia, ...]
    from_tag: str | None
    from_display: str | None
    to_tag: str | None
    to_display: str | None
    contact_count: int
    contact_wildcard: bool
    route_count: int
    record_route_count: int
    max_forwards: int | None
    expires: int | None
    content_type: str | None  # lower-cased type/subtype
    body: bytes
    supported: tuple[str, ...] | None
    allow: tuple[str, ...] | None
    auth_username: str | None
    auth_realm: str | None
    #: (name as written, value after unfolding) of each extension header line.
    extensions: tuple[tuple[str, str], ...]


_MEDIA_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/sdp",
            "text/plain",
            "message/sipfrag",
            "multipart/mixed",
            "application/pidf+xml",
        ]
    ),
    st.builds(lambda a, b: f"{a}/{b}", tokens(8), tokens(8)),
)
_BODIES = st.one_of(st.just(b""), st.binary(min_size=1, max_size=200))


# Well-formed SDP for application/sdp bodies: the validator parses those (RFC 8866).
_SDP_BODIES = st.sampled_from(
    [
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        b"m=audio 49170 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        b"v=0\r\no=bob 2808844564 2808844564 IN IP6 2001:db8::1\r\ns= \r\n"
        b"c=IN IP6 2001:db8::1\r\nt=0 0\r\nm=audio 0 RTP/AVP 96\r\n"
        b"a=rtpmap:96 opus/48000/2\r\n",
    ]
)


def _body(draw: st.DrawFn) -> tuple[bytes, str | None, str | None]:
    """(body, Content-Type value or None, lower-cased type/subtype or None)."""
    body = draw(_BODIES)
    if not body and draw(_BOOL):
        return body, None, None
    media = draw(_MEDIA_TYPES)
    if media == "application/sdp" and body:
        body = draw(_SDP_BODIES)
    typ, sub = media.split("/")
    slash = f"{draw(_SWS_NOFOLD)}/{draw(_SWS_NOFOLD)}"
    written = f"{_mixed_case(draw, typ)}{slash}{_mixed_case(draw, sub)}"
    written += _render_params(draw, draw(_generic_params()), fold=False)
    return body, written, media.lower()


# REGISTER twice as likely: it is the only method with the `Contact: *` form.
_METHODS = st.one_of(st.sampled_from(METHODS), st.just("REGISTER"), tokens(12))
_REQUEST_URIS = st.one_of(sip_uris(), tel_uris())
_REASONS = st.one_of(
    st.just(""),
    st.sampled_from(["OK", "Trying", "Not Found", "Ringing", "Bad Request"]),
    st.lists(st.one_of(st.sampled_from(REASON_ASCII), _ESCAPE, _NON_ASCII), max_size=20).map(
        "".join
    ),
)
_CALL_ID_WORDS = st.text(WORD_CHARS, min_size=1, max_size=16)
_CALL_ID_HOSTS = st.one_of(_HOSTS, _CALL_ID_WORDS)
_CSEQ_NUMBERS = st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 100))
_UINT32 = st.integers(0, 2**32 - 1)
_QVALUES = st.one_of(
    st.sampled_from(["1", "1.0", "1.000", "0"]),
    st.text("0123456789", max_size=3).map(lambda d: "0." + d),
)
_DATES = st.datetimes(
    min_value=datetime.datetime(1990, 1, 1), max_value=datetime.datetime(2099, 1, 1)
)
_EXTENSION_NAMES = st.lists(tokens(10).map(lambda t: "X-" + t), max_size=3, unique_by=str.lower)
_ALLOW = st.lists(st.sampled_from(METHODS), min_size=1, max_size=6, unique=True)
_OPTION_TAGS = st.lists(tokens(10), max_size=4)


@st.composite
def _message(draw: st.DrawFn, is_request: bool) -> GeneratedMessage:
    blocks: list[list[str]] = []
    method = ""
    status_code = 0
    reason = ""
    request_uri: GeneratedUri | None = None
    if is_request:
        method = draw(_METHODS)
        request_uri = draw(_REQUEST_URIS)
        start = f"{method} {request_uri.text} SIP/2.0"
        cseq_method = method
    else:
        status_code = draw(st.integers(100, 699))
        reason = draw(_REASONS)
        start = f"SIP/2.0 {status_code} {reason}"
        cseq_method = draw(_METHODS)

    # Via: one or more values, on one line or several.
    vias = draw(st.lists(_VIA_VALUES, min_size=1, max_size=4))
    blocks.append(_list_lines(draw, "Via", [v.text for v in vias]))

    # From / To (a request without a From tag is RFC 2543 style: legal, warned about).
    from_tag = draw(tokens(12)) if not is_request or not _one_in(draw, 6) else None
    tag_only = frozenset({"tag"})
    from_params = () if from_tag is None else (("tag", from_tag),)
    from_addr = draw(_addresses(_ADDRESS_URIS, from_params, tag_only, False))
    blocks.append([_header_line(draw, "From", from_addr.text)])
    to_tag = draw(st.none() | tokens(12))
    to_params = () if to_tag is None else (("tag", to_tag),)
    to_addr = draw(_addresses(_ADDRESS_URIS, to_params, tag_only, False))
    blocks.append([_header_line(draw, "To", to_addr.text)])

    # Call-ID, CSeq, Max-Forwards.
    call_id = draw(_CALL_ID_WORDS)
    if draw(_BOOL):
        call_id += "@" + draw(_CALL_ID_HOSTS)
    blocks.append([_header_line(draw, "Call-ID", call_id)])
    cseq_number = draw(_CSEQ_NUMBERS)
    cseq_text = f"{_digits(draw, cseq_number)}{draw(_LWS)}{cseq_method}"
    blocks.append([_header_line(draw, "CSeq", cseq_text)])
    max_forwards: int | None = None
    if not _one_in(draw, 6) if is_request else draw(_BOOL):
        max_forwards = draw(_upto(255))
        blocks.append([_header_line(draw, "Max-Forwards", _digits(draw, max_forwards))])

    # Contact: `*` only in REGISTER with Expires: 0 (§10.2.2), else 0-3 addresses.
    expires: int | None = None
    wildcard = method == "REGISTER" and _one_in(draw, 3)
    contact_count = 0
    if wildcard:
        contact_count = 1
        blocks.append([_header_line(draw, "Contact", "*")])
        expires = 0
    else:
        contacts = []
        for _ in range(draw(_upto(3))):
            params: list[tuple[str, str | None]] = []
            if draw(_BOOL):
                params.append(("q", draw(_QVALUES)))
            if draw(_BOOL):
                params.append(("expires", str(draw(_UINT32))))
            reserved = frozenset({"q", "expires"})
            contacts.append(draw(_addresses(_CONTACT_URIS, tuple(params), reserved, False)).text)
        contact_count = len(contacts)
        blocks.append(_list_lines(draw, "Contact", contacts))
        if draw(_BOOL):
            expires = draw(_UINT32)
    if expires is not None:
        blocks.append([_header_line(draw, "Expires", _digits(draw, expires))])

    # Route / Record-Route: name-addrs of SIP URIs.
    no_params: tuple[tuple[str, str | None], ...] = ()
    routes = [
        draw(_addresses(_ROUTE_URIS, no_params, frozenset(), True)).text
        for _ in range(draw(_upto(3)))
    ]
    blocks.append(_list_lines(draw, "Route", routes))
    record_routes = [
        draw(_addresses(_ROUTE_URIS, no_params, frozenset(), True)).text
        for _ in range(draw(_upto(3)))
    ]
    blocks.append(_list_lines(draw, "Record-Route", record_routes))

    # Optional well-known headers.
    supported: tuple[str, ...] | None = None
    if draw(_BOOL):
        supported = tuple(draw(_OPTION_TAGS))
        if supported:
            blocks.append(_list_lines(draw, "Supported", list(supported)))
        else:
            blocks.append([_header_line(draw, "Supported", "")])  # no extensions: legal
    allow: tuple[str, ...] | None = None
    if draw(_BOOL):
        allow = tuple(draw(_ALLOW))
        blocks.append(_list_lines(draw, "Allow", list(allow)))
    if _one_in(draw, 4):
        blocks.append([_header_line(draw, "Subject", _text_value(draw))])
    if _one_in(draw, 4):
        date = draw(_DATES).strftime("%a, %d %b %Y %H:%M:%S GMT")
        blocks.append([_header_line(draw, "Date", date)])
    auth_username: str | None = None
    auth_realm: str | None = None
    if _one_in(draw, 4):
        uri_for_auth = request_uri.text if request_uri is not None else "sip:example.com"
        value, auth_username, auth_realm = _auth_value(draw, uri_for_auth)
        name = "Authorization" if is_request else "WWW-Authenticate"
        blocks.append([_header_line(draw, name, value)])

    # Extension headers (unique names that clash with no known header).
    extensions: list[tuple[str, str]] = []
    for ext_name in draw(_EXTENSION_NAMES):
        line = _header_line(draw, ext_name, _text_value(draw))
        name_part, _, value_part = line.partition(":")
        extensions.append((name_part.rstrip(" \t"), unfold(value_part).strip(" \t")))
        blocks.append([line])

    # Body, Content-Type and a correct Content-Length.
    body, content_type, media = _body(draw)
    if content_type is not None:
        blocks.append([_header_line(draw, "Content-Type", content_type)])
    blocks.append([_header_line(draw, "Content-Length", _digits(draw, len(body)))])

    ordered = draw(st.permutations([b for b in blocks if b]))
    head = "\r\n".join([start] + [line for block in ordered for line in block])
    return GeneratedMessage(
        data=(head + "\r\n\r\n").encode("utf-8") + body,
        is_request=is_request,
        method=method,
        request_uri=request_uri,
        status_code=status_code,
        reason=reason,
        call_id=call_id,
        cseq_number=cseq_number,
        cseq_method=cseq_method,
        vias=tuple(vias),
        from_tag=from_tag,
        from_display=from_addr.display,
        to_tag=to_tag,
        to_display=to_addr.display,
        contact_count=contact_count,
        contact_wildcard=wildcard,
        route_count=len(routes),
        record_route_count=len(record_routes),
        max_forwards=max_forwards,
        expires=expires,
        content_type=media,
        body=body,
        supported=supported,
        allow=allow,
        auth_username=auth_username,
        auth_realm=auth_realm,
        extensions=tuple(extensions),
    )


_REQUESTS = _message(True)
_RESPONSES = _message(False)
_MESSAGES = st.one_of(_REQUESTS, _RESPONSES)


def requests() -> st.SearchStrategy[GeneratedMessage]:
    """Well-formed requests, standard and extension methods."""
    return _REQUESTS


def responses() -> st.SearchStrategy[GeneratedMessage]:
    """Well-formed responses, status 100-699."""
    return _RESPONSES


def sip_messages() -> st.SearchStrategy[GeneratedMessage]:
    """Well-formed requests and responses."""
    return _MESSAGES


#: One item a stream must frame into: a message, True for a ping, False for a pong.
StreamItem = GeneratedMessage | bool


@st.composite
def keepalive_streams(draw: st.DrawFn, max_messages: int = 4) -> tuple[bytes, list[StreamItem]]:
    """Messages and CRLF keep-alives as one stream, and the items it must frame into.

    Items are a :class:`GeneratedMessage`, ``True`` for a CRLFCRLF ping, or
    ``False`` for a CRLF pong (RFC 5626 §3.5.1). A pong is only put right
    before a message: alone at the end of a stream it cannot be told from the
    first half of a ping.
    """
    messages = draw(st.lists(_MESSAGES, min_size=1, max_size=max_messages))
    stream = b""
    items: list[StreamItem] = []
    for msg in messages:
        pings = draw(_upto(2))
        pong = draw(_BOOL)
        stream += b"\r\n\r\n" * pings + (b"\r\n" if pong else b"") + msg.data
        items += [True] * pings + ([False] if pong else []) + [msg]
    pings = draw(_upto(2))
    stream += b"\r\n\r\n" * pings
    items += [True] * pings
    return stream, items
