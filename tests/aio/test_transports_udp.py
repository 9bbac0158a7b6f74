"""UDP transport: receive, stamp received/rport (§18.2.1, RFC 3581), reject, drop, send."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sipwright import Request, Response, make_response, parse
from sipwright.aio.transports import TransportError, needs_stream
from sipwright.transaction import Destination

from .test_transports_helpers import TIMEOUT, Collector, eventually, options, run


def _raw_udp(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


async def _recv(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), TIMEOUT)
    return data


def test_udp_round_trip_stamps_received_and_rport() -> None:
    async def main() -> None:
        async with Collector() as c:
            local = await c.manager.listen("UDP", "127.0.0.1", 0)
            assert local.transport == "UDP" and local.port > 0
            assert c.manager.local_address("UDP") == local
            with _raw_udp() as raw:
                raw_port = raw.getsockname()[1]
                raw.sendto(options(), ("127.0.0.1", local.port))
                inbound = await c.next()
                req = inbound.message
                assert isinstance(req, Request)
                assert inbound.source == Destination("127.0.0.1", raw_port, "UDP")
                assert inbound.local == local
                assert inbound.connection_id is None
                top = req.via[0]
                assert top.received == "127.0.0.1"
                assert top.rport == raw_port
                # The response goes where §18.2.2 / RFC 3581 say: received:rport.
                resp = make_response(req, 200)
                used = await c.manager.send(bytes(resp), inbound.source)
                assert used is None
                got = parse(await _recv(raw))
                assert isinstance(got, Response) and got.status_code == 200
                assert got.call_id == "call-1"
            assert c.manager.stats["messages_in.UDP"] == 1
            assert c.manager.stats["messages_out.UDP"] == 1

    run(main())


def test_udp_malformed_with_via_gets_400_with_reason() -> None:
    async def main() -> None:
        async with Collector() as c:
            local = await c.manager.listen("UDP", "127.0.0.1", 0)
            with _raw_udp() as raw:
                raw_port = raw.getsockname()[1]
                via = f"SIP/2.0/UDP 127.0.0.1:{raw_port};branch=z9hG4bK-bad"
                raw.sendto(options(via=via, content_length="50"), ("127.0.0.1", local.port))
                got = parse(await _recv(raw))
            assert isinstance(got, Response)
            assert got.status_code == 400
            assert "Content-Length" in got.reason
            assert got.via[0].branch == "z9hG4bK-bad"
            assert got.cseq is not None and got.cseq.method == "OPTIONS"
            assert got.to is not None and got.to.tag
            assert c.queue.empty()
            assert c.manager.stats["parse_errors"] == 1
            assert c.manager.stats["rejected"] == 1

    run(main())


def test_udp_garbage_dropped_and_listener_survives() -> None:
    async def main() -> None:
        async with Collector() as c:
            local = await c.manager.listen("UDP", "127.0.0.1", 0)
            with _raw_udp() as raw:
                for junk in (
                    b"\x00\x01garbage\xff",
                    b"hello world\r\n\r\n",
                    b"SIP/2.0 abc OK\r\n\r\n",
                ):
                    raw.sendto(junk, ("127.0.0.1", local.port))
                raw.sendto(b"\r\n\r\n", ("127.0.0.1", local.port))  # keep-alive: ignored
                raw.sendto(options(), ("127.0.0.1", local.port))
                inbound = await c.next()
                assert isinstance(inbound.message, Request)
                await eventually(lambda: c.manager.stats.get("dropped", 0) == 3)
                assert c.manager.stats["parse_errors"] == 3
                assert c.manager.stats["keepalives"] == 1
                # Nothing was sent back for garbage.
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(_recv(raw), 0.2)

    run(main())


def test_udp_callback_exception_does_not_kill_listener() -> None:
    async def main() -> None:
        seen: list[object] = []

        def boom(inbound: object) -> None:
            seen.append(inbound)
            raise RuntimeError("user bug")

        from sipwright.aio.transports import TransportManager

        manager = TransportManager(boom)
        try:
            local = await manager.listen("UDP", "127.0.0.1", 0)
            with _raw_udp() as raw:
                raw.sendto(options(call_id="x1"), ("127.0.0.1", local.port))
                raw.sendto(options(call_id="x2"), ("127.0.0.1", local.port))
                await eventually(lambda: len(seen) == 2)
            assert manager.stats["callback_errors"] == 2
        finally:
            await manager.close()

    run(main())


def test_udp_ipv6_listen_and_send() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")

    async def main() -> None:
        async with Collector() as c:
            v4 = await c.manager.listen("UDP", "127.0.0.1", 0)
            v6 = await c.manager.listen("UDP", "::1", 0)
            assert v6.host == "::1" and v6.port > 0
            assert c.manager.local_address("UDP", ipv6=True) == v6
            assert c.manager.local_address("UDP", ipv6=False) == v4
            with _raw_udp(socket.AF_INET6, "::1") as raw:
                port = raw.getsockname()[1]
                raw.sendto(
                    options(via="SIP/2.0/UDP [::1]:5099;branch=z9hG4bK-6;rport"), ("::1", v6.port)
                )
                inbound = await c.next()
                assert inbound.source == Destination("::1", port, "UDP")
                assert inbound.local == v6
                assert isinstance(inbound.message, Request)
                assert inbound.message.via[0].rport == port
                await c.manager.send(b"\r\n\r\n", Destination("[::1]", port, "UDP"))
                assert await _recv(raw) == b"\r\n\r\n"

    run(main())


def test_udp_send_binds_ephemeral_socket_and_refuses_oversize() -> None:
    async def main() -> None:
        async with Collector() as c:
            with _raw_udp() as raw:
                port = raw.getsockname()[1]
                assert await c.manager.send(options(), Destination("127.0.0.1", port)) is None
                assert (await _recv(raw)).startswith(b"OPTIONS ")
                assert c.manager.local_address("UDP") is not None
                with pytest.raises(TransportError, match="too large"):
                    await c.manager.send(b"x" * 70000, Destination("127.0.0.1", port))

    run(main())


def test_needs_stream_1300_byte_rule() -> None:
    udp = Destination("192.0.2.1", 5060, "UDP")
    small = options()
    big = options(extra="X-Pad: " + "a" * 1400 + "\r\n")
    assert not needs_stream(small, udp)
    assert needs_stream(big, udp)
    assert not needs_stream(big, Destination("192.0.2.1", 5060, "TCP"))
    assert not needs_stream(b"SIP/2.0 200 OK\r\n" + big, udp)  # responses are exempt
    assert not needs_stream(big, udp, mtu=9000)
    assert needs_stream(small, udp, mtu=len(small) + 100)
