"""Pure helpers of the transport shell: no sockets, no event loop.

* :func:`needs_stream` — RFC 3261 §18.1.1's size rule for requests over UDP.
* :func:`reject_malformed` — a stateless ``400`` (or the parser's hinted code)
  for a datagram or frame that did not parse but names enough (top Via, CSeq)
  for the sender to match the answer (§8.2, §18.2.2, RFC 3581 §4).
* :func:`summarize` — "INVITE call-id=..." for one-line logs, without a full parse.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..._netaddr import ip_of
from ...errors import ParseError
from ...headers import parse_via
from ...headers.names import COMPACT_FORMS
from ...ids import new_tag
from ...message import BuildError, Response
from ...server_transport import response_target
from ...transaction import Destination

__all__ = [
    "MAX_DATAGRAM",
    "UDP_SIZE_THRESHOLD",
    "Rejection",
    "needs_stream",
    "normalize_host",
    "reject_malformed",
    "summarize",
]

#: §18.1.1: a request larger than this, with the path MTU unknown, goes over a
#: congestion-controlled transport (TCP).
UDP_SIZE_THRESHOLD = 1300
#: The largest UDP payload over IPv4 (65535 - 20 - 8); larger sends fail.
MAX_DATAGRAM = 65507

# request-line = Method SP Request-URI SP SIP-Version (§25.1); loose on the URI.
#: A request line read leniently, only to decide whether to answer a request that did not
#: parse: extra spaces (RFC 4475 §3.1.2.9 lwsstart), spaces inside the Request-URI
#: (§3.1.2.8 lwsruri) and any SIP version (§3.1.2.16 badvers gets its 505) still qualify.
_REQUEST_LINE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+\S.*?[ \t]+SIP/[0-9]+\.[0-9]+", re.I)
_CALL_ID = re.compile(rb"\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_REASON_OK = re.compile(r"[^\x20-\x7e]")


def is_response_bytes(data: bytes) -> bool:
    """Whether ``data`` starts like a status line (``SIP/2.0 ...``)."""
    return data[:8].upper() == b"SIP/2.0 "


def needs_stream(data: bytes, dest: Destination, *, mtu: int | None = None) -> bool:
    """True when §18.1.1 says this request must not go over UDP.

    "If a request is within 200 bytes of the path MTU, or if it is larger than
    1300 bytes and the path MTU is unknown, the request MUST be sent using an
    RFC 2914 congestion controlled transport protocol, such as TCP." Responses
    are exempt: they go back the way the request came (§18.2.2). The endpoint
    checks this and switches the destination (and top Via) to TCP; the
    transport's ``send`` itself only refuses what cannot fit a datagram.
    """
    if dest.transport != "UDP" or is_response_bytes(data):
        return False
    limit = UDP_SIZE_THRESHOLD if mtu is None else mtu - 200
    return len(data) > limit


@lru_cache(maxsize=4096)
def normalize_host(host: str) -> str:
    """A host as a lookup key: IP literals in canonical form, names lower-cased.

    Cached (bounded LRU): it runs on the source address of every datagram, and the
    same few peers send most of them.
    """
    ip = ip_of(host)
    return str(ip) if ip is not None else host.lower()


def summarize(data: bytes) -> str:
    """``"INVITE call-id=abc"`` / ``"200 call-id=abc"`` for a log line (never raises)."""
    line = data[: data.find(b"\r\n")] if b"\r\n" in data[:512] else data[:80]
    parts = line.split(b" ", 2)
    if is_response_bytes(data) and len(parts) > 1:
        what = parts[1].decode("ascii", "replace")
    else:
        what = parts[0][:32].decode("ascii", "replace") if parts[0] else "?"
    head_end = data.find(b"\r\n\r\n")
    m = _CALL_ID.search(data, 0, head_end if head_end >= 0 else min(len(data), 8192))
    call_id = m.group(1)[:128].decode("utf-8", "replace").strip() if m else "-"
    return f"{what} call-id={call_id}"


class Rejection:
    """A stateless answer to a malformed request, and where it goes."""

    __slots__ = ("data", "response", "target")

    def __init__(self, response: Response, target: Destination) -> None:
        self.response = response
        self.data = bytes(response)
        self.target = target


def _unfolded_lines(data: bytes) -> list[str]:
    end = data.find(b"\r\n\r\n")
    head = data[:end] if end >= 0 else data
    lines: list[str] = []
    for raw in head.decode("utf-8", "replace").splitlines():
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += " " + raw.strip(" \t")  # §7.3.1 folding
        else:
            lines.append(raw)
    return lines


def reject_malformed(data: bytes, error: ParseError, source: Destination) -> Rejection | None:
    """Build the answer to a request that failed to parse, or None to drop it.

    Read leniently: the first line must be a request line (a response is never
    answered, nor an ACK: §17.2.1), and the header section must hold a top Via
    that parses and a CSeq, so the client transaction can match the answer
    (§17.1.3). Via, From, To, Call-ID and CSeq are copied as written
    (§8.2.6.2), To gets a tag, the top Via gets ``received``/``rport`` from
    ``source`` (§18.2.1, RFC 3581), and the target follows §18.2.2. The status
    is the parser's hint (400, 505, 513) and the reason its phrase.
    """
    lines = _unfolded_lines(data)
    if not lines:
        return None
    m = _REQUEST_LINE.fullmatch(lines[0].strip())
    if m is None or m.group(1).upper() == "ACK":
        return None
    copied: dict[str, list[str]] = {"via": [], "from": [], "to": [], "call-id": [], "cseq": []}
    names = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.strip(" \t").lower()
        key = COMPACT_FORMS.get(key, key)
        if key in copied:
            copied[key].append(value.strip(" \t"))
    if not copied["via"] or not copied["cseq"]:
        return None
    try:
        top = parse_via(copied["via"][0].split(",", 1)[0].strip(" \t"))
    except ParseError:
        # The top Via itself is the fault (RFC 4475 badinv01, badvers): copy it as
        # written and answer the source address, the one route back we know.
        top = None
    if top is not None:
        # §18.2.1 / RFC 3581 §4 on the copy of the top Via, as stamp_received does.
        source_ip = ip_of(source.host)
        wants_rport = top.has_rport and top.rport is None
        stamped = top
        if wants_rport or ip_of(top.host) != source_ip or source_ip is None:
            stamped = stamped.with_param("received", str(source_ip or source.host))
        if wants_rport:
            stamped = stamped.with_param("rport", str(source.port))
        first_rest = copied["via"][0].split(",", 1)
        copied["via"][0] = str(stamped) + ("," + first_rest[1] if len(first_rest) > 1 else "")
    if copied["to"] and ";tag=" not in copied["to"][0].lower().replace(" ", ""):
        copied["to"][0] += f";tag={new_tag()}"
    status = error.status_code if 400 <= error.status_code <= 699 else 400
    reason = _REASON_OK.sub("?", error.reason)[:120].strip() or "Bad Request"
    headers = [(names[k], v) for k in ("via", "from", "to", "call-id", "cseq") for v in copied[k]]
    try:
        response = Response(status, reason, headers)
    except BuildError:
        return None
    if top is None:
        return Rejection(response, source)
    try:
        target = response_target(response)
    except ParseError:
        return Rejection(response, source)
    if target.needs_resolution or source.transport != "UDP":
        # A name to resolve (the core never resolves), or a connection to answer on.
        dest = source
    else:
        dest = Destination(target.host, target.port, source.transport)
    return Rejection(response, dest)
