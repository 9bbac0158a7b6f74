"""Fuzz tests: bad input may only ever raise :class:`sipwright.ParseError`.

Inputs: arbitrary bytes; SIP-like byte soup; the seed and torture messages of
the shared corpus and generated well-formed messages (``tests/strategies.py``),
mutated (bit flips, insertions, deletions, truncation, duplicated or dropped
lines, CR/LF swaps, folds, huge or non-ASCII numbers, splices...); streams of
such messages fed to :class:`sipwright.StreamParser` in random chunks; and
arbitrary or mutated text for :func:`sipwright.parse_uri`.

After a successful parse every typed view is read (and the values inside it:
Via branch and rport, Contact expires and q, the URI's parts…), then
``validate_message`` (which must not raise at all) and ``bytes(msg)``. A
:class:`ParseError` must carry an int ``status_code`` and a non-empty ``reason``.

The number of cases per test is ``SIPWRIGHT_FUZZ_EXAMPLES`` (default 300, so
that ``make test`` stays fast). The long run, at least 100,000 cases per test::

    make fuzz          # sets SIPWRIGHT_FUZZ_EXAMPLES=100000

or, without make, ``SIPWRIGHT_FUZZ_EXAMPLES=100000 python -m pytest tests/test_fuzz.py``.
(``test_mutated_generated_messages`` runs a fifth of that number: each case first
builds a whole message, which costs about ten times as much as a mutation.)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from peers import shared_dir
from strategies import GeneratedMessage, sip_messages, uri_texts

import sipwright
from sipwright import (
    AbsoluteUri,
    AuthHeader,
    Contact,
    CSeq,
    KeepAlive,
    NameAddr,
    ParamHeader,
    ParseError,
    Request,
    Response,
    SipUri,
    StreamParser,
    TelUri,
    Via,
)

EXAMPLES = int(os.environ.get("SIPWRIGHT_FUZZ_EXAMPLES", "300"))

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

# -- the corpus ------------------------------------------------------------------------------


@functools.cache
def _corpus() -> tuple[bytes, ...]:
    """Seed examples and every torture message (RFC 4475, RFC 5118), valid or not."""
    shared = shared_dir()
    files = sorted((shared / "seeds" / "examples").glob("*.sip"))
    files += sorted((shared / "torture").rglob("*.dat"))
    assert len(files) > 50, f"corpus too small under {shared}"
    return tuple(Path(f).read_bytes() for f in files)


@functools.cache
def _generated_pool() -> tuple[bytes, ...]:
    """Some generated well-formed messages, built once (derandomized, so reproducible)."""
    pool: list[bytes] = []

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(sip_messages())
    def collect(gen: GeneratedMessage) -> None:
        pool.append(gen.data)

    collect()
    return tuple(pool)


class Sources(tuple[bytes, ...]):
    """The messages to mutate; a short repr keeps Hypothesis' reports readable."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} corpus and generated messages>"


@pytest.fixture(scope="module")
def sources() -> Sources:
    """Corpus and generated messages (built here: @given tests must not nest)."""
    return Sources(_corpus() + _generated_pool())


# -- mutations -------------------------------------------------------------------------------

# Numbers that break naive int() handling: past 2**32, past 2**64, past Python's
# 4300-digit int-from-text limit, signed, non-ASCII digits, exponent forms.
NASTY_NUMBERS = (
    b"0",
    b"00000000000000000000000000000001",
    b"65535",
    b"65536",
    b"99999",
    b"4294967295",
    b"4294967296",
    b"18446744073709551616",
    b"9" * 400,
    b"9" * 4301,
    b"1" * 5000,
    b"-1",
    b"+1",
    b" 1",
    b"1 ",
    b"1e3",
    b"0x10",
    "²".encode(),
    "١٢٣".encode(),  # ARABIC-INDIC digits: str.isdigit() is True
    "１２".encode(),  # fullwidth digits
    b"",
)

# Octets and snippets that sit on the grammar's edges.
NASTY_SNIPPETS = (
    b"\r",
    b"\n",
    b"\r\n",
    b"\r\n\r\n",
    b"\r\n ",
    b"\r\n\t",
    b" ",
    b"\t",
    b":",
    b";",
    b",",
    b"=",
    b'"',
    b"\\",
    b"<",
    b">",
    b"@",
    b"[",
    b"]",
    b"%",
    b"%0",
    b"%zz",
    b"?",
    b"&",
    b"*",
    b"/",
    b"\x00",
    b"\x7f",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",  # an encoded surrogate: invalid UTF-8
    "\u2028".encode(),
    "\x85".encode(),
    "é".encode(),
    b"sip:",
    b"sips:",
    b"tel:",
    b"SIP/2.0",
    b"SIP/",
    b"z9hG4bK",
    b";branch=",
    b";tag=",
    b";rport=",
    b";ttl=",
    b";maddr=",
    b";expires=",
    b";q=",
    b";received=",
    b"[::1]",
    b"[::ffff:1.2.3.4]",
    b":::",
    b"Digest ",
    b'realm="',
)

# Whole header lines worth inserting: typed headers with awkward values.
NASTY_HEADERS = (
    b"Via: SIP/2.0/UDP h;branch=z9hG4bK1;rport=%s",
    b"Via: SIP/2.0/UDP h;ttl=%s;received=%s",
    b"Via: SIP/2.0/UDP h:%s",
    b"v: SIP / 2.0 / UDP [::1]:%s;branch=%s",
    b"Contact: <sip:a@b>;expires=%s;q=%s",
    b'Contact: sip:a@b;x="<%s"',
    b"m: *",
    b"CSeq: %s INVITE",
    b"CSeq: 1 %s",
    b"Max-Forwards: %s",
    b"Expires: %s",
    b"Min-Expires: %s",
    b"Content-Length: %s",
    b"l: %s",
    b"Content-Type: %s",
    b"Retry-After: %s",
    b"Event: %s;id=%s",
    b'Authorization: Digest username="%s", nc=%s',
    b"WWW-Authenticate: Digest realm=%s, stale=%s",
    b"Allow: %s",
    b"Supported: %s",
    b"Require: %s",
    b"Route: <sip:%s;lr>",
    b"Record-Route: <sip:h;maddr=%s>",
    b'From: "%s" <sip:a@b>;tag=%s',
    b"To: %s <sip:a@b:%s>",
    b"Call-ID: %s",
)

_POS = st.integers(0, 2**31)
_SNIPPET = st.one_of(st.sampled_from(NASTY_SNIPPETS), st.binary(min_size=1, max_size=8))
_NUMBER = st.sampled_from(NASTY_NUMBERS)
_HEADER = st.tuples(st.sampled_from(NASTY_HEADERS), _NUMBER, _NUMBER)


def _fill_header(parts: tuple[bytes, bytes, bytes]) -> bytes:
    template, first, second = parts
    return template.replace(b"%s", first, 1).replace(b"%s", second)


Mutation = tuple[str, int, int, bytes]

MUTATIONS: st.SearchStrategy[Mutation] = st.one_of(
    st.tuples(st.just("flip"), _POS, st.integers(0, 7), st.just(b"")),
    st.tuples(st.just("set"), _POS, st.integers(0, 255), st.just(b"")),
    st.tuples(st.just("insert"), _POS, st.just(0), _SNIPPET),
    st.tuples(st.just("replace"), _POS, st.integers(1, 8), _SNIPPET),
    st.tuples(st.just("delete"), _POS, st.integers(1, 64), st.just(b"")),
    st.tuples(st.just("truncate"), _POS, st.just(0), st.just(b"")),
    st.tuples(st.just("dup-line"), _POS, st.integers(1, 3), st.just(b"")),
    st.tuples(st.just("drop-line"), _POS, st.just(0), st.just(b"")),
    st.tuples(st.just("swap-lines"), _POS, _POS, st.just(b"")),
    st.tuples(
        st.just("eol"),
        _POS,
        st.just(0),
        st.sampled_from([b"\n", b"\r", b"\n\r", b"", b"\r\n\r\n", b"\r\n ", b"\r\r\n"]),
    ),
    st.tuples(st.just("number"), _POS, st.just(0), _NUMBER),
    st.tuples(st.just("char"), _POS, st.just(0), st.sampled_from(NASTY_SNIPPETS)),
    st.tuples(st.just("header"), _POS, st.just(0), _HEADER.map(_fill_header)),
    st.tuples(st.just("splice"), _POS, _POS, st.just(b"")),
)


def _line_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each line, its line end included."""
    spans = []
    start = 0
    while start < len(data):
        nl = data.find(b"\n", start)
        end = len(data) if nl < 0 else nl + 1
        spans.append((start, end))
        start = end
    return spans


def _nth_digit_run(data: bytes, index: int) -> tuple[int, int] | None:
    runs = []
    i = 0
    n = len(data)
    while i < n:
        if 0x30 <= data[i] <= 0x39:
            j = i
            while j < n and 0x30 <= data[j] <= 0x39:
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs[index % len(runs)] if runs else None


_SPECIAL = frozenset(b';,:=<>"@/ \t[]?&%')


def mutate(data: bytes, mutations: list[Mutation], other: bytes = b"") -> bytes:
    """Apply the mutations in turn; positions are taken modulo the current length."""
    buf = bytearray(data)
    for kind, a, b, payload in mutations:
        n = len(buf)
        pos = a % (n + 1)
        if kind == "flip" and n:
            buf[a % n] ^= 1 << b
        elif kind == "set" and n:
            buf[a % n] = b
        elif kind == "insert":
            buf[pos:pos] = payload
        elif kind == "replace":
            buf[pos : pos + b] = payload
        elif kind == "delete":
            del buf[pos : pos + b]
        elif kind == "truncate":
            del buf[pos:]
        elif kind in ("dup-line", "drop-line", "swap-lines", "header"):
            spans = _line_spans(bytes(buf))
            if not spans:
                buf[:] = payload
                continue
            start, end = spans[a % len(spans)]
            if kind == "dup-line":
                buf[end:end] = buf[start:end] * b
            elif kind == "drop-line":
                del buf[start:end]
            elif kind == "swap-lines":
                lines = [bytes(buf[s:e]) for s, e in spans]
                i, j = a % len(spans), b % len(spans)
                lines[i], lines[j] = lines[j], lines[i]
                buf[:] = b"".join(lines)
            else:
                buf[start:start] = payload + b"\r\n"
        elif kind == "eol":
            eols = [i for i in range(n - 1) if buf[i : i + 2] == b"\r\n"]
            if eols:
                i = eols[a % len(eols)]
                buf[i : i + 2] = payload
        elif kind == "number":
            run = _nth_digit_run(bytes(buf), a)
            if run is not None:
                buf[run[0] : run[1]] = payload
        elif kind == "char":
            spots = [i for i in range(n) if buf[i] in _SPECIAL]
            if spots:
                i = spots[a % len(spots)]
                buf[i : i + 1] = payload
        elif kind == "splice" and other:
            start = b % len(other)
            buf[pos:pos] = other[start : start + 200]
    return bytes(buf)


_MUTATION_LISTS = st.lists(MUTATIONS, min_size=1, max_size=6)

# -- checks --------------------------------------------------------------------------------


def _check_error(exc: ParseError) -> None:
    """A ParseError must carry what a server needs to answer (§21)."""
    assert type(exc.status_code) is int
    assert 400 <= exc.status_code <= 699
    assert isinstance(exc.reason, str)
    assert exc.reason
    assert str(exc)


def _guard(read: Callable[[], object]) -> object:
    """Call ``read``; a ParseError is fine (and checked), anything else propagates."""
    try:
        return read()
    except ParseError as exc:
        _check_error(exc)
        return None


def _guard_attrs(obj: object, names: tuple[str, ...]) -> None:
    """Read each attribute; only ParseError may come out."""
    for name in names:
        try:
            getattr(obj, name)
        except ParseError as exc:
            _check_error(exc)


def _touch_uri(uri: object) -> None:
    assert isinstance(uri, SipUri | TelUri | AbsoluteUri)
    str(uri)
    repr(uri)
    _guard(lambda: hash(uri))
    _guard(lambda: uri == uri)
    if isinstance(uri, SipUri):
        _guard_attrs(
            uri,
            (
                "user_unescaped",
                "password_unescaped",
                "is_ipv6",
                "bare_host",
                "host_port",
                "transport",
                "lr",
                "maddr",
                "ttl",
                "method",
                "user_param",
            ),
        )
    elif isinstance(uri, TelUri):
        _guard_attrs(uri, ("is_global", "digits", "ext", "isub", "phone_context"))


def _touch_value(value: object) -> None:
    """Read everything a typed header value offers."""
    if isinstance(value, list):
        for item in value:
            _touch_value(item)
        return
    if value is None or isinstance(value, str | int):
        return
    str(value)
    repr(value)
    if isinstance(value, Via):
        _guard_attrs(
            value,
            (
                "branch",
                "received",
                "rport",
                "has_rport",
                "maddr",
                "ttl",
                "sent_by",
                "has_magic_cookie",
                "transport",
                "host",
                "port",
            ),
        )
        _guard(lambda: hash(value))
        _guard(lambda: value.with_param("received", "192.0.2.1"))
    elif isinstance(value, NameAddr):
        _guard(lambda: value.tag)
        _guard(lambda: value.display_name)
        _guard(lambda: _touch_uri(value.uri))
        _guard(lambda: value.with_param("tag", "x"))
        if isinstance(value, Contact):
            _guard_attrs(value, ("expires", "q", "is_wildcard"))
    elif isinstance(value, CSeq):
        assert isinstance(value.number, int)
        assert 0 <= value.number <= 2**32 - 1
    elif isinstance(value, AuthHeader):
        _guard_attrs(
            value,
            (
                "is_digest",
                "realm",
                "nonce",
                "opaque",
                "algorithm",
                "qop",
                "stale",
                "domain",
                "username",
                "uri",
                "response",
                "cnonce",
                "nc",
            ),
        )
    elif isinstance(value, ParamHeader):
        _guard(lambda: list(value.params.items()))


TYPED = (
    "via",
    "from_",
    "to",
    "call_id",
    "cseq",
    "contact",
    "route",
    "record_route",
    "max_forwards",
    "content_length",
    "content_type",
    "media_type",
    "expires",
    "min_expires",
    "authorization",
    "proxy_authorization",
    "www_authenticate",
    "proxy_authenticate",
    "allow",
    "supported",
    "require",
    "proxy_require",
    "unsupported",
    "event",
)


def touch(msg: Request | Response) -> None:
    """Read every typed view of a parsed message, validate it and serialise it."""
    assert isinstance(msg, Request | Response)
    for name in TYPED:
        try:
            value = getattr(msg, name)
        except ParseError as exc:
            _check_error(exc)
        else:
            _touch_value(value)
    if isinstance(msg, Request):
        assert isinstance(msg.method, str)
        _guard(lambda: _touch_uri(msg.uri))
    else:
        assert 100 <= msg.status_code <= 699
    for name in sorted({name for name, _ in msg.headers.items()}):
        try:
            msg.headers.getall(name)
            _touch_value(msg.header_params(name))
        except ParseError as exc:
            _check_error(exc)
    # validate_message reports faults as findings; it must never raise.
    findings = sipwright.validate_message(msg)
    for finding in findings:
        assert finding.severity in ("error", "warning")
        assert finding.message
    _guard(lambda: bytes(msg))
    _guard(lambda: str(msg))


def check_faithful(data: bytes, msg: Request | Response) -> None:
    """The parser keeps the exact bytes, or says what it changed.

    A message accepted without any defect (leading CRLF, bare LF, bytes after
    the body…) must serialise back to the very same bytes, except for the two
    things ``bytes()`` rewrites by design: a missing Content-Length is added, and
    the SIP-Version is written in upper case (§7.1: case-insensitive on receipt).
    """
    if msg.defects or "content-length" not in msg.headers:
        return
    first = data.split(b"\r\n", 1)[0]
    if isinstance(msg, Request) and not first.endswith(b" SIP/2.0"):
        return
    if isinstance(msg, Response) and not first.startswith(b"SIP/2.0 "):
        return
    try:
        out = bytes(msg)
    except ParseError as exc:
        _check_error(exc)
        return
    assert out == data, "accepted without a defect, but bytes() differs"


def parse_and_touch(data: bytes) -> Request | Response | None:
    """parse(); a ParseError is checked and gives None, any other exception propagates."""
    try:
        msg = sipwright.parse(data)
    except ParseError as exc:
        _check_error(exc)
        return None
    check_faithful(data, msg)
    touch(msg)
    return msg


def check_validate(data: bytes) -> None:
    """validate() and validate_stream() report; they never raise."""
    report = sipwright.validate(data)
    assert report.valid == (report.message is not None and not report.errors)
    for stream_report in sipwright.validate_stream(data):
        assert stream_report.message is not None or stream_report.errors


def feed_stream(data: bytes, sizes: list[int]) -> None:
    """Feed ``data`` in chunks; only ParseError may come out, and then the parser stays failed."""
    parser = StreamParser()
    pos = 0
    turn = 0
    while pos < len(data):
        size = sizes[turn % len(sizes)]
        turn += 1
        try:
            items = parser.feed(data[pos : pos + size])
        except ParseError as exc:
            _check_error(exc)
            with pytest.raises(ParseError):
                parser.feed(b"OPTIONS sip:a SIP/2.0\r\n\r\n")
            return
        pos += size
        for item in items:
            if not isinstance(item, KeepAlive):
                touch(item)
    assert parser.buffered >= 0


# -- tests: parse ----------------------------------------------------------------------------


@FUZZ_SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    parse_and_touch(data)
    check_validate(data)


_FRAGMENTS = st.one_of(
    st.sampled_from(NASTY_SNIPPETS),
    st.sampled_from(NASTY_NUMBERS),
    st.sampled_from(
        [
            b"INVITE sip:bob@example.com SIP/2.0\r\n",
            b"REGISTER sips:[2001:db8::1]:5061 SIP/2.0\r\n",
            b"SIP/2.0 200 OK\r\n",
            b"SIP/2.0 100 \r\n",
            b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
            b"v: SIP/2.0/TCP host",
            b'From: "Alice" <sip:alice@atlanta.com>;tag=1928301774',
            b"f: sip:a@b;tag=",
            b"To: Bob <sip:bob@biloxi.com>",
            b"t: <tel:+1-201-555-0123;ext=1>",
            b"Call-ID: a84b4c76e66710@pc33.atlanta.com",
            b"i: ",
            b"CSeq: 314159 INVITE",
            b"Contact: <sip:alice@pc33.atlanta.com>;q=0.7;expires=3600, *",
            b"m: ",
            b"Max-Forwards: 70",
            b"Expires: ",
            b"Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>",
            b'Authorization: Digest username="bob", realm="biloxi.com", nonce="x"',
            b"Content-Type: application/sdp",
            b"Content-Length: ",
            b"l: ",
            b"Event: presence;id=1",
            b"Supported: 100rel, timer",
        ]
    ),
    st.binary(max_size=6),
)


@FUZZ_SETTINGS
@given(st.lists(_FRAGMENTS, max_size=40).map(b"".join))
def test_sip_like_byte_soup(data: bytes) -> None:
    parse_and_touch(data)
    check_validate(data)


@FUZZ_SETTINGS
@given(st.integers(0, 2**31), st.integers(0, 2**31), _MUTATION_LISTS)
def test_mutated_corpus_messages(
    sources: Sources, which: int, splice: int, mutations: list[Mutation]
) -> None:
    data = mutate(sources[which % len(sources)], mutations, sources[splice % len(sources)])
    note(f"data={data!r}")
    parse_and_touch(data)
    check_validate(data)


@settings(FUZZ_SETTINGS, max_examples=max(1, EXAMPLES // 5))
@given(sip_messages(), _MUTATION_LISTS)
def test_mutated_generated_messages(gen: GeneratedMessage, mutations: list[Mutation]) -> None:
    data = mutate(gen.data, mutations, gen.data)
    note(f"data={data!r}")
    parse_and_touch(data)
    check_validate(data)


@FUZZ_SETTINGS
@given(st.integers(0, 2**31), st.integers(0, 2**31), _MUTATION_LISTS)
def test_parse_limits_are_errors_not_crashes(
    sources: Sources, which: int, splice: int, mutations: list[Mutation]
) -> None:
    """Tight limits (size, header count, line length) end in ParseError only."""
    data = mutate(sources[which % len(sources)], mutations, sources[splice % len(sources)])
    note(f"data={data!r}")
    limits = sipwright.ParseLimits(
        max_message_size=1 + which % 800,
        max_headers=1 + splice % 12,
        max_line_length=1 + which % 90,
    )
    try:
        msg = sipwright.parse(data, limits=limits)
    except ParseError as exc:
        _check_error(exc)
    else:
        touch(msg)


# -- tests: streams --------------------------------------------------------------------------

_CHUNKS = st.lists(
    st.one_of(st.just(1), st.integers(1, 16), st.integers(1, 1024)), min_size=1, max_size=20
)


@FUZZ_SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, 2**31), st.sampled_from([b"", b"\r\n", b"\r\n\r\n"])),
        min_size=1,
        max_size=3,
    ),
    _MUTATION_LISTS,
    _CHUNKS,
)
def test_stream_of_mutated_messages(
    sources: Sources,
    picks: list[tuple[int, bytes]],
    mutations: list[Mutation],
    sizes: list[int],
) -> None:
    stream = b"".join(keepalive + sources[i % len(sources)] for i, keepalive in picks)
    data = mutate(stream, mutations, sources[picks[0][0] % len(sources)])
    note(f"data={data!r}")
    feed_stream(data, sizes)
    for report in sipwright.validate_stream(data):
        assert report.message is not None or report.errors


@FUZZ_SETTINGS
@given(st.binary(max_size=2048), _CHUNKS)
def test_stream_of_arbitrary_bytes(data: bytes, sizes: list[int]) -> None:
    feed_stream(data, sizes)


# -- tests: URIs ---------------------------------------------------------------------------


def _parse_uri_and_touch(text: str) -> None:
    try:
        uri = sipwright.parse_uri(text)
    except ParseError as exc:
        _check_error(exc)
        return
    # A parsed URI gives back its exact text (uri.py: components are kept as written).
    assert str(uri) == text
    _touch_uri(uri)


_URI_ALPHABET = st.sampled_from(
    [*"sipteSIPTEL:;@=?&%+-_.!~*'()[]/$,<>\"# \t0123456789abcdefABCDEF", "\x00", "é", "²"]
)


@FUZZ_SETTINGS
@given(st.one_of(st.text(max_size=200), st.text(_URI_ALPHABET, max_size=80)))
def test_parse_uri_arbitrary_text(text: str) -> None:
    _parse_uri_and_touch(text)


@FUZZ_SETTINGS
@given(uri_texts(), _MUTATION_LISTS)
def test_parse_uri_mutated(text: str, mutations: list[Mutation]) -> None:
    mutated = mutate(text.encode(), mutations).decode("utf-8", "replace")
    note(f"text={mutated!r}")
    _parse_uri_and_touch(mutated)


# -- regressions: minimal reproducers of faults the fuzzers found ------------------------------

_BASE = (
    b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
    b"From: <sip:alice@example.com>;tag=1\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: c1\r\n"
)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(b"CSeq: 1 OPTIONS\r\nContent-Length: " + b"1" * 5000 + b"\r\n", id="cl"),
        pytest.param(b"CSeq: " + b"1" * 5000 + b" OPTIONS\r\nContent-Length: 0\r\n", id="cseq"),
        pytest.param(b"CSeq: 1 OPTIONS\r\nMax-Forwards: " + b"1" * 5000 + b"\r\n", id="mf"),
        pytest.param(b"CSeq: 1 OPTIONS\r\nExpires: " + b"1" * 5000 + b"\r\n", id="expires"),
        pytest.param(b"CSeq: 1 OPTIONS\r\nMin-Expires: " + b"1" * 5000 + b"\r\n", id="min-exp"),
        pytest.param(
            b"CSeq: 1 OPTIONS\r\nContact: <sip:a@b>;expires=" + b"1" * 5000 + b"\r\n", id="c-exp"
        ),
        pytest.param(
            b"CSeq: 1 OPTIONS\r\nVia: SIP/2.0/UDP h;rport=" + b"1" * 5000 + b"\r\n", id="rport"
        ),
    ],
)
def test_regression_numbers_past_int_text_limit(headers: bytes) -> None:
    """Python refuses int() of text over 4300 digits with ValueError: must be a ParseError."""
    parse_and_touch(_BASE + headers + b"\r\n")
    check_validate(_BASE + headers + b"\r\n")


@pytest.mark.parametrize(
    "char",
    ["\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"],
)
def test_regression_separator_ending_the_header_section(char: str) -> None:
    """A bare CR/LF (or another str.splitlines() separator) right before the empty line.

    parse() must reject it, report a defect, or keep it; dropping it silently
    loses a byte (bytes(msg) differs) with validate() seeing nothing wrong.
    """
    data = _BASE + f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\nSubject: a{char}\r\n\r\n".encode()
    parse_and_touch(data)


@pytest.mark.parametrize(
    "end", [b"\n\r\n", b"\r\n\n", b"\n\n"], ids=["LF-CRLF", "CRLF-LF", "LF-LF"]
)
def test_regression_bare_lf_ending_the_header_section(end: bytes) -> None:
    """A bare LF in the CRLF CRLF that ends the headers is a bare-lf defect (§7), not silence.

    parse() accepts it without any defect, validate() finds nothing wrong, and
    bytes(msg) quietly turns it into CRLF.
    """
    parse_and_touch(_BASE + b"CSeq: 1 OPTIONS\r\nContent-Length: 0" + end)


@pytest.mark.parametrize(
    "header",
    [
        "Via: SIP/2.0/UDP h;rport=²",
        "Via: SIP/2.0/UDP h;ttl=²",
        "Contact: <sip:a@b>;expires=²",
    ],
)
def test_regression_non_ascii_digits(header: str) -> None:
    """'²'.isdigit() is True but int('²') raises ValueError."""
    data = _BASE + b"CSeq: 1 OPTIONS\r\n" + header.encode() + b"\r\nContent-Length: 0\r\n\r\n"
    parse_and_touch(data)
    check_validate(data)
