"""Slow-loris guard: a message must arrive whole within ``message_timeout``.

A client that trickles one byte at a time keeps its connection *active*, so the
idle timeout never fires; without a per-message deadline, enough such clients
hold every connection slot (max_connections) and starve real peers.
"""

from __future__ import annotations

import asyncio

from .test_transports_helpers import Collector, eventually, options, run


async def _trickle(port: int, stop: asyncio.Event) -> bool:
    """Send an OPTIONS one byte per 50 ms; True if the server closed us first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for byte in options():
            if stop.is_set():
                return False
            writer.write(bytes([byte]))
            try:
                await writer.drain()
            except ConnectionError:
                return True
            try:
                data = await asyncio.wait_for(reader.read(1), 0.05)
            except TimeoutError:
                continue
            if data == b"":
                return True
        return False
    finally:
        writer.close()


def test_trickling_connection_is_closed_after_message_timeout() -> None:
    async def main() -> None:
        async with Collector(idle_timeout=60.0, message_timeout=0.5) as c:
            bound = await c.manager.listen("TCP", "127.0.0.1", 0)
            stop = asyncio.Event()
            closed = await asyncio.wait_for(_trickle(bound.port, stop), 5.0)
            assert closed, "the server kept a connection that never finished its message"
            assert c.manager.stats.get("connections_slow_closed", 0) == 1
            assert c.manager.stats.get("connections_idle_closed", 0) == 0
            await eventually(lambda: c.manager.connection_count == 0)

    run(main())


def test_prompt_messages_on_a_long_lived_connection_are_not_cut() -> None:
    """The deadline runs per message: a connection sending whole messages stays open."""

    async def main() -> None:
        async with Collector(idle_timeout=60.0, message_timeout=0.3) as c:
            bound = await c.manager.listen("TCP", "127.0.0.1", 0)
            _reader, writer = await asyncio.open_connection("127.0.0.1", bound.port)
            try:
                for i in range(8):
                    writer.write(options(call_id=f"keep-{i}"))
                    await writer.drain()
                    got = await c.next()
                    assert got.message.call_id == f"keep-{i}"
                    await asyncio.sleep(0.1)
                assert c.manager.stats.get("connections_slow_closed", 0) == 0
                assert c.manager.connection_count == 1
            finally:
                writer.close()

    run(main())


def test_udp_listener_asks_for_a_large_receive_buffer() -> None:
    """Bursts must not overflow the kernel's default buffer (each drop costs 500 ms)."""
    import os
    import socket

    async def main() -> None:
        async with Collector(udp_receive_buffer=2 * 1024 * 1024) as c:
            await c.manager.listen("UDP", "127.0.0.1", 0)
            sock = c.manager._udp[0].io.get_extra_info("socket")  # type: ignore[union-attr]
            # Unprivileged, the kernel caps the request at rmem_max; root can force it.
            # (Linux then reports twice the size granted: bookkeeping overhead.)
            wanted = 2 * 1024 * 1024
            if os.geteuid() != 0:
                with open("/proc/sys/net/core/rmem_max") as f:
                    wanted = min(wanted, int(f.read()))
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= wanted

    run(main())
