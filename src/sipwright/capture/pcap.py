"""SIP messages out of a pcap or pcapng file (read with dpkt).

What is read (docs/ladder.md):

* link types Ethernet (1, VLAN tags included), BSD NULL/loopback (0) and OpenBSD LOOP (108),
  Linux cooked SLL (113) and SLL2 (276, dumpcap on ``any``), raw IP (101, 228, 229, 12, 14);
  IPv4 and IPv6; pcap with micro- or nanosecond timestamps and pcapng (the link type of the
  file's first interface applies to every packet, as dpkt reads it);
* UDP: one SIP message per datagram (RFC 3261 §18.3), CRLF keep-alives skipped
  (RFC 5626 §3.5.1);
* TCP: each direction reassembled by sequence number (from the SYN, or from the first
  segment when the handshake was not captured), retransmitted and overlapping bytes dropped,
  then framed by Content-Length with :class:`sipwright.StreamParser` (§18.3); a stream whose
  framing breaks resumes at the next SIP start line;
* WebSocket (RFC 7118, RFC 6455): a TCP stream that opens with an HTTP Upgrade has its
  handshake skipped and its frames decoded (masking, fragmentation, permessage-deflate of
  RFC 7692); each text or binary message is one SIP message; control frames are ignored.

Which traffic is SIP is decided by content, not port: a datagram or a stream whose first
line parses as a SIP Request-Line or Status-Line (§7.1, §7.2). TLS and WSS are encrypted and
cannot be read. IP fragments are not reassembled (they are counted in a warning).

Bad bytes never raise anything but :class:`~sipwright.capture.CaptureError` (for a file that
is no capture at all); damage inside a capture becomes a warning and everything readable is
kept — a truncated file yields what was read plus a warning.
"""

from __future__ import annotations

import io
import ipaddress
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dpkt  # type: ignore[import-untyped]

from ..errors import ParseError
from ..ladder import TracedMessage
from ..limits import ParseLimits
from ..message import Request, Response
from ..parser import KeepAlive, StreamParser
from ..transaction.events import Destination
from . import CaptureError

__all__ = ["Capture", "looks_like_sip", "read_capture", "read_capture_bytes", "read_pcap"]

PCAP_MAGICS = {
    b"\xa1\xb2\xc3\xd4",
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x4d\x3c\xb2\xa1",
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

_SEQ_MOD = 1 << 32
_START_LINE = re.compile(
    rb"(?:[A-Za-z0-9\-.!%*_+`'~]+ [^ \r\n]+ SIP/[0-9]+\.[0-9]+"
    rb"|SIP/[0-9]+\.[0-9]+ [0-9]{3}(?: [^\r\n]*)?)\r?\n"
)
# A start line that follows a line end: where a broken stream can resume.
_RESYNC = re.compile(rb"\r\n(?=(?:[A-Z]+ [^ \r\n]+ SIP/2\.0|SIP/2\.0 [0-9]{3} [^\r\n]*)\r\n)")
_MAX_UNDECIDED = 65536
_MAX_WS_FRAME = 16 * 1024 * 1024
#: Framing limits for reading a capture: frame what was on the wire, however large (the
#: ladder's lint then flags a message a server would refuse with 513, RFC 3261 §21.5.7).
CAPTURE_LIMITS = ParseLimits(
    max_message_size=_MAX_WS_FRAME, max_headers=65536, max_line_length=_MAX_WS_FRAME
)


def looks_like_sip(data: bytes) -> bool:
    """Whether ``data`` starts (after CRLFs) with a SIP Request-Line or Status-Line."""
    return _START_LINE.match(data.lstrip(b"\r\n")) is not None


@dataclass(slots=True)
class Capture:
    """What was read: the SIP messages (in packet order), warnings, and counts."""

    messages: list[TracedMessage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    packets: int = 0
    #: UDP datagrams and TCP streams that carried something other than SIP.
    non_sip: int = 0
    keepalives: int = 0
    format: str = "pcap"


def _address(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


def _rel(seq: int, base: int) -> int:
    """seq - base in 32-bit sequence space (RFC 9293 §3.4), as a signed distance."""
    return ((seq - base + (1 << 31)) % _SEQ_MOD) - (1 << 31)


def _unmask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return payload
    mask = (key * (n // 4 + 1))[:n]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")
    return value.to_bytes(n, "big")


class _Direction:
    """One direction of one TCP connection: reassembly, then SIP or WebSocket framing."""

    def __init__(self, src: tuple[str, int], dst: tuple[str, int], cap: Capture) -> None:
        self.src = src
        self.dst = dst
        self.cap = cap
        self.next_seq: int | None = None
        self.pending: dict[int, tuple[bytes, float]] = {}
        self.mode: str | None = None  # None (undecided), "sip", "ws", "other", "broken"
        self.synced = False  # saw the SYN (the stream starts at a message boundary)
        self.buf = bytearray()
        self.raw = bytearray()
        self.parser: StreamParser | None = None
        self.inflater: zlib._Decompress | None = None
        self.frag = bytearray()
        self.frag_compressed = False
        self.in_message = False
        self.last_time = 0.0

    # -- reassembly ------------------------------------------------------------------
    def segment(self, seq: int, syn: bool, payload: bytes, time: float) -> None:
        if syn:
            self.next_seq = (seq + 1) % _SEQ_MOD
            self.synced = True
            seq = self.next_seq
        if not payload:
            return
        if self.next_seq is None:
            self.next_seq = seq
        rel = _rel(seq, self.next_seq)
        if rel < 0:
            if rel + len(payload) <= 0:
                return  # a retransmission of bytes already delivered
            payload = payload[-rel:]
            rel = 0
        if rel > 0:
            old = self.pending.get(seq)
            if old is None or len(old[0]) < len(payload):
                self.pending[seq] = (payload, time)
            return
        self._accept(payload, time)
        self._drain()

    def _accept(self, payload: bytes, time: float) -> None:
        assert self.next_seq is not None
        self.next_seq = (self.next_seq + len(payload)) % _SEQ_MOD
        self._deliver(payload, time)

    def _drain(self) -> None:
        while self.pending:
            assert self.next_seq is not None
            base = self.next_seq
            ready = [s for s in self.pending if _rel(s, base) <= 0]
            if not ready:
                return
            for s in sorted(ready, key=lambda s: _rel(s, base)):
                data, time = self.pending.pop(s)
                rel = _rel(s, self.next_seq)
                if rel + len(data) > 0 and rel <= 0:
                    self._accept(data[-rel:] if rel else data, time)

    def finish(self) -> None:
        """End of capture: bytes after a gap (lost segments) are read from the next start
        line on; an incomplete last message is kept as a malformed message."""
        guard = 0
        while self.pending and guard < 100_000:
            guard += 1
            assert self.next_seq is not None
            base = self.next_seq
            first = min(self.pending, key=lambda s: _rel(s, base))
            gap = _rel(first, base)
            self.cap.warnings.append(
                f"TCP {self._name()}: {gap} bytes missing from the capture; resynchronised"
            )
            self.next_seq = first
            self._gap()
            self._drain()
        if self.mode == "sip" and self.raw.strip(b"\r\n"):
            self.cap.warnings.append(
                f"TCP {self._name()}: capture ends inside a message ({len(self.raw)} bytes)"
            )
            self._emit(bytes(self.raw), self.last_time)
            self.raw.clear()
        elif self.mode == "ws" and (self.buf or self.in_message):
            self.cap.warnings.append(f"TCP {self._name()}: capture ends inside a WebSocket frame")
        elif self.mode is None and self.buf:
            self.cap.warnings.append(
                f"TCP {self._name()}: {len(self.buf)} bytes without a SIP start line skipped"
            )
            self._other()

    def _name(self) -> str:
        return f"{self.src[0]}:{self.src[1]} -> {self.dst[0]}:{self.dst[1]}"

    def _gap(self) -> None:
        """Lost bytes: framing state is no longer trustworthy."""
        if self.mode == "sip":
            self._flush_broken()
            self.parser = None
            self.mode = None
            self.synced = False
            self.buf.clear()
        elif self.mode == "ws":
            self.cap.warnings.append(f"TCP {self._name()}: WebSocket stream with a gap dropped")
            self.mode = "broken"
        elif self.mode is None:
            self.synced = False

    # -- framing -----------------------------------------------------------------------
    def _deliver(self, data: bytes, time: float) -> None:
        self.last_time = time
        if self.mode is None:
            self.buf += data
            self._decide(time)
        elif self.mode == "sip":
            self._feed_sip(data, time)
        elif self.mode == "ws":
            self.buf += data
            self._frames(time)

    def _decide(self, time: float) -> None:
        buf = self.buf
        head = bytes(buf[:4096]).lstrip(b"\r\n")
        if b"\n" not in head and len(buf) < 4096:
            return  # wait for the whole first line
        if _START_LINE.match(head):
            self.mode = "sip"
            self.parser = StreamParser(limits=CAPTURE_LIMITS)
            data = bytes(buf)
            buf.clear()
            self._feed_sip(data, time)
            return
        if head.startswith((b"GET ", b"HTTP/1.1 101", b"HTTP/1.0 101")):
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_UNDECIDED:
                    self._other()
                return
            if b"websocket" not in bytes(buf[:end]).lower():
                self._other()  # plain HTTP, or an upgrade to something else
                return
            # Compression needs no handshake state: RSV1 marks each compressed message
            # (RFC 7692 §6), inflated with one context per direction (context takeover).
            self.mode = "ws"
            del buf[: end + 4]
            self._frames(time)
            return
        if not self.synced:
            found = _RESYNC.search(buf)
            if found is not None:
                self.cap.warnings.append(
                    f"TCP {self._name()}: {found.start() + 2} bytes before the first SIP "
                    "start line skipped (capture began mid-stream)"
                )
                del buf[: found.start() + 2]
                self.synced = True
                self._decide(time)
                return
            if len(buf) <= _MAX_UNDECIDED:
                return
        self._other()

    def _other(self) -> None:
        self.mode = "other"
        self.buf.clear()
        self.cap.non_sip += 1

    def _emit(self, data: bytes, time: float, transport: str = "TCP") -> None:
        self.cap.messages.append(
            TracedMessage(
                time,
                Destination(self.src[0], self.src[1], transport),
                Destination(self.dst[0], self.dst[1], transport),
                data,
            )
        )

    def _feed_sip(self, data: bytes, time: float) -> None:
        parser = self.parser
        assert parser is not None
        self.raw += data
        try:
            items = parser.feed(data)
        except ParseError:
            items = []
        self._take(items, time)
        if parser.error is not None:
            self._flush_broken()

    def _take(self, items: list[Request | Response | KeepAlive], time: float) -> None:
        """Cut the raw bytes of each framed message off the front of ``self.raw``."""
        raw = self.raw
        for item in items:
            if isinstance(item, KeepAlive):
                self.cap.keepalives += 1
                n = 0
                while n < len(raw) and raw[n] in (10, 13) and n < 4:
                    n += 1
                del raw[:n]
                continue
            n = 0
            while n < len(raw) and raw[n] in (10, 13):
                n += 1
            end = raw.find(b"\r\n\r\n", n)
            body = item.body
            stop = end + 4 + len(body) if end >= 0 else len(raw)
            self._emit(bytes(raw[n:stop]), time)
            del raw[:stop]
        parser = self.parser
        if parser is not None and parser.error is None and len(raw) != parser.buffered:
            del raw[: max(0, len(raw) - parser.buffered)]

    def _flush_broken(self) -> None:
        """A framing error (§18.3): keep the faulty bytes as one malformed message, then
        resume at the next start line."""
        raw = bytes(self.raw)
        self.raw.clear()
        self.parser = StreamParser(limits=CAPTURE_LIMITS)
        found = _RESYNC.search(raw)
        bad, rest = (raw[: found.start() + 2], raw[found.start() + 2 :]) if found else (raw, b"")
        if bad.strip(b"\r\n"):
            self.cap.warnings.append(
                f"TCP {self._name()}: {len(bad)} bytes could not be framed as SIP"
            )
            self._emit(bad, self.last_time)
        if rest:
            self._feed_sip(rest, self.last_time)

    def _frames(self, time: float) -> None:
        buf = self.buf
        while self.mode == "ws" and len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length = b1 & 0x7F
            pos = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf[2:4], "big")
                pos = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf[2:10], "big")
                pos = 10
            if length > _MAX_WS_FRAME:
                self.cap.warnings.append(f"WS {self._name()}: frame of {length} bytes dropped")
                self.mode = "broken"
                return
            key = b""
            if b1 & 0x80:
                if len(buf) < pos + 4:
                    return
                key = bytes(buf[pos : pos + 4])
                pos += 4
            if len(buf) < pos + length:
                return
            payload = bytes(buf[pos : pos + length])
            del buf[: pos + length]
            if key:
                payload = _unmask(payload, key)
            opcode = b0 & 0x0F
            if opcode >= 8:
                continue  # close, ping, pong (RFC 6455 §5.5)
            if opcode in (1, 2):
                self.frag = bytearray(payload)
                self.frag_compressed = bool(b0 & 0x40)
                self.in_message = True
            elif opcode == 0 and self.in_message:
                self.frag += payload
            else:
                self.cap.warnings.append(f"WS {self._name()}: unexpected opcode {opcode}")
                self.mode = "broken"
                return
            if b0 & 0x80:
                self.in_message = False
                self._ws_message(bytes(self.frag), time)

    def _ws_message(self, data: bytes, time: float) -> None:
        if self.frag_compressed:
            if self.inflater is None:
                self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
            except zlib.error as exc:
                self.cap.warnings.append(f"WS {self._name()}: bad deflate data ({exc})")
                self.mode = "broken"
                return
        if not data.strip(b"\r\n"):
            self.cap.keepalives += 1
            return
        self._emit(data, time, "WS")


def _ip_payload(linktype: int, buf: bytes) -> bytes | None:
    """The IP packet inside one link-layer frame, or None for anything else."""
    if linktype == 1:
        eth = dpkt.ethernet.Ethernet(buf)
        inner = eth.data
        if isinstance(inner, (dpkt.ip.IP, dpkt.ip6.IP6)):
            return bytes(inner)
        return None
    if linktype in (101, 228, 229, 12, 14):
        ip = buf
    elif linktype in (0, 108):
        ip = buf[4:]
    elif linktype == 113:
        if len(buf) < 16 or buf[14:16] not in (b"\x08\x00", b"\x86\xdd"):
            return None
        ip = buf[16:]
    elif linktype == 276:
        if len(buf) < 20 or buf[0:2] not in (b"\x08\x00", b"\x86\xdd"):
            return None
        ip = buf[20:]
    else:
        raise CaptureError(f"unsupported link type {linktype}")
    return ip if ip and ip[0] >> 4 in (4, 6) else None


class _Reader:
    def __init__(self, cap: Capture) -> None:
        self.cap = cap
        self.streams: dict[tuple[str, int, str, int], _Direction] = {}
        self.fragments = 0
        self.truncated = 0
        self.undecodable = 0

    def packet(self, linktype: int, time: float, buf: bytes) -> None:
        self.cap.packets += 1
        try:
            ip_bytes = _ip_payload(linktype, buf)
            if ip_bytes is None:
                return
            if ip_bytes[0] >> 4 == 4:
                ip = dpkt.ip.IP(ip_bytes)
                if ip.mf or ip.offset:
                    self.fragments += 1
                    return
                if ip.len > len(ip_bytes):
                    self.truncated += 1
            else:
                ip = dpkt.ip6.IP6(ip_bytes)
                if ip.plen + 40 > len(ip_bytes):
                    self.truncated += 1
            src, dst = _address(ip.src), _address(ip.dst)
            l4 = ip.data
        except CaptureError:
            raise
        except Exception:  # dpkt raises many types on damaged packets: one boundary
            self.undecodable += 1
            return
        if isinstance(l4, dpkt.udp.UDP):
            self._udp(time, src, dst, l4)
        elif isinstance(l4, dpkt.tcp.TCP):
            self._tcp(time, src, dst, l4)

    def _udp(self, time: float, src: str, dst: str, udp: dpkt.udp.UDP) -> None:
        data = bytes(udp.data)
        if not data.strip(b"\r\n\x00"):
            self.cap.keepalives += 1
            return
        if not looks_like_sip(data):
            self.cap.non_sip += 1
            return
        self.cap.messages.append(
            TracedMessage(
                time,
                Destination(src, int(udp.sport), "UDP"),
                Destination(dst, int(udp.dport), "UDP"),
                data,
            )
        )

    def _tcp(self, time: float, src: str, dst: str, tcp: dpkt.tcp.TCP) -> None:
        key = (src, int(tcp.sport), dst, int(tcp.dport))
        flags = int(tcp.flags)
        direction = self.streams.get(key)
        if direction is None or (flags & dpkt.tcp.TH_SYN and direction.mode is not None):
            if direction is not None:
                direction.finish()  # a new connection on the same 4-tuple
            direction = _Direction((src, key[1]), (dst, key[3]), self.cap)
            self.streams[key] = direction
        if direction.mode in ("other", "broken"):
            return
        direction.segment(int(tcp.seq), bool(flags & dpkt.tcp.TH_SYN), bytes(tcp.data), time)

    def finish(self) -> None:
        for direction in self.streams.values():
            if direction.mode not in ("other", "broken"):
                direction.finish()
        if self.fragments:
            self.cap.warnings.append(f"{self.fragments} IP fragment(s) not reassembled")
        if self.truncated:
            self.cap.warnings.append(f"{self.truncated} packet(s) truncated (snap length)")
        if self.undecodable:
            self.cap.warnings.append(f"{self.undecodable} packet(s) could not be decoded")


def _packets(data: bytes, cap: Capture) -> tuple[int, Iterator[tuple[float, bytes]]]:
    f = io.BytesIO(data)
    try:
        if data[:4] == PCAPNG_MAGIC:
            cap.format = "pcapng"
            reader = dpkt.pcapng.Reader(f)
        else:
            reader = dpkt.pcap.Reader(f)
        linktype = int(reader.datalink())
    except Exception as exc:  # dpkt: ValueError, struct.error, NeedData... on a bad header
        raise CaptureError(f"not a readable {cap.format} file: {exc}") from None
    return linktype, iter(reader)


def read_pcap(data: bytes) -> Capture:
    """Every SIP message in a pcap or pcapng file's bytes, in capture order."""
    cap = Capture()
    linktype, packets = _packets(data, cap)
    reader = _Reader(cap)
    while True:
        try:
            item = next(packets)
        except StopIteration:
            break
        except Exception as exc:  # a damaged or truncated record: keep what was read
            cap.warnings.append(
                f"capture truncated or damaged after {cap.packets} packet(s) "
                f"({type(exc).__name__}); the rest was not read"
            )
            break
        ts, buf = item
        reader.packet(linktype, float(ts), bytes(buf))
    reader.finish()
    return cap


def read_capture_bytes(data: bytes) -> Capture:
    """pcap, pcapng or a SIPp ``-trace_msg`` log, told apart by their first bytes."""
    if data[:4] in PCAP_MAGICS or data[:4] == PCAPNG_MAGIC:
        return read_pcap(data)
    from .log import looks_like_sipp_log, read_sipp_log

    if looks_like_sipp_log(data):
        return read_sipp_log(data)
    raise CaptureError("not a pcap, pcapng or SIPp message log")


def read_capture(path: str | Path) -> Capture:
    """Read a capture file (raises OSError if it cannot be opened, CaptureError if it is
    no capture at all)."""
    return read_capture_bytes(Path(path).read_bytes())
