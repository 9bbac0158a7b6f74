#!/usr/bin/env python3
"""SIP transactions per second through a sipwright UDP endpoint on loopback, driven by SIPp.

The sipwright side runs in a separate process, this script in server mode
(``transaction_bench.py --serve PORT [--serve-mode options|invite]``): one asyncio
:class:`sipwright.aio.endpoint.Endpoint` listening on UDP 127.0.0.1:PORT.

* ``options``: no request handler, so the endpoint answers OPTIONS 200 by itself;
* ``invite``: a handler answering INVITE 200 (with Contact and an SDP answer), BYE 200
  and OPTIONS 200; the ACK of the 2xx goes to the endpoint (``on_ack``).

The driver starts that process, then runs SIPp as UAC against it at rising rates
(``bench/sipp/uac_options.xml`` for OPTIONS, SIPp's built-in ``uac`` for
INVITE/100/200/ACK/BYE/200), each step bounded (``-m`` = rate x ``--step-seconds``,
``-timeout``), always with ``-buff_size 4194304`` (see shared/design/PEERS.md), and reads
SIPp's ``-trace_stat -fd 1`` CSV (last row = totals). Per step it reports the offered
rate, the achieved rate (successful calls / (CurrentTime - StartTime) of that last row),
failed calls, SIPp's retransmissions, the endpoint's CPU (utime+stime from
``/proc/PID/stat`` over the step's wall time, in % of one core), its RSS at the end of
the step and its peak RSS (``VmHWM``), SIPp's own CPU (``getrusage(RUSAGE_CHILDREN)``
around the SIPp run), the host-wide UDP receive-buffer drops during the step
(``RcvbufErrors`` in ``/proc/net/snmp``; SIPp's socket has 4 MB, the endpoint's the
kernel default) and the endpoint's live transaction count after the step (asked over
SIGUSR1). It stops at the first step with a failed call, or when the achieved rate
stops increasing, or when the time budget is spent.

Steps run back to back against the same endpoint process: a non-INVITE server
transaction over UDP stays in Completed for Timer J (64*T1 = 32 s), so transactions of
earlier steps are still held (and timed) during later ones, as on a real server.

Kills only the processes it started, by PID, also on Ctrl-C or an exception.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import glob
import json
import os
import queue
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SCENARIO_OPTIONS = BENCH_DIR / "sipp" / "uac_options.xml"
HOST = "127.0.0.1"
BUFF_SIZE = "4194304"

RATES = [200, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10000]
QUICK_RATES = [100, 300]

SDP_ANSWER = (
    b"v=0\r\n"
    b"o=sipwright 1 1 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)

# -- server mode (the process being measured) -------------------------------------------


def _stats_line(ep: Any) -> str:
    st = ep.stats
    return json.dumps(
        {
            "messages_in": dict(st.messages_in),
            "messages_out": dict(st.messages_out),
            "retransmissions": st.retransmissions,
            "send_errors": st.send_errors,
            "handler_errors": st.handler_errors,
            "active_transactions": st.active_transactions,
        }
    )


async def _serve(port: int, mode: str) -> None:
    import asyncio

    sys.path.insert(0, str(REPO_DIR / "src"))
    from sipwright.aio.endpoint import Endpoint, ServerRequest

    contact = [("Contact", f"<sip:bench@{HOST}:{port}>")]

    async def handler(sreq: ServerRequest) -> None:
        method = sreq.request.method
        if method == "INVITE":
            sreq.respond_now(200, headers=contact, body=SDP_ANSWER, content_type="application/sdp")
        elif method in ("BYE", "OPTIONS"):
            sreq.respond_now(200)
        else:
            sreq.respond_now(501)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    async with Endpoint(listen=[("UDP", HOST, port)]) as ep:
        if mode == "invite":
            ep.on_request = handler
            ep.on_ack = lambda request, source: None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, lambda: print(_stats_line(ep), flush=True))
        print("READY", flush=True)
        await stop.wait()
        print(_stats_line(ep), flush=True)


def serve(port: int, mode: str) -> int:
    import asyncio

    asyncio.run(_serve(port, mode))
    return 0


# -- measuring a process ----------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` from /proc/PID/stat (fields 14 and 15), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_mem_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    rss = hwm = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return rss, hwm


def udp_rcvbuf_errors() -> int:
    """Host-wide UDP datagrams dropped for a full receive buffer (/proc/net/snmp)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def children_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM a process this script started (by its PID), SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


class Server:
    """The sipwright endpoint in its own process; its stdout lines go to a queue."""

    def __init__(self, port: int, mode: str) -> None:
        self.port = port
        me = str(Path(__file__).resolve())
        self.proc = subprocess.Popen(
            [sys.executable, me, "--serve", str(port), "--serve-mode", mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Ctrl-C reaches the driver only; the driver stops the server itself.
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr_tail: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail = [*self.stderr_tail[-20:], line.rstrip()]

    def wait_ready(self, timeout: float = 15.0) -> None:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = ""
        if line != "READY":
            err = "\n".join(self.stderr_tail)
            raise RuntimeError(f"endpoint process did not start ({line!r})\n{err}")

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """Ask the server for its counters (SIGUSR1 -> one JSON line)."""
        if self.proc.poll() is not None:
            return {}
        os.kill(self.proc.pid, signal.SIGUSR1)
        try:
            return dict(json.loads(self.lines.get(timeout=timeout)))
        except (queue.Empty, ValueError):
            return {}

    def stop(self) -> dict[str, Any]:
        stop_process(self.proc)
        last: dict[str, Any] = {}
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            with contextlib.suppress(ValueError):
                last = dict(json.loads(line))
        return last


# -- one SIPp step ----------------------------------------------------------------------


@dataclass
class Step:
    mode: str
    offered: int
    calls: int
    successful: int = 0
    failed: int = 0
    retransmissions: int = 0
    elapsed_s: float = 0.0
    achieved: float = 0.0
    sipp_rc: int | None = None
    endpoint_cpu_pct: float = 0.0
    endpoint_rss_mb: float = 0.0
    endpoint_peak_rss_mb: float = 0.0
    sipp_cpu_pct: float = 0.0
    udp_drops: int = 0
    active_transactions: int | None = None
    endpoint_retransmissions: int | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def read_sipp_csv(directory: str) -> dict[str, str]:
    """The last row (totals) of SIPp's ``-trace_stat`` CSV in ``directory``."""
    files = glob.glob(os.path.join(directory, "*.csv"))
    if not files:
        return {}
    with open(files[0], newline="", encoding="latin-1") as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def _epoch(value: str) -> float:
    # "2026-11-22\t23:44:41.324266\t1795391081.324266": the last field is the epoch.
    return float(value.split("\t")[-1])


def run_sipp(
    sipp: str,
    mode: str,
    server: Server,
    rate: int,
    calls: int,
    timeout_s: int,
) -> Step:
    step = Step(mode=mode, offered=rate, calls=calls)
    scenario = ["-sf", str(SCENARIO_OPTIONS)] if mode == "options" else ["-sn", "uac", "-d", "0"]
    args = [
        sipp,
        f"{HOST}:{server.port}",
        *scenario,
        "-i", HOST,
        "-p", str(free_udp_port()),
        "-r", str(rate),
        "-m", str(calls),
        "-timeout", f"{timeout_s}s",
        "-buff_size", BUFF_SIZE,
        "-trace_stat", "-fd", "1",
        "-nostdin",
    ]  # fmt: skip
    pid = server.proc.pid
    with tempfile.TemporaryDirectory(prefix="sipwright-txbench-") as tmp:
        cpu0 = proc_cpu_seconds(pid)
        kids0 = children_cpu_seconds()
        drops0 = udp_rcvbuf_errors()
        t0 = time.monotonic()
        proc = subprocess.Popen(
            args,
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            try:
                _, err = proc.communicate(timeout=timeout_s + 15)
            except subprocess.TimeoutExpired:
                stop_process(proc)
                _, err = proc.communicate()
                step.note = "sipp killed after its timeout"
        finally:
            stop_process(proc)
        wall = time.monotonic() - t0
        cpu1 = proc_cpu_seconds(pid)
        kids1 = children_cpu_seconds()
        step.udp_drops = udp_rcvbuf_errors() - drops0
        step.sipp_rc = proc.returncode
        totals = read_sipp_csv(tmp)
    if not totals:
        msg = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        step.note = (step.note + " no SIPp statistics: " + " | ".join(msg)).strip()
        step.failed = calls
    else:
        step.successful = int(totals.get("SuccessfulCall(C)", 0))
        step.failed = int(totals.get("FailedCall(C)", 0))
        step.retransmissions = int(totals.get("Retransmissions(C)", 0))
        try:
            step.elapsed_s = _epoch(totals["CurrentTime"]) - _epoch(totals["StartTime"])
        except (KeyError, ValueError):
            step.elapsed_s = wall
        # Calls neither successful nor failed (still open at -timeout) count as failed.
        step.failed = max(step.failed, calls - step.successful)
        step.extra = {
            k: int(v)
            for k, v in totals.items()
            if k.startswith("Failed") and k.endswith("(C)") and v.isdigit() and int(v)
        }
    step.achieved = step.successful / step.elapsed_s if step.elapsed_s > 0 else 0.0
    step.endpoint_cpu_pct = 100 * (cpu1 - cpu0) / wall
    step.sipp_cpu_pct = 100 * (kids1 - kids0) / wall
    step.endpoint_rss_mb, step.endpoint_peak_rss_mb = proc_mem_mb(pid)
    stats = server.stats()
    if stats:
        step.active_transactions = stats.get("active_transactions")
        step.endpoint_retransmissions = stats.get("retransmissions")
    return step


# -- the driver -------------------------------------------------------------------------


def run_mode(
    sipp: str, mode: str, rates: list[int], args: argparse.Namespace, deadline: float
) -> dict[str, Any]:
    server = Server(free_udp_port(), mode)
    steps: list[Step] = []
    stop_reason = "all steps run"
    final_stats: dict[str, Any] = {}
    try:
        server.wait_ready()
        if mode == "invite":
            probe = run_sipp(sipp, mode, server, 10, 10, 15)
            if probe.failed or probe.successful != 10:
                why = f"probe of 10 calls: {probe.successful} ok, {probe.failed} failed"
                detail = f" {probe.extra}" if probe.extra else ""
                return {
                    "mode": mode,
                    "supported": False,
                    "steps": [],
                    "stop_reason": f"INVITE/BYE not answered correctly ({why}{detail})",
                }
        best = 0.0
        for rate in rates:
            calls = max(1, round(rate * args.step_seconds))
            # A step takes about step_seconds plus SIPp's start and drain.
            if time.monotonic() + args.step_seconds + 3 > deadline:
                stop_reason = "time budget spent"
                break
            step = run_sipp(sipp, mode, server, rate, calls, args.sipp_timeout)
            steps.append(step)
            print_row(step, flush=True)
            if step.failed:
                stop_reason = f"failures at {rate}/s"
                break
            if best and step.achieved < best * 1.05:
                stop_reason = f"achieved rate stopped increasing at {rate}/s offered"
                break
            best = max(best, step.achieved)
            time.sleep(args.pause)
    finally:
        final_stats = server.stop()
    peak = max((s.endpoint_peak_rss_mb for s in steps), default=0.0)
    clean = [s for s in steps if not s.failed]
    best_step = max(clean, key=lambda s: s.achieved, default=None)
    return {
        "mode": mode,
        "supported": True,
        "steps": [asdict(s) for s in steps],
        "stop_reason": stop_reason,
        "best_clean": asdict(best_step) if best_step else None,
        "endpoint_peak_rss_mb": peak,
        "endpoint_final_stats": final_stats,
    }


HEADER = (
    f"{'mode':<7} {'offered/s':>9} {'calls':>6} {'ok':>6} {'failed':>6} {'retrans':>7} "
    f"{'achieved/s':>10} {'txn/s':>7} {'ep CPU%':>7} {'ep RSS MB':>9} {'peak MB':>7} "
    f"{'sipp CPU%':>9} {'UDP drops':>9} {'live txn':>8}"
)


def print_row(step: Step, flush: bool = False) -> None:
    per_call = 2 if step.mode == "invite" else 1
    live = "-" if step.active_transactions is None else str(step.active_transactions)
    line = (
        f"{step.mode:<7} {step.offered:>9} {step.calls:>6} {step.successful:>6} "
        f"{step.failed:>6} {step.retransmissions:>7} {step.achieved:>10.0f} "
        f"{step.achieved * per_call:>7.0f} {step.endpoint_cpu_pct:>7.0f} "
        f"{step.endpoint_rss_mb:>9.1f} {step.endpoint_peak_rss_mb:>7.1f} "
        f"{step.sipp_cpu_pct:>9.0f} {step.udp_drops:>9} {live:>8}"
    )
    if step.note:
        line += f"  ({step.note})"
    if step.extra:
        line += f"  {step.extra}"
    print(line, flush=flush)


def headline(results: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for res in results:
        best = res.get("best_clean")
        if res["mode"] == "options":
            n = f"{best['achieved']:.0f}" if best else "none"
            parts.append(f"{n} transactions/s (OPTIONS)")
        elif not res.get("supported"):
            parts.append("INVITE/ACK/BYE not measured: " + res["stop_reason"])
        else:
            m = f"{best['achieved']:.0f}" if best else "none"
            parts.append(f"{m} calls/s (INVITE/ACK/BYE = 2 transactions per call)")
    return "highest rate with 0 failed: " + " and ".join(parts)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    ap.add_argument("--serve-mode", choices=("options", "invite"), default="options",
                    help=argparse.SUPPRESS)  # fmt: skip
    ap.add_argument("--mode", choices=("options", "invite", "both"), default="both")
    ap.add_argument("--quick", action="store_true", help="two low steps per mode")
    ap.add_argument("--rates", help="comma-separated offered rates (calls/s)")
    ap.add_argument("--step-seconds", type=float, default=None, help="calls per step = rate x this")
    ap.add_argument("--sipp-timeout", type=int, default=30, help="SIPp -timeout per step (s)")
    ap.add_argument("--pause", type=float, default=1.0, help="pause between steps (s)")
    ap.add_argument("--budget", type=float, default=170.0, help="total time budget (s)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)

    if args.serve is not None:
        return serve(args.serve, args.serve_mode)

    sipp = shutil.which("sipp")
    if sipp is None:
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 2
    if args.step_seconds is None:
        args.step_seconds = 2.0 if args.quick else 5.0
    rates = QUICK_RATES if args.quick else RATES
    if args.rates:
        rates = [int(r) for r in args.rates.split(",")]
    modes = ["options", "invite"] if args.mode == "both" else [args.mode]

    # Ctrl-C (even when started with SIGINT ignored, as a background job) and SIGTERM
    # unwind through the try/finally blocks that stop SIPp and the endpoint.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    start = time.monotonic()
    results: list[dict[str, Any]] = []
    print(f"sipwright UDP endpoint on {HOST}, SIPp UAC, {args.step_seconds:g} s per step")
    print("achieved/s = SIPp successful calls / elapsed; txn/s = transactions per second;")
    print("ep = the endpoint process (CPU in % of one core over the step); live txn = its")
    print("transactions after the step; UDP drops = host-wide RcvbufErrors during the step")
    print()
    print(HEADER, flush=True)
    try:
        for i, mode in enumerate(modes):
            # Leave the later modes their share of the budget.
            share = (args.budget - (time.monotonic() - start)) / (len(modes) - i)
            res = run_mode(sipp, mode, rates, args, time.monotonic() + share)
            results.append(res)
            if not res.get("supported", True):
                print(f"{mode:<7} {res['stop_reason']}", flush=True)
            else:
                print(f"{mode:<7} stop: {res['stop_reason']}", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print()
    line = headline(results)
    print(line)
    print(f"total {time.monotonic() - start:.0f} s")
    if args.json:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        doc = {
            "headline": line,
            "step_seconds": args.step_seconds,
            "results": results,
            "children_cpu_s": ru.ru_utime + ru.ru_stime,
            "children_max_rss_mb": ru.ru_maxrss / 1024,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
