"""Bad input on one transport must not stop the Endpoint serving other peers.

Every test starts ONE Endpoint listening on UDP, TCP, TLS and WS (127.0.0.1, ephemeral
ports; TLS with a trustme certificate), abuses one transport, then checks that a fresh
peer's OPTIONS gets a 200 on each transport and that nothing escaped: no exception
reached the event loop's handler, no ERROR was logged by sipwright, every listener
still serves, the idle sweeper still runs and no endpoint task died with an exception.
Everything is bounded (asyncio.wait_for); the file runs in well under 60 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from sipwright.aio.endpoint import Endpoint
from sipwright.aio.transports import TransportManager
from sipwright.limits import ParseLimits

from .test_cli_tls_ws import Certs, start_server

TRANSPORTS = ("UDP", "TCP", "TLS", "WS")
STEP = 5.0  # bound on any single network wait


def options(transport: str, *, call_id: str | None = None, body_len: int | None = None) -> bytes:
    branch = "z9hG4bK-" + uuid.uuid4().hex
    call_id = call_id or uuid.uuid4().hex
    return (
        "OPTIONS sip:robust@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} client.invalid;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:probe@client.invalid>;tag=p1\r\n"
        "To: <sip:robust@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"Content-Length: {0 if body_len is None else body_len}\r\n"
        "\r\n"
    ).encode()


@dataclass
class Server:
    ep: Endpoint
    manager: TransportManager
    ports: dict[str, int]
    client_ctx: ssl.SSLContext
    loop_errors: list[dict[str, Any]] = field(default_factory=list)


# -- probes: a fresh peer per call ------------------------------------------------------


async def _read_sip(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            length = int(value.strip())
    body = await asyncio.wait_for(reader.readexactly(length), STEP) if length else b""
    return head + body


async def probe_udp(port: int, data: bytes | None = None) -> bytes:
    """One UDP request, retransmitted every 0.5 s (T1) as a UAC would: under a flood
    the kernel may drop a datagram before the endpoint ever sees it."""
    loop = asyncio.get_running_loop()
    data = data or options("UDP")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(("127.0.0.1", port))
        deadline = time.perf_counter() + STEP
        while True:
            await loop.sock_sendall(sock, data)
            try:
                return await asyncio.wait_for(loop.sock_recv(sock, 65535), 0.5)
            except TimeoutError:
                if time.perf_counter() > deadline:
                    raise


async def probe_stream(port: int, ctx: ssl.SSLContext | None, data: bytes | None = None) -> bytes:
    transport = "TLS" if ctx is not None else "TCP"
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx), STEP
    )
    try:
        writer.write(data or options(transport))
        await writer.drain()
        return await _read_sip(reader)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), STEP)


async def probe_ws(port: int, data: bytes | None = None) -> bytes:
    async with ws_connect(
        f"ws://127.0.0.1:{port}/", subprotocols=[Subprotocol("sip")], open_timeout=STEP
    ) as ws:
        await ws.send((data or options("WS")).decode())
        reply = await asyncio.wait_for(ws.recv(), STEP)
        return reply.encode() if isinstance(reply, str) else bytes(reply)


async def probe(srv: Server, transport: str) -> bytes:
    port = srv.ports[transport]
    if transport == "UDP":
        return await probe_udp(port)
    if transport == "TCP":
        return await probe_stream(port, None)
    if transport == "TLS":
        return await probe_stream(port, srv.client_ctx)
    return await probe_ws(port)


async def assert_serving(srv: Server) -> None:
    """A fresh peer on every transport gets 200 to OPTIONS."""
    replies = await asyncio.gather(*(probe(srv, t) for t in TRANSPORTS))
    for transport, reply in zip(TRANSPORTS, replies, strict=True):
        assert reply.startswith(b"SIP/2.0 200 "), (transport, reply[:200])


def assert_healthy(srv: Server) -> None:
    assert not srv.loop_errors, srv.loop_errors
    m = srv.manager
    assert m._sweeper is not None and not m._sweeper.done()
    assert all(s.is_serving() for s in m._servers)
    assert all(u.io is not None and not u.io.is_closing() for u in m._udp)
    assert all(w.server.is_serving() for w in m._ws_servers)
    for task in [*m._tasks, *srv.ep._tasks]:
        if task.done() and not task.cancelled():
            assert task.exception() is None, task
    assert srv.ep.stats.handler_errors == 0
    assert m.stats.get("callback_errors", 0) == 0


# -- harness ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("robust-certs"))


Case = Callable[[Server], Awaitable[None]]


def run_case(
    certs: Certs,
    caplog: pytest.LogCaptureFixture,
    case: Case,
    *,
    timeout: float = 20.0,
    **manager_kwargs: Any,
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        ep, manager, bound = await start_server(certs.server, TRANSPORTS, **manager_kwargs)
        srv = Server(ep, manager, {n: d.port for n, d in bound.items()}, certs.client(), errors)
        try:
            await assert_serving(srv)  # sanity, before the abuse
            await case(srv)
            await assert_serving(srv)
            assert_healthy(srv)
        finally:
            await asyncio.wait_for(ep.close(), 10)

    with caplog.at_level(logging.ERROR, logger="sipwright"):
        asyncio.run(asyncio.wait_for(main(), timeout))
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """True when the server closes (EOF or reset) within ``within`` seconds."""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), within)
            if not chunk:
                return True
    except (ConnectionError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


# -- garbage and floods -----------------------------------------------------------------


def test_udp_garbage_and_flood(certs: Certs, caplog: pytest.LogCaptureFixture) -> None:
    async def case(srv: Server) -> None:
        rnd = random.Random(3261)
        port = srv.ports["UDP"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("127.0.0.1", port))
            garbage = [
                b"",
                b"\x00" * 10,
                b"\xff\xfe\xfd",
                b"INVITE\r\n\r\n",
                b"SIP/2.0 200 OK\r\n\r\n",
                b"OPTIONS sip:x SIP/2.0\r\nVia: \r\n\r\n",
                options("UDP").replace(b"Content-Length: 0", b"Content-Length: 99"),
                options("UDP").replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS"),
            ]
            for data in garbage:
                sock.send(data)
            for _ in range(500):
                sock.send(rnd.randbytes(rnd.randint(1, 1400)))
                await asyncio.sleep(0)
        await asyncio.sleep(0.2)
        t0 = time.perf_counter()
        assert (await probe(srv, "UDP")).startswith(b"SIP/2.0 200 ")
        assert time.perf_counter() - t0 < 1.0

    run_case(certs, caplog, case)


@pytest.mark.parametrize("transport", ["TCP", "TLS"])
def test_stream_garbage_closes_only_that_connection(
    certs: Certs, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    async def case(srv: Server) -> None:
        ctx = srv.client_ctx if transport == "TLS" else None
        rnd = random.Random(7)
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.ports[transport], ssl=ctx)
        writer.write(b"GARBAGE \x00\xff\r\n" + rnd.randbytes(4000) + b"\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        # Other peers are served while (and after) the bad connection is handled.
        await assert_serving(srv)
        assert await closed_by_server(reader, STEP), "garbage stream was not closed"
        writer.close()

    run_case(certs, caplog, case)


def test_ws_garbage_frames(certs: Certs, caplog: pytest.LogCaptureFixture) -> None:
    async def case(srv: Server) -> None:
        rnd = random.Random(11)
        async with ws_connect(
            f"ws://127.0.0.1:{srv.ports['WS']}/", subprotocols=[Subprotocol("sip")]
        ) as ws:
            for _ in range(100):
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(rnd.randbytes(rnd.randint(1, 2000)))
            with contextlib.suppress(ConnectionClosed):
                await ws.send("not sip at all\r\n\r\n")
            await assert_serving(srv)

    run_case(certs, caplog, case)


# -- oversized --------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [None, 8192])
def test_udp_oversized_datagram(
    certs: Certs, caplog: pytest.LogCaptureFixture, limit: int | None
) -> None:
    """A 60 KB datagram. Within the default limit (64 KiB) a well-formed one may be
    answered normally; beyond a configured 8 KiB limit it is dropped or answered with
    an error, never a 2xx. Pure junk of the same size is dropped. Either way, others
    are still served."""

    async def case(srv: Server) -> None:
        big = options("UDP", body_len=60_000) + b"x" * 60_000
        assert len(big) < 65507
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect(("127.0.0.1", srv.ports["UDP"]))
            await loop.sock_sendall(sock, big)
            with contextlib.suppress(TimeoutError):
                reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), 1.0)
                if limit is not None:
                    assert reply[:9] == b"SIP/2.0 4" or reply[:9] == b"SIP/2.0 5", reply[:100]
            await loop.sock_sendall(sock, b"\x01" * 60_000)
        await assert_serving(srv)

    kwargs: dict[str, Any] = {}
    if limit is not None:
        kwargs["limits"] = ParseLimits(max_message_size=limit)
    run_case(certs, caplog, case, **kwargs)


@pytest.mark.parametrize("transport", ["TCP", "TLS"])
def test_stream_content_length_beyond_limit(
    certs: Certs, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    async def case(srv: Server) -> None:
        ctx = srv.client_ctx if transport == "TLS" else None
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.ports[transport], ssl=ctx)
        limit = srv.manager.limits.max_message_size
        writer.write(options(transport, body_len=limit * 16))
        writer.write(b"y" * 1000)
        await writer.drain()
        assert await closed_by_server(reader, STEP), "oversized stream message: still open"
        writer.close()

    run_case(certs, caplog, case)


def test_ws_frame_beyond_limit(certs: Certs, caplog: pytest.LogCaptureFixture) -> None:
    async def case(srv: Server) -> None:
        limit = srv.manager.limits.max_message_size
        async with ws_connect(
            f"ws://127.0.0.1:{srv.ports['WS']}/",
            subprotocols=[Subprotocol("sip")],
            max_size=None,
        ) as ws:
            body = b"z" * (limit + 1000)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(options("WS", body_len=len(body)) + body)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), STEP)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009  # too big

    run_case(certs, caplog, case)


# -- half messages, idle connections, slow-loris ------------------------------------------


def test_half_messages_then_idle_are_closed(certs: Certs, caplog: pytest.LogCaptureFixture) -> None:
    """Half a message on TCP and TLS, a truncated WS message: others are served; with
    idle_timeout=1 s the server closes the silent half-open stream connections."""

    async def case(srv: Server) -> None:
        half = options("TCP")[:60]
        r_tcp, w_tcp = await asyncio.open_connection("127.0.0.1", srv.ports["TCP"])
        w_tcp.write(half)
        r_tls, w_tls = await asyncio.open_connection(
            "127.0.0.1", srv.ports["TLS"], ssl=srv.client_ctx
        )
        w_tls.write(options("TLS")[:60])
        await asyncio.gather(w_tcp.drain(), w_tls.drain())
        async with ws_connect(
            f"ws://127.0.0.1:{srv.ports['WS']}/", subprotocols=[Subprotocol("sip")]
        ) as ws:
            truncated = options("WS", body_len=50) + b"short"
            await ws.send(truncated.decode())
            # A frame is a whole message (RFC 7118 §5): rejected (400) or dropped.
            with contextlib.suppress(TimeoutError):
                reply = await asyncio.wait_for(ws.recv(), 1.0)
                text = reply if isinstance(reply, str) else reply.decode()
                assert text.startswith("SIP/2.0 4"), text[:100]
            t0 = time.perf_counter()
            await assert_serving(srv)
            assert time.perf_counter() - t0 < 1.0
        assert await closed_by_server(r_tcp, 3.0), "idle half-open TCP connection not closed"
        assert await closed_by_server(r_tls, 3.0), "idle half-open TLS connection not closed"
        assert srv.manager.stats.get("connections_idle_closed", 0) >= 2
        w_tcp.close()
        w_tls.close()

    run_case(certs, caplog, case, idle_timeout=1.0)


def test_slow_loris_does_not_delay_others(certs: Certs, caplog: pytest.LogCaptureFixture) -> None:
    """Five TCP (and one TLS) connections trickle one byte every 100 ms for ~3 s; a
    fresh peer's OPTIONS on every transport is answered in under a second meanwhile."""

    async def trickle(srv: Server, transport: str, seconds: float) -> None:
        ctx = srv.client_ctx if transport == "TLS" else None
        _, writer = await asyncio.open_connection("127.0.0.1", srv.ports[transport], ssl=ctx)
        data = options(transport)
        end = time.perf_counter() + seconds
        try:
            for i in range(len(data) - 1):  # never completes the message
                if time.perf_counter() >= end:
                    break
                writer.write(data[i : i + 1])
                await writer.drain()
                await asyncio.sleep(0.1)
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def case(srv: Server) -> None:
        lorises = [asyncio.create_task(trickle(srv, "TCP", 3.0)) for _ in range(5)]
        lorises.append(asyncio.create_task(trickle(srv, "TLS", 3.0)))
        await asyncio.sleep(0.3)
        for _ in range(3):
            for transport in TRANSPORTS:
                t0 = time.perf_counter()
                reply = await probe(srv, transport)
                rtt = time.perf_counter() - t0
                assert reply.startswith(b"SIP/2.0 200 "), (transport, reply[:100])
                assert rtt < 1.0, (transport, rtt)
            await asyncio.sleep(0.5)
        await asyncio.wait_for(asyncio.gather(*lorises), 10)

    run_case(certs, caplog, case, idle_timeout=1.0)


# -- stalled handshakes -----------------------------------------------------------------


def test_tls_without_handshake_and_ws_without_upgrade(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    """Plain TCP to the TLS port that never starts the handshake, one that sends half a
    ClientHello, and a TCP connection to the WS port that never sends the upgrade (and
    one with half an upgrade): the endpoint keeps serving everyone else."""

    async def case(srv: Server) -> None:
        stalled = [
            await asyncio.open_connection("127.0.0.1", srv.ports["TLS"]),
            await asyncio.open_connection("127.0.0.1", srv.ports["TLS"]),
            await asyncio.open_connection("127.0.0.1", srv.ports["WS"]),
            await asyncio.open_connection("127.0.0.1", srv.ports["WS"]),
        ]
        stalled[1][1].write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # partial hello
        stalled[3][1].write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        t0 = time.perf_counter()
        await assert_serving(srv)
        assert time.perf_counter() - t0 < 1.0
        # A garbage "handshake" on the TLS port is refused without harm.
        r, w = await asyncio.open_connection("127.0.0.1", srv.ports["TLS"])
        w.write(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
        assert await closed_by_server(r, STEP), "plain text on the TLS port: not closed"
        w.close()
        # A non-WebSocket HTTP request on the WS port gets an HTTP error, not a crash.
        r, w = await asyncio.open_connection("127.0.0.1", srv.ports["WS"])
        w.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status = await asyncio.wait_for(r.readline(), STEP)
        assert status.startswith(b"HTTP/1.1 4"), status
        w.close()
        await assert_serving(srv)
        for _, writer in stalled:
            writer.close()

    run_case(certs, caplog, case)


def test_ws_without_upgrade_is_closed_by_open_timeout(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    """websockets' open_timeout (10 s) drops a peer that never completes the upgrade."""

    async def case(srv: Server) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.ports["WS"])
        assert await closed_by_server(reader, 12.0), "WS peer without upgrade never closed"
        writer.close()

    run_case(certs, caplog, case, timeout=25.0)


def test_endpoint_survives_everything_at_once(
    certs: Certs, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A bounded mix of all of the above, concurrently, then every transport answers."""

    async def case(srv: Server) -> None:
        rnd = random.Random(1)
        loop = asyncio.get_running_loop()

        async def udp_flood() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.connect(("127.0.0.1", srv.ports["UDP"]))
                for _ in range(300):
                    await loop.sock_sendall(sock, rnd.randbytes(rnd.randint(1, 1500)))

        async def stream_junk(transport: str) -> None:
            ctx = srv.client_ctx if transport == "TLS" else None
            for _ in range(10):
                r, w = await asyncio.open_connection("127.0.0.1", srv.ports[transport], ssl=ctx)
                w.write(rnd.randbytes(500) + b"\r\n\r\n")
                with contextlib.suppress(ConnectionError):
                    await w.drain()
                await closed_by_server(r, 1.0)
                w.close()

        async def ws_junk() -> None:
            for _ in range(10):
                with contextlib.suppress(ConnectionClosed):
                    async with ws_connect(
                        f"ws://127.0.0.1:{srv.ports['WS']}/", subprotocols=[Subprotocol("sip")]
                    ) as ws:
                        await ws.send(rnd.randbytes(300))

        await asyncio.wait_for(
            asyncio.gather(
                udp_flood(),
                stream_junk("TCP"),
                stream_junk("TLS"),
                ws_junk(),
                assert_serving(srv),
            ),
            15,
        )

    run_case(certs, caplog, case, timeout=30.0)
