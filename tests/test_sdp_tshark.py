"""Cross-check ``sipwright.sdp`` against Wireshark's SDP dissector (tshark).

The SIP messages with SDP bodies among the seed examples, the RFC 5118 IPv6 SDP torture
messages (wire copies), the hand-written browser WebRTC offer and sipwright's own answer to it
(both wrapped in a minimal SIP message) go into ONE pcap, one UDP packet each; tshark dissects
it once (``-T pdml``, which keeps fields in document order so that each ``c=`` and ``a=``
line can be tied to its media description) and each message is then compared field by field:

* owner (``o=``): username, sess-id, sess-version, nettype, addrtype, address;
* session connection address, and every media's own ``c=``;
* session and media attribute lines, verbatim, in order;
* per media: media type, port, proto and formats (as written, from the PDML ``value``);
  ``rtpmap`` entries (payload type, encoding name, clock rate); ``fmtp`` format and
  parameters; ``ptime``; direction attributes; ``rtcp``; ICE candidates (foundation,
  component, transport, priority, address, port, type).

sipwright parses the SDP body alone (split off at the first empty line, without the SIP
parser). tshark delimits a body by Content-Length (RFC 3261 §20.14); where a message declares
less than it carries (the seed ``overview-invite-as-printed.sip``, 142 declared for 145 octets,
wrong on purpose) sipwright is given the same first Content-Length octets, so that both read
the same text. A negative control shows that the comparison does fail when the two sides
disagree.
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from pcap import write_pcap
from peers import require_peer, shared_dir

from sipwright.sdp import (
    Attribute,
    Candidate,
    Codec,
    Direction,
    Fingerprint,
    LocalCapabilities,
    MediaCapability,
    SessionDescription,
    make_answer,
)
from sipwright.sdp.attributes import DIRECTION_NAMES

pytestmark = pytest.mark.peer

TSHARK_TIMEOUT_S = 120
DATA = Path(__file__).parent / "data" / "sdp"
SHARED = shared_dir()

# ---------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------


def split_body(message: bytes) -> bytes:
    """The body of a SIP message: after the first empty line, cut to Content-Length."""
    head, found, body = message.partition(b"\r\n\r\n")
    assert found, "message has no empty line"
    declared = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
    if declared is not None:
        body = body[: int(declared.group(1))]
    return body


def wrap(body: bytes, first_line: str) -> bytes:
    """A minimal SIP message carrying ``body`` as application/sdp."""
    head = (
        f"{first_line}\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKsdp1\r\n"
        "From: <sip:alice@example.com>;tag=1\r\n"
        "To: <sip:bob@example.com>\r\n"
        "Call-ID: sdp-tshark@example.com\r\n"
        "CSeq: 1 INVITE\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


WEBRTC_ANSWERER = LocalCapabilities(
    address="198.51.100.20",
    session_id=8001,
    username="sipwright",
    media=[
        MediaCapability(
            "audio",
            40000,
            codecs=[
                Codec(111, "opus", 48000, 2, "minptime=10;useinbandfec=1"),
                Codec(0, "PCMU", 8000),
                Codec(101, "telephone-event", 8000, fmtp="0-16"),
            ],
            protos=["UDP/TLS/RTP/SAVPF"],
            ptime=20,
            header_extensions=["urn:ietf:params:rtp-hdrext:sdes:mid"],
        ),
        MediaCapability(
            "video",
            40002,
            codecs=[Codec(100, "VP8", 90000), Codec(101, "rtx", 90000, fmtp="apt=100")],
            protos=["UDP/TLS/RTP/SAVPF"],
            rtcp_feedback=["nack", "nack pli"],
        ),
    ],
    ice_ufrag="Ab12",
    ice_pwd="0123456789abcdefghijklmn",
    candidates=[
        Candidate("1", 1, "udp", 2130706431, "198.51.100.20", 40000, "host"),
        Candidate("2", 1, "udp", 1694498815, "203.0.113.9", 61000, "srflx", "198.51.100.20", 40000),
    ],
    fingerprints=[Fingerprint("sha-256", ":".join(f"{b:02X}" for b in range(32)))],
    direction=Direction.SENDONLY,
)


def collect_cases() -> dict[str, bytes]:
    """name -> whole SIP message."""
    cases: dict[str, bytes] = {}
    for path in sorted((SHARED / "seeds" / "examples").glob("*.sip")):
        data = path.read_bytes()
        if split_body(data).startswith(b"v=0"):
            cases[path.name] = data
    for name in ("ipv6-in-sdp.dat", "mult-ip-in-sdp.dat", "ipv4-mapped-ipv6.dat"):
        cases[f"rfc5118/{name}"] = (SHARED / "torture" / "rfc5118" / "wire" / name).read_bytes()
    offer = (DATA / "chrome-offer.sdp").read_bytes()
    cases["chrome-offer.sdp"] = wrap(offer, "INVITE sip:bob@example.com SIP/2.0")
    answer = make_answer(SessionDescription.parse(offer), WEBRTC_ANSWERER)
    cases["answer-to-chrome-offer"] = wrap(bytes(answer), "SIP/2.0 200 OK")
    return cases


CASES = collect_cases()


def test_corpus() -> None:
    assert "format-invite-sdp.sip" in CASES
    assert sum(name.startswith("rfc5118/") for name in CASES) == 3
    assert len(CASES) >= 8


# ---------------------------------------------------------------------------------------------
# A common view of the compared fields
# ---------------------------------------------------------------------------------------------

Owner = tuple[str, int, int, str, str, str]
CandidateView = tuple[str, int, str, int, str, int, str]


@dataclass(frozen=True)
class MediaView:
    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: str | None
    attributes: tuple[str, ...]
    rtpmaps: tuple[tuple[int, str, int], ...]
    fmtps: tuple[tuple[str, tuple[str, ...]], ...]
    ptime: str | None
    directions: tuple[str, ...]
    rtcp: str | None
    candidates: tuple[CandidateView, ...]


@dataclass(frozen=True)
class SdpView:
    owner: Owner | None
    connection: str | None
    attributes: tuple[str, ...]
    media: tuple[MediaView, ...]


def sipwright_view(sd: SessionDescription) -> SdpView:
    o = sd.origin
    media = []
    for m in sd.media:
        media.append(
            MediaView(
                media=m.media,
                port=m.port,
                proto=m.proto,
                formats=tuple(m.formats),
                connection=m.connection.address if m.connection else None,
                attributes=tuple(str(a) for a in m.attributes),
                rtpmaps=tuple(
                    (r.payload_type, r.encoding_name, r.clock_rate) for r in m.rtpmaps.values()
                ),
                fmtps=tuple(
                    (f.format, tuple(p for p in f.parameters.split(";") if p))
                    for f in m.fmtps.values()
                ),
                ptime=None if m.ptime is None else str(m.ptime),
                directions=tuple(a.name for a in m.attributes if a.name in DIRECTION_NAMES),
                rtcp=None if m.rtcp is None else str(m.rtcp),
                candidates=tuple(
                    (c.foundation, c.component, c.transport, c.priority, c.address, c.port, c.type)
                    for c in m.candidates
                ),
            )
        )
    return SdpView(
        owner=(o.username, o.sess_id, o.sess_version, o.nettype, o.addrtype, o.address),
        connection=sd.connection.address if sd.connection else None,
        attributes=tuple(str(a) for a in sd.attributes),
        media=tuple(media),
    )


def _children(element: ET.Element, name: str | None = None) -> Iterator[ET.Element]:
    for child in element:
        if child.tag == "field" and (name is None or child.get("name") == name):
            yield child


def _child(element: ET.Element, name: str) -> str | None:
    for child in _children(element, name):
        return child.get("show")
    return None


def _raw(element: ET.Element) -> str:
    """The bytes a field covers, decoded (``show`` escapes and may truncate)."""
    value, size = element.get("value") or "", element.get("size") or "0"
    if len(value) == 2 * int(size):
        return bytes.fromhex(value).decode("utf-8", "surrogateescape")
    return element.get("show") or ""


@dataclass
class _MediaBuild:
    media: str = ""
    port: int = -1
    proto: str = ""
    formats: list[str] = field(default_factory=list)
    connection: str | None = None
    attributes: list[str] = field(default_factory=list)
    rtpmaps: list[tuple[int, str, int]] = field(default_factory=list)
    fmtps: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    ptime: str | None = None
    directions: list[str] = field(default_factory=list)
    rtcp: str | None = None
    candidates: list[CandidateView] = field(default_factory=list)

    def freeze(self) -> MediaView:
        return MediaView(
            self.media,
            self.port,
            self.proto,
            tuple(self.formats),
            self.connection,
            tuple(self.attributes),
            tuple(self.rtpmaps),
            tuple(self.fmtps),
            self.ptime,
            tuple(self.directions),
            self.rtcp,
            tuple(self.candidates),
        )


def _int(text: str | None) -> int:
    return int(text) if text is not None and text.isdigit() else -1


def tshark_view(sdp: ET.Element) -> SdpView:
    """Read the compared fields from one PDML ``<proto name="sdp">`` element."""
    owner: Owner | None = None
    connection: str | None = None
    attributes: list[str] = []
    media: list[_MediaBuild] = []
    for f in _children(sdp):
        name = f.get("name")
        if name == "sdp.owner":
            owner = (
                _child(f, "sdp.owner.username") or "",
                _int(_child(f, "sdp.owner.sessionid")),
                _int(_child(f, "sdp.owner.version")),
                _child(f, "sdp.owner.network_type") or "",
                _child(f, "sdp.owner.address_type") or "",
                _child(f, "sdp.owner.address") or "",
            )
        elif name == "sdp.connection_info":
            address = _child(f, "sdp.connection_info.address")
            if media:
                media[-1].connection = address
            else:
                connection = address
        elif name == "sdp.session_attr":
            attributes.append(_raw(f).removeprefix("a=").rstrip("\r\n"))
        elif name == "sdp.media":
            media.append(
                _MediaBuild(
                    media=_child(f, "sdp.media.media") or "",
                    port=_int(_child(f, "sdp.media.port")),
                    proto=_child(f, "sdp.media.proto") or "",
                    formats=[_raw(x) for x in _children(f, "sdp.media.format")],
                )
            )
        elif name == "sdp.media_attr" and media:
            current = media[-1]
            line = _raw(f).removeprefix("a=").rstrip("\r\n")
            current.attributes.append(line)
            kind = _child(f, "sdp.media_attribute.field")
            value = _child(f, "sdp.media_attribute.value")
            if kind == "rtpmap":
                current.rtpmaps.append(
                    (
                        _int(_child(f, "sdp.media.format")),
                        _child(f, "sdp.mime.type") or "",
                        _int(_child(f, "sdp.sample_rate")),
                    )
                )
            elif kind == "fmtp":
                params = tuple(p.get("show") or "" for p in _children(f, "sdp.fmtp.parameter"))
                current.fmtps.append((_child(f, "sdp.media.format") or "", params))
            elif kind == "ptime":
                current.ptime = value
            elif kind == "rtcp":
                current.rtcp = value
            elif kind == "candidate":
                current.candidates.append(
                    (
                        _child(f, "sdp.ice_candidate.foundation") or "",
                        _int(_child(f, "sdp.ice_candidate.componentid")),
                        _child(f, "sdp.ice_candidate.transport") or "",
                        _int(_child(f, "sdp.ice_candidate.priority")),
                        _child(f, "sdp.ice_candidate.address") or "",
                        _int(_child(f, "sdp.ice_candidate.port")),
                        _child(f, "sdp.ice_candidate.type") or "",
                    )
                )
            elif kind is None and line in DIRECTION_NAMES:
                current.directions.append(line)
    return SdpView(owner, connection, tuple(attributes), tuple(m.freeze() for m in media))


def compare(ours: SdpView, theirs: SdpView) -> list[str]:
    """Every difference between sipwright's view and tshark's, as readable strings."""
    mismatches: list[str] = []

    def check(name: str, mine: object, tshark: object) -> None:
        if mine != tshark:
            mismatches.append(f"{name}: sipwright {mine!r} != tshark {tshark!r}")

    check("owner", ours.owner, theirs.owner)
    check("connection", ours.connection, theirs.connection)
    check("session attributes", ours.attributes, theirs.attributes)
    check("media count", len(ours.media), len(theirs.media))
    for i, (mine, tshark) in enumerate(zip(ours.media, theirs.media, strict=False)):
        for name in MediaView.__dataclass_fields__:
            check(f"media[{i}].{name}", getattr(mine, name), getattr(tshark, name))
    return mismatches


# ---------------------------------------------------------------------------------------------
# Running tshark once
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tshark_sdp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SdpView]:
    tshark = require_peer("tshark")
    pcap = tmp_path_factory.mktemp("sdp") / "sdp.pcap"
    names = list(CASES)
    write_pcap(pcap, [CASES[name] for name in names])
    done = subprocess.run(
        [tshark, "-n", "-r", str(pcap), "-T", "pdml"],
        capture_output=True,
        timeout=TSHARK_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    packets = ET.fromstring(done.stdout).findall("packet")
    assert len(packets) == len(names), "tshark did not see one packet per message"
    views: dict[str, SdpView] = {}
    for name, packet in zip(names, packets, strict=True):
        sdp = packet.find(".//proto[@name='sdp']")
        assert sdp is not None, f"tshark found no SDP in {name}"
        views[name] = tshark_view(sdp)
    return views


@pytest.mark.parametrize("name", list(CASES))
def test_tshark_agrees(name: str, tshark_sdp: dict[str, SdpView]) -> None:
    sd = SessionDescription.parse(split_body(CASES[name]))
    ours = sipwright_view(sd)
    theirs = tshark_sdp[name]
    assert theirs.media, "tshark saw no media description"
    assert compare(ours, theirs) == []


def test_tshark_sees_the_typed_values(tshark_sdp: dict[str, SdpView]) -> None:
    """Spot checks of what the comparison covers, independently of sipwright."""
    seed = tshark_sdp["format-invite-sdp.sip"]
    assert seed.owner == ("151", 9655, 9655, "IN", "IP4", "10.135.0.12")
    (audio,) = seed.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == (
        "audio",
        50024,
        "RTP/AVP",
        ("8", "0", "2", "18"),
    )
    assert [r[1] for r in audio.rtpmaps] == ["PCMA", "PCMU", "G726-32", "G729"]
    assert (audio.ptime, audio.directions, audio.rtcp) == ("20", ("sendrecv",), "50025")
    v6 = tshark_sdp["rfc5118/mult-ip-in-sdp.dat"]
    assert [m.connection for m in v6.media] == ["192.0.2.1", "2001:db8::1"]
    answer = tshark_sdp["answer-to-chrome-offer"]
    assert [m.port for m in answer.media] == [40000, 40000, 0]
    assert answer.media[0].directions == ("sendonly",)
    assert answer.media[0].candidates[1][6] == "srflx"
    assert "group:BUNDLE 0 1" in answer.attributes


def test_negative_control(tshark_sdp: dict[str, SdpView]) -> None:
    """The comparison fails when sipwright's reading differs from tshark's."""
    theirs = tshark_sdp["format-invite-sdp.sip"]
    sd = SessionDescription.parse(split_body(CASES["format-invite-sdp.sip"]))
    assert compare(sipwright_view(sd), theirs) == []
    audio = sd.media[0]
    altered = replace(
        sd,
        origin=sd.origin.with_version(9656),
        media=[
            replace(
                audio,
                port=50026,
                attributes=[
                    Attribute("rtpmap", "0 PCMU/16000")
                    if a.value == "0 PCMU/8000"
                    else Attribute("ptime", "30")
                    if a.name == "ptime"
                    else Attribute("sendonly")
                    if a.name == "sendrecv"
                    else Attribute("rtcp", "50027")
                    if a.name == "rtcp"
                    else a
                    for a in audio.attributes
                ],
            )
        ],
    )
    mismatches = compare(sipwright_view(altered), theirs)
    reported = {m.split(":")[0] for m in mismatches}
    assert reported >= {
        "owner",
        "media[0].port",
        "media[0].rtpmaps",
        "media[0].ptime",
        "media[0].directions",
        "media[0].rtcp",
        "media[0].attributes",
    }, mismatches
    # And a different message altogether does not match either.
    other = SessionDescription.parse(split_body(CASES["rfc5118/ipv6-in-sdp.dat"]))
    assert compare(sipwright_view(other), theirs)
