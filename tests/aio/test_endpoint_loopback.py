"""Two real Endpoints on 127.0.0.1 (UDP and TCP sockets, the real TransportManager)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any

import pytest

from sipwright import Request, Response
from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.transaction import Destination, TimerConfig

FAST = TimerConfig(t1=0.01, t2=0.04, t4=0.05, timer_d_unreliable=0.1)


def run(coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_request(method: str, dest: Destination) -> Request:
    uri = f"sip:bob@{dest.host}:{dest.port};transport={dest.transport.lower()}"
    return Request(
        method,
        uri,
        [
            ("From", "<sip:alice@127.0.0.1>;tag=a1"),
            ("To", f"<{uri}>"),
            ("Call-ID", f"{method.lower()}-{dest.transport}@127.0.0.1"),
            ("CSeq", f"1 {method}"),
        ],
    )


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_options_round_trip(transport: str) -> None:
    async def main() -> Response:
        async with (
            Endpoint([(transport, "127.0.0.1", 0)]) as server,
            Endpoint([(transport, "127.0.0.1", 0)]) as client,
        ):
            dest = server.local_address(transport)
            assert dest is not None and dest.port != 0
            resp = await client.request(make_request("OPTIONS", dest), dest)
            assert server.stats.messages_in["OPTIONS"] == 1
            return resp

    resp = run(main())
    assert resp.status_code == 200
    assert "OPTIONS" in resp.allow
    assert resp.via[0].transport == transport


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_provisional_then_final(transport: str) -> None:
    seen: list[int] = []

    async def handler(req: ServerRequest) -> None:
        assert req.request.method == "MESSAGE"
        await req.respond(180)
        await asyncio.sleep(0.01)
        await req.respond(200, body=b"ok", content_type="text/plain")

    async def main() -> list[Response]:
        async with (
            Endpoint([(transport, "127.0.0.1", 0)]) as server,
            Endpoint([(transport, "127.0.0.1", 0)]) as client,
        ):
            server.on_request = handler
            dest = server.local_address(transport)
            assert dest is not None
            final = await client.request(
                make_request("MESSAGE", dest),
                dest,
                on_provisional=lambda r: seen.append(r.status_code),
            )
            msg2 = make_request("MESSAGE", dest)
            msg2.headers.set("Call-ID", "second@127.0.0.1")
            return [final] + [r async for r in client.request_iter(msg2, dest)]

    final, *stream = run(main())
    assert seen == [180]
    assert final.status_code == 200 and final.body == b"ok"
    assert [r.status_code for r in stream] == [180, 200]
    assert final.to is not None and final.to.tag is not None


def test_unhandled_method_501() -> None:
    async def main() -> Response:
        async with (
            Endpoint([("UDP", "127.0.0.1", 0)]) as server,
            Endpoint([("UDP", "127.0.0.1", 0)]) as client,
        ):
            dest = server.local_address("UDP")
            assert dest is not None
            return await client.request(make_request("SUBSCRIBE", dest), dest)

    assert run(main()).status_code == 501


def test_closed_udp_port_times_out_408() -> None:
    port = free_port()

    async def main() -> Response:
        async with Endpoint([("UDP", "127.0.0.1", 0)], timers=FAST) as client:
            dest = Destination("127.0.0.1", port, "UDP")
            return await client.request(make_request("OPTIONS", dest), dest)

    # Timer F = 64*T1 = 0.64 s
    assert run(main(), timeout=5).status_code == 408


def test_closed_tcp_port_gives_503() -> None:
    port = free_port(socket.SOCK_STREAM)

    async def main() -> Response:
        async with Endpoint([("TCP", "127.0.0.1", 0)], timers=FAST) as client:
            dest = Destination("127.0.0.1", port, "TCP")
            return await client.request(make_request("OPTIONS", dest), dest)

    assert run(main(), timeout=5).status_code == 503


def test_client_only_endpoint_listens_ephemerally() -> None:
    async def main() -> tuple[Response, Destination | None]:
        async with (
            Endpoint([("UDP", "127.0.0.1", 0)]) as server,
            Endpoint() as client,
        ):
            dest = server.local_address("UDP")
            assert dest is not None
            resp = await client.request(make_request("OPTIONS", dest), dest)
            return resp, client.local_address("UDP")

    resp, local = run(main())
    assert resp.status_code == 200
    assert local is not None and local.host == "127.0.0.1" and local.port > 0


def test_request_over_1300_bytes_for_udp_goes_over_tcp() -> None:
    """RFC 3261 §18.1.1: a request within 200 bytes of the path MTU (1300 when unknown)
    that would go over UDP is sent over TCP instead, Via included."""

    async def main() -> tuple[str, str, Response]:
        port = free_port(socket.SOCK_STREAM)
        async with (
            Endpoint([("UDP", "127.0.0.1", port), ("TCP", "127.0.0.1", port)]) as server,
            Endpoint([("UDP", "127.0.0.1", 0), ("TCP", "127.0.0.1", 0)]) as client,
        ):
            seen: list[tuple[str, str]] = []

            async def handler(req: ServerRequest) -> None:
                seen.append((req.source.transport, req.request.via[0].transport))
                await req.respond(200)

            server.on_request = handler
            dest = Destination("127.0.0.1", port, "UDP")
            msg = make_request("MESSAGE", dest)
            msg.set_body(b"x" * 2000, "text/plain")
            resp = await client.request(msg, dest)
            return seen[0][0], seen[0][1], resp

    arrived_over, via_transport, resp = run(main())
    assert resp.status_code == 200
    assert arrived_over == "TCP"
    assert via_transport == "TCP"
