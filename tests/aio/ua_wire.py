"""Shared helpers for UserAgent tests: every message each endpoint puts on the wire.

:class:`Wire` records the ``sipwright.wire`` logger (at DEBUG the endpoint logs the full
text of each message it sends, right after an INFO line naming the peer); each is parsed
back so tests can assert methods, CSeq, tags, Route and branches. The ``wire`` fixture
lives in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sipwright import Request, Response
from sipwright.aio.calls import default_sdp_offer
from sipwright.aio.ua import IncomingCall, UserAgent
from sipwright.parser import parse
from sipwright.transaction import TimerConfig

# Short timers: the non-2xx ACK and the CANCEL exchange are fast anyway; this keeps
# any lingering transaction short.
TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
ANSWER = default_sdp_offer("127.0.0.1", 7000)


def run(coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


@dataclass(slots=True)
class Sent:
    to_port: int
    message: Request | Response
    retransmission: bool


class Wire(logging.Handler):
    """Every message sent by any endpoint: (destination port, parsed message)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sent: list[Sent] = []
        self._peer: tuple[int, bool] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if not isinstance(args, tuple):
            return
        if record.levelno == logging.INFO and args[0] == "send":
            self._peer = (int(str(args[3])), "retransmission" in str(args[5]))
        elif record.levelno == logging.DEBUG and args[0] == "send" and self._peer is not None:
            port, retrans = self._peer
            self._peer = None
            self.sent.append(Sent(port, parse(str(args[1]).encode()), retrans))

    def to(self, port: int) -> list[Request | Response]:
        return [s.message for s in self.sent if s.to_port == port and not s.retransmission]


@asynccontextmanager
async def two_uas() -> AsyncIterator[tuple[UserAgent, UserAgent]]:
    async with (
        UserAgent("sip:alice@127.0.0.1:0", timers=TIMERS) as alice,
        UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob,
    ):
        yield alice, bob


def bob_uri(bob: UserAgent) -> str:
    return f"sip:bob@127.0.0.1:{bob.contact.port}"


def label(m: Request | Response) -> str:
    if isinstance(m, Request):
        return m.method
    cseq = m.cseq
    assert cseq is not None
    return f"{m.status_code} {cseq.method}"


def cseq(m: Request | Response) -> tuple[int, str]:
    c = m.cseq
    assert c is not None
    return c.number, c.method


def branch(m: Request | Response) -> str | None:
    return m.via[0].branch


async def wait_until(cond: Any, timeout: float = 2.0) -> None:
    async def loop() -> None:
        while not cond():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


async def next_call(bob: UserAgent) -> IncomingCall:
    return await asyncio.wait_for(anext(aiter(bob.incoming())), 2.0)
