"""Offer/answer (RFC 3264) with ``sipwright.sdp``: codecs, rejection, hold, versions, WebRTC."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sipwright.sdp import (
    Attribute,
    Candidate,
    Codec,
    Crypto,
    Direction,
    Fingerprint,
    LocalCapabilities,
    Media,
    MediaCapability,
    NoCommonMedia,
    Origin,
    SdpError,
    SessionDescription,
    Setup,
    is_hold,
    make_answer,
    make_offer,
    next_version,
)

DATA = Path(__file__).parent / "data" / "sdp"

PCMU = Codec(0, "PCMU", 8000)
PCMA = Codec(8, "PCMA", 8000)
G729 = Codec(18, "G729", 8000)
DTMF = Codec(101, "telephone-event", 8000, fmtp="0-16")
OPUS = Codec(111, "opus", 48000, 2, "minptime=10;useinbandfec=1")
VP8 = Codec(96, "VP8", 90000)


def crlf(*lines: str) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode()


def offer_of(*media_lines: str, session: tuple[str, ...] = ()) -> SessionDescription:
    return SessionDescription.parse(
        crlf(
            "v=0",
            "o=alice 2890844526 2890844526 IN IP4 192.0.2.10",
            "s=-",
            "c=IN IP4 192.0.2.10",
            "t=0 0",
            *session,
            *media_lines,
        )
    )


def local(*media: MediaCapability, **kwargs: object) -> LocalCapabilities:
    return LocalCapabilities("198.51.100.20", 4242, media, username="bob", **kwargs)  # type: ignore[arg-type]


AUDIO = MediaCapability("audio", 30000, codecs=[PCMU, PCMA, DTMF], ptime=20)
VIDEO = MediaCapability("video", 30002, codecs=[VP8])


def answer_round_trip(answer: SessionDescription) -> SessionDescription:
    """The answer serialises to valid SDP that reads back equal."""
    reparsed = SessionDescription.parse(bytes(answer))
    assert reparsed == answer and reparsed.issues == ()
    return reparsed


# ---------------------------------------------------------------------------------------------
# Codecs
# ---------------------------------------------------------------------------------------------


def test_codec_intersection_keeps_the_offerers_order_and_numbers() -> None:
    offer = offer_of(
        "m=audio 49170 RTP/AVP 18 8 0 97",
        "a=rtpmap:18 G729/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:97 telephone-event/8000",
        "a=fmtp:97 0-15",
    )
    answer = answer_round_trip(make_answer(offer, local(AUDIO)))
    (audio,) = answer.media
    # G729 is not supported; PCMA before PCMU as offered although we prefer PCMU; the
    # offer's dynamic number 97 for telephone-event, not our 101; our fmtp for it.
    assert audio.formats == ("8", "0", "97")
    assert audio.codecs == (PCMA, PCMU, Codec(97, "telephone-event", 8000, fmtp="0-16"))
    assert audio.port == 30000 and audio.ptime == 20
    assert audio.effective_direction is Direction.SENDRECV
    assert answer.connection is not None and answer.connection.address == "198.51.100.20"
    assert answer.origin == Origin("bob", 4242, 1, "198.51.100.20")


def test_codecs_match_by_name_case_insensitively_rate_and_channels() -> None:
    offer = offer_of(
        "m=audio 49170 RTP/AVP 120 121 122 123 124",
        "a=rtpmap:120 OPUS/48000/2",
        "a=rtpmap:121 opus/48000",
        "a=rtpmap:122 telephone-event/48000",
        "a=rtpmap:123 TELEPHONE-EVENT/8000",
        "a=rtpmap:124 pcmu/16000",
    )
    caps = MediaCapability("audio", 30000, codecs=[OPUS, PCMU, DTMF])
    (audio,) = make_answer(offer, local(caps)).media
    # 121 is mono opus, 122 a 48 kHz telephone-event, 124 a 16 kHz PCMU: none match.
    assert [(c.payload_type, c.encoding_name) for c in audio.codecs] == [
        (120, "OPUS"),
        (123, "TELEPHONE-EVENT"),
    ]


def test_static_payload_types_without_rtpmap_are_matched_and_mapped_in_the_answer() -> None:
    offer = offer_of("m=audio 49170 RTP/AVP 0 8")
    (audio,) = make_answer(offer, local(AUDIO)).media
    assert audio.formats == ("0", "8")
    assert audio.attribute_values("rtpmap") == ["0 PCMU/8000", "8 PCMA/8000"]


def test_telephone_event_only_when_both_sides_support_it() -> None:
    offer = offer_of(
        "m=audio 49170 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15"
    )
    with_dtmf = make_answer(offer, local(AUDIO)).media[0]
    assert [c.encoding_name for c in with_dtmf.telephone_events] == ["telephone-event"]
    without = make_answer(offer, local(replace(AUDIO, codecs=[PCMU]))).media[0]
    assert without.telephone_events == () and without.formats == ("0",)
    not_offered = make_answer(offer_of("m=audio 49170 RTP/AVP 0"), local(AUDIO)).media[0]
    assert not_offered.telephone_events == ()


def test_rtx_kept_only_for_accepted_codecs() -> None:
    offer = offer_of(
        "m=video 51372 RTP/AVPF 96 97 102 103",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack",
        "a=rtcp-fb:96 goog-remb",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=rtpmap:102 H264/90000",
        "a=rtpmap:103 rtx/90000",
        "a=fmtp:103 apt=102",
    )
    caps = MediaCapability(
        "video",
        30002,
        codecs=[VP8, Codec(98, "rtx", 90000, fmtp="apt=96")],
        protos=["RTP/AVPF"],
        rtcp_feedback=["nack"],
    )
    (video,) = answer_round_trip(make_answer(offer, local(caps))).media
    assert video.formats == ("96", "97")
    assert video.codec(97) == Codec(97, "rtx", 90000, fmtp="apt=96")
    assert [str(fb) for fb in video.rtcp_fbs] == ["96 nack"]


# ---------------------------------------------------------------------------------------------
# Rejected streams
# ---------------------------------------------------------------------------------------------


def test_unsupported_streams_are_rejected_with_port_zero_in_place() -> None:
    offer = offer_of(
        "m=video 51372 RTP/AVP 31",
        "m=audio 49170 RTP/AVP 0",
        "m=image 49172 udptl t38",
        "m=audio 49174 RTP/SAVP 0",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
        "m=audio 49176 RTP/AVP 18",
    )
    answer = answer_round_trip(make_answer(offer, local(AUDIO)))
    assert [(m.media, m.port, m.proto, m.formats) for m in answer.media] == [
        ("video", 0, "RTP/AVP", ("31",)),  # media type not supported
        ("audio", 30000, "RTP/AVP", ("0",)),
        ("image", 0, "udptl", ("t38",)),  # media type not supported
        ("audio", 0, "RTP/SAVP", ("0",)),  # protocol not supported
        ("audio", 0, "RTP/AVP", ("18",)),  # no common codec
    ]
    assert [m.is_rejected for m in answer.media] == [True, False, True, True, True]


def test_one_capability_serves_one_unbundled_stream() -> None:
    offer = offer_of("m=audio 49170 RTP/AVP 0", "m=audio 49172 RTP/AVP 0")
    first, second = make_answer(offer, local(AUDIO)).media
    assert first.port == 30000 and second.port == 0
    two = make_answer(offer, local(AUDIO, replace(AUDIO, port=30010))).media
    assert [m.port for m in two] == [30000, 30010]


def test_disabled_offered_stream_stays_disabled() -> None:
    offer = offer_of("m=audio 0 RTP/AVP 0", "m=audio 49172 RTP/AVP 0")
    first, second = make_answer(offer, local(AUDIO)).media
    assert (first.port, second.port) == (0, 30000)


def test_no_common_codec_anywhere_is_488() -> None:
    offer = offer_of("m=audio 49170 RTP/AVP 18", "m=video 51372 RTP/AVP 31")
    with pytest.raises(NoCommonMedia) as info:
        make_answer(offer, local(AUDIO))
    error = info.value
    assert error.status_code == 488
    assert isinstance(error, SdpError) and isinstance(error, ValueError)
    assert "no common codec" in error.message and "m-line 2" in error.message


def test_only_auxiliary_formats_in_common_is_no_common_codec() -> None:
    offer = offer_of(
        "m=audio 49170 RTP/AVP 18 101 13",
        "a=rtpmap:101 telephone-event/8000",
        "a=rtpmap:13 CN/8000",
    )
    caps = replace(AUDIO, codecs=[PCMU, DTMF, Codec(13, "CN", 8000)])
    with pytest.raises(NoCommonMedia):
        make_answer(offer, local(caps))


def test_offer_without_media_gets_an_answer_without_media() -> None:
    answer = make_answer(offer_of(), local(AUDIO))
    assert answer.media == ()


# ---------------------------------------------------------------------------------------------
# Directions and hold
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "limit", "answered"),
    [
        (None, Direction.SENDRECV, Direction.SENDRECV),
        ("sendrecv", Direction.SENDRECV, Direction.SENDRECV),
        ("sendonly", Direction.SENDRECV, Direction.RECVONLY),
        ("recvonly", Direction.SENDRECV, Direction.SENDONLY),
        ("inactive", Direction.SENDRECV, Direction.INACTIVE),
        ("sendrecv", Direction.SENDONLY, Direction.SENDONLY),
        ("sendrecv", Direction.RECVONLY, Direction.RECVONLY),
        ("sendonly", Direction.SENDONLY, Direction.INACTIVE),
        ("recvonly", Direction.INACTIVE, Direction.INACTIVE),
    ],
)
def test_direction_is_inverted_and_limited(
    offered: str | None, limit: Direction, answered: Direction
) -> None:
    lines = ["m=audio 49170 RTP/AVP 0"] + ([f"a={offered}"] if offered else [])
    (audio,) = make_answer(offer_of(*lines), local(replace(AUDIO, direction=limit))).media
    assert audio.direction is answered


def test_session_level_direction_applies_to_every_stream() -> None:
    offer = offer_of(
        "m=audio 49170 RTP/AVP 0", "m=audio 49172 RTP/AVP 0", "a=sendrecv", session=("a=sendonly",)
    )
    assert is_hold(offer) is False  # the second stream overrides to sendrecv
    first, second = make_answer(offer, local(AUDIO, replace(AUDIO, port=30010))).media
    assert (first.direction, second.direction) == (Direction.RECVONLY, Direction.SENDRECV)
    held = offer_of("m=audio 49170 RTP/AVP 0", session=("a=inactive",))
    assert is_hold(held)


def test_hold_detection() -> None:
    assert not is_hold(offer_of("m=audio 49170 RTP/AVP 0"))
    assert is_hold(offer_of("m=audio 49170 RTP/AVP 0", "a=sendonly"))
    assert is_hold(offer_of("m=audio 49170 RTP/AVP 0", "a=inactive"))
    assert not is_hold(offer_of("m=audio 49170 RTP/AVP 0", "a=recvonly"))
    assert not is_hold(offer_of("m=audio 0 RTP/AVP 0", "a=sendonly"))
    # RFC 2543 hold: c=0.0.0.0 (RFC 3264 §8.4), at session or media level.
    legacy = SessionDescription.parse(
        crlf(
            "v=0",
            "o=- 1 2 IN IP4 192.0.2.1",
            "s=-",
            "c=IN IP4 0.0.0.0",
            "t=0 0",
            "m=audio 49170 RTP/AVP 0",
        )
    )
    assert is_hold(legacy) and legacy.media[0].on_hold
    per_media = offer_of("m=audio 49170 RTP/AVP 0", "c=IN IP4 0.0.0.0", "m=video 0 RTP/AVP 31")
    assert is_hold(per_media)
    # ... but not with ICE, where c=0.0.0.0 is only a placeholder.
    ice = offer_of(
        "m=audio 9 RTP/AVP 0",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuv",
    )
    assert not is_hold(ice)
    # One stream held, one not: the call as a whole is not on hold.
    mixed = offer_of("m=audio 49170 RTP/AVP 0", "a=sendonly", "m=video 51372 RTP/AVP 31")
    assert not is_hold(mixed) and mixed.media[0].on_hold


def test_hold_and_resume_dialog_with_versions() -> None:
    """A calls B, holds (sendonly), goes inactive, resumes; o= versions follow RFC 3264 §8."""
    alice = LocalCapabilities("192.0.2.10", 2890844526, [AUDIO], username="alice")
    bob = local(AUDIO)

    offer1 = make_offer(alice)
    answer1 = make_answer(offer1, bob)
    assert (offer1.origin.sess_version, answer1.origin.sess_version) == (1, 1)
    assert answer1.media[0].direction is Direction.SENDRECV

    offer2 = make_offer(replace(alice, direction=Direction.SENDONLY), offer1)
    assert is_hold(offer2) and offer2.media[0].direction is Direction.SENDONLY
    answer2 = make_answer(SessionDescription.parse(bytes(offer2)), bob, answer1)
    assert answer2.media[0].direction is Direction.RECVONLY
    assert (offer2.origin.sess_version, answer2.origin.sess_version) == (2, 2)

    offer3 = make_offer(replace(alice, direction=Direction.INACTIVE), offer2)
    answer3 = make_answer(offer3, bob, answer2)
    assert is_hold(offer3) and answer3.media[0].direction is Direction.INACTIVE
    assert (offer3.origin.sess_version, answer3.origin.sess_version) == (3, 3)

    offer4 = make_offer(alice, offer3)
    answer4 = make_answer(offer4, bob, answer3)
    assert not is_hold(offer4) and answer4.media[0].direction is Direction.SENDRECV
    assert (offer4.origin.sess_version, answer4.origin.sess_version) == (4, 4)

    # A re-INVITE without change: same offer, same answer, versions unchanged.
    assert make_offer(alice, offer4) == offer4
    again = make_answer(offer4, bob, answer4)
    assert again == answer4 and bytes(again) == bytes(answer4)
    # The session id and the rest of the origin never change.
    for sd in (offer2, offer3, offer4):
        assert replace(sd.origin, sess_version=1) == offer1.origin
    for sd in (answer2, answer3, answer4):
        assert replace(sd.origin, sess_version=1) == answer1.origin


def test_next_version() -> None:
    previous = SessionDescription.parse(
        crlf(
            "v=0",
            "o=bob 7 0009 IN IP4 198.51.100.20",
            "s=-",
            "c=IN IP4 198.51.100.20",
            "t=0 0",
            "m=audio 30000 RTP/AVP 0",
        )
    )
    assert next_version(None, previous) is previous
    # Identical content, even with another origin written by the caller: unchanged.
    rebuilt = replace(previous, origin=Origin("other", 1, 1, "192.0.2.1"))
    same = next_version(previous, rebuilt)
    assert same is previous and bytes(same).startswith(b"v=0\r\no=bob 7 0009 ")
    changed = replace(previous, media=[replace(previous.media[0], port=30010)])
    bumped = next_version(previous, changed)
    assert bumped.origin == Origin("bob", 7, 10, "198.51.100.20")
    assert bytes(bumped).splitlines()[1] == b"o=bob 7 10 IN IP4 198.51.100.20"
    assert bumped.media[0].port == 30010


# ---------------------------------------------------------------------------------------------
# SDES-SRTP
# ---------------------------------------------------------------------------------------------


def test_sdes_crypto_answer_picks_a_common_suite_with_the_offered_tag() -> None:
    offer = offer_of(
        "m=audio 49170 RTP/SAVP 0",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20",
        "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20",
    )
    ours = Crypto(
        9, "AES_CM_128_HMAC_SHA1_32", ("inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj",)
    )
    caps = replace(AUDIO, protos=["RTP/SAVP"], crypto=[ours])
    (audio,) = answer_round_trip(make_answer(offer, local(caps))).media
    assert audio.crypto == (Crypto(2, "AES_CM_128_HMAC_SHA1_32", ours.key_params),)
    no_keys = replace(caps, crypto=[])
    with pytest.raises(NoCommonMedia, match="crypto"):
        make_answer(offer, local(no_keys))


# ---------------------------------------------------------------------------------------------
# WebRTC: answering the browser's offer
# ---------------------------------------------------------------------------------------------

FINGERPRINT = Fingerprint("sha-256", ":".join(f"{b:02X}" for b in range(32)))
HOST = Candidate("1", 1, "udp", 2130706431, "198.51.100.20", 40000, "host")
WEBRTC = LocalCapabilities(
    address="198.51.100.20",
    session_id=8001,
    username="sipwright",
    media=[
        MediaCapability(
            "audio",
            40000,
            codecs=[PCMU, OPUS, Codec(101, "telephone-event", 48000), DTMF],
            protos=["UDP/TLS/RTP/SAVPF"],
            rtcp_feedback=["transport-cc"],
            header_extensions=[
                "urn:ietf:params:rtp-hdrext:sdes:mid",
                "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            ],
        ),
        MediaCapability(
            "video",
            40002,
            codecs=[Codec(100, "VP8", 90000), Codec(101, "rtx", 90000, fmtp="apt=100")],
            protos=["UDP/TLS/RTP/SAVPF"],
            rtcp_feedback=["nack", "nack pli", "transport-cc"],
            header_extensions=["urn:ietf:params:rtp-hdrext:sdes:mid"],
        ),
    ],
    ice_ufrag="Ab12",
    ice_pwd="0123456789abcdefghijklmn",
    ice_options=["trickle"],
    candidates=[HOST],
    end_of_candidates=True,
    fingerprints=[FINGERPRINT],
)


def browser_offer() -> SessionDescription:
    return SessionDescription.parse((DATA / "chrome-offer.sdp").read_bytes())


def test_answer_to_browser_offer_is_valid() -> None:
    offer = browser_offer()
    answer = answer_round_trip(make_answer(offer, WEBRTC))
    # Same m-lines, same order, same mids; the data channel (unsupported here) rejected.
    assert [(m.media, m.proto) for m in answer.media] == [(m.media, m.proto) for m in offer.media]
    assert [m.mid for m in answer.media] == ["0", "1", "2"]
    audio, video, data = answer.media
    assert data.port == 0 and data.formats == ("webrtc-datachannel",)
    assert data.attributes == (Attribute("mid", "2"),)
    # BUNDLE of the accepted mids only, all on the answerer's one address and port.
    assert answer.bundle_mids == ("0", "1")
    assert audio.port == video.port == 40000
    assert answer.connection is not None and answer.connection.address == "198.51.100.20"
    # Codecs: a subset of the offer, offer order, offer payload types.
    for ours, theirs in ((audio, offer.media[0]), (video, offer.media[1])):
        offered = {c.payload_type: c for c in theirs.codecs}
        assert all(
            c.payload_type in offered and offered[c.payload_type].matches(c) for c in ours.codecs
        )
        order = [c.payload_type for c in theirs.codecs]
        assert [c.payload_type for c in ours.codecs] == [
            p for p in order if p in {c.payload_type for c in ours.codecs}
        ]
    assert [c.payload_type for c in audio.codecs] == [111, 0, 110, 126]
    assert audio.codecs[0].fmtp == "minptime=10;useinbandfec=1"
    assert [(c.payload_type, c.encoding_name) for c in video.codecs] == [(96, "VP8"), (97, "rtx")]
    assert video.codec(97) == Codec(97, "rtx", 90000, fmtp="apt=96")
    # Directions, rtcp-mux, header extensions and feedback.
    assert audio.direction is video.direction is Direction.SENDRECV
    assert audio.rtcp_mux and video.rtcp_mux and audio.rtcp is None
    assert [(e.id, e.uri) for e in audio.extmaps] == [
        (1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
        (4, "urn:ietf:params:rtp-hdrext:sdes:mid"),
    ]
    offered_ext = {(e.id, e.uri) for m in offer.media for e in m.extmaps}
    assert {(e.id, e.uri) for m in answer.media for e in m.extmaps} <= offered_ext
    offered_fb = {str(fb) for fb in offer.media[1].rtcp_fbs}
    assert {str(fb) for fb in video.rtcp_fbs} == {"96 transport-cc", "96 nack", "96 nack pli"}
    assert {str(fb) for fb in video.rtcp_fbs} <= offered_fb
    # ICE and DTLS.
    for media in (audio, video):
        assert media.ice_ufrag == "Ab12" and media.ice_pwd == "0123456789abcdefghijklmn"
        assert media.ice_options == ("trickle",)
        assert media.fingerprints == (FINGERPRINT,)
        assert media.setup is Setup.ACTIVE
    assert audio.candidates == (HOST,) and audio.end_of_candidates
    assert video.candidates == () and not video.end_of_candidates
    assert not is_hold(answer)


def test_browser_offer_answer_variants() -> None:
    offer = browser_offer()
    # Accept the data channel as well, as the DTLS server.
    data = MediaCapability(
        "application",
        40004,
        protos=["UDP/DTLS/SCTP"],
        formats=["webrtc-datachannel"],
        attributes=[Attribute("sctp-port", "5000"), Attribute("max-message-size", "65536")],
    )
    answer = make_answer(offer, replace(WEBRTC, media=[*WEBRTC.media, data], setup=Setup.PASSIVE))
    assert answer.bundle_mids == ("0", "1", "2")
    channel = answer.media[2]
    assert (channel.port, channel.formats) == (40000, ("webrtc-datachannel",))
    assert channel.attribute("sctp-port") == "5000" and channel.direction is None
    assert channel.setup is Setup.PASSIVE
    # Without BUNDLE support each stream keeps its own port and candidates.
    unbundled = make_answer(offer, replace(WEBRTC, bundle=False))
    assert unbundled.bundle_mids == () and [m.port for m in unbundled.media] == [40000, 40002, 0]
    assert all(m.candidates == (HOST,) for m in unbundled.media[:2])
    # Without DTLS fingerprints nothing of a WebRTC offer can be accepted.
    with pytest.raises(NoCommonMedia, match="fingerprint"):
        make_answer(offer, replace(WEBRTC, fingerprints=[]))
    # A browser offer put on hold.
    held = replace(offer, media=[m.with_direction(Direction.SENDONLY) for m in offer.media])
    assert is_hold(held)
    assert [m.direction for m in make_answer(held, WEBRTC).media[:2]] == [Direction.RECVONLY] * 2


def test_webrtc_offer_from_make_offer_is_answered() -> None:
    offer = make_offer(replace(WEBRTC, session_id=1, setup=Setup.ACTIVE))
    assert offer.bundle_mids == ("0", "1")
    assert all(m.setup is Setup.ACTPASS for m in offer.media)
    assert offer.media[0].candidates == (HOST,) and offer.media[1].candidates == ()
    assert [str(fb) for fb in offer.media[1].rtcp_fbs] == [
        "100 nack",
        "100 nack pli",
        "100 transport-cc",
    ]
    reparsed = SessionDescription.parse(bytes(offer))
    assert reparsed == offer and reparsed.issues == ()
    answer = make_answer(reparsed, WEBRTC)
    assert answer.bundle_mids == ("0", "1")
    assert [c.payload_type for c in answer.media[1].codecs] == [100, 101]
    assert all(m.setup is Setup.ACTIVE for m in answer.media)


def test_capability_validation() -> None:
    with pytest.raises(SdpError):
        LocalCapabilities("192.0.2.1", 1, [AUDIO], ice_ufrag="abcd")
    with pytest.raises(SdpError):
        LocalCapabilities("192.0.2.1", 1, [AUDIO], setup=Setup.ACTPASS)
    with pytest.raises(SdpError):
        LocalCapabilities("not an address", 1, [AUDIO])
    with pytest.raises(SdpError):
        MediaCapability("audio", 1, protos=[])
    with pytest.raises(SdpError):
        make_offer(LocalCapabilities("192.0.2.1", 1, []))
    with pytest.raises(SdpError):
        make_offer(LocalCapabilities("192.0.2.1", 1, [MediaCapability("audio", 1)]))


def test_answer_media_can_be_extended_by_the_application() -> None:
    answer = make_answer(offer_of("m=audio 49170 RTP/AVP 0"), local(AUDIO))
    extended = replace(answer, media=[answer.media[0].with_attributes(Attribute("label", "1"))])
    assert isinstance(extended.media[0], Media) and extended.media[0].attribute("label") == "1"
    assert next_version(answer, extended).origin.sess_version == answer.origin.sess_version + 1


def test_rfc2543_hold_offer_gets_an_answer_that_does_not_send() -> None:
    """c=0.0.0.0 means "send me nothing" (RFC 3264 §8.4), whatever the direction says."""
    offer = offer_of("m=audio 49170 RTP/AVP 0", "c=IN IP4 0.0.0.0")
    assert is_hold(offer)
    (audio,) = make_answer(offer, local(AUDIO)).media
    assert audio.direction is Direction.RECVONLY
    inactive = offer_of("m=audio 49170 RTP/AVP 0", "c=IN IP4 0.0.0.0", "a=recvonly")
    assert make_answer(inactive, local(AUDIO)).media[0].direction is Direction.INACTIVE


def test_bundle_only_sections_and_rtcp_mux_in_bundles() -> None:
    """A port-0 ``bundle-only`` m= section is bundled, not disabled (RFC 9143 §6)."""
    offer = offer_of(
        "m=audio 49170 RTP/AVP 0",
        "a=mid:a",
        "a=rtcp-mux",
        "m=video 0 RTP/AVP 96",
        "a=mid:v",
        "a=bundle-only",
        "a=rtpmap:96 VP8/90000",
        session=("a=group:BUNDLE a v",),
    )
    answer = answer_round_trip(make_answer(offer, local(AUDIO, VIDEO)))
    audio, video = answer.media
    assert answer.bundle_mids == ("a", "v")
    assert audio.port == video.port == 30000
    assert audio.rtcp_mux and video.rtcp_mux  # bundled RTP media multiplex RTCP
    assert not video.has_attribute("bundle-only")
    # Without BUNDLE support, the bundle-only section cannot be used.
    unbundled = make_answer(offer, local(AUDIO, VIDEO, bundle=False))
    assert [m.port for m in unbundled.media] == [30000, 0] and unbundled.bundle_mids == ()
