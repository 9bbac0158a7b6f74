"""Bad input never breaks the proxy: mutated requests and stray responses over UDP.

Hundreds of datagrams built from a valid request (odd Request-URIs, Route values that
are garbage, strict, IPv6 or unresolvable, Max-Forwards out of range, a binding whose
stored Path is malformed) and randomly mutated bytes are sent at a real proxy. None may
make its message handler raise (the transport counts that as ``callback_errors``), and
the proxy must still answer a real user agent afterwards.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time

from aio.ua_wire import TIMERS, run

from sipwright.aio.ua import UserAgent
from sipwright.registrar import Binding
from sipwright.server.location import MemoryLocationStore
from sipwright.server.proxy import ProxyServer
from sipwright.transaction import TimerConfig

REQUEST = (
    "{m} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sp};branch=z9hG4bK{b};rport\r\n"
    "Max-Forwards: {mf}\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>{tt}\r\n"
    "Call-ID: {b}\r\nCSeq: 1 {m}\r\n{extra}Content-Length: 0\r\n\r\n"
)
RESPONSE = (
    "SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP 127.0.0.1:{pp};branch=z9hG4bKsw{zeros}.{i}\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{sp};branch=z9hG4bK1;received=127.0.0.1;rport={sp}\r\n"
    "From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: r{i}\r\nCSeq: 1 {m}\r\n"
    "Content-Length: 0\r\n\r\n"
)
EXTRAS = [
    "",
    "Route: garbage\r\n",
    "Route: <sip:127.0.0.1:{pp};lr>, <foo>\r\n",
    "Route: <sip:bob@example.com>\r\n",
    "Record-Route: <\r\n",
    "Proxy-Require: x\r\n",
    "Route: <sip:[::1]:5;lr>\r\n",
    "Route: <sip:127.0.0.1:{pp}>\r\n",
    "Route: <tel:+1>\r\n",
    "Proxy-Authorization: Digest x\r\n",
    "Route: <sip:host.invalid;lr>\r\n",
]
URIS = [
    "sip:bob@example.com",
    "sip:127.0.0.1:{pp}",
    "sip:127.0.0.1:{pp};lr",
    "tel:+1555",
    "sip:x@[::1]:9",
    "sip:bob@127.0.0.1:9",
    "sips:bob@example.com",
    "sip:bob@host.invalid",
    "urn:x",
]


def test_mutated_messages_never_break_the_proxy() -> None:
    async def main() -> None:
        location = MemoryLocationStore()
        now = time.time()
        bad = Binding(
            "sip:bob@example.com",
            "sip:bob@127.0.0.1:9;transport=tcp",
            now + 60,
            "c",
            1,
            path=("<garbage",),
        )
        await location.update("sip:bob@example.com", now, lambda cur: ([bad], True, None))
        px = ProxyServer(
            listen=[("UDP", "127.0.0.1", 0)],
            domains=["example.com"],
            location=location,
            timers=TimerConfig(t1=0.01, t2=0.04, t4=0.05),
        )
        async with px:
            addr = px.local_address("UDP")
            assert addr is not None
            pp = addr.port
            rnd = random.Random(20261123)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                sp = sock.getsockname()[1]
                for i in range(600):
                    m = rnd.choice(["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER"])
                    if rnd.random() < 0.2:
                        text = RESPONSE.format(
                            code=rnd.choice(["100", "180", "200", "486", "503"]),
                            pp=pp,
                            sp=sp,
                            zeros="0" * 16,
                            i=i,
                            m=m,
                        )
                    else:
                        extra = rnd.choice(EXTRAS) + rnd.choice(EXTRAS)
                        text = REQUEST.format(
                            m=m,
                            uri=rnd.choice(URIS).format(pp=pp),
                            sp=sp,
                            b=f"x{i % 60}",
                            mf=rnd.choice(["70", "0", "1", "-1", "99999999999999999999"]),
                            tt=rnd.choice(["", ";tag=z"]),
                            extra=extra.format(pp=pp),
                        )
                    data = bytearray(text.encode())
                    if rnd.random() < 0.5:
                        for _ in range(rnd.randint(1, 4)):
                            data[rnd.randrange(len(data) - 4)] = rnd.choice(b'<>;,:@ \t"=x0[]%')
                    sock.sendto(bytes(data), ("127.0.0.1", pp))
                    if i % 50 == 49:
                        await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            assert px._tm is not None
            assert px._tm.stats.get("callback_errors", 0) == 0
            assert px.stats.requests  # the valid ones got through to the proxy
            async with UserAgent("sip:alice@127.0.0.1:0", timers=TIMERS) as alice:
                resp = await alice.options(f"sip:127.0.0.1:{pp}")
                assert resp.status_code == 200

    run(main(), timeout=20)
