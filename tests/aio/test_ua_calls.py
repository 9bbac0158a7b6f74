"""UserAgent calls (RFC 3261 §13–§15): two sipwright UAs on 127.0.0.1 UDP.

Every message each endpoint puts on the wire is recorded from the ``sipwright.wire``
logger (at DEBUG the endpoint logs the full text of each message it sends, right
after an INFO line naming the peer), parsed back and checked.
"""

from __future__ import annotations

import asyncio

import pytest

from sipwright import Request, Response
from sipwright.aio.endpoint import ServerRequest
from sipwright.aio.ua import CallFailed, CallState, IncomingCall
from sipwright.dialog import DialogState

from .ua_wire import (
    ANSWER,
    Wire,
    bob_uri,
    branch,
    cseq,
    label,
    next_call,
    run,
    two_uas,
    wait_until,
)


def test_basic_call(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):

            async def callee() -> IncomingCall:
                incoming = await next_call(bob)
                assert incoming.remote_sdp is not None and b"m=audio" in incoming.remote_sdp
                assert await incoming.ringing()
                assert incoming.dialog is not None and incoming.dialog.is_early
                assert await incoming.answer(ANSWER)
                await asyncio.wait_for(incoming.confirmed(), 2.0)
                return incoming

            task = asyncio.create_task(callee())
            call = await asyncio.wait_for(alice.call(bob_uri(bob)), 3.0)
            incoming = await asyncio.wait_for(task, 3.0)
            assert call.state is CallState.CONFIRMED
            assert call.remote_sdp == ANSWER
            assert call.dialog is not None and call.dialog.state is DialogState.CONFIRMED
            assert incoming.state is CallState.CONFIRMED
            assert incoming.dialog is not None
            assert call.dialog.id.local_tag == incoming.dialog.id.remote_tag
            assert call.dialog.id.remote_tag == incoming.dialog.id.local_tag
            bye_response = await asyncio.wait_for(call.bye(), 2.0)
            assert bye_response.status_code == 200
            assert await asyncio.wait_for(incoming.ended(), 2.0) == "remote BYE"
            assert {call.state, incoming.state} == {CallState.ENDED}
            assert len(alice.dialogs) == 0 and len(bob.dialogs) == 0

            a_port, b_port = alice.contact.port, bob.contact.port
            assert a_port is not None and b_port is not None
            to_bob = [m for m in wire.to(b_port)]
            to_alice = [m for m in wire.to(a_port) if not label(m).startswith("100")]
            assert [label(m) for m in to_bob] == ["INVITE", "ACK", "BYE"]
            assert [label(m) for m in to_alice] == ["180 INVITE", "200 INVITE", "200 BYE"]
            invite, ack, bye = to_bob
            ringing, ok, bye_ok = to_alice
            n = cseq(invite)[0]
            assert (cseq(ack), cseq(bye)) == ((n, "ACK"), (n + 1, "BYE"))
            assert cseq(ringing) == cseq(ok) == (n, "INVITE")
            # Tags: From tag everywhere; the To tag of 180 and 200 is the same; ACK/BYE carry it.
            from_tag = invite.from_.tag if invite.from_ else None
            assert from_tag and invite.to is not None and invite.to.tag is None
            to_tag = ringing.to.tag if ringing.to else None
            assert to_tag and ok.to is not None and ok.to.tag == to_tag
            for m in (ack, bye, ringing, ok, bye_ok):
                assert m.from_ is not None and m.from_.tag == from_tag
                assert m.to is not None and m.to.tag == to_tag
                assert m.call_id == invite.call_id
            # ACK of a 2xx: its own transaction (new branch); ACK and BYE go to the Contact.
            assert branch(ack) != branch(invite) and branch(bye) not in (branch(invite), None)
            assert ok.contact and ringing.contact
            assert isinstance(ack, Request) and isinstance(bye, Request)
            assert str(ack.uri) == str(ok.contact[0].uri) == str(bob.contact)
            assert str(bye.uri) == str(ok.contact[0].uri)
            assert ok.body == ANSWER and ok.headers.get("Content-Type") == "application/sdp"

    run(main())


def test_busy(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):

            async def on_call(incoming: IncomingCall) -> None:
                await incoming.reject(486)

            bob.on_call = on_call
            with pytest.raises(CallFailed) as failed:
                await asyncio.wait_for(alice.call(bob_uri(bob)), 3.0)
            assert failed.value.status_code == 486
            b_port, a_port = bob.contact.port, alice.contact.port
            assert b_port is not None and a_port is not None
            await wait_until(lambda: len(wire.to(b_port)) >= 2)
            to_bob = wire.to(b_port)
            to_alice = [m for m in wire.to(a_port) if not label(m).startswith("100")]
            assert [label(m) for m in to_bob] == ["INVITE", "ACK"]
            assert [label(m) for m in to_alice] == ["486 INVITE"]
            invite, ack = to_bob
            # The ACK of a non-2xx belongs to the INVITE transaction (§17.1.1.3).
            assert branch(ack) == branch(invite)
            assert cseq(ack) == (cseq(invite)[0], "ACK")
            busy = to_alice[0]
            assert ack.to is not None and busy.to is not None and ack.to.tag == busy.to.tag
            assert len(alice.dialogs) == 0 and len(bob.dialogs) == 0

    run(main())


def test_cancel_before_answer(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            seen: list[IncomingCall] = []

            async def on_call(incoming: IncomingCall) -> None:
                seen.append(incoming)
                await incoming.ringing()

            bob.on_call = on_call
            call = alice.dial(bob_uri(bob))
            await wait_until(lambda: call.state is CallState.RINGING)
            final = await asyncio.wait_for(call.cancel(), 3.0)
            assert final is not None and final.status_code == 487
            assert call.state is CallState.FAILED
            with pytest.raises(CallFailed):
                await call.answered()
            assert seen and seen[0].cancelled.is_set()
            await asyncio.wait_for(seen[0].ended(), 2.0)
            assert seen[0].state is CallState.FAILED
            assert not await seen[0].answer(ANSWER)  # too late

            b_port, a_port = bob.contact.port, alice.contact.port
            assert b_port is not None and a_port is not None
            await wait_until(lambda: len(wire.to(b_port)) >= 3)
            to_bob = wire.to(b_port)
            to_alice = [m for m in wire.to(a_port) if not label(m).startswith("100")]
            assert [label(m) for m in to_bob] == ["INVITE", "CANCEL", "ACK"]
            assert sorted(label(m) for m in to_alice) == sorted(
                ["180 INVITE", "200 CANCEL", "487 INVITE"]
            )
            assert label(to_alice[0]) == "180 INVITE"
            invite, cancel, ack = to_bob
            assert branch(cancel) == branch(invite) == branch(ack)
            assert cseq(cancel) == (cseq(invite)[0], "CANCEL")
            assert isinstance(cancel, Request) and isinstance(invite, Request)
            assert cancel.uri_text == invite.uri_text
            assert cancel.headers.get("From") == invite.headers.get("From")
            assert cancel.headers.get("To") == invite.headers.get("To")
            assert len(alice.dialogs) == 0 and len(bob.dialogs) == 0

    run(main())


def test_bye_from_callee_ends_caller_call(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            answered: list[IncomingCall] = []

            async def on_call(incoming: IncomingCall) -> None:
                await incoming.answer(ANSWER)
                answered.append(incoming)

            bob.on_call = on_call
            call = await asyncio.wait_for(alice.call(bob_uri(bob)), 3.0)
            incoming = answered[0]
            await asyncio.wait_for(incoming.confirmed(), 2.0)
            response = await asyncio.wait_for(incoming.bye(), 2.0)
            assert response.status_code == 200
            assert await asyncio.wait_for(call.ended(), 2.0) == "remote BYE"
            assert call.state is CallState.ENDED

            b_port, a_port = bob.contact.port, alice.contact.port
            assert b_port is not None and a_port is not None
            to_alice = [m for m in wire.to(a_port) if not label(m).startswith("100")]
            assert [label(m) for m in to_alice] == ["200 INVITE", "BYE"]
            ok, bye = to_alice
            assert isinstance(bye, Request) and isinstance(ok, Response)
            # The callee's BYE: its own CSeq space, tags swapped, to the caller's Contact.
            invite = wire.to(b_port)[0]
            assert isinstance(invite, Request)
            assert invite.contact and str(bye.uri) == str(invite.contact[0].uri)
            assert bye.from_ is not None and ok.to is not None and bye.from_.tag == ok.to.tag
            assert bye.to is not None and invite.from_ is not None
            assert bye.to.tag == invite.from_.tag
            assert bye.call_id == invite.call_id
            assert [label(m) for m in wire.to(b_port)] == ["INVITE", "ACK", "200 BYE"]

    run(main())


def test_bye_for_unknown_dialog_gets_481() -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            bye = Request(
                "BYE",
                bob_uri(bob),
                [
                    ("From", "<sip:alice@127.0.0.1>;tag=a1"),
                    ("To", f"<{bob_uri(bob)}>;tag=nope"),
                    ("Call-ID", "unknown-call"),
                    ("CSeq", "2 BYE"),
                ],
            )
            _, response = await asyncio.wait_for(alice.send(bye, alice._next_hop(bob.contact)), 2.0)
            assert response.status_code == 481

    run(main())


def test_message_between_two_uas(wire: Wire) -> None:
    """RFC 3428 pager mode: one MESSAGE transaction, no dialog, body delivered as sent."""

    async def main() -> None:
        async with two_uas() as (alice, bob):
            got: list[Request] = []

            async def on_request(sreq: ServerRequest) -> None:
                got.append(sreq.request)
                await sreq.respond(200)

            bob.on_request = on_request
            response = await alice.message(bob_uri(bob), "héllo bob")
            assert response.status_code == 200
            (req,) = got
            assert req.body == "héllo bob".encode()
            to_bob = wire.to(bob.contact.port)
            to_alice = wire.to(alice.contact.port)
            assert [label(m) for m in to_bob] == ["MESSAGE"]
            assert [label(m) for m in to_alice] == ["200 MESSAGE"]
            msg, ok = to_bob[0], to_alice[0]
            assert cseq(msg) == cseq(ok) == (1, "MESSAGE")
            assert msg.call_id == ok.call_id and branch(msg) == branch(ok)
            assert msg.from_ is not None and ok.from_ is not None
            assert msg.from_.tag and msg.from_.tag == ok.from_.tag
            assert msg.to is not None and msg.to.tag is None
            assert ok.to is not None and ok.to.tag  # §8.2.6.2
            assert msg.content_type == "text/plain"
            assert len(alice.dialogs) == 0 and len(bob.dialogs) == 0  # no dialog (§4)

    run(main())


def test_in_dialog_requests_carry_route_set_from_two_record_routes(wire: Wire) -> None:
    """Two Record-Routes in the INVITE (as two loose-routing proxies would add, the top
    one nearest the callee): the callee's route set is them in order (§12.1.1), the
    caller's reversed (§12.1.2). rr_alice/rr_bob point at the real peers, so each side's
    first Route is the other UA and every in-dialog request still arrives."""

    async def main() -> None:
        async with two_uas() as (alice, bob):
            b_port, a_port = bob.contact.port, alice.contact.port
            assert b_port is not None and a_port is not None
            rr_alice = f"<sip:127.0.0.1:{a_port};lr>"
            rr_bob = f"<sip:127.0.0.1:{b_port};lr>"
            answered: list[IncomingCall] = []

            async def on_call(incoming: IncomingCall) -> None:
                await incoming.answer(ANSWER)
                answered.append(incoming)

            bob.on_call = on_call
            record_routes = (("Record-Route", rr_alice), ("Record-Route", rr_bob))
            call = await asyncio.wait_for(alice.call(bob_uri(bob), headers=record_routes), 3.0)
            incoming = answered[0]
            await asyncio.wait_for(incoming.confirmed(), 2.0)
            # The caller's in-dialog request: a re-INVITE (and its ACK), Route reversed.
            assert (await asyncio.wait_for(call.hold(), 3.0)).status_code == 200
            # The callee's first request of its own: BYE, Route in Record-Route order.
            assert (await asyncio.wait_for(incoming.bye(), 2.0)).status_code == 200
            assert await asyncio.wait_for(call.ended(), 2.0) == "remote BYE"

            to_bob = [m for m in wire.to(b_port) if isinstance(m, Request)]
            assert [label(m) for m in to_bob] == ["INVITE", "ACK", "INVITE", "ACK"]
            invite, ack, reinvite, reack = to_bob
            assert invite.headers.getall("Route") == []
            # The 2xx copies both Record-Routes in order (§12.1.1).
            oks = [m for m in wire.to(a_port) if label(m) == "200 INVITE"]
            assert len(oks) == 2  # the INVITE's and the re-INVITE's
            ok = oks[0]
            assert ok.headers.getall("Record-Route") == [rr_alice, rr_bob]
            for request in (ack, reinvite, reack):
                assert request.headers.getall("Route") == [rr_bob, rr_alice], label(request)
            assert cseq(reinvite) == (cseq(invite)[0] + 1, "INVITE")

            byes = [m for m in wire.to(a_port) if isinstance(m, Request)]
            assert [label(m) for m in byes] == ["BYE"]
            bye = byes[0]
            assert bye.headers.getall("Route") == [rr_alice, rr_bob]
            assert cseq(bye) == (1, "BYE")
            assert invite.contact and str(bye.uri) == str(invite.contact[0].uri)
            # Tags swapped: the callee's From tag is the To tag it gave the dialog, its To
            # tag the caller's From tag.
            assert ok.to is not None and bye.from_ is not None and bye.to is not None
            assert invite.from_ is not None and reinvite.to is not None
            assert bye.from_.tag is not None and bye.from_.tag == ok.to.tag == reinvite.to.tag
            assert bye.to.tag == invite.from_.tag
            assert bye.call_id == invite.call_id == reinvite.call_id

    run(main())
