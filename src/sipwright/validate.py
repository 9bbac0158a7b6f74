"""Message-level validation: the rules a well-formed SIP message obeys.

The parser accepts anything it can frame so that a server can still answer
a flawed request; this module judges it. Each :class:`Finding` has a stable
``code``, a severity, the line it is on, a plain message and the RFC section
the rule comes from. ``error`` means the message breaks a MUST (a server would
answer 400 or drop it); ``warning`` means it is legal but suspect or
RFC 2543-era (no branch cookie, no Max-Forwards, bytes after the body).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ._abnf import CALLID_RE, RFC1123_DATE_RE
from ._netaddr import ip_of
from .errors import ParseError
from .headers.names import SINGLETON_HEADERS, canonical_name
from .ids import BRANCH_COOKIE
from .limits import DEFAULT_LIMITS, ParseLimits
from .message import Message, Request, Response
from .parser import KeepAlive, StreamParser, parse
from .sdp import SdpError
from .uri import SipUri

__all__ = ["Finding", "Report", "validate", "validate_message", "validate_stream"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule broken by a message."""

    code: str
    severity: Severity
    line: int | None
    message: str
    rfc: str

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "rfc": self.rfc, "line": self.line, "message": self.message}


@dataclass(slots=True)
class Report:
    """The verdict on one message (or on bytes that did not parse)."""

    message: Request | Response | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def kind(self) -> Literal["request", "response"] | None:
        if isinstance(self.message, Request):
            return "request"
        if isinstance(self.message, Response):
            return "response"
        return None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def valid(self) -> bool:
        return self.message is not None and not self.errors


# defect code from the parser -> (severity, RFC section)
_DEFECTS: dict[str, tuple[Severity, str]] = {
    "bare-lf": ("error", "RFC 3261 §7"),
    "invalid-utf8": ("error", "RFC 3261 §7"),
    "leading-crlf": ("warning", "RFC 3261 §7.5"),
    "trailing-crlf": ("warning", "RFC 3261 §18.3"),
    "trailing-message": ("warning", "RFC 3261 §18.3"),
    "content-length-mismatch": ("error", "RFC 3261 §20.14"),
    "status-line": ("warning", "RFC 3261 §7.2"),
    "version-case": ("warning", "RFC 3261 §7.1"),
}

_MANDATORY = (
    ("via", "RFC 3261 §8.1.1.7"),
    ("to", "RFC 3261 §8.1.1.2"),
    ("from", "RFC 3261 §8.1.1.3"),
    ("cseq", "RFC 3261 §8.1.1.5"),
    ("call-id", "RFC 3261 §8.1.1.4"),
)


def _parse_error_finding(exc: ParseError) -> Finding:
    section = "RFC 3261 §7"
    reason = exc.reason
    if exc.status_code == 505:
        section = "RFC 3261 §7.1"
    elif exc.status_code == 513:
        section = "RFC 3261 §18.1.1"
    elif "Content-Length" in reason:
        section = "RFC 3261 §18.3"
    elif "Request-Line" in reason or "Request-URI" in reason:
        section = "RFC 3261 §7.1"
    elif "status" in reason:
        section = "RFC 3261 §7.2"
    elif "header" in reason:
        section = "RFC 3261 §7.3.1"
    return Finding("parse-error", "error", exc.line, reason, section)


def validate(data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS) -> Report:
    """Parse one datagram-framed message and validate it."""
    try:
        msg = parse(data, limits=limits)
    except ParseError as exc:
        return Report(None, [_parse_error_finding(exc)])
    return Report(msg, validate_message(msg))


def validate_stream(data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS) -> list[Report]:
    """Split ``data`` as a TCP stream (Content-Length framing) and validate each message.

    A framing error ends the stream, as it would close the connection; it is
    reported as a last message-less report. Bytes left over at the end (an
    incomplete message) are reported the same way.
    """
    parser = StreamParser(limits=limits)
    reports: list[Report] = []
    failure: Finding | None = None
    try:
        items = parser.feed(data)
    except ParseError as exc:
        items = []
        failure = _parse_error_finding(exc)
    if parser.error is not None:
        failure = _parse_error_finding(parser.error)
    for item in items:
        if isinstance(item, KeepAlive):
            continue
        reports.append(Report(item, validate_message(item)))
    if failure is None and parser.buffered:
        failure = Finding(
            "incomplete-message",
            "error",
            None,
            f"stream ends inside a message ({parser.buffered} bytes left unframed)",
            "RFC 3261 §18.3",
        )
    if failure is not None:
        reports.append(Report(None, [failure]))
    return reports


class _Lines:
    """First line number of each header, counted on the message as parsed."""

    def __init__(self, msg: Message) -> None:
        self._first: dict[str, int] = {}
        self._all: dict[str, list[int]] = {}
        line = 2
        for f in msg.headers.lines():
            self._first.setdefault(f.key, line)
            self._all.setdefault(f.key, []).append(line)
            line += 1 if f.raw is None else f.raw.count("\n") + 1
        #: Line number of the body's first line (after the empty line).
        self.body = line + 1

    def of(self, key: str) -> int | None:
        return self._first.get(key)

    def all(self, key: str) -> list[int]:
        return self._all.get(key, [])


def validate_message(msg: Request | Response) -> list[Finding]:
    """Check a parsed message against the message-level MUSTs of RFC 3261."""
    out: list[Finding] = []
    lines = _Lines(msg)
    headers = msg.headers
    is_request = isinstance(msg, Request)

    def add(code: str, severity: Severity, key: str | None, message: str, rfc: str) -> None:
        out.append(Finding(code, severity, lines.of(key) if key else 1, message, rfc))

    def typed(key: str, read: Callable[[], object], code: str, rfc: str) -> object:
        try:
            return read()
        except ParseError as exc:
            add(code, "error", key, f"{canonical_name(key)}: {exc.reason}", rfc)
            return None

    for code, text in msg.defects:
        severity, rfc = _DEFECTS.get(code, ("warning", "RFC 3261 §7"))
        where = lines.of("content-length") if code == "content-length-mismatch" else None
        out.append(Finding(code, severity, where, text, rfc))

    # Mandatory headers (§8.1.1) and single-valued headers given twice (§7.3.1).
    for key, rfc in _MANDATORY:
        if key not in headers:
            add("missing-header", "error", None, f"{canonical_name(key)} header is missing", rfc)
    if is_request and "max-forwards" not in headers:
        add(
            "missing-max-forwards",
            "warning",
            None,
            "Max-Forwards is missing (RFC 2543 style request)",
            "RFC 3261 §8.1.1.6",
        )
    for key in sorted(SINGLETON_HEADERS):
        seen_at = lines.all(key)
        if len(seen_at) > 1:
            out.append(
                Finding(
                    "duplicate-header",
                    "error",
                    seen_at[1],
                    f"{canonical_name(key)} appears {len(seen_at)} times but takes one value",
                    "RFC 3261 §7.3.1",
                )
            )

    # Start line.
    if isinstance(msg, Request):
        _check_request_uri(msg, add)

    # Via (§20.42, §8.1.1.7, §18.2.1).
    vias = typed("via", lambda: msg.via, "via-invalid", "RFC 3261 §20.42")
    if isinstance(vias, list) and vias:
        for via in vias:
            if via.protocol_name.upper() != "SIP" or via.protocol_version != "2.0":
                add(
                    "via-version",
                    "error",
                    "via",
                    f"Via sent-protocol is {via.protocol_name}/{via.protocol_version}, not SIP/2.0",
                    "RFC 3261 §20.42",
                )
            received = via.received
            if received is not None and ip_of(received) is None:
                add(
                    "via-received-invalid",
                    "error",
                    "via",
                    f"Via received={received!r} is not an IP address",
                    "RFC 3261 §18.2.1",
                )
        top = vias[0]
        branch = top.branch
        if is_request:
            if branch is None:
                add(
                    "branch-missing",
                    "warning",
                    "via",
                    "top Via has no branch (RFC 2543 transaction matching applies)",
                    "RFC 3261 §8.1.1.7",
                )
            elif branch == BRANCH_COOKIE:
                add(
                    "branch-cookie-only",
                    "warning",
                    "via",
                    "top Via branch is only the magic cookie z9hG4bK",
                    "RFC 3261 §8.1.1.7",
                )
            elif not branch.startswith(BRANCH_COOKIE):
                add(
                    "branch-cookie",
                    "warning",
                    "via",
                    "top Via branch does not start with the magic cookie z9hG4bK",
                    "RFC 3261 §8.1.1.7",
                )
        elif ip_of(top.host) is None and top.received is None:
            add(
                "via-received-missing",
                "warning",
                "via",
                f"top Via sent-by {top.host} is a name but has no received parameter",
                "RFC 3261 §18.2.1",
            )

    # From / To / Call-ID / CSeq.
    from_ = typed("from", lambda: msg.from_, "from-invalid", "RFC 3261 §20.20")
    typed("to", lambda: msg.to, "to-invalid", "RFC 3261 §20.39")
    if is_request and from_ is not None and msg.from_ is not None and msg.from_.tag is None:
        add(
            "from-tag-missing",
            "warning",
            "from",
            "From has no tag (RFC 2543 style request)",
            "RFC 3261 §8.1.1.3",
        )
    call_id = msg.call_id
    if call_id is not None and CALLID_RE.fullmatch(call_id) is None:
        add("call-id-invalid", "error", "call-id", "Call-ID is not word[@word]", "RFC 3261 §25.1")
    cseq = typed("cseq", lambda: msg.cseq, "cseq-invalid", "RFC 3261 §8.1.1.5")
    if isinstance(msg, Request) and cseq is not None and msg.cseq is not None:
        if msg.cseq.method != msg.method:
            add(
                "cseq-method-mismatch",
                "error",
                "cseq",
                f"CSeq method {msg.cseq.method} differs from the request method {msg.method}",
                "RFC 3261 §8.1.1.5",
            )

    # Other typed headers.
    typed("max-forwards", lambda: msg.max_forwards, "max-forwards-invalid", "RFC 3261 §20.22")
    contacts = typed("contact", lambda: msg.contact, "contact-invalid", "RFC 3261 §20.10")
    if isinstance(contacts, list) and any(c.is_wildcard for c in contacts):
        _check_wildcard(msg, len(contacts), add)
    typed("route", lambda: msg.route, "route-invalid", "RFC 3261 §20.34")
    typed("record-route", lambda: msg.record_route, "record-route-invalid", "RFC 3261 §20.30")
    typed("expires", lambda: msg.expires, "expires-invalid", "RFC 3261 §20.19")
    typed("min-expires", lambda: msg.min_expires, "min-expires-invalid", "RFC 3261 §20.23")
    typed("allow", lambda: msg.allow, "allow-invalid", "RFC 3261 §20.5")
    typed("supported", lambda: msg.supported, "supported-invalid", "RFC 3261 §20.37")
    typed("require", lambda: msg.require, "require-invalid", "RFC 3261 §20.32")
    typed("proxy-require", lambda: msg.proxy_require, "proxy-require-invalid", "RFC 3261 §20.29")
    for key, read, rfc in (
        ("authorization", lambda: msg.authorization, "RFC 3261 §20.7"),
        ("proxy-authorization", lambda: msg.proxy_authorization, "RFC 3261 §20.28"),
        ("www-authenticate", lambda: msg.www_authenticate, "RFC 3261 §20.44"),
        ("proxy-authenticate", lambda: msg.proxy_authenticate, "RFC 3261 §20.27"),
    ):
        typed(key, read, f"{key}-invalid", rfc)
    date = headers.get_key("date")
    if date is not None and RFC1123_DATE_RE.fullmatch(date) is None:
        add(
            "date-invalid",
            "error",
            "date",
            f"Date {date!r} is not an RFC 1123 GMT date",
            "RFC 3261 §20.17",
        )

    # Body framing and typing (§18.3, §20.14, §20.15).
    content_length = typed(
        "content-length", lambda: msg.content_length, "content-length-invalid", "RFC 3261 §20.14"
    )
    if "content-length" not in headers:
        add(
            "content-length-missing",
            "warning",
            None,
            "no Content-Length: required on streams, recommended on datagrams",
            "RFC 3261 §18.3",
        )
    elif (
        isinstance(content_length, int)
        and content_length != len(msg.body)
        and not any(code == "content-length-mismatch" for code, _ in msg.defects)
    ):
        add(
            "content-length-mismatch",
            "error",
            "content-length",
            f"Content-Length is {content_length} but the body has {len(msg.body)} bytes",
            "RFC 3261 §20.14",
        )
    media = typed("content-type", lambda: msg.media_type, "content-type-invalid", "RFC 3261 §20.15")
    if msg.body and media is None and "content-type" not in headers:
        add(
            "content-type-missing",
            "error",
            None,
            f"a {len(msg.body)}-byte body has no Content-Type",
            "RFC 3261 §20.15",
        )
    if media is not None and msg.content_type == "application/sdp" and msg.body:
        _check_sdp(msg, lines.body, out)
    out.sort(key=lambda f: (f.line is None, f.line or 0))
    return out


def _check_sdp(msg: Message, first_line: int, out: list[Finding]) -> None:
    """Validate an SDP body; findings point at the message line and name the SDP line."""
    try:
        sd = msg.sdp
    except SdpError as exc:
        where = None if exc.line is None else first_line + exc.line - 1
        sdp_line = "" if exc.line is None else f"SDP line {exc.line}: "
        out.append(
            Finding("sdp-invalid", "error", where, f"{sdp_line}{exc.message}", "RFC 8866 §5")
        )
        return
    if sd is None:
        return
    for issue in sd.issues:
        out.append(
            Finding(
                f"sdp-{issue.code}",
                "warning",
                first_line + issue.line - 1,
                f"SDP line {issue.line}: {issue.message}",
                "RFC 8866 §5",
            )
        )


_Add = Callable[[str, Severity, "str | None", str, str], None]


def _check_request_uri(msg: Request, add: _Add) -> None:
    try:
        uri = msg.uri
    except ParseError as exc:
        add("request-uri-invalid", "error", None, f"Request-URI: {exc.reason}", "RFC 3261 §19.1.1")
        return
    if isinstance(uri, SipUri) and uri.headers:
        add(
            "request-uri-headers",
            "error",
            None,
            "Request-URI carries URI headers (?...), which are not allowed there",
            "RFC 3261 §19.1.1",
        )


def _check_wildcard(msg: Message, count: int, add: _Add) -> None:
    if not isinstance(msg, Request) or msg.method != "REGISTER":
        add(
            "contact-wildcard",
            "error",
            "contact",
            "Contact: * is only for REGISTER",
            "RFC 3261 §10.2.2",
        )
        return
    if count > 1:
        add(
            "contact-wildcard",
            "error",
            "contact",
            "Contact: * must be the only Contact",
            "RFC 3261 §10.2.2",
        )
    try:
        expires = msg.expires
    except ParseError:
        expires = None
    if expires != 0:
        add(
            "contact-wildcard",
            "error",
            "contact",
            "Contact: * requires Expires: 0",
            "RFC 3261 §10.2.2",
        )
