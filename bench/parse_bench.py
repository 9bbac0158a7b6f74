#!/usr/bin/env python3
"""SIP parser throughput: sipwright against the Python SIP parsers on PyPI.

One run prints, side by side, messages per second for each parser in two modes:

* ``parse``: bytes -> a fresh message object, nothing read from it;
* ``parse+fields``: the same, then reading the fields a proxy or UA looks at first
  (method or status, Request-URI, top Via branch, From tag, Call-ID, CSeq number
  and method, first Contact URI, Content-Length, body), each assigned to a local.

It does so on three messages (``bench/messages/``): the seed INVITE with SDP, a
200 OK to an INVITE with two Vias, two Record-Routes and SDP, and a REGISTER
with a digest Authorization. Every parser is also checked for the field values it
reports, and for RFC 3261 compact header names (``i: v: f: t: m: l:``) and header
folding (a value continued on a line that starts with SP or HT). The "fastest
correct competitor" is the fastest one that gets both of those right.

Competitors (pinned in ``bench/requirements.txt``): sippy, opensip, aiosipua,
PySIPio, pyVoIP. Each has its own adapter below; one that cannot be imported or
cannot parse a message is reported with the reason, never fatal.

Each mode is timed on two variants of every message, for every parser alike:

* ``same``: K calls on the very same bytes, the case most favourable to a parser that
  memoises by text (sipwright keeps small bounded tables of typed headers keyed by the
  header text, and an LRU cache of parsed URIs);
* ``unique``: K calls on K *distinct* copies of the message, made before the loop: in
  copy n the top Via branch, the From tag, the To tag (when there is one) and the
  Call-ID end in n, and the CSeq number is the file's plus n; nothing else changes
  (Request-URI, Contact and body stay, so Content-Length is still right). The counter
  never goes back, so no copy is parsed twice in a run (calibration included) and no
  cache can hit on those headers.

Method: ``time.perf_counter`` around a loop of K calls, K calibrated so that one loop
lasts about ``--min-time`` seconds (the calibration doubles as warm-up), repeated
``--repeats`` times, round-robin over the parsers and variants so that load from other
processes is spread over all of them, with the cyclic GC off during a loop (as
``timeit`` does); the table shows the best loop, the JSON has the median too. Every
call builds a new message object from the bytes; both variants run the same loop
over a list of K bytes objects (K references to one object for ``same``).

Usage::

    python bench/parse_bench.py            # full run, under 2 minutes
    python bench/parse_bench.py --quick    # about 10 s
    python bench/parse_bench.py --json results.json   # also write JSON ('-': stdout)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
MESSAGES_DIR = HERE / "messages"
REPO_SRC = HERE.parent / "src"

# The fields read in the parse+fields mode, in the order every adapter returns them.
FIELD_NAMES = (
    "method/status",
    "request-uri",
    "via-branch",
    "from-tag",
    "call-id",
    "cseq-number",
    "cseq-method",
    "contact-uri",
    "content-length",
    "body",
)
Fields = tuple[Any, ...]

NA = "n/a"  # a field the library does not expose in a comparable form


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------


@dataclass
class Message:
    key: str
    short: str
    title: str
    filename: str
    expected: dict[str, str]
    data: bytes = b""
    unique: UniqueCopies | None = None

    def load(self) -> None:
        self.data = (MESSAGES_DIR / self.filename).read_bytes()
        self.unique = UniqueCopies(self.data)
        _, sep, body = self.data.partition(b"\r\n\r\n")
        if sep and "body" not in self.expected:
            length = int(self.expected["content-length"])
            self.expected["body"] = body[:length].decode("utf-8")


MESSAGES = [
    Message(
        "a",
        "INVITE+SDP",
        "INVITE + SDP (seed)",
        "format-invite-sdp.sip",
        {
            "method/status": "INVITE",
            "request-uri": "sip:001234567890@10.135.0.1:5060;user=phone",
            "via-branch": "z9hG4bKhye0bem20x.nx8h",
            "from-tag": "m3l2hbp",
            "call-id": "ud04chatv9q@10.135.0.1",
            "cseq-number": "10691",
            "cseq-method": "INVITE",
            "contact-uri": "sip:151@10.135.0.12;line=12071",
            "content-length": "254",
        },
    ),
    Message(
        "b",
        "200 OK",
        "200 OK, 2 Via, 2 Record-Route, SDP",
        "ok-200-invite.sip",
        {
            "method/status": "200",
            "request-uri": "None",
            "via-branch": "z9hG4bK2d4790.1",
            "from-tag": "9fxced76sl",
            "call-id": "3848276298220188511@atlanta.example.com",
            "cseq-number": "2",
            "cseq-method": "INVITE",
            "contact-uri": "sip:bob@192.0.2.4:5060;transport=udp",
            "content-length": "233",
        },
    ),
    Message(
        "c",
        "REGISTER",
        "REGISTER + digest Authorization",
        "register-digest.sip",
        {
            "method/status": "REGISTER",
            "request-uri": "sip:registrar.biloxi.example.com",
            "via-branch": "z9hG4bKnashds7",
            "from-tag": "456248",
            "call-id": "843817637684230@998sdasdh09",
            "cseq-number": "1826",
            "cseq-method": "REGISTER",
            "contact-uri": "sip:bob@192.0.2.4",
            "content-length": "0",
            "body": "",
        },
    ),
]

# Small messages for the correctness column: (file, {field: expected value}).
COMPACT_CHECK = (
    "check-compact.sip",
    {
        "via-branch": "z9hG4bKcompact1",
        "from-tag": "ctag1928",
        "call-id": "compact-a84b4c76e66710@pc33.atlanta.example.com",
        "contact-uri": "sip:alice@pc33.atlanta.example.com",
        "content-length": "0",
    },
)
FOLDING_CHECK = (
    "check-folding.sip",
    {
        "via-branch": "z9hG4bKfolded1",
        "from-tag": "ftag7766",
        "call-id": "folded-a84b4c76e66710@pc33.atlanta.example.com",
    },
)

VARIANTS = ("same", "unique")


# ---------------------------------------------------------------------------
# Distinct copies of a message (the "unique" variant)
# ---------------------------------------------------------------------------

COUNTER_DIGITS = 6  # hex digits of the copy number written at the end of a token
_BRANCH_COOKIE = b"z9hG4bK"
_BRANCH_RE = re.compile(rb";[ \t]*branch[ \t]*=[ \t]*([^;,\s]+)", re.IGNORECASE)
_TAG_RE = re.compile(rb";[ \t]*tag[ \t]*=[ \t]*([^;,\s]+)", re.IGNORECASE)
_DIGITS_RE = re.compile(rb"[0-9]+")


@dataclass
class Span:
    """One token replaced in the copies: data[start:end]."""

    name: str  # via-branch, from-tag, to-tag, call-id, cseq-number
    start: int
    end: int
    keep: bytes = b""  # the head of the old token kept in front of the copy number
    after: str = ""  # the rest of the field's value (the Call-ID's @host), for the checks
    cseq: int | None = None  # CSeq: the copy has this number plus n


def find_spans(data: bytes) -> list[Span]:
    """The top Via branch, the From tag, the To tag (if any), the Call-ID's local part
    and the CSeq number of a message (no folded lines here)."""
    head_end = data.index(b"\r\n\r\n")
    spans: dict[str, Span] = {}
    pos = data.index(b"\r\n") + 2  # past the start line
    while pos < head_end:
        eol = data.index(b"\r\n", pos)
        colon = data.index(b":", pos, eol)
        name = data[pos:colon].strip().lower()
        start = colon + 1
        while data[start : start + 1] in (b" ", b"\t"):
            start += 1
        end = eol
        while end > start and data[end - 1 : end] in (b" ", b"\t"):
            end -= 1
        pos = eol + 2
        if name in (b"via", b"v") and "via-branch" not in spans:
            comma = data.find(b",", start, end)  # the top Via: the first value
            m = _BRANCH_RE.search(data, start, end if comma == -1 else comma)
            if m:
                spans["via-branch"] = Span("via-branch", *m.span(1))
        elif name in (b"from", b"f", b"to", b"t"):
            key = "from-tag" if name in (b"from", b"f") else "to-tag"
            gt = data.find(b">", start, end)  # header params come after the name-addr
            m = _TAG_RE.search(data, start if gt == -1 else gt, end)
            if m:
                spans[key] = Span(key, *m.span(1))
        elif name in (b"call-id", b"i"):
            at = data.find(b"@", start, end)
            local_end = end if at == -1 else at
            spans["call-id"] = Span("call-id", start, local_end, after=data[local_end:end].decode())
        elif name == b"cseq":
            m = _DIGITS_RE.match(data, start, end)
            if m:
                spans["cseq-number"] = Span("cseq-number", *m.span(), cseq=int(m.group()))
    missing = {"via-branch", "from-tag", "call-id", "cseq-number"} - spans.keys()
    if missing:
        raise ValueError(f"cannot make unique copies: no {', '.join(sorted(missing))}")
    for span in spans.values():
        if span.cseq is None:  # keep the length: the copy number replaces the token's tail
            token = data[span.start : span.end]
            keep = max(len(token) - COUNTER_DIGITS, 0)
            if span.name == "via-branch" and token.startswith(_BRANCH_COOKIE):
                keep = max(keep, len(_BRANCH_COOKIE))
            span.keep = token[:keep]
    return sorted(spans.values(), key=lambda s: s.start)


class UniqueCopies:
    """Distinct copies of one message, copy n made with one bytes %-format: the tokens
    of `find_spans` end in n (hex, at least COUNTER_DIGITS digits, in place of as many
    characters, so lengths are kept until n passes 16**6), the CSeq number is the file's
    plus n; every other byte is the file's. `take` never hands out a copy number twice."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.spans = find_spans(data)
        self.cseq = next(s.cseq for s in self.spans if s.cseq is not None)
        pieces: list[bytes] = []
        pos = 0
        for span in self.spans:
            pieces.append(data[pos : span.start].replace(b"%", b"%%"))
            if span.cseq is not None:
                pieces.append(b"%(c)d")
            else:
                pieces.append(span.keep.replace(b"%", b"%%") + b"%%(n)0%dx" % COUNTER_DIGITS)
            pos = span.end
        pieces.append(data[pos:].replace(b"%", b"%%"))
        self.template = b"".join(pieces)
        self.next = 1  # copy 0 would keep the file's CSeq
        body = data.partition(b"\r\n\r\n")[2]
        for n in (1, 16**COUNTER_DIGITS + 1):  # self-check: only the head changes
            copy = self.copy(n)
            assert copy.partition(b"\r\n\r\n")[2] == body, "body changed"
            assert copy != data and copy.count(b"\r\n") == data.count(b"\r\n")

    def copy(self, n: int) -> bytes:
        return self.template % {b"n": n, b"c": self.cseq + n}

    def take(self, k: int) -> list[bytes]:
        """K copies never handed out before."""
        first = self.next
        self.next += k
        template, cseq = self.template, self.cseq
        return [template % {b"n": n, b"c": cseq + n} for n in range(first, first + k)]

    def expected(self, n: int, base: dict[str, str]) -> dict[str, str]:
        """The field values of copy n, for the checks."""
        out = dict(base)
        for span in self.spans:
            if span.name in out:
                if span.cseq is not None:
                    out[span.name] = str(span.cseq + n)
                else:
                    out[span.name] = f"{span.keep.decode()}{n:0{COUNTER_DIGITS}x}{span.after}"
        return out


# ---------------------------------------------------------------------------
# Adapters: one per parser
# ---------------------------------------------------------------------------


@dataclass
class Adapter:
    name: str
    dist: str  # distribution name, for the version
    how: str = ""  # how the adapter drives the library (printed with --verbose)
    parse: Callable[[bytes], object] | None = None
    fields: Callable[[bytes], Fields] | None = None
    text: Callable[[Any], str] = str  # renders a field value (URI objects) for checks
    error: str | None = None  # why it is unusable, if it is
    version: str = "?"
    compact: str = "?"
    folding: str = "?"

    @property
    def correct(self) -> bool:
        return self.compact == "yes" and self.folding == "yes"


def _exc(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}".replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= 90 else text[:87] + "..."


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _addr_uri(raw: str | None) -> str | None:
    """The URI of a name-addr/addr-spec, for libraries that keep Contact as raw text."""
    if raw is None:
        return None
    lt = raw.find("<")
    if lt != -1:
        return raw[lt + 1 : raw.find(">", lt)]
    return raw.split(";", 1)[0].strip()


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Import side effects stay out of the repo: some packages write a log file in cwd."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(cwd)


def make_sipwright() -> Adapter:
    ad = Adapter("sipwright", "sipwright", how="sipwright.parse(bytes)")
    if REPO_SRC.is_dir() and str(REPO_SRC) not in sys.path:
        sys.path.insert(0, str(REPO_SRC))  # benchmark the working tree
    try:
        import sipwright

        parse = sipwright.parse
        request_cls = sipwright.Request
        ad.version = getattr(sipwright, "__version__", "?")
    except Exception as e:
        ad.error = _exc(e)
        return ad

    def fields(data: bytes) -> Fields:
        msg: Any = parse(data)
        if isinstance(msg, request_cls):
            kind = msg.method
            ruri = msg.uri
        else:
            kind = msg.status_code
            ruri = None
        branch = msg.via[0].branch
        from_tag = msg.from_.tag
        call_id = msg.call_id
        cseq = msg.cseq
        cseq_number = cseq.number
        cseq_method = cseq.method
        contact = msg.contact[0].uri
        content_length = msg.content_length
        body = msg.body
        return (
            kind, ruri, branch, from_tag, call_id, cseq_number, cseq_method,
            contact, content_length, body,
        )  # fmt: skip

    ad.parse = parse
    ad.fields = fields
    return ad


def make_sippy() -> Adapter:
    ad = Adapter(
        "sippy",
        "sippy",
        how=(
            "SipRequest(data.decode()) / SipResponse(...) chosen on 'SIP/2.0 ' as "
            "SipTransactionManager does; getMethod(), getRURI(), getHFBody('via').getBranch(), "
            "getHFBody('from').getTag(), getHFBody('call-id'), getHFBody('cseq').getCSeq(), "
            "getHFBody('contact').getUrl(), _SipMsg__content_length, body.content"
        ),
    )
    try:
        with _quiet_import():
            from sippy.SipRequest import SipRequest
            from sippy.SipResponse import SipResponse
    except Exception as e:
        ad.error = _exc(e)
        return ad

    def parse(data: bytes) -> object:
        text = data.decode()
        if text.startswith("SIP/2.0 "):
            return SipResponse(text)
        return SipRequest(text)

    def fields(data: bytes) -> Fields:
        text = data.decode()
        msg: Any
        if text.startswith("SIP/2.0 "):
            msg = SipResponse(text)
            kind = msg.scode
            ruri = None
        else:
            msg = SipRequest(text)
            kind = msg.getMethod()
            ruri = msg.getRURI()
        branch = msg.getHFBody("via").getBranch()
        from_tag = msg.getHFBody("from").getTag()
        call_id = str(msg.getHFBody("call-id"))
        cseq_number, cseq_method = msg.getHFBody("cseq").getCSeq()
        contact = msg.getHFBody("contact").getUrl()
        cl_hf = msg._SipMsg__content_length  # sippy keeps Content-Length out of .headers
        content_length = cl_hf.getBody().number if cl_hf is not None else None
        mbody = msg.body
        body = mbody.content if mbody is not None else ""
        return (
            kind, ruri, branch, from_tag, call_id, cseq_number, cseq_method,
            contact, content_length, body,
        )  # fmt: skip

    ad.parse = parse
    ad.fields = fields
    return ad


def make_opensip() -> Adapter:
    ad = Adapter(
        "opensip",
        "opensip",
        how=(
            "opensip.message.parse_message(bytes); .method, .request_uri (str), "
            "Via.parse(headers.get('Via')), NameAddr.parse(From/Contact), .call_id, .cseq, "
            "headers.get('Content-Length'), .body"
        ),
    )
    try:
        with _quiet_import():
            from opensip.headers import NameAddr, Via
            from opensip.message import SIPRequest, parse_message
    except Exception as e:
        ad.error = _exc(e)
        return ad

    def fields(data: bytes) -> Fields:
        msg: Any = parse_message(data)
        if isinstance(msg, SIPRequest):
            kind = msg.method
            ruri = msg.request_uri
        else:
            kind = msg.status_code
            ruri = None
        headers = msg.headers
        branch = Via.parse(headers.get("Via")).params.get("branch")
        from_tag = NameAddr.parse(headers.get("From")).params.get("tag")
        call_id = msg.call_id
        cseq_number, cseq_method = msg.cseq
        contact = NameAddr.parse(headers.get("Contact")).uri
        content_length = int(headers.get("Content-Length"))
        body = msg.body
        return (
            kind, ruri, branch, from_tag, call_id, cseq_number, cseq_method,
            contact, content_length, body,
        )  # fmt: skip

    ad.parse = parse_message
    ad.fields = fields
    return ad


def make_aiosipua() -> Adapter:
    ad = Adapter(
        "aiosipua",
        "aiosipua",
        how=(
            "aiosipua.SipMessage.parse(bytes); .method, .uri (str), "
            "parse_via(headers.get_first('via')).branch, .from_addr.tag, .call_id, .cseq, "
            "parse_address(headers.get_first('contact')).uri, .content_length, .body"
        ),
    )
    try:
        with _quiet_import():
            from aiosipua import SipMessage, SipRequest, SipUri
            from aiosipua.header_codec import parse_address, parse_via, stringify_uri
    except Exception as e:
        ad.error = _exc(e)
        return ad

    parse = SipMessage.parse

    def fields(data: bytes) -> Fields:
        msg: Any = parse(data)
        if isinstance(msg, SipRequest):
            kind = msg.method
            ruri = msg.uri
        else:
            kind = msg.status_code
            ruri = None
        headers = msg.headers
        branch = parse_via(headers.get_first("via")).branch
        from_tag = msg.from_addr.tag
        call_id = msg.call_id
        cseq = msg.cseq
        cseq_number = cseq.seq
        cseq_method = cseq.method
        contact = parse_address(headers.get_first("contact")).uri
        content_length = msg.content_length
        body = msg.body
        return (
            kind, ruri, branch, from_tag, call_id, cseq_number, cseq_method,
            contact, content_length, body,
        )  # fmt: skip

    def text(value: Any) -> str:
        return stringify_uri(value) if isinstance(value, SipUri) else str(value)

    ad.parse = parse
    ad.fields = fields
    ad.text = text
    return ad


def make_pysipio() -> Adapter:
    ad = Adapter(
        "PySIPio",
        "PySIPio",
        how=(
            "PySIP.sip_core.SipMessage(data.decode()).parse() as its receive loop does; "
            "request line split, .branch, .from_tag, .call_id, .cseq, .method (CSeq's), "
            "get_header('Contact') (raw: URI cut out by the bench), get_header('Content-Length'), "
            ".body_data"
        ),
    )
    try:
        with _quiet_import():  # importing PySIP creates ./PySIP.log
            from PySIP.sip_core import SipMessage
    except Exception as e:
        ad.error = _exc(e)
        return ad

    def parse(data: bytes) -> object:
        msg = SipMessage(data.decode())
        msg.parse()
        return msg

    def fields(data: bytes) -> Fields:
        msg: Any = SipMessage(data.decode())
        msg.parse()
        start = msg.type_header  # request/status line split on SP by PySIP
        if start[0] == "SIP/2.0":
            kind = int(start[1])
            ruri = None
        else:
            kind = start[0]
            ruri = start[1]
        branch = msg.branch
        from_tag = msg.from_tag
        call_id = msg.call_id
        cseq_number = msg.cseq
        cseq_method = msg.method
        contact = _addr_uri(msg.get_header("Contact"))
        content_length = int(msg.get_header("Content-Length"))
        body = msg.body_data
        return (
            kind, ruri, branch, from_tag, call_id, cseq_number, cseq_method,
            contact, content_length, body,
        )  # fmt: skip

    ad.parse = parse
    ad.fields = fields
    return ad


def make_pyvoip() -> Adapter:
    ad = Adapter(
        "pyVoIP",
        "pyVoIP",
        how=(
            "pyVoIP.SIP.SIPMessage(bytes) (parses eagerly, SDP included); .method / .status, "
            "heading, headers['Via'][0]['branch'], headers['From']['tag'], headers['Call-ID'], "
            "headers['CSeq'], headers['Contact'] (raw: URI cut out by the bench), "
            "headers['Content-Length'], .body (a parsed SDP dict: raw body not kept)"
        ),
    )
    try:
        with _quiet_import():
            # pyVoIP.SIP alone hits a circular import; its documented entry point
            # (pyVoIP.VoIP) imports the modules in the order that works.
            import pyVoIP.VoIP  # noqa: F401
            from pyVoIP.SIP import SIPMessage, SIPMessageType
    except Exception as e:
        ad.error = _exc(e)
        return ad
    response = SIPMessageType.RESPONSE

    def fields(data: bytes) -> Fields:
        msg: Any = SIPMessage(data)
        if msg.type == response:
            kind = int(msg.status)
            ruri = None
        else:
            kind = msg.method
            ruri = msg.heading.split(b" ")[1].decode()
        headers = msg.headers
        branch = headers["Via"][0]["branch"]
        from_tag = headers["From"]["tag"]
        call_id = headers["Call-ID"]
        cseq = headers["CSeq"]
        cseq_number = int(cseq["check"])
        cseq_method = cseq["method"]
        contact = _addr_uri(headers.get("Contact"))
        content_length = headers["Content-Length"]
        body = msg.body
        return (
            kind, ruri, branch, from_tag, call_id, cseq_number, cseq_method,
            contact, content_length, body,
        )  # fmt: skip

    def text(value: Any) -> str:
        return NA if isinstance(value, dict) else str(value)

    ad.parse = SIPMessage
    ad.fields = fields
    ad.text = text
    return ad


ADAPTERS: list[Callable[[], Adapter]] = [
    make_sipwright,
    make_sippy,
    make_opensip,
    make_aiosipua,
    make_pysipio,
    make_pyvoip,
]


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def render(ad: Adapter, value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, str | int):
        return str(value)
    return ad.text(value)


def check_fields(ad: Adapter, data: bytes, expected: dict[str, str]) -> tuple[str, list[str]]:
    """Returns ("ok" | "wrong: ..." | error text, details of every mismatch)."""
    assert ad.fields is not None
    try:
        got = ad.fields(data)
    except Exception as e:
        return _exc(e), []
    wrong: list[str] = []
    details: list[str] = []
    for name, value in zip(FIELD_NAMES, got, strict=True):
        if name not in expected:
            continue
        text = render(ad, value)
        if text == NA:
            continue
        if text != expected[name]:
            wrong.append(name)
            details.append(f"{name}: got {text!r:.60}, expected {expected[name]!r:.60}")
    return ("ok" if not wrong else "wrong: " + ", ".join(wrong)), details


def check_syntax(ad: Adapter, spec: tuple[str, dict[str, str]]) -> str:
    filename, expected = spec
    data = (MESSAGES_DIR / filename).read_bytes()
    status, details = check_fields(ad, data, expected)
    if status == "ok":
        return "yes"
    if details:
        return "no (" + "; ".join(details) + ")"
    return f"no ({status})"


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


# A timed loop of K calls runs over lists of at most CHUNK messages, built (untimed)
# just before each one; its time is the sum. This bounds the memory the unique copies
# take (CHUNK copies of ~900 bytes) whatever K is.
CHUNK = 1 << 15


@dataclass
class Cell:
    """One parser x message x mode x variant measurement."""

    parser: str
    message: str
    mode: str
    variant: str
    fn: Callable[[bytes], object] = field(repr=False)
    batch: Callable[[int], list[bytes]] = field(repr=False)  # k -> the next k messages
    loops: int = 0
    runs: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def best(self) -> float | None:
        return self.loops / min(self.runs) if self.runs else None

    @property
    def median(self) -> float | None:
        return self.loops / statistics.median(self.runs) if self.runs else None


def _loop(fn: Callable[[bytes], object], datas: list[bytes]) -> float:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for data in datas:
            fn(data)
        return time.perf_counter() - t0
    finally:
        if gc_was_enabled:
            gc.enable()


def timed(cell: Cell, k: int) -> float:
    """Seconds for k calls, on the cell's next k messages (built outside the timing)."""
    total = 0.0
    while k > 0:
        n = min(k, CHUNK)
        datas = cell.batch(n)
        total += _loop(cell.fn, datas)
        del datas
        k -= n
    return total


def calibrate(cell: Cell, min_time: float) -> None:
    """Checks the call works, warms it up and picks K so that a loop lasts ~min_time."""
    try:
        cell.fn(cell.batch(1)[0])
    except Exception as e:
        cell.error = _exc(e)
        return
    k = 1
    while True:  # double K until a loop takes a tenth of the target time
        dt = timed(cell, k)
        if dt >= min_time / 10 or k >= 1 << 22:
            break
        k *= 2
    cell.loops = max(1, round(k * min_time / max(dt, 1e-9)))


def measure(cells: list[Cell], args: Any) -> None:
    """Times every cell; the repeats go round-robin over the cells, so that a burst of
    load from another process on the machine does not fall on one parser only."""
    for cell in cells:
        calibrate(cell, args.min_time)
    gc.collect()
    for _ in range(args.repeats):
        for cell in cells:
            if cell.error is None:
                cell.runs.append(timed(cell, cell.loops))


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def fmt_ratio(num: float | None, den: float | None) -> str:
    if num is None or den is None or den == 0:
        return "-"
    return f"{num / den:.2f}x"


def table(rows: list[list[str]], out: TextIO, right: tuple[int, ...] = ()) -> None:
    """Plain-text table; the first row is the header; columns in `right` align right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  " + "  ".join(cells).rstrip(), file=out)
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths), file=out)


@dataclass
class Comparison:
    """sipwright against the fastest competitor, and the fastest correct one, in one cell."""

    sipwright: float | None
    fastest: Cell | None
    fastest_correct: Cell | None

    @staticmethod
    def of(cells: list[Cell], competitors: set[str], correct: set[str]) -> Comparison:
        def best(names: set[str]) -> Cell | None:
            timed = [c for c in cells if c.parser in names and c.best is not None]
            return max(timed, key=lambda c: c.best or 0.0, default=None)

        sw = best({"sipwright"})
        return Comparison(sw.best if sw else None, best(competitors), best(correct))

    @staticmethod
    def _name_rate(cell: Cell | None) -> str:
        return f"{cell.parser} {fmt_rate(cell.best)}" if cell else "-"

    def fastest_text(self) -> str:
        return self._name_rate(self.fastest)

    def fastest_correct_text(self) -> str:
        return self._name_rate(self.fastest_correct)

    def ratio(self, cell: Cell | None) -> float | None:
        if self.sipwright is None or cell is None or not cell.best:
            return None
        return self.sipwright / cell.best

    def target_met(self) -> str:
        if self.sipwright is None:
            return "-"
        ratio = self.ratio(self.fastest_correct)
        ok = self.sipwright >= 100_000 and (ratio is None or ratio >= 4.0)
        return "met" if ok else "NOT met"

    def as_dict(self) -> dict[str, Any]:
        return {
            "sipwright": self.sipwright,
            "fastest_competitor": self.fastest.parser if self.fastest else None,
            "fastest_competitor_rate": self.fastest.best if self.fastest else None,
            "ratio_vs_fastest": self.ratio(self.fastest),
            "fastest_correct_competitor": (
                self.fastest_correct.parser if self.fastest_correct else None
            ),
            "fastest_correct_competitor_rate": (
                self.fastest_correct.best if self.fastest_correct else None
            ),
            "ratio_vs_fastest_correct": self.ratio(self.fastest_correct),
        }


def print_parsers(adapters: list[Adapter], out: TextIO, verbose: bool) -> None:
    print("\nParsers (correct = compact forms i: v: f: t: m: l: AND header folding):", file=out)
    rows = [["parser", "version", "compact", "folding", "correct compact/folding"]]
    for ad in adapters:
        if ad.error:
            rows.append([ad.name, ad.version, "-", "-", "unusable (see below)"])
        else:
            compact, folding = ad.compact.split(" ")[0], ad.folding.split(" ")[0]
            rows.append([ad.name, ad.version, compact, folding, "yes" if ad.correct else "no"])
    table(rows, out)
    for ad in adapters:
        if ad.error:
            print(f"    {ad.name}: unusable: {ad.error}", file=out)
        for what, status in (("compact", ad.compact), ("folding", ad.folding)):
            if status.startswith("no ("):
                print(f"    {ad.name} {what}: {status[4:-1]}", file=out)
        if verbose and ad.how:
            print(f"    {ad.name} driven as: {ad.how}", file=out)


def print_summary(comparisons: dict[tuple[str, str, str], Comparison], out: TextIO) -> None:
    print(
        "\nSummary (target, parse+fields: sipwright >= 100k msg/s and >= 4x the fastest "
        "correct competitor; same = one message's bytes again and again, unique = distinct "
        "copies):",
        file=out,
    )
    rows = [["msg/s", *(f"[{m.key}] {m.short}" for m in MESSAGES)]]
    for mode in ("parse+fields", "parse"):
        for variant in VARIANTS:
            cmp = [comparisons[m.key, mode, variant] for m in MESSAGES]
            rows += [
                [f"{mode} {variant}: sipwright", *(fmt_rate(c.sipwright) for c in cmp)],
                ["  fastest competitor", *(c.fastest_text() for c in cmp)],
                ["    sipwright ratio", *(fmt_ratio(c.ratio(c.fastest), 1.0) for c in cmp)],
                ["  fastest correct competitor", *(c.fastest_correct_text() for c in cmp)],
                [
                    "    sipwright ratio",
                    *(fmt_ratio(c.ratio(c.fastest_correct), 1.0) for c in cmp),
                ],
            ]
            if mode == "parse+fields":
                rows.append(["  target", *(c.target_met() for c in cmp)])
    table(rows, out, right=tuple(range(1, len(MESSAGES) + 1)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run (about 10 s)")
    ap.add_argument("--repeats", type=int, help="timed loops per cell (default 7, quick 3)")
    ap.add_argument("--min-time", type=float, help="seconds per loop (default 0.15, quick 0.03)")
    ap.add_argument("--only", help="comma-separated parser names (sipwright is always kept)")
    ap.add_argument("--json", metavar="PATH", help="also write results as JSON ('-': stdout)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show how each is driven")
    args = ap.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 7
    if args.min_time is None:
        args.min_time = 0.03 if args.quick else 0.15
    out = sys.stderr if args.json == "-" else sys.stdout
    started = time.perf_counter()

    for msg in MESSAGES:
        msg.load()
    adapters = [make() for make in ADAPTERS]
    if args.only:
        keep = {n.strip().lower() for n in args.only.split(",")} | {"sipwright"}
        adapters = [a for a in adapters if a.name.lower() in keep]
    for ad in adapters:
        if ad.version == "?":
            ad.version = _version(ad.dist)
        if ad.fields is not None:
            ad.compact = check_syntax(ad, COMPACT_CHECK)
            ad.folding = check_syntax(ad, FOLDING_CHECK)
    usable = [a for a in adapters if a.parse is not None and a.fields is not None]
    competitors = {a.name for a in usable if a.name != "sipwright"}
    correct = {a.name for a in usable if a.name != "sipwright" and a.correct}

    print(
        f"SIP parser benchmark: Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.machine()}, {os.cpu_count()} CPUs; "
        f"best of {args.repeats} loops of ~{args.min_time:g} s, GC off inside a loop",
        file=out,
    )
    print_parsers(adapters, out, args.verbose)

    cells: list[Cell] = []
    field_status: dict[tuple[str, str], str] = {}
    comparisons: dict[tuple[str, str, str], Comparison] = {}
    for msg in MESSAGES:
        assert msg.unique is not None
        print(f"\n[{msg.key}] {msg.title}: {msg.filename}, {len(msg.data)} bytes", file=out)
        rows = [
            [
                "parser",
                "parse same",
                "parse unique",
                "+fields same",
                "+fields unique",
                "field values",
            ]
        ]
        details: list[str] = []
        here: list[Cell] = []
        # A copy of the unique variant for the checks (never timed).
        check_n = msg.unique.next
        check_copy = msg.unique.take(1)[0]
        check_expected = msg.unique.expected(check_n, msg.expected)
        for ad in usable:
            assert ad.parse is not None and ad.fields is not None
            status, wrong = check_fields(ad, msg.data, msg.expected)
            u_status, u_wrong = check_fields(ad, check_copy, check_expected)
            if u_status != status:
                status = f"same: {status}; unique: {u_status}"
            field_status[ad.name, msg.key] = status
            details += [f"    {ad.name} {w}" for w in wrong]
            details += [f"    {ad.name} (unique copy) {w}" for w in u_wrong if w not in wrong]
            with contextlib.suppress(Exception):
                if ad.parse(msg.data) is ad.parse(msg.data):
                    details.append(f"    WARNING: {ad.name} returned the same object twice")
            batches = {"same": lambda k, data=msg.data: [data] * k, "unique": msg.unique.take}
            for mode, fn in (("parse", ad.parse), ("parse+fields", ad.fields)):
                for variant in VARIANTS:
                    here.append(Cell(ad.name, msg.key, mode, variant, fn, batches[variant]))
        measure(here, args)
        per_parser = len(here) // len(usable)
        for i in range(0, len(here), per_parser):
            mine = here[i : i + per_parser]  # parse same, parse unique, +fields same, unique
            name = mine[0].parser
            error = next((c.error for c in mine if c.error), None)
            if error:
                field_status[name, msg.key] = error
            rows.append([name, *(fmt_rate(c.best) for c in mine), field_status[name, msg.key]])
        cells += here
        table(rows, out, right=(1, 2, 3, 4))
        for line in details:
            print(line, file=out)
        for mode in ("parse", "parse+fields"):
            for variant in VARIANTS:
                mode_cells = [c for c in here if c.mode == mode and c.variant == variant]
                cmp = Comparison.of(mode_cells, competitors, correct)
                comparisons[msg.key, mode, variant] = cmp
                print(
                    f"  {mode + ' ' + variant:>19}: sipwright {fmt_rate(cmp.sipwright)}/s = "
                    f"{fmt_ratio(cmp.ratio(cmp.fastest), 1.0)} the fastest competitor "
                    f"({cmp.fastest_text()}/s), "
                    f"{fmt_ratio(cmp.ratio(cmp.fastest_correct), 1.0)} the fastest correct "
                    f"one ({cmp.fastest_correct_text()}/s)",
                    file=out,
                )

    print_summary(comparisons, out)
    print(f"\n(total {time.perf_counter() - started:.1f} s)", file=out)

    if args.json:
        doc = {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "repeats": args.repeats,
            "min_time": args.min_time,
            "variants": {
                "same": "K calls on the same bytes (memo tables and URI caches can hit)",
                "unique": (
                    "K calls on K distinct copies built before the loop: top Via branch, "
                    "From tag, To tag (if any) and Call-ID end in the copy number n (hex), "
                    "CSeq number + n; no copy is parsed twice in a run"
                ),
            },
            "parsers": [
                {
                    "name": a.name,
                    "version": a.version,
                    "usable": a.error is None,
                    "error": a.error,
                    "compact": a.compact,
                    "folding": a.folding,
                    "correct_compact_folding": a.correct,
                    "how": a.how,
                }
                for a in adapters
            ],
            "messages": {
                m.key: {
                    "file": m.filename,
                    "title": m.title,
                    "unique_fields": [s.name for s in m.unique.spans] if m.unique else [],
                    "unique_copies_made": m.unique.next - 1 if m.unique else 0,
                    "unique_copy_1_values": m.unique.expected(1, m.expected) if m.unique else {},
                }
                for m in MESSAGES
            },
            "results": [
                {
                    "parser": c.parser,
                    "message": c.message,
                    "mode": c.mode,
                    "variant": c.variant,
                    "best_msgs_per_s": c.best,
                    "median_msgs_per_s": c.median,
                    "loops": c.loops,
                    "runs_s": c.runs,
                    "error": c.error,
                    "field_values": field_status[c.parser, c.message],
                }
                for c in cells
            ],
            "summary": {
                f"{key}/{mode}/{variant}": cmp.as_dict()
                for (key, mode, variant), cmp in comparisons.items()
            },
        }
        text = json.dumps(doc, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
