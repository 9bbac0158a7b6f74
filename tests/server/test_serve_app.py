"""The whole :class:`Server` in process: SQLite stores, the proxy with the registrar and
digest hooks, metrics, and a graceful stop that lets a call in progress finish.

Far ends are real UserAgents using the server as outbound proxy; transaction timers are
short, the wall clock is real (bindings), the HTTP server on an ephemeral port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import ssl
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sipwright.aio.call import CallFailed, IncomingCall
from sipwright.aio.ua import UserAgent
from sipwright.server.app import LogFormatter, Server
from sipwright.server.config import ServerConfig
from sipwright.server.sqlite_store import SQLiteUserStore
from sipwright.transaction import TimerConfig

TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
DOMAIN = "127.0.0.1"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def config(tmp_path: Path, **kw: Any) -> ServerConfig:
    return ServerConfig(
        listen=(("UDP", "127.0.0.1", 0),),
        domains=(DOMAIN,),
        db=tmp_path / "app.db",
        http=("127.0.0.1", 0),
        drain=kw.pop("drain", 0.2),
        **kw,
    )


def agent(user: str, proxy: str, password: str | None = None) -> UserAgent:
    creds = (user, password) if password else None
    return UserAgent(
        f"sip:{user}@127.0.0.1:0",
        credentials=creds,
        outbound_proxy=proxy,
        aor=f"sip:{user}@{DOMAIN}",
        timers=TIMERS,
    )


def test_authenticated_call_through_the_server_and_metrics(tmp_path: Path) -> None:
    users = SQLiteUserStore(tmp_path / "app.db")
    users.add("alice", DOMAIN, "wonderland")
    users.add("bob", DOMAIN, "builder")
    users.close()

    async def main() -> None:
        server = Server(config(tmp_path, auth=True), timers=TIMERS, secret=b"s" * 32)
        await server.start()
        try:
            udp = server.local_address("UDP")
            assert udp is not None
            proxy = f"sip:{udp.host}:{udp.port}"
            async with (
                agent("alice", proxy, "wonderland") as alice,
                agent("bob", proxy, "builder") as bob,
                agent("eve", proxy) as eve,
            ):
                assert (await alice.register(proxy, expires=300)).status_code == 200
                assert (await bob.register(proxy, expires=300)).status_code == 200

                async def pick_up(call: IncomingCall) -> None:
                    await call.answer()

                bob.on_call = pick_up
                call = await alice.call(f"sip:bob@{DOMAIN}")  # 407, then through
                await call.bye()
                with pytest.raises(CallFailed) as info:  # no credentials: 407 is final
                    await eve.call(f"sip:bob@{DOMAIN}")
                assert info.value.status_code in (403, 407)
                with pytest.raises(CallFailed) as info:
                    await alice.call(f"sip:nobody@{DOMAIN}")
                assert info.value.status_code == 404  # known_user: not ours at all
            snap = await server.snapshot()
            assert snap.bindings == 2
            assert snap.requests_by_method["INVITE"] >= 4
            assert snap.registrar_outcomes["200"] == 2 and snap.registrar_outcomes["401"] == 2
            assert snap.auth_outcomes["accepted"] >= 2 and snap.auth_outcomes["challenged"] >= 2
            assert server.http_address is not None
            host, port = server.http_address
            url = f"http://{host}:{port}/metrics"
            async with aiohttp.ClientSession() as session, session.get(url) as resp:
                text = await resp.text()
            assert 'sipwright_registrar_bindings{worker="0"} 2' in text.splitlines()
            assert 'sipwright_sip_requests_received_total{worker="0",method="BYE"}' in text
        finally:
            await server.close(drain=0.1)

    run(main())


def test_graceful_stop_lets_a_call_in_progress_finish(tmp_path: Path) -> None:
    async def main() -> None:
        server = Server(config(tmp_path), timers=TIMERS)
        await server.start()
        udp = server.local_address("UDP")
        assert udp is not None
        proxy = f"sip:{udp.host}:{udp.port}"
        closing: asyncio.Task[None] | None = None
        async with agent("alice", proxy) as alice, agent("bob", proxy) as bob:
            assert (await bob.register(proxy, expires=300)).status_code == 200
            ringing = asyncio.Event()

            async def slow_answer(call: IncomingCall) -> None:
                await call.ringing()
                ringing.set()
                await asyncio.sleep(0.3)
                await call.answer()

            bob.on_call = slow_answer
            pending = alice.dial(f"sip:bob@{DOMAIN}")
            await asyncio.wait_for(ringing.wait(), 5)
            closing = asyncio.get_running_loop().create_task(server.close(drain=0.6))
            await asyncio.sleep(0.05)
            # No new work once draining: a new request gets 503.
            response = await bob.options(f"sip:{DOMAIN}")
            assert response.status_code == 503
            call = await pending.answered()  # the in-flight INVITE still completes
            assert call.state.name == "CONFIRMED"
        await asyncio.wait_for(closing, 10)
        assert server.store is not None

    run(main())


def test_tls_listener_from_certificate_files(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    client = ssl.create_default_context()
    ca.configure_trust(client)

    async def main() -> None:
        cfg = config(tmp_path, tls_cert=cert_file, tls_key=key_file)
        cfg = dataclasses.replace(cfg, listen=(("UDP", "127.0.0.1", 0), ("TLS", "127.0.0.1", 0)))
        async with Server(cfg, timers=TIMERS) as server:
            tls = server.local_address("TLS")
            assert tls is not None
            reader, writer = await asyncio.open_connection(
                tls.host, tls.port, ssl=client, server_hostname="127.0.0.1"
            )
            writer.write(
                (
                    f"OPTIONS sips:{tls.host}:{tls.port} SIP/2.0\r\n"
                    "Via: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bK-tls-1\r\n"
                    "Max-Forwards: 70\r\nTo: <sips:127.0.0.1>\r\n"
                    "From: <sips:t@127.0.0.1>;tag=1\r\nCall-ID: tls-1\r\nCSeq: 1 OPTIONS\r\n"
                    "Content-Length: 0\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            assert status == b"SIP/2.0 200 OK\r\n"

    run(main())


def test_sweeper_removes_expired_bindings_on_the_injected_clock(tmp_path: Path) -> None:
    now = [1_800_000_000.0]

    async def main() -> None:
        cfg = dataclasses.replace(config(tmp_path), sweep_interval=0.05)
        async with Server(cfg, timers=TIMERS, clock=lambda: now[0]) as server:
            udp = server.local_address("UDP")
            assert udp is not None
            proxy = f"sip:{udp.host}:{udp.port}"
            async with agent("alice", proxy) as alice:
                assert (await alice.register(proxy, expires=120)).status_code == 200
            assert (await server.snapshot()).bindings == 1
            assert server.store is not None
            now[0] += 121  # expired: invisible at once, deleted by the next sweep
            assert (await server.snapshot()).bindings == 0
            for _ in range(100):
                if not await server.store.all_bindings(0.0):
                    break
                await asyncio.sleep(0.02)
            assert await server.store.all_bindings(0.0) == []

    run(main())


@pytest.mark.parametrize("fmt", ["kv", "json"])
def test_log_lines_are_one_structured_line_per_event(fmt: str) -> None:
    record = logging.LogRecord("sipwright.server", logging.INFO, __file__, 1, "register", (), None)
    record.fields = {"aor": "sip:a b@x", "status": 200}
    line = LogFormatter(fmt, worker=3).format(record)
    assert "\n" not in line
    if fmt == "json":
        data = json.loads(line)
        assert data["event"] == "register" and data["worker"] == 3
        assert data["aor"] == "sip:a b@x" and data["status"] == 200
    else:
        assert " event=register worker=3 " in line
        assert 'aor="sip:a b@x" status=200' in line


def test_taps_see_every_message_in_order(tmp_path: Path) -> None:
    """Two taps (say the dashboard's trace and --pcap) both see the OPTIONS and its 200."""

    async def main() -> None:
        server = Server(config(tmp_path), timers=TIMERS)
        await server.start()
        first: list[tuple[bool, bytes]] = []
        second: list[tuple[bool, bytes]] = []
        server.add_tap(lambda out, data, src, dst: first.append((out, data)))
        server.add_tap(lambda out, data, src, dst: second.append((out, data)))
        try:
            udp = server.local_address("UDP")
            assert udp is not None
            async with agent("carol", f"sip:127.0.0.1:{udp.port}") as carol:
                response = await carol.options(f"sip:127.0.0.1:{udp.port}")
                assert response.status_code == 200
        finally:
            await server.close()
        assert first == second
        assert [(out, data.split(b" ", 1)[0]) for out, data in first] == [
            (False, b"OPTIONS"),
            (True, b"SIP/2.0"),
        ]

    run(main())


def test_memory_is_released_once_per_busy_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After traffic, once nothing is live any more, the server collects and trims once
    (server/memory.py); never while a transaction is alive, never twice for one burst."""
    import sipwright.server.app as app_module

    releases: list[int] = []
    monkeypatch.setattr(app_module, "IDLE_CHECK", 0.02)

    async def main() -> None:
        server = Server(config(tmp_path), timers=TIMERS)

        def release() -> tuple[int | None, int | None]:
            assert server.proxy is not None
            stats = server.proxy.stats
            assert stats.active_server_transactions == 0 and stats.active_contexts == 0
            assert server.proxy.compact()  # idle: nothing in flight, fresh tables
            releases.append(stats.requests.total())
            return None, None

        monkeypatch.setattr(app_module, "release_memory", release)
        await server.start()
        try:
            await wait_for(lambda: len(releases) == 1)  # idle from the start: once
            udp = server.local_address("UDP")
            assert udp is not None
            async with agent("carol", f"sip:127.0.0.1:{udp.port}") as carol:
                for _ in range(3):
                    response = await carol.options(f"sip:127.0.0.1:{udp.port}")
                    assert response.status_code == 200
            # The OPTIONS transactions live for Timer J (64·T1) before the release.
            await wait_for(lambda: len(releases) == 2, timeout=15)
            await asyncio.sleep(0.2)  # ten more idle checks: no new traffic, no release
            assert releases == [0, 3]
        finally:
            await server.close()

    run(main())


async def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
