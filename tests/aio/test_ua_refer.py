"""Blind transfer with REFER (RFC 3515): three sipwright UAs on 127.0.0.1 UDP.

Alice calls Bob; Bob refers Alice to Carol. Every message on the wire is recorded
(:class:`~tests.aio.ua_wire.Wire`) and checked: the REFER inside the call's dialog, its
202, the NOTIFYs of the implicit subscription with their sipfrag bodies, Alice's new
INVITE to Carol, Bob's BYE.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from sipwright import Request, Response
from sipwright.aio.call import CallState, IncomingCall, OutgoingCall, TransferFailed
from sipwright.aio.refer import Referral
from sipwright.aio.ua import UserAgent
from sipwright.refer import parse_sipfrag

from .ua_wire import ANSWER, TIMERS, Wire, cseq, label, next_call, run, wait_until


@asynccontextmanager
async def three_uas() -> AsyncIterator[tuple[UserAgent, UserAgent, UserAgent]]:
    async with (
        UserAgent("sip:alice@127.0.0.1:0", timers=TIMERS) as alice,
        UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob,
        UserAgent("sip:carol@127.0.0.1:0", timers=TIMERS) as carol,
    ):
        yield alice, bob, carol


def uri(ua: UserAgent) -> str:
    return f"sip:{ua.contact.user}@127.0.0.1:{ua.contact.port}"


async def answer(ua: UserAgent) -> IncomingCall:
    incoming = await next_call(ua)
    assert await incoming.answer(ANSWER)
    await asyncio.wait_for(incoming.confirmed(), 2.0)
    return incoming


async def reject(ua: UserAgent, status: int) -> IncomingCall:
    incoming = await next_call(ua)
    assert await incoming.reject(status)
    return incoming


async def alice_calls_bob(alice: UserAgent, bob: UserAgent) -> tuple[OutgoingCall, IncomingCall]:
    callee = asyncio.create_task(answer(bob))
    call = await asyncio.wait_for(alice.call(uri(bob)), 3.0)
    return call, await asyncio.wait_for(callee, 3.0)


def requests(messages: list[Request | Response], method: str) -> list[Request]:
    return [m for m in messages if isinstance(m, Request) and m.method == method]


def test_blind_transfer(wire: Wire) -> None:
    async def main() -> None:
        async with three_uas() as (alice, bob, carol):
            a_call, b_call = await alice_calls_bob(alice, bob)
            seen: list[Referral] = []

            async def accept(referral: Referral) -> bool:
                seen.append(referral)
                return True

            alice.on_refer = accept
            carol_answers = asyncio.create_task(answer(carol))
            transfer = await asyncio.wait_for(b_call.refer(uri(carol), referred_by=uri(bob)), 3.0)
            assert transfer.response is not None and transfer.response.status_code == 202
            assert await transfer.outcome(timeout=5.0) == 200
            assert transfer.progress == [100, 200]
            assert transfer.subscription_state == "terminated"
            c_call = await asyncio.wait_for(carol_answers, 3.0)
            # The transferor hangs up once the transfer succeeded (its choice, §2.4.4).
            assert (await asyncio.wait_for(b_call.bye(), 2.0)).status_code == 200
            assert await asyncio.wait_for(a_call.ended(), 2.0) == "remote BYE"

            referral = seen[0]
            assert a_call.referrals == [referral]
            new_call = await asyncio.wait_for(referral.completed(), 2.0)
            assert new_call is not None and new_call is referral.call
            assert new_call.state is CallState.CONFIRMED
            assert c_call.state is CallState.CONFIRMED
            assert referral.referred_by is not None
            assert str(referral.referred_by.uri) == uri(bob)

            a_port, b_port, c_port = (ua.contact.port for ua in (alice, bob, carol))
            to_alice, to_bob, to_carol = wire.to(a_port), wire.to(b_port), wire.to(c_port)
            # The REFER: in the call's dialog, Bob's first request (CSeq 1 in his
            # direction, then the BYE at 2), Refer-To Carol.
            [refer] = requests(to_alice, "REFER")
            assert refer.call_id == a_call.call_id
            assert refer.from_ is not None and refer.to is not None
            assert a_call.dialog is not None and b_call.dialog is not None
            assert refer.from_.tag == b_call.dialog.id.local_tag == a_call.dialog.id.remote_tag
            assert refer.to.tag == a_call.dialog.id.local_tag
            assert refer.headers.get("Refer-To") == f"<{uri(carol)}>"
            assert refer.headers.get("Referred-By") == f"<{uri(bob)}>"
            assert refer.headers.get("Contact") is not None
            [bye] = requests(to_alice, "BYE")
            assert cseq(refer) == (1, "REFER") and cseq(bye) == (2, "BYE")
            assert bye.from_ is not None and bye.from_.tag == refer.from_.tag
            assert "202 REFER" in [label(m) for m in to_bob]

            # Alice's NOTIFYs: Event refer;id=<REFER CSeq>, sipfrag bodies, her CSeq.
            notifies = requests(to_bob, "NOTIFY")
            assert len(notifies) == 2
            for n in notifies:
                assert n.call_id == refer.call_id
                assert n.headers.get("Event") == "refer;id=1"
                assert n.headers.get("Content-Type") == "message/sipfrag;version=2.0"
            assert notifies[0].body == b"SIP/2.0 100 Trying\r\n"
            assert notifies[0].headers.get("Subscription-State") == "active;expires=60"
            assert parse_sipfrag(notifies[1].body).status_code == 200
            assert notifies[1].headers.get("Subscription-State") == ("terminated;reason=noresource")
            invite_cseq = cseq(a_call.invite)[0]
            assert [cseq(n)[0] for n in notifies] == [invite_cseq + 1, invite_cseq + 2]
            assert [label(m) for m in to_alice].count("200 NOTIFY") == 2

            # Alice's INVITE to Carol: a new call (new Call-ID), Referred-By copied.
            [invite] = requests(to_carol, "INVITE")
            assert invite.call_id != refer.call_id
            assert invite.call_id == new_call.call_id == c_call.call_id
            assert invite.headers.get("Referred-By") == f"<{uri(bob)}>"

            # Order on the wire: REFER, 202, NOTIFY 100, INVITE, NOTIFY 200, BYE.
            order = [s.message for s in wire.sent if not s.retransmission]
            assert (
                order.index(refer)
                < order.index(notifies[0])
                < order.index(invite)
                < order.index(notifies[1])
                < order.index(bye)
            )
            await asyncio.wait_for(new_call.bye(), 2.0)

    run(main())


def test_transfer_target_busy(wire: Wire) -> None:
    async def main() -> None:
        async with three_uas() as (alice, bob, carol):
            a_call, b_call = await alice_calls_bob(alice, bob)
            carol_rejects = asyncio.create_task(reject(carol, 486))
            transfer = await asyncio.wait_for(b_call.refer(uri(carol)), 3.0)
            assert await transfer.outcome(timeout=5.0) == 486
            assert transfer.progress == [100, 486]
            assert transfer.final is not None and transfer.final.reason == "Busy Here"
            await asyncio.wait_for(carol_rejects, 2.0)
            referral = a_call.referrals[0]
            assert await asyncio.wait_for(referral.completed(), 2.0) is None
            # The original call stays up.
            assert a_call.state is CallState.CONFIRMED and b_call.state is CallState.CONFIRMED
            notifies = requests(wire.to(bob.contact.port), "NOTIFY")
            assert notifies[-1].body == b"SIP/2.0 486 Busy Here\r\n"
            assert "terminated" in (notifies[-1].headers.get("Subscription-State") or "")
            # No Referred-By in the REFER: none in the INVITE either.
            [invite] = requests(wire.to(carol.contact.port), "INVITE")
            assert invite.headers.get("Referred-By") is None
            assert (await asyncio.wait_for(a_call.bye(), 2.0)).status_code == 200

    run(main())


def test_refer_without_or_with_two_refer_to_is_400(wire: Wire) -> None:
    async def main() -> None:
        async with three_uas() as (alice, bob, _carol):
            a_call, b_call = await alice_calls_bob(alice, bob)
            dialog = b_call.dialog
            assert dialog is not None
            bare, hop = bob._in_dialog_request(dialog, "REFER", b_call._fallback)
            _, response = await asyncio.wait_for(bob.send(bare, hop), 2.0)
            assert response.status_code == 400
            assert "Refer-To" in response.reason
            with pytest.raises(TransferFailed) as info:
                await asyncio.wait_for(
                    b_call.refer(
                        "sip:carol@127.0.0.1:9", headers=(("Refer-To", "<sip:x@127.0.0.1:9>"),)
                    ),
                    2.0,
                )
            assert info.value.status_code == 400
            assert a_call.referrals == [] and b_call.transfers == []
            assert requests(wire.to(bob.contact.port), "NOTIFY") == []
            assert a_call.state is CallState.CONFIRMED

    run(main())


def test_refer_refused_by_hook(wire: Wire) -> None:
    async def main() -> None:
        async with three_uas() as (alice, bob, carol):
            a_call, b_call = await alice_calls_bob(alice, bob)
            asked: list[str] = []

            async def refuse(referral: Referral) -> bool:
                asked.append(str(referral.refer_to.uri))
                return False

            a_call.on_refer = refuse
            with pytest.raises(TransferFailed) as info:
                await asyncio.wait_for(b_call.refer(uri(carol)), 2.0)
            assert info.value.status_code == 603
            assert asked == [uri(carol)]
            assert wire.to(carol.contact.port) == []
            assert requests(wire.to(bob.contact.port), "NOTIFY") == []
            assert a_call.state is CallState.CONFIRMED

    run(main())


def test_stray_notify_in_call(wire: Wire) -> None:
    """A NOTIFY in a call matching no REFER of ours: 481; another event package: 489."""

    async def main() -> None:
        async with three_uas() as (alice, bob, _carol):
            a_call, _b_call = await alice_calls_bob(alice, bob)
            dialog = a_call.dialog
            assert dialog is not None
            notify, hop = alice._in_dialog_request(dialog, "NOTIFY", a_call._fallback)
            notify.headers.add("Event", "refer;id=7")
            notify.headers.add("Subscription-State", "active")
            _, response = await asyncio.wait_for(alice.send(notify, hop), 2.0)
            assert response.status_code == 481
            other, hop = alice._in_dialog_request(dialog, "NOTIFY", a_call._fallback)
            other.headers.add("Event", "dialog")
            other.headers.add("Subscription-State", "active")
            _, response = await asyncio.wait_for(alice.send(other, hop), 2.0)
            assert response.status_code == 489
            await wait_until(lambda: len(requests(wire.to(bob.contact.port), "NOTIFY")) == 2)
            assert a_call.state is CallState.CONFIRMED

    run(main())
