"""SDP inside SIP messages: ``msg.sdp``, building with an SDP body, and lint of SDP bodies."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from peers import shared_dir

import sipwright
from sipwright.cli import main
from sipwright.sdp import Connection, Media, Origin, SdpError, SessionDescription
from sipwright.sdp.codecs import Codec

SEED = shared_dir() / "seeds" / "examples" / "format-invite-sdp.sip"


def _seed() -> bytes:
    return SEED.read_bytes()


def test_msg_sdp_reads_the_seed_offer() -> None:
    """The seed INVITE's body is application/sdp: msg.sdp gives its typed view (RFC 3264 §5)."""
    sd = sipwright.parse(_seed()).sdp
    assert sd is not None
    audio = sd.media[0]
    assert [c.encoding_name for c in audio.codecs] == ["PCMA", "PCMU", "G726-32", "G729"]
    assert audio.port == 50024
    assert audio.ptime == 20
    assert audio.maxptime == 80
    assert audio.rtcp is not None and audio.rtcp.port == 50025
    assert str(audio.effective_direction) == "sendrecv"


def test_msg_sdp_is_none_without_an_sdp_body() -> None:
    """No body, or a body of another type, has no SDP view (§20.15 types the body)."""
    seeds = shared_dir() / "seeds" / "examples"
    assert sipwright.parse((seeds / "format-invite-no-body.sip").read_bytes()).sdp is None
    req = sipwright.Request(
        "MESSAGE",
        "sip:bob@example.com",
        [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("CSeq", "1 MESSAGE")],
        b"hello",
        content_type="text/plain",
    )
    assert req.sdp is None


def test_malformed_sdp_body_raises_sdp_error_with_its_line() -> None:
    """A broken offer surfaces as SdpError (answered 400), never another exception."""
    data = _seed().replace(b"m=audio 50024", b"m=audio xx").replace(b": 254", b": 251")
    msg = sipwright.parse(data)
    with pytest.raises(SdpError) as info:
        _ = msg.sdp
    assert info.value.line == 6


def test_building_with_a_session_description_sets_type_and_length() -> None:
    """A SessionDescription body is serialised, typed application/sdp, and counted."""
    sd = SessionDescription(
        origin=Origin("alice", 1, 1, "192.0.2.1"),
        connection=Connection("192.0.2.1"),
        media=(Media.rtp("audio", 49170, [Codec(0, "PCMU", 8000)]),),
    )
    req = sipwright.Request(
        "INVITE",
        "sip:bob@example.com",
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"),
            ("From", "<sip:alice@example.com>;tag=1"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "c1"),
            ("CSeq", "1 INVITE"),
            ("Max-Forwards", "70"),
        ],
        body=sd,
    )
    wire = bytes(req)
    body = bytes(sd)
    assert b"Content-Type: application/sdp\r\n" in wire
    assert f"Content-Length: {len(body)}\r\n".encode() in wire
    assert wire.endswith(b"\r\n\r\n" + body)
    again = sipwright.parse(wire)
    assert again.sdp is not None
    assert again.sdp.media[0].codecs[0].encoding_name == "PCMU"
    assert sipwright.validate(wire).valid


def test_make_response_with_an_answer_body() -> None:
    """A 200 carrying an answer gets the SDP type and a cache that follows the new body."""
    invite = sipwright.parse(_seed())
    offer = invite.sdp
    assert offer is not None
    ok = invite.make_response(200, to_tag="t1", body=offer)
    assert ok.content_type == "application/sdp"
    assert ok.sdp is not None and bytes(ok.sdp) == bytes(offer)
    ok.set_body(b"v=0\r\n", "text/plain")
    assert ok.sdp is None


def test_lint_reports_sdp_errors_on_the_message_line() -> None:
    """lint: an SDP fault is an error on the message line holding it, naming the SDP line."""
    data = _seed().replace(b"m=audio 50024", b"m=audio xx").replace(b": 254", b": 251")
    report = sipwright.validate(data)
    assert not report.valid
    [finding] = [f for f in report.findings if f.code == "sdp-invalid"]
    # 1 start line + 13 header lines + the empty line: the body starts on line 16.
    assert finding.line == 16 + 6 - 1
    assert finding.message.startswith("SDP line 6: ")
    assert finding.rfc.startswith("RFC 8866")


def test_lint_cli_json_carries_sdp_findings() -> None:
    """The CLI shows SDP findings like any other, with their code and line."""
    data = _seed().replace(b"m=audio 50024", b"m=audio xx").replace(b": 254", b": 251")
    result = CliRunner().invoke(main, ["lint", "--json", "-"], input=data)
    assert result.exit_code == 1
    record = json.loads(result.output.splitlines()[0])
    assert any(e["code"] == "sdp-invalid" and e["line"] == 21 for e in record["errors"])


def test_sdp_warnings_do_not_make_a_message_invalid() -> None:
    """An empty s= (SIP seeds do it) is a warning, not an error: RFC 8866 §5.3 asks for s=-."""
    seed = shared_dir() / "seeds" / "examples" / "overview-invite.sip"
    report = sipwright.validate(seed.read_bytes())
    assert report.valid
    assert any(f.code == "sdp-empty-text" and f.severity == "warning" for f in report.findings)
