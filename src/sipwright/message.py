"""SIP requests and responses (RFC 3261 §7), with lazily parsed typed headers.

Parsing a message only splits it into a start line, header lines and a body;
each typed view (``msg.via``, ``msg.from_``, ``msg.cseq``…) is parsed the first
time it is read and cached until the headers change. A proxy that touches five
headers of a twenty-header message pays for five.

A typed view of a malformed header raises :class:`~sipwright.ParseError` when
it is read; :func:`sipwright.validate` reports every such fault at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar, cast

from ._abnf import TOKEN_RE, ascii_int
from .errors import ParseError, SipError
from .headers.address import Contact, NameAddr, parse_contact, parse_name_addr
from .headers.auth import AuthHeader, parse_auth
from .headers.container import Headers
from .headers.cseq import CSeq, parse_cseq
from .headers.memo import memoize
from .headers.misc import (
    MediaType,
    ParamHeader,
    parse_delta_seconds,
    parse_media_type,
    parse_param_header,
    parse_token_list,
)
from .headers.via import Via, parse_via
from .sdp import SessionDescription
from .status import reason_phrase
from .uri import Uri, parse_uri

__all__ = ["BuildError", "Message", "Request", "Response", "make_response"]

SIP_VERSION = "SIP/2.0"
_T = TypeVar("_T")
#: What a body may be given as when building a message.
Body = bytes | bytearray | memoryview | SessionDescription
_MISSING = object()


class BuildError(SipError, ValueError):
    """A message built in code would break a MUST of RFC 3261 (local misuse)."""


class Message:
    """Common part of :class:`Request` and :class:`Response`."""

    __slots__ = ("_body", "defects", "headers")

    #: Only SIP/2.0 exists; the parser answers anything else with 505 (§8.2.2).
    version = SIP_VERSION
    headers: Headers
    _body: bytes
    #: Non-fatal faults found while parsing (bare LF, bytes after the body…),
    #: as ``(code, message)`` pairs; :func:`sipwright.validate` reports them.
    defects: list[tuple[str, str]]

    def _init_common(
        self,
        headers: Headers | Iterable[tuple[str, str]] | None,
        body: Body,
        content_type: str | None,
    ) -> None:
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.defects = []
        self._body = b""
        self.set_body(body, content_type)

    # -- body -------------------------------------------------------------------

    @property
    def body(self) -> bytes:
        """The message body: exactly Content-Length bytes (§18.3, §20.14)."""
        return self._body

    @body.setter
    def body(self, body: bytes) -> None:
        self.set_body(body)

    @property
    def sdp(self) -> SessionDescription | None:
        """The body as SDP when Content-Type is ``application/sdp``, else None.

        Parsed on first access and cached (RFC 3264 offers and answers ride in
        INVITE, 2xx, ACK, PRACK and UPDATE bodies). A malformed body raises
        :class:`~sipwright.sdp.SdpError`, which a UAS answers with 400 (or 488
        when the SDP is well formed but nothing in it is acceptable).
        """
        typed = self.headers.typed
        value = typed.get("sdp", _MISSING)
        if value is _MISSING:
            value = typed["sdp"] = _parse_sdp_body(self)
        return cast(SessionDescription | None, value)

    def set_body(self, body: Body, content_type: str | None = None) -> None:
        """Set the body (and Content-Type); Content-Length is computed on output.

        A non-empty body needs a Content-Type (§20.15), given here or already
        present among the headers; otherwise :class:`BuildError`. A
        :class:`~sipwright.sdp.SessionDescription` is serialised and typed
        ``application/sdp`` (RFC 3264 §5).
        """
        self.headers.typed.pop("sdp", None)
        if isinstance(body, SessionDescription):
            content_type = content_type or "application/sdp"
            body = bytes(body)
        if not isinstance(body, bytes | bytearray | memoryview):
            raise BuildError("a body must be bytes or a SessionDescription")
        if content_type is not None:
            self.headers.set("Content-Type", content_type)
        elif body and "content-type" not in self.headers:
            raise BuildError("a message with a body needs a Content-Type (RFC 3261 §20.15)")
        self._body = bytes(body)

    # -- serialisation ------------------------------------------------------------

    def start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        """The message on the wire: CRLF line ends and a correct Content-Length.

        Lines that were parsed and not changed keep their exact text, so a
        message parsed and serialised unchanged gives back the same bytes.
        """
        body = self._body
        length = str(len(body))
        headers = self.headers
        keys = headers._keys
        lines = [self.start_line()]
        lines += headers.wire_lines()
        count = keys.count("content-length")
        if count:
            parts = headers._parts
            # Visit only the Content-Length line(s), not every line.
            i = -1
            for _ in range(count):
                i = keys.index("content-length", i + 1)
                written = parts[i][2].strip(" \t")
                # Keep the line as written (leading zeros are legal) when it is right.
                if written != length and ascii_int(written) != len(body):
                    name = lines[i + 1].partition(":")[0].rstrip(" \t")
                    lines[i + 1] = f"{name}: {length}"
        else:
            lines.append(f"Content-Length: {length}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body

    def __str__(self) -> str:
        return bytes(self).decode("utf-8", "replace")

    # -- typed header access --------------------------------------------------

    def _typed(self, key: str, parse: Callable[[Headers], _T]) -> _T:
        headers = self.headers
        value = headers.typed.get(key, _MISSING)
        if value is _MISSING:
            value = headers.typed[key] = parse(headers)
        return cast(_T, value)

    @property
    def via(self) -> list[Via]:
        """Via values, top (most recent hop) first (§20.42)."""
        typed = self.headers.typed
        value = typed.get("via", _MISSING)
        if value is _MISSING:
            value = typed["via"] = _parse_vias(self.headers)
        return value  # type: ignore[return-value]

    @property
    def from_(self) -> NameAddr | None:
        """The From header (§20.20)."""
        typed = self.headers.typed
        value = typed.get("from", _MISSING)
        if value is _MISSING:
            value = typed["from"] = _PARSE_FROM(self.headers)
        return value  # type: ignore[return-value]

    @property
    def to(self) -> NameAddr | None:
        """The To header (§20.39)."""
        typed = self.headers.typed
        value = typed.get("to", _MISSING)
        if value is _MISSING:
            value = typed["to"] = _PARSE_TO(self.headers)
        return value  # type: ignore[return-value]

    @property
    def call_id(self) -> str | None:
        """The Call-ID (§20.8)."""
        return self.headers.get_key("call-id")

    @property
    def cseq(self) -> CSeq | None:
        """The CSeq (§20.16)."""
        typed = self.headers.typed
        value = typed.get("cseq", _MISSING)
        if value is _MISSING:
            value = typed["cseq"] = _parse_cseq_header(self.headers)
        return value  # type: ignore[return-value]

    @property
    def contact(self) -> list[Contact]:
        """Contact values (§20.10), ``*`` included as a wildcard Contact."""
        typed = self.headers.typed
        value = typed.get("contact", _MISSING)
        if value is _MISSING:
            value = typed["contact"] = _parse_contacts(self.headers)
        return value  # type: ignore[return-value]

    @property
    def route(self) -> list[NameAddr]:
        """Route values in order (§20.34)."""
        typed = self.headers.typed
        value = typed.get("route", _MISSING)
        if value is _MISSING:
            value = typed["route"] = _PARSE_ROUTE(self.headers)
        return value  # type: ignore[return-value]

    @property
    def record_route(self) -> list[NameAddr]:
        """Record-Route values in order (§20.30)."""
        typed = self.headers.typed
        value = typed.get("record-route", _MISSING)
        if value is _MISSING:
            value = typed["record-route"] = _PARSE_RECORD_ROUTE(self.headers)
        return value  # type: ignore[return-value]

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards (§20.22): 0 to 255."""
        typed = self.headers.typed
        value = typed.get("max-forwards", _MISSING)
        if value is _MISSING:
            value = typed["max-forwards"] = _parse_max_forwards(self.headers)
        return value  # type: ignore[return-value]

    @property
    def content_length(self) -> int | None:
        """The Content-Length header's value as received, or None if absent (§20.14)."""
        typed = self.headers.typed
        value = typed.get("content-length", _MISSING)
        if value is _MISSING:
            value = typed["content-length"] = _parse_content_length(self.headers)
        return value  # type: ignore[return-value]

    @property
    def media_type(self) -> MediaType | None:
        """Content-Type with its parameters (§20.15)."""
        typed = self.headers.typed
        value = typed.get("content-type", _MISSING)
        if value is _MISSING:
            value = typed["content-type"] = _parse_content_type(self.headers)
        return value  # type: ignore[return-value]

    @property
    def content_type(self) -> str | None:
        """The body's media type, lower-cased ``type/subtype`` (§20.15)."""
        media = self.media_type
        return None if media is None else media.value

    @property
    def expires(self) -> int | None:
        """The Expires header in seconds (§20.19)."""
        typed = self.headers.typed
        value = typed.get("expires", _MISSING)
        if value is _MISSING:
            value = typed["expires"] = _PARSE_EXPIRES(self.headers)
        return value  # type: ignore[return-value]

    @property
    def min_expires(self) -> int | None:
        """The Min-Expires header in seconds (§20.23)."""
        typed = self.headers.typed
        value = typed.get("min-expires", _MISSING)
        if value is _MISSING:
            value = typed["min-expires"] = _PARSE_MIN_EXPIRES(self.headers)
        return value  # type: ignore[return-value]

    @property
    def authorization(self) -> list[AuthHeader]:
        """Authorization credentials (§20.7), one per header line."""
        typed = self.headers.typed
        value = typed.get("authorization", _MISSING)
        if value is _MISSING:
            value = typed["authorization"] = _PARSE_AUTHORIZATION(self.headers)
        return value  # type: ignore[return-value]

    @property
    def proxy_authorization(self) -> list[AuthHeader]:
        """Proxy-Authorization credentials (§20.28)."""
        typed = self.headers.typed
        value = typed.get("proxy-authorization", _MISSING)
        if value is _MISSING:
            value = typed["proxy-authorization"] = _PARSE_PROXY_AUTHORIZATION(self.headers)
        return value  # type: ignore[return-value]

    @property
    def www_authenticate(self) -> list[AuthHeader]:
        """WWW-Authenticate challenges (§20.44)."""
        typed = self.headers.typed
        value = typed.get("www-authenticate", _MISSING)
        if value is _MISSING:
            value = typed["www-authenticate"] = _PARSE_WWW_AUTHENTICATE(self.headers)
        return value  # type: ignore[return-value]

    @property
    def proxy_authenticate(self) -> list[AuthHeader]:
        """Proxy-Authenticate challenges (§20.27)."""
        typed = self.headers.typed
        value = typed.get("proxy-authenticate", _MISSING)
        if value is _MISSING:
            value = typed["proxy-authenticate"] = _PARSE_PROXY_AUTHENTICATE(self.headers)
        return value  # type: ignore[return-value]

    @property
    def allow(self) -> list[str]:
        """Methods in Allow (§20.5)."""
        typed = self.headers.typed
        value = typed.get("allow", _MISSING)
        if value is _MISSING:
            value = typed["allow"] = _PARSE_ALLOW(self.headers)
        return value  # type: ignore[return-value]

    @property
    def supported(self) -> list[str]:
        """Option tags in Supported (§20.37)."""
        typed = self.headers.typed
        value = typed.get("supported", _MISSING)
        if value is _MISSING:
            value = typed["supported"] = _PARSE_SUPPORTED(self.headers)
        return value  # type: ignore[return-value]

    @property
    def require(self) -> list[str]:
        """Option tags in Require (§20.32)."""
        typed = self.headers.typed
        value = typed.get("require", _MISSING)
        if value is _MISSING:
            value = typed["require"] = _PARSE_REQUIRE(self.headers)
        return value  # type: ignore[return-value]

    @property
    def proxy_require(self) -> list[str]:
        """Option tags in Proxy-Require (§20.29)."""
        typed = self.headers.typed
        value = typed.get("proxy-require", _MISSING)
        if value is _MISSING:
            value = typed["proxy-require"] = _PARSE_PROXY_REQUIRE(self.headers)
        return value  # type: ignore[return-value]

    @property
    def unsupported(self) -> list[str]:
        """Option tags in Unsupported (§20.40)."""
        typed = self.headers.typed
        value = typed.get("unsupported", _MISSING)
        if value is _MISSING:
            value = typed["unsupported"] = _PARSE_UNSUPPORTED(self.headers)
        return value  # type: ignore[return-value]

    @property
    def event(self) -> ParamHeader | None:
        """The Event package and its parameters (RFC 6665 §8.2.1)."""
        value = self.headers.get_key("event")
        return None if value is None else parse_param_header(value)

    def header_params(self, name: str) -> list[ParamHeader]:
        """Any header as ``value;params`` elements: the generic typed form."""
        return [parse_param_header(v) for v in self.headers.getall(name)]


class Request(Message):
    """A SIP request. ``Request(method, uri, headers, body, content_type=...)`` builds one."""

    __slots__ = ("_uri", "_uri_text", "method")

    method: str
    _uri_text: str
    _uri: Uri | None

    def __init__(
        self,
        method: str,
        uri: Uri | str,
        headers: Headers | Iterable[tuple[str, str]] | None = None,
        body: Body = b"",
        *,
        content_type: str | None = None,
    ) -> None:
        if TOKEN_RE.fullmatch(method) is None:
            raise BuildError(f"method {method!r} is not a token (RFC 3261 §25.1)")
        self.method = method
        self.uri = uri
        self._init_common(headers, body, content_type)

    @property
    def uri(self) -> Uri:
        """The Request-URI, parsed on first access (§19.1)."""
        uri = self._uri
        if uri is None:
            uri = self._uri = parse_uri(self._uri_text)
        return uri

    @uri.setter
    def uri(self, value: Uri | str) -> None:
        text = value if isinstance(value, str) else str(value)
        if text.startswith("<") or " " in text or "\t" in text or "\r" in text or "\n" in text:
            raise BuildError("a Request-URI has no spaces and is never in <> (RFC 3261 §7.1)")
        if isinstance(value, str):
            try:
                parsed: Uri | None = parse_uri(value)
            except ParseError as exc:
                raise BuildError(f"invalid Request-URI: {exc.reason}") from None
        else:
            parsed = value
        self._uri_text = text
        self._uri = parsed

    @property
    def uri_text(self) -> str:
        """The Request-URI exactly as written on the request line."""
        return self._uri_text

    def start_line(self) -> str:
        return f"{self.method} {self._uri_text} {self.version}"

    def make_response(
        self,
        status_code: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: Body = b"",
        content_type: str | None = None,
    ) -> Response:
        """Shortcut for :func:`make_response`."""
        return make_response(
            self,
            status_code,
            reason,
            to_tag=to_tag,
            headers=headers,
            body=body,
            content_type=content_type,
        )

    def __repr__(self) -> str:
        return f"<Request {self.method} {self._uri_text}>"


class Response(Message):
    """A SIP response. ``Response(status_code, reason, headers, body)`` builds one."""

    __slots__ = ("reason", "status_code")

    status_code: int
    reason: str

    def __init__(
        self,
        status_code: int,
        reason: str | None = None,
        headers: Headers | Iterable[tuple[str, str]] | None = None,
        body: Body = b"",
        *,
        content_type: str | None = None,
    ) -> None:
        if not 100 <= status_code <= 699:
            raise BuildError("a status code is 100 to 699 (RFC 3261 §7.2)")
        if reason is not None and ("\r" in reason or "\n" in reason):
            raise BuildError("a reason phrase has no CR or LF")
        self.status_code = status_code
        self.reason = reason_phrase(status_code) if reason is None else reason
        self._init_common(headers, body, content_type)

    def start_line(self) -> str:
        return f"{self.version} {self.status_code} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.reason}>"


# Headers a UAS copies into a response (RFC 3261 §8.2.6.2).
_COPIED = frozenset(("via", "from", "to", "call-id", "cseq"))
_COPIED_TYPED = ("via", "from", "cseq")


def make_response(
    request: Request,
    status_code: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: Body = b"",
    content_type: str | None = None,
) -> Response:
    """Build a response to ``request`` by RFC 3261 §8.2.6.

    Via values are copied in order, From, Call-ID and CSeq unchanged, and To
    gets ``to_tag`` unless the request's To already has a tag (a request
    within a dialog, §8.2.6.2) or the response is a 100 (which never carries
    one). Record-Route is copied into 1xx/2xx responses to INVITE and SUBSCRIBE,
    which may create a dialog (§12.1.1, RFC 6665 §4.1.3).
    """
    resp = Response(status_code, reason)
    out = resp.headers
    tagged = False
    for key, name, value in request.headers.select(_COPIED):
        if key == "to" and to_tag is not None and status_code != 100:
            to = request.to
            if to is not None and to.tag is None:
                out.add(name, str(to.with_param("tag", to_tag)))
                tagged = True
                continue
        out.add(name, value)
    if status_code == 100:
        # §8.2.6.1: a 100 Trying echoes the request's Timestamp.
        for f in request.headers.fields("timestamp"):
            out.add(f.name, f.value)
    if request.method in ("INVITE", "SUBSCRIBE") and 100 < status_code < 300:
        for f in request.headers.fields("record-route"):
            out.add(f.name, f.value)
    for name, value in headers:
        out.add(name, value)
    resp.set_body(body, content_type)
    # The copied values are the request's, so its parsed views are valid for the
    # response too: the transaction layer reads the Via and CSeq of every response
    # it sends (§17.2.1 matching, §18.2.2 routing) without parsing them again.
    seen = request.headers.typed
    if seen:
        typed = out.typed
        for key in _COPIED_TYPED:
            if key in seen and key not in typed and out.has_key(key):
                typed[key] = seen[key]
        if not tagged and "to" in seen and "to" not in typed and out.has_key("to"):
            typed["to"] = seen["to"]
    return resp


def _parse_sdp_body(msg: Message) -> SessionDescription | None:
    if not msg._body or msg.content_type != "application/sdp":
        return None
    return SessionDescription.parse(msg._body)


# -- typed parsers, cached per message ------------------------------------------


# Memoised by text (see headers/memo.py): the public parse_* stay plain.
_via = memoize(parse_via)
_name_addr = memoize(parse_name_addr)
_contact = memoize(parse_contact)
_cseq = memoize(parse_cseq)


def _parse_vias(headers: Headers) -> list[Via]:
    return [_via(v) for v in headers.getall_key("via")]


def _single_address(key: str) -> Callable[[Headers], NameAddr | None]:
    def parse(headers: Headers) -> NameAddr | None:
        value = headers.get_key(key)
        return None if value is None else _name_addr(value)

    return parse


def _address_list(key: str) -> Callable[[Headers], list[NameAddr]]:
    def parse(headers: Headers) -> list[NameAddr]:
        return [_name_addr(v) for v in headers.getall_key(key)]

    return parse


def _parse_contacts(headers: Headers) -> list[Contact]:
    return [_contact(v) for v in headers.getall_key("contact")]


def _parse_cseq_header(headers: Headers) -> CSeq | None:
    value = headers.get_key("cseq")
    return None if value is None else _cseq(value)


def _parse_max_forwards(headers: Headers) -> int | None:
    value = headers.get_key("max-forwards")
    if value is None:
        return None
    number = ascii_int(value.strip(" \t"))
    if number is None:
        raise ParseError("Max-Forwards is not a number", header="Max-Forwards")
    if number > 255:
        raise ParseError("Max-Forwards above 255", header="Max-Forwards")
    return number


def _parse_content_length(headers: Headers) -> int | None:
    value = headers.get_key("content-length")
    if value is None:
        return None
    number = ascii_int(value.strip(" \t"))
    if number is None:
        raise ParseError("Content-Length is not a number", header="Content-Length")
    return number


def _parse_content_type(headers: Headers) -> MediaType | None:
    value = headers.get_key("content-type")
    return None if value is None else parse_media_type(value)


def _delta_header(key: str, name: str) -> Callable[[Headers], int | None]:
    def parse(headers: Headers) -> int | None:
        value = headers.get_key(key)
        return None if value is None else parse_delta_seconds(value, name)

    return parse


def _auth_list(key: str) -> Callable[[Headers], list[AuthHeader]]:
    def parse(headers: Headers) -> list[AuthHeader]:
        return [parse_auth(v) for v in headers.getall_key(key)]

    return parse


def _tokens(key: str, name: str) -> Callable[[Headers], list[str]]:
    def parse(headers: Headers) -> list[str]:
        return parse_token_list(headers.getall_key(key), name)

    return parse


_PARSE_FROM = _single_address("from")
_PARSE_TO = _single_address("to")
_PARSE_ROUTE = _address_list("route")
_PARSE_RECORD_ROUTE = _address_list("record-route")
_PARSE_EXPIRES = _delta_header("expires", "Expires")
_PARSE_MIN_EXPIRES = _delta_header("min-expires", "Min-Expires")
_PARSE_AUTHORIZATION = _auth_list("authorization")
_PARSE_PROXY_AUTHORIZATION = _auth_list("proxy-authorization")
_PARSE_WWW_AUTHENTICATE = _auth_list("www-authenticate")
_PARSE_PROXY_AUTHENTICATE = _auth_list("proxy-authenticate")
_PARSE_ALLOW = _tokens("allow", "Allow")
_PARSE_SUPPORTED = _tokens("supported", "Supported")
_PARSE_REQUIRE = _tokens("require", "Require")
_PARSE_PROXY_REQUIRE = _tokens("proxy-require", "Proxy-Require")
_PARSE_UNSUPPORTED = _tokens("unsupported", "Unsupported")
