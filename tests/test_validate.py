"""Tests of ``sipwright.validate``: every Finding code, its severity, line and RFC section.

Each case starts from a valid INVITE (RFC 3261 §8.1.1 mandatory headers) and breaks one
rule. The table is checked against the codes written in ``validate.py`` so that a new
rule cannot go untested.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from peers import shared_dir

import sipwright
from sipwright import Finding, Request, Response, validate, validate_message, validate_stream

START = "INVITE sip:bob@biloxi.example.com SIP/2.0"
# Header lines 2-8 of the base request, in order.
BASE: list[tuple[str, str]] = [
    ("Via", "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds"),
    ("Max-Forwards", "70"),
    ("To", "Bob <sip:bob@biloxi.example.com>"),
    ("From", "Alice <sip:alice@atlanta.example.com>;tag=1928301774"),
    ("Call-ID", "a84b4c76e66710@pc33.atlanta.example.com"),
    ("CSeq", "314159 INVITE"),
    ("Contact", "<sip:alice@pc33.atlanta.example.com>"),
]
RESPONSE_VIA = "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1"


def build(
    start: str = START,
    *,
    change: dict[str, str | None] | None = None,
    add: tuple[str, ...] = (),
    body: bytes = b"",
    length: bool = True,
) -> bytes:
    """The base request with headers changed (None removes), lines added after Contact."""
    change = change or {}
    lines = [start]
    for name, value in BASE:
        new = change.get(name, value)
        if new is not None:
            lines.append(f"{name}: {new}")
    lines.extend(add)
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def response(*, via: str = RESPONSE_VIA, start: str = "SIP/2.0 200 OK") -> bytes:
    return build(start, change={"Via": via, "Max-Forwards": None})


def register(*add: str) -> bytes:
    return build(
        "REGISTER sip:registrar.biloxi.example.com SIP/2.0",
        change={"CSeq": "1 REGISTER", "Contact": None},
        add=add,
    )


def test_base_request_is_clean() -> None:
    """The base of every case has no finding at all."""
    report = validate(build())
    assert report.findings == []
    assert report.valid
    assert report.kind == "request"
    assert validate(response()).findings == []


# (id, data, code, severity, line, RFC section)
CASES: list[tuple[str, bytes, str, str, int | None, str]] = [
    # An SDP body is validated too: the finding sits on the message line holding the
    # faulty SDP line (base: start line + 7 headers + Content-Type + Content-Length,
    # the empty line is 11, so SDP line 2 is message line 13).
    (
        "sdp-invalid",
        build(add=("Content-Type: application/sdp",), body=b"v=0\r\no=bad\r\n"),
        "sdp-invalid",
        "error",
        13,
        "RFC 8866 §5",
    ),
    # parser defects
    (
        "bare-lf",
        build().replace(b"\r\n", b"\n"),
        "bare-lf",
        "error",
        None,
        "RFC 3261 §7",
    ),
    (
        "invalid-utf8",
        build(add=("Subject: caf\xe9",)).replace("caf\xe9".encode(), b"caf\xe9"),
        "invalid-utf8",
        "error",
        None,
        "RFC 3261 §7",
    ),
    ("leading-crlf", b"\r\n" + build(), "leading-crlf", "warning", None, "RFC 3261 §7.5"),
    (
        "version-case",
        build(START.replace("SIP/2.0", "sip/2.0")),
        "version-case",
        "warning",
        None,
        "RFC 3261 §7.1",
    ),
    ("trailing-crlf", build() + b"\r\n", "trailing-crlf", "warning", None, "RFC 3261 §18.3"),
    (
        "trailing-message",
        build() + build(),
        "trailing-message",
        "warning",
        None,
        "RFC 3261 §18.3",
    ),
    (
        "content-length-mismatch",
        build(add=("Content-Type: text/plain",), body=b"abc") + b"def",
        "content-length-mismatch",
        "error",
        10,
        "RFC 3261 §20.14",
    ),
    (
        "status-line",
        response(start="SIP/2.0 200"),
        "status-line",
        "warning",
        None,
        "RFC 3261 §7.2",
    ),
    # parse errors
    ("parse-error", build(START.replace(" ", "  ", 1)), "parse-error", "error", 1, "RFC 3261 §7.1"),
    # mandatory and single-valued headers
    ("missing-to", build(change={"To": None}), "missing-header", "error", 1, "RFC 3261 §8.1.1.2"),
    ("missing-via", build(change={"Via": None}), "missing-header", "error", 1, "RFC 3261 §8.1.1.7"),
    (
        "missing-cseq",
        build(change={"CSeq": None}),
        "missing-header",
        "error",
        1,
        "RFC 3261 §8.1.1.5",
    ),
    (
        "missing-max-forwards",
        build(change={"Max-Forwards": None}),
        "missing-max-forwards",
        "warning",
        1,
        "RFC 3261 §8.1.1.6",
    ),
    (
        "duplicate-header",
        build(add=("Call-ID: other@host",)),
        "duplicate-header",
        "error",
        9,
        "RFC 3261 §7.3.1",
    ),
    # Request-URI
    (
        "request-uri-invalid",
        build("INVITE sip:user@2001:db8::10 SIP/2.0"),
        "request-uri-invalid",
        "error",
        1,
        "RFC 3261 §19.1.1",
    ),
    (
        "request-uri-headers",
        build("INVITE sip:bob@biloxi.example.com?Route=%3Csip:x.example.com%3E SIP/2.0"),
        "request-uri-headers",
        "error",
        1,
        "RFC 3261 §19.1.1",
    ),
    # Via
    (
        "via-invalid",
        build(change={"Via": "SIP/2.0/UDP pc33.atlanta.example.com;;branch=z9hG4bK1"}),
        "via-invalid",
        "error",
        2,
        "RFC 3261 §20.42",
    ),
    (
        "via-version",
        build(change={"Via": "SIP/3.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1"}),
        "via-version",
        "error",
        2,
        "RFC 3261 §20.42",
    ),
    (
        "via-received-invalid",
        build(change={"Via": "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;received=host.example"}),
        "via-received-invalid",
        "error",
        2,
        "RFC 3261 §18.2.1",
    ),
    (
        "branch-missing",
        build(change={"Via": "SIP/2.0/UDP pc33.atlanta.example.com"}),
        "branch-missing",
        "warning",
        2,
        "RFC 3261 §8.1.1.7",
    ),
    (
        "branch-cookie-only",
        build(change={"Via": "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK"}),
        "branch-cookie-only",
        "warning",
        2,
        "RFC 3261 §8.1.1.7",
    ),
    (
        "branch-cookie",
        build(change={"Via": "SIP/2.0/UDP pc33.atlanta.example.com;branch=390skdjuw"}),
        "branch-cookie",
        "warning",
        2,
        "RFC 3261 §8.1.1.7",
    ),
    (
        "via-received-missing",
        response(via="SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds"),
        "via-received-missing",
        "warning",
        2,
        "RFC 3261 §18.2.1",
    ),
    # From / To / Call-ID / CSeq
    (
        "from-invalid",
        build(change={"From": '"Alice <sip:alice@atlanta.example.com>;tag=1'}),
        "from-invalid",
        "error",
        5,
        "RFC 3261 §20.20",
    ),
    (
        "to-invalid",
        build(change={"To": "< sip:bob@biloxi.example.com >"}),
        "to-invalid",
        "error",
        4,
        "RFC 3261 §20.39",
    ),
    (
        "from-tag-missing",
        build(change={"From": "<sip:alice@atlanta.example.com>"}),
        "from-tag-missing",
        "warning",
        5,
        "RFC 3261 §8.1.1.3",
    ),
    (
        "call-id-invalid",
        build(change={"Call-ID": "a b@c"}),
        "call-id-invalid",
        "error",
        6,
        "RFC 3261 §25.1",
    ),
    (
        "cseq-invalid",
        build(change={"CSeq": "4294967296 INVITE"}),
        "cseq-invalid",
        "error",
        7,
        "RFC 3261 §8.1.1.5",
    ),
    (
        "cseq-method-mismatch",
        build(change={"CSeq": "314159 BYE"}),
        "cseq-method-mismatch",
        "error",
        7,
        "RFC 3261 §8.1.1.5",
    ),
    # other typed headers
    (
        "max-forwards-invalid",
        build(change={"Max-Forwards": "256"}),
        "max-forwards-invalid",
        "error",
        3,
        "RFC 3261 §20.22",
    ),
    (
        "contact-invalid",
        build(change={"Contact": "sip:alice@pc33.example.com?Route=x"}),
        "contact-invalid",
        "error",
        8,
        "RFC 3261 §20.10",
    ),
    (
        "contact-wildcard-not-register",
        build(change={"Contact": "*"}),
        "contact-wildcard",
        "error",
        8,
        "RFC 3261 §10.2.2",
    ),
    (
        "contact-wildcard-not-alone",
        register("Contact: *, <sip:alice@pc33.example.com>", "Expires: 0"),
        "contact-wildcard",
        "error",
        8,
        "RFC 3261 §10.2.2",
    ),
    (
        "contact-wildcard-expires",
        register("Contact: *", "Expires: 3600"),
        "contact-wildcard",
        "error",
        8,
        "RFC 3261 §10.2.2",
    ),
    (
        "route-invalid",
        build(add=("Route: <sip:p1.example.com;lr",)),
        "route-invalid",
        "error",
        9,
        "RFC 3261 §20.34",
    ),
    (
        "record-route-invalid",
        build(add=("Record-Route: <sip:p1.example.com;lr",)),
        "record-route-invalid",
        "error",
        9,
        "RFC 3261 §20.30",
    ),
    (
        "expires-invalid",
        build(add=("Expires: soon",)),
        "expires-invalid",
        "error",
        9,
        "RFC 3261 §20.19",
    ),
    (
        "min-expires-invalid",
        build(add=("Min-Expires: -1",)),
        "min-expires-invalid",
        "error",
        9,
        "RFC 3261 §20.23",
    ),
    (
        "allow-invalid",
        build(add=("Allow: INVITE, NOT A TOKEN",)),
        "allow-invalid",
        "error",
        9,
        "RFC 3261 §20.5",
    ),
    (
        "supported-invalid",
        build(add=("Supported: 100rel, tim er",)),
        "supported-invalid",
        "error",
        9,
        "RFC 3261 §20.37",
    ),
    (
        "require-invalid",
        build(add=("Require: <foo>",)),
        "require-invalid",
        "error",
        9,
        "RFC 3261 §20.32",
    ),
    (
        "proxy-require-invalid",
        build(add=("Proxy-Require: a b",)),
        "proxy-require-invalid",
        "error",
        9,
        "RFC 3261 §20.29",
    ),
    (
        "authorization-invalid",
        build(add=('Authorization: Digest username="bob", realm',)),
        "authorization-invalid",
        "error",
        9,
        "RFC 3261 §20.7",
    ),
    (
        "proxy-authorization-invalid",
        build(add=('Proxy-Authorization: Digest realm="x',)),
        "proxy-authorization-invalid",
        "error",
        9,
        "RFC 3261 §20.28",
    ),
    (
        "www-authenticate-invalid",
        build(add=('WWW-Authenticate: Digest realm="a",',)),
        "www-authenticate-invalid",
        "error",
        9,
        "RFC 3261 §20.44",
    ),
    (
        "proxy-authenticate-invalid",
        build(add=("Proxy-Authenticate: @bad x=1",)),
        "proxy-authenticate-invalid",
        "error",
        9,
        "RFC 3261 §20.27",
    ),
    (
        "date-invalid",
        build(add=("Date: Sat, 13 Nov 2010 23:29:00 EST",)),
        "date-invalid",
        "error",
        9,
        "RFC 3261 §20.17",
    ),
    # body
    (
        "content-length-missing",
        build(length=False),
        "content-length-missing",
        "warning",
        1,
        "RFC 3261 §18.3",
    ),
    (
        "content-type-invalid",
        build(add=("Content-Type: sdp",)),
        "content-type-invalid",
        "error",
        9,
        "RFC 3261 §20.15",
    ),
    (
        "content-type-missing",
        build(body=b"v=0\r\n"),
        "content-type-missing",
        "error",
        1,
        "RFC 3261 §20.15",
    ),
]


@pytest.mark.parametrize(
    ("data", "code", "severity", "line", "rfc"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_finding(data: bytes, code: str, severity: str, line: int | None, rfc: str) -> None:
    """Each rule is reported with its code, severity, line and RFC section, and nothing
    else is reported as an error (a warning case stays valid)."""
    report = validate(data)
    found = [(f.code, f.severity, f.line, f.rfc) for f in report.findings]
    assert (code, severity, line, rfc) in found, found
    assert [f.code for f in report.errors if f.code != code] == []
    assert report.valid == (severity == "warning")
    for f in report.findings:
        assert f.message
        assert f.rfc.startswith("RFC ")


def test_wildcard_contact_allowed_in_register_with_expires_zero() -> None:
    """§10.2.2: ``Contact: *`` alone with ``Expires: 0`` removes all bindings: valid."""
    report = validate(register("Contact: *", "Expires: 0"))
    assert report.findings == []


def test_wildcard_rules_each_reported() -> None:
    """§10.2.2: ``*`` with another Contact and no Expires breaks two rules at once."""
    report = validate(register("Contact: *", "Contact: <sip:a@pc33.example.com>"))
    messages = sorted(f.message for f in report.errors if f.code == "contact-wildcard")
    assert messages == ["Contact: * must be the only Contact", "Contact: * requires Expires: 0"]


def test_content_length_invalid_on_a_built_message() -> None:
    """§20.14: a Content-Length that is not a number (only possible when built in code)."""
    req = Request("OPTIONS", "sip:bob@example.com", [("Content-Length", "many")])
    findings = [f for f in validate_message(req) if f.code == "content-length-invalid"]
    assert [(f.severity, f.line, f.rfc) for f in findings] == [("error", 2, "RFC 3261 §20.14")]


def test_content_length_mismatch_on_a_built_message() -> None:
    """§20.14: the header says 5, the body is empty: reported at the Content-Length line."""
    resp = Response(200, "OK", [("Via", RESPONSE_VIA), ("Content-Length", "5")])
    findings = [f for f in validate_message(resp) if f.code == "content-length-mismatch"]
    assert [(f.severity, f.line, f.rfc) for f in findings] == [("error", 3, "RFC 3261 §20.14")]


def test_as_printed_seed_content_length_mismatch_at_line_10() -> None:
    """§20.14: RFC 3261 §4 as printed says Content-Length 142 for 145 octets of SDP."""
    data = (shared_dir() / "seeds" / "examples" / "overview-invite-as-printed.sip").read_bytes()
    report = validate(data)
    assert not report.valid
    assert [(f.code, f.severity, f.line, f.rfc) for f in report.errors] == [
        ("content-length-mismatch", "error", 10, "RFC 3261 §20.14")
    ]
    # The cut-off SDP body also lacks its final CRLF; that is only a warning.
    assert {f.code for f in report.warnings} == {"sdp-empty-text", "sdp-no-final-eol"}


def test_corrected_seed_is_valid() -> None:
    """Valid; its SDP's empty ``s=`` line is the one (warning) finding (RFC 8866 §5.3)."""
    data = (shared_dir() / "seeds" / "examples" / "overview-invite.sip").read_bytes()
    report = validate(data)
    assert report.valid
    assert [(f.code, f.severity, f.line) for f in report.findings] == [
        ("sdp-empty-text", "warning", 14)
    ]


@pytest.mark.parametrize(
    ("data", "status", "rfc"),
    [
        (build("INVITE sip:bob@biloxi.example.com SIP/3.0"), 505, "RFC 3261 §7.1"),
        (build(add=("Content-Length: 7",)), 400, "RFC 3261 §18.3"),
        (response(start="SIP/2.0 99 Low"), 400, "RFC 3261 §7.2"),
        (build(add=("Bad Header: x",)), 400, "RFC 3261 §7.3.1"),
    ],
    ids=["version", "content-length", "status", "header"],
)
def test_parse_error_sections(data: bytes, status: int, rfc: str) -> None:
    """A message that does not parse gets one ``parse-error`` with the fitting section."""
    report = validate(data)
    assert report.message is None
    assert report.kind is None
    assert not report.valid
    assert [(f.code, f.severity, f.rfc) for f in report.findings] == [("parse-error", "error", rfc)]
    with pytest.raises(sipwright.ParseError) as info:
        sipwright.parse(data)
    assert info.value.status_code == status


def test_parse_error_for_oversized_message_cites_18_1_1() -> None:
    report = validate(build(), limits=sipwright.ParseLimits(max_message_size=50))
    assert [(f.code, f.rfc) for f in report.findings] == [("parse-error", "RFC 3261 §18.1.1")]


def test_findings_are_sorted_by_line() -> None:
    report = validate(
        build(change={"Max-Forwards": "x", "CSeq": "1 BYE"}, add=("Date: yesterday",))
    )
    lines = [f.line for f in report.findings]
    assert lines == sorted(lines, key=lambda n: (n is None, n or 0))
    assert [f.code for f in report.findings] == [
        "max-forwards-invalid",
        "cseq-method-mismatch",
        "date-invalid",
    ]


def test_finding_as_dict() -> None:
    f = Finding("date-invalid", "error", 9, "bad date", "RFC 3261 §20.17")
    assert f.as_dict() == {
        "code": "date-invalid",
        "rfc": "RFC 3261 §20.17",
        "line": 9,
        "message": "bad date",
    }


def test_line_numbers_count_folded_lines() -> None:
    """§7.3.1: a folded header spans several lines; later findings point at the real line."""
    data = build(add=("Subject: one\r\n two\r\n three", "Date: yesterday"))
    (finding,) = validate(data).findings
    assert (finding.code, finding.line) == ("date-invalid", 12)


# ---------------------------------------------------------------------------
# validate_stream (§18.3)
# ---------------------------------------------------------------------------


def test_validate_stream_multiple_messages() -> None:
    """§18.3: each framed message gets its own report; keep-alives produce none."""
    data = build() + b"\r\n\r\n" + build(change={"CSeq": "1 BYE"}) + response()
    reports = validate_stream(data)
    assert [r.kind for r in reports] == ["request", "request", "response"]
    assert [r.valid for r in reports] == [True, False, True]
    assert [f.code for f in reports[1].errors] == ["cseq-method-mismatch"]


def test_validate_stream_truncated() -> None:
    """§18.3: a stream that stops inside a message ends with ``incomplete-message``."""
    data = build() + build(add=("Content-Type: text/plain",), body=b"0123456789")[:-4]
    reports = validate_stream(data)
    assert len(reports) == 2
    assert reports[0].valid
    last = reports[-1]
    assert last.message is None
    assert [(f.code, f.severity, f.line, f.rfc) for f in last.findings] == [
        ("incomplete-message", "error", None, "RFC 3261 §18.3")
    ]


def test_validate_stream_framing_error_is_the_last_report() -> None:
    """§18.3: messages framed before a framing error are still reported; the error
    (missing Content-Length on a stream) is the last, message-less report."""
    data = build() + response() + build(length=False)
    reports = validate_stream(data)
    assert [r.kind for r in reports] == ["request", "response", None]
    assert [f.code for f in reports[-1].findings] == ["parse-error"]
    assert reports[-1].findings[0].rfc == "RFC 3261 §18.3"


def test_validate_stream_requires_content_length() -> None:
    (report,) = validate_stream(build(length=False))
    assert report.message is None
    assert [f.code for f in report.findings] == ["parse-error"]


# ---------------------------------------------------------------------------
# Completeness: every code in validate.py is exercised here
# ---------------------------------------------------------------------------

TESTED_ELSEWHERE = {"content-length-invalid", "incomplete-message", "parse-error"}


def _codes_in_source() -> set[str]:
    path = Path(sipwright.validate_message.__code__.co_filename)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    codes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else None
            position = {"add": 0, "Finding": 0, "typed": 2}.get(name or "")
            if position is not None and len(node.args) > position:
                arg = node.args[position]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    codes.add(arg.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.target.id == "_DEFECTS" and isinstance(node.value, ast.Dict):
                for key in node.value.keys:
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        codes.add(key.value)
    return codes


def test_every_finding_code_is_tested() -> None:
    """A rule added to validate.py without a case here makes this test fail."""
    in_source = _codes_in_source()
    assert len(in_source) > 30
    tested = {case[2] for case in CASES} | TESTED_ELSEWHERE
    assert in_source - tested == set()
