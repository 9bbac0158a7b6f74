"""Shared helpers for the transport tests: messages, a collecting manager, a bounded runner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sipwright.aio.transports import Inbound, TransportManager

T = TypeVar("T")
TIMEOUT = 5.0


def run(coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    """Run one test coroutine, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def options(
    via: str = "SIP/2.0/UDP client.invalid:5099;branch=z9hG4bK-1;rport",
    call_id: str = "call-1",
    cseq: int = 1,
    extra: str = "",
    content_length: str = "0",
) -> bytes:
    return (
        "OPTIONS sip:bob@example.com SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\n"
        "To: <sip:bob@example.com>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} OPTIONS\r\n"
        f"{extra}"
        f"Content-Length: {content_length}\r\n"
        "\r\n"
    ).encode()


class Collector:
    """A TransportManager whose inbound messages land in a queue."""

    def __init__(self, **kwargs: Any) -> None:
        self.queue: asyncio.Queue[Inbound] = asyncio.Queue()
        self.manager = TransportManager(self.queue.put_nowait, **kwargs)

    async def next(self, timeout: float = TIMEOUT) -> Inbound:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def __aenter__(self) -> Collector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.wait_for(self.manager.close(), TIMEOUT)


async def eventually(check: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait until ``check()`` is true (polling), or fail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    return await asyncio.wait_for(reader.readuntil(marker), TIMEOUT)


__all__ = ["TIMEOUT", "Collector", "eventually", "options", "read_until", "run"]
