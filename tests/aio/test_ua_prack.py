"""Reliable provisional responses (RFC 3262) between two sipwright UserAgents over UDP.

The wire is recorded (``wire`` fixture) and checked: Supported/Require 100rel, RSeq and
RAck values, CSeq numbers and To tags of the PRACKs. A lost PRACK is made by a lossy
:class:`ForkingProxy` with one target in the path (alice's outbound proxy).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from sipwright import Request, Response
from sipwright.aio.ua import CallFailed, CallState, IncomingCall, UserAgent
from sipwright.dialog import parse_rack, parse_rseq
from sipwright.transaction import TimerConfig

from .forking_proxy import ForkingProxy
from .ua_wire import ANSWER, TIMERS, Wire, bob_uri, cseq, label, next_call, run, two_uas


def _rseq(m: Request | Response) -> int:
    return parse_rseq(m.headers.get("RSeq") or "")


def _rack(m: Request | Response) -> tuple[int, int, str]:
    rack = parse_rack(m.headers.get("RAck") or "")
    return rack.rseq, rack.cseq, rack.method


def _to_tag(m: Request | Response) -> str | None:
    return m.to.tag if m.to is not None else None


@asynccontextmanager
async def via_lossy_proxy(
    drop: Callable[[Request | Response], bool], bob_timers: TimerConfig = TIMERS
) -> AsyncIterator[tuple[UserAgent, UserAgent, ForkingProxy]]:
    """alice -> lossy proxy (her outbound proxy, one target) -> bob."""
    async with (
        UserAgent("sip:bob@127.0.0.1:0", timers=bob_timers) as bob,
        ForkingProxy([str(bob.contact)], drop=drop) as proxy,
        UserAgent("sip:alice@127.0.0.1:0", timers=TIMERS, outbound_proxy=proxy.uri) as alice,
    ):
        yield alice, bob, proxy


def _no_trying(messages: list[Request | Response]) -> list[Request | Response]:
    return [m for m in messages if not label(m).startswith("100")]


def test_prack_reliable_180(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):

            async def callee() -> IncomingCall:
                incoming = await next_call(bob)
                assert incoming.supports_100rel
                assert await incoming.ringing(reliable=True)
                assert await asyncio.wait_for(incoming.pracked(), 2.0)
                assert await incoming.answer(ANSWER)
                await asyncio.wait_for(incoming.confirmed(), 2.0)
                return incoming

            task = asyncio.create_task(callee())
            call = await asyncio.wait_for(alice.call(bob_uri(bob)), 3.0)
            incoming = await asyncio.wait_for(task, 3.0)
            assert call.state is CallState.CONFIRMED and incoming.state is CallState.CONFIRMED
            assert (await asyncio.wait_for(call.bye(), 2.0)).status_code == 200
            assert await asyncio.wait_for(incoming.ended(), 2.0) == "remote BYE"

            a_port, b_port = alice.contact.port, bob.contact.port
            assert a_port is not None and b_port is not None
            to_bob = wire.to(b_port)
            to_alice = _no_trying(wire.to(a_port))
            assert [label(m) for m in to_bob] == ["INVITE", "PRACK", "ACK", "BYE"]
            assert [label(m) for m in to_alice] == [
                "180 INVITE",
                "200 PRACK",
                "200 INVITE",
                "200 BYE",
            ]
            invite, prack, ack, bye = to_bob
            ringing, prack_ok, ok, _ = to_alice
            assert "100rel" in invite.supported and "PRACK" in invite.allow
            assert "100rel" in ringing.require
            n = _rseq(ringing)
            assert 1 <= n <= 2**31 - 1
            assert _rack(prack) == (n, 1, "INVITE")
            assert [cseq(m) for m in (invite, prack, ack, bye)] == [
                (1, "INVITE"),
                (2, "PRACK"),
                (1, "ACK"),
                (3, "BYE"),
            ]
            assert cseq(prack_ok) == (2, "PRACK")
            tag = _to_tag(ringing)
            assert tag and {_to_tag(m) for m in (prack, prack_ok, ok, ack, bye)} == {tag}
            assert prack.call_id == invite.call_id
            # PRACK is an in-dialog request to the remote target (§12.2.1.1).
            assert isinstance(prack, Request) and ringing.contact
            assert str(prack.uri) == str(ringing.contact[0].uri)
            # The 2xx to INVITE advertises what bob handles (§13.3.1.4, §20.5, §20.37).
            assert "PRACK" in ok.allow and "100rel" in ok.supported
            assert "RSeq" not in ok.headers

    run(main())


def test_second_reliable_provisional_gets_next_rseq(wire: Wire) -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):

            async def on_call(incoming: IncomingCall) -> None:
                assert await incoming.ringing(reliable=True)
                # §3: the second waits for the first one's PRACK on its own.
                assert await incoming.progress(ANSWER, reliable=True)
                assert await incoming.pracked()
                await incoming.answer(ANSWER)

            bob.on_call = on_call
            call = await asyncio.wait_for(alice.call(bob_uri(bob)), 3.0)
            assert [r.status_code for r in call.provisional if r.status_code > 100] == [180, 183]
            assert len(call.pracks) == 2
            await asyncio.wait_for(call.bye(), 2.0)

            a_port, b_port = alice.contact.port, bob.contact.port
            assert a_port is not None and b_port is not None
            to_bob = wire.to(b_port)
            to_alice = _no_trying(wire.to(a_port))
            assert [label(m) for m in to_bob] == ["INVITE", "PRACK", "PRACK", "ACK", "BYE"]
            assert [label(m) for m in to_alice] == [
                "180 INVITE",
                "200 PRACK",
                "183 INVITE",
                "200 PRACK",
                "200 INVITE",
                "200 BYE",
            ]
            ringing, progress = to_alice[0], to_alice[2]
            n = _rseq(ringing)
            assert _rseq(progress) == n + 1
            assert progress.body == ANSWER
            _, prack1, prack2, ack, bye = to_bob
            assert _rack(prack1) == (n, 1, "INVITE") and cseq(prack1) == (2, "PRACK")
            assert _rack(prack2) == (n + 1, 1, "INVITE") and cseq(prack2) == (3, "PRACK")
            assert cseq(ack) == (1, "ACK") and cseq(bye) == (4, "BYE")

    run(main())


def test_lost_prack_retransmits_the_180_and_one_prack(wire: Wire) -> None:
    """Two PRACK datagrams are lost: bob re-sends the 180 (T1, 2·T1), alice does not
    PRACK the re-sent 180 again; the PRACK's own retransmission gets through."""

    async def main() -> None:
        lost: list[int] = []

        def drop(message: Request | Response) -> bool:
            if isinstance(message, Request) and message.method == "PRACK" and len(lost) < 2:
                lost.append(1)
                return True
            return False

        async with via_lossy_proxy(drop) as (alice, bob, proxy):

            async def on_call(incoming: IncomingCall) -> None:
                assert await incoming.ringing(reliable=True)
                assert await incoming.pracked()
                await incoming.answer(ANSWER)

            bob.on_call = on_call
            target = f"sip:bob@127.0.0.1:{proxy.address.port}"
            call = await asyncio.wait_for(alice.call(target), 4.0)
            await asyncio.wait_for(call.bye(), 2.0)

            b_port = bob.contact.port
            sent_by_bob = [m for m in wire.to(proxy.address.port)]
            ringings = [m for m in sent_by_bob if label(m) == "180 INVITE"]
            assert len(ringings) >= 2  # the first and at least one re-send
            assert {_rseq(m) for m in ringings} == {_rseq(ringings[0])}
            reliable_180s_at_alice = [m for p, m in proxy.sent if label(m) == "180 INVITE"]
            assert len(reliable_180s_at_alice) == len(ringings)
            # One PRACK transaction: alice's new PRACKs (not retransmissions).
            pracks = [m for m in wire.to(proxy.address.port) if label(m) == "PRACK"]
            assert len(pracks) == 1 and len(call.pracks) == 1
            assert len(proxy.dropped) == 2
            assert {m.via[0].branch for m in proxy.dropped} == {pracks[0].via[0].branch}
            forwarded = [m for p, m in proxy.sent if p == b_port and label(m) == "PRACK"]
            assert forwarded and _rack(forwarded[0]) == (_rseq(ringings[0]), 1, "INVITE")
            response = call.pracks[0][1]
            assert response is not None and response.status_code == 200

    run(main())


def test_prack_unknown_rack_481_and_bad_rack_400() -> None:
    async def main() -> None:
        async with two_uas() as (alice, bob):
            seen: list[IncomingCall] = []

            async def on_call(incoming: IncomingCall) -> None:
                seen.append(incoming)
                assert await incoming.ringing(reliable=True)

            bob.on_call = on_call
            call = alice.dial(bob_uri(bob))
            for _ in range(200):
                if call.pracks and call.pracks[0][1] is not None:
                    break
                await asyncio.sleep(0.01)
            dialog = call.dialog
            assert dialog is not None and dialog.is_early
            rseq = _rseq(call.provisional[-1])
            statuses = []
            for rack in (f"{rseq} 1 INVITE", f"{rseq + 7} 1 INVITE", "x 1 INVITE"):
                request, hop = alice._in_dialog_request(dialog, "PRACK", call._fallback)
                request.headers.add("RAck", rack)
                _, response = await asyncio.wait_for(alice.send(request, hop), 2.0)
                statuses.append(response.status_code)
            # Already PRACKed, unknown RSeq: 481 (§3); malformed RAck: 400.
            assert statuses == [481, 481, 400]
            assert await seen[0].answer(ANSWER)
            await asyncio.wait_for(call.answered(), 2.0)
            await asyncio.wait_for(call.bye(), 2.0)

    run(main())


def test_require_100rel_and_unsupported() -> None:
    """``Require: 100rel`` makes every 1xx reliable; a UA without 100rel answers 420."""

    async def main() -> None:
        async with two_uas() as (alice, bob):

            async def on_call(incoming: IncomingCall) -> None:
                assert await incoming.ringing()  # reliable anyway: the INVITE requires it
                await incoming.answer(ANSWER)

            bob.on_call = on_call
            call = await asyncio.wait_for(
                alice.call(bob_uri(bob), headers=(("Require", "100rel"),)), 3.0
            )
            ringing = [r for r in call.provisional if r.status_code == 180]
            assert ringing and "100rel" in ringing[0].require and len(call.pracks) == 1
            await asyncio.wait_for(call.bye(), 2.0)
        async with (
            UserAgent("sip:alice@127.0.0.1:0", timers=TIMERS) as alice,
            UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS, supported=()) as plain,
        ):
            with pytest.raises(CallFailed) as failed:
                await asyncio.wait_for(
                    alice.call(bob_uri(plain), headers=(("Require", "100rel"),)), 3.0
                )
            assert failed.value.status_code == 420
            assert failed.value.response.unsupported == ["100rel"]
            with pytest.raises(CallFailed) as failed:
                await asyncio.wait_for(
                    alice.call(bob_uri(plain), headers=(("Require", "a b"),)), 3.0
                )
            assert failed.value.status_code == 400
            assert "Require" in failed.value.response.reason
            options = await asyncio.wait_for(alice.options(bob_uri(plain)), 2.0)
            assert "PRACK" in options.allow and options.supported == []
            options = await asyncio.wait_for(
                plain.options(f"sip:127.0.0.1:{alice.contact.port}"), 2.0
            )
            assert "100rel" in options.supported and "SUBSCRIBE" in options.allow

    run(main())


def test_no_prack_gives_up_with_500() -> None:
    """No PRACK ever arrives: after 64·T1 the UAS answers the INVITE 500 (RFC 3262 §3)."""

    async def main() -> None:
        fast = dataclasses.replace(TIMERS, t1=0.01)
        async with via_lossy_proxy(lambda m: label(m) == "PRACK", fast) as (alice, bob, proxy):
            seen: list[IncomingCall] = []

            async def on_call(incoming: IncomingCall) -> None:
                seen.append(incoming)
                assert await incoming.ringing(reliable=True)
                assert not await incoming.pracked()

            bob.on_call = on_call
            target = f"sip:bob@127.0.0.1:{proxy.address.port}"
            with pytest.raises(CallFailed) as failed:
                await asyncio.wait_for(alice.call(target), 4.0)
            assert failed.value.status_code == 500
            assert seen[0].state is CallState.FAILED
            assert seen[0].end_reason == "no PRACK"
            ringings = [m for p, m in proxy.sent if label(m) == "180 INVITE"]
            assert len(ringings) >= 4 and len({_rseq(m) for m in ringings}) == 1

    run(main())


def test_answer_before_prack(wire: Wire) -> None:
    """A 2xx may overtake the PRACK (RFC 3262 §3): the 1xx is no longer re-sent and the
    late PRACK still gets its 200."""

    async def main() -> None:
        async with two_uas() as (alice, bob):
            seen: list[IncomingCall] = []

            async def on_call(incoming: IncomingCall) -> None:
                seen.append(incoming)
                assert await incoming.ringing(reliable=True)
                assert await incoming.answer(ANSWER)  # at once, PRACK or not

            bob.on_call = on_call
            call = await asyncio.wait_for(alice.call(bob_uri(bob)), 3.0)
            for _ in range(200):
                if call.pracks and call.pracks[0][1] is not None:
                    break
                await asyncio.sleep(0.01)
            response = call.pracks[0][1]
            assert response is not None and response.status_code == 200
            assert await asyncio.wait_for(seen[0].pracked(), 2.0)
            await asyncio.wait_for(call.bye(), 2.0)
            a_port = alice.contact.port
            assert a_port is not None
            labels = [label(m) for m in _no_trying(wire.to(a_port))]
            assert labels.count("180 INVITE") == 1 and "200 PRACK" in labels

    run(main())
