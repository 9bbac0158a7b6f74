"""A finished proxy context is forgotten at once, yet late 2xx still go upstream.

Once the final answer of an INVITE went upstream (§16.7 step 10 done), the proxy keeps
only what its client transaction needs for Timer M (RFC 6026 Accepted): the key of the
server transaction. A 2xx retransmitted by the callee, or a 2xx from another fork
(another To tag), must still reach the caller (§16.7 step 5). Raw UDP sockets play the
caller and the callee so the test controls every retransmission.
"""

from __future__ import annotations

import asyncio
import socket
import time

from aio.ua_wire import TIMERS, run

from sipwright import Request, Response, parse
from sipwright.registrar import Binding
from sipwright.server.location import MemoryLocationStore
from sipwright.server.proxy import ProxyServer
from sipwright.transaction import ClientKey

INVITE = (
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-late-1;rport\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\n"
    "To: <sip:bob@example.com>\r\nCall-ID: late-2xx-1\r\nCSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n"
)


def answer(invite: Request, tag: str) -> bytes:
    """The callee's 200: the INVITE's Vias, Record-Route, From, Call-ID, CSeq echoed."""
    lines = ["SIP/2.0 200 OK"]
    lines += [f"Via: {v}" for v in invite.headers.getall("Via")]
    lines += [f"Record-Route: {r}" for r in invite.headers.getall("Record-Route")]
    lines += [
        f"From: {invite.headers.get('From')}",
        f"To: {invite.headers.get('To')};tag={tag}",
        f"Call-ID: {invite.call_id}",
        "CSeq: 1 INVITE",
        "Contact: <sip:bob@127.0.0.1>",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_late_2xx_after_the_context_is_gone() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        callee = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for s in (caller, callee):
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        location = MemoryLocationStore()
        now = time.time()
        callee_port = callee.getsockname()[1]
        await location.update(
            "sip:bob@example.com",
            now,
            lambda cur: (
                [
                    Binding(
                        "sip:bob@example.com",
                        f"sip:bob@127.0.0.1:{callee_port}",
                        now + 300,
                        "reg-1",
                        1,
                    )
                ],
                True,
                None,
            ),
        )
        px = ProxyServer(
            listen=[("UDP", "127.0.0.1", 0)],
            domains=["example.com"],
            location=location,
            timers=TIMERS,
        )
        await px.start()
        addr = px.local_address("UDP")
        assert addr is not None
        proxy_at = ("127.0.0.1", addr.port)

        async def recv(sock: socket.socket) -> Request | Response:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
            return parse(data)

        async def caller_gets_200(tag: str) -> None:
            while True:  # a 100 Trying may come first
                msg = await recv(caller)
                assert isinstance(msg, Response)
                if msg.status_code == 200:
                    assert msg.to is not None and msg.to.tag == tag
                    assert [v.branch for v in msg.via] == ["z9hG4bK-late-1"]
                    return

        try:
            caller_port = caller.getsockname()[1]
            await loop.sock_sendto(caller, INVITE.format(port=caller_port).encode(), proxy_at)
            invite = await recv(callee)
            assert isinstance(invite, Request) and invite.method == "INVITE"
            branch = invite.via[0].branch
            assert branch is not None
            await loop.sock_sendto(callee, answer(invite, "b1"), proxy_at)
            await caller_gets_200("b1")
            # The context is done: forgotten, and both transactions dropped their messages.
            assert px.stats.active_contexts == 0 and not px._proxied and not px._branches
            client = px.layer.transaction(ClientKey(branch, "INVITE"))
            assert client is not None and client.released
            # The callee retransmits its 200 (it has no ACK yet): it still reaches the
            # caller, through the server transaction in Accepted.
            await loop.sock_sendto(callee, answer(invite, "b1"), proxy_at)
            await caller_gets_200("b1")
            # Another fork answers too (another To tag): forwarded as well (§16.7 step 5).
            await loop.sock_sendto(callee, answer(invite, "b2"), proxy_at)
            await caller_gets_200("b2")
        finally:
            await px.close(drain=0.0)
            caller.close()
            callee.close()

    run(main())
