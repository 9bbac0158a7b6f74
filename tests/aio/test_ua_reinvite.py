"""Mid-call session changes between two sipwright UAs on 127.0.0.1 UDP: re-INVITE (hold,
resume, glare, 488), UPDATE (RFC 3311), INFO DTMF (RFC 6086) and 481 after BYE.

Every message each endpoint puts on the wire is recorded (``wire`` fixture) and checked:
methods, CSeq numbers, tags, branches, Route and the SDP direction / o= version.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from sipwright import Request, Response
from sipwright.aio.calls import default_sdp_offer
from sipwright.aio.ua import CallState, IncomingCall, OutgoingCall, UserAgent
from sipwright.dialog import glare_retry_delay
from sipwright.errors import SipError
from sipwright.sdp import SessionDescription

from .ua_wire import ANSWER, Wire, bob_uri, branch, cseq, label, run, two_uas, wait_until


def directions(sdp: bytes | None) -> list[str]:
    assert sdp is not None
    return [m.effective_direction.value for m in SessionDescription.parse(sdp).media]


def version(sdp: bytes | None) -> int:
    assert sdp is not None
    return SessionDescription.parse(sdp).origin.sess_version


def ports(alice: UserAgent, bob: UserAgent) -> tuple[int, int]:
    a, b = alice.contact.port, bob.contact.port
    assert a is not None and b is not None
    return a, b


def sent(wire: Wire, port: int, *labels: str) -> list[Request | Response]:
    return [m for m in wire.to(port) if label(m) in labels]


@asynccontextmanager
async def established(
    headers: tuple[tuple[str, str], ...] = (),
) -> AsyncIterator[tuple[UserAgent, UserAgent, OutgoingCall, IncomingCall]]:
    """alice calls bob, bob answers ANSWER; both sides CONFIRMED."""
    async with two_uas() as (alice, bob):
        answered: list[IncomingCall] = []

        async def on_call(incoming: IncomingCall) -> None:
            await incoming.answer(ANSWER)
            answered.append(incoming)

        bob.on_call = on_call
        call = await asyncio.wait_for(alice.call(bob_uri(bob), headers=headers), 3.0)
        incoming = answered[0]
        await asyncio.wait_for(incoming.confirmed(), 2.0)
        yield alice, bob, call, incoming


def test_hold_then_resume_with_route_set(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            a_port, b_port = ports(alice, bob)
            # A Record-Route in the INVITE (as a proxy would add) is copied into the 200:
            # alice's route set is then <sip:127.0.0.1:b_port;lr> (§12.1.2).
            route = f"<sip:127.0.0.1:{b_port};lr>"
            answered: list[IncomingCall] = []

            async def on_call(incoming: IncomingCall) -> None:
                await incoming.answer(ANSWER)
                answered.append(incoming)

            bob.on_call = on_call
            call = await asyncio.wait_for(
                alice.call(bob_uri(bob), headers=(("Record-Route", route),)), 3.0
            )
            incoming = answered[0]
            await asyncio.wait_for(incoming.confirmed(), 2.0)
            assert call.dialog is not None and [str(r) for r in call.dialog.route_set] == [route]
            offer0 = call.local_sdp
            assert directions(offer0) == ["sendrecv"]

            held = await asyncio.wait_for(call.hold(), 3.0)
            assert held.status_code == 200
            assert call.local_hold and not call.remote_hold
            assert incoming.remote_hold and not incoming.local_hold
            assert directions(call.local_sdp) == ["sendonly"]
            assert directions(call.remote_sdp) == ["recvonly"]
            assert incoming.remote_sdp == call.local_sdp
            assert incoming.local_sdp == call.remote_sdp
            assert version(call.local_sdp) == version(offer0) + 1

            resumed = await asyncio.wait_for(call.resume(), 3.0)
            assert resumed.status_code == 200
            assert not call.local_hold and not incoming.remote_hold
            assert directions(call.local_sdp) == ["sendrecv"]
            assert directions(incoming.local_sdp) == ["sendrecv"]
            assert version(call.local_sdp) == version(offer0) + 2
            assert version(incoming.local_sdp) == version(ANSWER) + 2
            # The ACK of each re-INVITE 2xx stopped bob's 2xx retransmission.
            await wait_until(lambda: not bob.endpoint._pending_2xx)
            assert bob.endpoint.stats.ack_timeouts == 0

            assert (await asyncio.wait_for(call.bye(), 2.0)).status_code == 200
            assert await asyncio.wait_for(incoming.ended(), 2.0) == "remote BYE"

            to_bob = [m for m in wire.to(b_port) if isinstance(m, Request)]
            assert [label(m) for m in to_bob] == ["INVITE", "ACK"] * 3 + ["BYE"]
            oks = sent(wire, a_port, "200 INVITE")
            assert len(oks) == 3
            invite0 = to_bob[0]
            n = cseq(invite0)[0]
            assert [cseq(m) for m in to_bob] == [
                (n, "INVITE"),
                (n, "ACK"),
                (n + 1, "INVITE"),
                (n + 1, "ACK"),
                (n + 2, "INVITE"),
                (n + 2, "ACK"),
                (n + 3, "BYE"),
            ]
            for m in (*to_bob, *oks):
                assert m.call_id == invite0.call_id
                assert m.from_ is not None and invite0.from_ is not None
                assert m.from_.tag == invite0.from_.tag
            to_tag = oks[0].to.tag if oks[0].to else None
            assert to_tag
            for m in (*to_bob[1:], *oks):
                assert m.to is not None and m.to.tag == to_tag
            hold, hold_ack, resume, resume_ack = to_bob[2:6]
            for req in (hold, hold_ack, resume, resume_ack, to_bob[6]):
                assert req.headers.getall("Route") == [route]
                assert isinstance(req, Request) and str(req.uri) == str(bob.contact)
            # 2xx ACKs are transactions of their own: new branches.
            assert branch(hold_ack) not in (branch(hold), None)
            assert branch(resume_ack) not in (branch(resume), None)
            assert directions(hold.body) == ["sendonly"] and directions(oks[1].body) == ["recvonly"]
            assert directions(resume.body) == ["sendrecv"]
            assert directions(oks[2].body) == ["sendrecv"]
            assert version(resume.body) == version(hold.body) + 1
            assert hold.contact and oks[1].contact  # target refresh requests and 2xx

    run(main())


def test_glare_both_get_491_then_retry(wire: Wire) -> None:
    async def main() -> None:
        async with established() as (alice, bob, call, incoming):
            a_port, b_port = ports(alice, bob)
            asked: dict[str, list[bool]] = {"alice": [], "bob": []}

            def scaled(who: str) -> Callable[[bool], float]:
                def delay(owner: bool) -> float:
                    asked[who].append(owner)
                    # The RFC ranges (2.1-4 s owner, 0-2 s other) at 1/10 scale, rand = 0.
                    return glare_retry_delay(owner, lambda: 0.0) / 10

                return delay

            alice.glare_delay = scaled("alice")
            bob.glare_delay = scaled("bob")
            n_before = len(wire.sent)
            # Both tasks build and send their re-INVITE in the same loop turn, before
            # either side reads the other's: each re-INVITE finds one of ours pending.
            a_task = asyncio.ensure_future(call.hold())
            b_task = asyncio.ensure_future(incoming.hold())
            a_final, b_final = await asyncio.wait_for(asyncio.gather(a_task, b_task), 5.0)
            assert a_final.status_code == 200 and b_final.status_code == 200
            # alice placed the call: she owns the Call-ID and waits 2.1-4 s; bob 0-2 s.
            assert asked == {"alice": [True], "bob": [False]}
            await wait_until(lambda: not alice.endpoint._pending_2xx)
            await wait_until(lambda: not bob.endpoint._pending_2xx)

            later = [s for s in wire.sent[n_before:] if not s.retransmission]
            for sender_to, peer_to, first_seq in ((b_port, a_port, 2), (a_port, b_port, 1)):
                reqs = [s.message for s in later if s.to_port == sender_to]
                resps = [s.message for s in later if s.to_port == peer_to]
                ours = [m for m in reqs if isinstance(m, Request)]
                assert [label(m) for m in ours] == ["INVITE", "ACK", "INVITE", "ACK"]
                inv1, ack1, inv2, ack2 = ours
                assert [cseq(m) for m in ours] == [
                    (first_seq, "INVITE"),
                    (first_seq, "ACK"),
                    (first_seq + 1, "INVITE"),
                    (first_seq + 1, "ACK"),
                ]
                # 491 answered the first; its ACK is in the INVITE transaction (same branch).
                answers = {cseq(m): m.status_code for m in resps if isinstance(m, Response)}
                assert answers[(first_seq, "INVITE")] == 491
                assert answers[(first_seq + 1, "INVITE")] == 200
                assert branch(ack1) == branch(inv1)
                assert branch(ack2) not in (branch(inv2), None, branch(inv1))
                assert directions(inv1.body) == ["sendonly"]

            # bob retried first (0 s): alice answered recvonly; alice's retry then offered
            # inactive (hold of a recvonly stream, RFC 3264 §8.4), bob answered inactive.
            assert call.local_sdp == incoming.remote_sdp
            assert call.remote_sdp == incoming.local_sdp
            assert directions(call.local_sdp) == directions(incoming.local_sdp) == ["inactive"]
            assert call.local_hold and incoming.local_hold
            assert call.remote_hold and incoming.remote_hold
            assert call.state is incoming.state is CallState.CONFIRMED

    run(main())


def test_reinvite_refused_by_hook_keeps_session(wire: Wire) -> None:
    async def main() -> None:
        async with established() as (alice, bob, call, incoming):
            a_port, b_port = ports(alice, bob)
            offers: list[bytes] = []

            async def refuse(offer: bytes) -> bytes | None:
                offers.append(offer)
                return None

            incoming.on_offer = refuse
            before = (call.local_sdp, call.remote_sdp, incoming.local_sdp, incoming.remote_sdp)
            new_offer = default_sdp_offer("127.0.0.1", 6100)
            response = await asyncio.wait_for(call.reinvite(new_offer), 3.0)
            assert response.status_code == 488
            assert (call.local_sdp, call.remote_sdp, incoming.local_sdp, incoming.remote_sdp) == (
                before
            )
            assert call.state is CallState.CONFIRMED and not call.local_hold
            # The offer kept alice's o= line, version + 1 (RFC 3264 §8).
            assert len(offers) == 1 and version(offers[0]) == version(before[0]) + 1
            sd = SessionDescription.parse(offers[0])
            assert sd.media[0].port == 6100
            assert sd.origin.sess_id == SessionDescription.parse(before[0] or b"").origin.sess_id

            # The same dialog still works: the hook now answers.
            async def accept(offer: bytes) -> bytes | None:
                return incoming.auto_answer(offer)

            incoming.on_offer = accept
            ok = await asyncio.wait_for(call.reinvite(new_offer), 3.0)
            assert ok.status_code == 200 and call.remote_sdp == incoming.local_sdp
            assert SessionDescription.parse(call.local_sdp or b"").media[0].port == 6100

            await wait_until(lambda: len(sent(wire, b_port, "ACK")) >= 3)
            to_bob = [m for m in wire.to(b_port) if isinstance(m, Request)]
            assert [label(m) for m in to_bob] == ["INVITE", "ACK"] * 3
            _, _, refused, refused_ack, accepted, accepted_ack = to_bob
            assert branch(refused_ack) == branch(refused)  # non-2xx ACK: same transaction
            assert branch(accepted_ack) != branch(accepted)
            assert cseq(accepted)[0] == cseq(refused)[0] + 1 == cseq(to_bob[0])[0] + 2
            assert [label(m) for m in sent(wire, a_port, "488 INVITE")] == ["488 INVITE"]

    run(main())


def test_update_with_and_without_offer(wire: Wire) -> None:
    async def main() -> None:
        async with established() as (alice, bob, call, incoming):
            a_port, b_port = ports(alice, bob)
            offer = default_sdp_offer("127.0.0.1", 6200)
            first = await asyncio.wait_for(call.update(offer), 3.0)
            assert first.status_code == 200
            assert first.body and first.body == incoming.local_sdp == call.remote_sdp
            assert incoming.remote_sdp == call.local_sdp
            assert SessionDescription.parse(call.local_sdp or b"").media[0].port == 6200
            refresh = await asyncio.wait_for(call.update(), 3.0)
            assert refresh.status_code == 200 and not refresh.body
            from_bob = await asyncio.wait_for(incoming.update(), 3.0)
            assert from_bob.status_code == 200

            updates = sent(wire, b_port, "UPDATE")
            invite = wire.to(b_port)[0]
            n = cseq(invite)[0]
            assert [cseq(m) for m in updates] == [(n + 1, "UPDATE"), (n + 2, "UPDATE")]
            assert updates[0].headers.get("Content-Type") == "application/sdp"
            assert not updates[1].body
            for m in updates:  # UPDATE is a target refresh: Contact (RFC 3311 §5.1)
                assert m.contact and m.to is not None and m.to.tag
                assert m.call_id == invite.call_id
            oks = sent(wire, a_port, "200 UPDATE")
            assert len(oks) == 2 and all(m.contact for m in oks)
            assert oks[0].headers.get("Content-Type") == "application/sdp" and not oks[1].body
            # bob's own CSeq space starts at 1 (he sent nothing in the dialog before).
            (bob_update,) = sent(wire, a_port, "UPDATE")
            assert cseq(bob_update) == (1, "UPDATE")
            assert bob_update.from_ is not None and invite.to is not None

    run(main())


def test_offerless_reinvite_gets_offer_in_2xx(wire: Wire) -> None:
    async def main() -> None:
        async with established() as (alice, bob, call, incoming):
            _, b_port = ports(alice, bob)
            dialog = call.dialog
            assert dialog is not None
            request, hop = alice._in_dialog_request(dialog, "INVITE", call._fallback)
            request, response = await asyncio.wait_for(alice.send(request, hop), 3.0)
            alice.dialogs.receive_response(request, response)
            assert response.status_code == 200
            assert response.body == incoming.local_sdp == ANSWER  # our offer, unchanged
            await wait_until(lambda: len(sent(wire, b_port, "ACK")) >= 2)
            await wait_until(lambda: not bob.endpoint._pending_2xx)
            assert incoming._ack_answer_seq is None  # the ACK was routed to the call

    run(main())


def test_info_dtmf_in_order_and_415(wire: Wire) -> None:
    async def main() -> None:
        async with established() as (alice, bob, call, incoming):
            a_port, b_port = ports(alice, bob)
            with pytest.raises(ValueError):
                await call.send_dtmf("1x")
            responses = await asyncio.wait_for(call.send_dtmf("1#"), 3.0)
            assert [r.status_code for r in responses] == [200, 200]
            legacy = await asyncio.wait_for(call.info("5", "application/dtmf"), 2.0)
            assert legacy.status_code == 200
            unknown = await asyncio.wait_for(call.info("hello", "text/plain"), 2.0)
            assert unknown.status_code == 415
            accept = ",".join(unknown.headers.getall("Accept"))
            assert {a.strip() for a in accept.split(",")} == {
                "application/dtmf-relay",
                "application/dtmf",
            }
            bad = await asyncio.wait_for(call.info("Signal=X", "application/dtmf-relay"), 2.0)
            assert bad.status_code == 400

            digits: list[str] = []

            async def read() -> None:
                async for digit in incoming.dtmf():
                    digits.append(digit)

            reader = asyncio.ensure_future(read())
            await wait_until(lambda: len(digits) == 3)
            assert digits == ["1", "#", "5"]
            await asyncio.wait_for(call.bye(), 2.0)
            await asyncio.wait_for(reader, 2.0)  # the iterator ends with the call

            infos = sent(wire, b_port, "INFO")
            n = cseq(wire.to(b_port)[0])[0]
            assert [cseq(m) for m in infos] == [(n + i, "INFO") for i in range(1, 6)]
            assert infos[0].body == b"Signal=1\r\nDuration=160\r\n"
            assert infos[1].body == b"Signal=#\r\nDuration=160\r\n"
            assert infos[0].headers.get("Content-Type") == "application/dtmf-relay"
            assert [label(m) for m in sent(wire, a_port, "200 INFO", "415 INFO")] == [
                "200 INFO",
                "200 INFO",
                "200 INFO",
                "415 INFO",
            ]

    run(main())


def test_in_dialog_request_after_bye_gets_481(wire: Wire) -> None:
    async def main() -> None:
        async with established() as (alice, bob, call, incoming):
            a_port, _ = ports(alice, bob)
            dialog = incoming.dialog
            assert dialog is not None
            # An INFO that crosses the BYE: built before it, sent after it.
            late, hop = bob._in_dialog_request(dialog, "INFO", incoming._fallback)
            assert (await asyncio.wait_for(call.bye(), 2.0)).status_code == 200
            await asyncio.wait_for(incoming.ended(), 2.0)
            _, response = await asyncio.wait_for(bob.send(late, hop), 2.0)
            assert response.status_code == 481
            with pytest.raises(SipError):
                await incoming.send_dtmf("1")
            with pytest.raises(SipError):
                await call.hold()
            assert [label(m) for m in sent(wire, a_port, "INFO")] == ["INFO"]
            assert [label(m) for m in wire.to(bob.contact.port or 0) if label(m) == "481 INFO"]

    run(main())


def test_offerless_reinvite_answer_in_ack(wire: Wire) -> None:
    async def main() -> None:
        async with established() as (alice, bob, call, incoming):
            _, b_port = ports(alice, bob)
            dialog = call.dialog
            assert dialog is not None
            alice.endpoint.auto_ack = False  # we send the ACK ourselves, with the answer
            request, hop = alice._in_dialog_request(dialog, "INVITE", call._fallback)
            request, response = await asyncio.wait_for(alice.send(request, hop), 3.0)
            alice.dialogs.receive_response(request, response)
            assert response.status_code == 200 and response.body == ANSWER
            answer = call.auto_answer(response.body)
            ack, ack_hop = alice._in_dialog_request(dialog, "ACK", call._fallback)
            ack.set_body(answer, "application/sdp")
            ack.headers.prepend("Via", alice.endpoint._via_for(ack_hop))
            alice.endpoint.send_stateless(ack, ack_hop)
            await wait_until(lambda: incoming.remote_sdp == answer)
            await wait_until(lambda: not bob.endpoint._pending_2xx)
            acks = sent(wire, b_port, "ACK")
            assert cseq(acks[-1]) == (cseq(request)[0], "ACK")

    run(main())


def test_bad_offer_gets_400_and_update_glare_retries(wire: Wire) -> None:
    async def main() -> None:
        async with established() as (alice, bob, call, incoming):
            a_port, b_port = ports(alice, bob)
            before = (call.local_sdp, incoming.remote_sdp)
            bad = await asyncio.wait_for(call.reinvite(b"not sdp at all"), 3.0)
            assert bad.status_code == 400
            assert (call.local_sdp, incoming.remote_sdp) == before
            # UPDATE offers that cross: each finds our own offer outstanding (RFC 3311
            # §5.2) and gets 491; each side retries after its glare delay.
            alice.glare_delay = lambda owner: 0.2 if owner else 0.0
            bob.glare_delay = lambda owner: 0.2 if owner else 0.0
            a_task = asyncio.ensure_future(call.update(default_sdp_offer("127.0.0.1", 6300)))
            b_task = asyncio.ensure_future(incoming.update(default_sdp_offer("127.0.0.1", 7300)))
            a_final, b_final = await asyncio.wait_for(asyncio.gather(a_task, b_task), 5.0)
            assert a_final.status_code == b_final.status_code == 200
            assert [label(m) for m in sent(wire, a_port, "491 UPDATE")] == ["491 UPDATE"]
            assert [label(m) for m in sent(wire, b_port, "491 UPDATE")] == ["491 UPDATE"]
            a_updates = [cseq(m) for m in sent(wire, b_port, "UPDATE")]
            assert a_updates[1][0] == a_updates[0][0] + 1
            assert call.local_sdp == incoming.remote_sdp
            assert call.remote_sdp == incoming.local_sdp
            assert SessionDescription.parse(call.local_sdp or b"").media[0].port == 6300
            assert SessionDescription.parse(incoming.local_sdp or b"").media[0].port == 7300

    run(main())


def test_reinvite_ack_follows_route_set() -> None:
    from sipwright.aio.endpoint import _reinvite_ack
    from sipwright.message import make_response
    from sipwright.transaction import Destination

    def reinvite(ruri: str, *routes: str) -> Request:
        fields = [("Route", r) for r in routes]
        fields += [
            ("From", "<sip:a@127.0.0.1>;tag=a"),
            ("To", "<sip:b@127.0.0.1>;tag=b"),
            ("Call-ID", "c1"),
            ("CSeq", "7 INVITE"),
            ("Contact", "<sip:a@127.0.0.1:5062>"),
        ]
        return Request("INVITE", ruri, fields)

    fallback = Destination("127.0.0.1", 5999, "UDP")
    loose = reinvite("sip:b@127.0.0.1:5070", "<sip:127.0.0.1:5080;lr>")
    ok = make_response(loose, 200, headers=[("Contact", "<sip:b@127.0.0.1:5071>")])
    ack, hop = _reinvite_ack(loose, ok, 7, fallback)
    assert cseq(ack) == (7, "ACK") and str(ack.uri) == "sip:b@127.0.0.1:5071"
    assert ack.headers.getall("Route") == ["<sip:127.0.0.1:5080;lr>"]
    assert (hop.host, hop.port) == ("127.0.0.1", 5080)
    # §12.2.1.1 strict routing: the strict router is the Request-URI and the remote
    # target the last Route; the ACK keeps the former and puts the refreshed target last.
    strict = reinvite("sip:127.0.0.1:5090", "<sip:b@127.0.0.1:5070>")
    ok = make_response(strict, 200, headers=[("Contact", "<sip:b@127.0.0.1:5072>")])
    ack, hop = _reinvite_ack(strict, ok, 7, fallback)
    assert str(ack.uri) == "sip:127.0.0.1:5090" and (hop.host, hop.port) == ("127.0.0.1", 5090)
    assert ack.headers.getall("Route") == ["<sip:b@127.0.0.1:5072>"]
