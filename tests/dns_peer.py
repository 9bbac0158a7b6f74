"""dnsmasq as a real DNS server on loopback, for the RFC 3263 tests.

:func:`dnsmasq` starts ``dnsmasq --no-daemon`` on a free port of 127.0.0.1 with the
records given as dnsmasq options (``--naptr-record``, ``--srv-host``,
``--host-record``), authoritative for ``.test`` (``--local=/test/``: a name without a
record is NXDOMAIN, nothing is forwarded anywhere), no system configuration, hosts file
or upstream, 60 s TTLs. It waits until the server answers, yields ``(port, queries)``
where ``queries()`` lists the questions dnsmasq logged so far (``"SRV _sip._udp.x.test"``),
and stops it by PID.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import dns.exception
import dns.message
import dns.query
from peers import free_port, require_peer, stop_process

__all__ = ["dnsmasq"]

_QUERY = re.compile(r"query\[(\w+)\] (\S+) from")


def _answers(port: int) -> bool:
    probe = dns.message.make_query("probe.test", "A")
    try:
        dns.query.udp(probe, "127.0.0.1", port=port, timeout=0.3)
    except (dns.exception.DNSException, OSError):
        return False
    return True


@contextlib.contextmanager
def dnsmasq(*records: str) -> Iterator[tuple[int, Callable[[], list[str]]]]:
    binary = require_peer("dnsmasq")
    port = free_port()  # free for UDP and TCP: dnsmasq binds both
    args = [
        binary,
        "--no-daemon",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--pid-file=",
        f"--port={port}",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--local=/test/",
        "--local-ttl=60",  # local records default to TTL 0, which nobody caches
        "--log-queries",
        "--log-facility=-",
        *records,
    ]
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def queries() -> list[str]:
        # dnsmasq logs each question as it answers it: wait until the log is quiet.
        seen = -1
        while seen != len(lines):
            seen = len(lines)
            time.sleep(0.1)
        out = []
        for line in list(lines):
            m = _QUERY.search(line)
            if m and m.group(2) != "probe.test":
                out.append(f"{m.group(1)} {m.group(2)}")
        return out

    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dnsmasq did not start: {''.join(lines)[-2000:]}")
            time.sleep(0.05)
        yield port, queries
    finally:
        stop_process(proc, grace=5)
        reader.join(5)
