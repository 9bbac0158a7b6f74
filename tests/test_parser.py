"""Tests of ``sipwright.parse``: datagram framing of one SIP message.

Layout: RFC 3261 §7 (start line, header lines, empty line, body), §7.1/§7.2 start
lines, §7.3.1 header fields (case, HCOLON, folding, comma lists), §7.3.3 compact forms,
§18.3 framing by Content-Length, §21.5.7 (513) and §21.5.6 (505). Torture inputs come
from RFC 4475 (``shared/torture``) and the seeds from RFC 3261 §4 and vendor traces.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from peers import shared_dir

from sipwright import ParseError, ParseLimits, Request, Response, parse
from sipwright.headers import header_key

VIA = "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds"
TAIL = "Content-Length: 0\r\n\r\n"


def message(start: str, *headers: str, body: bytes = b"", length: bool = True) -> bytes:
    """A message with the given start line and header lines, CRLF ends, Content-Length."""
    lines = [start, *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def request(*headers: str, start: str = "OPTIONS sip:bob@example.com SIP/2.0") -> bytes:
    return message(start, VIA, *headers)


def as_request(data: bytes) -> Request:
    msg = parse(data)
    assert isinstance(msg, Request), msg
    return msg


def as_response(data: bytes) -> Response:
    msg = parse(data)
    assert isinstance(msg, Response), msg
    return msg


def parse_error(data: bytes, limits: ParseLimits | None = None) -> ParseError:
    with pytest.raises(ParseError) as info:
        if limits is None:
            parse(data)
        else:
            parse(data, limits=limits)
    return info.value


# ---------------------------------------------------------------------------
# Start lines (§7.1, §7.2)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    ["INVITE", "ACK", "OPTIONS", "REGISTER", "NOTIFY", "FOO.bar-BAZ", "x!%*_+`'~9"],
)
def test_request_line_methods_including_extension_tokens(method: str) -> None:
    """§7.1 / §25.1: Method is any token, so extension methods parse as written."""
    msg = as_request(request(start=f"{method} sip:bob@example.com SIP/2.0"))
    assert msg.method == method
    assert msg.uri_text == "sip:bob@example.com"


def test_request_line_keeps_request_uri_text() -> None:
    """§7.1: the Request-URI is kept exactly as written (parameters included)."""
    msg = as_request(request(start="INVITE sip:bob@example.com:5070;transport=tcp SIP/2.0"))
    assert msg.uri_text == "sip:bob@example.com:5070;transport=tcp"
    assert str(msg.uri) == "sip:bob@example.com:5070;transport=tcp"


def test_parsed_message_has_sip_version() -> None:
    """§7.1/§7.2: a parsed message carries its SIP-Version (``SIP/2.0``) like a built one."""
    req = as_request(request())
    resp = as_response(message("SIP/2.0 200 OK", VIA))
    assert req.version == "SIP/2.0"
    assert resp.version == "SIP/2.0"
    assert req.start_line() == "OPTIONS sip:bob@example.com SIP/2.0"
    assert resp.start_line() == "SIP/2.0 200 OK"


def test_status_line() -> None:
    """§7.2: Status-Line = SIP-Version SP Status-Code SP Reason-Phrase."""
    msg = as_response(message("SIP/2.0 486 Busy Here", VIA))
    assert (msg.status_code, msg.reason) == (486, "Busy Here")


def test_status_line_with_empty_reason() -> None:
    """§7.2: Reason-Phrase may be empty: ``SIP/2.0 100 `` (RFC 4475 §3.1.1.13 noreason)."""
    msg = as_response(message("SIP/2.0 100 ", VIA))
    assert msg.status_code == 100
    assert msg.reason == ""
    assert msg.defects == []


def test_status_line_with_utf8_reason() -> None:
    """§7.2: Reason-Phrase allows UTF8-NONASCII (RFC 4475 §3.1.1.12 unreason)."""
    msg = as_response(message("SIP/2.0 200 Très bien — ça marche ✓", VIA))
    assert msg.reason == "Très bien — ça marche ✓"


@pytest.mark.parametrize(
    ("start", "fault"),
    [
        ("OPTIONS  sip:bob@example.com SIP/2.0", "two SP (RFC 4475 lwsstart)"),
        ("OPTIONS sip:bob@example.com  SIP/2.0", "two SP before the version"),
        ("OPTIONS sip:bob@example.com SIP/2.0 ", "trailing SP (RFC 4475 trws)"),
        ("OPTIONS <sip:bob@example.com> SIP/2.0", "<> around the Request-URI (ltgtruri)"),
        ("OPTIONS sip:bob@example.com;a=b; lr SIP/2.0", "LWS inside the Request-URI"),
        ("OPTIONS sip:bob@example.com", "no SIP-Version"),
        ("OPTI@NS sip:bob@example.com SIP/2.0", "method not a token"),
        ("OPTIONS sip:bob@example.com HTTP/1.1", "not a SIP version"),
    ],
)
def test_malformed_request_line_is_a_400(start: str, fault: str) -> None:
    """§7.1: ``Method SP Request-URI SP SIP-Version CRLF``, single SPs, no <> (§25.1)."""
    exc = parse_error(request(start=start))
    assert exc.status_code == 400, fault
    assert exc.line == 1, fault


@pytest.mark.parametrize("start", ["SIP/2.0 99 Low", "SIP/2.0 700 High", "SIP/2.0 1000 Four"])
def test_status_code_out_of_range_is_an_error(start: str) -> None:
    """§7.2 / §25.1: Status-Code is exactly 3 digits, 100 to 699 (§21 classes 1xx-6xx)."""
    exc = parse_error(message(start, VIA))
    assert exc.status_code == 400
    assert exc.line == 1


@pytest.mark.parametrize(
    "start",
    ["SIP/3.0 200 OK", "SIP/7.0 200 OK", "OPTIONS sip:bob@example.com SIP/3.0"],
)
def test_unsupported_sip_version_is_505(start: str) -> None:
    """§7.1 / §21.5.6 (RFC 4475 §3.1.2.16 badvers): another version is answered 505."""
    exc = parse_error(message(start, VIA))
    assert exc.status_code == 505
    assert exc.line == 1


# ---------------------------------------------------------------------------
# Header names (§7.3.1, §7.3.3)
# ---------------------------------------------------------------------------


def test_header_names_are_case_insensitive() -> None:
    """§7.3.1: field names are case-insensitive (RFC 4475 wsinv ``MaX-fOrWaRdS``)."""
    msg = as_request(request("MaX-fOrWaRdS: 70", "cALL-iD: abc@host", "X-CUSTOM: 1"))
    for name in ("max-forwards", "MAX-FORWARDS", "Max-Forwards"):
        assert msg.headers.get(name) == "70"
    assert msg.call_id == "abc@host"
    assert msg.headers.get("x-custom") == "1"
    assert msg.max_forwards == 70


# RFC 3261 §7.3.3 (i m e l c f s k t v) and the IANA registry for the others.
COMPACT = {
    "i": ("call-id", "a84b4c76e66710@pc33"),
    "m": ("contact", "<sip:alice@pc33.example.com>"),
    "e": ("content-encoding", "gzip"),
    "l": ("content-length", "0"),
    "c": ("content-type", "application/sdp"),
    "f": ("from", "<sip:alice@example.com>;tag=1"),
    "s": ("subject", "lunch"),
    "k": ("supported", "100rel"),
    "t": ("to", "<sip:bob@example.com>"),
    "v": ("via", "SIP/2.0/UDP h.example.com;branch=z9hG4bK1"),
    "o": ("event", "presence"),
    "u": ("allow-events", "dialog"),
    "r": ("refer-to", "<sip:carol@example.com>"),
    "b": ("referred-by", "<sip:alice@example.com>"),
    "x": ("session-expires", "1800"),
    "y": ("identity", "abcd"),
    "a": ("accept-contact", "*;audio"),
    "j": ("reject-contact", "*;video"),
    "d": ("request-disposition", "proxy"),
    "n": ("identity-info", "<https://example.com/cert>"),
}


@pytest.mark.parametrize("letter", sorted(COMPACT))
def test_every_compact_form(letter: str) -> None:
    """§7.3.3: each compact form means its long name; lower and upper case alike."""
    long_key, value = COMPACT[letter]
    assert header_key(letter) == long_key
    assert header_key(letter.upper()) == long_key
    headers = [f"{letter}: {value}"]
    if letter != "l":
        headers.append("Content-Length: 0")
    msg = parse(message("OPTIONS sip:bob@example.com SIP/2.0", *headers, length=False))
    assert msg.headers.get(long_key) == value
    assert msg.headers.get(letter) == value
    assert msg.headers.get(letter.upper()) == value
    assert long_key in msg.headers


@pytest.mark.parametrize("name", ["Subject :", "Subject\t:", "Subject  \t :", "Subject:"])
def test_hcolon_allows_blanks_before_colon(name: str) -> None:
    """§7.3.1 / §25.1: ``HCOLON = *( SP / HTAB ) ":" SWS`` (RFC 4475 wsinv)."""
    data = request(f"{name}   lunch at noon")
    msg = parse(data)
    assert msg.headers.get("subject") == "lunch at noon"
    assert msg.headers.items()[1] == ("Subject", "lunch at noon")


def test_invalid_header_name_reports_its_line() -> None:
    """§7.3.1: header-name is a token; the error names the offending line."""
    exc = parse_error(request("Max-Forwards: 70", "Bad Name: x"))
    assert exc.status_code == 400
    assert exc.line == 4
    assert exc.reason


def test_header_line_without_colon_reports_its_line() -> None:
    """§7.3.1: every header line is ``name HCOLON value``; a line with no colon is an error."""
    exc = parse_error(request("Max-Forwards: 70", "NoColonHere"))
    assert exc.line == 4


def test_header_line_without_colon_is_rejected_even_for_a_known_name() -> None:
    """§7.3.1: a bare ``Via`` line (a known name, no colon) is malformed, not an empty Via.

    The name is seen first in a well-formed message so any name cache is warm; the
    verdict must not depend on which names were parsed before.
    """
    parse(request("Max-Forwards: 70"))
    exc = parse_error(request("Max-Forwards: 70", "Via"))
    assert exc.status_code == 400
    assert exc.line == 4


# ---------------------------------------------------------------------------
# Folding (§7.3.1 LWS)
# ---------------------------------------------------------------------------

FOLDED = (
    b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n"
    b"Subject: I know you're there,\r\n"
    b"     pick up the phone\r\n"
    b"\tand talk to me!\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def test_folded_value_is_unfolded_with_one_space() -> None:
    """§7.3.1: a continuation line (leading SP/HTAB) joins the previous value; LWS = one SP."""
    msg = parse(FOLDED)
    assert msg.headers.get("subject") == "I know you're there, pick up the phone and talk to me!"
    assert msg.max_forwards == 70
    assert len(msg.headers) == 4


def test_folded_header_round_trips_byte_exact() -> None:
    """§7.3.1: folding is legal on the wire; an untouched message is re-sent unchanged."""
    assert bytes(parse(FOLDED)) == FOLDED


def test_folded_typed_header() -> None:
    """§7.3.1 (RFC 4475 wsinv): a CSeq folded between number and method still parses."""
    msg = parse(request("CSeq: 0009\r\n  OPTIONS"))
    assert msg.cseq is not None
    assert (msg.cseq.number, msg.cseq.method) == (9, "OPTIONS")


def test_continuation_right_after_start_line_is_an_error() -> None:
    """§7.3.1: a continuation line must continue a header field; none precedes it here."""
    exc = parse_error(b"OPTIONS sip:bob@example.com SIP/2.0\r\n  folded\r\n" + TAIL.encode())
    assert exc.line == 2


# ---------------------------------------------------------------------------
# Comma lists and repeated lines (§7.3.1)
# ---------------------------------------------------------------------------


def test_list_values_split_on_commas_outside_quotes_and_brackets() -> None:
    """§7.3.1: list headers split on commas, but not inside a quoted string or ``<>``."""
    msg = parse(
        request(
            'Contact: "Doe, John" <sip:doe,john@example.com>, <sip:a@b.example.com>,'
            " sip:c@d.example.com"
        )
    )
    assert msg.headers.getall("contact") == [
        '"Doe, John" <sip:doe,john@example.com>',
        "<sip:a@b.example.com>",
        "sip:c@d.example.com",
    ]
    assert [c.display_name for c in msg.contact] == ["Doe, John", None, None]


def test_lines_of_one_header_are_combined_in_order() -> None:
    """§7.3.1: ``Route: a`` + ``Route: b, c`` is the same as ``Route: a, b, c``."""
    msg = parse(
        request(
            "Route: <sip:p1.example.com;lr>",
            "Max-Forwards: 70",
            "Route: <sip:p2.example.com;lr>, <sip:p3.example.com;lr>",
        )
    )
    assert msg.headers.getall("route") == [
        "<sip:p1.example.com;lr>",
        "<sip:p2.example.com;lr>",
        "<sip:p3.example.com;lr>",
    ]
    assert [str(r.uri) for r in msg.route] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
        "sip:p3.example.com;lr",
    ]
    assert msg.headers.count("route") == 2


def test_via_list_on_one_line_and_compact_line_combined() -> None:
    """§7.3.1 / §20.42: Via values from ``Via`` and ``v`` lines form one ordered list."""
    msg = parse(
        message(
            "OPTIONS sip:bob@example.com SIP/2.0",
            "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com",
            "v: SIP/2.0/TLS c.example.com;branch=z9hG4bK3",
        )
    )
    assert [(v.transport, v.host) for v in msg.via] == [
        ("UDP", "a.example.com"),
        ("TCP", "b.example.com"),
        ("TLS", "c.example.com"),
    ]


@pytest.mark.parametrize(
    ("line", "name"),
    [
        (
            'WWW-Authenticate: Digest realm="a, b", nonce="x", qop="auth,auth-int"',
            "WWW-Authenticate",
        ),
        (
            'Authorization: Digest username="bob", realm="a,b", nonce="n", uri="sip:x"',
            "Authorization",
        ),
        ("Date: Sat, 13 Nov 2010 23:29:00 GMT", "Date"),
        ("Subject: lunch, then coffee", "Subject"),
        ("X-Unknown: one, two, three", "X-Unknown"),
    ],
)
def test_non_list_headers_are_not_split_on_commas(line: str, name: str) -> None:
    """§7.3.1: only headers whose grammar is a comma list may be split; others keep commas."""
    msg = parse(request(line))
    value = line.partition(": ")[2]
    assert msg.headers.getall(name) == [value]
    assert msg.headers.get(name) == value


def test_non_list_header_on_two_lines_gives_two_values() -> None:
    """§7.3.1: each line of a non-list header (two Authorization lines) is one value."""
    msg = parse(
        request(
            'Authorization: Digest username="a", realm="r1", nonce="n", uri="sip:x", response="1"',
            'Authorization: Digest username="a", realm="r2", nonce="n", uri="sip:x", response="2"',
        )
    )
    assert [a.realm for a in msg.authorization] == ["r1", "r2"]


# ---------------------------------------------------------------------------
# Body framing on a datagram (§18.3, §20.14)
# ---------------------------------------------------------------------------


def test_body_is_exactly_content_length_bytes() -> None:
    """§18.3 / §20.14: the body is exactly Content-Length octets, whatever they contain."""
    body = b"v=0\r\n\r\nbinary\x00\xff\r\n"
    msg = parse(message("MESSAGE sip:bob@example.com SIP/2.0", VIA, "c: text/plain", body=body))
    assert msg.body == body
    assert msg.content_length == len(body)
    assert msg.defects == []


def test_bytes_past_content_length_are_reported_not_parsed() -> None:
    """§18.3: on a datagram, octets past Content-Length are discarded (kept out of the body)."""
    data = message("MESSAGE sip:bob@example.com SIP/2.0", VIA, "c: text/plain", body=b"hello")
    msg = parse(data + b"garbage")
    assert msg.body == b"hello"
    assert [code for code, _ in msg.defects] == ["content-length-mismatch"]


def test_content_length_larger_than_body_is_an_error() -> None:
    """§18.3: a datagram whose body is shorter than Content-Length is an error (400)."""
    data = message("MESSAGE sip:bob@example.com SIP/2.0", VIA, "c: text/plain", length=False)
    exc = parse_error(data.replace(b"\r\n\r\n", b"\r\nContent-Length: 10\r\n\r\n") + b"short")
    assert exc.status_code == 400
    assert "Content-Length" in exc.reason


@pytest.mark.parametrize("value", ["-1", "-999", "abc", "12a", "1.5", "0x10", "", "١"])
def test_bad_content_length_is_an_error(value: str) -> None:
    """§20.14 / §25.1: Content-Length = 1*DIGIT (ASCII); anything else cannot frame (ncl)."""
    data = f"OPTIONS sip:bob@example.com SIP/2.0\r\n{VIA}\r\nContent-Length: {value}\r\n\r\n"
    exc = parse_error(data.encode())
    assert exc.status_code == 400


def test_conflicting_content_lengths_are_an_error() -> None:
    """§18.3 / §20.14 (RFC 4475 §3.3.9 mcl01): two different lengths leave framing undefined."""
    data = b"OPTIONS sip:b@example.com SIP/2.0\r\nContent-Length: 2\r\nl: 3\r\n\r\nabc"
    exc = parse_error(data)
    assert exc.status_code == 400
    assert "Content-Length" in exc.reason


def test_repeated_equal_content_length_still_frames() -> None:
    """§18.3: the same length twice is redundant, not conflicting; the body is framed by it."""
    data = b"OPTIONS sip:b@example.com SIP/2.0\r\nContent-Length: 2\r\nl: 2\r\n\r\nab"
    assert parse(data).body == b"ab"


def test_datagram_without_content_length_body_runs_to_the_end() -> None:
    """§18.3 (RFC 4475 §3.4.1 inv2543): on UDP, no Content-Length means body = rest of it."""
    data = request("Content-Type: text/plain").replace(b"Content-Length: 0\r\n", b"")
    msg = parse(data + b"all\r\nof it\r\n")
    assert msg.body == b"all\r\nof it\r\n"
    assert msg.content_length is None


def test_bare_lf_message_parses_with_defect() -> None:
    """§7: lines end in CRLF; a bare-LF message is tolerated and flagged ``bare-lf``."""
    data = request("Max-Forwards: 70").replace(b"\r\n", b"\n")
    msg = parse(data)
    assert isinstance(msg, Request)
    assert msg.max_forwards == 70
    assert [code for code, _ in msg.defects] == ["bare-lf"]


def test_bare_cr_in_header_section_is_an_error() -> None:
    """§7: a lone CR is no line end; it must not be guessed at."""
    exc = parse_error(request("Max-Forwards: 70\rX-A: 1"))
    assert exc.status_code == 400


def test_missing_empty_line_is_an_error() -> None:
    """§7: the header section ends with an empty line (RFC 4475 baddn quirk)."""
    exc = parse_error(b"OPTIONS sip:bob@example.com SIP/2.0\r\nl: 0\r\n")
    assert exc.status_code == 400


@pytest.mark.parametrize("data", [b"", b"\r\n", b"\r\n\r\n", b"\x00\x01garbage"])
def test_empty_or_garbage_input_is_a_parse_error(data: bytes) -> None:
    """§7: nothing but ParseError leaves the parser for bad input."""
    parse_error(data)


def test_leading_crlf_is_ignored_with_a_defect() -> None:
    """§7.5: CRLFs before the start line are ignored (tolerated on datagrams, flagged)."""
    msg = parse(b"\r\n" + request())
    assert isinstance(msg, Request)
    assert [code for code, _ in msg.defects] == ["leading-crlf"]


# ---------------------------------------------------------------------------
# Limits (§18.1.1, §21.5.7)
# ---------------------------------------------------------------------------


def test_max_message_size_is_513() -> None:
    """§21.5.7: a message over the size limit is answered 513 Message Too Large."""
    data = request("X-Pad: " + "a" * 200)
    exc = parse_error(data, ParseLimits(max_message_size=100))
    assert exc.status_code == 513
    assert parse(data, limits=ParseLimits(max_message_size=len(data))).headers.get("x-pad")


def test_content_length_beyond_size_limit_is_513() -> None:
    """§21.5.7: a Content-Length announcing more than the limit is refused up front."""
    data = b"OPTIONS sip:b@example.com SIP/2.0\r\nContent-Length: 5000\r\n\r\nx"
    assert parse_error(data, ParseLimits(max_message_size=1000)).status_code == 513


def test_max_headers() -> None:
    """Resource limit: at most ``max_headers`` header lines (exactly that many is fine)."""
    limits = ParseLimits(max_headers=4)
    ok = message("OPTIONS sip:bob@example.com SIP/2.0", VIA, "X-A: 1", "X-B: 2")
    assert len(parse(ok, limits=limits).headers) == 4
    too_many = message("OPTIONS sip:bob@example.com SIP/2.0", VIA, "X-A: 1", "X-B: 2", "X-C: 3")
    assert parse_error(too_many, limits).status_code == 400


def test_max_line_length_names_the_line() -> None:
    """Resource limit: a header line over ``max_line_length`` fails with its line number."""
    limits = ParseLimits(max_line_length=80)
    data = request("Max-Forwards: 70", "X-Long: " + "a" * 100)
    exc = parse_error(data, limits)
    assert exc.line == 4
    assert exc.status_code == 400


# ---------------------------------------------------------------------------
# ParseError itself
# ---------------------------------------------------------------------------


def test_parse_error_attributes_and_text() -> None:
    """ParseError carries the answer a server gives (status, reason) and where it is."""
    exc = parse_error(request("Max-Forwards: 70", "Bad Name: x"))
    assert isinstance(exc, ValueError)
    assert exc.status_code == 400
    assert exc.line == 4
    assert str(exc).startswith("400 ")
    assert "(line 4)" in str(exc)


# ---------------------------------------------------------------------------
# Round trips on the shared corpus
# ---------------------------------------------------------------------------

SHARED = shared_dir()
SEEDS = sorted((SHARED / "seeds" / "examples").glob("*.sip"))
AS_PRINTED = "overview-invite-as-printed.sip"
_CL_RE = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*$", re.I | re.M)

# Torture messages whose framing is fine but whose start line the parser must refuse.
PARSER_REJECTS = {"ltgtruri.dat", "lwsruri.dat", "lwsstart.dat", "trws.dat", "badvers.dat"}


def _well_framed(data: bytes) -> bool:
    """CRLF-only header section and exactly one Content-Length equal to the body size."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep or head.count(b"\n") != head.count(b"\r\n") or head.startswith(b"\r\n"):
        return False
    lengths = {int(m) for m in _CL_RE.findall(head)}
    return lengths == {len(body)}


def _torture_files() -> list[Path]:
    root = SHARED / "torture"
    with (root / "INDEX.tsv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    paths = [root / row["file"] for row in rows]
    return [p for p in paths if _well_framed(p.read_bytes())]


def test_corpus_is_present() -> None:
    """The shared corpus must be found (never silently empty)."""
    assert len(SEEDS) >= 6
    assert len(_torture_files()) >= 40


@pytest.mark.parametrize("path", [p for p in SEEDS if p.name != AS_PRINTED], ids=lambda p: p.name)
def test_seed_round_trips_byte_exact(path: Path) -> None:
    """§7: a message parsed and re-serialised unchanged is byte-identical."""
    data = path.read_bytes()
    assert bytes(parse(data)) == data


def test_as_printed_seed_body_is_cut_at_content_length() -> None:
    """§18.3: RFC 3261 §4 as printed says Content-Length 142 for a 145-octet body."""
    data = (SHARED / "seeds" / "examples" / AS_PRINTED).read_bytes()
    msg = parse(data)
    assert msg.content_length == 142
    assert len(msg.body) == 142
    assert [code for code, _ in msg.defects] == ["content-length-mismatch"]


@pytest.mark.parametrize("path", _torture_files(), ids=lambda p: str(p.name))
def test_torture_round_trips_byte_exact(path: Path) -> None:
    """§7 (RFC 4475): every well-framed torture message the parser accepts round-trips."""
    data = path.read_bytes()
    if path.name in PARSER_REJECTS:
        parse_error(data)
        return
    assert bytes(parse(data)) == data
