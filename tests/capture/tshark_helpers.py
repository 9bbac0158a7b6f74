"""Driving tshark and SIPp for the capture tests (see shared/design/PEERS.md).

:func:`capturing` runs ``tshark -i lo -f "<filter>" -w FILE`` and waits until it reports
that it is capturing, then sends CRLF keep-alive datagrams to a probe port in the filter
until one shows in the file (tshark prints "Capturing on" before its capture loop has
really started; a WebSocket stream whose upgrade was missed cannot be dissected at all),
and only then lets the traffic start; it is stopped with SIGINT by PID (bounded) so the
file is complete. Keep-alives are not SIP: neither tshark nor the ladder counts them.
:func:`tshark_sip_count` is tshark's own count of SIP messages in
a file: one ``sip.CSeq`` occurrence per SIP message (``-E occurrence=a``), so several
messages in one TCP segment count as several.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from peers import free_port, stop_process

STARTUP_TIMEOUT = 15.0


@contextlib.contextmanager
def capturing(
    tshark: str,
    path: Path,
    ports: list[int],
    *,
    pcap_format: bool = False,
    interface: str = "lo",
) -> Iterator[Path]:
    """Capture loopback traffic to or from ``ports`` into ``path`` while the block runs."""
    probe_port = free_port()
    flt = " or ".join([*(f"port {p}" for p in ports), f"udp port {probe_port}"])
    args = [tshark, "-i", interface, "-f", flt, "-w", str(path), "-q"]
    if pcap_format:
        args[1:1] = ["-F", "pcap"]
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace")
            lines.append(line)
            if "Capturing on" in line:
                ready.set()
        ready.set()  # the process ended: do not wait any longer

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(STARTUP_TIMEOUT) or proc.poll() is not None:
            raise RuntimeError(f"tshark did not start capturing: {''.join(lines)}")
        _wait_until_capturing(path, probe_port, proc)
        yield path
        time.sleep(0.3)  # let the last packets reach the capture
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        reader.join(5)


def _wait_until_capturing(path: Path, probe_port: int, proc: subprocess.Popen[bytes]) -> None:
    """Send keep-alives to ``probe_port`` until the capture file grows past its header."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    header = -1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        while time.monotonic() < deadline and proc.poll() is None:
            size = path.stat().st_size if path.exists() else -1
            if header < 0 < size:
                header = size
            elif 0 < header < size:
                return
            probe.sendto(b"\r\n\r\n", ("127.0.0.1", probe_port))
            time.sleep(0.05)
    raise RuntimeError(f"tshark wrote no packet to {path} within {STARTUP_TIMEOUT} s")


def tshark_sip_fields(tshark: str, path: Path, *extra: str) -> list[str]:
    """Every ``sip.CSeq`` occurrence (one per SIP message) tshark dissects in ``path``."""
    out = subprocess.run(
        [
            tshark,
            "-r",
            str(path),
            *extra,
            "-Y",
            "sip",
            "-T",
            "fields",
            "-e",
            "sip.CSeq",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=|",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout.decode()
    return [v for line in out.splitlines() for v in line.split("|") if v.strip()]


def decode_as(ports: list[int], protocol: str = "sip") -> tuple[str, ...]:
    """tshark ``-d`` options that dissect TCP and UDP on ``ports`` as ``protocol``.

    The tests use random ports; a port number that tshark has registered for another
    protocol would otherwise be dissected as that one and its SIP not counted.
    """
    return tuple(
        arg
        for port in ports
        for layer in ("udp", "tcp")
        for arg in ("-d", f"{layer}.port=={port},{protocol}")
    )


def tshark_sip_count(tshark: str, path: Path, *extra: str) -> int:
    return len(tshark_sip_fields(tshark, path, *extra))


def run_sipp(sipp: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sipp, *args, "-nostdin", "-buff_size", "4194304"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )


@contextlib.contextmanager
def sipp_uas(sipp: str, *args: str, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """SIPp's built-in UAS in the background, stopped by PID afterwards."""
    proc = subprocess.Popen(
        [sipp, "-sn", "uas", *args, "-nostdin", "-buff_size", "4194304"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )
    try:
        time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError(f"sipp uas exited at once ({proc.returncode})")
        yield proc
    finally:
        stop_process(proc)
