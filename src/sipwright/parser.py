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
import sys
from typing import cast

from ._abnf import SIP_VERSION_RE, TOKEN_RE, ascii_int
from .errors import ParseError
from .headers.container import Headers
from .headers.names import _KEY_CACHE, header_key
from .limits import DEFAULT_LIMITS, ParseLimits
from .message import Request, Response

__all__ = ["KeepAlive", "StreamParser", "parse"]

_ANY_EOL_BLANK = re.compile(rb"\r?\n\r?\n")
_EOL = re.compile(r"\r?\n")
_CTL_RE = re.compile(r"[\x00-\x1f\x7f]")
_START_LINE_RE = re.compile(
    rb"(?:[A-Za-z0-9\-.!%*_+`'~]+ [^ \r\n]+ SIP/[0-9]+\.[0-9]+|SIP/[0-9]+\.[0-9]+ [0-9]{3} )"
)
# The common, fully valid shapes of the start line, checked in one C call; any
# other line goes through _parse_start_line_slow, which names the fault.
_REQUEST_LINE_FAST = re.compile(
    r"([A-Za-z0-9\-.!%*_+`'~]++) ([^\x00-\x20\x7f<][^\x00-\x20\x7f]*+) SIP/2\.0"
)
_STATUS_LINE_FAST = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9]) ([^\x00-\x08\x0a-\x1f\x7f]*+)")
_CL_KEY = sys.intern("content-length")


def parse(data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one datagram-framed SIP message (UDP, a file, a WebSocket frame).

    Raises :class:`ParseError` (with ``status_code`` and ``reason``) for
    anything that is not a SIP message; never any other exception.
    """
    if len(data) > limits.max_message_size:
        raise ParseError("Message Too Large", 513)
    if type(data) is not bytes:
        data = bytes(data)
    end = data.find(b"\r\n\r\n")
    if end > 0 and data[0] != 13 and data[0] != 10:
        try:
            text = data[:end].decode()
        except UnicodeDecodeError:
            pass
        else:
            # splitlines() also breaks at a bare CR or LF (and a few other
            # separators); if it finds exactly the CRLF-delimited lines, the
            # header section is clean (RFC 3261 §7: CRLF only). It swallows a
            # separator at the very end, hence the last-character check (every
            # separator is whitespace; a legal trailing blank just goes the
            # careful way).
            lines = text.splitlines()
            if len(lines) == text.count("\r\n") + 1 and not text[-1].isspace():
                msg, cl = _read_head(lines, end, limits, [])
                end += 4
                if cl is None or cl == len(data) - end:
                    msg._body = data[end:]
                    return msg
                return _frame_body(msg, data, end, cl)
    return _parse_careful(data, limits)


def _parse_careful(data: bytes, limits: ParseLimits) -> Request | Response:
    """Leading CRLFs, bare LF line ends, invalid UTF-8, a missing empty line."""
    defects: list[tuple[str, str]] = []
    if data[:1] == b"\r" or data[:1] == b"\n":
        stripped = data.lstrip(b"\r\n")
        if not stripped:
            raise ParseError("empty message (only CRLF keep-alive)")
        defects.append(("leading-crlf", "CRLF before the start line ignored"))
        data = stripped
    lines, body_start = _split_head_slow(data, defects)
    return _attach_body(data, body_start, lines, limits, defects)


def _attach_body(
    data: bytes,
    body_start: int,
    lines: list[str],
    limits: ParseLimits,
    defects: list[tuple[str, str]],
) -> Request | Response:
    """Frame the body of a datagram by Content-Length (§18.3)."""
    msg, cl = _read_head(lines, body_start, limits, defects)
    if cl is None:
        msg._body = data[body_start:]
        return msg
    return _frame_body(msg, data, body_start, cl)


def _frame_body(
    msg: Request | Response, data: bytes, body_start: int, cl: int
) -> Request | Response:
    """Body of exactly Content-Length bytes; extra bytes are discarded and reported."""
    present = len(data) - body_start
    if cl > present:
        raise ParseError(f"Content-Length {cl} exceeds the {present} bytes of body (§18.3)")
    stop = body_start + cl
    msg._body = data[body_start:stop]
    if cl < present:
        msg.defects.append(_trailing_defect(data[stop:], cl, present))
    return msg


def _split_head_slow(data: bytes, defects: list[tuple[str, str]]) -> tuple[list[str], int]:
    """Header lines when the header section is not clean CRLF UTF-8."""
    m = _ANY_EOL_BLANK.search(data)
    if m is None:
        if not data:
            raise ParseError("empty message")
        raise ParseError("no empty line after the headers (RFC 3261 §7)")
    head = data[: m.start()]
    try:
        text = head.decode()
    except UnicodeDecodeError:
        text = head.decode("utf-8", "surrogateescape")
        defects.append(("invalid-utf8", "header section is not valid UTF-8"))
    lines = text.split("\r\n")
    n = len(lines) - 1
    if text.count("\n") != n or text.count("\r") != n:
        if "\r" in text.replace("\r\n", ""):
            raise ParseError("bare CR in the header section (RFC 3261 §7)")
        lines = _EOL.split(text)
        defects.append(("bare-lf", "lines end in LF instead of CRLF"))
    elif m.group() != b"\r\n\r\n":
        # Clean lines, but the last one or the empty line ends in a bare LF.
        defects.append(("bare-lf", "the header section ends in LF instead of CRLF"))
    return lines, m.end()


def _trailing_defect(extra: bytes, cl: int, present: int) -> tuple[str, str]:
    """Classify bytes past Content-Length in a datagram (discarded by §18.3)."""
    if not extra.strip(b"\r\n"):
        return ("trailing-crlf", f"{len(extra)} CR/LF bytes after the body ignored")
    if _START_LINE_RE.match(extra.lstrip(b"\r\n")):
        return (
            "trailing-message",
            f"{len(extra)} bytes after the body look like another message; "
            "discarded, a datagram carries one message",
        )
    return (
        "content-length-mismatch",
        f"Content-Length is {cl} but {present} bytes of body follow the headers; "
        f"the last {len(extra)} bytes are cut off",
    )


def _read_head(
    lines: list[str], head_size: int, limits: ParseLimits, defects: list[tuple[str, str]]
) -> tuple[Request | Response, int | None]:
    """Build the message (without body) from its header-section lines."""
    if len(lines) > limits.max_headers + 1:
        raise ParseError("too many header lines")
    if head_size > limits.max_line_length:
        for number, line in enumerate(lines, 1):
            if len(line) > limits.max_line_length:
                raise ParseError("line too long", line=number)
    first = lines[0]
    msg: Request | Response
    m = _REQUEST_LINE_FAST.fullmatch(first)
    if m is not None:
        req = _new_request(Request)
        req.method, req._uri_text = m.groups()
        req._uri = None
        msg = req
    else:
        m = _STATUS_LINE_FAST.fullmatch(first)
        if m is not None:
            resp = _new_response(Response)
            resp.status_code = int(m.group(1))
            resp.reason = m.group(2)
            msg = resp
        else:
            msg = _parse_start_line_slow(first, defects)
    body = lines[1:]
    parts = [line.partition(":") for line in body]
    get_key = _KEY_CACHE.get
    # A line without ':' (p[1] empty) must not pass as a cached name.
    found = [get_key(p[0]) if p[1] else None for p in parts]
    keys: list[str]
    raws: list[str | None]
    if None in found:
        # A name not seen before, a folded line, or garbage: the careful path.
        keys, parts, raws = _fields_slow(body)
    else:
        keys = cast(list[str], found)
        raws = cast(list[str | None], body)
    msg.headers = headers = _new_headers(Headers)
    headers._keys = keys
    headers._parts = parts
    headers._raws = raws
    msg.defects = defects
    if _CL_KEY not in keys:
        headers.typed = {}
        return msg, None
    cl_text = parts[keys.index(_CL_KEY)][2].strip(" \t")
    if keys.count(_CL_KEY) > 1:
        for key, part in zip(keys, parts, strict=True):
            if key is _CL_KEY and part[2].strip(" \t") != cl_text:
                raise ParseError("conflicting Content-Length values")
    cl = ascii_int(cl_text)
    if cl is None:
        raise ParseError(f"invalid Content-Length {cl_text[:20]!r}")
    if cl > limits.max_message_size:
        raise ParseError("Message Too Large", 513)
    headers.typed = {_CL_KEY: cl}
    return msg, cl


def _fields_slow(
    body: list[str],
) -> tuple[list[str], list[tuple[str, str, str]], list[str | None]]:
    """Header lines with folding (§7.3.1 LWS) and names not yet in the key cache."""
    keys: list[str] = []
    parts: list[tuple[str, str, str]] = []
    raws: list[str | None] = []
    for number, line in enumerate(body, 2):
        if line[:1] in (" ", "\t") and line:
            if not keys:
                raise ParseError("continuation line right after the start line", line=number)
            name, colon, value = parts[-1]
            cont = line.strip(" \t")
            kept = value.rstrip(" \t")
            parts[-1] = (name, colon, f"{kept} {cont}" if kept.strip(" \t") else cont)
            raws[-1] = f"{raws[-1]}\r\n{line}"
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ParseError(f"header line without ':' {line[:40]!r}", line=number)
        try:
            key = header_key(name)
        except ParseError as exc:
            raise ParseError(exc.reason, line=number) from None
        keys.append(key)
        parts.append((name, colon, value))
        raws.append(line)
    return keys, parts, raws


_new_request = Request.__new__
_new_response = Response.__new__
_new_headers = Headers.__new__


def _parse_start_line_slow(line: str, defects: list[tuple[str, str]]) -> Request | Response:
    """Start lines off the fast path: legal oddities, and errors with a precise reason."""
    if len(line) > DEFAULT_LIMITS.max_line_length:
        raise ParseError("start line too long", line=1)
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        code_text, sp2, reason = rest.partition(" ")
        if len(code_text) != 3 or not code_text.isdigit() or not code_text.isascii():
            raise ParseError("invalid status code", line=1)
        code = int(code_text)
        if code < 100 or code > 699:
            raise ParseError("status code out of range 100-699", line=1)
        _check_version(version, defects)
        if not sp2:
            defects.append(("status-line", "no SP after the status code"))
        resp = _new_response(Response)
        resp.status_code = code
        resp.reason = reason
        return resp
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
    if not uri_text or _CTL_RE.search(uri_text) is not None:
        raise ParseError("control character in the Request-URI", line=1)
    _check_version(version, defects)
    req = _new_request(Request)
    req.method = method
    req._uri_text = uri_text
    req._uri = None
    return req


def _check_version(version: str, defects: list[tuple[str, str]]) -> None:
    if version == "SIP/2.0":
        return
    if SIP_VERSION_RE.fullmatch(version) is None:
        raise ParseError("malformed SIP version", line=1)
    if version.upper() != "SIP/2.0":
        raise ParseError("SIP version not supported", 505, line=1)
    # Accepted (the string is case-insensitive), but §7.1: senders MUST use upper case.
    defects.append(("version-case", f"SIP-Version written {version!r}, not 'SIP/2.0'"))


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
        self._pending: Request | Response | None = None
        self._body_start = 0
        self._length = 0
        self._failed: ParseError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buf)

    @property
    def error(self) -> ParseError | None:
        """The framing error that ended this stream, if any."""
        return self._failed

    @property
    def unparsed(self) -> bytes:
        """The bytes not yet framed into a message. After a framing error they start with
        the faulty message, enough for the transport to answer it before closing (§18.3)."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[Request | Response | KeepAlive]:
        """Add bytes; return every message completed by them, in order.

        When the stream breaks after some messages of this call were already
        complete, those are returned and :attr:`error` is set; the next call
        raises. Otherwise the error is raised at once. Either way nothing that
        was framed correctly is lost, whatever the TCP segmentation.
        """
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
            if out:
                return out
            raise

    def _next(self) -> Request | Response | KeepAlive | None:
        buf = self._buf
        limits = self._limits
        msg = self._pending
        if msg is None:
            first = buf[:1]
            if first == b"\r" or first == b"\n":
                if buf[:4] == b"\r\n\r\n":
                    del buf[:4]
                    return KeepAlive(True)
                if bytes(buf) in (b"\r", b"\r\n", b"\r\n\r"):
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
                    raise ParseError("Message Too Large", 513)
                return None
            try:
                text = buf[:end].decode()
            except UnicodeDecodeError:
                raise ParseError("header section is not valid UTF-8") from None
            lines = text.split("\r\n")
            n = len(lines) - 1
            if text.count("\n") != n or text.count("\r") != n:
                raise ParseError("bare CR or LF in the header section of a stream message")
            msg, cl = _read_head(lines, end, limits, [])
            if cl is None:
                raise ParseError("missing Content-Length on a stream transport (RFC 3261 §18.3)")
            self._pending = msg
            self._body_start = end + 4
            self._length = cl
        stop = self._body_start + self._length
        if stop > limits.max_message_size:
            raise ParseError("Message Too Large", 513)
        if len(buf) < stop:
            return None
        msg._body = bytes(buf[self._body_start : stop])
        del buf[:stop]
        self._pending = None
        return msg
