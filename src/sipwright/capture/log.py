"""SIP messages out of SIPp's message log (``sipp ... -trace_msg -message_file F``).

SIPp 3.6 writes one block per message::

    ----------------------------------------------- 2026-11-23 03:13:18.517162
    UDP message sent (511 bytes):

    INVITE sip:service@127.0.0.1:15070 SIP/2.0
    ...

or ``UDP message received [309] bytes :``; the byte count delimits the message (the text is
followed by a newline before the next dashed line). Other lines SIPp writes into the log
(socket diagnostics such as ``Problem EAGAIN on socket``) are skipped. The time is SIPp's
local wall clock, read as UTC (only differences matter for a ladder).

The log names no addresses. The one logging is the *local* end: its address comes from the
top Via of a request it sent or of a response it received (RFC 3261 §18.2.2, it put that
Via there), else from the Request-URI of a request it received. The *remote* end of each
message comes from the message: for a received request or a sent response, the top Via's
``received``/``rport`` or sent-by (§18.2.1); for a sent request, its first Route or its
Request-URI; for a received response, the remote end of the request sent with the same
branch. Where none of that is known, the placeholders ``local:0`` and ``remote:0`` are
shown.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ..errors import ParseError
from ..ladder import TracedMessage
from ..message import Request, Response
from ..parser import parse
from ..transaction.events import Destination
from ..uri import SipUri
from .pcap import Capture

__all__ = ["looks_like_sipp_log", "read_sipp_log"]

_BLOCK = re.compile(
    rb"^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\r?\n"
    rb"([A-Z-]+) message (sent \((\d+) bytes\)|received \[(\d+)\] bytes ):\r?\n\r?\n",
    re.M,
)
LOCAL = Destination("local", 0)
REMOTE = Destination("remote", 0)


def looks_like_sipp_log(data: bytes) -> bool:
    """Whether ``data`` looks like a SIPp ``-trace_msg`` log: a message block within its
    first 64 KiB (SIPp also writes socket diagnostics such as "Problem EAGAIN on socket"
    into the log, before or between blocks; they are skipped)."""
    return _BLOCK.search(data[:65536]) is not None


def _time(text: bytes) -> float:
    try:
        stamp = datetime.strptime(text.decode("ascii"), "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        stamp = datetime.strptime(text.decode("ascii"), "%Y-%m-%d %H:%M:%S")
    return stamp.replace(tzinfo=UTC).timestamp()


def _via_end(msg: Request | Response, transport: str, *, actual: bool) -> Destination | None:
    """The top Via's sender: with ``actual``, its received/rport (§18.2.1, RFC 3581)."""
    try:
        vias = msg.via
    except ParseError:
        return None
    if not vias:
        return None
    via = vias[0]
    host, port = via.host, via.port or 5060
    if actual:
        host = via.received or host
        port = via.rport or port
    return Destination(host.strip("[]"), port, transport)


def _uri_end(msg: Request, transport: str) -> Destination | None:
    try:
        routes = msg.route
        uri = routes[0].uri if routes else msg.uri
    except ParseError:
        return None
    if isinstance(uri, SipUri):
        return Destination(uri.host.strip("[]"), uri.port or 5060, transport)
    return None


def read_sipp_log(data: bytes) -> Capture:
    """Every message of a SIPp message log; addresses as described in the module doc."""
    cap = Capture(format="sipp-log")
    blocks: list[tuple[float, str, bool, bytes, Request | Response | None]] = []
    matches = list(_BLOCK.finditer(data))
    for n, m in enumerate(matches):
        start = m.end()
        size = int(m.group(4) or m.group(5))
        limit = matches[n + 1].start() if n + 1 < len(matches) else len(data)
        body = data[start : start + size]
        if start + size > limit:
            cap.warnings.append(f"log block {n}: {size} bytes announced, fewer present")
            body = data[start:limit]
            body = body[:-1] if body.endswith(b"\n") else body  # SIPp's own newline
        transport = m.group(2).decode("ascii")
        sent = m.group(3).startswith(b"sent")
        try:
            msg: Request | Response | None = parse(body)
        except ParseError:
            msg = None
        blocks.append((_time(m.group(1)), transport, sent, body, msg))
        cap.packets += 1
    if not matches and data.strip():
        cap.warnings.append("no SIPp message blocks found")
    local = _local_end(blocks)
    by_branch: dict[str, Destination] = {}
    for time, transport, sent, body, msg in blocks:
        remote = _remote_end(msg, sent, transport, by_branch)
        here = Destination(local.host, local.port, transport)
        there = remote or Destination(REMOTE.host, REMOTE.port, transport)
        src, dst = (here, there) if sent else (there, here)
        cap.messages.append(TracedMessage(time, src, dst, body))
    return cap


def _local_end(
    blocks: list[tuple[float, str, bool, bytes, Request | Response | None]],
) -> Destination:
    for _, transport, sent, _, msg in blocks:
        if msg is None:
            continue
        if isinstance(msg, Request) == sent:  # a request we sent, a response we received
            end = _via_end(msg, transport, actual=False)
            if end is not None:
                return end
    for _, transport, sent, _, msg in blocks:
        if isinstance(msg, Request) and not sent:
            end = _uri_end(msg, transport)
            if end is not None:
                return end
    return LOCAL


def _remote_end(
    msg: Request | Response | None,
    sent: bool,
    transport: str,
    by_branch: dict[str, Destination],
) -> Destination | None:
    if msg is None:
        return None
    if isinstance(msg, Request) and sent:
        end = _uri_end(msg, transport)
        branch = _branch(msg)
        if end is not None and branch:
            by_branch[branch] = end
        return end
    if isinstance(msg, Response) and not sent:
        branch = _branch(msg)
        return by_branch.get(branch) if branch else None
    return _via_end(msg, transport, actual=True)


def _branch(msg: Request | Response) -> str | None:
    try:
        vias = msg.via
    except ParseError:
        return None
    return vias[0].branch if vias else None
