"""TCP transport: framing (§18.3), keep-alives (RFC 5626 §3.5.1), reuse, limits, idle."""

from __future__ import annotations

import asyncio

import pytest

from sipwright import ParseLimits, Request, Response, make_response, parse
from sipwright.aio.transports import TransportError
from sipwright.transaction import Destination

from .test_transports_helpers import TIMEOUT, Collector, eventually, options, read_until, run

TCP_VIA = "SIP/2.0/TCP client.invalid;branch=z9hG4bK-t{n}"


async def _open(
    port: int, host: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)


async def _read_message(reader: asyncio.StreamReader) -> Response | Request:
    head = await read_until(reader, b"\r\n\r\n")
    msg = parse(head)  # every reply in these tests has an empty body
    return msg


def test_tcp_two_messages_in_one_segment_and_response_on_same_connection() -> None:
    async def main() -> None:
        async with Collector() as c:
            local = await c.manager.listen("TCP", "127.0.0.1", 0)
            reader, writer = await _open(local.port)
            writer.write(
                options(via=TCP_VIA.format(n=1), cseq=1) + options(via=TCP_VIA.format(n=2), cseq=2)
            )
            first, second = await c.next(), await c.next()
            for inbound, n in ((first, 1), (second, 2)):
                assert isinstance(inbound.message, Request)
                assert inbound.message.cseq is not None and inbound.message.cseq.number == n
                assert inbound.source.transport == "TCP"
                assert inbound.local == local
                assert inbound.message.via[0].received == "127.0.0.1"
            assert first.connection_id is not None
            assert first.connection_id == second.connection_id
            assert isinstance(first.message, Request)
            resp = bytes(make_response(first.message, 200))
            cid = await c.manager.send(resp, first.source, connection_id=first.connection_id)
            assert cid == first.connection_id
            got = await _read_message(reader)
            assert isinstance(got, Response) and got.status_code == 200
            # Without connection_id, the source address finds the same connection.
            assert await c.manager.send(resp, second.source) == first.connection_id
            await _read_message(reader)
            assert c.manager.connection_count == 1
            writer.close()

    run(main())


def test_tcp_message_split_across_writes() -> None:
    async def main() -> None:
        async with Collector() as c:
            local = await c.manager.listen("TCP", "127.0.0.1", 0)
            _, writer = await _open(local.port)
            data = (
                options(
                    via=TCP_VIA.format(n=3),
                    extra="Content-Type: text/plain\r\n",
                    content_length="5",
                )
                + b"hello"
            )
            for i in range(0, len(data), 7):
                writer.write(data[i : i + 7])
                await writer.drain()
                await asyncio.sleep(0.001)
            inbound = await c.next()
            assert isinstance(inbound.message, Request)
            assert inbound.message.body == b"hello"
            writer.close()

    run(main())


def test_tcp_ping_gets_pong() -> None:
    async def main() -> None:
        async with Collector() as c:
            local = await c.manager.listen("TCP", "127.0.0.1", 0)
            reader, writer = await _open(local.port)
            writer.write(b"\r\n\r\n")
            assert await asyncio.wait_for(reader.readexactly(2), TIMEOUT) == b"\r\n"
            writer.write(b"\r\n")  # a pong from the peer: ignored
            writer.write(options(via=TCP_VIA.format(n=4)))
            assert isinstance((await c.next()).message, Request)
            writer.close()

    run(main())


def test_tcp_framing_error_closes_only_that_connection() -> None:
    async def main() -> None:
        async with Collector() as c:
            local = await c.manager.listen("TCP", "127.0.0.1", 0)
            good_r, good_w = await _open(local.port)
            bad_r, bad_w = await _open(local.port)
            await eventually(lambda: c.manager.connection_count == 2)
            bad_w.write(b"\rgarbage that frames nothing\r\n\r\n")
            assert await asyncio.wait_for(bad_r.read(), TIMEOUT) == b""  # EOF: closed
            await eventually(lambda: c.manager.connection_count == 1)
            good_w.write(options(via=TCP_VIA.format(n=5)))
            inbound = await c.next()
            assert isinstance(inbound.message, Request)
            await c.manager.send(
                bytes(make_response(inbound.message, 200)),
                inbound.source,
                connection_id=inbound.connection_id,
            )
            assert isinstance(await _read_message(good_r), Response)
            assert c.manager.stats["parse_errors"] == 1
            good_w.close()
            bad_w.close()

    run(main())


def test_tcp_oversized_message_answered_513_then_closed() -> None:
    async def main() -> None:
        async with Collector(limits=ParseLimits(max_message_size=2000)) as c:
            local = await c.manager.listen("TCP", "127.0.0.1", 0)
            reader, writer = await _open(local.port)
            writer.write(options(extra="X-Pad: " + "a" * 3000 + "\r\n"))
            # §21.5.14 answer on the stream, then EOF: the stream cannot be resynchronised.
            answer = await asyncio.wait_for(reader.read(), TIMEOUT)
            assert answer.startswith(b"SIP/2.0 513 "), answer[:100]
            assert answer.endswith(b"\r\n\r\n") and b"X-Pad" not in answer
            assert c.queue.empty()
            writer.close()

    run(main())


def test_tcp_send_opens_and_reuses_connection() -> None:
    async def main() -> None:
        async with Collector() as server, Collector() as client:
            local = await server.manager.listen("TCP", "127.0.0.1", 0)
            dest = Destination("127.0.0.1", local.port, "TCP")
            cid1 = await client.manager.send(options(via=TCP_VIA.format(n=6)), dest)
            cid2 = await client.manager.send(options(via=TCP_VIA.format(n=7), cseq=2), dest)
            assert cid1 is not None and cid1 == cid2
            a, b = await server.next(), await server.next()
            assert a.connection_id == b.connection_id
            assert client.manager.connection_count == 1
            # The server answers over the connection; the client receives it.
            assert isinstance(a.message, Request)
            await server.manager.send(
                bytes(make_response(a.message, 200)), a.source, connection_id=a.connection_id
            )
            reply = await client.next()
            assert isinstance(reply.message, Response)
            assert reply.connection_id == cid1
            assert reply.source == dest

    run(main())


def test_tcp_connection_refused_raises() -> None:
    async def main() -> None:
        async with Collector() as c:
            probe = await c.manager.listen("TCP", "127.0.0.1", 0)
            port = probe.port
        async with Collector() as c2:  # the first manager is closed: port is free now
            with pytest.raises(TransportError, match="cannot connect"):
                await c2.manager.send(options(), Destination("127.0.0.1", port, "TCP"))
            with pytest.raises(TransportError):
                await c2.manager.send(
                    options(), Destination("127.0.0.1", port, "TCP"), connection_id=12345
                )

    run(main())


def test_tcp_max_connections_and_idle_timeout() -> None:
    async def main() -> None:
        async with Collector(max_connections=1, idle_timeout=0.3) as c:
            local = await c.manager.listen("TCP", "127.0.0.1", 0)
            r1, w1 = await _open(local.port)
            await eventually(lambda: c.manager.connection_count == 1)
            r2, w2 = await _open(local.port)
            assert await asyncio.wait_for(r2.read(), TIMEOUT) == b""  # refused over the limit
            assert c.manager.stats["connections_refused"] == 1
            # Idle: closed by the manager after ~0.3 s without traffic.
            assert await asyncio.wait_for(r1.read(), TIMEOUT) == b""
            await eventually(lambda: c.manager.connection_count == 0)
            assert c.manager.stats["connections_idle_closed"] == 1
            w1.close()
            w2.close()

    run(main())


def test_tcp_ipv6() -> None:
    async def main() -> None:
        async with Collector() as server, Collector() as client:
            local = await server.manager.listen("TCP", "::1", 0)
            assert local.host == "::1"
            dest = Destination("[::1]", local.port, "TCP")
            await client.manager.send(options(via="SIP/2.0/TCP [::1];branch=z9hG4bK-v6"), dest)
            inbound = await server.next()
            assert inbound.source.host == "::1"
            assert isinstance(inbound.message, Request)
            assert inbound.message.via[0].received is None  # sent-by matches the source

    run(main())
