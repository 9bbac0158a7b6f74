"""``sipwright serve`` as a real process: OPTIONS answered, REGISTER stored, SIGTERM stops
it cleanly with the database intact; ``--workers 2`` runs two workers that both answer
and all stop on SIGTERM. The far ends are the ``sipwright options`` command and real
UserAgents."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from peers import REPO_DIR

from sipwright.aio.call import IncomingCall
from sipwright.aio.ua import UserAgent
from sipwright.transaction import TimerConfig

from .serve_proc import ServeProcess

TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR / "src")}
    return subprocess.run(
        [sys.executable, "-m", "sipwright", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_serve_answers_options_registers_and_stops_on_sigterm(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path)
    try:
        server.wait_ready()
        done = cli("options", f"sip:127.0.0.1:{server.sip_port}")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "200" in done.stdout
        done = cli("options", f"sip:127.0.0.1:{server.sip_port};transport=tcp")
        assert done.returncode == 0, done.stdout + done.stderr

        async def register() -> str:
            async with UserAgent("sip:alice@127.0.0.1:0", timers=TIMERS) as ua:
                registrar = f"sip:127.0.0.1:{server.sip_port}"
                response = await ua.register(registrar, expires=600, aor="sip:alice@127.0.0.1")
                assert response.status_code == 200
                assert [str(c.uri) for c in response.contact] == [str(ua.contact)]
                return str(ua.contact)

        contact = run(register())
        server.wait_for(r"event=register .*aor=sip:alice@127.0.0.1")
    finally:
        code = server.stop()
    assert code == 0, "\n".join(server.lines)
    assert any("event=stopped" in line for line in server.lines)
    # Events only: nothing per SIP message at INFO (the wire log is DEBUG's).
    assert not [line for line in server.lines if "call-id=" in line], server.lines
    db = sqlite3.connect(server.db)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT aor, data FROM bindings").fetchall()
    finally:
        db.close()
    assert [r[0] for r in rows] == ["sip:alice@127.0.0.1"]
    assert contact in rows[0][1]


def test_two_workers_both_answer_and_stop(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path, workers=2)
    try:
        ready = server.wait_ready()
        pids = {int(m.group(1)) for line in ready if (m := re.search(r"\bpid=(\d+)", line))}
        assert len(pids) == 2 and server.proc.pid not in pids

        async def many() -> set[str]:
            seen: set[str] = set()
            for i in range(24):  # a new source port each time: the kernel spreads them
                async with UserAgent(f"sip:u{i}@127.0.0.1:0", timers=TIMERS) as ua:
                    registrar = f"sip:127.0.0.1:{server.sip_port}"
                    response = await ua.register(registrar, expires=600, aor=f"sip:u{i}@127.0.0.1")
                    assert response.status_code == 200
                    seen.add(response.headers.get("Server") or "")
                if len(seen) == 2:
                    break
            return seen

        seen = run(many())
        assert {re.sub(r".*\((worker \d)\).*", r"\1", s) for s in seen} == {"worker 0", "worker 1"}
        done = cli("options", f"sip:127.0.0.1:{server.sip_port}")
        assert done.returncode == 0, done.stdout + done.stderr
        # A worker that dies is restarted by the supervisor.
        os.kill(max(pids), signal.SIGKILL)
        server.wait_for(r"event=worker-died\b")
        again = server.wait_for(r"event=ready\b", 3)[2]
        m = re.search(r"\bpid=(\d+)", again)
        assert m is not None
        pids.add(int(m.group(1)))
        done = cli("options", f"sip:127.0.0.1:{server.sip_port}")
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        code = server.stop()
    assert code == 0, "\n".join(server.lines)
    for pid in pids:  # every worker is gone (reaped by the supervisor)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"worker {pid} still running")
    assert sum("event=stopped" in line for line in server.lines) == 2, "\n".join(server.lines)
    assert len(pids) == 3


def _gauge(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_calls_through_two_workers_complete_in_the_worker_that_forwarded(tmp_path: Path) -> None:
    """Responses to a forwarded INVITE come from the callee, a source the kernel may give
    to the other worker; the worker's private Via port brings them back to the worker
    holding the transaction, so every call completes and no context is left open."""
    server = ServeProcess(tmp_path, workers=2)
    try:
        server.wait_ready()
        proxy = f"sip:127.0.0.1:{server.sip_port}"

        async def calls() -> None:
            bob = UserAgent(
                "sip:bob@127.0.0.1:0", outbound_proxy=proxy, aor="sip:bob@127.0.0.1", timers=TIMERS
            )
            async with bob:
                assert (await bob.register(proxy, expires=600)).status_code == 200

                async def pick_up(call: IncomingCall) -> None:
                    await call.answer()

                bob.on_call = pick_up
                for i in range(8):  # new caller ports: both workers get some
                    async with UserAgent(
                        f"sip:a{i}@127.0.0.1:0",
                        outbound_proxy=proxy,
                        aor=f"sip:a{i}@127.0.0.1",
                        timers=TIMERS,
                    ) as alice:
                        call = await asyncio.wait_for(alice.call("sip:bob@127.0.0.1"), 5)
                        await call.bye()

        run(calls())
        ports = [server.http_port, server.http_port + 1]
        assert sum(_gauge(p, "sipwright_sip_forwarded_total") for p in ports) >= 16
        for _ in range(50):  # bounded: the last BYE's context ends with its 200
            if all(_gauge(p, "sipwright_invite_contexts_active") == 0 for p in ports):
                break
            time.sleep(0.05)
        assert [_gauge(p, "sipwright_invite_contexts_active") for p in ports] == [0, 0]
    finally:
        code = server.stop()
    assert code == 0, "\n".join(server.lines)
    # One structured line per call setup (the final answer to each INVITE).
    calls = [line for line in server.lines if re.search(r"event=call .*status=200", line)]
    assert len(calls) == 8, server.lines
    assert all("to=sip:bob@127.0.0.1" in line for line in calls)


def test_workers_that_cannot_start_make_serve_exit_1(tmp_path: Path) -> None:
    """A port held by someone else (no SO_REUSEPORT): every worker fails to bind; the
    supervisor restarts them a bounded number of times, then gives up with status 1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        done = cli(
            "serve",
            "--listen",
            f"udp:127.0.0.1:{port}",
            "--http",
            "",
            "--db",
            str(tmp_path / "x.db"),
            "--workers",
            "2",
        )
    assert done.returncode == 1, done.stderr
    assert "event=start-failed" in done.stderr
    assert "event=giving-up" in done.stderr
