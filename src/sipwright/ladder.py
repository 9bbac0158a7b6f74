"""Call flows and ladder diagrams from SIP messages seen on the wire (sans-I/O).

The input is a sequence of :class:`TracedMessage` — bytes, a time and the two ends — from a
capture file (``sipwright.capture``), a SIPp message log or a live tap on the server. This
module groups them into calls by Call-ID (RFC 3261 §8.1.1.4: the Call-ID names the dialog and
every transaction in it), marks retransmissions, lints each message with
:func:`sipwright.validate.validate` and renders a ladder (sequence) diagram as SVG or as a
self-contained HTML page, plus a plain-text summary.

Nothing here reads a file, a socket or the clock: times come in with the messages.

Call state (:attr:`CallFlow.state`), judged on the flow's *initial* requests (the first
request's method, without a To tag, §12.1):

* ``"trying"`` — no response yet, or only 100 Trying;
* ``"ringing"`` — a provisional response other than 100 (180, 183…), no final yet;
* ``"answered"`` — a 2xx to an INVITE and no BYE yet;
* ``"ended"`` — a 2xx to an INVITE and a BYE later in the flow;
* ``"completed"`` — a 2xx to any other method (OPTIONS, REGISTER, MESSAGE…);
* ``"cancelled"`` — a 487 with a CANCEL in the flow (§9.1);
* ``"failed"`` — any other final response of 300 or more;
* ``"malformed"`` — no message of the flow parsed as SIP.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import ParseError
from .message import Request, Response
from .transaction.events import Destination
from .validate import Finding, validate

__all__ = [
    "CallFlow",
    "LadderMessage",
    "TracedMessage",
    "call_flows",
    "call_id_of",
    "column_of",
    "flow_as_dict",
    "render_html",
    "render_svg",
    "split_flows",
    "summary_text",
]


@dataclass(frozen=True, slots=True)
class TracedMessage:
    """One SIP message as seen on the wire: when, from where, to where, which bytes.

    ``time`` is in seconds (a capture timestamp, or the server's wall clock); ``data`` is
    exactly one SIP message as framed by its transport (it may be malformed).
    """

    time: float
    source: Destination
    destination: Destination
    data: bytes


def column_of(address: Destination) -> str:
    """The ladder column naming one end: ``host:port``, IPv6 hosts in brackets (§19.1.1)."""
    host = address.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{address.port}"


#: The first Call-ID header line (long or compact name, §7.3.3): the start of a line,
#: the name, optional blanks, the colon, the value up to the end of the line.
_CALL_ID_LINE = re.compile(rb"\n[ \t]*(?:call-id|i)[ \t]*:([^\r\n]*)", re.IGNORECASE)


def call_id_of(data: bytes) -> str | None:
    """The Call-ID of a message without a full parse (long name or compact ``i``, §7.3.3).

    Cheap enough to run per message in a live tracer (about a microsecond): one
    regular-expression search of the header section for the first Call-ID line. None when
    there is none (or the bytes are not a message at all); never raises.
    """
    end = data.find(b"\r\n\r\n")
    match = _CALL_ID_LINE.search(data, 0, len(data) if end < 0 else end + 2)
    if match is None:
        return None
    value = match.group(1).strip()
    return value.decode("utf-8", "replace") if value else None


@dataclass(slots=True)
class LadderMessage:
    """One arrow of the ladder: a traced message, parsed and linted.

    ``offset`` is seconds from the flow's first message; ``message`` is None when the bytes
    did not parse, ``error`` then says why. ``retransmission`` marks a copy of an earlier
    message of the flow (same ends, start line, CSeq, top Via branch, and To tag for
    responses: §17.1.1.2 and §17.2.1 retransmit the same message). ``findings`` are the
    :func:`sipwright.validate.validate` findings (what ``sipwright lint`` prints).
    """

    traced: TracedMessage
    index: int
    offset: float
    label: str
    message: Request | Response | None
    error: str | None
    retransmission: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def source_column(self) -> str:
        return column_of(self.traced.source)

    @property
    def destination_column(self) -> str:
        return column_of(self.traced.destination)

    @property
    def text(self) -> str:
        """The message as text (undecodable bytes replaced), for display."""
        return self.traced.data.decode("utf-8", "replace")

    @property
    def has_errors(self) -> bool:
        return self.error is not None or any(f.severity == "error" for f in self.findings)


@dataclass(slots=True)
class CallFlow:
    """The messages of one Call-ID in time order, and the columns (ends) they use."""

    call_id: str
    messages: list[LadderMessage] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    def _first_request(self) -> LadderMessage | None:
        for m in self.messages:
            if isinstance(m.message, Request):
                return m
        return None

    @property
    def method(self) -> str | None:
        """The first request's method (INVITE for a call)."""
        first = self._first_request()
        return first.message.method if first and isinstance(first.message, Request) else None

    def _initial_cseqs(self) -> set[int]:
        """CSeq numbers of the initial requests: the first request's method without a To
        tag (§12.1), so a request retried after a 401/407 challenge (§22.2) counts too."""
        method = self.method
        out: set[int] = set()
        for m in self.messages:
            msg = m.message
            if isinstance(msg, Request) and msg.method == method:
                cseq, to_tag = _cseq_and_to_tag(msg)
                if cseq is not None and to_tag is None:
                    out.add(cseq)
        return out

    def _final(self) -> LadderMessage | None:
        """The final response to the last answered initial request."""
        method = self.method
        cseqs = self._initial_cseqs()
        best: tuple[int, LadderMessage] | None = None
        for m in self.messages:
            msg = m.message
            if not isinstance(msg, Response) or msg.status_code < 200 or m.retransmission:
                continue
            number, cmethod = _cseq_of(msg)
            if cmethod != method or number not in cseqs:
                continue
            if best is None or number > best[0]:
                best = (number, m)
        return best[1] if best else None

    @property
    def final_status(self) -> int | None:
        """The final response code to the first request (or its retry after a challenge)."""
        final = self._final()
        return final.message.status_code if final and isinstance(final.message, Response) else None

    @property
    def start(self) -> float:
        return self.messages[0].traced.time if self.messages else 0.0

    @property
    def end(self) -> float:
        return self.messages[-1].traced.time if self.messages else 0.0

    @property
    def duration(self) -> float:
        """Seconds from the first message to the last."""
        return self.end - self.start

    @property
    def setup_time(self) -> float | None:
        """Seconds from the first request to its final response (None while unanswered)."""
        first, final = self._first_request(), self._final()
        if first is None or final is None:
            return None
        return final.traced.time - first.traced.time

    @property
    def retransmissions(self) -> int:
        return sum(1 for m in self.messages if m.retransmission)

    @property
    def state(self) -> str:
        """Where the call got to; the values are listed in the module docstring."""
        method = self.method
        if method is None:
            return "malformed" if all(m.message is None for m in self.messages) else "trying"
        final = self.final_status
        if final is None:
            cseqs = self._initial_cseqs()
            for m in self.messages:
                msg = m.message
                if isinstance(msg, Response) and 100 < msg.status_code < 200:
                    number, cmethod = _cseq_of(msg)
                    if cmethod == method and number in cseqs:
                        return "ringing"
            return "trying"
        if final < 300:
            if method != "INVITE":
                return "completed"
            if any(
                isinstance(m.message, Request) and m.message.method == "BYE" for m in self.messages
            ):
                return "ended"
            return "answered"
        if final == 487 and any(
            isinstance(m.message, Request) and m.message.method == "CANCEL" for m in self.messages
        ):
            return "cancelled"
        return "failed"


def _cseq_of(msg: Request | Response) -> tuple[int | None, str | None]:
    try:
        cseq = msg.cseq
    except ParseError:
        return None, None
    return (cseq.number, cseq.method) if cseq is not None else (None, None)


def _cseq_and_to_tag(msg: Request | Response) -> tuple[int | None, str | None]:
    number, _ = _cseq_of(msg)
    try:
        to = msg.to
    except ParseError:
        return number, None
    return number, (to.tag if to is not None else None)


def _label(msg: Request | Response | None, data: bytes) -> str:
    if isinstance(msg, Request):
        return msg.method
    if isinstance(msg, Response):
        return f"{msg.status_code} {msg.reason}".rstrip()
    first = data.split(b"\n", 1)[0].strip()[:40].decode("utf-8", "replace")
    return f"unparsed: {first}" if first else "unparsed"


def _retransmission_key(traced: TracedMessage, msg: Request | Response | None) -> object:
    """What two copies of one message share (§17.1.1.2, §17.2.1): ends, start line, CSeq,
    top Via branch and, for responses, the To tag (forked 2xx differ only by it)."""
    if msg is None:
        return (traced.source, traced.destination, traced.data)
    try:
        vias = msg.via
        branch = vias[0].branch if vias else None
    except ParseError:
        branch = None
    number, to_tag = _cseq_and_to_tag(msg)
    cmethod = _cseq_of(msg)[1]
    tag = to_tag if isinstance(msg, Response) else None
    return (traced.source, traced.destination, msg.start_line(), number, cmethod, branch, tag)


def _ladder_message(traced: TracedMessage) -> tuple[str | None, LadderMessage]:
    report = validate(traced.data)
    msg = report.message
    error = None
    if msg is None:
        error = report.findings[0].message if report.findings else "not a SIP message"
        call_id = call_id_of(traced.data)
    else:
        try:
            call_id = msg.call_id
        except ParseError:
            call_id = None
        if call_id is None:
            call_id = call_id_of(traced.data)
    lm = LadderMessage(traced, 0, 0.0, _label(msg, traced.data), msg, error, False)
    lm.findings = list(report.findings)
    return call_id, lm


def split_flows(
    messages: Iterable[TracedMessage],
) -> tuple[list[CallFlow], list[TracedMessage]]:
    """Like :func:`call_flows`, and also return the messages that have no Call-ID at all
    (unparseable, or missing the header §8.1.1 requires) so they can be reported."""
    items = sorted(enumerate(messages), key=lambda pair: (pair[1].time, pair[0]))
    flows: dict[str, CallFlow] = {}
    seen: dict[str, set[object]] = {}
    orphans: list[TracedMessage] = []
    for _, traced in items:
        call_id, lm = _ladder_message(traced)
        if call_id is None:
            orphans.append(traced)
            continue
        flow = flows.get(call_id)
        if flow is None:
            flow = flows[call_id] = CallFlow(call_id)
            seen[call_id] = set()
        lm.index = len(flow.messages)
        lm.offset = traced.time - (flow.messages[0].traced.time if flow.messages else traced.time)
        key = _retransmission_key(traced, lm.message)
        keys = seen[call_id]
        lm.retransmission = key in keys
        keys.add(key)
        for column in (column_of(traced.source), column_of(traced.destination)):
            if column not in flow.columns:
                flow.columns.append(column)
        flow.messages.append(lm)
    ordered = sorted(flows.values(), key=lambda f: f.start)
    return ordered, orphans


def call_flows(messages: Iterable[TracedMessage]) -> list[CallFlow]:
    """Group messages into calls by Call-ID, each in time order; flows sorted by start.

    Messages without a Call-ID (see :func:`split_flows`) belong to no flow.
    """
    return split_flows(messages)[0]


# -- rendering ---------------------------------------------------------------------------

_COL_WIDTH = 200
_LEFT = 90
_TOP = 56
_ROW = 30
_RIGHT = 40
_SVG_NS = "http://www.w3.org/2000/svg"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _flow_heading(flow: CallFlow) -> str:
    final = flow.final_status
    return (
        f"{flow.method or '?'} {flow.call_id}: {flow.state}"
        f"{f', final {final}' if final is not None else ''}, {len(flow.messages)} messages"
    )


def _svg(flow: CallFlow, *, standalone: bool) -> str:
    """The ladder of one flow. Inline in HTML the namespace declaration is implied (and left
    out, so the page holds no URL at all); a standalone .svg file needs it."""
    width = _LEFT + max(1, len(flow.columns)) * _COL_WIDTH + _RIGHT
    height = _TOP + len(flow.messages) * _ROW + 20
    xs = {c: _LEFT + i * _COL_WIDTH + _COL_WIDTH // 2 for i, c in enumerate(flow.columns)}
    ns = f' xmlns="{_SVG_NS}"' if standalone else ""
    out = [
        f'<svg{ns} class="ladder" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="group" font-family="monospace" font-size="12">',
        f"<title>SIP ladder: {_esc(_flow_heading(flow))}</title>",
        f"<desc>One column per host:port ({_esc(', '.join(flow.columns))}); one arrow per "
        "message in time order, the offset in seconds on the left; dashed arrows marked (re) "
        "are retransmissions, arrows marked ! carry lint findings.</desc>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="4" y="{_TOP - 20}" fill="#555">time (s)</text>',
    ]
    for column, x in xs.items():
        out.append(
            f'<g class="column"><text x="{x}" y="{_TOP - 28}" text-anchor="middle" '
            f'font-weight="bold">{_esc(column)}</text>'
            f'<line x1="{x}" y1="{_TOP - 18}" x2="{x}" y2="{height - 10}" stroke="#999" '
            'stroke-width="1"/></g>'
        )
    for m in flow.messages:
        y = _TOP + m.index * _ROW + 14
        x1, x2 = xs[m.source_column], xs[m.destination_column]
        flags: list[str] = []
        if m.retransmission:
            flags.append("(re)")
        if m.has_errors:
            flags.append("!")
        elif m.findings:
            flags.append("?")
        label = " ".join([m.label, *flags])
        findings = "; ".join(f"{f.severity} {f.code}: {f.message} ({f.rfc})" for f in m.findings)
        tooltip = (
            f"#{m.index} +{m.offset:.3f} s {m.source_column} to {m.destination_column} "
            f"{m.traced.source.transport}: {m.label}"
            + (" (retransmission)" if m.retransmission else "")
            + (f". {m.error}" if m.error else "")
            + (f". Findings: {findings}" if findings else "")
        )
        colour = "#c00" if m.has_errors else ("#b60" if m.findings else "#036")
        dash = ' stroke-dasharray="6 4"' if m.retransmission else ""
        attrs = f' data-index="{m.index}"'
        if m.retransmission:
            attrs += ' data-retransmission="true"'
        if m.findings or m.error:
            attrs += f' data-findings="{"error" if m.has_errors else "warning"}"'
        out.append(f'<g class="arrow"{attrs} tabindex="0" role="button" cursor="pointer">')
        out.append(f"<title>{_esc(tooltip)}</title>")
        out.append(
            f'<text x="{_LEFT - 8}" y="{y + 4}" text-anchor="end" fill="#555">{m.offset:.3f}</text>'
        )
        if x1 == x2:  # to itself: a small loop on the lifeline
            out.append(
                f'<path d="M{x1} {y - 6} h30 v12 h-30" fill="none" stroke="{colour}"'
                f' stroke-width="1.5"{dash}/>'
                f'<polygon points="{x1} {y + 6},{x1 + 8} {y + 2},{x1 + 8} {y + 10}" '
                f'fill="{colour}"/>'
                f'<text x="{x1 + 36}" y="{y + 4}" fill="{colour}">{_esc(label)}</text>'
            )
        else:
            head = 8 if x2 > x1 else -8
            out.append(
                f'<line x1="{x1}" y1="{y}" x2="{x2 - head}" y2="{y}" stroke="{colour}"'
                f' stroke-width="1.5"{dash}/>'
                f'<polygon points="{x2} {y},{x2 - head} {y - 4},{x2 - head} {y + 4}" '
                f'fill="{colour}"/>'
                f'<text x="{(x1 + x2) // 2}" y="{y - 5}" text-anchor="middle" '
                f'fill="{colour}">{_esc(label)}</text>'
            )
        # A wide transparent band makes the arrow easy to click.
        out.append(
            f'<rect x="{min(x1, x2)}" y="{y - 16}" width="{max(abs(x2 - x1), 40)}" '
            'height="22" fill="transparent"/></g>'
        )
    out.append("</svg>")
    return "\n".join(out)


def render_svg(flow: CallFlow) -> str:
    """A standalone SVG ladder of one flow: column headers, one ``<g class="arrow"
    data-index="i">`` per message, offsets on the left, retransmissions dashed and marked
    ``(re)``, findings marked ``!`` (error) or ``?`` (warning) — text, not colour only."""
    return _svg(flow, standalone=True)


_CSS = """
body{font-family:sans-serif;margin:1em;color:#111}
section.flow{border-top:2px solid #036;margin-top:1.5em;padding-top:.5em}
table.summary td,table.summary th{padding:2px 10px 2px 0;text-align:left}
.ladder-box{overflow-x:auto}
g.arrow:hover text,g.arrow:focus text{font-weight:bold}
g.arrow:focus{outline:2px solid #36c}
div.msg{border:1px solid #999;margin:.5em 0;padding:.5em;background:#f6f6f6}
div.msg pre{white-space:pre-wrap;word-break:break-all;margin:.3em 0}
.error{color:#a00}.warning{color:#850}
"""

_JS = """
document.addEventListener('click',function(e){
 var g=e.target.closest?e.target.closest('g.arrow'):null;if(!g)return;
 var s=g.closest('section.flow');var d=s.querySelector('div.msg[data-index="'+
 g.getAttribute('data-index')+'"]');if(d){d.hidden=!d.hidden;if(!d.hidden)d.scrollIntoView(
 {block:'nearest'});}});
document.addEventListener('keydown',function(e){
 if((e.key==='Enter'||e.key===' ')&&e.target.closest&&e.target.closest('g.arrow')){
 e.preventDefault();e.target.dispatchEvent(new MouseEvent('click',{bubbles:true}));}});
"""


def _summary_table(flow: CallFlow) -> str:
    rows = [
        ("Call-ID", flow.call_id),
        ("method", flow.method or "-"),
        ("final status", str(flow.final_status) if flow.final_status is not None else "-"),
        ("state", flow.state),
        ("messages", str(len(flow.messages))),
        ("retransmissions", str(flow.retransmissions)),
        ("duration", _fmt_seconds(flow.duration)),
        ("setup time", _fmt_seconds(flow.setup_time)),
        ("with findings", str(sum(1 for m in flow.messages if m.findings or m.error))),
    ]
    cells = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="summary">{cells}</table>'


def _message_detail(m: LadderMessage) -> str:
    head = (
        f"#{m.index} +{m.offset:.3f} s {m.source_column} &#8594; {m.destination_column} "
        f"({_esc(m.traced.source.transport)}) {_esc(m.label)}"
        + (" — retransmission" if m.retransmission else "")
    )
    items = []
    if m.error:
        items.append(f'<li class="error">parse error: {_esc(m.error)}</li>')
    for f in m.findings:
        line = f" line {f.line}" if f.line is not None else ""
        items.append(
            f'<li class="{f.severity}">{f.severity} {_esc(f.code)}{line}: {_esc(f.message)} '
            f"({_esc(f.rfc)})</li>"
        )
    findings = f"<ul>{''.join(items)}</ul>" if items else "<p>no lint findings</p>"
    return (
        f'<div class="msg" data-index="{m.index}" hidden><strong>{head}</strong>'
        f"<pre>{_esc(m.text)}</pre>{findings}</div>"
    )


def render_html(flows: Sequence[CallFlow], *, title: str) -> str:
    """One self-contained page (inline CSS and a few lines of JS, no external URL): each
    flow's summary and ladder; clicking an arrow (or Enter on it) shows the full message,
    escaped, with its lint findings."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f"<p>{len(flows)} call(s), {sum(len(f.messages) for f in flows)} SIP message(s). "
        "Click an arrow to show the message.</p>",
    ]
    for n, flow in enumerate(flows):
        parts.append(f'<section class="flow" data-flow="{n}">')
        parts.append(f"<h2>{_esc(_flow_heading(flow))}</h2>")
        parts.append(_summary_table(flow))
        parts.append(f'<div class="ladder-box">{_svg(flow, standalone=False)}</div>')
        parts.extend(_message_detail(m) for m in flow.messages)
        parts.append("</section>")
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts)


def summary_text(flows: Sequence[CallFlow], *, orphans: Sequence[TracedMessage] = ()) -> str:
    """Plain text: per call its method, final status, state, duration, setup time, then each
    message with its lint findings. ``orphans`` (messages without a Call-ID) are counted and
    listed at the end, so nothing read is dropped silently."""
    total = sum(len(f.messages) for f in flows) + len(orphans)
    lines = [f"{total} SIP message(s), {len(flows)} call(s)"]
    for flow in flows:
        lines.append("")
        lines.append(
            f"Call-ID {flow.call_id}: {flow.method or '?'} final "
            f"{flow.final_status if flow.final_status is not None else '-'} ({flow.state}), "
            f"{len(flow.messages)} message(s), {flow.retransmissions} retransmission(s), "
            f"duration {_fmt_seconds(flow.duration)}, setup {_fmt_seconds(flow.setup_time)}"
        )
        for m in flow.messages:
            lines.append(
                f"  #{m.index:<3} +{m.offset:8.3f} {m.source_column} -> {m.destination_column} "
                f"{m.traced.source.transport} {m.label}"
                + (" (retransmission)" if m.retransmission else "")
            )
            if m.error and not m.findings:
                lines.append(f"        error: {m.error}")
            for f in m.findings:
                where = f" line {f.line}" if f.line is not None else ""
                lines.append(f"        {f.severity} {f.code}{where}: {f.message} ({f.rfc})")
    if orphans:
        lines.append("")
        lines.append(f"{len(orphans)} message(s) without a Call-ID (in no call):")
        for t in orphans:
            first = t.data.split(b"\n", 1)[0].strip()[:60].decode("utf-8", "replace")
            lines.append(
                f"  {t.time:.6f} {column_of(t.source)} -> {column_of(t.destination)} {first!r}"
            )
    return "\n".join(lines)


def flow_as_dict(flow: CallFlow) -> dict[str, object]:
    """A JSON-ready view of a flow (``sipwright ladder --json``, the dashboard)."""
    return {
        "call_id": flow.call_id,
        "method": flow.method,
        "final_status": flow.final_status,
        "state": flow.state,
        "start": flow.start,
        "end": flow.end,
        "duration": flow.duration,
        "setup_time": flow.setup_time,
        "retransmissions": flow.retransmissions,
        "columns": list(flow.columns),
        "messages": [
            {
                "index": m.index,
                "time": m.traced.time,
                "offset": m.offset,
                "source": m.source_column,
                "destination": m.destination_column,
                "transport": m.traced.source.transport,
                "label": m.label,
                "retransmission": m.retransmission,
                "error": m.error,
                "findings": [{"severity": f.severity, **f.as_dict()} for f in m.findings],
            }
            for m in flow.messages
        ],
    }
