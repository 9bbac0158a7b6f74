"""The SDP data model (RFC 8866): one frozen dataclass per kind of line.

Design:

* Every value is typed (ints for ports and versions, enums for directions) and checked on
  construction, so a description built in code cannot serialise to something the parser
  would refuse, nor smuggle a line break into a field.
* A value read by the parser remembers the exact text it came from (``_raw``, invisible to
  ``==`` and ``repr``); serialising an unchanged value writes that text back, which makes
  ``bytes(SessionDescription.parse(x)) == x`` hold for every well-formed CRLF input, even
  where the grammar allows several spellings of one value (``o=- 01 ...``, ``r=7d`` vs
  ``r=604800``). :func:`dataclasses.replace` drops the memory, so a changed value is always
  written in canonical form.
* Attributes stay generic :class:`~.attributes.Attribute` lines (unknown ones verbatim,
  RFC 8866 §5.13); typed views such as :attr:`Media.codecs` or :attr:`Media.candidates` are
  computed from them on access and skip a malformed line (which the parser reports in
  :attr:`SessionDescription.issues`).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from ._syntax import (
    check_byte_string,
    check_non_ws,
    check_token,
    check_unicast_address,
)
from .attributes import (
    DIRECTION_NAMES,
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
    format_ptime,
    parse_ptime,
)
from .codecs import Codec, static_codec
from .errors import SdpError

__all__ = [
    "Bandwidth",
    "Connection",
    "Key",
    "Media",
    "Origin",
    "Repeat",
    "SdpIssue",
    "SessionDescription",
    "Timing",
    "ZoneAdjustments",
]

_T = TypeVar("_T")

_PROTO_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+(/[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+)*\Z")
_TYPED_TIME_RE = re.compile(r"[0-9]{1,20}[dhms]?\Z")
_OFFSET_RE = re.compile(r"-?[0-9]{1,20}[dhms]?\Z")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_MAX_PORT = 65535


def _remember(obj: _T, raw: str) -> _T:
    """Attach the text ``obj`` was parsed from, so that it serialises back unchanged."""
    object.__setattr__(obj, "_raw", raw)
    return obj


def _tuple(value: Iterable[_T], what: str) -> tuple[_T, ...]:
    if isinstance(value, str | bytes):
        raise SdpError(f"{what} must be a sequence of items, not a string")
    return tuple(value)


def _check_uint(value: int, what: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SdpError(f"{what} must be a non-negative integer, got {value!r}")
    if maximum is not None and value > maximum:
        raise SdpError(f"{what} out of range (0-{maximum}): {value}")
    return value


def _infer_addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def typed_time_seconds(text: str) -> int:
    """Seconds denoted by an RFC 8866 §5.10 ``typed-time`` (``7d``, ``-1h``, ``3600``)."""
    negative = text.startswith("-")
    body = text[1:] if negative else text
    unit = _UNIT_SECONDS.get(body[-1:], 1)
    digits = body[:-1] if body[-1:] in _UNIT_SECONDS else body
    seconds = int(digits) * unit
    return -seconds if negative else seconds


@dataclass(frozen=True)
class SdpIssue:
    """Something the parser tolerated but a linter should report, on a 1-based ``line``.

    ``code`` is stable and machine-readable: ``bare-lf`` (line ended in LF without CR;
    RFC 8866 §5 wants CRLF), ``no-final-eol``, ``trailing-blank-line``, ``empty-text``
    (``s=`` or ``i=`` with no text, RFC 8866 §5.3 asks for ``s= `` or ``s=-``),
    ``bad-attribute`` (a known attribute with a malformed value, ignored by the typed views),
    ``no-rtpmap`` (dynamic payload type without ``a=rtpmap``, RFC 8866 §6.6),
    ``no-connection`` (a media description with no ``c=`` here or at session level,
    RFC 8866 §5.7), ``conflicting-direction`` (several direction attributes at one level).
    """

    line: int
    code: str
    message: str


@dataclass(frozen=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`` (§5.2).

    ``(username, sess_id, nettype, addrtype, address)`` identifies the session globally;
    ``sess_version`` goes up by one with each changed description from the same party
    (RFC 3264 §8). ``addrtype`` left empty is inferred from ``address`` (``IP6`` if it has
    a colon, else ``IP4``).
    """

    username: str
    sess_id: int
    sess_version: int
    address: str
    nettype: str = "IN"
    addrtype: str = ""
    _raw: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_non_ws(self.username, "origin username")
        _check_uint(self.sess_id, "origin sess-id")
        _check_uint(self.sess_version, "origin sess-version")
        check_token(self.nettype, "origin nettype")
        if not self.addrtype:
            object.__setattr__(self, "addrtype", _infer_addrtype(self.address))
        check_token(self.addrtype, "origin addrtype")
        check_unicast_address(self.addrtype, self.address, "origin address")

    def __str__(self) -> str:
        if self._raw is not None:
            return self._raw
        return (
            f"{self.username} {self.sess_id} {self.sess_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )

    def with_version(self, sess_version: int) -> Origin:
        """The same origin with another session version."""
        return replace(self, sess_version=sess_version)


@dataclass(frozen=True)
class Connection:
    """``c=<nettype> <addrtype> <connection-address>`` (RFC 8866 §5.7).

    For IPv4 multicast the address carries ``/<ttl>[/<number of addresses>]``; for IPv6
    multicast only ``[/<number of addresses>]``: ``ttl`` and ``count`` hold those. Unicast
    addresses take neither. ``addrtype`` left empty is inferred from ``address``.
    """

    address: str
    nettype: str = "IN"
    addrtype: str = ""
    ttl: int | None = None
    count: int | None = None
    _raw: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_token(self.nettype, "connection nettype")
        if not self.addrtype:
            object.__setattr__(self, "addrtype", _infer_addrtype(self.address))
        check_token(self.addrtype, "connection addrtype")
        check_unicast_address(self.addrtype, self.address, "connection address")
        if self.ttl is not None:
            _check_uint(self.ttl, "connection TTL", 255)
            if self.addrtype != "IP4" or not self.is_multicast:
                raise SdpError("a TTL is only allowed on an IPv4 multicast address (RFC 8866 §5.7)")
        if self.count is not None:
            _check_uint(self.count, "connection address count")
            if self.count == 0:
                raise SdpError("connection address count must be positive")
            if not self.is_multicast:
                raise SdpError("an address count is only allowed on a multicast address")
            if self.addrtype == "IP4" and self.ttl is None:
                raise SdpError("an IPv4 multicast address count needs a TTL before it")

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The address as an IP address object, or None for a domain name."""
        try:
            return ipaddress.ip_address(self.address)
        except ValueError:
            return None

    @property
    def is_multicast(self) -> bool:
        ip = self.ip
        return ip is not None and ip.is_multicast

    @property
    def is_unspecified(self) -> bool:
        """``0.0.0.0`` (or ``::``): the RFC 2543 way of putting a call on hold (RFC 3264 §8.4)."""
        ip = self.ip
        return ip is not None and ip.is_unspecified

    def __str__(self) -> str:
        if self._raw is not None:
            return self._raw
        address = self.address
        if self.ttl is not None:
            address += f"/{self.ttl}"
        if self.count is not None:
            address += f"/{self.count}"
        return f"{self.nettype} {self.addrtype} {address}"


@dataclass(frozen=True)
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (RFC 8866 §5.8), e.g. ``AS:64`` in kilobits per second."""

    bwtype: str
    bandwidth: int
    _raw: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_token(self.bwtype, "bandwidth type")
        _check_uint(self.bandwidth, "bandwidth")

    def __str__(self) -> str:
        return self._raw if self._raw is not None else f"{self.bwtype}:{self.bandwidth}"


@dataclass(frozen=True)
class Repeat:
    """``r=<repeat interval> <active duration> <offsets...>`` (RFC 8866 §5.10).

    Values stay in their ``typed-time`` spelling (``7d``, ``1h``, ``25h``, ``3600``);
    :meth:`seconds` converts.
    """

    interval: str
    duration: str
    offsets: Sequence[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "offsets", _tuple(self.offsets, "repeat offsets"))
        for value in (self.interval, self.duration, *self.offsets):
            if not _TYPED_TIME_RE.match(value):
                raise SdpError(f"repeat time must be digits with an optional d/h/m/s: {value!r}")
        if self.interval[0] == "0":
            raise SdpError("repeat interval must not start with 0")
        if not self.offsets:
            raise SdpError("a repeat line needs at least one offset")

    def seconds(self) -> tuple[int, int, tuple[int, ...]]:
        """(interval, duration, offsets) in seconds."""
        return (
            typed_time_seconds(self.interval),
            typed_time_seconds(self.duration),
            tuple(typed_time_seconds(o) for o in self.offsets),
        )

    def __str__(self) -> str:
        return " ".join((self.interval, self.duration, *self.offsets))


@dataclass(frozen=True)
class ZoneAdjustments:
    """``z=<adjustment time> <offset> ...`` (RFC 8866 §5.11): pairs of NTP time and offset."""

    adjustments: Sequence[tuple[str, str]]

    def __post_init__(self) -> None:
        pairs = _tuple(self.adjustments, "zone adjustments")
        object.__setattr__(self, "adjustments", pairs)
        if not pairs:
            raise SdpError("a z= line needs at least one adjustment")
        for pair in pairs:
            if len(pair) != 2:
                raise SdpError("a zone adjustment is a (time, offset) pair")
            time, offset = pair
            if not re.fullmatch(r"[0-9]{1,20}", time):
                raise SdpError(f"zone adjustment time must be digits: {time!r}")
            if not _OFFSET_RE.match(offset):
                raise SdpError(f"zone offset must be a typed time: {offset!r}")

    def __str__(self) -> str:
        return " ".join(f"{time} {offset}" for time, offset in self.adjustments)


@dataclass(frozen=True)
class Timing:
    """A time description: ``t=<start> <stop>`` with its ``r=`` and ``z=`` lines (§5.9-5.11).

    Times are NTP seconds; ``t=0 0`` (the default) means a permanent session, which is what
    SIP uses (RFC 3264 §5).
    """

    start: int = 0
    stop: int = 0
    repeats: Sequence[Repeat] = ()
    zone: ZoneAdjustments | None = None
    _raw: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_uint(self.start, "start time")
        _check_uint(self.stop, "stop time")
        object.__setattr__(self, "repeats", _tuple(self.repeats, "repeats"))

    def __str__(self) -> str:
        return self._raw if self._raw is not None else f"{self.start} {self.stop}"

    def lines(self) -> list[str]:
        """The ``t=``, ``r=`` and ``z=`` lines of this time description."""
        out = [f"t={self}"]
        out += [f"r={r}" for r in self.repeats]
        if self.zone is not None:
            out.append(f"z={self.zone}")
        return out


@dataclass(frozen=True)
class Key:
    """``k=<method>[:<key>]`` (RFC 8866 §5.12, obsolete but still parsed and kept)."""

    method: str
    value: str | None = None

    def __post_init__(self) -> None:
        check_token(self.method, "key method")
        if self.value is not None:
            check_byte_string(self.value, "key value", allow_empty=True)

    def __str__(self) -> str:
        return self.method if self.value is None else f"{self.method}:{self.value}"


@dataclass(frozen=True)
class _SessionContext:
    """What a media description inherits from its session (RFC 8866 §5.7, §6.7)."""

    connection: Connection | None
    attributes: tuple[Attribute, ...]


def _values(attributes: Sequence[Attribute], name: str) -> list[str]:
    return [a.value for a in attributes if a.name == name and a.value is not None]


def _parsed(attributes: Sequence[Attribute], name: str, parser: Callable[[str], _T]) -> list[_T]:
    """Typed views of the ``name`` attributes, skipping malformed ones."""
    out: list[_T] = []
    for value in _values(attributes, name):
        try:
            out.append(parser(value))
        except SdpError:
            continue
    return out


def _first_token(attributes: Sequence[Attribute], name: str) -> str | None:
    for value in _values(attributes, name):
        try:
            return check_non_ws(value, name)
        except SdpError:
            continue
    return None


def _direction_of(attributes: Sequence[Attribute]) -> Direction | None:
    for attribute in attributes:
        if attribute.name in DIRECTION_NAMES and attribute.value is None:
            return Direction(attribute.name)
    return None


def _setup_of(attributes: Sequence[Attribute]) -> Setup | None:
    for value in _values(attributes, "setup"):
        if value in {s.value for s in Setup}:
            return Setup(value)
    return None


class _AttributeAccess:
    """Lookup helpers shared by the session and media levels."""

    attributes: Sequence[Attribute]

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=<name>`` line (``""`` for a property attribute), or None."""
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute.value if attribute.value is not None else ""
        return None

    def attribute_values(self, name: str) -> list[str]:
        """Values of every ``a=<name>`` line, in order (``""`` for property attributes)."""
        return [a.value if a.value is not None else "" for a in self.attributes if a.name == name]

    def has_attribute(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)


@dataclass(frozen=True)
class Media(_AttributeAccess):
    """A media description: ``m=<media> <port>[/<count>] <proto> <fmt> ...`` and its lines.

    Lines follow RFC 8866 §5 order: ``i=`` (``title``), ``c=`` (``connections``; several
    only for layered multicast), ``b=``, ``k=``, ``a=``. Typed views below read the
    attributes; ``effective_*`` ones fall back to the session level where the RFCs say a
    session-level value applies to every media (RFC 8866 §5.7 for ``c=``, §6.7 for the
    direction, RFC 8839 §5.4 for ICE credentials, RFC 8122 §5 for fingerprints).
    """

    media: str
    port: int
    proto: str
    formats: Sequence[str]
    port_count: int | None = None
    title: str | None = None
    connections: Sequence[Connection] = ()
    bandwidths: Sequence[Bandwidth] = ()
    key: Key | None = None
    attributes: Sequence[Attribute] = ()
    _raw: str | None = field(default=None, init=False, repr=False, compare=False)
    _session: _SessionContext | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_token(self.media, "media type")
        _check_uint(self.port, "media port", _MAX_PORT)
        if self.port_count is not None:
            _check_uint(self.port_count, "media port count")
            if self.port_count == 0:
                raise SdpError("media port count must be positive")
        if not _PROTO_RE.match(self.proto):
            raise SdpError(f"media proto must be tokens separated by '/': {self.proto!r}")
        object.__setattr__(self, "formats", _tuple(self.formats, "media formats"))
        if not self.formats:
            raise SdpError("a media description needs at least one format")
        for fmt in self.formats:
            check_token(fmt, "media format")
        if self.title is not None:
            check_byte_string(self.title, "media title", allow_empty=True)
        object.__setattr__(self, "connections", _tuple(self.connections, "connections"))
        object.__setattr__(self, "bandwidths", _tuple(self.bandwidths, "bandwidths"))
        object.__setattr__(self, "attributes", _tuple(self.attributes, "attributes"))

    # -- builders ----------------------------------------------------------------------------

    @classmethod
    def rtp(
        cls,
        media: str,
        port: int,
        codecs: Sequence[Codec],
        *,
        proto: str = "RTP/AVP",
        direction: Direction | None = None,
        ptime: int | float | None = None,
        maxptime: int | float | None = None,
        connection: Connection | None = None,
        bandwidths: Sequence[Bandwidth] = (),
        attributes: Sequence[Attribute] = (),
    ) -> Media:
        """An RTP media description for ``codecs`` in preference order.

        Writes an ``a=rtpmap`` for every codec, static ones included (RFC 3264 §5.1
        recommends it), then its ``a=fmtp`` if any, then ``ptime``, ``maxptime``, the
        direction and finally ``attributes`` as given.
        """
        lines: list[Attribute] = []
        for codec in codecs:
            lines.append(Attribute("rtpmap", codec.rtpmap_value()))
            if codec.fmtp is not None:
                lines.append(Attribute("fmtp", f"{codec.payload_type} {codec.fmtp}"))
        if ptime is not None:
            lines.append(Attribute("ptime", format_ptime(ptime)))
        if maxptime is not None:
            lines.append(Attribute("maxptime", format_ptime(maxptime)))
        if direction is not None:
            lines.append(direction.attribute())
        lines.extend(attributes)
        return cls(
            media,
            port,
            proto,
            [str(c.payload_type) for c in codecs],
            connections=() if connection is None else (connection,),
            bandwidths=bandwidths,
            attributes=lines,
        )

    def with_attributes(self, *attributes: Attribute) -> Media:
        """A copy with ``attributes`` appended."""
        return replace(self, attributes=(*self.attributes, *attributes))

    def without_attributes(self, *names: str) -> Media:
        """A copy without any attribute called one of ``names``."""
        return replace(self, attributes=[a for a in self.attributes if a.name not in names])

    def with_direction(self, direction: Direction | None) -> Media:
        """A copy whose media-level direction is ``direction`` (None: inherit the session's)."""
        kept = [a for a in self.attributes if a.name not in DIRECTION_NAMES]
        if direction is not None:
            kept.append(direction.attribute())
        return replace(self, attributes=kept)

    # -- the m-line ---------------------------------------------------------------------------

    def m_line(self) -> str:
        """The value of the ``m=`` line."""
        if self._raw is not None:
            return self._raw
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        return " ".join((self.media, port, self.proto, *self.formats))

    def lines(self) -> list[str]:
        """Every line of this media description, without line ends."""
        out = [f"m={self.m_line()}"]
        if self.title is not None:
            out.append(f"i={self.title}")
        out += [f"c={c}" for c in self.connections]
        out += [f"b={b}" for b in self.bandwidths]
        if self.key is not None:
            out.append(f"k={self.key}")
        out += [f"a={a}" for a in self.attributes]
        return out

    @property
    def is_rtp(self) -> bool:
        """True for an RTP profile (``RTP/AVP``, ``RTP/SAVPF``, ``UDP/TLS/RTP/SAVPF``...)."""
        return "RTP" in self.proto.upper().split("/")

    @property
    def is_rejected(self) -> bool:
        """Port 0: a stream rejected in an answer or disabled in an offer (RFC 3264 §6, §8.2)."""
        return self.port == 0

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The formats that are RTP payload type numbers (0-127), in m-line order."""
        return tuple(int(f) for f in self.formats if f.isdigit() and len(f) <= 3 and int(f) < 128)

    # -- connection and direction -----------------------------------------------------------

    @property
    def connection(self) -> Connection | None:
        """This media's own first ``c=`` line, or None."""
        return self.connections[0] if self.connections else None

    @property
    def effective_connection(self) -> Connection | None:
        """The media's ``c=``, else the session's (RFC 8866 §5.7)."""
        if self.connections:
            return self.connections[0]
        return self._session.connection if self._session is not None else None

    @property
    def direction(self) -> Direction | None:
        """The media-level direction attribute, or None when absent."""
        return _direction_of(self.attributes)

    @property
    def effective_direction(self) -> Direction:
        """Media-level direction, else the session-level one, else ``sendrecv`` (§6.7)."""
        direction = self.direction
        if direction is None and self._session is not None:
            direction = _direction_of(self._session.attributes)
        return direction if direction is not None else Direction.SENDRECV

    @property
    def on_hold(self) -> bool:
        """Whether this (active) stream asks the peer not to send: RFC 3264 §8.4 hold.

        ``sendonly`` or ``inactive``; or the RFC 2543 style ``c=0.0.0.0``, but only without
        ICE, where an unspecified address is the normal placeholder (RFC 8839 §4.2.1.1).
        """
        if self.port == 0:
            return False
        if self.effective_direction in (Direction.SENDONLY, Direction.INACTIVE):
            return True
        connection = self.effective_connection
        return connection is not None and connection.is_unspecified and self.ice_ufrag is None

    # -- codecs ---------------------------------------------------------------------------------

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """Well-formed ``a=rtpmap`` lines by payload type (the first one wins)."""
        out: dict[int, RtpMap] = {}
        for rtpmap in _parsed(self.attributes, "rtpmap", RtpMap.parse):
            out.setdefault(rtpmap.payload_type, rtpmap)
        return out

    @property
    def fmtps(self) -> dict[str, Fmtp]:
        """Well-formed ``a=fmtp`` lines by format (the first one wins)."""
        out: dict[str, Fmtp] = {}
        for fmtp in _parsed(self.attributes, "fmtp", Fmtp.parse):
            out.setdefault(fmtp.format, fmtp)
        return out

    @property
    def codecs(self) -> tuple[Codec, ...]:
        """The RTP payload formats in m-line (preference) order.

        Each payload type is resolved by its rtpmap, else by the RFC 3551 static table; a
        dynamic payload type without rtpmap is left out (nothing says what it is).
        """
        if not self.is_rtp:
            return ()
        rtpmaps = self.rtpmaps
        fmtps = self.fmtps
        out: list[Codec] = []
        for pt in self.payload_types:
            fmtp = fmtps.get(str(pt))
            params = fmtp.parameters if fmtp is not None else None
            rtpmap = rtpmaps.get(pt)
            codec = rtpmap.codec(params) if rtpmap is not None else static_codec(pt, params)
            if codec is not None:
                out.append(codec)
        return tuple(out)

    def codec(self, payload_type: int) -> Codec | None:
        """The codec for one payload type, or None."""
        for codec in self.codecs:
            if codec.payload_type == payload_type:
                return codec
        return None

    @property
    def telephone_events(self) -> tuple[Codec, ...]:
        """The RFC 4733 ``telephone-event`` formats (one per clock rate offered)."""
        return tuple(c for c in self.codecs if c.is_telephone_event)

    @property
    def ptime(self) -> int | float | None:
        """``a=ptime`` in milliseconds (RFC 8866 §6.4)."""
        found = _parsed(self.attributes, "ptime", parse_ptime)
        return found[0] if found else None

    @property
    def maxptime(self) -> int | float | None:
        """``a=maxptime`` in milliseconds (RFC 8866 §6.5)."""
        found = _parsed(self.attributes, "maxptime", parse_ptime)
        return found[0] if found else None

    @property
    def rtcp_fbs(self) -> tuple[RtcpFb, ...]:
        """``a=rtcp-fb`` lines (RFC 4585)."""
        return tuple(_parsed(self.attributes, "rtcp-fb", RtcpFb.parse))

    # -- transport ------------------------------------------------------------------------------

    @property
    def rtcp(self) -> Rtcp | None:
        """``a=rtcp`` (RFC 3605): RTCP port and optional address."""
        found = _parsed(self.attributes, "rtcp", Rtcp.parse)
        return found[0] if found else None

    @property
    def rtcp_mux(self) -> bool:
        """``a=rtcp-mux`` (RFC 5761 §5.1.1): RTP and RTCP share one port."""
        return self.has_attribute("rtcp-mux")

    @property
    def mid(self) -> str | None:
        """``a=mid`` (RFC 5888 §4): the identification tag used by ``a=group``."""
        return _first_token(self.attributes, "mid")

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """ICE candidates (RFC 8839 §5.1)."""
        return tuple(_parsed(self.attributes, "candidate", Candidate.parse))

    @property
    def end_of_candidates(self) -> bool:
        """``a=end-of-candidates`` (RFC 8840 §8.2)."""
        return self.has_attribute("end-of-candidates")

    def _inherited(self, name: str) -> list[Attribute]:
        if any(a.name == name for a in self.attributes):
            return [a for a in self.attributes if a.name == name]
        if self._session is None:
            return []
        return [a for a in self._session.attributes if a.name == name]

    @property
    def ice_ufrag(self) -> str | None:
        """``a=ice-ufrag`` here or at session level (RFC 8839 §5.4)."""
        return _first_token(self._inherited("ice-ufrag"), "ice-ufrag")

    @property
    def ice_pwd(self) -> str | None:
        """``a=ice-pwd`` here or at session level (RFC 8839 §5.4)."""
        return _first_token(self._inherited("ice-pwd"), "ice-pwd")

    @property
    def ice_options(self) -> tuple[str, ...]:
        """``a=ice-options`` tags here or at session level (RFC 8839 §5.6)."""
        values = _values(self._inherited("ice-options"), "ice-options")
        return tuple(tag for value in values for tag in value.split(" ") if tag)

    @property
    def fingerprints(self) -> tuple[Fingerprint, ...]:
        """``a=fingerprint`` lines here, else at session level (RFC 8122 §5)."""
        return tuple(_parsed(self._inherited("fingerprint"), "fingerprint", Fingerprint.parse))

    @property
    def setup(self) -> Setup | None:
        """``a=setup`` (RFC 4145 §4) here, else at session level."""
        return _setup_of(self._inherited("setup"))

    @property
    def crypto(self) -> tuple[Crypto, ...]:
        """SDES ``a=crypto`` lines (RFC 4568 §9.1)."""
        return tuple(_parsed(self.attributes, "crypto", Crypto.parse))

    @property
    def extmaps(self) -> tuple[ExtMap, ...]:
        """RTP header extension mappings ``a=extmap`` (RFC 8285 §5)."""
        return tuple(_parsed(self.attributes, "extmap", ExtMap.parse))

    @property
    def msid(self) -> Msid | None:
        """``a=msid`` (RFC 8830): media stream and track ids."""
        found = _parsed(self.attributes, "msid", Msid.parse)
        return found[0] if found else None

    def _bind(self, context: _SessionContext) -> Media:
        if self._session == context:
            return self
        bound = copy.copy(self)
        object.__setattr__(bound, "_session", context)
        return bound


@dataclass(frozen=True)
class SessionDescription(_AttributeAccess):
    """A whole SDP body (RFC 8866 §5): session-level lines, then media descriptions.

    Build one in code (``origin`` is required; ``s=-`` and ``t=0 0`` are the defaults SIP
    uses) or read one with :meth:`parse`; ``bytes(sd)`` serialises it, always with CRLF.
    """

    origin: Origin
    session_name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: Sequence[str] = ()
    phones: Sequence[str] = ()
    connection: Connection | None = None
    bandwidths: Sequence[Bandwidth] = ()
    timings: Sequence[Timing] = (Timing(),)
    key: Key | None = None
    attributes: Sequence[Attribute] = ()
    media: Sequence[Media] = ()
    version: int = 0
    issues: tuple[SdpIssue, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.version != 0:
            raise SdpError(f"only SDP version 0 exists (RFC 8866 §5.1), got {self.version!r}")
        check_byte_string(self.session_name, "session name", allow_empty=True)
        if self.information is not None:
            check_byte_string(self.information, "session information", allow_empty=True)
        if self.uri is not None:
            check_byte_string(self.uri, "URI")
        object.__setattr__(self, "emails", _tuple(self.emails, "emails"))
        object.__setattr__(self, "phones", _tuple(self.phones, "phones"))
        for text in (*self.emails, *self.phones):
            check_byte_string(text, "e=/p= value")
        object.__setattr__(self, "bandwidths", _tuple(self.bandwidths, "bandwidths"))
        object.__setattr__(self, "timings", _tuple(self.timings, "timings"))
        if not self.timings:
            raise SdpError("a session description needs at least one t= line (RFC 8866 §5.9)")
        attributes = _tuple(self.attributes, "attributes")
        object.__setattr__(self, "attributes", attributes)
        context = _SessionContext(self.connection, attributes)
        media = _tuple(self.media, "media")
        object.__setattr__(self, "media", tuple(m._bind(context) for m in media))

    # -- reading and writing -----------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | str, *, strict: bool = False) -> SessionDescription:
        """Parse an SDP body; see :func:`sipwright.sdp.parser.parse_sdp`."""
        from .parser import parse_sdp

        return parse_sdp(data, strict=strict)

    def lines(self) -> list[str]:
        """Every line, in RFC 8866 §5 order, without line ends."""
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        if self.information is not None:
            out.append(f"i={self.information}")
        if self.uri is not None:
            out.append(f"u={self.uri}")
        out += [f"e={e}" for e in self.emails]
        out += [f"p={p}" for p in self.phones]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={b}" for b in self.bandwidths]
        for timing in self.timings:
            out += timing.lines()
        if self.key is not None:
            out.append(f"k={self.key}")
        out += [f"a={a}" for a in self.attributes]
        for media in self.media:
            out += media.lines()
        return out

    def __str__(self) -> str:
        return "".join(line + "\r\n" for line in self.lines())

    def __bytes__(self) -> bytes:
        # surrogateescape gives back any non-UTF-8 octet the parser let through (a=charset).
        return str(self).encode("utf-8", "surrogateescape")

    def to_bytes(self) -> bytes:
        """Same as ``bytes(sd)``."""
        return bytes(self)

    def canonical(self) -> SessionDescription:
        """A copy that forgets the original spelling of every value (canonical output)."""
        return replace(
            self,
            origin=_forget(self.origin),
            connection=None if self.connection is None else _forget(self.connection),
            bandwidths=[_forget(b) for b in self.bandwidths],
            timings=[_forget(t) for t in self.timings],
            media=[
                replace(
                    m,
                    connections=[_forget(c) for c in m.connections],
                    bandwidths=[_forget(b) for b in m.bandwidths],
                )
                for m in self.media
            ],
        )

    @property
    def bare_lf(self) -> bool:
        """True if the parsed text had a line ending in LF alone (RFC 8866 §5 wants CRLF)."""
        return any(issue.code == "bare-lf" for issue in self.issues)

    # -- typed views of session-level attributes ---------------------------------------------

    @property
    def direction(self) -> Direction | None:
        """The session-level direction attribute, the default for every media (§6.7)."""
        return _direction_of(self.attributes)

    @property
    def groups(self) -> tuple[Group, ...]:
        """``a=group`` lines (RFC 5888)."""
        return tuple(_parsed(self.attributes, "group", Group.parse))

    @property
    def bundle_mids(self) -> tuple[str, ...]:
        """The mids of the first ``a=group:BUNDLE`` (RFC 9143), empty without one."""
        for group in self.groups:
            if group.semantics.upper() == "BUNDLE":
                return group.mids
        return ()

    @property
    def ice_ufrag(self) -> str | None:
        return _first_token(self.attributes, "ice-ufrag")

    @property
    def ice_pwd(self) -> str | None:
        return _first_token(self.attributes, "ice-pwd")

    @property
    def ice_options(self) -> tuple[str, ...]:
        return tuple(t for v in _values(self.attributes, "ice-options") for t in v.split(" ") if t)

    @property
    def ice_lite(self) -> bool:
        """``a=ice-lite`` (RFC 8839 §5.3)."""
        return self.has_attribute("ice-lite")

    @property
    def fingerprints(self) -> tuple[Fingerprint, ...]:
        return tuple(_parsed(self.attributes, "fingerprint", Fingerprint.parse))

    @property
    def setup(self) -> Setup | None:
        return _setup_of(self.attributes)

    def media_by_mid(self, mid: str) -> Media | None:
        """The media description tagged ``a=mid:<mid>``, or None."""
        for media in self.media:
            if media.mid == mid:
                return media
        return None


def _forget(obj: _T) -> _T:
    """A copy of ``obj`` (a value with a ``_raw`` slot) without its remembered text."""
    clone = copy.copy(obj)
    object.__setattr__(clone, "_raw", None)
    return clone
