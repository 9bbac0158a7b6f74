"""SDP (RFC 8866) for sipwright: parse, build and serialise session descriptions, and answer
offers (RFC 3264). Pure functions and frozen values, no I/O.

    sd = SessionDescription.parse(body)          # SdpError (a ValueError) if malformed
    sd.media[0].codecs, sd.media[0].effective_direction, bytes(sd)
    answer = make_answer(sd, LocalCapabilities(...))   # NoCommonMedia (488) if nothing fits
"""

from .attributes import (
    Attribute,
    Candidate,
    Crypto,
    Direction,
    ExtMap,
    Fingerprint,
    Fmtp,
    Group,
    Msid,
    Rtcp,
    RtcpFb,
    RtpMap,
    Setup,
)
from .codecs import STATIC_PAYLOAD_TYPES, Codec, static_codec
from .errors import NoCommonMedia, SdpError
from .model import (
    Bandwidth,
    Connection,
    Key,
    Media,
    Origin,
    Repeat,
    SdpIssue,
    SessionDescription,
    Timing,
    ZoneAdjustments,
)
from .offer_answer import (
    LocalCapabilities,
    MediaCapability,
    is_hold,
    make_answer,
    make_offer,
    next_version,
)
from .parser import parse_sdp

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "Attribute",
    "Bandwidth",
    "Candidate",
    "Codec",
    "Connection",
    "Crypto",
    "Direction",
    "ExtMap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "Key",
    "LocalCapabilities",
    "Media",
    "MediaCapability",
    "Msid",
    "NoCommonMedia",
    "Origin",
    "Repeat",
    "Rtcp",
    "RtcpFb",
    "RtpMap",
    "SdpError",
    "SdpIssue",
    "SessionDescription",
    "Setup",
    "Timing",
    "ZoneAdjustments",
    "is_hold",
    "make_answer",
    "make_offer",
    "next_version",
    "parse_sdp",
    "static_codec",
]
