"""Turning bytes into messages: one datagram, or a byte stream framed by Content-Length.

RFC 3261 §7 gives the layout (start line, header lines, an empty line, the
body); §18.3 the framing: over a datagram the body is exactly Content-Length
bytes (bytes past it are discarded, a shortfall is an error), over a stream
Content-Length is mandatory and delimits each message. Leading CRLFs are
ignored on streams (§7.5) and used as keep-alives by RFC 5626 §3.5.1.

Only :class:`~sipwright.ParseError` ever leaves this module for bad input.
Splitting works on whole buffers with ``bytes.find``/``str.split`` rather than
per character, and typed headers are left unparsed (see ``message.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._abnf import SIP_VERSION_RE, TOKEN_RE
from .errors import ParseError
from .headers.container import HeaderField, Headers
from .headers.names import _KEY_CACHE, header_key
from .limits import DEFAULT_LIMITS, ParseLimits
from .message import Request, Response

__all__ = ["KeepAlive", "StreamParser", "parse"]

_ANY_EOL_BLANK = re.compile(rb"\r?\n\r?\n")
_EOL = re.compile(r"\r?\n")
_START_LINE_RE = re.compile(
    rb"(?:[A-Za-z0-9\-.!%*_+`'~]+ [^ \r\n]+ SIP/[0-9]+\.[0-9]+|SIP/[0-9]+\.[0-9]+ [0-9]{3} )"
)

@dataclass(slots=True)
class _ParsedHead:
    """Start line and header lines of one message, before the body is attached."""

    is_request: bool
    method: str
    uri_text: str
    status_code: int
    reason: str
    fields: list[HeaderField]
    content_length: int | None
    defects: list[tuple[str, str]]


def parse(data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one datagram-framed SIP message (UDP, a file, a WebSocket frame).

    Raises :class:`ParseError` (with ``status_code`` and ``reason``) for
    anything that is not a SIP message; never any other exception.
    """
    total = len(data)
    if total > limits.max_message_size:
        raise ParseError("message too large", 513)
    if not isinstance(data, bytes):
        data = bytes(data)
    defects: list[tuple[str, str]] = []
    if data[:1] in (b"\r", b"\n"):
        stripped = data.lstrip(b"\r\n")
        if not stripped:
            raise ParseError("empty message (only CRLF keep-alive)")
        defects.append(("leading-crlf", "CRLF before the start line ignored (RFC 3261 §7.5)"))
        data = stripped
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head = data[:end]
        body_start = end + 4
        n_lf = head.count(b"\n")
        clean = n_lf == head.count(b"\r") and n_lf == head.count(b"\r\n")
    else:
        clean = False
    if not clean:
        m = _ANY_EOL_BLANK.search(data)
        if m is None:
            if not data:
                raise ParseError("empty message")
            raise ParseError("no empty line after the headers (RFC 3261 §7)")
        head = data[: m.start()]
        body_start = m.end()
    parsed = _parse_head(head, clean, limits, defects)
    rest = data[body_start:]
    cl = parsed.content_length
    if cl is None:
        body = rest
    elif cl == len(rest):
        body = rest
    elif cl > len(rest):
        raise ParseError(f"Content-Length {cl} exceeds the {len(rest)} bytes of body (§18.3)")
    else:
        body = rest[:cl]
        defects.append(_trailing_defect(rest[cl:], cl, len(rest)))
    return _build(parsed, body)


def _trailing_defect(extra: bytes, cl: int, present: int) -> tuple[str, str]:
    """Classify bytes past Content-Length in a datagram (discarded by §18.3)."""
    if not extra.strip(b"\r\n"):
        return ("trailing-crlf", f"{len(extra)} CR/LF bytes after the body ignored (§18.3)")
    if _START_LINE_RE.match(extra.lstrip(b"\r\n")):
        return (
            "trailing-message",
            f"{len(extra)} bytes after the body look like another message; "
            "discarded, a datagram carries one message (§18.3)",
        )
    return (
        "content-length-mismatch",
        f"Content-Length is {cl} but {present} bytes of body follow the headers; "
        f"the last {len(extra)} bytes are cut off (§18.3, §20.14)",
    )


def _build(parsed: _ParsedHead, body: bytes) -> Request | Response:
    msg: Request | Response
    if parsed.is_request:
        req = Request.__new__(Request)
        req.method = parsed.method
        req._uri_text = parsed.uri_text
        req._uri = None
        msg = req
    else:
        resp = Response.__new__(Response)
        resp.status_code = parsed.status_code
        resp.reason = parsed.reason
        msg = resp
    msg.version = "SIP/2.0"
    msg.headers = Headers._from_parsed(parsed.fields)
    msg._body = body
    msg.defects = parsed.defects
    return msg


def _parse_head(
    head: bytes, clean: bool, limits: ParseLimits, defects: list[tuple[str, str]]
) -> _ParsedHead:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("utf-8", "surrogateescape")
        defects.append(("invalid-utf8", "header section is not valid UTF-8 (RFC 3261 §7)"))
    if clean:
        lines = text.split("\r\n")
    else:
        if "\r" in text.replace("\r\n", ""):
            raise ParseError("bare CR in the header section (RFC 3261 §7)")
        lines = _EOL.split(text)
        defects.append(("bare-lf", "lines end in LF instead of CRLF (RFC 3261 §7)"))
    if len(head) > limits.max_line_length and max(map(len, lines)) > limits.max_line_length:
        raise ParseError("header line too long")
    if len(lines) > limits.max_headers + 1:
        raise ParseError("too many header lines")

    parsed = _parse_start_line(lines[0])
    fields: list[HeaderField] = []
    cl_values: list[str] = []
    eol = "\r\n" if clean else "\n"
    folded = "\n " in text or "\n\t" in text
    key_cache = _KEY_CACHE
    number = 1
    for line in lines[1:]:
        number += 1
        if folded and line[:1] in (" ", "\t"):
            if not fields:
                raise ParseError("continuation line right after the start line", line=number)
            prev = fields[-1]
            prev.raw = f"{prev.raw}{eol}{line}"
            cont = line.strip(" \t")
            prev.value = f"{prev.value} {cont}" if prev.value else cont
            if prev.key == "content-length":
                cl_values[-1] = prev.value
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ParseError(f"header line without ':' {line[:40]!r}", line=number)
        key = key_cache.get(name)
        if key is None:
            try:
                key = header_key(name)
            except ParseError as exc:
                raise ParseError(exc.reason, line=number) from None
            name = name.rstrip(" \t")
        value = value.strip(" \t")
        if key == "content-length":
            cl_values.append(value)
        fields.append(HeaderField(key, name, value, line))

    content_length: int | None = None
    if cl_values:
        first = cl_values[0]
        for other in cl_values[1:]:
            if other != first:
                raise ParseError("conflicting Content-Length values")
        if not first.isdigit() or not first.isascii():
            raise ParseError(f"invalid Content-Length {first[:20]!r}")
        content_length = int(first)
        if content_length > limits.max_message_size:
            raise ParseError("message too large", 513)
    parsed.fields = fields
    parsed.content_length = content_length
    parsed.defects = defects
    return parsed


def _parse_start_line(line: str) -> _ParsedHead:
    if line[:4].upper() == "SIP/":
        version, sp, rest = line.partition(" ")
        code_text, sp2, reason = rest.partition(" ")
        if len(code_text) != 3 or not code_text.isdigit() or not code_text.isascii():
            raise ParseError("invalid status code", line=1)
        code = int(code_text)
        if code < 100 or code > 699:
            raise ParseError("status code out of range 100-699", line=1)
        _check_version(version)
        defects: list[tuple[str, str]] = []
        if not sp2:
            defects.append(("status-line", "no SP after the status code (RFC 3261 §7.2)"))
        return _ParsedHead(False, "", "", code, reason, [], None, defects)
    parts = line.split(" ")
    if len(parts) != 3:
        if not line:
            raise ParseError("empty start line", line=1)
        if line.endswith((" ", "\t")):
            raise ParseError("trailing whitespace on the Request-Line", line=1)
        if "  " in line:
            raise ParseError("more than one SP between Request-Line elements", line=1)
        if len(parts) > 3:
            raise ParseError("whitespace inside the Request-URI", line=1)
        raise ParseError("malformed Request-Line", line=1)
    method, uri_text, version = parts
    if TOKEN_RE.fullmatch(method) is None:
        raise ParseError("invalid method", line=1)
    if uri_text.startswith("<"):
        raise ParseError("Request-URI enclosed in <>", line=1)
    if any(c < " " or c == "\x7f" for c in uri_text):
        raise ParseError("control character in the Request-URI", line=1)
    _check_version(version)
    return _ParsedHead(True, method, uri_text, 0, "", [], None, [])


def _check_version(version: str) -> None:
    if version == "SIP/2.0":
        return
    if SIP_VERSION_RE.fullmatch(version) is None:
        raise ParseError("malformed SIP version", line=1)
    if version.upper() != "SIP/2.0":
        raise ParseError("SIP version not supported", 505, line=1)


class KeepAlive:
    """A CRLF keep-alive seen between messages on a stream (RFC 5626 §3.5.1).

    ``ping`` is True for the double-CRLF ping (to be answered with a single
    CRLF pong) and False for a single-CRLF pong.
    """

    __slots__ = ("ping",)

    def __init__(self, ping: bool) -> None:
        self.ping = ping

    def __repr__(self) -> str:
        return f"KeepAlive(ping={self.ping})"


class StreamParser:
    """Frames a TCP/TLS byte stream into messages (RFC 3261 §18.3).

    Feed bytes as they arrive; :meth:`feed` returns the messages (and
    keep-alives) that are now complete. A framing error raises
    :class:`ParseError` and leaves the parser failed: the connection must be
    closed, since nothing after the fault can be delimited reliably.
    """

    def __init__(self, *, limits: ParseLimits = DEFAULT_LIMITS) -> None:
        self._buf = bytearray()
        self._limits = limits
        self._head: _ParsedHead | None = None
        self._body_start = 0
        self._failed: ParseError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Request | Response | KeepAlive]:
        """Add bytes; return every message completed by them, in order."""
        if self._failed is not None:
            raise self._failed
        self._buf += data
        out: list[Request | Response | KeepAlive] = []
        try:
            while True:
                item = self._next()
                if item is None:
                    return out
                out.append(item)
        except ParseError as exc:
            self._failed = exc
            raise

    def _next(self) -> Request | Response | KeepAlive | None:
        buf = self._buf
        limits = self._limits
        if self._head is None:
            first = buf[:1]
            if first == b"\r" or first == b"\n":
                if buf[:4] == b"\r\n\r\n":
                    del buf[:4]
                    return KeepAlive(True)
                if buf in (b"\r", b"\r\n", b"\r\n\r"):
                    return None  # wait: this may still become a ping
                if buf[:2] == b"\r\n":
                    del buf[:2]
                    return KeepAlive(False)
                if first == b"\n":
                    del buf[:1]  # a stray LF between messages: tolerated
                    return self._next()
                raise ParseError("stray CR between messages")
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > limits.max_message_size:
                    raise ParseError("message too large", 513)
                return None
            head = bytes(buf[:end])
            n_lf = head.count(b"\n")
            clean = n_lf == head.count(b"\r") and n_lf == head.count(b"\r\n")
            if not clean:
                raise ParseError("bare CR or LF in the header section of a stream message")
            self._head = _parse_head(head, True, limits, [])
            self._body_start = end + 4
            if self._head.content_length is None:
                raise ParseError("missing Content-Length on a stream transport (RFC 3261 §18.3)")
        head_parsed = self._head
        cl = head_parsed.content_length
        assert cl is not None
        stop = self._body_start + cl
        if stop > limits.max_message_size:
            raise ParseError("message too large", 513)
        if len(buf) < stop:
            return None
        body = bytes(buf[self._body_start : stop])
        del buf[:stop]
        self._head = None
        return _build(head_parsed, body)
