#!/usr/bin/env python3
"""INVITE/ACK/BYE calls per second through ``sipwright serve`` and through Kamailio, with SIPp.

For each proxy, in one run (so that both see the same machine):

* ``sipwright serve --workers 2`` (and ``--workers 1``), started as a subprocess with
  ``--listen udp:127.0.0.1:P --domain example.com --db TMP --no-auth --http 127.0.0.1:H
  --no-trace --allocator malloc`` (the dashboard's call tracer is a debugging aid;
  ``--trace`` keeps it; ``--allocator pymalloc`` measures CPython's own allocator);
* Kamailio 5.6 with ``bench/kamailio/proxy.cfg`` (stateful, record-routing, TLSF
  allocator, ``-n 2`` worker processes), the yardstick of shared/design/PEERS.md.

A SIPp UAS (``bench/sipp/proxy_uas.xml``) sits behind the proxy and a SIPp UAC
(``bench/sipp/proxy_uac.xml``) calls through it: the Request-URI names the UAS, every
packet goes to the proxy (``sipp -sf proxy_uac.xml UAS -rsa PROXY``), so the proxy must
see the Request-URI's host:port as foreign and relay there (RFC 3261 §16.5, §16.6). The
UAC's ACK and BYE follow the Record-Route set (§12.1.2, §16.12).

Per proxy: warm-up; memory baseline; rising rates (``--rates``), each step
``-m rate x --step-seconds`` calls, bounded by ``-timeout``, judged by SIPp's exit status
and the totals row of its ``-trace_stat`` CSV (every call successful, no failed call, no
unexpected message); the ladder stops at the first failing step. At the best clean rate a
confirmation run of at least ``--confirm-calls`` (10 000) calls (when the ladder ended in
an overload, from a restarted, warmed-up proxy: neither proxy is configured with overload
control, and the confirmation measures a sustained rate, not the recovery from an
overload; the memory baseline is then taken again), then a run with 5 %
simulated packet loss on both SIPp sides (``-lost 5``, ``--loss-calls`` 1 000 calls at
``--loss-rate``). Memory after the run and after ``--idle`` seconds without traffic (40 s:
longer than Timer J and Timer L, 64*T1 = 32 s, so every transaction should be gone),
together with the proxy's own count of live transactions (sipwright: ``/metrics`` of each
worker; Kamailio: ``kamcmd tm.stats``). A leak shows as transactions left, or as memory
that keeps what the run added.

CPU = utime+stime of all the proxy's processes (``/proc/PID/stat``) over a step's wall
time, in % of one core; RSS = the sum of their ``VmRSS``; PSS = the sum of their
``Pss`` (``/proc/PID/smaps_rollup``), which counts shared pages once (Kamailio's workers
share its 2 GB shared-memory pool, so its RSS sum counts the same pages several times).
``others %`` = host CPU busy time not spent by the proxy or SIPp during the step
(``/proc/stat``): how quiet the box was.

``--register``: REGISTER load instead (``bench/sipp/register_load.xml``, a CSV of
``--users`` distinct users): rising rates, then ``-m USERS`` registrations at the best
rate, then memory with that many bindings and the SQLite file size (db + WAL); against
``sipwright serve`` and Kamailio's ``bench/kamailio/registrar.cfg`` (usrloc in memory).

Only processes started here are stopped, by PID (SIGTERM, then SIGKILL for what is left of
their process tree), also on Ctrl-C or an error. Prints tables and a JSON summary.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SCENARIO_UAC = BENCH_DIR / "sipp" / "proxy_uac.xml"
SCENARIO_UAS = BENCH_DIR / "sipp" / "proxy_uas.xml"
SCENARIO_REGISTER = BENCH_DIR / "sipp" / "register_load.xml"
KAMAILIO_PROXY_CFG = BENCH_DIR / "kamailio" / "proxy.cfg"
KAMAILIO_REGISTRAR_CFG = BENCH_DIR / "kamailio" / "registrar.cfg"
HOST = "127.0.0.1"
DOMAIN = "example.com"
BUFF = ["-buff_size", "4194304"]

RATES = [500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 7000]
QUICK_RATES = [200, 500]
REGISTER_RATES = [1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000]
QUICK_REGISTER_RATES = [200, 500]

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# -- processes and their resources ------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2 :].split()  # fields from "state" (field 3) on


def process_tree(root: int) -> list[int]:
    """``root`` and its live descendants (zombies left out), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry))
        except (OSError, ValueError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    out = [root]
    i = 0
    while i < len(out):
        out.extend(children.get(out[i], []))
        i += 1
    return [p for p in out if os.path.exists(f"/proc/{p}")]


def cpu_seconds(pids: list[int]) -> float:
    """Sum of utime + stime (fields 14, 15 of /proc/PID/stat) of ``pids``, in seconds."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = _stat_fields(pid)
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def memory_mb(pids: list[int]) -> dict[str, float]:
    """Sums over ``pids`` of VmRSS, VmHWM (peak RSS) and Pss, in MB."""
    rss = hwm = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
        with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                    break
    return {"rss_mb": rss / 1024, "peak_rss_mb": hwm / 1024, "pss_mb": pss / 1024}


def host_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole host, from the ``cpu`` line of /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def self_cpu() -> float:
    """CPU seconds of this script (it polls /proc during a step: not the box's 'others')."""
    t = os.times()
    return t.user + t.system


def udp_rcvbuf_errors() -> int:
    """Host-wide UDP datagrams dropped for a full receive buffer (/proc/net/snmp)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def free_port(count: int = 1) -> int:
    """A UDP+TCP port on 127.0.0.1 such that ``count`` consecutive ports are free."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((HOST, 0))
            base = int(u.getsockname()[1])
        if base + count > 65535:
            continue
        ok = True
        for port in range(base, base + count):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    try:
                        s.bind((HOST, port))
                    except OSError:
                        ok = False
            if not ok:
                break
        if ok:
            return base
    raise RuntimeError("no free port")


def stop_tree(proc: subprocess.Popen[Any], grace: float = 8.0) -> None:
    """Stop a process started here and what is left of its process tree, by PID."""
    pids = process_tree(proc.pid) if proc.poll() is None else []
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    for pid in pids:  # descendants the root did not take down
        if os.path.exists(f"/proc/{pid}") and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _alive(pid: int) -> bool:
    try:
        return _stat_fields(pid)[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False


def sip_probe(port: int, timeout: float = 0.3) -> str | None:
    """Send OPTIONS with Max-Forwards 0 to HOST:port; the status line of any answer.

    A proxy answers it itself (483, or 200 for OPTIONS, RFC 3261 §16.3 step 3) and
    forwards nothing, so it tells that the SIP socket is served without touching the UAS.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        me = s.getsockname()[1]
        tag = os.urandom(4).hex()
        msg = (
            f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{me};branch=z9hG4bK{tag}probe;rport\r\n"
            "Max-Forwards: 0\r\n"
            f"From: <sip:probe@{HOST}:{me}>;tag={tag}\r\n"
            f"To: <sip:{HOST}:{port}>\r\n"
            f"Call-ID: probe-{tag}@{HOST}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        s.settimeout(timeout)
        s.sendto(msg.encode(), (HOST, port))
        try:
            data = s.recv(65535)
        except OSError:
            return None
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


# -- the proxies -------------------------------------------------------------------------


class Proxy:
    """A proxy process started here: its command, PID tree, readiness, live state."""

    name = "proxy"
    kind = "proxy"

    def __init__(self, tmp: Path, port: int) -> None:
        self.tmp = tmp
        self.port = port
        self.proc: subprocess.Popen[Any] | None = None
        self.log_path = tmp / f"{self.name}.log"
        self.command: list[str] = []

    def start(self) -> None:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.tmp,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches this script only; it stops the proxy
        )
        log.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.proc.returncode}): {self.log_tail()}"
                )
            if sip_probe(self.port) is not None and self.extra_ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s: {self.log_tail()}")

    def extra_ready(self) -> bool:
        return True

    def pids(self) -> list[int]:
        assert self.proc is not None
        return process_tree(self.proc.pid) if self.proc.poll() is None else []

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def live_state(self) -> dict[str, int]:
        """The proxy's own count of live transactions (and dialogs, bindings)."""
        return {}

    def log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_tree(self.proc)


class Sipwright(Proxy):
    """``sipwright serve`` with N workers (SO_REUSEPORT), metrics on http port + i."""

    def __init__(
        self, tmp: Path, port: int, workers: int, trace: bool = False, allocator: str = "malloc"
    ) -> None:
        self.workers = workers
        self.name = f"sipwright-w{workers}" + ("-trace" if trace else "")
        if allocator != "malloc":
            self.name += f"-{allocator}"
        super().__init__(tmp, port)
        self.http_port = free_port(workers)
        self.db = tmp / f"{self.name}.db"
        exe = shutil.which("sipwright", path=str(REPO_DIR / ".venv" / "bin")) or "sipwright"
        self.command = [
            exe, "serve",
            "--listen", f"udp:{HOST}:{port}",
            "--domain", DOMAIN,
            "--db", str(self.db),
            "--no-auth",
            "--workers", str(workers),
            "--http", f"{HOST}:{self.http_port}",
            "--log-level", "WARNING",
            "--allocator", allocator,
        ]  # fmt: skip
        if not trace:
            # The dashboard's call tracer copies every message (a debugging aid, like
            # Kamailio's siptrace, which its bench config does not load either).
            self.command.append("--no-trace")

    def metrics(self) -> list[dict[str, float]]:
        """Each worker's /metrics samples (unlabelled names; one dict per worker)."""
        out = []
        for i in range(self.workers):
            url = f"http://{HOST}:{self.http_port + i}/metrics"
            try:
                with urllib.request.urlopen(url, timeout=3) as resp:
                    text = resp.read().decode()
            except (OSError, urllib.error.URLError):
                continue
            values: dict[str, float] = {}
            for line in text.splitlines():
                if not line or line.startswith("#"):
                    continue
                name, _, value = line.rpartition(" ")
                base = name.split("{", 1)[0]
                with contextlib.suppress(ValueError):
                    values[base] = values.get(base, 0.0) + float(value)
            out.append(values)
        return out

    def extra_ready(self) -> bool:
        for i in range(self.workers):
            try:
                url = f"http://{HOST}:{self.http_port + i}/healthz"
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status != 200:
                        return False
            except (OSError, urllib.error.URLError):
                return False
        return True

    def live_state(self) -> dict[str, int]:
        per_worker = self.metrics()
        if not per_worker:
            return {}
        return {
            "transactions": int(sum(m.get("sipwright_transactions_active", 0) for m in per_worker)),
            "invite_contexts": int(
                sum(m.get("sipwright_invite_contexts_active", 0) for m in per_worker)
            ),
            "bindings": int(max(m.get("sipwright_registrar_bindings", 0) for m in per_worker)),
            "workers_scraped": len(per_worker),
        }

    def use_db(self, path: Path) -> None:
        """Point the next start at another (new) database file."""
        self.db = path
        self.command[self.command.index("--db") + 1] = str(path)

    def db_size_mb(self) -> float:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += (self.db.parent / (self.db.name + suffix)).stat().st_size
        return total / 1e6


class Kamailio(Proxy):
    """Kamailio in the foreground (``-DD -E``), ``-n`` workers, TLSF allocator."""

    def __init__(self, tmp: Path, port: int, workers: int, cfg: Path) -> None:
        self.name = f"kamailio-n{workers}"
        super().__init__(tmp, port)
        self.ctl = tmp / f"{self.name}.ctl"
        self.kind = "registrar" if cfg == KAMAILIO_REGISTRAR_CFG else "proxy"
        self.command = [
            shutil.which("kamailio") or "/usr/sbin/kamailio",
            "-f", str(cfg), "-DD", "-E", "-m", "2048", "-M", "8", "-n", str(workers),
            "-x", "tlsf", "-X", "tlsf", "-P", str(tmp / f"{self.name}.pid"),
            "-A", f"LISTEN=udp:{HOST}:{port}", "-A", f'CTLSOCK="unix:{self.ctl}"',
        ]  # fmt: skip

    def kamcmd(self, *args: str) -> str:
        exe = shutil.which("kamcmd")
        if exe is None or not self.ctl.exists():
            return ""
        try:
            done = subprocess.run(
                [exe, "-s", f"unix:{self.ctl}", *args],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except subprocess.TimeoutExpired:
            return ""
        return done.stdout

    def live_state(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in self.kamcmd("tm.stats").splitlines():
            key, _, value = line.strip().partition(":")
            if key == "current":
                out["transactions"] = int(value)
        if self.kind == "registrar":
            for line in self.kamcmd("stats.get_statistics", "usrloc:").splitlines():
                if "location_contacts" in line:
                    out["bindings"] = int(line.rsplit("=", 1)[1])
        return out


class Sipp:
    """A SIPp process started here (UAS in the background of a proxy's runs)."""

    def __init__(self, args: list[str], cwd: Path, name: str) -> None:
        self.name = name
        self.cwd = cwd
        self.log_path = cwd / f"{name}.out"
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(f"SIPp {name} exited: {self.log_path.read_text()[-1500:]}")

    def stop(self) -> None:
        stop_tree(self.proc, grace=3)


# -- one SIPp UAC run ----------------------------------------------------------------------


@dataclass
class Step:
    """One SIPp UAC run through a proxy, and what the proxy spent on it."""

    kind: str
    rate: int
    calls: int
    lost: int = 0
    rc: int | None = None
    successful: int = 0
    failed: int = 0
    unexpected: int = 0
    retransmissions: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    achieved: float = 0.0
    proxy_cpu_pct: float = 0.0
    sipp_cpu_pct: float = 0.0
    others_cpu_pct: float = 0.0
    udp_drops: int = 0
    rss_mb: float = 0.0
    pss_mb: float = 0.0
    ok: bool = False
    note: str = ""
    #: sipwright: each worker's counters right after the step (from /metrics).
    per_worker: list[dict[str, int]] = field(default_factory=list)
    #: sipwright with several workers: INVITE/BYE contexts left open on a worker right
    #: after the step, i.e. the downstream responses went to another worker (see README).
    split_suspected: bool = False

    def verdict(self) -> str:
        if self.ok:
            return "ok"
        return self.note or "FAIL"


def sipp_totals(path: Path) -> dict[str, str]:
    """The last (cumulative) row of a SIPp ``-trace_stat`` CSV, by column name."""
    try:
        with path.open(newline="", encoding="latin-1") as f:
            rows = [r for r in csv.reader(f, delimiter=";") if r]
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def step_ok_so_far(totals: dict[str, str], calls: int) -> bool:
    """Every call of the step successful (by SIPp's totals)."""
    return totals.get("SuccessfulCall(C)") == str(calls) and totals.get("FailedCall(C)") == "0"


def _epoch(value: str) -> float:
    # "2026-11-23\t00:36:56.956221\t1795394216.956221": the last field is the epoch.
    return float(value.split("\t")[-1])


class Runner:
    """Runs SIPp UAC steps against one proxy and measures the proxy meanwhile."""

    def __init__(
        self, sipp: str, tmp: Path, proxy: Proxy, verbose: bool, uac_transport: str = "un"
    ) -> None:
        self.sipp = sipp
        self.uac_transport = uac_transport
        #: With -t un: SIPp opens up to this many sockets, then spreads calls over them
        #: (no port recycling, so no late datagram reaches a new call on a reused port).
        self.uac_sockets = 100
        self.tmp = tmp
        self.proxy = proxy
        self.verbose = verbose
        self.uas: list[Sipp] = []
        self.commands: dict[str, str] = {}
        self.count = 0

    def start_uas(self, lost: int = 0, pause_ms: int = 2000) -> int:
        port = free_port()
        args = [
            self.sipp, "-sf", str(SCENARIO_UAS), "-i", HOST, "-p", str(port),
            "-d", str(pause_ms), "-nostdin", *BUFF,
        ]  # fmt: skip
        if lost:
            args += ["-lost", str(lost)]
        self.commands[f"uas{'-lost' if lost else ''}"] = shlex.join(args)
        self.uas.append(Sipp(args, self.tmp, f"{self.proxy.name}-uas-{port}"))
        return port

    def stop_uas(self) -> None:
        for uas in self.uas:
            uas.stop()
        self.uas.clear()

    def settle(self, limit: float = 15.0) -> None:
        """Wait (bounded) until the proxy is idle: < 5 % of a core over 0.5 s."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            pids = self.proxy.pids()
            c0 = cpu_seconds(pids)
            time.sleep(0.5)
            if (cpu_seconds(pids) - c0) / 0.5 < 0.05:
                return

    def uac_args(self, uas_port: int, rate: int, calls: int, lost: int, stat: Path) -> list[str]:
        timeout = int(calls / rate) + (60 if lost else 30)
        args = [
            self.sipp, "-sf", str(SCENARIO_UAC), f"{HOST}:{uas_port}",
            "-rsa", f"{HOST}:{self.proxy.port}",
            "-i", HOST, "-p", str(free_port()),
            "-r", str(rate), "-m", str(calls), "-l", str(max(rate * 20, 1000)),
            "-d", "100",  # call duration: ACK and BYE 100 ms apart
            "-timeout", f"{timeout}s", "-recv_timeout", "40s" if lost else "10s",
            "-t", self.uac_transport, "-max_socket", str(self.uac_sockets),
            "-nostdin", *BUFF,
            "-trace_stat", "-stf", str(stat), "-fd", "1", "-trace_err",
        ]  # fmt: skip
        if lost:
            args += ["-lost", str(lost)]
        return args

    def run(self, kind: str, uas_port: int, rate: int, calls: int, lost: int = 0) -> Step:
        self.count += 1
        step = Step(kind=kind, rate=rate, calls=calls, lost=lost)
        work = self.tmp / f"{self.proxy.name}-{self.count:02d}-{kind}-{rate}"
        work.mkdir()
        stat = work / "stat.csv"
        args = self.uac_args(uas_port, rate, calls, lost, stat)
        self.commands.setdefault(f"uac-{kind}{'-lost' if lost else ''}", shlex.join(args))
        pids = self.proxy.pids()
        uas_pids = [u.proc.pid for u in self.uas]
        cpu0 = cpu_seconds(pids)
        others0 = cpu_seconds(uas_pids)
        busy0, _ = host_cpu()
        me0 = self_cpu()
        drops0 = udp_rcvbuf_errors()
        t0 = time.monotonic()
        out = (work / "sipp.out").open("wb")
        proc = subprocess.Popen(
            args, cwd=work, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()
        sipp_cpu = 0.0
        bound = int(calls / rate) + (90 if lost else 60)
        try:
            sipp_cpu = self._wait_sipp(proc, bound)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        wall = time.monotonic() - t0
        cpu1 = cpu_seconds(pids)
        busy1, _ = host_cpu()
        uas_cpu = cpu_seconds(uas_pids) - others0
        mem = memory_mb(self.proxy.pids())
        step.rc = proc.returncode
        step.wall_s = round(wall, 2)
        step.proxy_cpu_pct = round(100 * (cpu1 - cpu0) / wall, 1)
        step.sipp_cpu_pct = round(100 * (sipp_cpu + uas_cpu) / wall, 1)
        others = (busy1 - busy0) - (cpu1 - cpu0) - sipp_cpu - uas_cpu - (self_cpu() - me0)
        step.others_cpu_pct = round(max(0.0, 100 * others / wall), 1)
        step.udp_drops = udp_rcvbuf_errors() - drops0
        step.rss_mb = round(mem["rss_mb"], 1)
        step.pss_mb = round(mem["pss_mb"], 1)
        if isinstance(self.proxy, Sipwright):
            step.per_worker = [
                {
                    "requests": int(m.get("sipwright_sip_requests_received_total", 0)),
                    "forwarded": int(m.get("sipwright_sip_forwarded_total", 0)),
                    "transactions": int(m.get("sipwright_transactions_active", 0)),
                    "contexts": int(m.get("sipwright_invite_contexts_active", 0)),
                }
                for m in self.proxy.metrics()
            ]
            # With one worker holding the transactions and another receiving the UAS's
            # responses, the INVITE/BYE contexts of completed calls stay open on the
            # first until Timer B/F (32 s); with all responses on the right worker they
            # close as the calls end.
            open_contexts = sum(w["contexts"] for w in step.per_worker)
            step.split_suspected = (
                self.proxy.workers > 1 and step_ok_so_far(sipp_totals(stat), calls)
            ) and open_contexts > max(50, calls // 2)
        totals = sipp_totals(stat)
        if not totals:
            step.note = f"no SIPp statistics (rc {proc.returncode})"
            self._show_error(work)
            return step

        def num(key: str) -> int:
            try:
                return int(totals.get(key, "0") or 0)
            except ValueError:
                return 0

        step.successful = num("SuccessfulCall(C)")
        step.failed = num("FailedCall(C)")
        step.unexpected = num("FailedUnexpectedMessage(C)")
        step.retransmissions = num("Retransmissions(C)")
        step.failures = {
            k.removesuffix("(C)"): num(k)
            for k in totals
            if k.startswith("Failed") and k.endswith("(C)") and num(k)
        }
        with contextlib.suppress(KeyError, ValueError, IndexError):
            span = _epoch(totals["CurrentTime"]) - _epoch(totals["StartTime"])
            step.achieved = round(step.successful / span, 1) if span > 0 else 0.0
        step.ok = (
            step.rc == 0
            and step.successful == calls
            and step.failed == 0
            and step.unexpected == 0
            and self.proxy.alive()
        )
        if not step.ok:
            if not self.proxy.alive():
                step.note = "proxy died"
            elif step.failed or step.unexpected:
                step.note = f"{step.failed} failed"
            else:
                step.note = f"{calls - step.successful} not completed (rc {step.rc})"
            self._show_error(work)
        return step

    def _wait_sipp(self, proc: subprocess.Popen[Any], bound: float) -> float:
        """Wait for SIPp (bounded); its CPU seconds, read from /proc while it lives."""
        last = 0.0
        deadline = time.monotonic() + bound
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, IndexError):
                last = cpu_seconds([proc.pid])
            time.sleep(0.1)
        return last

    def _show_error(self, work: Path) -> None:
        if not self.verbose:
            return
        for log in sorted(work.glob("*_errors.log")):
            print(f"    {log.name}: {log.read_text(errors='replace')[-800:]}", file=sys.stderr)
        with contextlib.suppress(OSError):
            tail = (work / "sipp.out").read_text(errors="replace")[-600:]
            print(f"    sipp output: {tail}", file=sys.stderr)


# -- the call benchmark -------------------------------------------------------------------


def mem_now(proxy: Proxy) -> dict[str, float]:
    return {k: round(v, 1) for k, v in memory_mb(proxy.pids()).items()}


def bench_calls(proxy: Proxy, sipp: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The whole call benchmark against one proxy; a JSON-able result."""
    result: dict[str, Any] = {"proxy": proxy.name, "command": shlex.join(proxy.command)}
    runner = Runner(sipp, tmp, proxy, args.verbose, args.uac_transport)
    try:
        proxy.start()
        proxy.wait_ready()
        result["processes"] = len(proxy.pids())
        result["mem_start"] = mem_now(proxy)
        uas = runner.start_uas(pause_ms=4000)
        warm = runner.run("warmup", uas, 200, 400)
        result["warmup"] = asdict(warm)
        if not warm.ok:
            result["error"] = (
                f"warm-up failed ({warm.verdict()}, {warm.successful}/{warm.calls} calls, "
                f"failures {warm.failures}): the call path through {proxy.name} does not work"
            )
            result["log_tail"] = proxy.log_tail()
            return result
        runner.settle()
        result["mem_baseline"] = mem_now(proxy)
        result["live_baseline"] = proxy.live_state()
        steps: list[Step] = []
        for rate in args.rates:
            runner.settle()
            step = runner.run("step", uas, rate, max(int(rate * args.step_seconds), 200))
            steps.append(step)
            print_step(proxy.name, step)
            if not step.ok:
                break
        result["steps"] = [asdict(s) for s in steps]
        clean = [s for s in steps if s.ok]
        best = clean[-1] if clean else None
        result["best_rate"] = best.rate if best else 0
        result["at_best"] = asdict(best) if best else None
        result["ladder_top_reached"] = bool(steps) and steps[-1].ok
        if best is not None and args.confirm_calls > 0:
            if steps and not steps[-1].ok and proxy.alive():
                # The last step overloaded the proxy. Neither proxy has overload control
                # here, so an overload leaves a backlog (retransmissions, calls waiting for
                # Timer C); the sustained run starts from a fresh process, as after a
                # deployment, instead of measuring the recovery from that overload.
                print(f"  {proxy.name}: restart after the overload, then warm-up", flush=True)
                proxy.stop()
                proxy.start()
                proxy.wait_ready()
                rewarm = runner.run("warmup", uas, 200, 400)
                result["rewarm"] = asdict(rewarm)
                result["restarted_before_confirm"] = True
                runner.settle()
                result["mem_baseline_confirm"] = mem_now(proxy)  # the new process's
            runner.settle()
            calls = max(args.confirm_calls, best.rate * 2)
            confirm = runner.run("confirm", uas, best.rate, calls)
            print_step(proxy.name, confirm)
            result["confirm"] = asdict(confirm)
            if not confirm.ok and len(clean) >= 2:
                # Not clean twice at that rate: confirm the step below instead.
                runner.settle()
                lower = clean[-2].rate
                confirm2 = runner.run("confirm", uas, lower, max(args.confirm_calls, lower * 2))
                print_step(proxy.name, confirm2)
                result["confirm_lower"] = asdict(confirm2)
        if args.loss_calls > 0:
            runner.settle()
            lossy_uas = runner.start_uas(lost=args.loss, pause_ms=16000)
            loss = runner.run("loss", lossy_uas, args.loss_rate, args.loss_calls, lost=args.loss)
            print_step(proxy.name, loss)
            result["loss"] = asdict(loss)
        result["mem_after_run"] = mem_now(proxy)
        result["live_after_run"] = proxy.live_state()
        runner.stop_uas()
        if args.idle > 0:
            print(f"  {proxy.name}: {args.idle:.0f} s idle (timers expire)...", flush=True)
            time.sleep(args.idle)
        result["mem_after_idle"] = mem_now(proxy)
        result["live_after_idle"] = proxy.live_state()
        if args.repeat and best is not None and args.idle > 0 and proxy.alive():
            # Allocators keep freed memory (CPython's arenas, Kamailio's shared pool), so
            # "back to baseline" is not the test of a leak; a second identical run is: with
            # no leak, memory after its idle stays where the first idle left it.
            uas = runner.start_uas(pause_ms=4000)
            again = runner.run("repeat", uas, best.rate, max(args.confirm_calls, best.rate * 2))
            print_step(proxy.name, again)
            result["repeat"] = asdict(again)
            runner.stop_uas()
            print(f"  {proxy.name}: {args.idle:.0f} s idle again...", flush=True)
            time.sleep(args.idle)
            result["mem_after_idle2"] = mem_now(proxy)
            result["live_after_idle2"] = proxy.live_state()
        result["leak_check"] = leak_verdict(result)
        result["alive_at_end"] = proxy.alive()
        if not proxy.alive():
            result["log_tail"] = proxy.log_tail()
    except RuntimeError as exc:
        result["error"] = str(exc)
    finally:
        result["sipp_commands"] = runner.commands
        runner.stop_uas()
        proxy.stop()
    return result


def leak_verdict(result: dict[str, Any]) -> dict[str, Any]:
    """Did the live transactions go back to 0 and the memory back near the baseline?"""
    base = (result.get("mem_baseline_confirm") or result.get("mem_baseline", {})).get("pss_mb")
    run = result.get("mem_after_run", {}).get("pss_mb")
    idle = result.get("mem_after_idle", {}).get("pss_mb")
    idle2 = result.get("mem_after_idle2", {}).get("pss_mb")
    out: dict[str, Any] = {}
    live = result.get("live_after_idle2") or result.get("live_after_idle", {})
    if "transactions" in live:
        out["transactions_after_idle"] = live["transactions"]
        out["transactions_back_to_zero"] = live["transactions"] == 0
    if "invite_contexts" in live:
        out["invite_contexts_after_idle"] = live["invite_contexts"]
    if base is not None and run is not None and idle is not None:
        grown = run - base
        kept = idle - base
        out["pss_added_by_run_mb"] = round(grown, 1)
        out["pss_kept_after_idle_mb"] = round(kept, 1)
        # Within 10 % (min 3 MB) of the baseline counts as returned: CPython keeps some
        # freed arenas and its caches (URIs, header texts) are bounded, not empty.
        out["memory_back_to_baseline"] = kept <= max(3.0, 0.10 * base)
        if idle2 is not None:
            # The second run adds at most a few MB (fragmentation) when nothing leaks; a
            # leak adds about what the first run added.
            out["pss_after_second_idle_mb"] = idle2
            out["second_run_added_mb"] = round(idle2 - idle, 1)
            out["memory_plateau"] = idle2 - idle <= max(3.0, 0.2 * max(grown, 0.0))
    return out


# -- the REGISTER benchmark -----------------------------------------------------------------


def write_users(path: Path, count: int) -> None:
    """SIPp injection file: SEQUENTIAL, one distinct user name per line (field0)."""
    with path.open("w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(count):
            f.write(f"user{i:06d};\n")


def run_register(
    sipp: str,
    proxy: Proxy,
    tmp: Path,
    users: Path,
    rate: int,
    count: int,
    tag: str,
    transport: str = "un",
) -> tuple[Step, str]:
    work = tmp / f"{proxy.name}-reg-{tag}-{rate}"
    work.mkdir()
    stat = work / "stat.csv"
    args = [
        sipp, "-sf", str(SCENARIO_REGISTER), f"{HOST}:{proxy.port}",
        "-i", HOST, "-p", str(free_port()), "-inf", str(users), "-key", "domain", DOMAIN,
        "-r", str(rate), "-m", str(count), "-l", str(max(rate * 20, 1000)),
        "-timeout", f"{int(count / rate) + 40}s", "-recv_timeout", "10s",
        "-t", transport, "-max_socket", "100",
        "-nostdin", *BUFF, "-trace_stat", "-stf", str(stat), "-fd", "1", "-trace_err",
    ]  # fmt: skip
    step = Step(kind=f"register-{tag}", rate=rate, calls=count)
    pids = proxy.pids()
    cpu0 = cpu_seconds(pids)
    busy0, _ = host_cpu()
    me0 = self_cpu()
    t0 = time.monotonic()
    out = (work / "sipp.out").open("wb")
    proc = subprocess.Popen(
        args, cwd=work, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
    )
    out.close()
    sipp_cpu = 0.0
    try:
        deadline = time.monotonic() + count / rate + 70
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, IndexError):
                sipp_cpu = cpu_seconds([proc.pid])
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.monotonic() - t0
    cpu1 = cpu_seconds(pids)
    busy1, _ = host_cpu()
    mem = memory_mb(proxy.pids())
    totals = sipp_totals(stat)

    def num(key: str) -> int:
        try:
            return int(totals.get(key, "0") or 0)
        except ValueError:
            return 0

    step.rc = proc.returncode
    step.wall_s = round(wall, 2)
    step.successful = num("SuccessfulCall(C)")
    step.failed = num("FailedCall(C)")
    step.unexpected = num("FailedUnexpectedMessage(C)")
    step.retransmissions = num("Retransmissions(C)")
    step.failures = {
        k.removesuffix("(C)"): num(k)
        for k in totals
        if k.startswith("Failed") and k.endswith("(C)") and num(k)
    }
    with contextlib.suppress(KeyError, ValueError, IndexError):
        span = _epoch(totals["CurrentTime"]) - _epoch(totals["StartTime"])
        step.achieved = round(step.successful / span, 1) if span > 0 else 0.0
    step.proxy_cpu_pct = round(100 * (cpu1 - cpu0) / wall, 1)
    step.sipp_cpu_pct = round(100 * sipp_cpu / wall, 1)
    step.others_cpu_pct = round(
        max(0.0, 100 * ((busy1 - busy0) - (cpu1 - cpu0) - sipp_cpu - (self_cpu() - me0)) / wall),
        1,
    )
    step.rss_mb = round(mem["rss_mb"], 1)
    step.pss_mb = round(mem["pss_mb"], 1)
    step.ok = step.rc == 0 and step.successful == count and step.failed == 0 and proxy.alive()
    if not step.ok:
        step.note = "proxy died" if not proxy.alive() else f"{count - step.successful} not ok"
    return step, shlex.join(args)


def register_fresh(
    proxy: Proxy,
    sipp: str,
    tmp: Path,
    users: Path,
    rate: int,
    count: int,
    tag: str,
    result: dict[str, Any],
    transport: str,
) -> tuple[Step, str]:
    """Restart ``proxy`` empty, register ``count`` users at ``rate``, measure memory."""
    proxy.stop()
    if isinstance(proxy, Sipwright):
        proxy.use_db(tmp / f"{proxy.name}-{tag}.db")
    proxy.start()
    proxy.wait_ready()
    result["mem_baseline_full"] = mem_now(proxy)
    full, cmd = run_register(sipp, proxy, tmp, users, rate, count, tag, transport)
    print_step(proxy.name, full)
    time.sleep(1.0)
    result["mem_with_bindings"] = mem_now(proxy)
    result["live_with_bindings"] = proxy.live_state()
    if isinstance(proxy, Sipwright):
        result["db_size_mb"] = round(proxy.db_size_mb(), 1)  # db + WAL + shm
        with contextlib.suppress(OSError):
            result["db_main_file_mb"] = round(proxy.db.stat().st_size / 1e6, 1)
    return full, cmd


def bench_register(
    proxy: Proxy, sipp: str, tmp: Path, users: Path, args: argparse.Namespace
) -> dict[str, Any]:
    result: dict[str, Any] = {"proxy": proxy.name, "command": shlex.join(proxy.command)}
    try:
        proxy.start()
        proxy.wait_ready()
        result["mem_baseline"] = mem_now(proxy)
        steps: list[Step] = []
        for rate in args.register_rates:
            count = max(int(rate * args.step_seconds), 200)
            step, cmd = run_register(
                sipp, proxy, tmp, users, rate, count, "step", args.uac_transport
            )
            result.setdefault("sipp_command", cmd)
            steps.append(step)
            print_step(proxy.name, step)
            if not step.ok:
                break
        result["steps"] = [asdict(s) for s in steps]
        clean = [s for s in steps if s.ok]
        best = clean[-1].rate if clean else 0
        result["best_rate"] = best
        if best:
            # The full run starts from an empty store: a fresh process (and, for
            # sipwright, a new database), so that bindings = users exactly (each SIPp run
            # has its own port, so the ladder's REGISTERs added contacts of their own).
            full, cmd = register_fresh(
                proxy, sipp, tmp, users, best, args.users, "full", result, args.uac_transport
            )
            if not full.ok and len(clean) >= 2:
                # Not clean with a growing store: once more, one step lower.
                lower = clean[-2].rate
                full, cmd = register_fresh(
                    proxy, sipp, tmp, users, lower, args.users, "full2", result, args.uac_transport
                )
            result["full"] = asdict(full)
            result["full_command"] = cmd
    except RuntimeError as exc:
        result["error"] = str(exc)
    finally:
        proxy.stop()
    return result


# -- output ----------------------------------------------------------------------------------

STEP_HEADER = (
    f"  {'proxy':<14} {'kind':<15} {'rate':>6} {'calls':>7} {'ok':>7} {'fail':>5} "
    f"{'unexp':>5} {'retr':>6} {'achieved':>8} {'proxy%':>7} {'sipp%':>6} {'others%':>7} "
    f"{'RSS MB':>7} {'PSS MB':>7} {'drops':>6}  verdict"
)


def print_step(name: str, s: Step) -> None:
    print(
        f"  {name:<14} {s.kind + (f' -lost {s.lost}' if s.lost else ''):<15} {s.rate:>6} "
        f"{s.calls:>7} {s.successful:>7} {s.failed:>5} {s.unexpected:>5} "
        f"{s.retransmissions:>6} {s.achieved:>8.0f} {s.proxy_cpu_pct:>7.1f} "
        f"{s.sipp_cpu_pct:>6.1f} {s.others_cpu_pct:>7.1f} {s.rss_mb:>7.1f} {s.pss_mb:>7.1f} "
        f"{s.udp_drops:>6}  {s.verdict()}"
        + ("  [contexts left open: responses on another worker?]" if s.split_suspected else ""),
        flush=True,
    )


def summarize_calls(results: list[dict[str, Any]]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for r in results:
        at = r.get("at_best") or {}
        confirm = r.get("confirm") or {}
        loss = r.get("loss") or {}
        rows[r["proxy"]] = {
            "best_rate": r.get("best_rate", 0),
            "ladder_top_reached": r.get("ladder_top_reached", False),
            "cpu_pct_at_best": at.get("proxy_cpu_pct"),
            "rss_mb_at_best": at.get("rss_mb"),
            "pss_mb_at_best": at.get("pss_mb"),
            "confirm": (
                f"{confirm.get('successful')}/{confirm.get('calls')} ok, "
                f"{confirm.get('failed')} failed, {confirm.get('unexpected')} unexpected "
                f"at {confirm.get('rate')}/s"
                if confirm
                else None
            ),
            "confirm_ok": confirm.get("ok"),
            "loss": (
                f"{loss.get('successful')}/{loss.get('calls')} ok, {loss.get('failed')} failed "
                f"at {loss.get('rate')}/s, -lost {loss.get('lost')} both sides, "
                f"{loss.get('retransmissions')} SIPp retransmissions"
                if loss
                else None
            ),
            "loss_ok": loss.get("ok"),
            "mem_pss_mb": [
                r.get("mem_baseline", {}).get("pss_mb"),
                r.get("mem_after_run", {}).get("pss_mb"),
                r.get("mem_after_idle", {}).get("pss_mb"),
            ],
            "mem_rss_mb": [
                r.get("mem_baseline", {}).get("rss_mb"),
                r.get("mem_after_run", {}).get("rss_mb"),
                r.get("mem_after_idle", {}).get("rss_mb"),
            ],
            "live": [r.get("live_after_run"), r.get("live_after_idle")],
            "leak_check": r.get("leak_check"),
            "error": r.get("error"),
        }
    kam = next((v for k, v in rows.items() if k.startswith("kamailio")), None)
    if kam and kam["best_rate"]:
        for name, row in rows.items():
            if name.startswith("sipwright") and row["best_rate"]:
                row["rate_ratio_vs_kamailio"] = round(row["best_rate"] / kam["best_rate"], 2)
                if row["cpu_pct_at_best"] and kam["cpu_pct_at_best"]:
                    # CPU per call, relative: how many times Kamailio's CPU a call costs.
                    mine = row["cpu_pct_at_best"] / row["best_rate"]
                    theirs = kam["cpu_pct_at_best"] / kam["best_rate"]
                    row["cpu_per_call_ratio_vs_kamailio"] = round(mine / theirs, 1)
    return rows


def print_summary(rows: dict[str, Any]) -> None:
    print("\nSummary (best rate = highest step with every call successful, 0 failed, "
          "0 unexpected):")  # fmt: skip
    print(
        f"  {'proxy':<14} {'best/s':>7} {'CPU %':>6} {'RSS MB':>7} {'PSS MB':>7} "
        f"{'ratio':>6} {'CPU/call x':>10}  memory PSS base/run/idle  live txn run/idle"
    )
    for name, r in rows.items():
        pss = r["mem_pss_mb"]
        live = r["live"]
        txn = "/".join(str((x or {}).get("transactions", "?")) for x in live)
        print(
            f"  {name:<14} {r['best_rate']:>7} {r['cpu_pct_at_best'] or 0:>6.1f} "
            f"{r['rss_mb_at_best'] or 0:>7.1f} {r['pss_mb_at_best'] or 0:>7.1f} "
            f"{r.get('rate_ratio_vs_kamailio', ''):>6} "
            f"{r.get('cpu_per_call_ratio_vs_kamailio', ''):>10}  "
            f"{'/'.join(str(x) for x in pss):<24}  {txn}"
        )
        if r["confirm"]:
            print(f"      confirmation: {r['confirm']}")
        if r["loss"]:
            print(f"      packet loss:  {r['loss']}")
        if r["leak_check"]:
            print(f"      leak check:   {r['leak_check']}")
        if r["error"]:
            print(f"      ERROR: {r['error']}")


# -- main --------------------------------------------------------------------------------


def serve_available() -> tuple[bool, str]:
    exe = shutil.which("sipwright", path=str(REPO_DIR / ".venv" / "bin")) or shutil.which(
        "sipwright"
    )
    if exe is None:
        return False, "no sipwright executable (pip install -e .)"
    try:
        done = subprocess.run([exe, "serve", "--help"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return False, "sipwright serve --help timed out"
    if done.returncode != 0:
        return False, (done.stderr or done.stdout).strip()[-500:]
    return True, ""


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="low rates, short steps (validation)")
    p.add_argument("--only", choices=["sipwright", "kamailio"], help="one proxy only")
    p.add_argument("--workers", type=_ints, default=[2, 1], help="sipwright workers (2,1)")
    p.add_argument("--kamailio-workers", type=int, default=2)
    p.add_argument(
        "--uac-transport",
        choices=["un", "u1"],
        default="un",
        help="SIPp UAC sockets: un = one UDP socket per call (many sources, as many "
        "clients would be: SO_REUSEPORT spreads them over sipwright's workers), "
        "u1 = one socket for all calls (one source: one sipwright worker gets it all)",
    )
    p.add_argument("--rates", type=_ints, help="call rates per step")
    p.add_argument("--step-seconds", type=float, default=5.0, help="calls per step = rate x s")
    p.add_argument("--confirm-calls", type=int, default=10_000, help="0 skips it")
    p.add_argument("--loss", type=int, default=5, help="SIPp -lost percent, both sides")
    p.add_argument("--loss-rate", type=int, default=200)
    p.add_argument("--loss-calls", type=int, default=1000, help="0 skips the loss run")
    p.add_argument("--idle", type=float, default=40.0, help="seconds idle before last memory")
    p.add_argument(
        "--no-repeat", dest="repeat", action="store_false", help="skip the second run + idle"
    )
    p.add_argument("--register", action="store_true", help="REGISTER load instead of calls")
    p.add_argument(
        "--trace",
        action="store_true",
        help="keep the dashboard's call tracer on (off by default: --no-trace)",
    )
    p.add_argument(
        "--allocator",
        choices=["malloc", "pymalloc"],
        default="malloc",
        help="serve's memory allocator (serve's default: malloc; see docs/serve.md)",
    )
    p.add_argument("--register-rates", type=_ints)
    p.add_argument("--users", type=int, default=100_000, help="distinct users (--register)")
    p.add_argument(
        "--write-users", type=Path, metavar="CSV", help="only write the --users CSV and exit"
    )
    p.add_argument("--wait-serve", type=float, default=0.0, help="poll for `sipwright serve`")
    p.add_argument("--json", type=Path, help="also write the JSON summary here")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("-v", "--verbose", action="store_true", help="show SIPp errors")
    args = p.parse_args(argv)
    if args.quick:
        args.rates = args.rates or QUICK_RATES
        args.register_rates = args.register_rates or QUICK_REGISTER_RATES
        args.step_seconds = min(args.step_seconds, 2.0)
        args.confirm_calls = min(args.confirm_calls, 1000)
        args.loss_calls = min(args.loss_calls, 300)
        args.idle = min(args.idle, 5.0)
        args.users = min(args.users, 1000)
    args.rates = args.rates or RATES
    args.register_rates = args.register_rates or REGISTER_RATES
    return args


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sipwright-proxybench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"(kept {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (and SIGINT, even when a shell started us with it ignored) stops the run the
    # way Ctrl-C does: the finally blocks stop every process started here, by PID.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    if args.write_users:
        write_users(args.write_users, args.users)
        return 0
    sipp = shutil.which("sipp")
    if sipp is None:
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 2
    want_sip = args.only in (None, "sipwright")
    want_kam = args.only in (None, "kamailio") and shutil.which("kamailio") is not None
    serve_ok, why = serve_available() if want_sip else (False, "")
    deadline = time.monotonic() + args.wait_serve
    while want_sip and not serve_ok and time.monotonic() < deadline:
        time.sleep(10)
        serve_ok, why = serve_available()
    summary: dict[str, Any] = {
        "mode": "register" if args.register else "calls",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "cpus": os.cpu_count(),
        "sipp": subprocess.run([sipp, "-v"], capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[0],
    }
    if want_sip and not serve_ok:
        summary["sipwright_unavailable"] = why
        print(f"sipwright serve not available: {why}", file=sys.stderr)
    results: list[dict[str, Any]] = []
    interrupted = False
    with workdir(args.keep) as tmp:
        proxies: list[Proxy] = []
        cfg = KAMAILIO_REGISTRAR_CFG if args.register else KAMAILIO_PROXY_CFG
        if want_sip and serve_ok:
            workers = args.workers[:1] if args.register else args.workers
            proxies += [Sipwright(tmp, free_port(), n, args.trace, args.allocator) for n in workers]
        if want_kam:
            proxies.append(Kamailio(tmp, free_port(), args.kamailio_workers, cfg))
        users = tmp / "users.csv"
        if args.register:
            write_users(users, args.users)
        print(STEP_HEADER)
        try:
            for proxy in proxies:
                if args.register:
                    results.append(bench_register(proxy, sipp, tmp, users, args))
                else:
                    results.append(bench_calls(proxy, sipp, tmp, args))
                if results[-1].get("error"):
                    print(f"  {proxy.name}: ERROR {results[-1]['error']}", flush=True)
        except KeyboardInterrupt:
            interrupted = True
            print("interrupted: stopping the processes started here", file=sys.stderr)
        finally:
            for proxy in proxies:
                proxy.stop()
    summary["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    summary["results"] = results
    if not args.register:
        rows = summarize_calls(results)
        summary["summary"] = rows
        print_summary(rows)
    else:
        print("\nREGISTER summary:")
        for r in results:
            full = r.get("full") or {}
            print(
                f"  {r['proxy']:<14} best {r.get('best_rate', 0)}/s; full run "
                f"{full.get('successful')}/{full.get('calls')} at {full.get('rate')}/s "
                f"(achieved {full.get('achieved')}/s, {full.get('failed')} failed); memory "
                f"with bindings {r.get('mem_with_bindings')} (fresh process "
                f"{r.get('mem_baseline_full')}); live {r.get('live_with_bindings')}; "
                f"db {r.get('db_size_mb', '-')} MB (main file {r.get('db_main_file_mb', '-')})"
                + (f"; ERROR {r['error']}" if r.get("error") else "")
            )
    text = json.dumps(summary, indent=2, default=str)
    print("\nJSON summary:")
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
