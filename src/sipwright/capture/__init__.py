"""Reading and writing SIP captures: the I/O shell around :mod:`sipwright.ladder`.

``pcap.py`` reads pcap and pcapng files (with dpkt): UDP, TCP reassembled per direction and
WebSocket frames (RFC 7118), IPv4 and IPv6. ``log.py`` reads SIPp's ``-trace_msg`` message
log. ``pcap_writer.py`` writes what a server sends and receives as pcap (``sipwright serve
--pcap``). ``cli_ladder.py`` is the ``sipwright ladder`` command. See docs/ladder.md.
"""

from __future__ import annotations

from ..errors import SipError

__all__ = ["CaptureError"]


class CaptureError(SipError):
    """A capture or log that cannot be read at all (unknown format, not a capture).

    Damage inside a readable file (a truncated record, an undecodable packet) is not an
    error: what could be read is returned, with warnings.
    """
