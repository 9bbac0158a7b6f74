"""The proxy locates next hops named by host name (RFC 3263) through a real DNS server
(dnsmasq on loopback) and calls reach real sipwright endpoints there: SRV over UDP,
NAPTR to TCP with failover from a dead server to the next SRV target (§4.3), in-dialog
ACK and BYE routed to a host name, and 404 for a name with no address."""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aio.ua_wire import ANSWER, TIMERS, Wire, label, run, wait_until
from dns_peer import dnsmasq
from peers import free_port

from sipwright import Request
from sipwright.aio.dns import SipResolver
from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.server.location import MemoryLocationStore
from sipwright.server.proxy import ProxyServer
from sipwright.transaction import Destination

from .serve_proc import ServeProcess

pytestmark = pytest.mark.peer


@asynccontextmanager
async def proxy(dns_port: int) -> AsyncIterator[ProxyServer]:
    server = ProxyServer(
        listen=[("UDP", "127.0.0.1", 0), ("TCP", "127.0.0.1", 0)],
        domains=("example.com",),
        location=MemoryLocationStore(),
        timers=TIMERS,
        resolver=SipResolver([("127.0.0.1", dns_port)], timeout=2.0, hosts={}),
    )
    await server.start()
    try:
        yield server
    finally:
        await server.close(drain=0.0)


class Callee:
    """A sipwright Endpoint answering INVITE 180/200 (with ``record_route`` values on
    the 200 when given, as a proxy next to it would add) and anything else 200."""

    def __init__(self, ep: Endpoint, transport: str, record_route: list[str]) -> None:
        self.ep, self.transport, self.record_route = ep, transport, record_route
        self.requests: list[Request] = []
        ep.on_request = self.handle

    @property
    def port(self) -> int:
        addr = self.ep.local_address(self.transport)
        assert addr is not None
        return addr.port

    async def handle(self, sreq: ServerRequest) -> None:
        request = sreq.request
        self.requests.append(request)
        if request.method != "INVITE":
            await sreq.respond(200)
            return
        await sreq.respond(180)
        contact = f"<sip:bob@127.0.0.1:{self.port};transport={self.transport.lower()}>"
        for value in reversed(self.record_route):
            request.headers.prepend("Record-Route", value)  # the 2xx copies them (§12.1.1)
        headers = [("Contact", contact)]
        await sreq.respond(200, headers=headers, body=ANSWER, content_type="application/sdp")


@asynccontextmanager
async def callee(
    transport: str, record_route: list[str] | None = None, port: int = 0
) -> AsyncIterator[Callee]:
    async with Endpoint([(transport, "127.0.0.1", port)], timers=TIMERS) as ep:
        yield Callee(ep, transport, record_route or [])


def proxy_udp(px: ProxyServer) -> Destination:
    addr = px.local_address("UDP")
    assert addr is not None
    return Destination("127.0.0.1", addr.port, "UDP")


def test_call_to_a_domain_located_by_srv_over_udp() -> None:
    async def main() -> None:
        async with callee("UDP") as bob:
            records = (
                f"--srv-host=_sip._udp.example.test,bob.example.test,{bob.port},10,0",
                "--host-record=bob.example.test,127.0.0.1",
            )
            with dnsmasq(*records) as (dns_port, queries):
                async with proxy(dns_port) as px, Endpoint(timers=TIMERS) as alice:
                    result = await alice.call("sip:bob@example.test", proxy_udp(px))
                    assert result.ok, result.error
                    assert [r.method for r in bob.requests] == ["INVITE", "BYE"]
                    invite = bob.requests[0]
                    assert str(invite.uri) == "sip:bob@example.test"  # not retargeted
                    assert invite.via[0].transport == "UDP"
                    assert px.stats.dns_lookups == 1 and px.stats.dns_failures == 0
                    asked = queries()
                    assert asked[:2] == ["NAPTR example.test", "SRV _sip._udp.example.test"]
                    assert "A bob.example.test" in asked

    run(main(), timeout=30)


def test_naptr_to_tcp_and_failover_from_a_dead_server() -> None:
    """The first SRV target refuses TCP connections: the transaction layer reports the
    transport error (503) and the proxy tries the next address (RFC 3263 §4.3)."""
    dead = free_port()  # nothing listens there

    async def main() -> None:
        async with callee("TCP") as bob:
            records = (
                "--naptr-record=example.test,10,10,s,SIP+D2T,,_sip._tcp.example.test",
                f"--srv-host=_sip._tcp.example.test,dead.example.test,{dead},10,0",
                f"--srv-host=_sip._tcp.example.test,bob.example.test,{bob.port},20,0",
                "--host-record=dead.example.test,127.0.0.1",
                "--host-record=bob.example.test,127.0.0.1",
            )
            with dnsmasq(*records) as (dns_port, queries):
                async with proxy(dns_port) as px, Endpoint(timers=TIMERS) as alice:
                    result = await alice.call("sip:bob@example.test", proxy_udp(px))
                    assert result.ok, result.error
                    assert result.status == 200
                    assert [r.method for r in bob.requests] == ["INVITE", "BYE"]
                    assert bob.requests[0].via[0].transport == "TCP"
                    # Two branches: the dead one, then bob's.
                    assert px.stats.forwarded >= 2
                    assert queries()[:2] == ["NAPTR example.test", "SRV _sip._tcp.example.test"]

    run(main(), timeout=30)


def test_in_dialog_ack_and_bye_to_a_record_route_host_name(wire: Wire) -> None:
    """The callee's side record-routes with a host name: the caller's ACK (stateless)
    and BYE (stateful) reach the proxy with that name as the next Route, and the proxy
    locates it (a host with a port: its A record only)."""

    async def main() -> None:
        async with callee("UDP") as bob:
            bob.record_route = [f"<sip:edge.example.test:{bob.port};lr>"]
            records = ("--host-record=edge.example.test,127.0.0.1",)
            with dnsmasq(*records) as (dns_port, queries):
                async with proxy(dns_port) as px, Endpoint(timers=TIMERS) as alice:
                    target = f"sip:bob@127.0.0.1:{bob.port}"
                    result = await alice.call(target, proxy_udp(px))
                    assert result.ok, result.error
                    await wait_until(lambda: "ACK" in [label(m) for m in wire.to(bob.port)])
                    assert [r.method for r in bob.requests] == ["INVITE", "BYE"]
                    pu = proxy_udp(px).port
                    edge = f"<sip:edge.example.test:{bob.port};lr>"
                    for m in wire.to(bob.port):
                        if label(m) in ("ACK", "BYE"):
                            # Our own Route value is gone; the next one (the name) stays.
                            assert m.headers.getall("Route") == [edge], label(m)
                    assert [label(m) for m in wire.to(pu) if label(m) in ("ACK", "BYE")] == [
                        "ACK",
                        "BYE",
                    ]
                    assert px.stats.dns_lookups == 2  # the ACK's and the BYE's next hop
                    assert "A edge.example.test" in queries()

    run(main(), timeout=30)


def options(uri: str) -> Request:
    return Request(
        "OPTIONS",
        uri,
        [
            ("From", "<sip:alice@example.com>;tag=a1"),
            ("To", f"<{uri}>"),
            ("Call-ID", f"dns-{uri}"),
            ("CSeq", "1 OPTIONS"),
        ],
    )


def test_name_without_address_gets_404_naming_the_host() -> None:
    async def main() -> None:
        with dnsmasq() as (dns_port, _):
            async with proxy(dns_port) as px, Endpoint(timers=TIMERS) as alice:
                resp = await alice.request(options("sip:bob@nowhere.test"), proxy_udp(px))
                assert resp.status_code == 404
                assert "nowhere.test" in resp.reason
                assert px.stats.dns_failures == 1
                # A .invalid name is never looked up.
                resp = await alice.request(options("sip:bob@gone.invalid"), proxy_udp(px))
                assert resp.status_code == 404 and px.stats.dns_lookups == 1

    run(main(), timeout=30)


def test_serve_locates_with_the_name_server_it_is_given(tmp_path: Path) -> None:
    """``sipwright serve --dns-server`` (a real process): a call to a foreign domain
    goes where dnsmasq's SRV record says."""

    async def main(server: ServeProcess) -> None:
        # The SRV record names bob's port, so it is chosen before dnsmasq starts.
        async with callee("UDP", port=bob_port) as bob, Endpoint(timers=TIMERS) as alice:
            dest = Destination("127.0.0.1", server.sip_port, "UDP")
            result = await alice.call("sip:bob@example.test", dest)
            assert result.ok, result.error
            assert [r.method for r in bob.requests] == ["INVITE", "BYE"]

    bob_port = free_port()
    records = (
        f"--srv-host=_sip._udp.example.test,bob.example.test,{bob_port},10,0",
        "--host-record=bob.example.test,127.0.0.1",
    )
    with dnsmasq(*records) as (dns_port, queries):
        server = ServeProcess(tmp_path, "--dns-server", f"127.0.0.1:{dns_port}")
        try:
            server.wait_ready()
            run(main(server), timeout=30)
            url = f"http://127.0.0.1:{server.http_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as resp:
                metrics = resp.read().decode()
            assert 'sipwright_dns_lookups_total{worker="0"} 1' in metrics.splitlines()
        finally:
            code = server.stop()
        assert code == 0, "\n".join(server.lines)
        assert "SRV _sip._udp.example.test" in queries()
