"""The offer/answer model (RFC 3264) as pure functions over session descriptions.

:func:`make_answer` answers an offer from a description of what this side supports
(:class:`LocalCapabilities`); :func:`make_offer` builds an offer from the same description;
:func:`next_version` keeps the ``o=`` line right across a dialog's successive descriptions;
:func:`is_hold` recognises an offer that puts the call on hold. Nothing here does I/O, picks
ports or draws random numbers: session id, ports, ICE credentials, candidates and DTLS
fingerprints come from the caller.

Policy choices, beyond what RFC 3264 fixes:

* A capability (:class:`MediaCapability`) serves one offered stream of its media type and
  protocol, unless the streams are bundled (RFC 9143), which share one transport; further
  streams are rejected (port 0).
* A stream whose only common formats are auxiliary ones (telephone-event, CN, RED, RTX, FEC)
  is rejected: there would be no media to send.
* ``rtx`` and ``red`` formats are kept only when the formats they refer to (``apt=``, the
  RED redundancy list) are accepted, and always with the offer's fmtp since it names the
  offer's payload types.
* Bundled m= sections of the answer all carry the answerer's BUNDLE address and port, as
  RFC 9143 §7.3 (and browsers) do; ICE credentials and DTLS attributes go into each accepted
  m= section (JSEP, RFC 8829 §5.3.1), candidates only into the answerer-tagged one when
  bundled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ._syntax import is_digits
from .attributes import (
    Attribute,
    Candidate,
    Crypto,
    Direction,
    Fingerprint,
    Group,
    Setup,
    format_ptime,
)
from .codecs import Codec
from .errors import NoCommonMedia, SdpError
from .model import Connection, Media, Origin, SessionDescription

__all__ = [
    "LocalCapabilities",
    "MediaCapability",
    "is_hold",
    "make_answer",
    "make_offer",
    "next_version",
]


@dataclass(frozen=True)
class MediaCapability:
    """What this side can do for one kind of stream (``audio``, ``video``, ``application``...).

    ``codecs`` are RTP formats in local preference order (their payload type numbers are used
    in offers; answers use the offerer's numbers); ``formats`` the accepted formats of a
    non-RTP protocol (``webrtc-datachannel``, ``t38``). ``protos`` lists the transport
    protocols supported (the first is used in offers). ``direction`` limits what this side
    will do (``sendonly`` to hold, ``recvonly`` for a listener). ``rtcp_feedback`` are the
    ``a=rtcp-fb`` values (``nack``, ``nack pli``, ``transport-cc``) and
    ``header_extensions`` the ``a=extmap`` URIs supported; ``crypto`` the SDES keys, one per
    suite (RFC 4568); ``attributes`` are added verbatim to every accepted m= section of this
    capability (``sctp-port``, ``msid``...). ``port`` is the RTP port; ``mid`` the
    identification tag used in offers.
    """

    media: str
    port: int
    codecs: Sequence[Codec] = ()
    protos: Sequence[str] = ("RTP/AVP",)
    formats: Sequence[str] = ()
    direction: Direction = Direction.SENDRECV
    ptime: int | float | None = None
    maxptime: int | float | None = None
    rtcp_feedback: Sequence[str] = ()
    header_extensions: Sequence[str] = ()
    crypto: Sequence[Crypto] = ()
    attributes: Sequence[Attribute] = ()
    mid: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "codecs",
            "protos",
            "formats",
            "rtcp_feedback",
            "header_extensions",
            "crypto",
            "attributes",
        ):
            value = getattr(self, name)
            if isinstance(value, str):
                raise SdpError(f"MediaCapability.{name} must be a sequence, not a string")
            object.__setattr__(self, name, tuple(value))
        if not self.protos:
            raise SdpError("MediaCapability.protos must name at least one protocol")

    def supports_proto(self, proto: str) -> bool:
        """Transport protocol names compare case-insensitively (RFC 8866 §5.14)."""
        return proto.upper() in {p.upper() for p in self.protos}


@dataclass(frozen=True)
class LocalCapabilities:
    """This side's identity, address and capabilities, the input of offer and answer.

    ``address`` goes into ``o=`` and ``c=``; ``session_id`` and ``session_version`` start the
    ``o=`` line of the first description (RFC 8866 §5.2 suggests an NTP timestamp for the
    id; sans-I/O, the caller supplies it). ``direction`` limits every stream (e.g.
    ``sendonly`` to put the peer on hold, RFC 3264 §8.4). The ICE fields (RFC 8839) and
    ``fingerprints``/``setup`` (RFC 8842; ``setup`` is the role taken when the offer says
    ``actpass``, ``active`` recommended by RFC 5763 §5) are used only when the offer uses ICE
    or DTLS.
    """

    address: str
    session_id: int
    media: Sequence[MediaCapability]
    username: str = "-"
    session_name: str = "-"
    session_version: int = 1
    direction: Direction = Direction.SENDRECV
    rtcp_mux: bool = True
    bundle: bool = True
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_options: Sequence[str] = ()
    ice_lite: bool = False
    candidates: Sequence[Candidate] = ()
    end_of_candidates: bool = False
    fingerprints: Sequence[Fingerprint] = ()
    setup: Setup = Setup.ACTIVE
    attributes: Sequence[Attribute] = field(default=())

    def __post_init__(self) -> None:
        for name in ("media", "ice_options", "candidates", "fingerprints", "attributes"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise SdpError(f"LocalCapabilities.{name} must be a sequence, not a string")
            object.__setattr__(self, name, tuple(value))
        if (self.ice_ufrag is None) != (self.ice_pwd is None):
            raise SdpError("ice_ufrag and ice_pwd go together (RFC 8839 §5.4)")
        if self.setup not in (Setup.ACTIVE, Setup.PASSIVE):
            raise SdpError("an answerer's DTLS role must be active or passive (RFC 5763 §5)")
        # Fail early on an unusable address rather than when the first answer is built.
        Connection(self.address)

    @property
    def has_ice(self) -> bool:
        return self.ice_ufrag is not None

    def origin(self) -> Origin:
        """The ``o=`` line of this side's first description."""
        return Origin(self.username, self.session_id, self.session_version, self.address)


# ---------------------------------------------------------------------------------------------
# Versions and hold
# ---------------------------------------------------------------------------------------------


def next_version(
    previous: SessionDescription | None, description: SessionDescription
) -> SessionDescription:
    """``description`` with the ``o=`` line RFC 3264 §8 requires after ``previous``.

    A party's later descriptions in a session keep the previous origin (same username,
    sess-id and address) and increment sess-version by one when anything changed; a
    description identical to the previous one is the previous one, version unchanged. With
    no previous description, ``description`` is returned as is.
    """
    if previous is None:
        return description
    same_origin = replace(description, origin=previous.origin)
    if same_origin == previous:
        return previous
    origin = previous.origin.with_version(previous.origin.sess_version + 1)
    return replace(description, origin=origin)


def is_hold(description: SessionDescription) -> bool:
    """True if every active stream of ``description`` asks not to receive media (RFC 3264 §8.4).

    A stream is on hold when it is ``sendonly`` or ``inactive`` (media level, else session
    level), or, RFC 2543 style, when its connection address is ``0.0.0.0`` and it does not
    use ICE. See :attr:`Media.on_hold` for one stream. A description without active streams
    is not a hold.
    """
    active = [m for m in description.media if m.port != 0]
    return bool(active) and all(m.on_hold for m in active)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _uses_dtls(proto: str) -> bool:
    parts = proto.upper().split("/")
    return "TLS" in parts or "DTLS" in parts


def _uses_sdes(proto: str) -> bool:
    parts = proto.upper().split("/")
    return ("SAVP" in parts or "SAVPF" in parts) and not _uses_dtls(proto)


def _answer_setup(offered: Setup | None, preferred: Setup) -> Setup:
    """RFC 4145 §4.1: the answer takes the other role; ``actpass`` lets the answerer pick."""
    if offered is None or offered is Setup.ACTIVE:
        return Setup.PASSIVE
    if offered is Setup.PASSIVE:
        return Setup.ACTIVE
    if offered is Setup.HOLDCONN:
        return Setup.HOLDCONN
    return preferred


def _referenced_pts(codec: Codec) -> set[int] | None:
    """Payload types an RTX (``apt=``) or RED (``a/b``) fmtp refers to; None if not such."""
    name = codec.encoding_name.casefold()
    fmtp = codec.fmtp or ""
    if name == "rtx":
        apt = codec.fmtp_params.get("apt", "")
        return {int(apt)} if _is_payload_type(apt) else set()
    if name == "red":
        refs = [p for p in fmtp.replace(" ", "").split("/") if p]
        if not all(_is_payload_type(p) for p in refs):
            return set()
        return {int(p) for p in refs}
    return None


def _is_payload_type(text: str) -> bool:
    """ASCII digits of an RTP payload type (``str.isdigit`` would accept ``²``)."""
    return len(text) <= 3 and is_digits(text)


def _intersect_codecs(offered: Sequence[Codec], local: Sequence[Codec]) -> list[Codec]:
    """Common codecs in the *offerer's* order, with the offer's payload type numbers."""
    accepted: list[Codec] = []
    for theirs in offered:
        mine = next((c for c in local if c.matches(theirs)), None)
        if mine is None:
            continue
        refers = _referenced_pts(theirs) is not None
        fmtp = theirs.fmtp if refers or mine.fmtp is None else mine.fmtp
        accepted.append(replace(theirs, fmtp=fmtp))
    primary = {c.payload_type for c in accepted if not c.is_auxiliary}
    kept: list[Codec] = []
    for codec in accepted:
        refs = _referenced_pts(codec)
        if refs is not None and (not refs or not refs <= primary):
            continue
        kept.append(codec)
    return kept


def _codec_lines(codecs: Sequence[Codec], feedback: Sequence[Attribute]) -> list[Attribute]:
    lines: list[Attribute] = []
    for codec in codecs:
        lines.append(Attribute("rtpmap", codec.rtpmap_value()))
        lines += [
            fb for fb in feedback if fb.value and fb.value.split(" ")[0] == str(codec.payload_type)
        ]
        if codec.fmtp is not None:
            lines.append(Attribute("fmtp", f"{codec.payload_type} {codec.fmtp}"))
    return lines


def _ice_lines(local: LocalCapabilities) -> list[Attribute]:
    if local.ice_ufrag is None or local.ice_pwd is None:
        return []
    lines = [Attribute("ice-ufrag", local.ice_ufrag), Attribute("ice-pwd", local.ice_pwd)]
    if local.ice_options:
        lines.append(Attribute("ice-options", " ".join(local.ice_options)))
    return lines


def _candidate_lines(local: LocalCapabilities) -> list[Attribute]:
    lines = [c.attribute() for c in local.candidates]
    if local.end_of_candidates:
        lines.append(Attribute("end-of-candidates"))
    return lines


def _session(
    local: LocalCapabilities, media: Sequence[Media], attributes: Sequence[Attribute]
) -> SessionDescription:
    return SessionDescription(
        origin=local.origin(),
        session_name=local.session_name,
        connection=Connection(local.address),
        attributes=attributes,
        media=media,
    )


# ---------------------------------------------------------------------------------------------
# Answer
# ---------------------------------------------------------------------------------------------


@dataclass
class _Accepted:
    """An offered stream the answer accepts, before transport attributes are added."""

    index: int
    capability: MediaCapability
    attributes: list[Attribute]
    formats: list[str]


def _offered_direction(offered: Media) -> Direction:
    """The offer's direction, where an RFC 2543 hold (``c=0.0.0.0``, no ICE) means that the
    offerer does not want to receive (RFC 3264 §8.4: "neither RTP nor RTCP should be sent")."""
    direction = offered.effective_direction
    connection = offered.effective_connection
    if connection is not None and connection.is_unspecified and offered.ice_ufrag is None:
        direction = direction.limited_to(Direction.SENDONLY)
    return direction


def _accept(
    offered: Media, capability: MediaCapability, local: LocalCapabilities, *, bundled: bool
) -> tuple[list[Attribute], list[str]] | str:
    """Attributes (without transport ones) and formats of an accepted stream, or why not."""
    proto = offered.proto
    if _uses_dtls(proto) and (not offered.fingerprints or not local.fingerprints):
        return "DTLS without fingerprints on both sides"
    if offered.has_attribute("rtcp-mux-only") and not local.rtcp_mux:
        return "rtcp-mux-only offered, RTP/RTCP multiplexing not supported"
    attributes: list[Attribute] = []
    if offered.is_rtp:
        codecs = _intersect_codecs(offered.codecs, capability.codecs)
        if not any(not c.is_auxiliary for c in codecs):
            return "no common codec"
        accepted_pts = {str(c.payload_type) for c in codecs}
        feedback = [
            fb.attribute()
            for fb in offered.rtcp_fbs
            if (fb.payload_type == "*" or fb.payload_type in accepted_pts)
            and fb.feedback in capability.rtcp_feedback
        ]
        formats = [str(c.payload_type) for c in codecs]
        direction = (
            _offered_direction(offered)
            .reversed()
            .limited_to(capability.direction)
            .limited_to(local.direction)
        )
        attributes += [
            replace(e, direction=None).attribute()
            for e in offered.extmaps
            if e.uri in capability.header_extensions
        ]
        attributes.append(direction.attribute())
        # Bundled RTP media must multiplex RTP and RTCP (RFC 9143 §9.3.1.2).
        if local.rtcp_mux and (offered.rtcp_mux or bundled):
            attributes.append(Attribute("rtcp-mux"))
        attributes += _codec_lines(codecs, feedback)
        if capability.ptime is not None:
            attributes.append(Attribute("ptime", format_ptime(capability.ptime)))
        if capability.maxptime is not None:
            attributes.append(Attribute("maxptime", format_ptime(capability.maxptime)))
    else:
        formats = [f for f in offered.formats if f in capability.formats]
        if not formats:
            return "no common format"
        if offered.direction is not None:
            direction = (
                offered.direction.reversed()
                .limited_to(capability.direction)
                .limited_to(local.direction)
            )
            attributes.append(direction.attribute())
    if _uses_sdes(proto):
        ours = {c.suite: c for c in capability.crypto}
        chosen = next((c for c in offered.crypto if c.suite in ours), None)
        if chosen is None:
            return "no common SRTP crypto suite"
        mine = ours[chosen.suite]
        attributes.append(Crypto(chosen.tag, chosen.suite, mine.key_params).attribute())
    attributes += capability.attributes
    return attributes, formats


def make_answer(
    offer: SessionDescription,
    local: LocalCapabilities,
    previous_answer: SessionDescription | None = None,
) -> SessionDescription:
    """Answer ``offer`` (RFC 3264 §6) with what ``local`` supports.

    The answer has the offer's m= lines in the same order; a stream is rejected (port 0)
    when its media type or protocol is not supported, when it has no common codec, or when
    the offer disabled it. Common codecs keep the offerer's order and payload type numbers
    (§6.1); the direction is the offer's reversed and limited to local policy (§6.1);
    ``mid``, ``group:BUNDLE``, ``rtcp-mux``, ICE and DTLS attributes follow RFC 9143,
    RFC 5761, RFC 8839 and RFC 8842 when the offer uses them. With ``previous_answer`` (this
    side's last description in the session), the ``o=`` line is continued per RFC 3264 §8
    (see :func:`next_version`).

    Raises :class:`NoCommonMedia` (``status_code`` 488) when no stream at all is acceptable.
    """
    offered_bundle = offer.bundle_mids if local.bundle and local.rtcp_mux else ()
    used: set[int] = set()
    accepted: dict[int, _Accepted] = {}
    reasons: list[str] = []
    for index, offered in enumerate(offer.media):
        bundled = offered.mid is not None and offered.mid in offered_bundle
        # Port 0 disables a stream, except a bundle-only one inside a BUNDLE group (§6).
        if offered.port == 0 and not (bundled and offered.has_attribute("bundle-only")):
            reasons.append(f"m-line {index + 1} ({offered.media}): disabled in the offer")
            continue
        reason = "media type or protocol not supported"
        for number, capability in enumerate(local.media):
            if capability.media != offered.media or not capability.supports_proto(offered.proto):
                continue
            if number in used and not bundled:
                reason = "no free capability for another stream of this type"
                continue
            result = _accept(offered, capability, local, bundled=bundled)
            if isinstance(result, str):
                reason = result
                continue
            attributes, formats = result
            accepted[index] = _Accepted(index, capability, attributes, formats)
            used.add(number)
            break
        else:
            reasons.append(f"m-line {index + 1} ({offered.media} {offered.proto}): {reason}")
    if offer.media and not accepted:
        raise NoCommonMedia("nothing in the offer is acceptable: " + "; ".join(reasons))

    accepted_mids = {offer.media[i].mid for i in accepted}
    bundle = [mid for mid in dict.fromkeys(offered_bundle) if mid in accepted_mids]
    # The answerer-tagged m= section: the first accepted one of the offered group (§7.3.1).
    tagged = (
        next((i for i in accepted if offer.media[i].mid == bundle[0]), None) if bundle else None
    )
    bundle_port = accepted[tagged].capability.port if tagged is not None else None

    answer_media: list[Media] = []
    for index, offered in enumerate(offer.media):
        mid = offered.mid
        head = [] if mid is None else [Attribute("mid", mid)]
        item = accepted.get(index)
        if item is None:
            answer_media.append(
                Media(offered.media, 0, offered.proto, offered.formats, attributes=head)
            )
            continue
        in_bundle = mid is not None and mid in bundle
        transport: list[Attribute] = []
        if offered.ice_ufrag is not None:
            transport += _ice_lines(local)
        if _uses_dtls(offered.proto):
            transport += [f.attribute() for f in local.fingerprints]
            transport.append(_answer_setup(offered.setup, local.setup).attribute())
        tail: list[Attribute] = []
        if offered.ice_ufrag is not None and local.has_ice and (not in_bundle or index == tagged):
            tail = _candidate_lines(local)
        port = bundle_port if in_bundle and bundle_port is not None else item.capability.port
        answer_media.append(
            Media(
                offered.media,
                port,
                offered.proto,
                item.formats,
                attributes=[*head, *transport, *item.attributes, *tail],
            )
        )

    session_attributes: list[Attribute] = []
    if local.ice_lite and any(m.ice_ufrag is not None for m in offer.media):
        session_attributes.append(Attribute("ice-lite"))
    if bundle:
        session_attributes.append(Group("BUNDLE", tuple(bundle)).attribute())
    session_attributes += local.attributes
    answer = _session(local, answer_media, session_attributes)
    return next_version(previous_answer, answer)


# ---------------------------------------------------------------------------------------------
# Offer
# ---------------------------------------------------------------------------------------------


def make_offer(
    local: LocalCapabilities, previous_offer: SessionDescription | None = None
) -> SessionDescription:
    """An offer (RFC 3264 §5) of every capability in ``local``, in order.

    Each m= line lists the capability's codecs (or formats) in preference order with their
    rtpmap/fmtp, its direction limited by ``local.direction`` (so a ``sendonly`` local
    direction makes a hold offer, §8.4), ``rtcp-mux`` when enabled, mids and a
    ``group:BUNDLE`` of all streams when ``local.bundle`` (RFC 9143 §7.2), ICE
    credentials and candidates when set, and ``fingerprint`` + ``setup:actpass`` on DTLS
    protocols (RFC 8842 §5.2). ``previous_offer`` (this side's last description) keeps the
    ``o=`` line in sequence (§8).
    """
    if not local.media:
        raise SdpError("an offer needs at least one media capability")
    use_mids = local.bundle or any(c.mid is not None for c in local.media)
    mids = [c.mid if c.mid is not None else str(i) for i, c in enumerate(local.media)]
    media: list[Media] = []
    for index, capability in enumerate(local.media):
        proto = capability.protos[0]
        attributes: list[Attribute] = []
        if use_mids:
            attributes.append(Attribute("mid", mids[index]))
        attributes += _ice_lines(local)
        if _uses_dtls(proto):
            if not local.fingerprints:
                raise SdpError(f"{proto} needs local DTLS fingerprints")
            attributes += [f.attribute() for f in local.fingerprints]
            attributes.append(Setup.ACTPASS.attribute())
        direction = capability.direction.limited_to(local.direction)
        probe = Media(capability.media, capability.port, proto, ["0"])
        if probe.is_rtp:
            if not capability.codecs:
                raise SdpError(f"an RTP capability for {capability.media} needs codecs")
            attributes += [
                Attribute("extmap", f"{n} {uri}")
                for n, uri in enumerate(capability.header_extensions, start=1)
            ]
            attributes.append(direction.attribute())
            if local.rtcp_mux:
                attributes.append(Attribute("rtcp-mux"))
            feedback = [
                Attribute("rtcp-fb", f"{c.payload_type} {fb}")
                for c in capability.codecs
                if not c.is_auxiliary
                for fb in capability.rtcp_feedback
            ]
            attributes += _codec_lines(capability.codecs, feedback)
            if capability.ptime is not None:
                attributes.append(Attribute("ptime", format_ptime(capability.ptime)))
            if capability.maxptime is not None:
                attributes.append(Attribute("maxptime", format_ptime(capability.maxptime)))
            formats = [str(c.payload_type) for c in capability.codecs]
        else:
            if not capability.formats:
                raise SdpError(f"a non-RTP capability for {capability.media} needs formats")
            formats = list(capability.formats)
        if _uses_sdes(proto):
            attributes += [c.attribute() for c in capability.crypto]
        attributes += capability.attributes
        if local.has_ice and (not local.bundle or index == 0):
            attributes += _candidate_lines(local)
        media.append(
            Media(capability.media, capability.port, proto, formats, attributes=attributes)
        )
    session_attributes: list[Attribute] = []
    if local.ice_lite and local.has_ice:
        session_attributes.append(Attribute("ice-lite"))
    if local.bundle:
        session_attributes.append(Group("BUNDLE", tuple(mids)).attribute())
    session_attributes += local.attributes
    return next_version(previous_offer, _session(local, media, session_attributes))
