"""Event state publication (RFC 3903) between two sipwright UAs on 127.0.0.1 UDP.

Alice publishes presence; the other UA is the Event State Compositor, answering from a
:class:`~sipwright.publication.PublicationStore` through
:class:`~sipwright.aio.publish.PublicationServer`. Lifetimes are scaled down to seconds
so the automatic refresh (SIP-If-Match, no body, §4.4) happens within the test.
"""

from __future__ import annotations

import asyncio

import pytest

from sipwright import Request, Response
from sipwright.aio.publish import PublicationServer, PublishFailed
from sipwright.aio.ua import UserAgent
from sipwright.auth import DigestServer, ha1
from sipwright.publication import PublicationStore
from sipwright.transaction import Destination

from .ua_wire import TIMERS, Wire, cseq, label, run, two_uas, wait_until

PIDF = b'<?xml version="1.0"?><presence entity="sip:alice@127.0.0.1">open</presence>'
CLOSED = b'<?xml version="1.0"?><presence entity="sip:alice@127.0.0.1">closed</presence>'


def publishes(messages: list[Request | Response]) -> list[Request]:
    return [m for m in messages if isinstance(m, Request) and m.method == "PUBLISH"]


def test_publish_refresh_modify_remove(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, esc):
            store = PublicationStore(["presence"], min_expires=1, default_expires=2, max_expires=2)
            changes: list[tuple[object, object]] = []
            PublicationServer(store, on_change=lambda s, r: changes.append((s, r))).install(esc)
            target = f"sip:alice@127.0.0.1:{esc.contact.port}"
            resource = f"sip:alice@127.0.0.1:{esc.contact.port}"

            pub = await asyncio.wait_for(alice.publish(target, "presence", PIDF, expires=2), 2.0)
            first = pub.etag
            assert first is not None and pub.state.granted == 2
            # Refreshed before the 2 s lifetime ran out (at half of it).
            await wait_until(lambda: pub.refreshes >= 1, timeout=3.0)
            assert pub.etag not in (None, first)
            [state] = store.states(resource, "presence", asyncio.get_running_loop().time())
            assert state.body == PIDF and state.etag == pub.etag

            await asyncio.wait_for(pub.modify(CLOSED), 2.0)
            [state] = store.states(resource, "presence", asyncio.get_running_loop().time())
            assert state.body == CLOSED and state.etag == pub.etag
            modified_etag = pub.etag

            removed = await asyncio.wait_for(pub.remove(), 2.0)
            assert removed.status_code == 200
            assert len(store) == 0 and pub.etag is None
            assert changes[-1][1] is not None

            sent = publishes(wire.to(esc.contact.port))
            answers = [m for m in wire.to(alice.contact.port) if isinstance(m, Response)]
            initial, refresh, modify, remove = sent[0], sent[1], sent[-2], sent[-1]
            # Initial: full body, no SIP-If-Match (§4.1); 200 with SIP-ETag and Expires.
            assert initial.headers.get("SIP-If-Match") is None
            assert initial.body == PIDF
            assert initial.headers.get("Content-Type") == "application/pidf+xml"
            assert initial.headers.get("Event") == "presence"
            assert initial.headers.get("Expires") == "2"
            assert answers[0].status_code == 200
            assert answers[0].headers.get("SIP-ETag") == first
            assert answers[0].headers.get("Expires") == "2"
            # Refresh: SIP-If-Match and no body (§4.4).
            assert refresh.headers.get("SIP-If-Match") == first
            assert refresh.body == b"" and refresh.headers.get("Content-Type") is None
            # Modify: SIP-If-Match and the new body (§4.5).
            assert modify.body == CLOSED and modify.headers.get("SIP-If-Match") is not None
            # Remove: Expires 0 and SIP-If-Match (§4.6).
            assert remove.headers.get("Expires") == "0"
            assert remove.headers.get("SIP-If-Match") == modified_etag
            assert remove.body == b""
            # One publication: same Call-ID, CSeq + 1 each time.
            assert len({m.call_id for m in sent}) == 1
            assert [cseq(m)[0] for m in sent] == list(range(1, len(sent) + 1))
            assert {label(m) for m in answers} == {"200 PUBLISH"}

    run(main())


def test_412_then_republish(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, esc):
            store = PublicationStore(["presence"], min_expires=1, default_expires=60)
            PublicationServer(store).install(esc)
            target = f"sip:alice@127.0.0.1:{esc.contact.port}"
            loop = asyncio.get_running_loop()

            # A PUBLISH naming an entity-tag the compositor never gave: 412 (§6 step 3).
            bogus = Request(
                "PUBLISH",
                target,
                [
                    ("From", f"<{target}>;tag=t1"),
                    ("To", f"<{target}>"),
                    ("Call-ID", "bogus-etag"),
                    ("CSeq", "1 PUBLISH"),
                    ("Event", "presence"),
                    ("SIP-If-Match", "never-issued"),
                ],
            )
            hop = Destination("127.0.0.1", esc.contact.port, "UDP")
            _, response = await asyncio.wait_for(alice.send(bogus, hop), 2.0)
            assert response.status_code == 412

            pub = await asyncio.wait_for(alice.publish(target, "presence", PIDF, expires=60), 2.0)
            lost = pub.etag
            store.expire(loop.time() + 3600)  # the compositor loses the state
            assert len(store) == 0
            # The modify gets 412; the publisher re-publishes the full state (§4.3).
            await asyncio.wait_for(pub.modify(CLOSED), 2.0)
            assert pub.etag not in (None, lost)
            [state] = store.states(target, "presence", loop.time())
            assert state.body == CLOSED

            sent = publishes(wire.to(esc.contact.port))
            answers = [label(m) for m in wire.to(alice.contact.port)]
            assert answers == ["412 PUBLISH", "200 PUBLISH", "412 PUBLISH", "200 PUBLISH"]
            assert sent[2].headers.get("SIP-If-Match") == lost
            assert sent[3].headers.get("SIP-If-Match") is None and sent[3].body == CLOSED
            await asyncio.wait_for(pub.remove(), 2.0)

    run(main())


def test_489_and_423_retry(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, esc):
            store = PublicationStore(["presence"], min_expires=30, default_expires=60)
            PublicationServer(store).install(esc)
            target = f"sip:alice@127.0.0.1:{esc.contact.port}"
            with pytest.raises(PublishFailed) as info:
                await asyncio.wait_for(alice.publish(target, "dialog", PIDF), 2.0)
            assert info.value.status_code == 489
            assert info.value.response.headers.get("Allow-Events") == "presence"

            # 423 Interval Too Brief: retried once with Min-Expires (§6 step 5).
            pub = await asyncio.wait_for(alice.publish(target, "presence", PIDF, expires=5), 2.0)
            assert pub.state.granted == 30
            answers = [label(m) for m in wire.to(alice.contact.port)]
            assert answers == ["489 PUBLISH", "423 PUBLISH", "200 PUBLISH"]
            assert [m.headers.get("Expires") for m in publishes(wire.to(esc.contact.port))] == [
                "3600",
                "5",
                "30",
            ]
            # Requests other than PUBLISH still get the UA's usual answers.
            assert (await asyncio.wait_for(alice.options(target), 2.0)).status_code == 200
            await asyncio.wait_for(pub.remove(), 2.0)

    run(main())


def test_publish_answers_digest_challenge(wire: Wire) -> None:
    realm, secret = "sipwright.test", b"0123456789abcdef0123456789abcdef"

    def lookup(username: str, realm_: str, algorithm: str) -> str | None:
        return ha1(username, realm_, "secret", algorithm) if username == "alice" else None

    async def main() -> None:
        async with (
            UserAgent(
                "sip:alice@127.0.0.1:0", timers=TIMERS, credentials=("alice", "secret")
            ) as alice,
            UserAgent("sip:esc@127.0.0.1:0", timers=TIMERS) as esc,
        ):
            store = PublicationStore(["presence"], min_expires=1)
            PublicationServer(store, digest=DigestServer(realm, secret, lookup)).install(esc)
            target = f"sip:alice@127.0.0.1:{esc.contact.port}"
            pub = await asyncio.wait_for(alice.publish(target, "presence", PIDF, expires=60), 2.0)
            await asyncio.wait_for(pub.modify(CLOSED), 2.0)
            [state] = store.states(target, "presence", asyncio.get_running_loop().time())
            assert state.body == CLOSED
            sent = publishes(wire.to(esc.contact.port))
            answers = [label(m) for m in wire.to(alice.contact.port)]
            assert answers[:2] == ["401 PUBLISH", "200 PUBLISH"]
            assert answers[-1] == "200 PUBLISH"
            assert sent[0].headers.get("Authorization") is None
            assert sent[1].headers.get("Authorization") is not None
            assert sent[1].body == PIDF and sent[1].headers.get("SIP-If-Match") is None
            assert sent[-1].headers.get("SIP-If-Match") is not None and sent[-1].body == CLOSED
            assert [cseq(m)[0] for m in sent] == list(range(1, len(sent) + 1))
            await asyncio.wait_for(pub.remove(), 2.0)

    run(main())
