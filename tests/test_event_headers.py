"""Event, Subscription-State and Allow-Events values (RFC 6665 §8.2, §8.4)."""

from __future__ import annotations

import pytest

from sipwright.errors import ParseError
from sipwright.event import (
    EventHeader,
    Reason,
    SubscriptionState,
    SubState,
    event_of,
    parse_allow_events,
    parse_event,
    parse_subscription_state,
    retry_delay,
    subscription_state_of,
)
from sipwright.parser import parse


def test_event_parts_and_round_trip() -> None:
    ev = parse_event("presence.winfo ;id=7;foo=bar")
    assert (ev.type, ev.package, ev.templates, ev.id) == (
        "presence.winfo",
        "presence",
        ("winfo",),
        "7",
    )
    assert ev.params == (("foo", "bar"),)
    assert str(ev) == "presence.winfo;id=7;foo=bar"
    assert parse_event(str(ev)) == ev
    assert str(EventHeader("refer", "93809824")) == "refer;id=93809824"
    assert parse_event('dialog;id="a b"').id == "a b"


def test_event_matching_rules() -> None:
    # §8.2.1: event-type and id byte by byte; an id never matches no id; others ignored.
    assert parse_event("foo;id=1234").matches(parse_event("foo;param=abcd;id=1234"))
    assert not parse_event("foo;id=1234").matches(parse_event("foo"))
    assert not parse_event("foo").matches(parse_event("foo;id=1"))
    assert not parse_event("Foo;id=1234").matches(parse_event("foo;id=1234"))
    assert parse_event("presence").matches(parse_event("presence;x=y"))


@pytest.mark.parametrize("bad", ["", ";id=1", "pres ence", "presence..winfo", "a;id", 'p;x="u'])
def test_bad_event_values(bad: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_event(bad)
    assert err.value.status_code == 400


def test_subscription_state_values() -> None:
    active = parse_subscription_state("Active ; expires=600")
    assert (active.value, active.state, active.expires) == ("active", SubState.ACTIVE, 600)
    term = parse_subscription_state('terminated;reason="noresource";retry-after=30')
    assert term.is_terminated and term.reason == "noresource" and term.retry_after == 30
    assert str(term) == "terminated;reason=noresource;retry-after=30"
    # §4.1.3: an unknown substate is treated as pending, its text kept.
    odd = parse_subscription_state("waiting;x=1")
    assert odd.state is SubState.PENDING and odd.value == "waiting" and odd.params == (("x", "1"),)
    assert str(SubscriptionState.active(60)) == "active;expires=60"
    assert str(SubscriptionState.pending(5)) == "pending;expires=5"
    assert str(SubscriptionState.terminated(Reason.TIMEOUT)) == "terminated;reason=timeout"
    assert parse_subscription_state("active;expires=99999999999").expires == 2**32 - 1


@pytest.mark.parametrize(
    "bad", ["", "active;expires=soon", "terminated;retry-after=-1", "act.ive", "active;expires"]
)
def test_bad_subscription_state(bad: str) -> None:
    with pytest.raises(ParseError):
        parse_subscription_state(bad)


@pytest.mark.parametrize(
    ("value", "delay"),
    [
        ("terminated;reason=deactivated", 0.0),
        ("terminated;reason=timeout", 0.0),
        ("terminated;reason=probation;retry-after=20", 20.0),
        ("terminated;reason=giveup", 0.0),
        ("terminated;reason=rejected", None),
        ("terminated;reason=noresource", None),
        ("terminated;reason=invariant", None),
        ("terminated;retry-after=7", 7.0),
    ],
)
def test_retry_delay(value: str, delay: float | None) -> None:
    assert retry_delay(parse_subscription_state(value)) == delay


def test_allow_events() -> None:
    allowed = parse_allow_events(["presence, dialog", "refer", ""])
    assert allowed.types == ("presence", "dialog", "refer") and "refer" in allowed
    assert str(allowed) == "presence, dialog, refer"
    with pytest.raises(ParseError):
        parse_allow_events(["presence, bad event"])


def test_from_a_message_compact_forms() -> None:
    raw = (
        b"NOTIFY sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
        b"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>;tag=2\r\nCall-ID: c\r\n"
        b"CSeq: 1 NOTIFY\r\nMax-Forwards: 70\r\no: presence;id=3\r\n"
        b"Subscription-State: pending;expires=10\r\nContent-Length: 0\r\n\r\n"
    )
    msg = parse(raw)
    assert event_of(msg) == EventHeader("presence", "3")
    state = subscription_state_of(msg)
    assert state is not None and state.state is SubState.PENDING and state.expires == 10
