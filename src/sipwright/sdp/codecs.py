"""RTP payload formats: the :class:`Codec` view and the RFC 3551 static payload types.

An m-line of an RTP profile lists payload type numbers; what each means comes from its
``a=rtpmap`` (RFC 8866 §6.6) or, for the static numbers of RFC 3551 §6 (Tables 4 and 5), from
the profile itself, which is why an SDP may say ``m=audio 49170 RTP/AVP 0`` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._syntax import check_byte_string, check_token
from .errors import SdpError

__all__ = [
    "AUXILIARY_ENCODINGS",
    "STATIC_PAYLOAD_TYPES",
    "Codec",
    "static_codec",
]


@dataclass(frozen=True)
class Codec:
    """One RTP payload format: payload type number, encoding, clock rate, channels, fmtp.

    ``channels`` is the audio channel count (the rtpmap ``encoding parameters``, 1 when
    absent, RFC 8866 §6.6); ``fmtp`` the format-specific parameters (RFC 8866 §6.15) as
    written, or None. Codecs are *matched* across an offer and an answer by encoding name
    (case-insensitively, RFC 4855 §3), clock rate and channels, never by payload type
    number: dynamic numbers are local to each description (RFC 3264 §6.1).
    """

    payload_type: int
    encoding_name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise SdpError(f"RTP payload type out of range (0-127): {self.payload_type}")
        check_token(self.encoding_name, "encoding name")
        if self.clock_rate <= 0:
            raise SdpError(f"clock rate must be positive: {self.clock_rate}")
        if self.channels <= 0:
            raise SdpError(f"channel count must be positive: {self.channels}")
        if self.fmtp is not None:
            check_byte_string(self.fmtp, "fmtp parameters")

    @property
    def is_static(self) -> bool:
        """True for a payload type below 96, whose meaning the profile fixes (RFC 3551 §6)."""
        return self.payload_type < 96

    @property
    def key(self) -> tuple[str, int, int]:
        """What identifies the format regardless of payload type: (name, rate, channels)."""
        return (self.encoding_name.casefold(), self.clock_rate, self.channels)

    def matches(self, other: Codec) -> bool:
        """Same encoding name (any case), clock rate and channel count (RFC 3264 §6.1)."""
        return self.key == other.key

    @property
    def is_telephone_event(self) -> bool:
        """RFC 4733 DTMF events (``telephone-event``)."""
        return self.encoding_name.casefold() == "telephone-event"

    @property
    def is_auxiliary(self) -> bool:
        """A format that carries no media of its own (DTMF, comfort noise, RED, RTX, FEC).

        A stream whose only common formats are auxiliary ones is useless, so the answerer
        rejects it rather than accept e.g. a call made of telephone-event alone.
        """
        return self.encoding_name.casefold() in AUXILIARY_ENCODINGS

    @property
    def fmtp_params(self) -> dict[str, str]:
        """The fmtp as ``name=value`` pairs split on ``;`` (a bare item maps to ``""``)."""
        return parse_fmtp_params(self.fmtp or "")

    def rtpmap_value(self) -> str:
        """The value of this codec's ``a=rtpmap`` line (channels written only when not 1)."""
        value = f"{self.payload_type} {self.encoding_name}/{self.clock_rate}"
        if self.channels != 1:
            value += f"/{self.channels}"
        return value

    def with_payload_type(self, payload_type: int) -> Codec:
        """The same codec under another payload type number."""
        return Codec(payload_type, self.encoding_name, self.clock_rate, self.channels, self.fmtp)


def parse_fmtp_params(text: str) -> dict[str, str]:
    """Split the common ``a=b;c=d`` form of fmtp parameters (whitespace around items ignored).

    Not every payload format uses this form (``telephone-event`` uses ``0-15``): such an
    item maps to an empty string, and the raw text stays available on the codec.
    """
    params: dict[str, str] = {}
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        params[name.strip()] = value.strip() if sep else ""
    return params


#: Encodings that carry no media of their own (see :attr:`Codec.is_auxiliary`).
AUXILIARY_ENCODINGS: frozenset[str] = frozenset(
    {"telephone-event", "cn", "red", "rtx", "ulpfec", "flexfec", "flexfec-03"}
)

#: RFC 3551 §6, Tables 4 (audio) and 5 (video): payload type -> (encoding, clock rate, channels).
#: Numbers 1, 2 and 19 are reserved (2 was G721/G726-32, now dynamic), hence absent.
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, 1),
    26: ("JPEG", 90000, 1),
    28: ("nv", 90000, 1),
    31: ("H261", 90000, 1),
    32: ("MPV", 90000, 1),
    33: ("MP2T", 90000, 1),
    34: ("H263", 90000, 1),
}


def static_codec(payload_type: int, fmtp: str | None = None) -> Codec | None:
    """The codec a static payload type stands for without an rtpmap, or None if unassigned."""
    entry = STATIC_PAYLOAD_TYPES.get(payload_type)
    if entry is None:
        return None
    name, rate, channels = entry
    return Codec(payload_type, name, rate, channels, fmtp)
