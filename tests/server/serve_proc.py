"""Run ``sipwright serve`` as a real subprocess on free loopback ports, for the tests.

The process logs one ``event=ready`` line per worker on stderr once its sockets are
bound; :meth:`ServeProcess.wait_ready` waits for them (bounded). A reader thread keeps
every stderr line, so a test can look at the structured logs and a failure shows them.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from peers import REPO_DIR, free_port

__all__ = ["ServeProcess"]

READY_RE = re.compile(r"event=ready .*")


class ServeProcess:
    def __init__(self, tmp: Path, *args: str, workers: int = 1) -> None:
        self.sip_port = free_port()
        self.http_port = free_port(workers)  # worker i serves HTTP on http_port + i
        self.db = tmp / "var" / "serve.db"
        self.workers = workers
        self.args = [
            sys.executable,
            "-m",
            "sipwright",
            "serve",
            "--listen",
            f"udp:127.0.0.1:{self.sip_port}",
            "--listen",
            f"tcp:127.0.0.1:{self.sip_port}",
            "--db",
            str(self.db),
            "--http",
            f"127.0.0.1:{self.http_port}",
            "--domain",
            "127.0.0.1",
            "--workers",
            str(workers),
            "--drain",
            "0.3",
            # No DNS beyond loopback: a test that wants RFC 3263 names its name server.
            *([] if any(a.startswith("--dns") for a in args) else ["--no-dns"]),
            *args,
        ]
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        env = {**os.environ, "PYTHONPATH": str(REPO_DIR / "src"), "COLUMNS": "200"}
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _drain(self, timeout: float) -> str | None:
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            return ""
        if line is not None:
            self.lines.append(line)
        return line

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 20.0) -> list[str]:
        """The first ``count`` log lines matching ``pattern`` (raise after ``timeout``)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.lines if regex.search(line)]
            if len(found) >= count:
                return found[:count]
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if self._drain(min(left, 0.5)) is None:
                break  # the process closed stderr: it is gone
        raise AssertionError(
            f"no {count} line(s) matching {pattern!r}; rc={self.proc.poll()}; log:\n"
            + "\n".join(self.lines[-60:])
        )

    def wait_ready(self, timeout: float = 20.0) -> list[str]:
        return self.wait_for(r"event=ready\b", self.workers, timeout)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then the exit status (killed after ``timeout``: a test failure)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError("serve did not stop within the time limit") from None
        for _ in range(50):  # the rest of the log, until stderr closes
            if self._drain(0.2) is None:
                break
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
