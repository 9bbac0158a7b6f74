"""Forked INVITEs at the UAC (RFC 3261 §12.1.2, §13.2.2.4) through a stateless forking
proxy (:mod:`forking_proxy`, §16.11) to two sipwright UserAgents, bob1 and bob2.

Checked on the wire: one early dialog per To tag, the proxy's derived branches, the
first 2xx confirming the call, and the ACK then BYE that end a second fork's 2xx.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sipwright import Request, Response
from sipwright.aio.ua import CallState, IncomingCall, UserAgent
from sipwright.dialog import parse_rack, parse_rseq

from .forking_proxy import ForkingProxy
from .ua_wire import ANSWER, TIMERS, Wire, branch, cseq, label, next_call, run, wait_until


def _tag(m: Request | Response) -> str | None:
    return m.to.tag if m.to is not None else None


@asynccontextmanager
async def forked(
    *, outbound: bool
) -> AsyncIterator[tuple[UserAgent, UserAgent, UserAgent, ForkingProxy]]:
    async with (
        UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob1,
        UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob2,
        ForkingProxy([str(bob1.contact), str(bob2.contact)]) as proxy,
        UserAgent(
            "sip:alice@127.0.0.1:0",
            timers=TIMERS,
            outbound_proxy=proxy.uri if outbound else None,
        ) as alice,
    ):
        yield alice, bob1, bob2, proxy


def test_second_2xx_is_acked_and_byed(wire: Wire) -> None:
    async def main() -> None:
        async with forked(outbound=False) as (alice, bob1, bob2, proxy):
            p_port = proxy.address.port
            ringing = asyncio.gather(next_call(bob1), next_call(bob2))
            call = alice.dial(f"sip:bob@127.0.0.1:{p_port}")
            in1, in2 = await asyncio.wait_for(ringing, 3.0)
            assert await in1.ringing() and await in2.ringing()
            await wait_until(lambda: len(call.early_dialogs) == 2)
            early = list(call.early_dialogs.values())
            assert len({d.call_id for d in early}) == 1
            assert len({d.remote_tag for d in early}) == 2
            assert all(d.is_early for d in early)
            assert in1.dialog is not None and in2.dialog is not None
            tag1, tag2 = in1.dialog.local_tag, in2.dialog.local_tag
            assert set(call.early_dialogs) == {tag1, tag2}

            # bob2 answers first: the call is confirmed on bob2's dialog.
            assert await in2.answer(ANSWER)
            await asyncio.wait_for(call.answered(), 2.0)
            assert call.dialog is not None and call.dialog.remote_tag == tag2
            await asyncio.wait_for(in2.confirmed(), 2.0)
            assert call.dialog.is_early is False and set(call.early_dialogs) == {tag1}

            # bob1 answers too: alice ACKs that 2xx and ends its dialog with BYE.
            assert await in1.answer(ANSWER)
            assert await asyncio.wait_for(in1.ended(), 2.0) == "remote BYE"
            assert in1.state is CallState.ENDED
            assert call.state is CallState.CONFIRMED and call.dialog.remote_tag == tag2
            assert not call.early_dialogs and len(call.extra_dialogs) == 1
            assert call.extra_dialogs[0].is_terminated
            assert [d.remote_tag for d in alice.dialogs] == [tag2]
            await asyncio.wait_for(call.bye(), 2.0)
            assert await asyncio.wait_for(in2.ended(), 2.0) == "remote BYE"

            b1, b2 = bob1.contact.port, bob2.contact.port
            assert b1 is not None and b2 is not None
            # What alice sent: the INVITE to the proxy, then straight to the Contacts.
            invite = next(m for m in wire.to(p_port) if label(m) == "INVITE")
            from_bob1 = [m for m in wire.to(b1) if isinstance(m, Request)]
            from_alice_to_b2 = [m for m in wire.to(b2) if isinstance(m, Request)]
            assert [label(m) for m in from_bob1] == ["ACK", "BYE"]
            assert [label(m) for m in from_alice_to_b2] == ["ACK", "BYE"]
            ack1, bye1 = from_bob1
            assert cseq(ack1) == (1, "ACK") and cseq(bye1) == (2, "BYE")
            assert _tag(ack1) == _tag(bye1) == tag1
            assert all(_tag(m) == tag2 for m in from_alice_to_b2)
            assert {m.call_id for m in (*from_bob1, *from_alice_to_b2)} == {invite.call_id}
            # The proxy forked the INVITE with one derived branch per target (§16.11).
            forks = [(p, m) for p, m in proxy.sent if label(m) == "INVITE"]
            assert sorted(p for p, _ in forks) == sorted([b1, b2])
            fork_branches = {branch(m) for _, m in forks}
            assert len(fork_branches) == 2 and branch(invite) not in fork_branches
            assert all(len(m.via) == 2 and m.via[1].branch == branch(invite) for _, m in forks)
            assert all(m.max_forwards == 69 for _, m in forks)
            # Each bob answered 180 and 200 with its own tag; alice got them with one Via.
            upstream = [m for p, m in proxy.sent if isinstance(m, Response) and m.status_code > 100]
            assert sorted((m.status_code, _tag(m)) for m in upstream) == sorted(
                [(180, tag1), (180, tag2), (200, tag1), (200, tag2)]
            )
            assert all(len(m.via) == 1 and branch(m) == branch(invite) for m in upstream)

    run(main())


def test_reliable_provisionals_from_two_forks(wire: Wire) -> None:
    async def main() -> None:
        async with forked(outbound=True) as (alice, bob1, bob2, proxy):
            p_port = proxy.address.port
            ringing = asyncio.gather(next_call(bob1), next_call(bob2))
            call = alice.dial(f"sip:bob@127.0.0.1:{p_port}")
            in1, in2 = await asyncio.wait_for(ringing, 3.0)

            async def ring(incoming: IncomingCall, status: int) -> bool:
                sdp = ANSWER if status == 183 else None
                assert await incoming.ringing(reliable=True, status=status, sdp=sdp)
                return await asyncio.wait_for(incoming.pracked(), 2.0)

            assert await asyncio.gather(ring(in1, 180), ring(in2, 183)) == [True, True]
            assert len(call.pracks) == 2 and len(call.early_dialogs) == 2
            assert in1.dialog is not None and in2.dialog is not None
            tag1, tag2 = in1.dialog.local_tag, in2.dialog.local_tag

            assert await in1.answer(ANSWER)
            await asyncio.wait_for(call.answered(), 2.0)
            assert call.dialog is not None and call.dialog.remote_tag == tag1
            assert await in2.answer(ANSWER)
            assert await asyncio.wait_for(in2.ended(), 2.0) == "remote BYE"
            await asyncio.wait_for(call.bye(), 2.0)
            assert await asyncio.wait_for(in1.ended(), 2.0) == "remote BYE"

            b1, b2 = bob1.contact.port, bob2.contact.port
            # alice's PRACKs went through the proxy (her outbound proxy, Route popped).
            pracks = [m for m in wire.to(p_port) if label(m) == "PRACK"]
            assert len(pracks) == 2
            assert all(isinstance(m, Request) and m.route for m in pracks)
            reliable = {
                _tag(m): m
                for p, m in proxy.sent
                if isinstance(m, Response) and m.status_code in (180, 183)
            }
            assert set(reliable) == {tag1, tag2}
            for prack in pracks:
                one = reliable[_tag(prack)]
                rseq = parse_rseq(one.headers.get("RSeq") or "")
                rack = parse_rack(prack.headers.get("RAck") or "")
                assert (rack.rseq, rack.cseq, rack.method) == (rseq, 1, "INVITE")
                assert cseq(prack) == (2, "PRACK")  # each early dialog has its own CSeq
            forwarded = [(p, m) for p, m in proxy.sent if label(m) == "PRACK"]
            assert sorted(p for p, _ in forwarded) == sorted([b1, b2])
            assert all(not m.route and m.max_forwards == 69 for _, m in forwarded)
            assert {(p, _tag(m)) for p, m in forwarded} == {(b1, tag1), (b2, tag2)}
            # The BYE to the late fork (bob2) also went by the proxy to bob2's Contact.
            byes = [(p, m) for p, m in proxy.sent if label(m) == "BYE"]
            assert {(p, _tag(m), cseq(m)) for p, m in byes} == {
                (b2, tag2, (3, "BYE")),
                (b1, tag1, (3, "BYE")),
            }

    run(main())


def test_cancel_reaches_both_forks(wire: Wire) -> None:
    async def main() -> None:
        async with forked(outbound=False) as (alice, bob1, bob2, proxy):
            ringing = asyncio.gather(next_call(bob1), next_call(bob2))
            call = alice.dial(f"sip:bob@127.0.0.1:{proxy.address.port}")
            in1, in2 = await asyncio.wait_for(ringing, 3.0)
            assert await in1.ringing() and await in2.ringing()
            await wait_until(lambda: len(call.early_dialogs) == 2)
            final = await asyncio.wait_for(call.cancel(), 3.0)
            assert final is not None and final.status_code == 487
            assert call.state is CallState.FAILED and not call.early_dialogs
            for incoming in (in1, in2):
                await asyncio.wait_for(incoming.ended(), 2.0)
                assert incoming.cancelled.is_set() and incoming.state is CallState.FAILED
            # Each fork's CANCEL and ACK carry that fork's INVITE branch (§16.11, §9.1).
            await wait_until(lambda: sum(label(m) == "ACK" for _, m in proxy.sent) >= 2)
            by_port: dict[int, list[Request]] = {}
            for port, m in proxy.sent:
                if isinstance(m, Request):
                    by_port.setdefault(port, []).append(m)
            assert sorted(by_port) == sorted([bob1.contact.port, bob2.contact.port])
            for messages in by_port.values():
                invite, cancel, ack = messages[:3]
                assert [m.method for m in (invite, cancel, ack)] == ["INVITE", "CANCEL", "ACK"]
                assert branch(invite) == branch(cancel) == branch(ack)
            assert len(alice.dialogs) == 0 and len(bob1.dialogs) == 0 and len(bob2.dialogs) == 0

    run(main())
