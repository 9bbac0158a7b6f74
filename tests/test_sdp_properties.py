"""Property and fuzz tests of the SDP layer.

* Round trip: hypothesis writes well-formed SDP text straight from the RFC 8866 §9 grammar
  (not through the model), in canonical spelling; ``bytes(parse(x)) == x``, the canonical
  re-rendering gives ``x`` too, bare-LF input gives the same description and CRLF output, and
  a second parse equals the first.
* Fuzz: arbitrary bytes, and valid bodies (generated ones, the seed and torture bodies, the
  browser offer) mutated in many ways, may only raise :class:`SdpError`; whenever they parse,
  every typed view is read, the output re-parses to an equal description, and
  ``make_answer`` on it raises nothing but :class:`SdpError`.

``SIPWRIGHT_FUZZ_EXAMPLES`` sets the number of cases (default 200 here, to stay fast).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from peers import shared_dir

from sipwright.sdp import (
    Codec,
    Direction,
    LocalCapabilities,
    MediaCapability,
    SdpError,
    SessionDescription,
    is_hold,
    make_answer,
)

EXAMPLES = int(os.environ.get("SIPWRIGHT_FUZZ_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------------------------------------
# Well-formed SDP, generated from the grammar
# ---------------------------------------------------------------------------------------------

TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`{|}~"
VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F)) + "éßü日本"
TEXT = VISIBLE + " \t"

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=8)
non_ws = st.text(VISIBLE, min_size=1, max_size=10)
texts = st.text(TEXT, min_size=1, max_size=24)
numbers = st.integers(0, 2**64 - 1).map(str)
ports = st.integers(0, 65535)
ntp_times = st.one_of(st.just("0"), st.integers(10**9, 10**11).map(str))
fqdns = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-.", max_size=15),
)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)


@st.composite
def unicast(draw: st.DrawFn) -> tuple[str, str]:
    """(addrtype, address) for o= and unicast c= lines."""
    kind = draw(st.sampled_from(["IP4", "IP6", "fqdn4", "fqdn6", "ext"]))
    if kind == "IP4":
        return "IP4", draw(ipv4.filter(lambda a: not a.startswith(("22", "23"))))
    if kind == "IP6":
        return "IP6", draw(ipv6)
    if kind == "ext":
        return draw(tokens.filter(lambda t: t not in ("IP4", "IP6"))), draw(non_ws)
    return ("IP4" if kind == "fqdn4" else "IP6"), draw(fqdns)


@st.composite
def connection_values(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["unicast", "mc4", "mc6"]))
    if kind == "unicast":
        addrtype, address = draw(unicast())
        return f"IN {addrtype} {address}"
    if kind == "mc4":
        address = f"{draw(st.integers(224, 239))}.{draw(st.integers(0, 255))}.0.1"
        suffix = f"/{draw(st.integers(0, 255))}"
        if draw(st.booleans()):
            suffix += f"/{draw(st.integers(1, 16))}"
        return f"IN IP4 {address}{suffix}"
    suffix = f"/{draw(st.integers(1, 16))}" if draw(st.booleans()) else ""
    return f"IN IP6 ff0{draw(st.sampled_from('1258e'))}::{draw(st.integers(1, 999))}{suffix}"


typed_times = st.builds(
    lambda n, unit: f"{n}{unit}", st.integers(0, 10**6), st.sampled_from(["", "d", "h", "m", "s"])
)
intervals = st.builds(
    lambda n, unit: f"{n}{unit}", st.integers(1, 10**6), st.sampled_from(["", "d", "h", "m", "s"])
)
bandwidth_lines = st.builds(lambda t, n: f"b={t}:{n}", tokens, st.integers(0, 10**9))
key_lines = st.one_of(
    st.just("k=prompt"),
    texts.map(lambda t: f"k=clear:{t}"),
    st.text("ABCDabcd0123+/", min_size=4, max_size=12).map(lambda t: f"k=base64:{t}"),
    non_ws.map(lambda u: f"k=uri:{u}"),
)
known_attributes = st.sampled_from(
    [
        "a=rtpmap:96 opus/48000/2",
        "a=fmtp:96 minptime=10;useinbandfec=1",
        "a=ptime:20",
        "a=maxptime:40",
        "a=sendonly",
        "a=recvonly",
        "a=inactive",
        "a=sendrecv",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=rtcp-mux",
        "a=mid:0",
        "a=group:BUNDLE 0 1",
        "a=ice-ufrag:Fq3k",
        "a=ice-pwd:u9Zc0bTq7Yx2LmN4pR6sV8wA",
        "a=candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host generation 0",
        "a=fingerprint:sha-256 AB:CD:EF",
        "a=setup:actpass",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=msid:s t",
        "a=rtcp-fb:96 nack pli",
        "a=rtpmap:31 LPC",
    ]
)
attribute_lines = st.one_of(
    known_attributes,
    tokens.map(lambda n: f"a={n}"),
    st.builds(lambda n, v: f"a={n}:{v}", tokens, texts),
)


@st.composite
def time_block(draw: st.DrawFn) -> list[str]:
    lines = [f"t={draw(ntp_times)} {draw(ntp_times)}"]
    for _ in range(draw(st.integers(0, 2))):
        offsets = draw(st.lists(typed_times, min_size=1, max_size=3))
        lines.append(f"r={draw(intervals)} {draw(typed_times)} {' '.join(offsets)}")
    if draw(st.integers(0, 3)) == 0:
        pairs = draw(
            st.lists(st.tuples(ntp_times, st.sampled_from(["", "-"]), typed_times), min_size=1)
        )
        lines.append("z=" + " ".join(f"{t} {sign}{o}" for t, sign, o in pairs))
    return lines


@st.composite
def media_block(draw: st.DrawFn, session_has_c: bool) -> list[str]:
    proto = draw(
        st.one_of(
            st.sampled_from(["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", "udp"]),
            st.lists(tokens, min_size=1, max_size=3).map("/".join),
        )
    )
    formats = draw(
        st.lists(st.one_of(st.integers(0, 127).map(str), tokens), min_size=1, max_size=6)
    )
    port = str(draw(ports))
    if draw(st.integers(0, 4)) == 0:
        port += f"/{draw(st.integers(1, 8))}"
    media = draw(st.sampled_from(["audio", "video", "application", "image", "text"]) | tokens)
    lines = [f"m={media} {port} {proto} {' '.join(formats)}"]
    if draw(st.integers(0, 3)) == 0:
        lines.append(f"i={draw(texts)}")
    connections = draw(st.integers(0 if session_has_c else 1, 2))
    lines += [f"c={draw(connection_values())}" for _ in range(connections)]
    lines += draw(st.lists(bandwidth_lines, max_size=2))
    if draw(st.integers(0, 5)) == 0:
        lines.append(draw(key_lines))
    lines += draw(st.lists(attribute_lines, max_size=6))
    return lines


@st.composite
def sdp_texts(draw: st.DrawFn) -> str:
    addrtype, address = draw(unicast())
    lines = [
        "v=0",
        f"o={draw(non_ws)} {draw(numbers)} {draw(numbers)} IN {addrtype} {address}",
        f"s={draw(texts)}",
    ]
    if draw(st.booleans()):
        lines.append(f"i={draw(texts)}")
    if draw(st.integers(0, 3)) == 0:
        lines.append(f"u={draw(non_ws)}")
    lines += [f"e={e}" for e in draw(st.lists(texts, max_size=2))]
    lines += [f"p={p}" for p in draw(st.lists(texts, max_size=1))]
    has_c = draw(st.booleans())
    if has_c:
        lines.append(f"c={draw(connection_values())}")
    lines += draw(st.lists(bandwidth_lines, max_size=2))
    for block in draw(st.lists(time_block(), min_size=1, max_size=3)):
        lines += block
    if draw(st.integers(0, 5)) == 0:
        lines.append(draw(key_lines))
    lines += draw(st.lists(attribute_lines, max_size=5))
    for _ in range(draw(st.integers(0, 4))):
        lines += draw(media_block(has_c))
    return "".join(line + "\r\n" for line in lines)


@SETTINGS
@given(sdp_texts())
def test_round_trip_is_byte_exact(text: str) -> None:
    data = text.encode()
    sd = SessionDescription.parse(data)
    assert bytes(sd) == data
    assert bytes(sd.canonical()) == data
    assert str(sd) == text
    assert SessionDescription.parse(bytes(sd)) == sd
    assert not sd.bare_lf
    assert SessionDescription.parse(text) == sd


@SETTINGS
@given(sdp_texts())
def test_bare_lf_input_gives_crlf_output(text: str) -> None:
    lf = text.replace("\r\n", "\n").encode()
    sd = SessionDescription.parse(lf)
    assert sd.bare_lf
    assert bytes(sd) == text.encode()
    assert sd == SessionDescription.parse(text)


# ---------------------------------------------------------------------------------------------
# Fuzzing: only SdpError, ever
# ---------------------------------------------------------------------------------------------

ANSWERER = LocalCapabilities(
    address="192.0.2.99",
    session_id=42,
    media=[
        MediaCapability(
            "audio",
            40000,
            codecs=[
                Codec(0, "PCMU", 8000),
                Codec(101, "telephone-event", 8000),
                Codec(63, "red", 8000),
            ],
            protos=["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF"],
        ),
        MediaCapability(
            "video",
            40002,
            codecs=[Codec(96, "VP8", 90000), Codec(97, "rtx", 90000, fmtp="apt=96")],
            protos=["RTP/AVP"],
        ),
        MediaCapability("application", 40004, protos=["udp"], formats=["wb"]),
    ],
)


def exercise(sd: SessionDescription) -> None:
    """Read every typed view; serialise; re-parse; answer. Only SdpError may escape."""
    seen: list[str] = []
    for view in (
        sd.direction,
        sd.groups,
        sd.bundle_mids,
        sd.ice_ufrag,
        sd.ice_pwd,
        sd.ice_options,
        sd.ice_lite,
        sd.fingerprints,
        sd.setup,
        is_hold(sd),
    ):
        seen.append(repr(view))
    for timing in sd.timings:
        for repeat in timing.repeats:
            repeat.seconds()
    for media in sd.media:
        for view in (
            media.codecs,
            media.rtpmaps,
            media.fmtps,
            media.payload_types,
            media.telephone_events,
            media.ptime,
            media.maxptime,
            media.rtcp,
            media.rtcp_mux,
            media.rtcp_fbs,
            media.mid,
            media.candidates,
            media.ice_ufrag,
            media.ice_options,
            media.fingerprints,
            media.setup,
            media.crypto,
            media.extmaps,
            media.msid,
            media.effective_direction,
            media.effective_connection,
            media.on_hold,
        ):
            seen.append(repr(view))
        for codec in media.codecs:
            seen.append(repr(codec.fmtp_params))
        if media.effective_connection is not None:
            seen.append(repr(media.effective_connection.ip))
    data = bytes(sd)
    assert SessionDescription.parse(data) == sd
    try:
        answer = make_answer(sd, ANSWERER)
    except SdpError:
        return
    assert len(answer.media) == len(sd.media)
    assert SessionDescription.parse(bytes(answer)) == answer


def parse_or_sdp_error(data: bytes) -> None:
    try:
        sd = SessionDescription.parse(data)
    except SdpError as error:
        assert error.message
        assert error.line is None or error.line >= 1
        return
    exercise(sd)


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_sdp_error(data: bytes) -> None:
    parse_or_sdp_error(data)


@SETTINGS
@given(
    st.lists(st.sampled_from(["v", "o", "s", "c", "t", "m", "a", "b", "z", "r", "k", "x"])).flatmap(
        lambda kinds: st.tuples(
            *[st.tuples(st.just(k), st.text(TEXT + "/:", max_size=30)) for k in kinds]
        )
    )
)
def test_line_soup_raises_only_sdp_error(lines: tuple[tuple[str, str], ...]) -> None:
    parse_or_sdp_error("".join(f"{k}={v}\r\n" for k, v in lines).encode())


def _corpus() -> list[bytes]:
    shared = shared_dir()
    bodies = []
    paths = [
        *sorted((shared / "seeds" / "examples").glob("*.sip")),
        *sorted((shared / "torture").glob("*.dat")),
        *sorted((shared / "torture" / "rfc5118").glob("**/*.dat")),
    ]
    for path in paths:
        data = path.read_bytes()
        for separator in (b"\r\n\r\n", b"\n\n"):
            _head, found, body = data.partition(separator)
            if found:
                if body.startswith(b"v=0"):
                    bodies.append(body)
                break
    bodies.append((Path(__file__).parent / "data" / "sdp" / "chrome-offer.sdp").read_bytes())
    return bodies


CORPUS = _corpus()


@dataclass(frozen=True)
class Mutation:
    kind: str
    position: int
    other: int
    payload: bytes

    def apply(self, data: bytes) -> bytes:
        if not data:
            return self.payload
        i = self.position % len(data)
        j = self.other % len(data)
        lines = data.split(b"\n")
        a, b = self.position % len(lines), self.other % len(lines)
        if self.kind == "insert":
            return data[:i] + self.payload + data[i:]
        if self.kind == "delete":
            return data[: min(i, j)] + data[max(i, j) :]
        if self.kind == "replace":
            return data[:i] + self.payload + data[i + len(self.payload) :]
        if self.kind == "flip":
            return data[:i] + bytes([data[i] ^ (1 << (self.other % 8))]) + data[i + 1 :]
        if self.kind == "truncate":
            return data[:i]
        if self.kind == "swap-lines":
            lines[a], lines[b] = lines[b], lines[a]
        elif self.kind == "duplicate-line":
            lines.insert(b, lines[a])
        elif self.kind == "drop-line":
            del lines[a]
        elif self.kind == "crlf":
            return data.replace(b"\r\n", self.payload[:2] or b"\r")
        return b"\n".join(lines)


mutations = st.builds(
    Mutation,
    st.sampled_from(
        [
            "insert",
            "delete",
            "replace",
            "flip",
            "truncate",
            "swap-lines",
            "duplicate-line",
            "drop-line",
            "crlf",
        ]
    ),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.one_of(
        st.binary(max_size=8),
        st.sampled_from(
            [
                b" ",
                b"/",
                b":",
                b"=",
                b"\r",
                b"\n",
                b"\x00",
                b"9" * 5000,
                b"-1",
                b"\xff\xfe",
                b"a=rtpmap:",
                b"m=audio 0 RTP/AVP 0\r\n",
                b"c=IN IP4 0.0.0.0\r\n",
                b"a=sendonly\r\n",
                b"z=0 -0\r\n",
                "é".encode(),
                "²".encode(),
            ]
        ),
    ),
)


@SETTINGS
@given(st.sampled_from(CORPUS), st.lists(mutations, min_size=1, max_size=4))
def test_mutated_corpus_bodies_raise_only_sdp_error(body: bytes, changes: list[Mutation]) -> None:
    for change in changes:
        body = change.apply(body)
    note(repr(body))
    parse_or_sdp_error(body)


@settings(SETTINGS, max_examples=max(1, EXAMPLES // 2))
@given(sdp_texts(), st.lists(mutations, min_size=1, max_size=3))
def test_mutated_generated_bodies_raise_only_sdp_error(text: str, changes: list[Mutation]) -> None:
    body = text.encode()
    for change in changes:
        body = change.apply(body)
    note(repr(body))
    parse_or_sdp_error(body)


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_sdp_error(text: str) -> None:
    """str input, including lone surrogates that cannot be encoded."""
    try:
        sd = SessionDescription.parse("v=0\r\n" + text)
    except SdpError:
        return
    exercise(sd)


@pytest.mark.parametrize(
    "lines",
    [
        ["m=audio 4000 RTP/AVP 0", "a=ptime:" + "9" * 5000],
        ["m=audio 4000 RTP/AVP 0", "a=maxptime:1." + "5" * 5000],
        ["m=audio 4000 RTP/AVP 96", "a=rtpmap:96 PCMU/8000/" + "1" * 5000],
        ["m=audio 4000 RTP/AVP 96", "a=rtpmap:96 PCMU/" + "8" * 5000],
        ["m=audio 4000 RTP/AVP 0 98", "a=rtpmap:98 red/8000", "a=fmtp:98 \u00b2/0"],
        ["m=audio 4000 RTP/AVP 0 98", "a=rtpmap:98 red/8000", "a=fmtp:98 0/" + "0" * 5000],
        [
            "m=video 4000 RTP/AVP 96 97",
            "a=rtpmap:96 VP8/90000",
            "a=rtpmap:97 rtx/90000",
            "a=fmtp:97 apt=\u00b2",
        ],
        [
            "m=video 4000 RTP/AVP 96 97",
            "a=rtpmap:96 VP8/90000",
            "a=rtpmap:97 rtx/90000",
            "a=fmtp:97 apt=" + "9" * 5000,
        ],
        ["m=audio " + "4" * 5000 + " RTP/AVP 0"],
        ["m=audio 4000 RTP/AVP 0", "a=candidate:1 1 udp " + "1" * 5000 + " h 1 typ host"],
        ["m=audio 4000 RTP/AVP \u00b2"],
    ],
)
def test_regression_long_and_non_ascii_numbers(lines: list[str]) -> None:
    """Numbers past int()'s 4300-digit limit and non-ASCII digits (``²``, for which
    ``str.isdigit`` is true) must never escape as ValueError, in views or in answers."""
    head = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0"]
    parse_or_sdp_error("".join(f"{line}\r\n" for line in head + lines).encode())


def test_direction_enum_is_closed() -> None:
    assert {d.value for d in Direction} == {"sendrecv", "sendonly", "recvonly", "inactive"}
