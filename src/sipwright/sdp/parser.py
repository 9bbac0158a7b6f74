"""Reading an SDP body (RFC 8866 §5, §9) into a :class:`~.model.SessionDescription`.

Strict where the RFC is: the line types and their order (§5), the syntax of every line the
grammar defines (§9), one SDP version (§5.1), no unknown line type (§5: a parser "MUST
completely ignore any session description that contains a type letter that it does not
understand", hence an error, not a skip). Lenient, but recording an :class:`~.model.SdpIssue`
for a linter, where real bodies commonly deviate without ambiguity: bare LF line ends, a
missing final line end, trailing blank lines, an empty ``s=`` (RFC 3261's own examples have
one), and malformed values of attributes it knows (kept verbatim, skipped by the typed views,
as RFC 8866 §5.13 says of attributes a parser does not understand: RFC 4475's torture
messages carry ``a=rtpmap:31 LPC``). ``strict=True`` turns every such issue into an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._syntax import (
    check_byte_string,
    check_non_ws,
    check_token,
    parse_uint,
)
from .attributes import DIRECTION_NAMES, Attribute, RtpMap, check_known_attribute
from .codecs import static_codec
from .errors import SdpError
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
    _remember,
)

__all__ = ["parse_sdp"]

# Order of the session-level lines (RFC 8866 §5); r= and z= belong to the time block.
_SESSION_RANK = {
    "v": 0,
    "o": 1,
    "s": 2,
    "i": 3,
    "u": 4,
    "e": 5,
    "p": 6,
    "c": 7,
    "b": 8,
    "t": 9,
    "r": 9,
    "z": 9,
    "k": 10,
    "a": 11,
}
_MEDIA_RANK = {"i": 1, "c": 2, "b": 3, "k": 4, "a": 5}
_SESSION_ONCE = frozenset("vosiuck")
_MEDIA_ONCE = frozenset("ik")
_KNOWN_TYPES = frozenset("vosiuepcbtrzkam")


def _split(value: str, what: str, count: int | None = None, minimum: int = 1) -> list[str]:
    parts = value.split(" ")
    if any(not part for part in parts):
        raise SdpError(f"{what}: fields must be separated by exactly one space")
    if count is not None and len(parts) != count:
        raise SdpError(f"{what} needs {count} fields, got {len(parts)}")
    if len(parts) < minimum:
        raise SdpError(f"{what} needs at least {minimum} fields, got {len(parts)}")
    return parts


def _origin(value: str) -> Origin:
    username, sess_id, sess_version, nettype, addrtype, address = _split(value, "o=", 6)
    origin = Origin(
        username=username,
        sess_id=parse_uint(sess_id, "sess-id"),
        sess_version=parse_uint(sess_version, "sess-version"),
        address=address,
        nettype=nettype,
        addrtype=check_token(addrtype, "addrtype"),
    )
    return _remember(origin, value)


def _connection(value: str) -> Connection:
    nettype, addrtype, address = _split(value, "c=", 3)
    check_token(addrtype, "addrtype")
    ttl: int | None = None
    count: int | None = None
    if addrtype in ("IP4", "IP6") and "/" in address:
        base, *suffix = address.split("/")
        if addrtype == "IP4" and len(suffix) in (1, 2):
            ttl = parse_uint(suffix[0], "TTL", maximum=255)
            if len(suffix) == 2:
                count = parse_uint(suffix[1], "number of addresses")
        elif addrtype == "IP6" and len(suffix) == 1:
            count = parse_uint(suffix[0], "number of addresses")
        else:
            raise SdpError(f"malformed multicast address suffix: {address!r}")
        address = base
    connection = Connection(address, nettype=nettype, addrtype=addrtype, ttl=ttl, count=count)
    return _remember(connection, value)


def _bandwidth(value: str) -> Bandwidth:
    bwtype, sep, amount = value.partition(":")
    if not sep:
        raise SdpError("b= must be '<bwtype>:<bandwidth>'")
    return _remember(
        Bandwidth(check_token(bwtype, "bwtype"), parse_uint(amount, "bandwidth")), value
    )


def _timing(value: str) -> Timing:
    start, stop = _split(value, "t=", 2)
    return _remember(Timing(parse_uint(start, "start time"), parse_uint(stop, "stop time")), value)


def _repeat(value: str) -> Repeat:
    interval, duration, *offsets = _split(value, "r=", minimum=3)
    return Repeat(interval, duration, offsets)


def _zone(value: str) -> ZoneAdjustments:
    parts = _split(value, "z=", minimum=2)
    if len(parts) % 2:
        raise SdpError("z= needs pairs of '<adjustment time> <offset>'")
    return ZoneAdjustments([(parts[i], parts[i + 1]) for i in range(0, len(parts), 2)])


def _key(value: str) -> Key:
    method, sep, key = value.partition(":")
    return Key(method, key if sep else None)


def _attribute(value: str) -> Attribute:
    name, sep, attr_value = value.partition(":")
    return Attribute(name, attr_value if sep else None)


def _media(value: str) -> Media:
    media, port_text, proto, *formats = _split(value, "m=", minimum=4)
    port_text, slash, count_text = port_text.partition("/")
    port = parse_uint(port_text, "media port", maximum=65535)
    count = parse_uint(count_text, "port count") if slash else None
    return _remember(Media(media, port, proto, formats, port_count=count), value)


@dataclass
class _MediaBuilder:
    """Lines of one media description while it is being read."""

    line: int
    media: Media
    title: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: Key | None = None
    attributes: list[tuple[int, Attribute]] = field(default_factory=list)

    def build(self) -> Media:
        base = self.media
        built = Media(
            base.media,
            base.port,
            base.proto,
            base.formats,
            port_count=base.port_count,
            title=self.title,
            connections=self.connections,
            bandwidths=self.bandwidths,
            key=self.key,
            attributes=[a for _, a in self.attributes],
        )
        return _remember(built, base.m_line())


class _Parser:
    def __init__(self) -> None:
        self.issues: list[SdpIssue] = []
        self.origin: Origin | None = None
        self.session_name: str | None = None
        self.information: str | None = None
        self.uri: str | None = None
        self.emails: list[str] = []
        self.phones: list[str] = []
        self.connection: Connection | None = None
        self.bandwidths: list[Bandwidth] = []
        self.timings: list[Timing] = []
        self.key: Key | None = None
        self.attributes: list[tuple[int, Attribute]] = []
        self.media: list[_MediaBuilder] = []
        self.seen: set[str] = set()
        self.rank = -1
        # Inside the time block: what the last t= has seen ("t", "r" or "z").
        self.time_state = ""

    def issue(self, line: int, code: str, message: str) -> None:
        self.issues.append(SdpIssue(line, code, message))

    def feed(self, lineno: int, kind: str, value: str) -> None:
        if self.media:
            self._media_line(lineno, kind, value)
        else:
            self._session_line(lineno, kind, value)

    def _session_line(self, lineno: int, kind: str, value: str) -> None:
        if kind == "m":
            self._require_session_fields()
            self._start_media(lineno, value)
            return
        rank = _SESSION_RANK[kind]
        if rank < self.rank:
            raise SdpError(f"'{kind}=' line out of order (RFC 8866 §5 fixes the order)")
        if kind in _SESSION_ONCE and kind in self.seen:
            raise SdpError(f"more than one '{kind}=' line at session level")
        if rank > _SESSION_RANK["o"] and "o" not in self.seen:
            raise SdpError("missing 'o=' line (it must follow 'v=')")
        if rank > _SESSION_RANK["s"] and "s" not in self.seen:
            raise SdpError("missing 's=' line")
        if rank > _SESSION_RANK["t"] and not self.timings:
            raise SdpError("missing 't=' line (at least one is required, RFC 8866 §5.9)")
        self.seen.add(kind)
        self.rank = rank
        if kind == "v":
            if value != "0":
                raise SdpError(f"unsupported SDP version {value!r} (only v=0 exists)")
        elif kind == "o":
            self.origin = _origin(value)
        elif kind == "s":
            if not value:
                self.issue(lineno, "empty-text", "empty s= (use 's=-' or 's= ', RFC 8866 §5.3)")
            self.session_name = check_byte_string(value, "s=", allow_empty=True)
        elif kind == "i":
            if not value:
                self.issue(lineno, "empty-text", "empty i= line")
            self.information = check_byte_string(value, "i=", allow_empty=True)
        elif kind == "u":
            self.uri = check_byte_string(value, "u=")
        elif kind == "e":
            self.emails.append(check_byte_string(value, "e="))
        elif kind == "p":
            self.phones.append(check_byte_string(value, "p="))
        elif kind == "c":
            self.connection = _connection(value)
        elif kind == "b":
            self.bandwidths.append(_bandwidth(value))
        elif kind in "trz":
            self._time_line(kind, value)
        elif kind == "k":
            self.key = _key(value)
        else:  # "a"
            self._attribute(lineno, value, self.attributes)

    def _time_line(self, kind: str, value: str) -> None:
        if kind == "t":
            self.timings.append(_timing(value))
            self.time_state = "t"
            return
        if not self.timings:
            raise SdpError(f"'{kind}=' line before any 't=' line")
        last = self.timings[-1]
        if kind == "r":
            if self.time_state == "z":
                raise SdpError("'r=' line after 'z=' (repeat times precede the zone line)")
            updated = Timing(last.start, last.stop, (*last.repeats, _repeat(value)), last.zone)
            self.time_state = "r"
        else:
            if self.time_state == "z":
                raise SdpError("more than one 'z=' line for a time description")
            updated = Timing(last.start, last.stop, last.repeats, _zone(value))
            self.time_state = "z"
        self.timings[-1] = _remember(updated, str(last))

    def _start_media(self, lineno: int, value: str) -> None:
        self.media.append(_MediaBuilder(lineno, _media(value)))
        self.rank = 0
        self.seen = set()

    def _require_session_fields(self) -> None:
        for kind, name in (("o", "o="), ("s", "s=")):
            if kind not in self.seen:
                raise SdpError(f"missing '{name}' line before the first media description")
        if not self.timings:
            raise SdpError("missing 't=' line before the first media description")

    def _media_line(self, lineno: int, kind: str, value: str) -> None:
        current = self.media[-1]
        if kind == "m":
            self._start_media(lineno, value)
            return
        if kind not in _MEDIA_RANK:
            raise SdpError(f"'{kind}=' line is not allowed in a media description")
        rank = _MEDIA_RANK[kind]
        if rank < self.rank:
            raise SdpError(f"'{kind}=' line out of order in a media description (RFC 8866 §5)")
        if kind in _MEDIA_ONCE and kind in self.seen:
            raise SdpError(f"more than one '{kind}=' line in a media description")
        self.seen.add(kind)
        self.rank = rank
        if kind == "i":
            if not value:
                self.issue(lineno, "empty-text", "empty i= line")
            current.title = check_byte_string(value, "i=", allow_empty=True)
        elif kind == "c":
            current.connections.append(_connection(value))
        elif kind == "b":
            current.bandwidths.append(_bandwidth(value))
        elif kind == "k":
            current.key = _key(value)
        else:
            self._attribute(lineno, value, current.attributes)

    def _attribute(self, lineno: int, value: str, into: list[tuple[int, Attribute]]) -> None:
        attribute = _attribute(value)
        try:
            check_known_attribute(attribute)
        except SdpError as exc:
            self.issue(lineno, "bad-attribute", f"a={attribute.name} ignored: {exc.message}")
        into.append((lineno, attribute))

    def _check_level(self, items: list[tuple[int, Attribute]]) -> None:
        directions = [(n, a) for n, a in items if a.name in DIRECTION_NAMES and a.value is None]
        if len(directions) > 1:
            line, _ = directions[1]
            self.issue(line, "conflicting-direction", "more than one direction attribute")

    def _check_media(self, builder: _MediaBuilder, media: Media) -> None:
        self._check_level(builder.attributes)
        if media.port != 0 and not media.connections and self.connection is None:
            self.issue(builder.line, "no-connection", "media without c= here or at session level")
        if not media.is_rtp:
            return
        mapped: set[int] = set()
        for _, attribute in builder.attributes:
            if attribute.name == "rtpmap" and attribute.value is not None:
                try:
                    mapped.add(RtpMap.parse(attribute.value).payload_type)
                except SdpError:
                    continue
        for fmt in media.formats:
            if not (fmt.isdigit() and len(fmt) <= 3 and int(fmt) <= 127):
                self.issue(builder.line, "bad-payload-type", f"RTP format {fmt!r} is not 0-127")
            elif int(fmt) not in mapped and static_codec(int(fmt)) is None:
                self.issue(builder.line, "no-rtpmap", f"payload type {fmt} has no a=rtpmap")

    def finish(self, last_line: int) -> SessionDescription:
        if not self.media:
            try:
                self._require_session_fields()
            except SdpError as exc:
                raise SdpError(exc.message, line=last_line + 1) from None
        assert self.origin is not None and self.session_name is not None
        self._check_level(self.attributes)
        media: list[Media] = []
        for builder in self.media:
            try:
                built = builder.build()
            except SdpError as exc:
                raise SdpError(exc.message, line=builder.line) from None
            self._check_media(builder, built)
            media.append(built)
        return SessionDescription(
            origin=self.origin,
            session_name=self.session_name,
            information=self.information,
            uri=self.uri,
            emails=self.emails,
            phones=self.phones,
            connection=self.connection,
            bandwidths=self.bandwidths,
            timings=self.timings,
            key=self.key,
            attributes=[a for _, a in self.attributes],
            media=media,
        )


def _decode(data: bytes | bytearray | memoryview | str) -> str:
    if isinstance(data, str):
        try:
            data.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise SdpError("text contains characters that cannot be encoded") from None
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        # UTF-8 is the default charset (RFC 8866 §5.3); surrogateescape keeps any other octet
        # (a=charset:ISO-8859-1) so that it is written back unchanged.
        return bytes(data).decode("utf-8", "surrogateescape")
    raise TypeError(f"SDP must be bytes or str, not {type(data).__name__}")


def parse_sdp(data: bytes | str, *, strict: bool = False) -> SessionDescription:
    """Parse an SDP body; raise :class:`SdpError` (with ``.line``) if it is malformed.

    Line ends may be CRLF or bare LF; what was tolerated is listed in the result's
    ``issues``. With ``strict=True`` the first such issue raises instead.
    """
    text = _decode(data)
    issues: list[SdpIssue] = []
    lines: list[tuple[int, str]] = []
    pos = 0
    lineno = 0
    while pos < len(text):
        lineno += 1
        end = text.find("\n", pos)
        if end == -1:
            line = text[pos:]
            pos = len(text)
            issues.append(SdpIssue(lineno, "no-final-eol", "last line does not end in CRLF"))
            if line.endswith("\r"):
                line = line[:-1]
        else:
            line = text[pos:end]
            pos = end + 1
            if line.endswith("\r"):
                line = line[:-1]
            else:
                issues.append(SdpIssue(lineno, "bare-lf", "line ends in LF without CR"))
        lines.append((lineno, line))
    while lines and not lines[-1][1]:
        blank, _ = lines.pop()
        issues.append(SdpIssue(blank, "trailing-blank-line", "blank line after the last line"))
    if not lines:
        raise SdpError("empty SDP body", line=1)

    parser = _Parser()
    parser.issues = issues
    for number, line in lines:
        try:
            _check_line(number, line)
            parser.feed(number, line[0], line[2:])
        except SdpError as exc:
            raise SdpError(exc.message, line=number) from None
    try:
        result = parser.finish(lines[-1][0])
    except SdpError as exc:
        if exc.line is not None:
            raise
        raise SdpError(exc.message, line=lines[-1][0]) from None
    found = tuple(sorted(parser.issues, key=lambda issue: issue.line))
    if strict and found:
        first = found[0]
        raise SdpError(f"{first.message} [{first.code}]", line=first.line)
    object.__setattr__(result, "issues", found)
    return result


def _check_line(number: int, line: str) -> None:
    if not line:
        raise SdpError("empty line inside the description")
    if len(line) < 2 or line[1] != "=":
        raise SdpError(f"line must be '<type>=<value>' (no space around '='): {line[:40]!r}")
    if line[0] not in _KNOWN_TYPES:
        raise SdpError(f"unknown line type {line[0]!r} (RFC 8866 §5: the description is invalid)")
    if number == 1 and line[0] != "v":
        raise SdpError("the first line must be 'v=0'")
    check_byte_string(line[2:], f"{line[0]}= value", allow_empty=True)
    if line[0] not in "siakep":
        check_non_ws(line[2:].replace(" ", "x") or "x", f"{line[0]}= value")
