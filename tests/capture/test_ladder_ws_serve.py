"""WebSocket captures, the pcap writer and ``sipwright serve --pcap``, checked by tshark.

* Two sipwright endpoints talk SIP over WebSocket (RFC 7118; the websockets library
  negotiates permessage-deflate, so frames are compressed) while tshark captures: the
  ladder's count equals tshark's and the number of messages exchanged.
* ``PcapWriter`` files are dissected by tshark: several SIP messages in one TCP segment
  count as several (which also shows that the tshark count used everywhere is right), a
  message larger than one IP packet is reassembled, IPv6 and UDP work.
* ``sipwright serve --pcap F`` (a real subprocess) writes every message in and out: tshark
  finds in F exactly what a live tshark capture on lo saw, and the ladder agrees.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from peers import free_port, require_peer
from server.serve_proc import ServeProcess

from sipwright import Request
from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.capture.pcap import read_capture
from sipwright.capture.pcap_writer import PcapWriter
from sipwright.cli import main
from sipwright.ladder import TracedMessage
from sipwright.transaction import Destination, TimerConfig

from .tshark_helpers import capturing, decode_as, tshark_sip_count, tshark_sip_fields

TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
pytestmark = pytest.mark.peer


def options(n: int, port: int, transport: str = "ws", method: str = "OPTIONS") -> Request:
    to = "<sip:alice@127.0.0.1>" if method == "REGISTER" else f"<sip:127.0.0.1:{port}>"
    uri = "sip:127.0.0.1" if method == "REGISTER" else f"sip:127.0.0.1:{port}"
    headers = [
        ("From", "<sip:alice@127.0.0.1>;tag=a1"),
        ("To", to),
        ("Call-ID", f"cap-{transport}-{n}"),
        ("CSeq", f"{n} {method}"),
    ]
    if method == "REGISTER":
        headers.append(("Contact", "<sip:alice@127.0.0.1:5999>"))
        headers.append(("Expires", "600"))
    return Request(method, f"{uri};transport={transport}", headers)


def _ladder(path: Path, out: Path) -> dict[str, object]:
    result = CliRunner().invoke(main, ["ladder", str(path), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    record: dict[str, object] = json.loads(result.output)
    return record


def test_websocket_capture_count_matches_tshark(tmp_path: Path) -> None:
    tshark = require_peer("tshark")
    port = free_port()
    exchanges = 4

    async def talk() -> list[int]:
        async with Endpoint(listen=[("WS", "127.0.0.1", port)], timers=TIMERS) as server:

            async def answer(req: ServerRequest) -> None:
                await req.respond(200)

            server.on_request = answer
            async with Endpoint(timers=TIMERS) as client:
                dest = Destination("127.0.0.1", port, "WS")
                return [
                    (await client.request(options(n, port), dest)).status_code
                    for n in range(1, exchanges + 1)
                ]

    capture = tmp_path / "ws.pcapng"
    with capturing(tshark, capture, [port]):
        statuses = asyncio.run(asyncio.wait_for(talk(), 15))
    assert statuses == [200] * exchanges
    # The port is random: decode it as HTTP (which follows the WebSocket upgrade), or a
    # dissector registered for that port number would claim the stream instead.
    expected = tshark_sip_count(tshark, capture, "-d", f"tcp.port=={port},http")
    assert expected == 2 * exchanges
    record = _ladder(capture, tmp_path / "ws.html")
    assert record["sip_messages"] == expected
    calls = record["calls"]
    assert isinstance(calls, list) and len(calls) == exchanges
    assert {m["transport"] for c in calls for m in c["messages"]} == {"WS"}
    assert all(c["final_status"] == 200 and c["state"] == "completed" for c in calls)


def test_pcap_writer_dissected_by_tshark(tmp_path: Path) -> None:
    """Two messages in one TCP segment are two SIP messages for tshark and for the ladder;
    a 70 000-byte message spans two segments and is one; UDP over IPv6 is one each."""
    tshark = require_peer("tshark")
    a, b = Destination("127.0.0.1", 5080, "TCP"), Destination("127.0.0.1", 45000, "TCP")
    v6a, v6b = Destination("::1", 5060, "UDP"), Destination("::1", 5070, "UDP")
    one, two = bytes(options(1, 5080, "tcp")), bytes(options(2, 5080, "tcp"))
    big = options(3, 5080, "tcp")
    big.set_body(b"x" * 70000, "text/plain")
    path = tmp_path / "w.pcap"
    writer = PcapWriter(path)
    writer.write(TracedMessage(1.0, b, a, one + two))  # two messages, one segment
    writer.write(TracedMessage(1.1, b, a, bytes(big)))
    writer.write(TracedMessage(1.2, a, b, bytes(options(4, 5080, "tcp"))))
    writer.write(TracedMessage(1.3, v6a, v6b, bytes(options(5, 5070, "udp"))))
    writer.close()
    fields = tshark_sip_fields(tshark, path)
    assert sorted(fields) == ["1 OPTIONS", "2 OPTIONS", "3 OPTIONS", "4 OPTIONS", "5 OPTIONS"]
    cap = read_capture(path)
    assert [m.data for m in cap.messages][:3] == [one, two, bytes(big)]
    assert len(cap.messages) == len(fields) and not cap.warnings
    assert cap.messages[-1].source == v6a


def test_serve_pcap_records_everything_in_and_out(tmp_path: Path) -> None:
    tshark = require_peer("tshark")
    written = tmp_path / "serve.pcap"
    live = tmp_path / "live.pcapng"
    server = ServeProcess(tmp_path, "--pcap", str(written))
    try:
        server.wait_ready()
        port = server.sip_port

        async def talk() -> list[int]:
            async with Endpoint(timers=TIMERS) as client:
                out = []
                for n, transport in enumerate(("UDP", "TCP", "UDP"), 1):
                    method = "REGISTER" if n == 3 else "OPTIONS"
                    req = options(n, port, transport.lower(), method)
                    dest = Destination("127.0.0.1", port, transport)
                    out.append((await client.request(req, dest)).status_code)
                return out

        with capturing(tshark, live, [port]):
            statuses = asyncio.run(asyncio.wait_for(talk(), 15))
        assert statuses == [200, 200, 200]
    finally:
        code = server.stop()
    assert code == 0, "\n".join(server.lines)
    as_sip = decode_as([port])
    seen_live = tshark_sip_count(tshark, live, *as_sip)
    assert seen_live == 6  # three requests in, three responses out
    assert tshark_sip_count(tshark, written, *as_sip) == seen_live
    record = _ladder(written, tmp_path / "serve.html")
    assert record["sip_messages"] == seen_live
    calls = record["calls"]
    assert isinstance(calls, list)
    assert sorted(c["final_status"] for c in calls) == [200, 200, 200]
    transports = sorted(m["transport"] for c in calls for m in c["messages"])
    assert transports == ["TCP", "TCP", "UDP", "UDP", "UDP", "UDP"]


def test_serve_pcap_with_two_workers_writes_one_file_each(tmp_path: Path) -> None:
    written = tmp_path / "w.pcap"
    server = ServeProcess(tmp_path, "--pcap", str(written), workers=2)
    try:
        server.wait_ready()
        port = server.sip_port

        async def talk() -> list[int]:
            async with Endpoint(timers=TIMERS) as client:
                dest = Destination("127.0.0.1", port, "UDP")
                return [
                    (await client.request(options(n, port, "udp"), dest)).status_code
                    for n in range(1, 5)
                ]

        assert asyncio.run(asyncio.wait_for(talk(), 15)) == [200] * 4
    finally:
        code = server.stop()
    assert code == 0, "\n".join(server.lines)
    assert not written.exists()
    files = [tmp_path / "w.pcap.0", tmp_path / "w.pcap.1"]
    assert all(f.exists() for f in files)
    assert sum(len(read_capture(f).messages) for f in files) == 8
