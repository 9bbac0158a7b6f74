"""A minimal pure-Python pcap writer for test fixtures.

Writes classic libpcap files (magic 0xa1b2c3d4, version 2.4, microsecond timestamps) with
LINKTYPE_RAW (101): every record is a bare IPv4 header + UDP header + payload. One SIP
message per packet, no fragmentation (IPv4 total length is a 16-bit field, so a payload is
limited to 65 507 octets; SIP over loopback fits easily).

The UDP checksum is written as 0 ("no checksum", legal for UDP over IPv4) and the IPv4
header checksum is computed, so dissectors see well-formed packets.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "LINKTYPE_RAW",
    "MAX_UDP_PAYLOAD",
    "ipv4_checksum",
    "ipv4_udp_packet",
    "pcap_bytes",
    "write_pcap",
]

LINKTYPE_RAW = 101
PCAP_MAGIC = 0xA1B2C3D4
SNAPLEN = 65535
IPV4_HEADER_LEN = 20
UDP_HEADER_LEN = 8
MAX_UDP_PAYLOAD = 0xFFFF - IPV4_HEADER_LEN - UDP_HEADER_LEN
IPPROTO_UDP = 17
DEFAULT_TTL = 64


def ipv4_checksum(header: bytes) -> int:
    """RFC 791 header checksum: one's complement of the one's-complement sum of 16-bit words."""
    if len(header) % 2:
        header += b"\x00"
    total = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp_packet(
    payload: bytes,
    *,
    src: str = "127.0.0.1",
    dst: str = "127.0.0.1",
    sport: int = 5060,
    dport: int = 5060,
    ident: int = 0,
) -> bytes:
    """Return one IPv4 datagram (no options, DF set) carrying ``payload`` in UDP."""
    if len(payload) > MAX_UDP_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} octets does not fit one IPv4/UDP datagram")
    for port in (sport, dport):
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"port out of range: {port}")
    udp_len = UDP_HEADER_LEN + len(payload)
    total_len = IPV4_HEADER_LEN + udp_len
    src_b = ipaddress.IPv4Address(src).packed
    dst_b = ipaddress.IPv4Address(dst).packed
    flags_frag = 0x4000  # DF, fragment offset 0
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,  # version 4, IHL 5 words
        0,  # DSCP/ECN
        total_len,
        ident & 0xFFFF,
        flags_frag,
        DEFAULT_TTL,
        IPPROTO_UDP,
        0,  # checksum placeholder
        src_b,
        dst_b,
    )
    header = header[:10] + struct.pack("!H", ipv4_checksum(header)) + header[12:]
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0)
    return header + udp + payload


def pcap_bytes(
    payloads: Iterable[bytes],
    *,
    sport: int = 5060,
    dport: int = 5060,
    src: str = "127.0.0.1",
    dst: str = "127.0.0.1",
    start_time: int = 1_700_000_000,
) -> bytes:
    """Return a whole pcap file (LINKTYPE_RAW), one UDP packet per payload, 1 ms apart."""
    out = bytearray(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW))
    for index, payload in enumerate(payloads):
        packet = ipv4_udp_packet(payload, src=src, dst=dst, sport=sport, dport=dport, ident=index)
        usec_total = index * 1000
        ts_sec = start_time + usec_total // 1_000_000
        ts_usec = usec_total % 1_000_000
        out += struct.pack("<IIII", ts_sec, ts_usec, len(packet), len(packet))
        out += packet
    return bytes(out)


def write_pcap(
    path: str | Path,
    payloads: Iterable[bytes],
    sport: int = 5060,
    dport: int = 5060,
) -> None:
    """Write ``payloads`` to ``path`` as a pcap file, payload *i* in frame *i + 1*."""
    Path(path).write_bytes(pcap_bytes(payloads, sport=sport, dport=dport))
