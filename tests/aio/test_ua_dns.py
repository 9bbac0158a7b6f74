"""The UserAgent locates next hops named by host name (RFC 3263) through dnsmasq on
loopback: MESSAGE and a call to ``sip:bob@example.test`` reach the endpoint the SRV
record names, a REGISTER reaches a registrar found by its A record, an outbound proxy
named by host name is located when the UA starts, a name with no address is an error."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from dns_peer import dnsmasq
from peers import free_port

from sipwright.aio.dns import SipResolver
from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.aio.ua import IncomingCall, UserAgent
from sipwright.errors import SipError
from sipwright.transaction import TimerConfig

pytestmark = pytest.mark.peer

TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def resolver(port: int) -> SipResolver:
    return SipResolver([("127.0.0.1", port)], hosts={})


def test_message_call_and_register_to_names_located_by_dns() -> None:
    bob_port, registrar_port = free_port(), free_port()
    records = (
        f"--srv-host=_sip._udp.example.test,bob.example.test,{bob_port},10,0",
        "--host-record=bob.example.test,127.0.0.1",
        "--host-record=registrar.example.test,127.0.0.1",
    )

    async def main(dns_port: int, queries: Any) -> None:
        seen: list[str] = []

        async def registrar(sreq: ServerRequest) -> None:
            seen.append(sreq.request.method)
            contact = sreq.request.headers.get("Contact") or ""
            await sreq.respond(200, headers=[("Contact", f"{contact};expires=60")])

        async with (
            UserAgent(f"sip:bob@127.0.0.1:{bob_port}", timers=TIMERS) as bob,
            Endpoint([("UDP", "127.0.0.1", registrar_port)], timers=TIMERS) as reg,
            UserAgent("sip:alice@127.0.0.1:0", timers=TIMERS, resolver=resolver(dns_port)) as ua,
        ):
            reg.on_request = registrar
            got: list[bytes] = []

            async def on_message(sreq: ServerRequest) -> None:
                got.append(sreq.request.body)
                await sreq.respond(200)

            async def answer(call: IncomingCall) -> None:
                await call.answer()

            bob.on_request = on_message
            bob.on_call = answer
            resp = await ua.message("sip:bob@example.test", "hello")
            assert resp.status_code == 200 and got == [b"hello"]
            call = await ua.call("sip:bob@example.test")
            await call.bye()
            reg_uri = f"sip:registrar.example.test:{registrar_port}"
            resp = await ua.register(reg_uri, expires=60, aor="sip:alice@example.test")
            assert resp.status_code == 200 and seen == ["REGISTER"]
            # The SRV chain was asked once: the call reused the located hop.
            asked = queries()
            assert asked.count("SRV _sip._udp.example.test") == 1
            assert "A registrar.example.test" in asked
            assert not [q for q in asked if q.startswith("AAAA")]  # an IPv4 UA

    with dnsmasq(*records) as (dns_port, queries):
        run(main(dns_port, queries))


def test_outbound_proxy_named_by_host_name_and_unknown_names() -> None:
    proxy_port = free_port()

    async def main(dns_port: int) -> None:
        seen: list[str] = []

        async def proxy(sreq: ServerRequest) -> None:
            seen.append(str(sreq.request.uri))
            await sreq.respond(200)

        async with Endpoint([("UDP", "127.0.0.1", proxy_port)], timers=TIMERS) as px:
            px.on_request = proxy
            async with UserAgent(
                "sip:alice@127.0.0.1:0",
                timers=TIMERS,
                outbound_proxy=f"sip:proxy.example.test:{proxy_port}",
                resolver=resolver(dns_port),
            ) as ua:
                resp = await ua.message("sip:carol@elsewhere.test", "via the proxy")
                assert resp.status_code == 200
                assert seen == ["sip:carol@elsewhere.test"]
        async with UserAgent(
            "sip:alice@127.0.0.1:0", timers=TIMERS, resolver=resolver(dns_port)
        ) as ua:
            with pytest.raises(SipError, match=r"nowhere\.test"):
                await ua.message("sip:bob@nowhere.test", "lost")
            with pytest.raises(ValueError, match="located first"):
                ua.dial("sip:bob@nowhere.test")  # dial returns at once: no lookup
        with pytest.raises(SipError, match=r"noproxy\.test"):
            async with UserAgent(
                "sip:alice@127.0.0.1:0",
                timers=TIMERS,
                outbound_proxy="sip:noproxy.test",
                resolver=resolver(dns_port),
            ):
                pass

    with dnsmasq("--host-record=proxy.example.test,127.0.0.1") as (dns_port, _):
        run(main(dns_port))
