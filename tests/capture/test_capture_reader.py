"""The capture reader on hand-built files: link types, TCP reassembly (out of order,
retransmitted, overlapping, no handshake, capture started mid-stream), WebSocket frames
(masked, fragmented, interleaved control frames, permessage-deflate), truncated and damaged
files. Packets are built with dpkt, the library the reader uses, so the bytes are real
pcap records; what the reader must find is known by construction."""

from __future__ import annotations

import io
import itertools
import random
import struct
import zlib
from pathlib import Path

import dpkt
import pytest
from click.testing import CliRunner

from sipwright.capture import CaptureError
from sipwright.capture.pcap import read_capture, read_capture_bytes
from sipwright.capture.pcap_writer import PcapWriter
from sipwright.cli import main
from sipwright.ladder import TracedMessage, call_flows, split_flows
from sipwright.transaction import Destination


def sip(n: int, call_id: str = "c1", body: bytes = b"") -> bytes:
    return (
        f"OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-{n}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@192.0.2.1>;tag=a\r\nTo: <sip:bob@192.0.2.2>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {n} OPTIONS\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def ip4_tcp(
    seq: int,
    data: bytes,
    *,
    flags: int = dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH,
    sport: int = 40000,
    dport: int = 5060,
    reverse: bool = False,
) -> bytes:
    src, dst = b"\xc0\x00\x02\x01", b"\xc0\x00\x02\x02"
    if reverse:
        src, dst, sport, dport = dst, src, dport, sport
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, flags=flags, data=data)
    ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_TCP, data=tcp)
    ip.len = 20 + len(bytes(tcp))
    return bytes(ip)


def ip_udp(data: bytes, *, v6: bool = False) -> bytes:
    udp = dpkt.udp.UDP(sport=5060, dport=5070, data=data)
    udp.ulen = 8 + len(data)
    if v6:
        ip6 = dpkt.ip6.IP6(
            src=b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x01",
            dst=b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x02",
            nxt=dpkt.ip.IP_PROTO_UDP,
            hlim=64,
            data=udp,
        )
        ip6.plen = len(bytes(udp))
        return bytes(ip6)
    ip = dpkt.ip.IP(
        src=b"\xc0\x00\x02\x01", dst=b"\xc0\x00\x02\x02", p=dpkt.ip.IP_PROTO_UDP, data=udp
    )
    ip.len = 20 + len(bytes(udp))
    return bytes(ip)


def pcap(packets: list[bytes], linktype: int = 101, *, ng: bool = False) -> bytes:
    f = io.BytesIO()
    w = (dpkt.pcapng.Writer if ng else dpkt.pcap.Writer)(f, linktype=linktype)
    for i, p in enumerate(packets):
        w.writepkt(p, ts=1000.0 + i * 0.01)
    return f.getvalue()


def datas(raw: bytes) -> list[bytes]:
    return [m.data for m in read_capture_bytes(raw).messages]


def test_link_types_and_ip_versions() -> None:
    msg = sip(1)
    v4, v6 = ip_udp(msg), ip_udp(msg, v6=True)
    eth = bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=v4))
    sll = struct.pack("!HHH8sH", 0, 772, 6, b"\x00" * 8, 0x0800) + v4
    sll2 = struct.pack("!HHIHBB8s", 0x86DD, 0, 1, 772, 0, 6, b"\x00" * 8) + v6
    null_le = struct.pack("<I", 2) + v4
    null_v6 = struct.pack("<I", 30) + v6
    cases = [
        (1, eth),
        (113, sll),
        (276, sll2),
        (0, null_le),
        (0, null_v6),
        (101, v4),
        (228, v4),
        (229, v6),
    ]
    for linktype, packet in cases:
        for ng in (False, True):
            cap = read_capture_bytes(pcap([packet], linktype, ng=ng))
            assert [m.data for m in cap.messages] == [msg], (linktype, ng)
            src = cap.messages[0].source
            assert src.port == 5060 and src.transport == "UDP"
            assert src.host in ("192.0.2.1", "2001:db8::1")
            assert cap.format == ("pcapng" if ng else "pcap")


def test_udp_keepalives_and_non_sip_skipped_by_content() -> None:
    raw = pcap(
        [
            ip_udp(b"\r\n\r\n"),
            ip_udp(b"\x00\x01STUN-ish"),
            ip_udp(sip(1)),
            ip_udp(b"HTTP/1.1 200 OK\r\n\r\n"),
        ]
    )
    cap = read_capture_bytes(raw)
    assert [m.data for m in cap.messages] == [sip(1)]
    assert cap.keepalives == 1 and cap.non_sip == 2


def test_tcp_reassembly_out_of_order_retransmitted_overlapping() -> None:
    stream = sip(1) + sip(2, body=b"hello world") + b"\r\n\r\n" + sip(3)
    isn = 0xFFFFFF00  # sequence numbers wrap around inside the stream
    cut = [0, 50, 120, 121, 300, len(stream)]
    pieces = [(isn + 1 + a, stream[a:b]) for a, b in itertools.pairwise(cut)]
    packets = [ip4_tcp(isn, b"", flags=dpkt.tcp.TH_SYN)]
    order = [0, 2, 1, 1, 4, 3]  # piece 2 before 1, piece 1 twice, 4 before 3
    packets += [ip4_tcp(pieces[i][0] % 2**32, pieces[i][1]) for i in order]
    # An overlapping resend: bytes 100..200 again.
    packets.append(ip4_tcp((isn + 1 + 100) % 2**32, stream[100:200]))
    assert datas(pcap(packets)) == [sip(1), sip(2, body=b"hello world"), sip(3)]


def test_tcp_several_messages_per_segment_and_one_message_over_segments() -> None:
    big = sip(2, body=b"x" * 5000)
    packets = [ip4_tcp(100, sip(1) + big[:10]), ip4_tcp(100 + len(sip(1)) + 10, big[10:] + sip(3))]
    assert datas(pcap(packets)) == [sip(1), big, sip(3)]  # no SYN: starts at the first segment


def test_tcp_capture_started_mid_message_resyncs() -> None:
    stream = sip(1) + sip(2)
    start = 30  # the capture missed the start of the first message
    cap = read_capture_bytes(pcap([ip4_tcp(5000, stream[start:])]))
    assert [m.data for m in cap.messages] == [sip(2)]
    assert any("mid-stream" in w for w in cap.warnings)


def test_tcp_gap_resyncs_at_next_start_line() -> None:
    stream = sip(1) + sip(2) + sip(3)
    lost = (len(sip(1)) + 20, len(sip(1)) + 40)  # a segment inside message 2 was not captured
    packets = [
        ip4_tcp(0, b"", flags=dpkt.tcp.TH_SYN),
        ip4_tcp(1, stream[: lost[0]]),
        ip4_tcp(1 + lost[1], stream[lost[1] :]),
    ]
    cap = read_capture_bytes(pcap(packets))
    got = [m.data for m in cap.messages]
    assert got[0] == sip(1) and got[-1] == sip(3)
    assert any("missing" in w for w in cap.warnings)
    # Nothing read is dropped silently: the broken message 2 is kept, marked malformed.
    assert len(got) == 3 and got[1].startswith(b"OPTIONS")
    flows, orphans = split_flows(cap.messages)
    assert [m.data for m in orphans] == [got[1]]  # its Call-ID was in the lost bytes
    assert [len(f.messages) for f in flows] == [2]
    assert any("skipped" in w for w in cap.warnings)  # the rest of message 2


def test_tcp_framing_error_keeps_bad_bytes_and_goes_on() -> None:
    bad = b"OPTIONS sip:x SIP/2.0\r\nCall-ID: bad\r\nCSeq: 1 OPTIONS\r\n\r\n"  # no Content-Length
    packets = [ip4_tcp(0, b"", flags=dpkt.tcp.TH_SYN), ip4_tcp(1, sip(1) + bad + sip(2))]
    got = datas(pcap(packets))
    assert got == [sip(1), bad, sip(2)]


def test_tcp_incomplete_last_message_kept_with_warning() -> None:
    cap = read_capture_bytes(pcap([ip4_tcp(1, sip(1) + sip(2)[:40])]))
    assert [m.data for m in cap.messages] == [sip(1), sip(2)[:40]]
    assert any("ends inside a message" in w for w in cap.warnings)


def ws_frame(
    payload: bytes, opcode: int = 1, *, fin: bool = True, mask: bool = False, rsv1: bool = False
) -> bytes:
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    head = bytes([b0])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([m | 127]) + n.to_bytes(8, "big")
    if mask:
        key = b"\x11\x22\x33\x44"
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        head += key
    return head + payload


def test_websocket_frames_masked_fragmented_deflated() -> None:
    upgrade = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Key: a\r\n\r\n"
    )
    accept = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    )
    m1, m2, m3 = sip(1), sip(2, body=b"y" * 300), sip(3)
    client = (
        upgrade
        + ws_frame(m1[:20], 1, fin=False, mask=True)
        + ws_frame(b"ping", 9, mask=True)
        + ws_frame(m1[20:], 0, mask=True)
        + ws_frame(m2, 2, mask=True)
    )
    comp = zlib.compressobj(wbits=-15)
    deflated = comp.compress(m3) + comp.flush(zlib.Z_SYNC_FLUSH)
    server = accept + ws_frame(deflated[:-4], 1, rsv1=True) + ws_frame(b"", 8)
    packets = [
        ip4_tcp(0, b"", flags=dpkt.tcp.TH_SYN, dport=8080),
        ip4_tcp(0, b"", flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, dport=8080, reverse=True),
        ip4_tcp(1, client[: len(upgrade)], dport=8080),
        ip4_tcp(1, server, dport=8080, reverse=True),
        ip4_tcp(1 + len(upgrade), client[len(upgrade) :], dport=8080),
    ]
    cap = read_capture_bytes(pcap(packets))
    assert [m.data for m in cap.messages] == [m3, m1, m2]
    assert {m.source.transport for m in cap.messages} == {"WS"}
    assert cap.messages[0].source == Destination("192.0.2.2", 8080, "WS")


def test_http_stream_is_not_sip() -> None:
    http = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    cap = read_capture_bytes(pcap([ip4_tcp(1, http, dport=8080)]))
    assert cap.messages == [] and cap.non_sip == 1


def test_truncated_files_keep_what_was_read(tmp_path: Path) -> None:
    path = tmp_path / "w.pcap"
    writer = PcapWriter(path)
    a, b = Destination("127.0.0.1", 5060), Destination("127.0.0.1", 5070)
    for n in range(3):
        writer.write(TracedMessage(float(n), a, b, sip(n + 1, call_id=f"c{n}")))
    writer.close()
    whole = path.read_bytes()
    assert len(read_capture(path).messages) == 3
    record = 16 + 28 + len(sip(3, call_id="c2"))
    # Cut inside the last packet: 2 whole messages, the third kept as a truncated one.
    cap = read_capture_bytes(whole[: len(whole) - 10])
    assert len(cap.messages) == 3 and cap.warnings
    assert cap.messages[2].data == sip(3, call_id="c2")[:-10]
    # Cut inside the last record header: the two first messages and a warning.
    cap = read_capture_bytes(whole[: len(whole) - record + 5])
    assert len(cap.messages) == 2 and cap.warnings
    # Same for pcapng.
    ng = pcap([ip_udp(sip(1)), ip_udp(sip(2))], ng=True)
    cap = read_capture_bytes(ng[:-7])
    assert [m.data for m in cap.messages] == [sip(1)] and cap.warnings


def test_not_a_capture() -> None:
    for data in (b"", b"hello", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a\x00\x00"):
        with pytest.raises(CaptureError):
            read_capture_bytes(data)
    with pytest.raises(CaptureError):
        read_capture_bytes(pcap([ip_udp(sip(1))], linktype=147))


def test_damaged_captures_never_raise_other_errors() -> None:
    rng = random.Random(7)
    stream = sip(1) + sip(2)
    bases = [
        pcap([ip_udp(sip(1)), ip_udp(sip(2), v6=True)]),
        pcap(
            [
                ip4_tcp(0, b"", flags=dpkt.tcp.TH_SYN),
                ip4_tcp(1, stream[:90]),
                ip4_tcp(91, stream[90:]),
            ],
            ng=True,
        ),
    ]
    for _ in range(300):
        data = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        try:
            cap = read_capture_bytes(bytes(data))
        except CaptureError:
            continue
        call_flows(cap.messages)


def test_cli_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    result = runner.invoke(main, ["ladder", str(junk)])
    assert result.exit_code == 2 and "not a pcap" in result.output
    result = runner.invoke(main, ["ladder", str(tmp_path / "missing.pcap")])
    assert result.exit_code == 2
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(pcap([ip_udp(b"\r\n\r\n")]))
    result = runner.invoke(main, ["ladder", str(empty)])
    assert result.exit_code == 1 and "0 SIP message(s)" in result.output
    two = tmp_path / "two.pcap"
    two.write_bytes(pcap([ip_udp(sip(1, "one")), ip_udp(sip(2, "two"))]))
    out = tmp_path / "one.svg"
    result = runner.invoke(main, ["ladder", str(two), "--call", "two", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().count('<g class="arrow"') == 1
    result = runner.invoke(main, ["ladder", str(two), "--call", "nope"])
    assert result.exit_code == 1


def test_pcap_config_key_and_validation(tmp_path: Path) -> None:
    from sipwright.server.config import ConfigError, load_config

    toml = tmp_path / "serve.toml"
    toml.write_text('[capture]\npcap = "caps/sip.pcap"\n')
    assert load_config(toml).pcap == tmp_path / "caps" / "sip.pcap"  # relative to the file
    assert load_config(toml, pcap=Path("x.pcap")).pcap == Path("x.pcap")  # the flag wins
    assert load_config().pcap is None
    for bad in ("[capture]\npcap = 3\n", '[capture]\npcap = ""\n', "[capture]\nfile = 'x'\n"):
        toml.write_text(bad)
        with pytest.raises(ConfigError):
            load_config(toml)
    with pytest.raises(ConfigError):
        load_config(pcap=tmp_path)  # a directory


def test_pcap_writer_stops_on_write_error_without_raising(tmp_path: Path) -> None:
    writer = PcapWriter("/dev/full")
    a, b = Destination("127.0.0.1", 5060), Destination("127.0.0.1", 5070)
    for n in range(50):  # /dev/full fails once the buffer is flushed
        writer.write(TracedMessage(float(n * 2), a, b, sip(n)))
    writer.close()
    assert isinstance(writer.error, OSError)


def test_sipp_log_with_diagnostics_and_short_block() -> None:
    m1, m2 = sip(1), sip(2)
    log = (
        b"Problem EAGAIN on socket  6 and poll_idx  is 1\n"
        b"----------------------------------------------- 2026-11-23 03:19:53.641259\n"
        + f"TCP message sent ({len(m1)} bytes):\n\n".encode()
        + m1
        + b"\nExit problem event on socket 6 \n"
        b"----------------------------------------------- 2026-11-23 03:19:53.700000\n"
        + f"TCP message received [{len(m2) + 50}] bytes :\n\n".encode()
        + m2
        + b"\n"
    )
    cap = read_capture_bytes(log)
    assert cap.format == "sipp-log"
    assert [m.data for m in cap.messages] == [m1, m2]
    assert cap.warnings  # the second block announced more bytes than it holds
    sent, received = cap.messages
    assert sent.source == Destination("192.0.2.1", 5060, "TCP")  # its top Via
    assert sent.destination == Destination("192.0.2.2", 5060, "TCP")  # its Request-URI
    assert received.destination == sent.source
    assert abs(received.time - sent.time - 0.058741) < 1e-6
