"""The server state machines against RFC 3261 Figures 7 and 8 (and RFC 6026 Figure 7).

Fake clock; exact RFC timer values (T1 = 0.5 s, T2 = 4 s, T4 = 5 s).
"""

from __future__ import annotations

import pytest
from txn_helpers import CLIENT, CLIENT_TCP, drain, make_request, run_timers, wire

from sipwright import Request
from sipwright.transaction import (
    AckReceived,
    Destination,
    Input,
    InviteServerTransaction,
    NonInviteServerTransaction,
    State,
    Terminated,
    TimedOut,
    TransactionStateError,
    TransportError,
)


def received(method: str, reliable: bool = False, **kw: object) -> Request:
    req = wire(make_request(method, transport="TCP" if reliable else "UDP", **kw))  # type: ignore[arg-type]
    assert isinstance(req, Request)
    return req


def ack_for(invite: Request, to_tag: str = "totag1", branch: str | None = None) -> Request:
    """The ACK a client sends for a response to ``invite`` (same branch for non-2xx)."""
    assert invite.via[0].branch is not None
    return received(
        "ACK",
        branch=branch or invite.via[0].branch,
        cseq=invite.cseq.number if invite.cseq else 1,
        to_tag=to_tag,
    )


def ist(reliable: bool = False) -> tuple[Request, InviteServerTransaction]:
    req = received("INVITE", reliable)
    return req, InviteServerTransaction(req, CLIENT_TCP if reliable else CLIENT, 0.0)


# ---------------------------------------------------------------------------
# INVITE server (Figure 7)
# ---------------------------------------------------------------------------


def test_invite_server_sends_100_trying_after_200ms() -> None:
    """§17.2.1: 100 Trying unless the TU answers within 200 ms."""
    _req, txn = ist()
    assert txn.state is State.PROCEEDING
    assert txn.messages_to_send() == []
    assert txn.get_timer() == 0.2
    sent = run_timers(txn, until=10.0)
    assert len(sent) == 1
    t, out = sent[0]
    assert t == 0.2 and out.message.status_code == 100  # type: ignore[union-attr]
    assert out.destination == Destination("client.test", 5060, "UDP")  # from the top Via
    assert out.message.to is not None and out.message.to.tag is None
    # A retransmitted INVITE gets the 100 again.
    txn.receive(received("INVITE"), 0.5)
    (again,) = txn.messages_to_send()
    assert again.message is out.message and again.retransmission
    assert txn.get_timer() is None


def test_invite_server_no_100_when_tu_answers_first() -> None:
    req, txn = ist()
    ringing = req.make_response(180, to_tag="t1")
    txn.send_response(ringing, 0.1)
    assert [o.message for o in txn.messages_to_send()] == [ringing]
    assert txn.get_timer() is None
    assert run_timers(txn, until=10.0) == []
    txn.receive(received("INVITE"), 0.5)  # retransmission → the 180 again
    assert [o.message for o in txn.messages_to_send()] == [ringing]


def test_invite_server_no_100_when_tu_sends_final_first() -> None:
    req, txn = ist(reliable=True)
    txn.send_response(req.make_response(486, to_tag="t1"), 0.05)
    outs = txn.messages_to_send()
    assert [o.message.status_code for o in outs] == [486]  # type: ignore[union-attr]
    assert outs[0].destination == CLIENT_TCP  # reliable: back over the connection


def test_invite_server_timer_g_and_h_udp() -> None:
    """§17.2.1: G at T1 doubling capped at T2; H at 64·T1 → timeout to the TU."""
    req, txn = ist()
    busy = req.make_response(486, to_tag="t1")
    txn.send_response(busy, 1.0)
    assert txn.state is State.COMPLETED
    txn.messages_to_send()
    sent = run_timers(txn, until=100.0)
    times = [t for t, _ in sent]
    assert times == [1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5]
    assert all(o.message is busy and o.retransmission for _, o in sent)
    assert txn.state is State.TERMINATED
    timeout, terminated = drain(txn)
    assert isinstance(timeout, TimedOut) and timeout.timer == "H" and timeout.response is None
    assert isinstance(terminated, Terminated)


def test_invite_server_ack_confirms_then_timer_i() -> None:
    req, txn = ist()
    busy = req.make_response(486, to_tag="totag1")
    txn.send_response(busy, 0.0)
    txn.messages_to_send()
    run_timers(txn, until=0.5)  # one G retransmission
    txn.receive(received("INVITE"), 0.6)  # retransmitted INVITE → final again
    assert [o.message for o in txn.messages_to_send()] == [busy]
    txn.receive(ack_for(req), 0.7)
    assert txn.state is State.CONFIRMED
    assert drain(txn) == []  # the non-2xx ACK is absorbed, never to the TU
    assert txn.timer_deadline(Input.TIMER_G) is None
    assert txn.timer_deadline(Input.TIMER_H) is None
    assert txn.get_timer() == pytest.approx(5.7)  # Timer I = T4
    txn.receive(ack_for(req), 1.0)  # ACK retransmission absorbed
    txn.receive(received("INVITE"), 1.0)  # so is a late INVITE
    assert txn.messages_to_send() == [] and drain(txn) == []
    run_timers(txn, until=100.0)
    assert txn.state is State.TERMINATED


def test_invite_server_reliable_no_g_and_i_zero() -> None:
    req, txn = ist(reliable=True)
    txn.send_response(req.make_response(500, to_tag="totag1"), 0.0)
    assert txn.timer_deadline(Input.TIMER_G) is None
    assert txn.get_timer() == 32.0  # only H
    txn.receive(ack_for(req), 0.1)
    assert txn.state is State.TERMINATED


def test_invite_server_accepted_state_rfc6026() -> None:
    req, txn = ist()
    ok = req.make_response(200, to_tag="totag1")
    txn.send_response(ok, 0.1)
    assert txn.state is State.ACCEPTED
    assert [o.message for o in txn.messages_to_send()] == [ok]
    assert txn.get_timer() == pytest.approx(32.1)  # Timer L, no Timer G
    txn.receive(received("INVITE"), 0.6)  # absorbed: the TU retransmits the 2xx
    assert txn.messages_to_send() == []
    txn.send_response(ok, 0.6)  # TU retransmission (§13.3.1.4) passes through
    assert [o.message for o in txn.messages_to_send()] == [ok]
    ack = ack_for(req)
    txn.receive(ack, 0.7)
    assert drain(txn) == [AckReceived(txn.key, ack, CLIENT)]
    with pytest.raises(TransactionStateError):
        txn.send_response(req.make_response(180, to_tag="totag1"), 0.8)
    run_timers(txn, until=100.0)
    assert txn.state is State.TERMINATED


def test_invite_server_tu_misuse_raises() -> None:
    req, txn = ist()
    txn.send_response(req.make_response(404, to_tag="x"), 0.0)
    with pytest.raises(TransactionStateError):
        txn.send_response(req.make_response(180, to_tag="x"), 0.1)


def test_invite_server_transport_error() -> None:
    req, txn = ist()
    txn.send_response(req.make_response(180, to_tag="x"), 0.0)
    txn.transport_error(0.1)
    err, terminated = drain(txn)
    assert isinstance(err, TransportError) and err.response is None
    assert isinstance(terminated, Terminated)


# ---------------------------------------------------------------------------
# Non-INVITE server (Figure 8)
# ---------------------------------------------------------------------------


def nist(reliable: bool = False) -> tuple[Request, NonInviteServerTransaction]:
    req = received("REGISTER", reliable)
    return req, NonInviteServerTransaction(req, CLIENT_TCP if reliable else CLIENT, 0.0)


def test_non_invite_server_full_path_udp() -> None:
    req, txn = nist()
    assert txn.state is State.TRYING and txn.get_timer() is None
    txn.receive(received("REGISTER"), 0.5)  # Trying absorbs retransmissions
    assert txn.messages_to_send() == []
    trying = req.make_response(100)
    txn.send_response(trying, 0.6)
    assert txn.state is State.PROCEEDING
    txn.receive(received("REGISTER"), 1.5)
    outs = txn.messages_to_send()
    assert [o.message for o in outs] == [trying, trying] and outs[1].retransmission
    ok = req.make_response(200, to_tag="t")
    txn.send_response(ok, 2.0)
    assert txn.state is State.COMPLETED
    assert txn.get_timer() == 34.0  # Timer J = 64·T1
    txn.receive(received("REGISTER"), 3.5)
    txn.send_response(req.make_response(500, to_tag="t"), 3.6)  # discarded (§17.2.2)
    assert [o.message for o in txn.messages_to_send()] == [ok, ok]
    assert run_timers(txn, until=100.0) == []
    assert txn.state is State.TERMINATED


def test_non_invite_server_final_from_trying_reliable_j_zero() -> None:
    req, txn = nist(reliable=True)
    txn.send_response(req.make_response(200, to_tag="t"), 0.1)
    assert txn.state is State.TERMINATED
    assert [type(e) for e in drain(txn)] == [Terminated]


def test_server_constructors_check_method() -> None:
    with pytest.raises(ValueError):
        InviteServerTransaction(received("OPTIONS"), CLIENT, 0.0)
    with pytest.raises(ValueError):
        NonInviteServerTransaction(received("INVITE"), CLIENT, 0.0)


@pytest.mark.parametrize("cls", [InviteServerTransaction, NonInviteServerTransaction])
def test_table_actions_exist(cls: type[InviteServerTransaction]) -> None:
    for _, actions in cls.TABLE.values():
        for action in actions:
            assert callable(getattr(cls, action))
