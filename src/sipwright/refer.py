"""REFER (RFC 3515) without I/O: Refer-To, Referred-By and message/sipfrag bodies.

A REFER asks its recipient to send a request (an INVITE, for a blind transfer) to the
URI in its single Refer-To header (§2.1). The recipient reports how that went with
NOTIFYs of the implicit ``refer`` subscription (§2.4.4), each carrying a
``message/sipfrag`` body (RFC 3420) whose first line is the status line of the
referred request's latest response. This module parses and builds those pieces; the
asyncio side lives in :mod:`sipwright.aio.refer`; the Event and Subscription-State
headers of those NOTIFYs are parsed by :mod:`sipwright.event.headers` (RFC 6665).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._abnf import HEADER_NAME_RE
from .errors import ParseError
from .headers import NameAddr, parse_name_addr, split_commas
from .message import Request
from .status import reason_phrase
from .uri import SipUri, unescape

__all__ = [
    "REFER_EVENT",
    "SIPFRAG_CONTENT_TYPE",
    "ReferTo",
    "SipFrag",
    "build_sipfrag",
    "parse_refer_to",
    "parse_referred_by",
    "parse_sipfrag",
]

#: The event package of the implicit subscription (RFC 3515 §2.4.4).
REFER_EVENT = "refer"
#: Content-Type of every NOTIFY of that subscription (RFC 3515 §2.4.5, RFC 3420).
SIPFRAG_CONTENT_TYPE = "message/sipfrag;version=2.0"


@dataclass(frozen=True, slots=True)
class ReferTo:
    """The Refer-To of a REFER: where to send the referred request.

    ``address`` is the header as parsed; ``uri`` its URI without the embedded headers
    (``?Replaces=...``), which RFC 3261 §19.1.5 says become header fields of the
    request built from it: they are in ``headers``, unescaped, in order.
    """

    address: NameAddr
    uri: SipUri
    headers: tuple[tuple[str, str], ...]

    def request_headers(self) -> tuple[tuple[str, str], ...]:
        """The embedded headers fit to copy into the referred request.

        RFC 3261 §19.1.5 lets a UA ignore headers it does not want; those the UA builds
        itself (From, To, Call-ID, CSeq, Via, Contact, Route...) or that describe a body
        are never taken from a URI someone else wrote.
        """
        return tuple(
            (n, v) for n, v in self.headers if n.lower() not in _NOT_FROM_URI and n != "body"
        )

    @property
    def method(self) -> str:
        """The referred method: the URI's ``method`` parameter, INVITE by default (§2.4.2)."""
        return (self.uri.method or "INVITE").upper()


#: Headers never copied from a Refer-To URI into the referred request (§19.1.5).
_NOT_FROM_URI = frozenset(
    {
        "from", "f", "to", "t", "call-id", "i", "cseq", "via", "v", "contact", "m",
        "route", "record-route", "max-forwards", "content-length", "l", "content-type",
        "c", "content-encoding", "e", "authorization", "proxy-authorization",
    }
)  # fmt: skip


def parse_refer_to(request: Request) -> ReferTo:
    """The single Refer-To of ``request``; :class:`ParseError` (400) otherwise.

    RFC 3515 §2.4.1: a REFER with no Refer-To, or with more than one, gets a 400. Only
    sip/sips targets are supported here (§2.4.2 allows any URI: a UA may refuse).
    """
    values = [v for raw in request.headers.getall("Refer-To") for v in split_commas(raw)]
    if not values:
        raise ParseError("Missing Refer-To", header="Refer-To")
    if len(values) > 1:
        raise ParseError("More than one Refer-To", header="Refer-To")
    address = parse_name_addr(values[0])
    uri = address.uri
    if not isinstance(uri, SipUri):
        raise ParseError("Refer-To is not a sip or sips URI", 416, header="Refer-To")
    headers = tuple((unescape(name), unescape(value)) for name, value in uri.headers)
    for name, value in headers:
        # Escaped CR/LF would let the URI's author inject header lines (§19.1.5).
        if HEADER_NAME_RE.fullmatch(name) is None or any(ord(c) < 32 for c in value):
            raise ParseError("Bad header in Refer-To URI", header="Refer-To")
    return ReferTo(address, uri.replace(headers=()), headers)


def parse_referred_by(request: Request) -> NameAddr | None:
    """The Referred-By of ``request`` (RFC 3892 §3), None when absent or malformed.

    Informational only for this stack, so a bad value is ignored rather than refused.
    """
    value = request.headers.get("Referred-By")
    if value is None:
        return None
    try:
        return parse_name_addr(value)
    except ParseError:
        return None


@dataclass(frozen=True, slots=True)
class SipFrag:
    """The status line of a ``message/sipfrag`` body (RFC 3420 §2)."""

    status_code: int
    reason: str

    @property
    def is_final(self) -> bool:
        return self.status_code >= 200

    def __str__(self) -> str:
        return f"SIP/2.0 {self.status_code} {self.reason}"


def build_sipfrag(status_code: int, reason: str | None = None) -> bytes:
    """A sipfrag body holding only a status line (RFC 3515 §2.4.5 needs no more)."""
    if not 100 <= status_code <= 699:
        raise ValueError(f"not a SIP status code: {status_code}")
    return f"SIP/2.0 {status_code} {reason or reason_phrase(status_code)}\r\n".encode()


def parse_sipfrag(body: bytes) -> SipFrag:
    """The status line a sipfrag body starts with; :class:`ParseError` (400) otherwise.

    RFC 3515 §2.4.5: the body of a refer NOTIFY must start with a status line; any
    headers after it are ignored here.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("sipfrag is not UTF-8") from None
    line = text.split("\n", 1)[0].rstrip("\r")
    parts = line.split(" ", 2)
    if len(parts) < 2 or parts[0] != "SIP/2.0":
        raise ParseError("sipfrag does not start with a status line")
    code = parts[1]
    if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
        raise ParseError("sipfrag has a bad status code")
    return SipFrag(int(code), parts[2] if len(parts) > 2 else "")
