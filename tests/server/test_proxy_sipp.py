"""SIPp calls through the sipwright proxy: SIPp UAC -> proxy -> SIPp UAS, clean and lossy.

The proxy is the ``sipwright serve`` application (:class:`Server`: proxy, registrar,
SQLite store) run in-process on a free UDP port with short transaction timers, so that
every transaction it holds ends within seconds (64*T1 = 3.2 s). SIPp plays both ends
(``bench/sipp/proxy_uac.xml``, ``bench/sipp/proxy_uas.xml``, the scenarios of
``bench/proxy_bench.py``): the UAC's Request-URI names the UAS while its packets go to
the proxy (``-rsa``), so the proxy must relay to a foreign host:port on its own address
(RFC 3261 §16.5/§16.6), record-route the INVITE and route the ACK and BYE back through
itself (§16.12). Pass/fail comes from SIPp (exit status, ``-trace_stat`` totals), and the
proxy's own gauges must return to zero afterwards: no transaction or context is left.

* 300 calls, no loss: every call successful, none failed, no unexpected message.
* 300 calls with ``-lost 5`` on both SIPp sides (5 % of the datagrams each one sends or
  receives dropped): every call still completes, thanks to the retransmissions of the
  proxy's transactions (§17.1.1.2, §17.1.2.2) and of SIPp's (its INVITE, BYE, 200).

Every process is bounded (``-m``, ``-timeout``, ``asyncio.wait_for``) and stopped by its
handle. A missing ``sipp`` skips locally and fails under CI.
"""

from __future__ import annotations

import asyncio
import csv
import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peers import REPO_DIR, free_port, require_peer

from sipwright.server.app import Server
from sipwright.server.config import ServerConfig
from sipwright.transaction import TimerConfig

pytestmark = pytest.mark.peer

BUFF = ["-buff_size", "4194304"]
UAC = REPO_DIR / "bench" / "sipp" / "proxy_uac.xml"
UAS = REPO_DIR / "bench" / "sipp" / "proxy_uas.xml"
#: Short timers, so every transaction ends within 64*T1 = 3.2 s (clean run).
TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
#: Under loss, T1 = 100 ms (64*T1 = 6.4 s): SIPp retransmits on its own 500 ms T1 and its
#: UAS cannot take an INVITE retransmission once it is past its INVITE and has lost a
#: datagram (a SIPp limitation, see tests/sipp/uas_calls.xml); a proxy retransmitting
#: every 50 ms and forgetting a BYE transaction after 3.2 s provokes both too often.
LOSSY_TIMERS = TimerConfig(t1=0.1, t2=0.8, t4=1.0)


def sipp_totals(stat_file: Path) -> dict[str, str]:
    """The last (cumulative) row of a SIPp ``-trace_stat`` CSV, by column name."""
    with stat_file.open(newline="", encoding="latin-1") as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    assert len(rows) >= 2, f"no statistics rows in {stat_file}"
    return dict(zip(rows[0], rows[-1], strict=False))


def udp_port_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


async def wait_for_bind(port: int, proc: asyncio.subprocess.Process, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not udp_port_bound(port):
        assert proc.returncode is None, "SIPp UAS exited at start"
        assert time.monotonic() < deadline, f"SIPp UAS did not bind {port}"
        await asyncio.sleep(0.05)


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def error_log(cwd: Path) -> str:
    """The tails of SIPp's error logs (the UAC's and the UAS's)."""
    logs = sorted(cwd.glob("*_errors.log"))
    return "\n".join(f"{log.name}: {log.read_text(errors='replace')[-2000:]}" for log in logs)


def calls_through_proxy(
    tmp_path: Path, calls: int, rate: int, lost: int
) -> tuple[int, dict[str, str], str, dict[str, int]]:
    """Run ``calls`` SIPp calls through an in-process proxy; SIPp's verdict and the
    proxy's live gauges once its timers have run out."""
    sipp = require_peer("sipp")
    proxy_port, uas_port, uac_port = free_port(), free_port(), free_port()
    config = ServerConfig(
        listen=(("UDP", "127.0.0.1", proxy_port),),
        # 127.0.0.1 is a served domain, yet sip:service@127.0.0.1:<UAS port> is not ours:
        # an IP-literal domain matches only with no port or one of our ports.
        domains=("127.0.0.1", "example.com"),
        db=tmp_path / "sipwright.db",
        http=None,
        log_level="WARNING",
    )
    stat = tmp_path / "uac_stats.csv"
    uas_args = [
        sipp, "-sf", str(UAS), "-i", "127.0.0.1", "-p", str(uas_port),
        "-d", "8000", "-nostdin", *BUFF, "-trace_err",
    ]  # fmt: skip
    uac_args = [
        sipp, "-sf", str(UAC), f"127.0.0.1:{uas_port}", "-rsa", f"127.0.0.1:{proxy_port}",
        "-i", "127.0.0.1", "-p", str(uac_port), "-r", str(rate), "-m", str(calls),
        "-d", "100", "-timeout", "45s", "-recv_timeout", "30s", "-nostdin", *BUFF,
        "-trace_stat", "-stf", str(stat), "-fd", "1", "-trace_err",
    ]  # fmt: skip
    if lost:
        uas_args += ["-lost", str(lost)]
        uac_args += ["-lost", str(lost)]

    async def main() -> tuple[int, dict[str, str], str, dict[str, int]]:
        async with Server(config, timers=LOSSY_TIMERS if lost else TIMERS) as server:
            uas = await asyncio.create_subprocess_exec(
                *uas_args,
                cwd=tmp_path,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                await wait_for_bind(uas_port, uas, 5.0)
                uac = await asyncio.create_subprocess_exec(
                    *uac_args,
                    cwd=tmp_path,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                try:
                    out, _ = await asyncio.wait_for(uac.communicate(), 50)
                finally:
                    await stop(uac)
                assert uac.returncode is not None
                # Every transaction ends within 64*T1 (Timers B, F, H, J, L);
                # the UAS stays up meanwhile, so nothing the proxy sends goes unanswered.
                proxy = server.proxy
                assert proxy is not None
                deadline = time.monotonic() + 12.0
                while time.monotonic() < deadline and (
                    proxy.layer.active or proxy.stats.active_contexts
                ):
                    await asyncio.sleep(0.1)
                snap = await server.snapshot()
                live = {
                    "layer": proxy.layer.active,
                    "transactions": snap.active_transactions,
                    "contexts": snap.active_contexts,
                    "server_txn": proxy.stats.active_server_transactions,
                    "client_txn": proxy.stats.active_client_transactions,
                    "errors": proxy.stats.errors,
                }
            finally:
                await stop(uas)
            totals = sipp_totals(stat)
            return uac.returncode, totals, out.decode(errors="replace")[-2000:], live

    return asyncio.run(asyncio.wait_for(main(), 75))


def check(
    rc: int, totals: dict[str, str], output: str, live: dict[str, int], calls: int, cwd: Path
) -> None:
    detail = (rc, totals, live, output, error_log(cwd))
    assert rc == 0, detail
    assert int(totals["SuccessfulCall(C)"]) == calls, detail
    assert int(totals["FailedCall(C)"]) == 0, detail
    assert int(totals["FailedUnexpectedMessage(C)"]) == 0, detail
    # No leak: the proxy holds nothing once its timers have run out.
    assert live["layer"] == 0 and live["transactions"] == 0, detail
    assert live["contexts"] == 0, detail
    assert live["server_txn"] == 0 and live["client_txn"] == 0, detail
    assert live["errors"] == 0, detail


def test_sipp_calls_through_proxy(tmp_path: Path) -> None:
    rc, totals, output, live = calls_through_proxy(tmp_path, 300, 150, 0)
    print(f"300 calls through the proxy: {totals.get('Retransmissions(C)')} retransmissions")
    check(rc, totals, output, live, 300, tmp_path)
    # Nothing was lost, so SIPp had nothing to retransmit.
    assert int(totals["Retransmissions(C)"]) == 0, (totals, live)


def test_sipp_calls_through_proxy_with_loss(tmp_path: Path) -> None:
    rc, totals, output, live = calls_through_proxy(tmp_path, 300, 150, 5)
    print(f"300 calls, -lost 5 both sides: {totals.get('Retransmissions(C)')} retransmissions")
    check(rc, totals, output, live, 300, tmp_path)
    # Loss really happened: SIPp had to retransmit.
    assert int(totals["Retransmissions(C)"]) > 0, totals
