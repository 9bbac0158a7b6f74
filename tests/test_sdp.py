"""SDP parsing, typed views, serialisation and builders (``sipwright.sdp``, RFC 8866).

The corpus bodies are cut out of their SIP messages at the first empty line, without the SIP
parser, so that these tests depend on the SDP layer alone.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from peers import shared_dir

from sipwright.errors import SipError
from sipwright.sdp import (
    Attribute,
    Bandwidth,
    Candidate,
    Codec,
    Connection,
    Crypto,
    Direction,
    ExtMap,
    Fingerprint,
    Group,
    Media,
    Msid,
    NoCommonMedia,
    Origin,
    Repeat,
    Rtcp,
    RtcpFb,
    RtpMap,
    SdpError,
    SessionDescription,
    Setup,
    Timing,
    ZoneAdjustments,
    is_hold,
    parse_sdp,
    static_codec,
)

DATA = Path(__file__).parent / "data" / "sdp"
SHARED = shared_dir()
SEEDS = SHARED / "seeds" / "examples"
TORTURE = SHARED / "torture"


def body_of(path: Path) -> bytes:
    """The body of a SIP message file: everything after the first empty line (or b"")."""
    data = path.read_bytes()
    for separator in (b"\r\n\r\n", b"\n\n"):
        _head, found, body = data.partition(separator)
        if found:
            return body
    return b""


def crlf(*lines: str) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode()


# ---------------------------------------------------------------------------------------------
# The seed examples
# ---------------------------------------------------------------------------------------------

SEED_SDP = sorted(p for p in SEEDS.glob("*.sip") if body_of(p).startswith(b"v=0"))


def test_seed_corpus_has_sdp_bodies() -> None:
    assert {p.name for p in SEED_SDP} >= {
        "format-invite-sdp.sip",
        "overview-200-ok.sip",
        "overview-invite.sip",
    }


@pytest.mark.parametrize("path", SEED_SDP, ids=lambda p: p.name)
def test_seed_bodies_parse_and_round_trip(path: Path) -> None:
    body = body_of(path)
    sd = SessionDescription.parse(body)
    assert bytes(sd) == body
    assert not sd.bare_lf
    assert sd.media and sd.media[0].media == "audio"


def test_format_invite_sdp_fields() -> None:
    sd = SessionDescription.parse(body_of(SEEDS / "format-invite-sdp.sip"))
    assert sd.origin == Origin("151", 9655, 9655, "10.135.0.12")
    assert (sd.origin.nettype, sd.origin.addrtype) == ("IN", "IP4")
    assert sd.session_name == "-"
    assert sd.connection == Connection("10.135.0.12")
    assert [(t.start, t.stop) for t in sd.timings] == [(0, 0)]
    assert sd.direction is None
    (audio,) = sd.media
    assert (audio.media, audio.port, audio.port_count, audio.proto) == (
        "audio",
        50024,
        None,
        "RTP/AVP",
    )
    assert audio.formats == ("8", "0", "2", "18")
    assert audio.codecs == (
        Codec(8, "PCMA", 8000),
        Codec(0, "PCMU", 8000),
        Codec(2, "G726-32", 8000, 1),
        Codec(18, "G729", 8000),
    )
    assert audio.rtpmaps[2] == RtpMap(2, "G726-32", 8000, "1")
    assert audio.ptime == 20
    assert audio.maxptime == 80
    assert audio.direction is Direction.SENDRECV
    assert audio.effective_direction is Direction.SENDRECV
    assert audio.rtcp == Rtcp(50025)
    assert not audio.rtcp_mux
    assert audio.effective_connection == Connection("10.135.0.12")
    assert not audio.on_hold and not is_hold(sd)
    assert sd.issues == ()


def test_overview_seed_empty_session_name_is_tolerated_and_reported() -> None:
    sd = SessionDescription.parse(body_of(SEEDS / "overview-200-ok.sip"))
    assert sd.session_name == ""
    assert [(i.line, i.code) for i in sd.issues] == [(3, "empty-text")]
    assert sd.origin.sess_version == 2353687637
    assert sd.media[0].codecs == (Codec(0, "PCMU", 8000),)
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(body_of(SEEDS / "overview-200-ok.sip"), strict=True)
    assert info.value.line == 3


# ---------------------------------------------------------------------------------------------
# Torture messages (RFC 4475, RFC 5118)
# ---------------------------------------------------------------------------------------------

TORTURE_SDP = sorted(
    p
    for p in [*TORTURE.glob("*.dat"), *TORTURE.glob("rfc5118/**/*.dat")]
    if body_of(p).startswith(b"v=0")
)


@pytest.mark.parametrize("path", TORTURE_SDP, ids=lambda p: str(p.relative_to(TORTURE)))
def test_torture_bodies(path: Path) -> None:
    """Every SDP body of the torture corpus parses, except mismatch02's (no s= and no t=)."""
    body = body_of(path)
    if path.name == "mismatch02.dat":
        with pytest.raises(SdpError) as info:
            SessionDescription.parse(body)
        assert info.value.line == 3
        assert "s=" in info.value.message
        return
    sd = SessionDescription.parse(body)
    if b"\r\n" in body:
        assert bytes(sd) == body.rstrip(b"\r\n") + b"\r\n"
    else:
        assert sd.bare_lf
        assert bytes(sd) == body.replace(b"\n", b"\r\n")


def test_rfc4475_lpc_rtpmap_is_kept_but_ignored() -> None:
    """``a=rtpmap:31 LPC`` lacks the clock rate: kept verbatim, PT 31 resolves statically."""
    body = body_of(TORTURE / "sdp01.dat")
    sd = SessionDescription.parse(body)
    assert bytes(sd) == body
    assert [(i.line, i.code) for i in sd.issues] == [(8, "bad-attribute")]
    audio, video = sd.media
    assert [c.encoding_name for c in audio.codecs] == ["PCMU", "QCELP"]
    assert video.rtpmaps == {}
    assert video.codecs == (Codec(31, "H261", 90000),)
    assert video.attributes == (Attribute("rtpmap", "31 LPC"),)
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(body, strict=True)
    assert info.value.line == 8


def test_rfc5118_ipv6_in_sdp() -> None:
    sd = SessionDescription.parse(body_of(TORTURE / "rfc5118" / "wire" / "ipv6-in-sdp.dat"))
    assert sd.origin == Origin("assistant", 971731711378798081, 0, "2001:db8::20")
    assert sd.origin.addrtype == "IP6"
    assert sd.connection is not None and sd.connection.addrtype == "IP6"
    assert str(sd.connection.ip) == "2001:db8::20"
    assert sd.session_name == "Live video feed for today's meeting"
    assert [(t.start, t.stop) for t in sd.timings] == [(3338481189, 3370017201)]
    assert [(m.media, m.port, m.codecs[0].encoding_name) for m in sd.media] == [
        ("audio", 6000, "G726-32"),
        ("video", 6024, "H263-1998"),
    ]


def test_rfc5118_media_on_ipv4_and_ipv6() -> None:
    sd = SessionDescription.parse(body_of(TORTURE / "rfc5118" / "wire" / "mult-ip-in-sdp.dat"))
    assert sd.connection is None
    audio, video = sd.media
    assert audio.effective_connection == Connection("192.0.2.1")
    assert video.effective_connection == Connection("2001:db8::1", addrtype="IP6")
    assert all(i.code != "no-connection" for i in sd.issues)


def test_rfc5118_ipv4_mapped_ipv6() -> None:
    sd = SessionDescription.parse(body_of(TORTURE / "rfc5118" / "wire" / "ipv4-mapped-ipv6.dat"))
    assert sd.origin.address == "::ffff:192.0.2.2"
    assert sd.connection is not None and sd.connection.addrtype == "IP6"


def test_bare_lf_archive_body_equals_crlf_wire_body() -> None:
    for name in ("ipv6-in-sdp.dat", "mult-ip-in-sdp.dat", "ipv4-mapped-ipv6.dat"):
        archive = body_of(TORTURE / "rfc5118" / name)
        wire = body_of(TORTURE / "rfc5118" / "wire" / name)
        assert b"\r" not in archive
        sd = SessionDescription.parse(archive)
        assert sd.bare_lf
        assert {i.line for i in sd.issues if i.code == "bare-lf"} == set(
            range(1, archive.count(b"\n") + 1)
        )
        assert bytes(sd) == wire
        assert SessionDescription.parse(wire) == sd


# ---------------------------------------------------------------------------------------------
# Every line type
# ---------------------------------------------------------------------------------------------

FULL = crlf(
    "v=0",
    "o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1",
    "s=SDP Seminar",
    "i=A Seminar on the session description protocol",
    "u=http://www.example.com/seminars/sdp.pdf",
    "e=j.doe@example.com (Jane Doe)",
    "e=Jane Doe <jane@jdoe.example.com>",
    "p=+1 617 555-6011",
    "c=IN IP4 233.252.0.1/127/3",
    "b=CT:384",
    "t=3724394400 3724398000",
    "r=7d 1h 0 25h",
    "r=604800 3600 0 90000",
    "z=2882844526 -1h 2898848070 0",
    "t=3724484400 3724488000",
    "k=prompt",
    "a=recvonly",
    "a=tool:sipwright",
    "m=audio 49170/2 RTP/AVP 0 96",
    "i=main audio",
    "c=IN IP6 ff15::101/3",
    "b=AS:64",
    "b=TIAS:64000",
    "k=clear:secret key",
    "a=rtpmap:96 L16/16000/2",
    "a=x-unknown:kept verbatim: yes",
    "a=sendonly",
    "m=video 51372 RTP/AVP 99",
    "c=IN IP6 2001:db8::2",
    "a=rtpmap:99 h263-1998/90000",
    "m=application 32416 udp wb",
    "a=orient:portrait",
)


def test_every_line_type_parses_and_round_trips() -> None:
    sd = SessionDescription.parse(FULL)
    assert bytes(sd) == FULL
    assert sd.issues == ()
    assert sd.information == "A Seminar on the session description protocol"
    assert sd.uri == "http://www.example.com/seminars/sdp.pdf"
    assert sd.emails == ("j.doe@example.com (Jane Doe)", "Jane Doe <jane@jdoe.example.com>")
    assert sd.phones == ("+1 617 555-6011",)
    assert sd.connection == Connection("233.252.0.1", ttl=127, count=3)
    assert sd.connection.is_multicast
    assert sd.bandwidths == (Bandwidth("CT", 384),)
    first, second = sd.timings
    assert (first.start, first.stop) == (3724394400, 3724398000)
    assert first.repeats == (
        Repeat("7d", "1h", ("0", "25h")),
        Repeat("604800", "3600", ("0", "90000")),
    )
    assert first.repeats[0].seconds() == first.repeats[1].seconds() == (604800, 3600, (0, 90000))
    assert first.zone == ZoneAdjustments((("2882844526", "-1h"), ("2898848070", "0")))
    assert second.repeats == () and second.zone is None
    assert sd.key is not None and sd.key.method == "prompt" and sd.key.value is None
    assert sd.direction is Direction.RECVONLY
    assert sd.attribute("tool") == "sipwright"
    audio, video, app = sd.media
    assert audio.port_count == 2 and audio.title == "main audio"
    assert audio.connection == Connection("ff15::101", addrtype="IP6", count=3)
    assert audio.bandwidths == (Bandwidth("AS", 64), Bandwidth("TIAS", 64000))
    assert audio.key is not None and audio.key.value == "secret key"
    assert audio.codecs == (Codec(0, "PCMU", 8000), Codec(96, "L16", 16000, 2))
    assert audio.attribute("x-unknown") == "kept verbatim: yes"
    # Direction: media level overrides the session-level default (RFC 8866 §6.7).
    assert audio.effective_direction is Direction.SENDONLY
    assert video.direction is None and video.effective_direction is Direction.RECVONLY
    assert video.codecs == (Codec(99, "h263-1998", 90000),)
    assert app.is_rtp is False and app.codecs == ()
    assert app.effective_connection == sd.connection


def test_static_payload_types_resolve_without_rtpmap() -> None:
    sd = SessionDescription.parse(
        crlf(
            "v=0",
            "o=- 1 1 IN IP4 192.0.2.1",
            "s=-",
            "c=IN IP4 192.0.2.1",
            "t=0 0",
            "m=audio 4000 RTP/AVP 0 3 4 8 9 13 18 96",
            "m=video 4002 RTP/AVP 31 34",
        )
    )
    audio, video = sd.media
    assert [(c.payload_type, c.encoding_name, c.clock_rate) for c in audio.codecs] == [
        (0, "PCMU", 8000),
        (3, "GSM", 8000),
        (4, "G723", 8000),
        (8, "PCMA", 8000),
        (9, "G722", 8000),
        (13, "CN", 8000),
        (18, "G729", 8000),
    ]
    assert [c.encoding_name for c in video.codecs] == ["H261", "H263"]
    assert [(i.line, i.code) for i in sd.issues] == [(6, "no-rtpmap")]
    assert static_codec(2) is None and static_codec(8) == Codec(8, "PCMA", 8000)


def test_rtpmap_overrides_static_meaning() -> None:
    sd = SessionDescription.parse(
        crlf(
            "v=0",
            "o=- 1 1 IN IP4 192.0.2.1",
            "s=-",
            "c=IN IP4 192.0.2.1",
            "t=0 0",
            "m=audio 4000 RTP/AVP 0 101",
            "a=rtpmap:0 pcmu/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
        )
    )
    (audio,) = sd.media
    assert audio.codecs[0].encoding_name == "pcmu" and audio.codecs[0].matches(
        Codec(0, "PCMU", 8000)
    )
    assert audio.telephone_events == (Codec(101, "telephone-event", 8000, fmtp="0-16"),)
    assert audio.codecs[1].fmtp_params == {"0-16": ""}


def test_crypto_rfc4568() -> None:
    crypto = Crypto.parse(
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"
    )
    assert crypto.tag == 1
    assert crypto.suite == "AES_CM_128_HMAC_SHA1_80"
    assert crypto.inline_keys == ("PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32",)
    with_session = Crypto.parse(
        "2 F8_128_HMAC_SHA1_80 inline:MTIz|2^20|1:4;inline:NDU2|2^20|2:4 FEC_ORDER=FEC_SRTP"
    )
    assert len(with_session.key_params) == 2
    assert with_session.session_params == ("FEC_ORDER=FEC_SRTP",)
    assert (
        str(with_session)
        == "2 F8_128_HMAC_SHA1_80 inline:MTIz|2^20|1:4;inline:NDU2|2^20|2:4 FEC_ORDER=FEC_SRTP"
    )
    for bad in ("x AES inline:a", "1 AES", "1 AES inline"):
        with pytest.raises(SdpError):
            Crypto.parse(bad)


def test_typed_attribute_views_parse_and_render() -> None:
    candidate = Candidate.parse(
        "842163049 1 udp 1686052607 203.0.113.7 54321 typ srflx raddr 192.168.1.23 rport 54321 "
        "generation 0 network-id 1"
    )
    assert (candidate.foundation, candidate.component, candidate.transport) == (
        "842163049",
        1,
        "udp",
    )
    assert (candidate.priority, candidate.address, candidate.port, candidate.type) == (
        1686052607,
        "203.0.113.7",
        54321,
        "srflx",
    )
    assert (candidate.related_address, candidate.related_port) == ("192.168.1.23", 54321)
    assert candidate.extensions == (("generation", "0"), ("network-id", "1"))
    assert Candidate.parse(str(candidate)) == candidate
    assert Rtcp.parse("53020 IN IP6 2001:db8::1") == Rtcp(53020, "IN", "IP6", "2001:db8::1")
    assert Group.parse("BUNDLE a b") == Group("BUNDLE", ("a", "b"))
    assert ExtMap.parse("2/recvonly urn:x ext") == ExtMap(2, "urn:x", Direction.RECVONLY, "ext")
    assert Msid.parse("stream track") == Msid("stream", "track")
    assert RtcpFb.parse("96 nack pli").feedback == "nack pli"
    assert RtcpFb.parse("* ccm fir").payload_type == "*"
    assert Fingerprint.parse("sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB")
    for parser, bad in [
        (Candidate.parse, "1 1 udp 1 192.0.2.1 9 host"),
        (Candidate.parse, "1 1 udp 1 192.0.2.1 9 typ host generation"),
        (Rtcp.parse, "70000"),
        (Fingerprint.parse, "sha-256 XYZ"),
        (RtpMap.parse, "96 opus"),
        (RtpMap.parse, "200 opus/48000"),
        (ExtMap.parse, "1/sideways urn:x"),
    ]:
        with pytest.raises(SdpError):
            parser(bad)


# ---------------------------------------------------------------------------------------------
# Malformed input: SdpError with the right line
# ---------------------------------------------------------------------------------------------

GOOD_HEAD = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0"]


@pytest.mark.parametrize(
    ("lines", "line", "words"),
    [
        (["o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"], 1, "first line"),
        (["v=1", *GOOD_HEAD[1:]], 1, "version"),
        (["v=0", "s=-", "t=0 0"], 2, "o="),
        (["v=0", "o=- 1 1 IN IP4", "s=-", "t=0 0"], 2, "6 fields"),
        (["v=0", "o=- x 1 IN IP4 192.0.2.1", "s=-", "t=0 0"], 2, "sess-id"),
        (["v=0", "o=-  1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"], 2, "one space"),
        (["v=0", "o=- 1 1 IN IP4 300.1.1.1", "s=-", "t=0 0"], 2, "IPv4"),
        (["v=0", "o=- 1 1 IN IP6 2001:db8:::1:2:3:4:5", "s=-", "t=0 0"], 2, "IPv6"),
        ([*GOOD_HEAD[:4], "m=audio 1 RTP/AVP 0"], 5, "t="),
        ([*GOOD_HEAD[:3], "t=0 0", "c=IN IP4 192.0.2.1"], 5, "out of order"),
        ([*GOOD_HEAD, "s=again"], 6, "out of order"),
        ([*GOOD_HEAD[:4], "c=IN IP4 192.0.2.2", "t=0 0"], 5, "more than one"),
        ([*GOOD_HEAD, "x=unknown"], 6, "unknown line type"),
        ([*GOOD_HEAD, "a = x"], 6, "'<type>=<value>'"),
        ([*GOOD_HEAD, "", "a=x"], 6, "empty line"),
        ([*GOOD_HEAD, "m=audio 70000 RTP/AVP 0"], 6, "port"),
        ([*GOOD_HEAD, "m=audio 4000 RTP/AVP"], 6, "at least 4"),
        ([*GOOD_HEAD, "m=audio 4000/0 RTP/AVP 0"], 6, "port count"),
        ([*GOOD_HEAD, "m=audio 4000 RTP//AVP 0"], 6, "proto"),
        ([*GOOD_HEAD, "m=audio 4000 RTP/AVP 0", "t=0 0"], 7, "not allowed"),
        ([*GOOD_HEAD, "m=audio 4000 RTP/AVP 0", "a=x", "c=IN IP4 192.0.2.1"], 8, "out of order"),
        ([*GOOD_HEAD, "m=audio 4000 RTP/AVP 0", "i=a", "i=b"], 8, "more than one"),
        ([*GOOD_HEAD[:3], "c=IN IP4 192.0.2.1/127", "t=0 0"], 4, "TTL"),
        ([*GOOD_HEAD[:3], "c=IN IP4 233.252.0.1/300", "t=0 0"], 4, "TTL"),
        ([*GOOD_HEAD[:3], "c=IN IP6 ff15::1/3/2", "t=0 0"], 4, "multicast"),
        ([*GOOD_HEAD[:3], "c=IN IP4", "t=0 0"], 4, "3 fields"),
        ([*GOOD_HEAD[:4], "b=AS", "t=0 0"], 5, "bwtype"),
        ([*GOOD_HEAD[:4], "b=AS:x", "t=0 0"], 5, "bandwidth"),
        ([*GOOD_HEAD[:4], "r=7d 1h 0"], 5, "before any"),
        ([*GOOD_HEAD, "r=0 1h 0"], 6, "repeat interval"),
        ([*GOOD_HEAD, "r=7d 1h"], 6, "at least 3"),
        ([*GOOD_HEAD, "z=1 -1h", "r=7d 1h 0"], 7, "after 'z='"),
        ([*GOOD_HEAD, "z=1 -1h", "z=2 0"], 7, "more than one"),
        ([*GOOD_HEAD, "z=1"], 6, "at least 2"),
        ([*GOOD_HEAD, "t=1 x"], 6, "stop time"),
        ([*GOOD_HEAD, "a=bad name"], 6, "attribute name"),
        ([*GOOD_HEAD, "a=x\ry"], 6, "CR"),
        ([*GOOD_HEAD, "a=x\x00y"], 6, "NUL"),
        ([*GOOD_HEAD[:3], "u=", "t=0 0"], 4, "empty"),
        ([*GOOD_HEAD[:4], "t=" + "9" * 50 + " 0"], 5, "too many digits"),
    ],
)
def test_malformed_input_raises_sdp_error_with_line(
    lines: list[str], line: int, words: str
) -> None:
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(crlf(*lines))
    error = info.value
    assert error.line == line, str(error)
    assert words.lower() in error.message.lower(), str(error)
    assert isinstance(error, ValueError) and isinstance(error, SipError)
    assert error.status_code == 400
    assert str(error).startswith(f"line {line}: ")


def test_empty_body_is_an_error() -> None:
    for empty in (b"", b"\r\n", b"\n\n"):
        with pytest.raises(SdpError) as info:
            SessionDescription.parse(empty)
        assert info.value.line == 1


def test_session_without_media_is_valid_but_needs_t() -> None:
    sd = SessionDescription.parse(crlf(*GOOD_HEAD))
    assert sd.media == ()
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(crlf(*GOOD_HEAD[:4]))
    assert info.value.line == 5 and "t=" in info.value.message


def test_wrong_input_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        SessionDescription.parse(42)  # type: ignore[arg-type]


def test_sdp_error_pickles() -> None:
    error = SdpError("bad", line=3)
    clone = pickle.loads(pickle.dumps(error))
    assert (type(clone), clone.message, clone.line) == (SdpError, "bad", 3)
    busy = pickle.loads(pickle.dumps(NoCommonMedia("nothing")))
    assert isinstance(busy, NoCommonMedia) and busy.status_code == 488


# ---------------------------------------------------------------------------------------------
# Tolerated deviations, recorded as issues
# ---------------------------------------------------------------------------------------------


def test_bare_lf_and_missing_final_eol_are_tolerated_and_recorded() -> None:
    text = "v=0\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\nc=IN IP4 192.0.2.1\r\nt=0 0"
    sd = SessionDescription.parse(text)
    assert sd.bare_lf
    assert [(i.line, i.code) for i in sd.issues] == [
        (1, "bare-lf"),
        (3, "bare-lf"),
        (5, "no-final-eol"),
    ]
    assert bytes(sd) == crlf(*GOOD_HEAD)
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(text, strict=True)
    assert info.value.line == 1 and "bare-lf" in info.value.message


def test_trailing_blank_lines_are_tolerated() -> None:
    sd = SessionDescription.parse(crlf(*GOOD_HEAD, "", ""))
    assert [(i.line, i.code) for i in sd.issues] == [
        (6, "trailing-blank-line"),
        (7, "trailing-blank-line"),
    ]
    assert bytes(sd) == crlf(*GOOD_HEAD)


def test_lint_issues_for_media() -> None:
    sd = SessionDescription.parse(
        crlf(
            *GOOD_HEAD[:3],
            "t=0 0",
            "a=sendrecv",
            "a=inactive",
            "m=audio 4000 RTP/AVP 0 x 96",
            "a=ptime:0",
            "m=audio 0 RTP/AVP 0",
        )
    )
    assert [(i.line, i.code) for i in sd.issues] == [
        (6, "conflicting-direction"),
        (7, "no-connection"),
        (7, "bad-payload-type"),
        (7, "no-rtpmap"),
        (8, "bad-attribute"),
    ]
    assert sd.media[0].ptime is None


def test_non_utf8_octets_round_trip() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=caf\xe9\r\nt=0 0\r\na=charset:ISO-8859-1\r\n"
    sd = SessionDescription.parse(body)
    assert bytes(sd) == body
    utf8 = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=Café 日本\r\nt=0 0\r\n"
    parsed = SessionDescription.parse(utf8.encode())
    assert parsed.session_name == "Café 日本"
    assert SessionDescription.parse(utf8) == parsed
    assert str(parsed) == utf8


def test_unchanged_values_keep_their_spelling_changed_ones_are_canonical() -> None:
    body = crlf(
        "v=0",
        "o=- 0042 007 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "b=AS:064",
        "t=0 0",
        "m=audio 04000 RTP/AVP 0",
    )
    sd = SessionDescription.parse(body)
    assert bytes(sd) == body
    assert sd.origin.sess_id == 42 and sd.media[0].port == 4000
    assert bytes(sd.canonical()) == crlf(
        "v=0",
        "o=- 42 7 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "b=AS:64",
        "t=0 0",
        "m=audio 4000 RTP/AVP 0",
    )
    assert sd.canonical() == sd
    bumped = SessionDescription.parse(body)
    from dataclasses import replace

    changed = replace(bumped, origin=bumped.origin.with_version(8))
    assert str(changed).splitlines()[1] == "o=- 42 8 IN IP4 192.0.2.1"


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------

PCMU = Codec(0, "PCMU", 8000)
PCMA = Codec(8, "PCMA", 8000)
DTMF = Codec(101, "telephone-event", 8000, fmtp="0-16")
OPUS = Codec(111, "opus", 48000, 2, "minptime=10;useinbandfec=1")


def test_build_and_serialise() -> None:
    sd = SessionDescription(
        origin=Origin("alice", 2890844526, 2890844526, "192.0.2.10"),
        connection=Connection("192.0.2.10"),
        attributes=[Attribute("tool", "sipwright")],
        media=[
            Media.rtp("audio", 49170, [OPUS, PCMU, DTMF], direction=Direction.SENDONLY, ptime=20),
            Media.rtp(
                "video",
                51372,
                [Codec(96, "VP8", 90000)],
                proto="RTP/AVPF",
                connection=Connection("2001:db8::10"),
                bandwidths=[Bandwidth("AS", 512)],
                attributes=[Attribute("rtcp-fb", "96 nack")],
            ),
        ],
    )
    expected = crlf(
        "v=0",
        "o=alice 2890844526 2890844526 IN IP4 192.0.2.10",
        "s=-",
        "c=IN IP4 192.0.2.10",
        "t=0 0",
        "a=tool:sipwright",
        "m=audio 49170 RTP/AVP 111 0 101",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendonly",
        "m=video 51372 RTP/AVPF 96",
        "c=IN IP6 2001:db8::10",
        "b=AS:512",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack",
    )
    assert bytes(sd) == expected
    reparsed = SessionDescription.parse(expected)
    assert reparsed == sd
    assert reparsed.media[0].codecs == (OPUS, PCMU, DTMF)
    assert sd.media[0].effective_direction is Direction.SENDONLY
    assert sd.media[0].on_hold and not sd.media[1].on_hold and not is_hold(sd)
    held = sd.media[0].with_direction(Direction.INACTIVE)
    assert held.direction is Direction.INACTIVE
    assert held.with_direction(None).direction is None
    assert sd.media[0].without_attributes("ptime").ptime is None
    assert sd.media[1].with_attributes(Attribute("mid", "v")).mid == "v"


def test_session_direction_and_builder_rebinding() -> None:
    from dataclasses import replace

    sd = SessionDescription(
        origin=Origin("-", 1, 1, "192.0.2.1"),
        connection=Connection("0.0.0.0"),
        media=[Media.rtp("audio", 4000, [PCMU])],
    )
    assert sd.media[0].on_hold and is_hold(sd)
    resumed = replace(sd, connection=Connection("192.0.2.1"), attributes=[Attribute("inactive")])
    assert resumed.media[0].effective_direction is Direction.INACTIVE
    assert resumed.media[0].effective_connection == Connection("192.0.2.1")
    assert is_hold(resumed)
    assert not is_hold(replace(resumed, attributes=[]))


@pytest.mark.parametrize(
    "build",
    [
        lambda: Attribute("x", "a\r\nm=audio 1 RTP/AVP 0"),
        lambda: Attribute("bad name"),
        lambda: Origin("a b", 1, 1, "192.0.2.1"),
        lambda: Origin("-", -1, 1, "192.0.2.1"),
        lambda: Connection("192.0.2.1", ttl=5),
        lambda: Connection("2001:db8::1", ttl=5),
        lambda: Connection("233.252.0.1", count=2),
        lambda: Connection("not an address"),
        lambda: Media("audio", 70000, "RTP/AVP", ["0"]),
        lambda: Media("audio", 1, "RTP/AVP", []),
        lambda: Media("audio", 1, "RTP/AVP", "0"),
        lambda: Media("audio", 1, "RTP AVP", ["0"]),
        lambda: Codec(128, "x", 8000),
        lambda: Codec(96, "opus", 0),
        lambda: SessionDescription(Origin("-", 1, 1, "192.0.2.1"), session_name="a\nb"),
        lambda: SessionDescription(Origin("-", 1, 1, "192.0.2.1"), timings=[]),
        lambda: SessionDescription(Origin("-", 1, 1, "192.0.2.1"), version=1),
        lambda: Timing(-1, 0),
        lambda: Repeat("0", "1h", ["0"]),
        lambda: ZoneAdjustments([]),
        lambda: Media.rtp("audio", 1, [PCMU], ptime=0),
    ],
)
def test_builders_refuse_what_would_not_serialise(build: object) -> None:
    with pytest.raises(SdpError):
        build()  # type: ignore[operator]


def test_browser_offer_typed_views() -> None:
    """The hand-written Chrome offer: every WebRTC attribute is read into its typed view."""
    raw = (DATA / "chrome-offer.sdp").read_bytes()
    sd = parse_sdp(raw)
    assert bytes(sd) == raw and sd.issues == ()
    assert sd.bundle_mids == ("0", "1", "2")
    assert sd.groups == (Group("BUNDLE", ("0", "1", "2")),)
    assert sd.attribute("msid-semantic") == " WMS 3c5c8a6e-9e2f-4b8a-8f5e-2d1d6a0c7b41"
    audio, video, data = sd.media
    assert [m.mid for m in sd.media] == ["0", "1", "2"]
    assert sd.media_by_mid("1") is video
    assert audio.proto == "UDP/TLS/RTP/SAVPF" and audio.is_rtp and not data.is_rtp
    assert audio.port == 54321 and audio.connection == Connection("203.0.113.7")
    assert audio.rtcp == Rtcp(9, "IN", "IP4", "0.0.0.0")
    assert audio.rtcp_mux and video.rtcp_mux and audio.has_attribute("rtcp-rsize")
    assert audio.ice_ufrag == "Fq3k" and audio.ice_pwd == "u9Zc0bTq7Yx2LmN4pR6sV8wA"
    assert audio.ice_options == ("trickle",)
    assert audio.fingerprints == (
        Fingerprint(
            "sha-256",
            "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
        ),
    )
    assert audio.setup is Setup.ACTPASS and data.setup is Setup.ACTPASS
    host4, host6, mdns, srflx, tcp = audio.candidates
    assert (host4.type, host4.address, host4.port, host4.transport) == (
        "host",
        "192.168.1.23",
        54321,
        "udp",
    )
    assert host6.address == "2001:db8:1f70::999:de8:7648:6e8"
    assert mdns.address.endswith(".local") and mdns.extension("network-cost") == "999"
    assert (srflx.type, srflx.related_address, srflx.related_port) == (
        "srflx",
        "192.168.1.23",
        54321,
    )
    assert srflx.priority == 1686052607 and srflx.component == 1
    assert tcp.transport == "tcp" and tcp.extension("tcptype") == "active"
    assert video.candidates == () and video.connection == Connection("0.0.0.0")
    assert not video.on_hold  # c=0.0.0.0 is ICE's placeholder, not a hold
    assert audio.extmaps[0] == ExtMap(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level")
    assert [e.id for e in video.extmaps][:3] == [14, 2, 13]
    assert audio.msid == Msid(
        "3c5c8a6e-9e2f-4b8a-8f5e-2d1d6a0c7b41", "9d2b5f0e-6a1c-4e7d-b3f8-1c2d3e4f5a6b"
    )
    assert audio.codecs[:2] == (
        Codec(111, "opus", 48000, 2, "minptime=10;useinbandfec=1"),
        Codec(63, "red", 48000, 2, "111/111"),
    )
    assert audio.codecs[0].fmtp_params == {"minptime": "10", "useinbandfec": "1"}
    assert [c.payload_type for c in audio.codecs] == [111, 63, 9, 0, 8, 13, 110, 126]
    assert audio.telephone_events == (
        Codec(110, "telephone-event", 48000),
        Codec(126, "telephone-event", 8000),
    )
    assert [(c.payload_type, c.encoding_name) for c in video.codecs] == [
        (96, "VP8"),
        (97, "rtx"),
        (102, "H264"),
        (103, "rtx"),
        (45, "AV1"),
        (46, "rtx"),
        (98, "VP9"),
        (99, "rtx"),
    ]
    assert video.codec(103) == Codec(103, "rtx", 90000, fmtp="apt=102")
    assert RtcpFb("96", "nack", "pli") in video.rtcp_fbs
    assert all(m.effective_direction is Direction.SENDRECV for m in sd.media)
    assert data.formats == ("webrtc-datachannel",) and data.attribute("sctp-port") == "5000"
    assert len(audio.attribute_values("ssrc")) == 2
