"""RFC 3263 §4 server location (sipwright.locate), driven with hand-made DNS answers.

Each case plays the resolver: it answers the locator's questions from a table and
records the questions asked, so both the order of the lookups and the destinations are
checked against the RFC's steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipwright.locate import DnsQuery, NaptrRecord, ServerLocator, SrvRecord, order_srv
from sipwright.transaction import Destination
from sipwright.uri import SipUri, parse_uri

Records = Sequence[NaptrRecord] | Sequence[SrvRecord] | Sequence[str]


def first(n: int) -> int:
    """A draw that always picks the first record with weight (RFC 2782's running sum)."""
    return 0


def run(
    uri: str,
    table: dict[tuple[str, str], Records],
    transports: Sequence[str] = ("UDP", "TCP", "TLS"),
    families: Sequence[str] = ("A", "AAAA"),
) -> tuple[list[Destination], list[tuple[str, str]]]:
    parsed = parse_uri(uri)
    assert isinstance(parsed, SipUri)
    loc = ServerLocator(parsed, transports, families, draw=first)
    asked: list[tuple[str, str]] = []
    while (q := loc.next_query()) is not None:
        asked.append((q.name, q.rdtype))
        loc.give(q, table.get((q.name, q.rdtype)))
    return loc.destinations, asked


def naptr(order: int, pref: int, service: str, replacement: str, flags: str = "s") -> NaptrRecord:
    return NaptrRecord(order, pref, flags, service, replacement)


def test_ip_address_needs_no_lookup_and_takes_the_transport_default_port() -> None:
    assert run("sip:192.0.2.7", {}) == ([Destination("192.0.2.7", 5060, "UDP")], [])
    assert run("sips:192.0.2.7", {}) == ([Destination("192.0.2.7", 5061, "TLS")], [])
    assert run("sip:[2001:db8::1]:5080;transport=tcp", {}) == (
        [Destination("2001:db8::1", 5080, "TCP")],
        [],
    )


def test_a_port_means_no_naptr_no_srv_only_addresses() -> None:
    table: dict[tuple[str, str], Records] = {
        ("example.test", "A"): ["192.0.2.1", "192.0.2.2"],
        ("example.test", "AAAA"): ["2001:db8::5"],
    }
    dests, asked = run("sip:bob@Example.TEST:5070", table)
    assert asked == [("example.test", "A"), ("example.test", "AAAA")]
    assert dests == [
        Destination("192.0.2.1", 5070, "UDP"),
        Destination("192.0.2.2", 5070, "UDP"),
        Destination("2001:db8::5", 5070, "UDP"),
    ]
    # An element with IPv4 sockets only does not ask for AAAA.
    dests, asked = run("sip:bob@example.test:5070", table, families=("A",))
    assert asked == [("example.test", "A")] and len(dests) == 2


def test_naptr_chooses_the_transport_by_order_then_preference() -> None:
    table: dict[tuple[str, str], Records] = {
        ("example.test", "NAPTR"): [
            naptr(20, 10, "SIP+D2U", "_sip._udp.example.test."),
            naptr(10, 50, "SIP+D2T", "_sip._tcp.example.test."),
            naptr(10, 10, "SIP+D2S", "_sip._sctp.example.test."),  # SCTP: not ours
            naptr(5, 10, "E2U+sip", "x.example.test."),  # not a SIP service
            naptr(1, 1, "SIP+D2U", "y.example.test.", flags="a"),  # not a terminal "s"
        ],
        ("_sip._tcp.example.test", "SRV"): [SrvRecord(0, 0, 5062, "tcp.example.test.")],
        ("_sip._udp.example.test", "SRV"): [SrvRecord(0, 0, 5060, "udp.example.test.")],
        ("tcp.example.test", "A"): ["192.0.2.10"],
        ("udp.example.test", "A"): ["192.0.2.20"],
    }
    dests, asked = run("sip:bob@example.test", table)
    assert asked == [
        ("example.test", "NAPTR"),
        ("_sip._tcp.example.test", "SRV"),
        ("tcp.example.test", "A"),
        ("tcp.example.test", "AAAA"),
        ("_sip._udp.example.test", "SRV"),
        ("udp.example.test", "A"),
        ("udp.example.test", "AAAA"),
    ]
    # TCP first (order 10), then UDP to fail over to (§4.3).
    assert dests == [
        Destination("192.0.2.10", 5062, "TCP"),
        Destination("192.0.2.20", 5060, "UDP"),
    ]
    # Without TCP among our transports the TCP record is skipped.
    dests, _ = run("sip:bob@example.test", table, transports=("UDP",))
    assert dests == [Destination("192.0.2.20", 5060, "UDP")]


def test_sips_uri_takes_only_sips_naptr_services() -> None:
    table: dict[tuple[str, str], Records] = {
        ("example.test", "NAPTR"): [
            naptr(10, 10, "SIP+D2U", "_sip._udp.example.test"),
            naptr(20, 10, "SIPS+D2T", "_sips._tcp.example.test"),
        ],
        ("_sips._tcp.example.test", "SRV"): [SrvRecord(1, 1, 5061, "tls.example.test")],
        ("tls.example.test", "A"): ["192.0.2.30"],
    }
    dests, asked = run("sips:bob@example.test", table)
    assert dests == [Destination("192.0.2.30", 5061, "TLS")]
    assert ("_sip._udp.example.test", "SRV") not in asked


def test_without_naptr_the_first_srv_of_our_transports_that_exists() -> None:
    table: dict[tuple[str, str], Records] = {
        ("_sip._tcp.example.test", "SRV"): [SrvRecord(0, 0, 5090, "t.example.test")],
        ("_sips._tcp.example.test", "SRV"): [SrvRecord(0, 0, 5091, "s.example.test")],
        ("t.example.test", "A"): ["192.0.2.40"],
    }
    dests, asked = run("sip:bob@example.test", table)
    assert asked[:3] == [
        ("example.test", "NAPTR"),
        ("_sip._udp.example.test", "SRV"),
        ("_sip._tcp.example.test", "SRV"),
    ]
    assert dests == [Destination("192.0.2.40", 5090, "TCP")]
    assert ("_sips._tcp.example.test", "SRV") not in asked  # TCP was found first


def test_nothing_but_an_address_record_means_udp_on_5060() -> None:
    table: dict[tuple[str, str], Records] = {("example.test", "A"): ["192.0.2.50"]}
    dests, asked = run("sip:bob@example.test", table)
    assert asked == [
        ("example.test", "NAPTR"),
        ("_sip._udp.example.test", "SRV"),
        ("_sip._tcp.example.test", "SRV"),
        ("_sips._tcp.example.test", "SRV"),
        ("example.test", "A"),
        ("example.test", "AAAA"),
    ]
    assert dests == [Destination("192.0.2.50", 5060, "UDP")]
    dests, _ = run("sips:bob@example.test", {("example.test", "A"): ["192.0.2.50"]})
    assert dests == [Destination("192.0.2.50", 5061, "TLS")]


def test_transport_parameter_skips_naptr_and_uses_its_srv_or_the_default_port() -> None:
    table: dict[tuple[str, str], Records] = {
        ("_sip._tcp.example.test", "SRV"): [
            SrvRecord(20, 0, 5071, "b.example.test"),
            SrvRecord(10, 0, 5070, "a.example.test"),
        ],
        ("a.example.test", "A"): ["192.0.2.60"],
        ("b.example.test", "A"): ["192.0.2.61"],
        ("plain.test", "A"): ["192.0.2.62"],
    }
    dests, asked = run("sip:bob@example.test;transport=TCP", table)
    assert asked[0] == ("_sip._tcp.example.test", "SRV")
    assert dests == [Destination("192.0.2.60", 5070, "TCP"), Destination("192.0.2.61", 5071, "TCP")]
    dests, asked = run("sip:bob@plain.test;transport=tcp", table)
    assert dests == [Destination("192.0.2.62", 5060, "TCP")]
    # sips with transport=tcp is TLS (§4.1), on _sips._tcp.
    _, asked = run("sips:bob@example.test;transport=tcp", table)
    assert asked[0] == ("_sips._tcp.example.test", "SRV")
    # A transport we cannot send over: nowhere to go.
    assert run("sip:bob@example.test;transport=sctp", table) == ([], [])


def test_maddr_overrides_the_host() -> None:
    table: dict[tuple[str, str], Records] = {("relay.test", "A"): ["192.0.2.70"]}
    dests, asked = run("sip:bob@example.test:5080;maddr=relay.test", table)
    assert asked[0] == ("relay.test", "A")
    assert dests == [Destination("192.0.2.70", 5080, "UDP")]


def test_srv_target_dot_means_the_service_is_not_offered() -> None:
    table: dict[tuple[str, str], Records] = {
        ("_sip._udp.example.test", "SRV"): [SrvRecord(0, 0, 0, ".")],
        ("example.test", "A"): ["192.0.2.80"],
    }
    dests, _ = run("sip:bob@example.test;transport=udp", table)
    assert dests == []


def test_duplicate_addresses_are_kept_once_and_garbage_is_ignored() -> None:
    table: dict[tuple[str, str], Records] = {
        ("_sip._udp.example.test", "SRV"): [
            SrvRecord(1, 0, 5060, "a.test"),
            SrvRecord(2, 0, 5060, "a.test"),
        ],
        ("a.test", "A"): ["192.0.2.90", "not-an-address", "192.0.2.90"],
    }
    dests, _ = run("sip:bob@example.test;transport=udp", table)
    assert dests == [Destination("192.0.2.90", 5060, "UDP")]


def test_order_srv_by_priority_then_weighted_draw() -> None:
    a, b, c = SrvRecord(10, 60, 1, "a"), SrvRecord(10, 40, 2, "b"), SrvRecord(5, 0, 3, "c")
    zero = SrvRecord(10, 0, 4, "z")
    # Draw 0: the zero-weight record (placed first) is taken first, then a, then b.
    assert order_srv([a, b, c, zero], lambda n: 0) == [c, zero, a, b]
    # Draw n (the top): the last record with weight each time.
    assert order_srv([a, b, c, zero], lambda n: n) == [c, b, a, zero]
    # A draw of 61 out of 100 lands in b's share (running sums 60, 100).
    draws = iter([0, 61, 0, 0])
    assert order_srv([a, b, c], lambda n: next(draws))[:2] == [c, b]


def test_weights_spread_the_first_choice_in_proportion() -> None:
    import random

    rng = random.Random(7)
    a, b = SrvRecord(10, 80, 1, "a"), SrvRecord(10, 20, 2, "b")
    firsts = [order_srv([a, b], lambda n: rng.randint(0, n))[0] for _ in range(2000)]
    share = firsts.count(a) / len(firsts)
    assert 0.75 < share < 0.85


def test_give_checks_the_question() -> None:
    parsed = parse_uri("sip:bob@example.test")
    assert isinstance(parsed, SipUri)
    loc = ServerLocator(parsed, draw=first)
    with pytest.raises(ValueError):
        loc.give(DnsQuery("other.test", "NAPTR"), None)


# -- any answers: the procedure ends, asks sensible questions, keeps its promises ----------

_NAMES = st.sampled_from(["example.test", "a.test", "b.test", "_sip._udp.example.test", "."])
_NAPTR = st.builds(
    NaptrRecord,
    st.integers(0, 3),
    st.integers(0, 3),
    st.sampled_from(["s", "S", "a", "u", ""]),
    st.sampled_from(["SIP+D2U", "SIP+D2T", "SIPS+D2T", "SIP+D2S", "E2U+sip", "sip+d2u"]),
    _NAMES,
)
_SRV = st.builds(SrvRecord, st.integers(0, 3), st.integers(0, 5), st.integers(1, 65535), _NAMES)
_ADDR = st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1", "not-an-ip", ""])
_ANSWER = st.one_of(
    st.none(),
    st.lists(_NAPTR, max_size=4),
    st.lists(_SRV, max_size=4),
    st.lists(_ADDR, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    uri=st.sampled_from(
        [
            "sip:bob@example.test",
            "sips:bob@example.test",
            "sip:bob@example.test:5070",
            "sip:bob@example.test;transport=tcp",
            "sips:example.test;transport=tcp",
            "sip:192.0.2.9",
            "sip:bob@example.test;maddr=a.test",
        ]
    ),
    transports=st.sets(st.sampled_from(["UDP", "TCP", "TLS"]), min_size=1),
    families=st.sampled_from([("A",), ("AAAA",), ("A", "AAAA")]),
    answers=st.lists(_ANSWER, min_size=20, max_size=20),
    draws=st.lists(st.integers(0, 100), min_size=50, max_size=50),
)
def test_any_answers_end_in_destinations_we_can_use(
    uri: str,
    transports: set[str],
    families: tuple[str, ...],
    answers: list[object],
    draws: list[int],
) -> None:
    parsed = parse_uri(uri)
    assert isinstance(parsed, SipUri)
    pool = iter(draws)
    loc = ServerLocator(parsed, transports, families, draw=lambda n: min(next(pool, 0), n))
    asked = 0
    feed = iter(answers)
    while (q := loc.next_query()) is not None:
        asked += 1
        assert asked <= 60, "the procedure must end"
        assert q.rdtype in ("NAPTR", "SRV", *families)
        loc.give(q, next(feed, None))  # type: ignore[arg-type]
    for dest in loc.destinations:
        assert dest.transport in transports
        assert 0 < dest.port <= 65535
        if parsed.scheme == "sips":
            assert dest.transport == "TLS"
    assert len(set(loc.destinations)) == len(loc.destinations)


def test_default_transport_is_tcp_for_an_element_without_udp() -> None:
    """Found by the property test: with no NAPTR/SRV records an element that sends over
    TCP only was given a UDP destination."""
    table: dict[tuple[str, str], Records] = {("example.test", "A"): ["192.0.2.50"]}
    dests, _ = run("sip:bob@example.test", table, transports=("TCP",))
    assert dests == [Destination("192.0.2.50", 5060, "TCP")]
    assert run("sip:192.0.2.9", {}, transports=("TCP",))[0] == [
        Destination("192.0.2.9", 5060, "TCP")
    ]
    assert run("sips:bob@example.test", table, transports=("UDP", "TCP"))[0] == []
