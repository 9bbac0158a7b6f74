"""``sipwright ladder`` on real captures: tshark capturing on lo during SIPp runs.

For each capture the number of SIP messages the ladder shows must equal tshark's own count
of SIP messages in the same file (one ``sip.CSeq`` occurrence per message). SIPp's built-in
``uac``/``uas`` make 5 calls of 6 messages (INVITE, 180, 200, ACK, BYE, 200), so both counts
must also be 30. Formats: pcapng (tshark's default) and pcap (``-F pcap``); UDP, TCP, and
UDP over IPv6; on ``lo`` and on ``any``. SIPp's ``-trace_msg`` log of the same run goes
through the ladder as well.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from peers import REPO_DIR, free_port, require_peer

from sipwright.cli import main

from .tshark_helpers import capturing, decode_as, run_sipp, sipp_uas, tshark_sip_count

CALLS = 5
PER_CALL = 6
pytestmark = pytest.mark.peer


def _ladder_json(path: Path, out: Path) -> dict[str, object]:
    result = CliRunner().invoke(main, ["ladder", str(path), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    record: dict[str, object] = json.loads(result.output)
    return record


def _sipp_run(
    tmp: Path,
    capture: Path,
    *,
    host: str = "127.0.0.1",
    transport: str = "u1",
    pcap: bool,
    interface: str = "lo",
) -> tuple[Path, tuple[str, ...]]:
    """Capture a 5-call SIPp run; return the UAC's -trace_msg log and the tshark options
    that dissect the run's (random) ports as SIP."""
    tshark, sipp = require_peer("tshark"), require_peer("sipp")
    uas_port, uac_port = free_port(), free_port()
    target = f"[{host}]:{uas_port}" if ":" in host else f"{host}:{uas_port}"
    log = tmp / "uac_messages.log"
    with capturing(tshark, capture, [uas_port, uac_port], pcap_format=pcap, interface=interface):
        uas_args = ["-i", host, "-p", str(uas_port), "-t", transport, "-m", str(CALLS)]
        with sipp_uas(sipp, *uas_args, cwd=tmp):
            done = run_sipp(
                sipp,
                "-sn",
                "uac",
                target,
                "-i",
                host,
                "-p",
                str(uac_port),
                "-t",
                transport,
                "-m",
                str(CALLS),
                "-timeout",
                "20s",
                "-trace_msg",
                "-message_file",
                str(log),
            )
            assert done.returncode == 0, done.stdout[-2000:]
    return log, decode_as([uas_port, uac_port])


def test_udp_pcapng_count_matches_tshark_and_sipp_log(tmp_path: Path) -> None:
    tshark = require_peer("tshark")
    capture = tmp_path / "udp.pcapng"
    log, as_sip = _sipp_run(tmp_path, capture, pcap=False)
    assert capture.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    expected = tshark_sip_count(tshark, capture, *as_sip)
    assert expected == CALLS * PER_CALL
    record = _ladder_json(capture, tmp_path / "out.html")
    assert record["format"] == "pcapng"
    assert record["sip_messages"] == expected
    calls = record["calls"]
    assert isinstance(calls, list) and len(calls) == CALLS
    assert all(c["final_status"] == 200 and c["state"] == "ended" for c in calls)
    page = (tmp_path / "out.html").read_text()
    assert page.count('<g class="arrow"') == expected
    # The UAC's message log of the same run shows the same messages.
    logged = _ladder_json(log, tmp_path / "log.html")
    assert logged["format"] == "sipp-log"
    assert logged["sip_messages"] == expected
    log_calls = logged["calls"]
    assert isinstance(log_calls, list)
    assert sorted(c["call_id"] for c in log_calls) == sorted(c["call_id"] for c in calls)
    first = log_calls[0]
    assert [m["label"] for m in first["messages"]] == [
        "INVITE",
        "180 Ringing",
        "200 OK",
        "ACK",
        "BYE",
        "200 OK",
    ]
    assert len(first["columns"]) == 2 and "local:0" not in first["columns"]


def test_tcp_pcap_count_matches_tshark_subprocess(tmp_path: Path) -> None:
    tshark = require_peer("tshark")
    capture = tmp_path / "tcp.pcap"
    # On "any": Linux cooked-mode link layer (SLL) instead of loopback's Ethernet.
    log, as_sip = _sipp_run(tmp_path, capture, transport="t1", pcap=True, interface="any")
    assert capture.read_bytes()[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")
    expected = tshark_sip_count(tshark, capture, *as_sip)
    assert expected == CALLS * PER_CALL
    out = tmp_path / "tcp.html"
    done = subprocess.run(
        [sys.executable, "-m", "sipwright", "ladder", str(capture), "-o", str(out), "--json"],
        capture_output=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO_DIR / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr.decode()
    record = json.loads(done.stdout)
    assert record["sip_messages"] == expected
    assert all(m["transport"] == "TCP" for c in record["calls"] for m in c["messages"])
    assert out.read_text().count('<g class="arrow"') == expected
    # The text summary (no --json) names the count too.
    text = subprocess.run(
        [sys.executable, "-m", "sipwright", "ladder", str(capture)],
        capture_output=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO_DIR / "src"), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert text.returncode == 0
    assert f"{expected} SIP message(s)" in text.stdout.decode()
    # SIPp's TCP message log (it may hold socket diagnostics between the blocks).
    logged = _ladder_json(log, tmp_path / "log.html")
    assert logged["sip_messages"] == expected


def test_ipv6_udp_count_matches_tshark(tmp_path: Path) -> None:
    tshark = require_peer("tshark")
    capture = tmp_path / "v6.pcapng"
    _, as_sip = _sipp_run(tmp_path, capture, host="::1", pcap=False)
    expected = tshark_sip_count(tshark, capture, *as_sip)
    assert expected == CALLS * PER_CALL
    record = _ladder_json(capture, tmp_path / "v6.svg")
    assert record["sip_messages"] == expected
    calls = record["calls"]
    assert isinstance(calls, list)
    assert all(col.startswith("[::1]:") for c in calls for col in c["columns"])
    # SVG output with several calls: one file per call, one arrow per message.
    svgs = sorted(tmp_path.glob("v6-*.svg"))
    assert len(svgs) == CALLS
    assert sum(p.read_text().count('<g class="arrow"') for p in svgs) == expected
