"""SipResolver (RFC 3263 over real DNS) against dnsmasq serving NAPTR, SRV and A records
on loopback: the whole chain, failover order, caching, the hosts table, and names
that do not exist."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from dns_peer import dnsmasq

from sipwright.aio.dns import SipResolver, read_hosts
from sipwright.locate import DnsQuery
from sipwright.transaction import Destination
from sipwright.uri import SipUri, parse_uri

pytestmark = pytest.mark.peer

RECORDS = (
    "--naptr-record=example.test,10,50,s,SIP+D2T,,_sip._tcp.example.test",
    "--naptr-record=example.test,20,50,s,SIP+D2U,,_sip._udp.example.test",
    "--srv-host=_sip._tcp.example.test,t1.example.test,5070,10,0",
    "--srv-host=_sip._tcp.example.test,t2.example.test,5071,20,0",
    "--srv-host=_sip._udp.example.test,u1.example.test,5080,10,0",
    "--host-record=t1.example.test,127.0.0.11",
    "--host-record=t2.example.test,127.0.0.12,::1",
    "--host-record=u1.example.test,127.0.0.13",
    "--srv-host=_sip._udp.srvonly.test,u1.example.test,5090,0,0",
    "--host-record=plain.test,127.0.0.20",
)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def uri(text: str) -> SipUri:
    parsed = parse_uri(text)
    assert isinstance(parsed, SipUri)
    return parsed


def test_naptr_srv_address_chain_in_failover_order() -> None:
    with dnsmasq(*RECORDS) as (port, queries):
        resolver = SipResolver([("127.0.0.1", port)], hosts={})
        found = run(resolver.locate(uri("sip:bob@example.test")))
        assert found == [
            Destination("127.0.0.11", 5070, "TCP"),
            Destination("127.0.0.12", 5071, "TCP"),
            Destination("::1", 5071, "TCP"),
            Destination("127.0.0.13", 5080, "UDP"),
        ]
        asked = queries()
        assert asked[:2] == ["NAPTR example.test", "SRV _sip._tcp.example.test"]
        # IPv4 only: no AAAA question, no IPv6 destination.
        found = run(resolver.locate(uri("sip:bob@example.test"), families=("A",)))
        assert Destination("::1", 5071, "TCP") not in found and len(found) == 3


def test_srv_without_naptr_address_with_a_port_and_the_default() -> None:
    with dnsmasq(*RECORDS) as (port, _):
        resolver = SipResolver([("127.0.0.1", port)], hosts={})
        assert run(resolver.locate(uri("sip:srvonly.test"))) == [
            Destination("127.0.0.13", 5090, "UDP")
        ]
        assert run(resolver.locate(uri("sip:bob@plain.test:5099;transport=tcp"))) == [
            Destination("127.0.0.20", 5099, "TCP")
        ]
        assert run(resolver.locate(uri("sip:bob@plain.test"))) == [
            Destination("127.0.0.20", 5060, "UDP")
        ]


def test_unknown_names_give_nothing_and_answers_are_cached() -> None:
    with dnsmasq(*RECORDS) as (port, queries):
        resolver = SipResolver([("127.0.0.1", port)], hosts={})
        assert run(resolver.locate(uri("sip:bob@nowhere.test"))) == []
        assert resolver.failures > 0  # NXDOMAIN answers count as failures
        before = len(queries())
        run(resolver.locate(uri("sip:bob@example.test")))
        asked = len(queries()) - before
        assert asked > 0
        run(resolver.locate(uri("sip:bob@example.test")))
        assert len(queries()) - before == asked  # the second time from the cache


def test_a_dead_name_server_fails_within_the_timeout() -> None:
    from peers import free_port

    resolver = SipResolver([("127.0.0.1", free_port())], timeout=0.5, hosts={})
    loop_time = asyncio.new_event_loop()
    try:
        start = loop_time.time()
        found = loop_time.run_until_complete(resolver.locate(uri("sip:bob@example.test")))
        took = loop_time.time() - start
    finally:
        loop_time.close()
    assert found == []
    assert took < 10  # NAPTR, 3 SRV, A, AAAA: each bounded by the 0.5 s lifetime


def test_hosts_table_answers_before_dns() -> None:
    table = read_hosts(
        "127.0.0.1 localhost\n::1 localhost ip6-localhost  # comment\n"
        "# 10.0.0.1 commented.test\n192.0.2.5 Pinned.test pinned\nbad-line\n"
        "fe80::1%eth0 linklocal.test\n"
    )
    assert table["localhost"] == ("127.0.0.1", "::1")
    assert table["pinned.test"] == ("192.0.2.5",) and "commented.test" not in table
    assert table["linklocal.test"] == ("fe80::1",)
    with dnsmasq(*RECORDS) as (port, queries):
        resolver = SipResolver([("127.0.0.1", port)], hosts=table)
        assert run(resolver.ask(DnsQuery("PINNED.test", "A"))) == ["192.0.2.5"]
        assert run(resolver.locate(uri("sip:bob@pinned.test:5070"))) == [
            Destination("192.0.2.5", 5070, "UDP")
        ]
        assert not [q for q in queries() if q.startswith("A ")]
