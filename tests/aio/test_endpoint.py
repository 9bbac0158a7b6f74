"""Endpoint pump, against an in-memory transport (no sockets): fast and deterministic."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sipwright import Request, Response, parse
from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.transaction import Destination, TimerConfig


@dataclass(frozen=True)
class FakeInbound:
    message: Any
    source: Destination
    local: Destination
    received_at: float
    connection_id: int | None


class FakeNet:
    def __init__(self) -> None:
        self.nodes: dict[tuple[str, str, int], FakeTransports] = {}
        self.ports = itertools.count(40000)
        self.sent: list[tuple[bytes, Destination]] = []
        self.drop: Callable[[bytes, Destination], bool] = lambda data, dest: False

    def factory(self, on_message: Callable[[Any], None]) -> FakeTransports:
        return FakeTransports(self, on_message)


class FakeTransports:
    def __init__(self, net: FakeNet, on_message: Callable[[Any], None]) -> None:
        self.net = net
        self.on_message = on_message
        self.local: dict[str, Destination] = {}
        self.closed = False

    async def listen(
        self, transport: str, host: str, port: int, *, ssl_context: object = None
    ) -> Destination:
        port = port or next(self.net.ports)
        dest = Destination(host, port, transport)
        self.local[transport] = dest
        self.net.nodes[(transport, host, port)] = self
        return dest

    def local_address(self, transport: str) -> Destination | None:
        return self.local.get(transport)

    async def send(
        self, data: bytes, dest: Destination, *, connection_id: int | None = None
    ) -> int | None:
        self.net.sent.append((data, dest))
        target = self.net.nodes.get((dest.transport, dest.host, dest.port))
        if target is None or target.closed:
            if dest.reliable:
                raise OSError("connection refused")
            return None
        if self.net.drop(data, dest):
            return None
        src = self.local[dest.transport]
        inbound = FakeInbound(parse(data), src, dest, 0.0, 1 if dest.reliable else None)
        asyncio.get_running_loop().call_soon(target.on_message, inbound)
        return None

    async def close(self) -> None:
        self.closed = True


FAST = TimerConfig(t1=0.01, t2=0.04, t4=0.05, timer_d_unreliable=0.1)


def run(coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def make_request(method: str, dest: Destination) -> Request:
    uri = f"sip:bob@{dest.host}:{dest.port}"
    return Request(
        method,
        uri,
        [
            ("From", "<sip:alice@example.com>;tag=a1"),
            ("To", f"<{uri}>"),
            ("Call-ID", f"{method.lower()}-call@example.com"),
            ("CSeq", f"1 {method}"),
        ],
    )


def test_options_default_200() -> None:
    net = FakeNet()

    async def main() -> Response:
        async with (
            Endpoint([("UDP", "10.0.0.1", 5060)], transport_factory=net.factory) as server,
            Endpoint([("UDP", "10.0.0.2", 5060)], transport_factory=net.factory) as client,
        ):
            dest = server.local_address("UDP")
            assert dest is not None
            resp = await client.request(make_request("OPTIONS", dest), dest)
            assert client.stats.messages_out["OPTIONS"] == 1
            assert server.stats.messages_in["OPTIONS"] == 1
            assert server.stats.messages_out["2xx"] == 1
            return resp

    resp = run(main())
    assert resp.status_code == 200
    assert "OPTIONS" in resp.allow
    assert resp.to is not None and resp.to.tag is not None
    via = resp.via[0]
    assert via.branch is not None and via.branch.startswith("z9hG4bK")
    assert via.host == "10.0.0.2" and via.port == 5060


def test_unhandled_method_501_and_max_forwards_filled() -> None:
    net = FakeNet()

    async def main() -> tuple[Response, bytes]:
        async with (
            Endpoint([("UDP", "10.0.0.1", 5060)], transport_factory=net.factory) as server,
            Endpoint([("UDP", "10.0.0.2", 5060)], transport_factory=net.factory) as client,
        ):
            dest = server.local_address("UDP")
            assert dest is not None
            resp = await client.request(make_request("MESSAGE", dest), dest)
            return resp, net.sent[0][0]

    resp, first = run(main())
    assert resp.status_code == 501
    assert b"Max-Forwards: 70\r\n" in first


def test_handler_provisional_then_final() -> None:
    net = FakeNet()
    provisionals: list[int] = []

    async def handler(req: ServerRequest) -> None:
        await req.respond(180)
        await asyncio.sleep(0.02)
        await req.respond(200, headers=[("X-Seen", req.request.method)])

    async def main() -> list[Response]:
        async with (
            Endpoint([("UDP", "10.0.0.1", 5060)], transport_factory=net.factory) as server,
            Endpoint([("UDP", "10.0.0.2", 5060)], transport_factory=net.factory) as client,
        ):
            server.on_request = handler
            dest = server.local_address("UDP")
            assert dest is not None
            final = await client.request(
                make_request("MESSAGE", dest),
                dest,
                on_provisional=lambda r: provisionals.append(r.status_code),
            )
            seen = [r async for r in client.request_iter(make_request("MESSAGE", dest), dest)]
            assert final.status_code == 200
            return seen

    seen = run(main())
    assert provisionals == [180]
    assert [r.status_code for r in seen] == [180, 200]
    assert seen[1].headers["X-Seen"] == "MESSAGE"


def test_timeout_gives_408_and_timer_rearms() -> None:
    net = FakeNet()

    async def main() -> tuple[Response, int]:
        async with Endpoint(
            [("UDP", "10.0.0.2", 5060)], timers=FAST, transport_factory=net.factory
        ) as client:
            dest = Destination("10.0.0.9", 5060, "UDP")
            resp = await client.request(make_request("OPTIONS", dest), dest)
            assert client.stats.active_transactions == 0
            return resp, client.stats.retransmissions

    resp, retrans = run(main())
    assert resp.status_code == 408
    assert retrans >= 5  # Timer E fired repeatedly until Timer F


def test_stream_refused_gives_503() -> None:
    net = FakeNet()

    async def main() -> Response:
        async with Endpoint(
            [("TCP", "10.0.0.2", 5060)], timers=FAST, transport_factory=net.factory
        ) as client:
            dest = Destination("10.0.0.9", 5060, "TCP")
            return await client.request(make_request("OPTIONS", dest), dest)

    assert run(main()).status_code == 503


def test_retransmitted_request_absorbed_and_handler_error_500() -> None:
    net = FakeNet()
    calls = 0
    dropped_once = False

    def drop(data: bytes, dest: Destination) -> bool:
        nonlocal dropped_once
        # lose the first response so the client retransmits the request
        if data.startswith(b"SIP/2.0 500") and not dropped_once:
            dropped_once = True
            return True
        return False

    net.drop = drop

    async def handler(req: ServerRequest) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    async def main() -> Response:
        async with (
            Endpoint(
                [("UDP", "10.0.0.1", 5060)], timers=FAST, transport_factory=net.factory
            ) as server,
            Endpoint(
                [("UDP", "10.0.0.2", 5060)], timers=FAST, transport_factory=net.factory
            ) as client,
        ):
            server.on_request = handler
            dest = server.local_address("UDP")
            assert dest is not None
            resp = await client.request(make_request("MESSAGE", dest), dest)
            assert server.stats.handler_errors == 1
            return resp

    assert run(main()).status_code == 500
    assert calls == 1
    assert dropped_once


def test_cancel_answers_487() -> None:
    net = FakeNet()
    cancelled = asyncio.Event()

    async def handler(req: ServerRequest) -> None:
        await req.respond(180)
        await req.cancelled.wait()
        cancelled.set()

    async def main() -> tuple[Response, Response]:
        async with (
            Endpoint([("UDP", "10.0.0.1", 5060)], transport_factory=net.factory) as server,
            Endpoint([("UDP", "10.0.0.2", 5060)], transport_factory=net.factory) as client,
        ):
            server.on_request = handler
            dest = server.local_address("UDP")
            assert dest is not None
            invite = make_request("INVITE", dest)
            got_180 = asyncio.Event()
            task = asyncio.create_task(
                client.request(invite, dest, on_provisional=lambda r: got_180.set())
            )
            await got_180.wait()
            cancel = make_request("CANCEL", dest)
            cancel.headers.set("Call-ID", invite.headers["Call-ID"])
            cancel.headers.prepend("Via", invite.headers["Via"])
            cancel.headers.set("Max-Forwards", "70")
            cancel_resp = await client.request(cancel, dest)
            final = await task
            await cancelled.wait()
            return cancel_resp, final

    cancel_resp, final = run(main())
    assert cancel_resp.status_code == 200
    assert final.status_code == 487


def test_wire_log_one_line_per_message(caplog: Any) -> None:
    import logging

    net = FakeNet()

    async def main() -> None:
        async with (
            Endpoint([("UDP", "10.0.0.1", 5060)], transport_factory=net.factory) as server,
            Endpoint([("UDP", "10.0.0.2", 5060)], transport_factory=net.factory) as client,
        ):
            dest = server.local_address("UDP")
            assert dest is not None
            await client.request(make_request("OPTIONS", dest), dest)

    with caplog.at_level(logging.INFO, logger="sipwright.wire"):
        run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "sipwright.wire"]
    assert len(lines) == 4  # client send, server recv, server send, client recv
    assert lines[0].startswith("send UDP 10.0.0.1:5060 OPTIONS sip:bob@10.0.0.1:5060")
    assert "call-id=options-call@example.com" in lines[0]
    assert "cseq=1 OPTIONS" in lines[0]
    assert lines[2].startswith("send UDP 10.0.0.2:5060 200 OK")
