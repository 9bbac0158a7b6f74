"""The sans-I/O ladder core: grouping by Call-ID, ordering, retransmissions, call figures,
the SVG (one arrow per message), the self-contained HTML and the text summary."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from xml.etree import ElementTree

from peers import shared_dir

from sipwright.ladder import (
    CallFlow,
    TracedMessage,
    call_flows,
    call_id_of,
    column_of,
    flow_as_dict,
    render_html,
    render_svg,
    split_flows,
    summary_text,
)
from sipwright.transaction import Destination

A = Destination("192.0.2.1", 5060)
B = Destination("192.0.2.2", 5070)
P = Destination("2001:db8::1", 5080)


def request(
    method: str,
    call_id: str = "call-1",
    cseq: int = 1,
    branch: str = "z9hG4bK-1",
    to_tag: str | None = None,
    extra: str = "",
) -> bytes:
    to = "<sip:bob@192.0.2.2>" + (f";tag={to_tag}" if to_tag else "")
    cseq_method = "INVITE" if method == "ACK" and to_tag is None else method
    return (
        f"{method} sip:bob@192.0.2.2:5070 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@192.0.2.1>;tag=a1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {cseq_method}\r\n"
        "Contact: <sip:alice@192.0.2.1:5060>\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def response(
    status: int,
    reason: str,
    method: str = "INVITE",
    call_id: str = "call-1",
    cseq: int = 1,
    branch: str = "z9hG4bK-1",
    to_tag: str | None = "b1",
) -> bytes:
    to = "<sip:bob@192.0.2.2>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"SIP/2.0 {status} {reason}\r\n"
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n"
        "From: <sip:alice@192.0.2.1>;tag=a1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def basic_call() -> list[TracedMessage]:
    """INVITE (retransmitted), 100, 180, 200, ACK, BYE, 200 — given out of time order."""
    msgs = [
        TracedMessage(10.0, A, B, request("INVITE")),
        TracedMessage(10.5, A, B, request("INVITE")),  # Timer A retransmission
        TracedMessage(10.6, B, A, response(100, "Trying", to_tag=None)),
        TracedMessage(11.0, B, A, response(180, "Ringing")),
        TracedMessage(12.0, B, A, response(200, "OK")),
        TracedMessage(12.1, A, B, request("ACK", branch="z9hG4bK-2", to_tag="b1")),
        TracedMessage(15.0, A, B, request("BYE", cseq=2, branch="z9hG4bK-3", to_tag="b1")),
        TracedMessage(15.2, B, A, response(200, "OK", "BYE", cseq=2, branch="z9hG4bK-3")),
    ]
    return [msgs[i] for i in (3, 0, 6, 1, 7, 2, 5, 4)]


def test_call_id_of_long_compact_and_missing() -> None:
    assert call_id_of(request("INVITE", call_id="abc@h")) == "abc@h"
    compact = request("OPTIONS").replace(b"Call-ID: call-1", b"i:  xyz ")
    assert call_id_of(compact) == "xyz"
    assert call_id_of(b"garbage") is None
    assert call_id_of(b"") is None
    assert call_id_of(b"INVITE sip:x SIP/2.0\r\nCall-ID:\r\n\r\n") is None
    # Only the header section counts: a Call-ID line in the body is not the message's.
    body = b"OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\nCall-ID: body\r\n"
    assert call_id_of(body) is None
    assert call_id_of(b"\xff\xfe\r\nCALL-ID: \xff\r\n\r\n") == "\ufffd"


def test_grouping_ordering_and_figures() -> None:
    other = TracedMessage(10.2, A, P, request("OPTIONS", call_id="call-2", branch="z9hG4bK-o"))
    flows = call_flows([*basic_call(), other])
    assert [f.call_id for f in flows] == ["call-1", "call-2"]
    flow = flows[0]
    assert [m.label for m in flow.messages] == [
        "INVITE",
        "INVITE",
        "100 Trying",
        "180 Ringing",
        "200 OK",
        "ACK",
        "BYE",
        "200 OK",
    ]
    assert [m.index for m in flow.messages] == list(range(8))
    assert [m.retransmission for m in flow.messages] == [False, True] + [False] * 6
    assert flow.retransmissions == 1
    assert flow.columns == ["192.0.2.1:5060", "192.0.2.2:5070"]
    assert flow.method == "INVITE"
    assert flow.final_status == 200
    assert flow.setup_time == 2.0
    assert abs(flow.duration - 5.2) < 1e-9
    assert flow.start == 10.0 and flow.end == 15.2
    assert flow.messages[3].offset == 1.0
    assert flow.state == "ended"
    second = flows[1]
    assert second.state == "trying" and second.final_status is None
    assert second.setup_time is None
    assert second.columns == ["192.0.2.1:5060", "[2001:db8::1]:5080"]


def test_states() -> None:
    ringing = [
        TracedMessage(0, A, B, request("INVITE")),
        TracedMessage(1, B, A, response(180, "Ringing")),
    ]
    assert call_flows(ringing)[0].state == "ringing"
    answered = [*ringing, TracedMessage(2, B, A, response(200, "OK"))]
    assert call_flows(answered)[0].state == "answered"
    busy = [*ringing, TracedMessage(2, B, A, response(486, "Busy Here"))]
    assert (call_flows(busy)[0].state, call_flows(busy)[0].final_status) == ("failed", 486)
    cancelled = [
        *ringing,
        TracedMessage(2, A, B, request("CANCEL", extra="")),
        TracedMessage(3, B, A, response(487, "Request Terminated")),
    ]
    assert call_flows(cancelled)[0].state == "cancelled"
    options = [
        TracedMessage(0, A, B, request("OPTIONS")),
        TracedMessage(1, B, A, response(200, "OK", "OPTIONS")),
    ]
    assert call_flows(options)[0].state == "completed"
    assert (
        call_flows([TracedMessage(0, A, B, b"junk\r\nCall-ID: x\r\n\r\n")])[0].state == "malformed"
    )


def test_challenged_invite_reports_the_retry() -> None:
    """401 to CSeq 1, the retry with credentials (CSeq 2) answered 200: the call's final
    status is the retry's (§22.2), the setup time runs from the first INVITE."""
    msgs = [
        TracedMessage(0.0, A, B, request("INVITE")),
        TracedMessage(0.1, B, A, response(401, "Unauthorized")),
        TracedMessage(0.2, A, B, request("ACK", to_tag=None)),
        TracedMessage(0.3, A, B, request("INVITE", cseq=2, branch="z9hG4bK-9")),
        TracedMessage(0.9, B, A, response(200, "OK", cseq=2, branch="z9hG4bK-9")),
    ]
    flow = call_flows(msgs)[0]
    assert flow.final_status == 200
    assert flow.setup_time is not None and abs(flow.setup_time - 0.9) < 1e-9
    assert flow.retransmissions == 0


def test_retransmission_needs_same_ends_and_to_tag() -> None:
    """The same INVITE relayed by a proxy to a new hop is not a retransmission, nor is a
    2xx from a second fork (another To tag); the same 200 again is."""
    msgs = [
        TracedMessage(0, A, P, request("INVITE")),
        TracedMessage(1, P, B, request("INVITE")),
        TracedMessage(2, B, A, response(200, "OK", to_tag="x")),
        TracedMessage(3, B, A, response(200, "OK", to_tag="y")),
        TracedMessage(4, B, A, response(200, "OK", to_tag="y")),
    ]
    flow = call_flows(msgs)[0]
    assert [m.retransmission for m in flow.messages] == [False, False, False, False, True]
    assert flow.columns == ["192.0.2.1:5060", "[2001:db8::1]:5080", "192.0.2.2:5070"]


def test_unparseable_without_call_id_go_to_no_flow_but_are_reported() -> None:
    junk = TracedMessage(1.0, A, B, b"NOT SIP AT ALL\r\n\r\n")
    flows, orphans = split_flows([*basic_call(), junk])
    assert len(flows) == 1 and orphans == [junk]
    text = summary_text(flows, orphans=orphans)
    assert text.startswith("9 SIP message(s), 1 call(s)")
    assert "1 message(s) without a Call-ID" in text and "NOT SIP AT ALL" in text


def test_malformed_with_call_id_stays_in_its_flow_with_the_error() -> None:
    bad = request("INVITE").replace(b"Content-Length: 0", b"Content-Length: 99")
    flow = call_flows([TracedMessage(0, A, B, bad)])[0]
    m = flow.messages[0]
    assert m.message is None and m.error is not None and "Content-Length" in m.error
    assert m.label.startswith("unparsed: INVITE")
    assert m.has_errors and any(f.code == "parse-error" for f in m.findings)


def test_lint_findings_of_the_printed_example() -> None:
    """The RFC example as printed has a wrong Content-Length: the finding is attached to
    the message, flagged on its arrow, listed in the summary and in the HTML."""
    data = (shared_dir() / "seeds" / "examples" / "overview-invite-as-printed.sip").read_bytes()
    flow = call_flows([TracedMessage(0, A, B, data)])[0]
    codes = {f.code for f in flow.messages[0].findings}
    assert "content-length-mismatch" in codes
    assert 'data-findings="error"' in render_svg(flow)
    assert "content-length-mismatch" in summary_text([flow])
    assert "content-length-mismatch" in render_html([flow], title="t")
    clean = call_flows([TracedMessage(0, A, B, request("OPTIONS"))])[0]
    assert "data-findings" not in render_svg(clean)


def test_svg_one_arrow_per_message_and_accessible() -> None:
    flow = call_flows(basic_call())[0]
    svg = render_svg(flow)
    root = ElementTree.fromstring(svg)  # well-formed XML
    ns = {"s": "http://www.w3.org/2000/svg"}
    arrows = root.findall(".//s:g[@class='arrow']", ns)
    assert [a.get("data-index") for a in arrows] == [str(i) for i in range(8)]
    assert svg.count('class="arrow"') == len(flow.messages)
    assert root.find("s:title", ns) is not None and root.find("s:desc", ns) is not None
    assert all(a.find("s:title", ns) is not None for a in arrows)
    retrans = [a for a in arrows if a.get("data-retransmission") == "true"]
    assert [a.get("data-index") for a in retrans] == ["1"]
    # Marked in text (not colour only) and drawn dashed.
    texts = ["".join(t.itertext()) for t in retrans[0].findall("s:text", ns)]
    assert "INVITE (re)" in texts
    assert retrans[0].find("s:line", ns).get("stroke-dasharray")  # type: ignore[union-attr]
    headers = {"".join(t.itertext()) for t in root.findall(".//s:g[@class='column']/s:text", ns)}
    assert headers == {"192.0.2.1:5060", "192.0.2.2:5070"}
    assert "1.000" in svg and "5.200" in svg  # time offsets on the left


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.arrows = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "xmlns") and value:
                self.refs.append(value)
            if name == "class" and value == "arrow":
                self.arrows += 1


def test_html_self_contained_and_escaped() -> None:
    evil = request("MESSAGE", call_id="<script>alert(1)</script>", extra="Subject: <b>&x</b>\r\n")
    flows = call_flows([*basic_call(), TracedMessage(20, A, B, evil)])
    page = render_html(flows, title="<title> & more")
    refs = _Refs()
    refs.feed(page)
    assert refs.refs == []  # no external reference, not even the SVG namespace URL
    assert not re.search(r"https?://", page)
    assert refs.arrows == sum(len(f.messages) for f in flows) == 9
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Subject: &lt;b&gt;&amp;x&lt;/b&gt;" in page
    assert "&lt;title&gt; &amp; more" in page
    assert page.count("<script>") == 1  # only the page's own few lines of JS
    # Each arrow has its hidden detail block holding the full message.
    assert page.count('<div class="msg" data-index=') == 9


def test_summary_text_and_json_view() -> None:
    flow = call_flows(basic_call())[0]
    text = summary_text([flow])
    assert "8 SIP message(s), 1 call(s)" in text
    assert "Call-ID call-1: INVITE final 200 (ended)" in text
    assert "1 retransmission(s)" in text and "duration 5.200 s" in text
    assert "setup 2.000 s" in text
    assert "INVITE (retransmission)" in text
    view = flow_as_dict(flow)
    assert view["final_status"] == 200 and view["state"] == "ended"
    assert len(view["messages"]) == 8  # type: ignore[arg-type]


def test_self_message_and_empty_inputs() -> None:
    loop = call_flows([TracedMessage(0, A, A, request("OPTIONS"))])[0]
    assert loop.columns == ["192.0.2.1:5060"]
    assert render_svg(loop).count('class="arrow"') == 1
    assert call_flows([]) == []
    assert summary_text([]) == "0 SIP message(s), 0 call(s)"
    assert "0 call(s)" in render_html([], title="empty")
    assert isinstance(CallFlow("x"), CallFlow) and CallFlow("x").duration == 0.0
    assert column_of(Destination("::1", 5060)) == "[::1]:5060"


def test_arbitrary_bytes_never_raise() -> None:
    samples = [
        b"",
        b"\r\n\r\n",
        b"\x00" * 10,
        b"SIP/2.0 999\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nCall-ID: q\r\nVia: ???\r\nCSeq: x y z\r\nTo: <<<\r\n\r\n",
        b"SIP/2.0 200 OK\r\nCall-ID: q\r\nCSeq: nope\r\nVia: bad\r\n\r\n",
        bytes(range(256)),
    ]
    msgs = [TracedMessage(float(i), A, B, s) for i, s in enumerate(samples)]
    flows, orphans = split_flows(msgs)
    assert sum(len(f.messages) for f in flows) + len(orphans) == len(samples)
    for flow in flows:
        render_svg(flow)
        _ = (flow.state, flow.final_status, flow.setup_time, flow.method)
    render_html(flows, title="x")
    summary_text(flows, orphans=orphans)
