"""SUBSCRIBE / NOTIFY (RFC 6665) between two sipwright UserAgents on 127.0.0.1 UDP.

Alice subscribes, Bob is the notifier. Every message each endpoint sends is recorded
from the ``sipwright.wire`` logger (see ``ua_wire.py``) and checked: methods, CSeq rising
by one per request in each direction, stable tags and Call-ID, Event on every SUBSCRIBE
and NOTIFY, Subscription-State and Expires values.
"""

from __future__ import annotations

import asyncio

import pytest

from sipwright import Request, Response
from sipwright.aio.endpoint import ServerRequest
from sipwright.aio.events import IncomingSubscription, Notification, SubscribeFailed, Subscription
from sipwright.aio.ua import UserAgent
from sipwright.event import parse_subscription_state
from sipwright.transaction import Destination

from .ua_wire import Wire, bob_uri, cseq, label, run, two_uas, wait_until

PIDF = "application/pidf+xml"


def ports(alice: UserAgent, bob: UserAgent) -> tuple[int, int]:
    a, b = alice.contact.port, bob.contact.port
    assert a is not None and b is not None
    return a, b


def event_msgs(wire: Wire, port: int) -> list[Request | Response]:
    """SUBSCRIBE / NOTIFY requests and their final responses sent to ``port``."""
    out = []
    for m in wire.to(port):
        c = m.cseq
        if c is None or c.method not in ("SUBSCRIBE", "NOTIFY"):
            continue
        if isinstance(m, Response) and m.status_code < 200:
            continue
        out.append(m)
    return out


def requests(msgs: list[Request | Response], method: str) -> list[Request]:
    return [m for m in msgs if isinstance(m, Request) and m.method == method]


def sub_state(m: Request) -> tuple[str, int | None, str | None]:
    value = m.headers.get("Subscription-State")
    assert value is not None, "NOTIFY without Subscription-State"
    state = parse_subscription_state(value)
    return state.value, state.expires, state.reason


def check_dialog(subscribes: list[Request], notifies: list[Request]) -> None:
    """Call-ID, tags, Event and CSeq numbering of one subscription's requests."""
    first = subscribes[0]
    assert first.to is not None and first.to.tag is None
    assert first.from_ is not None
    sub_tag = first.from_.tag
    note_tag = notifies[0].from_.tag if notifies[0].from_ else None
    assert sub_tag and note_tag
    for m in subscribes + notifies:
        assert m.call_id == first.call_id
        assert m.headers.get("Event") == first.headers.get("Event")
    for m in subscribes[1:]:
        assert m.from_ is not None and m.from_.tag == sub_tag
        assert m.to is not None and m.to.tag == note_tag
    for m in notifies:
        assert m.from_ is not None and m.from_.tag == note_tag
        assert m.to is not None and m.to.tag == sub_tag
    n, k = cseq(first)[0], cseq(notifies[0])[0]
    assert [cseq(m) for m in subscribes] == [(n + i, "SUBSCRIBE") for i in range(len(subscribes))]
    assert [cseq(m) for m in notifies] == [(k + i, "NOTIFY") for i in range(len(notifies))]


async def next_notify(sub: Subscription) -> Notification:
    return await asyncio.wait_for(anext(aiter(sub)), 3.0)


async def subscribed(
    alice: UserAgent,
    bob: UserAgent,
    *,
    expires: int = 600,
    refresh: bool = True,
    grant: int | None = None,
    **accept: object,
) -> tuple[Subscription, IncomingSubscription]:
    """Alice subscribes to Bob's presence; Bob accepts (granting at most ``grant`` s)."""
    offered: asyncio.Queue[IncomingSubscription] = asyncio.Queue()

    async def on_subscribe(incoming: IncomingSubscription) -> None:
        assert await incoming.accept(grant, **accept)  # type: ignore[arg-type]
        offered.put_nowait(incoming)

    bob.on_subscribe = on_subscribe
    sub = await asyncio.wait_for(
        alice.subscribe(bob_uri(bob), "presence", expires=expires, accept=(PIDF,), refresh=refresh),
        3.0,
    )
    incoming = await asyncio.wait_for(offered.get(), 3.0)
    return sub, incoming


def test_subscribe_and_notifications_in_order(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            sub, incoming = await subscribed(
                alice, bob, body="<open/>", content_type=PIDF, expires=600
            )
            assert incoming.event.type == "presence" and incoming.expires_requested == 600
            assert incoming.subscriber.startswith("sip:alice@")
            first = await next_notify(sub)
            assert (first.state.value, first.body, first.content_type) == (
                "active",
                b"<open/>",
                PIDF,
            )
            assert first.state.expires is not None and 598 <= first.state.expires <= 600
            assert (await incoming.notify("<busy/>")).status_code == 200  # type: ignore[union-attr]
            assert (await incoming.notify("<away/>")).status_code == 200  # type: ignore[union-attr]
            second, third = await next_notify(sub), await next_notify(sub)
            assert [second.text, third.text] == ["<busy/>", "<away/>"]
            assert sub.state.value == "active" and sub.expires is not None
            assert sub.dialog is not None and incoming.dialog is not None
            assert sub.dialog.id.local_tag == incoming.dialog.id.remote_tag

            a_port, b_port = ports(alice, bob)
            to_bob, to_alice = event_msgs(wire, b_port), event_msgs(wire, a_port)
            assert [label(m) for m in to_bob] == ["SUBSCRIBE"] + ["200 NOTIFY"] * 3
            assert [label(m) for m in to_alice] == ["200 SUBSCRIBE"] + ["NOTIFY"] * 3
            subscribe = requests(to_bob, "SUBSCRIBE")
            notifies = requests(to_alice, "NOTIFY")
            check_dialog(subscribe, notifies)
            assert subscribe[0].headers.get("Expires") == "600"
            assert subscribe[0].headers.get("Accept") == PIDF
            assert subscribe[0].contact and notifies[0].contact
            ok = to_alice[0]
            assert ok.headers.get("Expires") == "600" and ok.contact
            assert ok.to is not None and notifies[0].from_ is not None
            assert ok.to.tag == notifies[0].from_.tag
            for n in notifies:
                state, expires, _ = sub_state(n)
                assert state == "active" and expires is not None and 0 < expires <= 600
            assert [n.body for n in notifies] == [b"<open/>", b"<busy/>", b"<away/>"]

    run(main())


def test_refresh_before_expiry(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            # Alice asks 600 s, Bob grants 2 s (§4.2.1.1: a notifier may shorten).
            sub, incoming = await subscribed(alice, bob, expires=600, grant=2, body="<open/>")
            await next_notify(sub)
            await wait_until(lambda: incoming.refreshes >= 1 and sub.refreshes >= 1, 3.0)
            refreshed = await next_notify(sub)  # §4.2.1.4: a NOTIFY follows every 2xx
            assert refreshed.state.value == "active" and refreshed.body == b"<open/>"
            assert not sub.is_terminated and not incoming.is_terminated

            a_port, b_port = ports(alice, bob)
            to_bob, to_alice = event_msgs(wire, b_port), event_msgs(wire, a_port)
            subscribes = requests(to_bob, "SUBSCRIBE")[:2]
            notifies = requests(to_alice, "NOTIFY")[:2]
            assert len(subscribes) == 2 and len(notifies) == 2
            check_dialog(subscribes, notifies)
            assert [s.headers.get("Expires") for s in subscribes] == ["600", "600"]
            oks = [m for m in to_alice if label(m) == "200 SUBSCRIBE"][:2]
            assert [cseq(m) for m in oks] == [cseq(s) for s in subscribes]
            assert [m.headers.get("Expires") for m in oks] == ["2", "2"]
            # The refresh went to the notifier's Contact, inside the dialog.
            assert str(subscribes[1].uri) == str(bob.contact)
            assert [sub_state(n)[:2] for n in notifies] == [("active", 2), ("active", 2)]

    run(main())


def test_unsubscribe(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            sub, incoming = await subscribed(alice, bob, body="<open/>")
            await next_notify(sub)
            final = await asyncio.wait_for(sub.unsubscribe(), 3.0)
            assert final is not None and final.state.is_terminated
            assert final.state.reason == "timeout"
            assert sub.is_terminated and sub.reason == "timeout"
            assert [n.state.value async for n in sub] == ["terminated"]
            assert await asyncio.wait_for(incoming.ended(), 2.0) == "timeout"
            assert len(alice.dialogs) == len(bob.dialogs) == 0
            assert len(alice.events) == len(bob.events) == 0

            a_port, b_port = ports(alice, bob)
            to_bob, to_alice = event_msgs(wire, b_port), event_msgs(wire, a_port)
            assert [label(m) for m in to_bob] == [
                "SUBSCRIBE",
                "200 NOTIFY",
                "SUBSCRIBE",
                "200 NOTIFY",
            ]
            assert [label(m) for m in to_alice] == [
                "200 SUBSCRIBE",
                "NOTIFY",
                "200 SUBSCRIBE",
                "NOTIFY",
            ]
            subscribes, notifies = requests(to_bob, "SUBSCRIBE"), requests(to_alice, "NOTIFY")
            check_dialog(subscribes, notifies)
            assert subscribes[1].headers.get("Expires") == "0"
            assert to_alice[2].headers.get("Expires") == "0"
            assert sub_state(notifies[1]) == ("terminated", None, "timeout")

    run(main())


def test_notifier_terminates_then_481(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            sub, incoming = await subscribed(alice, bob)
            assert (await next_notify(sub)).state.value == "active"
            response = await incoming.terminate(reason="noresource")
            assert response is not None and response.status_code == 200
            last = await next_notify(sub)
            assert last.state.is_terminated and last.state.reason == "noresource"
            assert await asyncio.wait_for(sub.terminated(), 2.0) == "noresource"
            assert [n async for n in sub] == []  # the iteration has ended
            assert len(alice.dialogs) == len(bob.dialogs) == 0

            a_port, b_port = ports(alice, bob)
            notifies = requests(event_msgs(wire, a_port), "NOTIFY")
            subscribes = requests(event_msgs(wire, b_port), "SUBSCRIBE")
            check_dialog(subscribes, notifies)
            assert [sub_state(n)[0] for n in notifies] == ["active", "terminated"]
            assert sub_state(notifies[1])[2] == "noresource"

            # The subscription is gone: a NOTIFY in its old dialog gets 481 (§4.1.3).
            old = notifies[1]
            stray = Request(
                "NOTIFY",
                str(alice.contact),
                [
                    ("From", old.headers["From"]),
                    ("To", old.headers["To"]),
                    ("Call-ID", old.call_id or ""),
                    ("CSeq", f"{cseq(old)[0] + 1} NOTIFY"),
                    ("Contact", f"<{bob.contact}>"),
                    ("Event", "presence"),
                    ("Subscription-State", "active;expires=60"),
                ],
            )
            answer = await bob.endpoint.request(stray, Destination("127.0.0.1", a_port, "UDP"))
            assert answer.status_code == 481

    run(main())


def test_terminate_while_refresh_notify_in_flight(wire: Wire) -> None:
    """terminate() queued behind the NOTIFY that follows a refresh still sends its own
    NOTIFY terminated (a regression: the in-flight NOTIFY used to close it silently)."""

    async def main() -> None:
        async with two_uas() as (alice, bob):
            sub, incoming = await subscribed(alice, bob, refresh=False)
            assert (await next_notify(sub)).state.value == "active"
            await sub.refresh()
            response = await incoming.terminate(reason="deactivated")
            assert response is not None and response.status_code == 200
            assert await asyncio.wait_for(sub.terminated(), 2.0) == "deactivated"
            a_port, _ = ports(alice, bob)
            notifies = requests(event_msgs(wire, a_port), "NOTIFY")
            assert [sub_state(n)[0] for n in notifies][-1] == "terminated"
            assert sub_state(notifies[-1])[2] == "deactivated"

    run(main())


def test_notify_before_the_2xx(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            sub, incoming = await subscribed(alice, bob, body="<open/>", notify_first=True)
            first = await next_notify(sub)
            assert first.state.value == "active" and first.body == b"<open/>"
            # One dialog, made by the NOTIFY and kept by the 2xx (§4.1.2.4).
            assert sub.dialog is not None and incoming.dialog is not None
            assert len(alice.dialogs) == 1
            assert sub.dialog.id.remote_tag == incoming.dialog.id.local_tag
            assert (await incoming.notify("<away/>")).status_code == 200  # type: ignore[union-attr]
            assert (await next_notify(sub)).text == "<away/>"

            a_port, b_port = ports(alice, bob)
            to_alice = event_msgs(wire, a_port)
            assert [label(m) for m in to_alice] == ["NOTIFY", "200 SUBSCRIBE", "NOTIFY"]
            to_bob = event_msgs(wire, b_port)
            assert [label(m) for m in to_bob] == ["SUBSCRIBE", "200 NOTIFY", "200 NOTIFY"]
            check_dialog(requests(to_bob, "SUBSCRIBE"), requests(to_alice, "NOTIFY"))
            assert to_alice[1].to is not None and to_alice[0].from_ is not None
            assert to_alice[1].to.tag == to_alice[0].from_.tag

    run(main())


def test_bad_event_and_unknown_subscription(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            # No on_subscribe handler: 489 Bad Event (§8.3.2).
            with pytest.raises(SubscribeFailed) as failed:
                await asyncio.wait_for(alice.subscribe(bob_uri(bob), "presence"), 3.0)
            assert failed.value.status_code == 489
            assert len(alice.dialogs) == len(bob.dialogs) == 0
            assert len(alice.events) == 0
            # Only ua.on_request set: the SUBSCRIBE goes there, as before this module.
            seen: list[str] = []

            async def on_request(sreq: ServerRequest) -> None:
                seen.append(sreq.request.method)
                await sreq.respond(403)

            bob.on_request = on_request
            with pytest.raises(SubscribeFailed) as failed:
                await asyncio.wait_for(alice.subscribe(bob_uri(bob), "presence"), 3.0)
            assert failed.value.status_code == 403 and seen == ["SUBSCRIBE"]

            sub, incoming = await subscribed(alice, bob)
            await next_notify(sub)
            # A NOTIFY in the dialog for another event: 489 (§4.1.3).
            assert incoming.dialog is not None
            notify, hop = bob._in_dialog_request(incoming.dialog, "NOTIFY", None)
            notify.headers.add("Event", "dialog")
            notify.headers.add("Subscription-State", "active;expires=60")
            _, answer = await bob.send(notify, hop)
            assert answer.status_code == 489
            # A NOTIFY for a subscription Alice never made: 481.
            a_port, _ = ports(alice, bob)
            stray = Request(
                "NOTIFY",
                str(alice.contact),
                [
                    ("From", f"<{bob.contact}>;tag=nope"),
                    ("To", f"<{alice.contact}>;tag=unknown"),
                    ("Call-ID", "no-such-subscription"),
                    ("CSeq", "1 NOTIFY"),
                    ("Contact", f"<{bob.contact}>"),
                    ("Event", "presence"),
                    ("Subscription-State", "active;expires=60"),
                ],
            )
            answer = await bob.endpoint.request(stray, Destination("127.0.0.1", a_port, "UDP"))
            assert answer.status_code == 481
            assert not sub.is_terminated  # neither disturbed the real subscription
            to_bob = event_msgs(wire, ports(alice, bob)[1])
            assert [m.status_code for m in to_bob if isinstance(m, Response)][-2:] == [489, 481]

    run(main())


def test_notifier_expiry_sends_timeout(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            sub, incoming = await subscribed(alice, bob, expires=1, refresh=False)
            assert (await next_notify(sub)).state.value == "active"
            last = await next_notify(sub)  # no refresh: Bob's timer ends it (§4.2.2)
            assert last.state.is_terminated and last.state.reason == "timeout"
            assert await asyncio.wait_for(incoming.ended(), 2.0) == "timeout"
            assert sub.is_terminated and len(alice.dialogs) == len(bob.dialogs) == 0
            a_port, b_port = ports(alice, bob)
            notifies = requests(event_msgs(wire, a_port), "NOTIFY")
            check_dialog(requests(event_msgs(wire, b_port), "SUBSCRIBE"), notifies)
            assert [sub_state(n) for n in notifies] == [
                ("active", 1, None),
                ("terminated", None, "timeout"),
            ]

    run(main())


def test_subscribe_validation_and_423(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            _, b_port = ports(alice, bob)
            bob.events.min_expires = 60
            hop = Destination("127.0.0.1", b_port, "UDP")

            def subscribe(*extra: tuple[str, str]) -> Request:
                return Request(
                    "SUBSCRIBE",
                    bob_uri(bob),
                    [
                        ("From", f"<{alice.contact}>;tag=a1"),
                        ("To", f"<{bob_uri(bob)}>"),
                        ("Call-ID", f"v-{len(extra)}-{extra[-1][1] if extra else ''}"),
                        ("CSeq", "1 SUBSCRIBE"),
                        ("Contact", f"<{alice.contact}>"),
                        *extra,
                    ],
                )

            async def on_subscribe(incoming: IncomingSubscription) -> None:
                await incoming.accept()

            bob.on_subscribe = on_subscribe
            missing = await alice.endpoint.request(subscribe(("Expires", "60")), hop)
            assert (missing.status_code, missing.reason) == (400, "Missing Event Header")
            bad = await alice.endpoint.request(subscribe(("Event", "pres ence")), hop)
            assert bad.status_code == 400
            brief = await alice.endpoint.request(
                subscribe(("Event", "presence"), ("Expires", "5")), hop
            )
            assert brief.status_code == 423 and brief.headers.get("Min-Expires") == "60"
            # UserAgent.subscribe retries a 423 once with the Min-Expires (§4.2.1.1).
            sub = await asyncio.wait_for(alice.subscribe(bob_uri(bob), "presence", expires=5), 3)
            assert sub.expires == 60
            subscribes = requests(event_msgs(wire, b_port), "SUBSCRIBE")[-2:]
            assert [s.headers.get("Expires") for s in subscribes] == ["5", "60"]
            assert cseq(subscribes[1])[0] == cseq(subscribes[0])[0] + 1
            assert subscribes[0].call_id == subscribes[1].call_id
            await asyncio.wait_for(sub.unsubscribe(), 3.0)
            assert sub.is_terminated

    run(main())


def test_close_stops_the_subscription(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            sub, incoming = await subscribed(alice, bob, grant=2)
            await next_notify(sub)
            await alice.close()  # stops the refresh timer, nothing is sent
            assert sub.is_terminated and sub.reason == "closed"
            assert sub._task is not None and sub._task.done()
            assert [n async for n in sub] == []
            assert len(alice.dialogs) == 0 and len(alice.events) == 0
            _, b_port = ports(alice, bob)
            assert [label(m) for m in event_msgs(wire, b_port)] == ["SUBSCRIBE", "200 NOTIFY"]
            assert not incoming.is_terminated  # Bob only learns it at expiry

    run(main())
