"""Write SIP messages as a pcap file that tshark/Wireshark dissect as SIP.

Classic libpcap format (magic 0xa1b2c3d4, microseconds) with LINKTYPE_RAW (101): each
record is an IPv4 or IPv6 header, then UDP or TCP, then exactly one SIP message.

* UDP messages become one datagram each.
* TCP, TLS, WS and WSS messages become TCP segments (PSH|ACK) with sequence and
  acknowledgement numbers kept consistent per direction, so a dissector reassembles them
  as one stream per connection. TLS and WebSocket framing is *not* reproduced: the tap sees
  the decrypted, unframed SIP message, and that is what is written (the file shows the SIP
  traffic, not the bytes on the wire). A message larger than one IP packet is split into
  several segments.
* Host names that are not IP literals are written as 0.0.0.0 (the tap normally sees
  addresses only).

Checksums are computed (IPv4 header, UDP, TCP), cheaply: the one's-complement sum of
RFC 1071 equals the big-endian integer of the bytes modulo 0xFFFF.

Used by ``sipwright serve --pcap FILE``: one writer per worker process. Writes are buffered
and flushed at most once a second (by message time) and on :meth:`PcapWriter.close`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import struct
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from ..ladder import TracedMessage
from ..transaction.events import Destination

__all__ = ["LINKTYPE_RAW", "PcapWriter"]

LINKTYPE_RAW = 101
_MAGIC = 0xA1B2C3D4
_SNAPLEN = 262144
_MAX_SEGMENT = 65000  # payload per packet, below the 16-bit IPv4/IPv6 length fields
_IPPROTO_TCP = 6
_IPPROTO_UDP = 17
_TCP_PSH_ACK = 0x18
_FLUSH_EVERY = 1.0


@lru_cache(maxsize=1024)
def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return ipaddress.IPv4Address(0)


def _checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum (in one C-level big-int operation)."""
    if len(data) % 2:
        data += b"\x00"
    total = int.from_bytes(data, "big") % 0xFFFF
    if total == 0 and any(data):
        total = 0xFFFF
    return ~total & 0xFFFF


class PcapWriter:
    """``PcapWriter(path)``: :meth:`write` one :class:`TracedMessage` at a time, then
    :meth:`close`. Not thread-safe; meant for one event loop."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(struct.pack("<IHHiIII", _MAGIC, 2, 4, 0, 0, _SNAPLEN, LINKTYPE_RAW))
        self._seq: dict[tuple[Destination, Destination], int] = {}
        self._ident = 0
        self._last_flush = 0.0
        self.written = 0
        #: The write error that stopped the capture (disk full…), if any: a tap must never
        #: raise into the transport that calls it, so the writer stops and says why.
        self.error: OSError | None = None

    def write(self, msg: TracedMessage) -> None:
        """Append one message (several records if it must be split). After :meth:`close`
        this does nothing."""
        f = self._file
        if f is None:
            return
        try:
            self._write(f, msg)
        except OSError as exc:
            self.error = exc
            self._file = None
            with contextlib.suppress(OSError):
                f.close()

    def _write(self, f: BinaryIO, msg: TracedMessage) -> None:
        src, dst = msg.source, msg.destination
        data = msg.data
        if src.transport == "UDP":
            self._record(f, msg.time, src, dst, _IPPROTO_UDP, self._udp(src, dst, data))
        else:
            key = (src, dst)
            seq = self._seq.get(key, 1)
            ack = self._seq.get((dst, src), 1)
            for start in range(0, max(len(data), 1), _MAX_SEGMENT):
                chunk = data[start : start + _MAX_SEGMENT]
                segment = self._tcp(src, dst, seq, ack, chunk)
                self._record(f, msg.time, src, dst, _IPPROTO_TCP, segment)
                seq = (seq + len(chunk)) % (1 << 32)
            self._seq[key] = seq
        self.written += 1
        if msg.time - self._last_flush >= _FLUSH_EVERY:
            self._last_flush = msg.time
            f.flush()

    def _pseudo(self, src: Destination, dst: Destination, proto: int, length: int) -> bytes:
        s, d = _ip(src.host), _ip(dst.host)
        if s.version == 6 or d.version == 6:
            s6 = s if s.version == 6 else ipaddress.IPv6Address(f"::ffff:{s}")
            d6 = d if d.version == 6 else ipaddress.IPv6Address(f"::ffff:{d}")
            return s6.packed + d6.packed + struct.pack("!I3xB", length, proto)
        return s.packed + d.packed + struct.pack("!xBH", proto, length)

    def _udp(self, src: Destination, dst: Destination, data: bytes) -> bytes:
        length = 8 + len(data)
        header = struct.pack("!HHHH", src.port, dst.port, length, 0)
        csum = _checksum(self._pseudo(src, dst, _IPPROTO_UDP, length) + header + data)
        return struct.pack("!HHHH", src.port, dst.port, length, csum or 0xFFFF) + data

    def _tcp(self, src: Destination, dst: Destination, seq: int, ack: int, data: bytes) -> bytes:
        header = struct.pack(
            "!HHIIBBHHH", src.port, dst.port, seq, ack, 5 << 4, _TCP_PSH_ACK, 65535, 0, 0
        )
        length = len(header) + len(data)
        csum = _checksum(self._pseudo(src, dst, _IPPROTO_TCP, length) + header + data)
        return header[:16] + struct.pack("!H", csum) + header[18:] + data

    def _record(
        self, f: BinaryIO, time: float, src: Destination, dst: Destination, proto: int, l4: bytes
    ) -> None:
        s, d = _ip(src.host), _ip(dst.host)
        if s.version == 6 or d.version == 6:
            s6 = s if s.version == 6 else ipaddress.IPv6Address(f"::ffff:{s}")
            d6 = d if d.version == 6 else ipaddress.IPv6Address(f"::ffff:{d}")
            ip = struct.pack("!IHBB", 6 << 28, len(l4), proto, 64) + s6.packed + d6.packed
        else:
            self._ident = (self._ident + 1) & 0xFFFF
            head = struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(l4),
                self._ident,
                0x4000,
                64,
                proto,
                0,
                s.packed,
                d.packed,
            )
            ip = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
        packet = ip + l4
        sec = int(time)
        usec = min(999_999, round((time - sec) * 1_000_000))
        f.write(struct.pack("<IIII", sec, usec, len(packet), len(packet)))
        f.write(packet)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
