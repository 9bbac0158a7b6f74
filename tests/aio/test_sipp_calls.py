"""Whole INVITE/ACK/BYE calls between sipwright and SIPp, clean and with SIPp's packet loss.

* SIPp's built-in ``uac`` against an :class:`Endpoint` UAS (INVITE → 180, 200 with an SDP
  answer; BYE → 200): the endpoint's 2xx retransmission (§13.3.1.4) must cover what
  ``-lost`` drops.
* :meth:`Endpoint.call` against SIPp's built-in ``uas``: the UAC core's ACK of the 2xx and
  its re-ACK of every retransmitted 2xx (§13.2.2.4) must cover the same.

Pass/fail comes from SIPp itself: its exit status (0 = no failed call) and the totals row
of its ``-trace_stat`` CSV (``SuccessfulCall(C)``, ``FailedCall(C)``). Every SIPp run is
bounded (``-m``, ``-timeout``, ``asyncio.wait_for``); only processes started here are
stopped, by their handle. A missing ``sipp`` skips locally and fails under CI.
"""

from __future__ import annotations

import asyncio
import csv
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peers import REPO_DIR, free_port, require_peer

from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.message import Request
from sipwright.transaction import Destination, TimerConfig

pytestmark = pytest.mark.peer

BUFF = ["-buff_size", "4194304"]
SCENARIOS = REPO_DIR / "tests" / "sipp"

SDP_ANSWER = (
    b"v=0\r\n"
    b"o=sipwright 1 1 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 7000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)


def sipp_totals(stat_file: Path) -> dict[str, str]:
    """The last (cumulative) row of a SIPp ``-trace_stat`` CSV, by column name."""
    with stat_file.open(newline="", encoding="latin-1") as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    assert len(rows) >= 2, f"no statistics rows in {stat_file}"
    return dict(zip(rows[0], rows[-1], strict=False))


async def run_sipp(args: list[str], cwd: Path, bound: float) -> tuple[int, str]:
    """Run a SIPp process started here; kill it (by its handle) if it outlives ``bound``."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), bound)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode(errors="replace")[-3000:]


def error_log(cwd: Path) -> str:
    logs = sorted(cwd.glob("*_errors.log"))
    return logs[0].read_text(errors="replace")[-3000:] if logs else ""


async def uas_handler(sreq: ServerRequest) -> None:
    req = sreq.request
    if req.method == "INVITE":
        await sreq.respond(180)
        local = f"127.0.0.1:{sreq.source.port}"  # replaced below by the listener's port
        contact = getattr(uas_handler, "contact", f"<sip:uas@{local}>")
        await sreq.respond(
            200,
            headers=[("Contact", contact)],
            body=SDP_ANSWER,
            content_type="application/sdp",
        )
    else:  # BYE and anything else
        await sreq.respond(200)


def check_stats(stat: Path, calls: int, rc: int, output: str, cwd: Path) -> dict[str, str]:
    totals = sipp_totals(stat)
    detail = (totals, output, error_log(cwd))
    assert rc == 0, detail
    assert int(totals["SuccessfulCall(C)"]) == calls, detail
    assert int(totals["FailedCall(C)"]) == 0, detail
    return totals


# -- SIPp uac → sipwright UAS -------------------------------------------------------------

UAC_CASES = [
    pytest.param("udp", 1000, 200, 0, id="udp-1000"),
    pytest.param("tcp", 1000, 200, 0, id="tcp-1000"),
    pytest.param("udp", 300, 50, 10, id="udp-lost10-300"),
]


@pytest.mark.parametrize(("transport", "calls", "rate", "lost"), UAC_CASES)
def test_sipp_uac_calls_to_endpoint(
    transport: str, calls: int, rate: int, lost: int, tmp_path: Path
) -> None:
    sipp = require_peer("sipp")
    port = free_port()
    sipp_port = free_port()
    stat = tmp_path / "uac_stats.csv"

    async def main() -> tuple[int, str, Endpoint]:
        t = transport.upper()
        tp = "" if t == "UDP" else ";transport=tcp"
        uas_handler.contact = f"<sip:uas@127.0.0.1:{port}{tp}>"  # type: ignore[attr-defined]
        acks: list[Request] = []
        async with Endpoint([(t, "127.0.0.1", port)]) as ep:
            ep.on_request = uas_handler
            ep.on_ack = lambda ack, src: acks.append(ack)
            args = [
                sipp, "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1",
                "-p", str(sipp_port), "-r", str(rate), "-m", str(calls), "-timeout", "60s",
                "-nostdin", *BUFF, "-trace_stat", "-stf", str(stat), "-fd", "1",
                "-trace_err",
            ]  # fmt: skip
            if t == "TCP":
                args += ["-t", "t1"]
            if lost:
                args += ["-lost", str(lost), "-recv_timeout", "30s"]
            start = time.monotonic()
            rc, output = await run_sipp(args, tmp_path, 75)
            elapsed = time.monotonic() - start
            print(f"sipp uac -> endpoint {transport} lost={lost}: {calls} calls {elapsed:.1f}s")
            print(f"endpoint stats: in={dict(ep.stats.messages_in)} "
                  f"out={dict(ep.stats.messages_out)} 2xx-retrans={ep.stats.ok_retransmissions} "
                  f"ack-timeouts={ep.stats.ack_timeouts} acks-seen={len(acks)}")  # fmt: skip
            return rc, output, ep

    rc, output, ep = asyncio.run(main())
    totals = check_stats(stat, calls, rc, output, tmp_path)
    print("sipp totals:", {k: totals.get(k) for k in ("SuccessfulCall(C)", "FailedCall(C)",
                                                       "Retransmissions(C)")})  # fmt: skip
    assert ep.stats.messages_in["INVITE"] >= calls
    assert ep.stats.messages_in["ACK"] >= calls - (calls * lost) // 100 - 20
    if lost:
        # SIPp dropped some 200s: only our retransmissions can have completed those calls.
        assert ep.stats.ok_retransmissions > 0
    else:
        assert ep.stats.ack_timeouts == 0


# -- sipwright UAC (Endpoint.call) → SIPp uas -------------------------------------------------

UAS_CASES = [
    pytest.param("udp", 1000, 50, 0, 0.0, id="udp-1000"),
    pytest.param("tcp", 1000, 50, 0, 0.0, id="tcp-1000"),
    # Lossy: 300 calls (not 1000) to stay well under 60 s; SIPp's uas gets a loss-exempt
    # 100 Trying (tests/sipp/uas_calls.xml) and calls last 1.2 s, so that a re-ACK of a
    # retransmitted 200 does not land after the BYE in SIPp's fixed-order scenario.
    pytest.param("udp", 300, 50, 10, 1.2, id="udp-lost10-300"),
]


@pytest.mark.parametrize(("transport", "calls", "concurrency", "lost", "duration"), UAS_CASES)
def test_endpoint_calls_to_sipp_uas(
    transport: str, calls: int, concurrency: int, lost: int, duration: float, tmp_path: Path
) -> None:
    sipp = require_peer("sipp")
    port = free_port()
    stat = tmp_path / "uas_stats.csv"
    t = transport.upper()

    async def main() -> tuple[int, str, list[bool], Endpoint, float]:
        scenario = ["-sf", str(SCENARIOS / "uas_calls.xml")] if lost else ["-sn", "uas"]
        args = [
            sipp, *scenario, "-i", "127.0.0.1", "-p", str(port), "-m", str(calls),
            "-timeout", "60s", "-nostdin", *BUFF, "-trace_stat", "-stf", str(stat),
            "-fd", "1", "-trace_err",
        ]  # fmt: skip
        if t == "TCP":
            args += ["-t", "t1"]
        if lost:
            args += ["-lost", str(lost)]
        sipp_task = asyncio.create_task(run_sipp(args, tmp_path, 75))
        await asyncio.sleep(0.5)  # let SIPp bind
        dest = Destination("127.0.0.1", port, t)
        uri = f"sip:service@127.0.0.1:{port}" + ("" if t == "UDP" else ";transport=tcp")
        sem = asyncio.Semaphore(concurrency)
        async with Endpoint(timers=TimerConfig()) as ep:

            async def one() -> bool:
                async with sem:
                    try:
                        res = await asyncio.wait_for(ep.call(uri, dest, duration=duration), 45)
                    except TimeoutError:
                        return False
                    if not res.ok:
                        print("call failed:", res.call_id, res.error)
                    return res.ok

            start = time.monotonic()
            results = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(calls))), 70)
            elapsed = time.monotonic() - start
            rc, output = await asyncio.wait_for(sipp_task, 80)
            return rc, output, list(results), ep, elapsed

    rc, output, results, ep, elapsed = asyncio.run(main())
    print(
        f"endpoint.call -> sipp uas {transport} lost={lost}: {sum(results)}/{calls} ok "
        f"in {elapsed:.1f}s; acks sent={ep.stats.acks_sent} "
        f"retrans={ep.stats.retransmissions} in={dict(ep.stats.messages_in)}"
    )
    assert sum(results) == calls, (results.count(False), output)
    totals = check_stats(stat, calls, rc, output, tmp_path)
    print("sipp totals:", {k: totals.get(k) for k in ("SuccessfulCall(C)", "FailedCall(C)",
                                                       "Retransmissions(C)")})  # fmt: skip
    assert ep.stats.acks_sent >= calls
    if lost:
        # SIPp dropped some ACKs and retransmitted its 200: we must have ACKed again.
        assert ep.stats.acks_sent > calls


# -- loopback, no SIPp: ACK-timeout report and auto-ACK --------------------------------------


def test_ack_timeout_reported_and_2xx_retransmitted() -> None:
    """A UAC that never ACKs (auto_ack=False): the UAS retransmits the 2xx, then reports."""
    timers = TimerConfig(t1=0.02, t2=0.08)
    port = free_port()

    async def main() -> tuple[Endpoint, list[int], int]:
        timeouts: list[int] = []
        async with (
            Endpoint([("UDP", "127.0.0.1", port)], timers=timers) as uas,
            Endpoint(timers=timers, auto_ack=False) as uac,
        ):
            uas_handler.contact = f"<sip:uas@127.0.0.1:{port}>"  # type: ignore[attr-defined]
            uas.on_request = uas_handler
            uas.on_ack_timeout = lambda req, resp: timeouts.append(resp.status_code)
            seen_2xx = 0

            def count(resp: object, src: object) -> None:
                nonlocal seen_2xx
                seen_2xx += 1

            uac.on_stray_response = count
            dest = Destination("127.0.0.1", port, "UDP")
            local = await uac.local_for(dest)
            assert local is not None
            invite = Request(
                "INVITE",
                f"sip:uas@127.0.0.1:{port}",
                [
                    ("From", f"<sip:uac@127.0.0.1:{local.port}>;tag=abc"),
                    ("To", f"<sip:uas@127.0.0.1:{port}>"),
                    ("Call-ID", "ack-timeout-test"),
                    ("CSeq", "1 INVITE"),
                ],
            )
            resp = await asyncio.wait_for(uac.request(invite, dest), 5)
            assert resp.status_code == 200
            await asyncio.sleep(64 * timers.t1 + 0.5)
            return uas, timeouts, uac.stats.messages_in["2xx"]

    uas, timeouts, twoxx_in = asyncio.run(main())
    assert timeouts == [200]
    assert uas.stats.ack_timeouts == 1
    assert uas.stats.ok_retransmissions >= 5
    assert twoxx_in >= 5


def test_call_loopback_acks_and_byes() -> None:
    """Endpoint.call against an Endpoint UAS: the 2xx is ACKed, no retransmission needed."""
    port = free_port()

    async def main() -> tuple[Endpoint, Endpoint, bool, int]:
        acks: list[Request] = []
        async with (
            Endpoint([("UDP", "127.0.0.1", port)]) as uas,
            Endpoint() as uac,
        ):
            uas_handler.contact = f"<sip:uas@127.0.0.1:{port}>"  # type: ignore[attr-defined]
            uas.on_request = uas_handler
            uas.on_ack = lambda ack, src: acks.append(ack)
            dest = Destination("127.0.0.1", port, "UDP")
            res = await asyncio.wait_for(uac.call(f"sip:uas@127.0.0.1:{port}", dest), 10)
            return uas, uac, res.ok, len(acks)

    uas, uac, ok, acks = asyncio.run(main())
    assert ok
    assert acks == 1
    assert uac.stats.acks_sent == 1
    assert uas.stats.messages_in["BYE"] == 1
    assert uas.stats.ack_timeouts == 0
    assert uas.stats.ok_retransmissions == 0
