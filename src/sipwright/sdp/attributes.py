"""``a=`` lines: the generic :class:`Attribute` and typed views of the common ones.

The generic form is what the parser stores and what is serialised, so an attribute this
module does not know (or knows but finds malformed) is kept byte for byte, as RFC 8866 §5.13
requires of a parser ("MUST ignore any attribute it doesn't understand"). The typed classes
below are *views*: ``X.parse(value)`` reads an attribute value, raising :class:`SdpError`
when it is malformed, and ``x.attribute()`` builds the generic line for a builder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Self

from ._syntax import check_byte_string, check_non_ws, check_token, is_digits, parse_uint
from .codecs import Codec
from .errors import SdpError

__all__ = [
    "DIRECTION_NAMES",
    "Attribute",
    "Candidate",
    "Crypto",
    "Direction",
    "ExtMap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "Msid",
    "Rtcp",
    "RtcpFb",
    "RtpMap",
    "Setup",
    "check_known_attribute",
    "parse_ptime",
]


@dataclass(frozen=True)
class Attribute:
    """One ``a=<name>[:<value>]`` line, kept verbatim (RFC 8866 §5.13).

    ``value`` is None for a property attribute (``a=rtcp-mux``) and the text after the first
    colon for a value attribute; an empty string stands for the (ungrammatical but seen)
    ``a=name:`` and serialises back to it.
    """

    name: str
    value: str | None = None

    def __post_init__(self) -> None:
        check_token(self.name, "attribute name")
        if self.value is not None:
            check_byte_string(self.value, f"value of a={self.name}", allow_empty=True)

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


class Direction(StrEnum):
    """Media direction attributes (RFC 8866 §6.7, RFC 3264 §5.1, §6.1).

    Read from the *sender's* point of view of the description that carries it: ``sendonly``
    in an offer means "I will send, do not send to me".
    """

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        """The side describing itself with this direction sends media."""
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        """The side describing itself with this direction accepts media."""
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def from_flags(cls, sends: bool, receives: bool) -> Direction:
        """The direction that sends and/or receives as told."""
        if sends and receives:
            return cls.SENDRECV
        if sends:
            return cls.SENDONLY
        if receives:
            return cls.RECVONLY
        return cls.INACTIVE

    def reversed(self) -> Direction:
        """The same media flow seen from the peer: sendonly <-> recvonly (RFC 3264 §6.1)."""
        return Direction.from_flags(self.receives, self.sends)

    def limited_to(self, other: Direction) -> Direction:
        """Only what both directions allow (e.g. a local policy applied to an answer)."""
        return Direction.from_flags(self.sends and other.sends, self.receives and other.receives)

    def attribute(self) -> Attribute:
        """The ``a=`` line for this direction."""
        return Attribute(self.value)


#: The four direction attribute names.
DIRECTION_NAMES: frozenset[str] = frozenset(d.value for d in Direction)


class Setup(StrEnum):
    """``a=setup`` (RFC 4145 §4, RFC 8842 §5): who opens the (D)TLS connection."""

    ACTIVE = "active"
    PASSIVE = "passive"
    ACTPASS = "actpass"
    HOLDCONN = "holdconn"

    def attribute(self) -> Attribute:
        """The ``a=setup`` line."""
        return Attribute("setup", self.value)


def _split_sp(value: str, what: str) -> list[str]:
    """Split on single spaces, refusing empty fields (the grammar has exactly one SP)."""
    parts = value.split(" ")
    if any(not part for part in parts):
        raise SdpError(f"{what}: fields must be separated by single spaces")
    return parts


def parse_ptime(value: str) -> int | float:
    """``a=ptime`` / ``a=maxptime`` value: ``non-zero-int-or-real`` milliseconds (RFC 8866 §6.4)."""
    if is_digits(value):
        number = parse_uint(value, "packet time")
        if number == 0:
            raise SdpError("packet time must not be zero")
        return number
    if re.fullmatch(r"[0-9]{1,9}\.[0-9]{1,9}", value):
        real = float(value)
        if real == 0:
            raise SdpError("packet time must not be zero")
        return real
    raise SdpError(f"packet time must be a positive number, got {value!r}")


def format_ptime(value: int | float) -> str:
    """Render a packet time: an integral value without a fraction."""
    if isinstance(value, bool) or value <= 0:
        raise SdpError(f"packet time must be positive: {value!r}")
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class RtpMap:
    """``a=rtpmap:<pt> <encoding name>/<clock rate>[/<encoding parameters>]`` (RFC 8866 §6.6)."""

    payload_type: int
    encoding_name: str
    clock_rate: int
    encoding_params: str | None = None

    @classmethod
    def parse(cls, value: str) -> Self:
        pt_text, sep, rest = value.partition(" ")
        if not sep or not rest:
            raise SdpError(f"rtpmap needs '<payload type> <encoding>/<clock rate>': {value!r}")
        payload_type = parse_uint(pt_text, "rtpmap payload type", maximum=127)
        pieces = rest.split("/")
        if len(pieces) < 2 or len(pieces) > 3:
            raise SdpError(f"rtpmap encoding must be '<name>/<clock rate>[/<params>]': {rest!r}")
        name = check_token(pieces[0], "rtpmap encoding name")
        rate = parse_uint(pieces[1], "rtpmap clock rate")
        if rate == 0:
            raise SdpError("rtpmap clock rate must not be zero")
        params = pieces[2] if len(pieces) == 3 else None
        if params is not None:
            check_token(params, "rtpmap encoding parameters")
        return cls(payload_type, name, rate, params)

    @property
    def channels(self) -> int:
        """Audio channels: the encoding parameters when numeric, else 1 (RFC 8866 §6.6)."""
        params = self.encoding_params
        if params is not None and is_digits(params) and len(params) <= 3:
            return max(1, int(params))
        return 1

    def codec(self, fmtp: str | None = None) -> Codec:
        """The payload format this line maps."""
        return Codec(self.payload_type, self.encoding_name, self.clock_rate, self.channels, fmtp)

    def __str__(self) -> str:
        text = f"{self.payload_type} {self.encoding_name}/{self.clock_rate}"
        return text if self.encoding_params is None else f"{text}/{self.encoding_params}"

    def attribute(self) -> Attribute:
        return Attribute("rtpmap", str(self))


@dataclass(frozen=True)
class Fmtp:
    """``a=fmtp:<format> <format specific parameters>`` (RFC 8866 §6.15)."""

    format: str
    parameters: str

    @classmethod
    def parse(cls, value: str) -> Self:
        fmt, sep, params = value.partition(" ")
        check_token(fmt, "fmtp format")
        if not sep or not params:
            raise SdpError(f"fmtp needs '<format> <parameters>': {value!r}")
        return cls(fmt, params)

    def __str__(self) -> str:
        return f"{self.format} {self.parameters}"

    def attribute(self) -> Attribute:
        return Attribute("fmtp", str(self))


@dataclass(frozen=True)
class Rtcp:
    """``a=rtcp:<port> [<nettype> <addrtype> <address>]`` (RFC 3605 §2.1)."""

    port: int
    nettype: str | None = None
    addrtype: str | None = None
    address: str | None = None

    @classmethod
    def parse(cls, value: str) -> Self:
        parts = _split_sp(value, "rtcp")
        if len(parts) not in (1, 4):
            raise SdpError(f"rtcp must be '<port>' or '<port> IN IP4 <address>': {value!r}")
        port = parse_uint(parts[0], "rtcp port", maximum=65535)
        if len(parts) == 1:
            return cls(port)
        nettype = check_token(parts[1], "rtcp nettype")
        addrtype = check_token(parts[2], "rtcp addrtype")
        return cls(port, nettype, addrtype, check_non_ws(parts[3], "rtcp address"))

    def __str__(self) -> str:
        if self.address is None:
            return str(self.port)
        return f"{self.port} {self.nettype} {self.addrtype} {self.address}"

    def attribute(self) -> Attribute:
        return Attribute("rtcp", str(self))


@dataclass(frozen=True)
class Group:
    """``a=group:<semantics> <mid> ...`` (RFC 5888 §5), e.g. ``BUNDLE`` (RFC 9143)."""

    semantics: str
    mids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> Self:
        parts = _split_sp(value, "group")
        semantics = check_token(parts[0], "group semantics")
        return cls(semantics, tuple(check_token(mid, "group mid") for mid in parts[1:]))

    def __str__(self) -> str:
        return " ".join((self.semantics, *self.mids))

    def attribute(self) -> Attribute:
        return Attribute("group", str(self))


_ICE_CHAR_RE = re.compile(r"[A-Za-z0-9+/]{1,32}\Z")


@dataclass(frozen=True)
class Candidate:
    """An ICE candidate, ``a=candidate:`` (RFC 8839 §5.1).

    ``extensions`` keeps the trailing name/value pairs in order (``generation 0``,
    ``tcptype passive``, ``network-id 1`` ...).
    """

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: str) -> Self:
        parts = _split_sp(value, "candidate")
        if len(parts) < 8 or parts[6] != "typ":
            raise SdpError(
                "candidate must be '<foundation> <component> <transport> <priority> "
                f"<address> <port> typ <type> ...': {value!r}"
            )
        if not _ICE_CHAR_RE.match(parts[0]):
            raise SdpError(f"candidate foundation must be 1-32 ice-chars: {parts[0]!r}")
        component = parse_uint(parts[1], "candidate component-id", maximum=256)
        transport = check_token(parts[2], "candidate transport")
        priority = parse_uint(parts[3], "candidate priority", maximum=2**32 - 1)
        address = check_non_ws(parts[4], "candidate address")
        port = parse_uint(parts[5], "candidate port", maximum=65535)
        cand_type = check_token(parts[7], "candidate type")
        rest = parts[8:]
        related_address: str | None = None
        related_port: int | None = None
        if len(rest) >= 2 and rest[0] == "raddr":
            related_address = check_non_ws(rest[1], "candidate raddr")
            rest = rest[2:]
        if len(rest) >= 2 and rest[0] == "rport":
            related_port = parse_uint(rest[1], "candidate rport", maximum=65535)
            rest = rest[2:]
        if len(rest) % 2:
            raise SdpError(f"candidate extensions must be name/value pairs: {value!r}")
        extensions = tuple(
            (check_token(rest[i], "candidate extension name"), rest[i + 1])
            for i in range(0, len(rest), 2)
        )
        return cls(
            parts[0],
            component,
            transport,
            priority,
            address,
            port,
            cand_type,
            related_address,
            related_port,
            extensions,
        )

    def extension(self, name: str) -> str | None:
        """The value of the first extension called ``name`` (e.g. ``tcptype``), or None."""
        for key, value in self.extensions:
            if key == name:
                return value
        return None

    def __str__(self) -> str:
        parts = [
            self.foundation,
            str(self.component),
            self.transport,
            str(self.priority),
            self.address,
            str(self.port),
            "typ",
            self.type,
        ]
        if self.related_address is not None:
            parts += ["raddr", self.related_address]
        if self.related_port is not None:
            parts += ["rport", str(self.related_port)]
        for name, value in self.extensions:
            parts += [name, value]
        return " ".join(parts)

    def attribute(self) -> Attribute:
        return Attribute("candidate", str(self))


_FINGERPRINT_RE = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})*\Z")


@dataclass(frozen=True)
class Fingerprint:
    """``a=fingerprint:<hash function> <hex pairs>`` (RFC 8122 §5), e.g. ``sha-256 AB:CD:..``."""

    hash_function: str
    value: str

    @classmethod
    def parse(cls, value: str) -> Self:
        parts = _split_sp(value, "fingerprint")
        if len(parts) != 2:
            raise SdpError(f"fingerprint must be '<hash function> <fingerprint>': {value!r}")
        hash_function = check_token(parts[0], "fingerprint hash function")
        if not _FINGERPRINT_RE.match(parts[1]):
            raise SdpError(f"fingerprint must be colon-separated hex pairs: {parts[1]!r}")
        return cls(hash_function, parts[1])

    def __str__(self) -> str:
        return f"{self.hash_function} {self.value}"

    def attribute(self) -> Attribute:
        return Attribute("fingerprint", str(self))


@dataclass(frozen=True)
class Crypto:
    """``a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]`` (RFC 4568 §9.1).

    ``key_params`` are the ``;``-separated ``<method>:<info>`` items, e.g.
    ``inline:<base64 key||salt>|2^20|1:32``.
    """

    tag: int
    suite: str
    key_params: tuple[str, ...]
    session_params: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, value: str) -> Self:
        parts = value.split()
        if len(parts) < 3:
            raise SdpError(f"crypto must be '<tag> <suite> <key-params>': {value!r}")
        tag = parse_uint(parts[0], "crypto tag", maximum=999_999_999)
        suite = check_token(parts[1], "crypto suite")
        key_params = tuple(parts[2].split(";"))
        for param in key_params:
            method, sep, info = param.partition(":")
            if not sep or not method or not info:
                raise SdpError(f"crypto key-param must be '<method>:<info>': {param!r}")
        return cls(tag, suite, key_params, tuple(parts[3:]))

    @property
    def inline_keys(self) -> tuple[str, ...]:
        """The ``inline:`` key infos (key||salt [| lifetime] [| MKI:length])."""
        return tuple(p[len("inline:") :] for p in self.key_params if p.startswith("inline:"))

    def __str__(self) -> str:
        return " ".join(
            (str(self.tag), self.suite, ";".join(self.key_params), *self.session_params)
        )

    def attribute(self) -> Attribute:
        return Attribute("crypto", str(self))


@dataclass(frozen=True)
class ExtMap:
    """``a=extmap:<id>[/<direction>] <uri> [<attributes>]`` (RFC 8285 §5)."""

    id: int
    uri: str
    direction: Direction | None = None
    extension_attributes: str | None = None

    @classmethod
    def parse(cls, value: str) -> Self:
        entry, sep, rest = value.partition(" ")
        if not sep or not rest:
            raise SdpError(f"extmap must be '<id>[/<direction>] <uri>': {value!r}")
        id_text, slash, direction_text = entry.partition("/")
        ident = parse_uint(id_text, "extmap id", maximum=4095)
        direction: Direction | None = None
        if slash:
            if direction_text not in DIRECTION_NAMES:
                raise SdpError(f"extmap direction is not a direction: {direction_text!r}")
            direction = Direction(direction_text)
        uri, sep, attributes = rest.partition(" ")
        check_non_ws(uri, "extmap URI")
        return cls(ident, uri, direction, attributes if sep else None)

    def __str__(self) -> str:
        entry = str(self.id) if self.direction is None else f"{self.id}/{self.direction.value}"
        text = f"{entry} {self.uri}"
        return text if self.extension_attributes is None else f"{text} {self.extension_attributes}"

    def attribute(self) -> Attribute:
        return Attribute("extmap", str(self))


@dataclass(frozen=True)
class Msid:
    """``a=msid:<stream id> [<track id>]`` (RFC 8830 §2)."""

    stream_id: str
    track_id: str | None = None

    @classmethod
    def parse(cls, value: str) -> Self:
        parts = _split_sp(value, "msid")
        if len(parts) > 2:
            raise SdpError(f"msid must be '<id> [<appdata>]': {value!r}")
        stream_id = check_token(parts[0], "msid id")
        track_id = check_token(parts[1], "msid appdata") if len(parts) == 2 else None
        return cls(stream_id, track_id)

    def __str__(self) -> str:
        return self.stream_id if self.track_id is None else f"{self.stream_id} {self.track_id}"

    def attribute(self) -> Attribute:
        return Attribute("msid", str(self))


@dataclass(frozen=True)
class RtcpFb:
    """``a=rtcp-fb:<pt or *> <type> [<parameters>]`` (RFC 4585 §4.2), e.g. ``96 nack pli``."""

    payload_type: str
    type: str
    parameters: str | None = None

    @classmethod
    def parse(cls, value: str) -> Self:
        pt, sep, rest = value.partition(" ")
        if pt != "*":
            check_token(pt, "rtcp-fb payload type")
        if not sep or not rest:
            raise SdpError(f"rtcp-fb must be '<pt> <type> [<parameters>]': {value!r}")
        fb_type, sep, params = rest.partition(" ")
        check_token(fb_type, "rtcp-fb type")
        return cls(pt, fb_type, params if sep else None)

    @property
    def feedback(self) -> str:
        """Type and parameters without the payload type, e.g. ``nack pli``."""
        return self.type if self.parameters is None else f"{self.type} {self.parameters}"

    def __str__(self) -> str:
        return f"{self.payload_type} {self.feedback}"

    def attribute(self) -> Attribute:
        return Attribute("rtcp-fb", str(self))


def _check_setup(value: str) -> object:
    if value not in {s.value for s in Setup}:
        raise SdpError(f"setup must be active, passive, actpass or holdconn: {value!r}")
    return Setup(value)


def _check_token_list(value: str) -> object:
    return tuple(check_token(t, "option tag") for t in _split_sp(value, "option list"))


def _check_ice_credential(value: str) -> object:
    return check_non_ws(value, "ICE credential")


def _check_mid(value: str) -> object:
    return check_token(value, "mid")


#: Value attributes with a typed view: name -> parser of the value.
_VALUE_PARSERS: dict[str, Callable[[str], object]] = {
    "rtpmap": RtpMap.parse,
    "fmtp": Fmtp.parse,
    "ptime": parse_ptime,
    "maxptime": parse_ptime,
    "rtcp": Rtcp.parse,
    "mid": _check_mid,
    "group": Group.parse,
    "candidate": Candidate.parse,
    "ice-ufrag": _check_ice_credential,
    "ice-pwd": _check_ice_credential,
    "ice-options": _check_token_list,
    "fingerprint": Fingerprint.parse,
    "setup": _check_setup,
    "crypto": Crypto.parse,
    "extmap": ExtMap.parse,
    "msid": Msid.parse,
    "rtcp-fb": RtcpFb.parse,
}

#: Property attributes with a typed view (they take no value).
_FLAG_NAMES: frozenset[str] = DIRECTION_NAMES | {"rtcp-mux", "rtcp-rsize", "ice-lite"}


def check_known_attribute(attribute: Attribute) -> None:
    """Raise :class:`SdpError` if a known attribute has a value its typed view rejects.

    Unknown attributes pass untouched (RFC 8866 §5.13).
    """
    parser = _VALUE_PARSERS.get(attribute.name)
    if parser is not None:
        if attribute.value is None:
            raise SdpError(f"a={attribute.name} needs a value")
        parser(attribute.value)
    elif attribute.name in _FLAG_NAMES and attribute.value is not None:
        raise SdpError(f"a={attribute.name} takes no value")
