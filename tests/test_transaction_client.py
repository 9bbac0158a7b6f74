"""The client state machines against RFC 3261 Figures 5 and 6 (and RFC 6026 Figure 5).

Time is a fake clock stepped to ``get_timer()``; every retransmission time asserted
here is the RFC timer table's (T1 = 0.5 s, T2 = 4 s, T4 = 5 s).
"""

from __future__ import annotations

import pytest
from txn_helpers import SERVER, SERVER_TCP, drain, make_request, response_to, run_timers

from sipwright import Request
from sipwright.transaction import (
    Input,
    InviteClientTransaction,
    NonInviteClientTransaction,
    ResponseReceived,
    State,
    Terminated,
    TimedOut,
    TimerConfig,
    TransportError,
    build_ack,
)

# ---------------------------------------------------------------------------
# Timer configuration
# ---------------------------------------------------------------------------


def test_timer_table_defaults() -> None:
    """RFC 3261 Table 4 / Appendix A, plus RFC 6026's L and M."""
    c = TimerConfig()
    assert (c.t1, c.t2, c.t4) == (0.5, 4.0, 5.0)
    assert c.timer_a == c.timer_e == c.timer_g == 0.5
    assert c.timer_b == c.timer_f == c.timer_h == c.timer_l == c.timer_m == 32.0
    assert c.timer_d(False) == 32.0 and c.timer_d(True) == 0.0
    assert c.timer_i(False) == c.timer_k(False) == 5.0
    assert c.timer_i(True) == c.timer_k(True) == 0.0
    assert c.timer_j(False) == 32.0 and c.timer_j(True) == 0.0


def test_timer_config_derives_from_t1() -> None:
    c = TimerConfig(t1=1.0, t2=8.0)
    assert c.timer_b == c.timer_f == c.timer_h == c.timer_j(False) == 64.0
    with pytest.raises(ValueError):
        TimerConfig(t1=5.0, t2=4.0)


# ---------------------------------------------------------------------------
# INVITE client (Figure 5)
# ---------------------------------------------------------------------------


def invite_client(reliable: bool = False) -> tuple[Request, InviteClientTransaction]:
    req = make_request("INVITE", transport="TCP" if reliable else "UDP")
    txn = InviteClientTransaction(req, SERVER_TCP if reliable else SERVER, 0.0)
    return req, txn


def test_invite_udp_no_answer_retransmits_then_timer_b() -> None:
    """§17.1.1.2: Timer A at T1 doubling without cap; Timer B at 64·T1 → 408."""
    req, txn = invite_client()
    first = txn.messages_to_send()
    assert [o.message for o in first] == [req] and not first[0].retransmission
    assert txn.state is State.CALLING
    sent = run_timers(txn, until=100.0)
    times = [t for t, _ in sent]
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(o.retransmission and o.message is req for _, o in sent)
    assert all(o.destination == SERVER for _, o in sent)
    assert txn.retransmissions == 6
    assert txn.state is State.TERMINATED
    events = drain(txn)
    assert len(events) == 2
    timeout, terminated = events
    assert isinstance(timeout, TimedOut) and timeout.timer == "B"
    assert timeout.response is not None and timeout.response.status_code == 408
    assert isinstance(terminated, Terminated) and terminated.key == txn.key
    assert txn.get_timer() is None


def test_invite_timer_b_fires_exactly_at_32s() -> None:
    _, txn = invite_client()
    txn.messages_to_send()
    run_timers(txn, until=31.99)
    assert txn.state is State.CALLING
    assert txn.get_timer() == 32.0
    txn.handle_timer(32.0)
    assert txn.state is State.TERMINATED


def test_invite_reliable_never_retransmits() -> None:
    """Timer A is only for unreliable transports; B still bounds the wait."""
    _, txn = invite_client(reliable=True)
    assert len(txn.messages_to_send()) == 1
    assert txn.timer_deadline(Input.TIMER_A) is None
    assert txn.get_timer() == 32.0
    assert run_timers(txn, until=100.0) == []
    assert isinstance(drain(txn)[0], TimedOut)


def test_invite_provisional_stops_retransmissions_and_timer_b() -> None:
    req, txn = invite_client()
    txn.messages_to_send()
    run_timers(txn, until=0.5)
    ringing = response_to(req, 180)
    txn.receive(ringing, 0.7)
    assert txn.state is State.PROCEEDING
    assert drain(txn) == [ResponseReceived(txn.key, ringing)]
    assert txn.get_timer() is None  # Figure 5: no Timer A or B in Proceeding
    txn.receive(response_to(req, 183), 1.0)
    assert txn.state is State.PROCEEDING
    assert len(drain(txn)) == 1


def test_invite_non_2xx_builds_ack_per_17_1_1_3() -> None:
    req = make_request(
        "INVITE",
        routes=("<sip:p1.test;lr>", "<sip:p2.test;lr>"),
        cseq=7,
    )
    req.headers.add("Via", "SIP/2.0/UDP upstream.test;branch=z9hG4bKup")
    resp = response_to(req, 486, to_tag="busytag")
    ack = build_ack(req, resp)
    assert ack.method == "ACK"
    assert ack.uri_text == req.uri_text
    assert [str(v) for v in ack.via] == [str(req.via[0])]  # top Via only
    assert ack.via[0].branch == req.via[0].branch
    assert ack.call_id == req.call_id
    assert ack.headers.get("From") == req.headers.get("From")
    assert ack.to is not None and ack.to.tag == "busytag"
    assert ack.cseq is not None and (ack.cseq.number, ack.cseq.method) == (7, "ACK")
    assert ack.headers.getall("Route") == ["<sip:p1.test;lr>", "<sip:p2.test;lr>"]
    assert ack.body == b""


def test_invite_non_2xx_completed_timer_d_udp() -> None:
    req, txn = invite_client()
    txn.messages_to_send()
    busy = response_to(req, 486)
    txn.receive(busy, 1.0)
    assert txn.state is State.COMPLETED
    (ack_out,) = txn.messages_to_send()
    assert ack_out.message.method == "ACK" and ack_out.destination == SERVER  # type: ignore[union-attr]
    assert drain(txn) == [ResponseReceived(txn.key, busy)]
    assert txn.get_timer() == 33.0  # Timer D = 32 s, no Timer A/B left
    # A retransmitted final gets the same ACK again and does not reach the TU.
    txn.receive(response_to(req, 486), 2.0)
    (again,) = txn.messages_to_send()
    assert again.message is ack_out.message and again.retransmission
    assert drain(txn) == []
    run_timers(txn, until=100.0)
    assert txn.state is State.TERMINATED
    assert drain(txn) == [Terminated(txn.key)]


def test_invite_non_2xx_reliable_timer_d_is_zero() -> None:
    req, txn = invite_client(reliable=True)
    txn.messages_to_send()
    txn.receive(response_to(req, 603), 0.3)
    assert txn.state is State.TERMINATED
    assert [o.message.method for o in txn.messages_to_send()] == ["ACK"]  # type: ignore[union-attr]
    events = drain(txn)
    assert isinstance(events[0], ResponseReceived) and isinstance(events[1], Terminated)


def test_invite_2xx_accepted_state_rfc6026() -> None:
    """RFC 6026: 2xx → Accepted; no ACK from the transaction; 2xx retransmits to TU."""
    req, txn = invite_client()
    txn.messages_to_send()
    ok = response_to(req, 200)
    txn.receive(ok, 0.2)
    assert txn.state is State.ACCEPTED
    assert txn.messages_to_send() == []  # the TU ACKs a 2xx (§13.2.2.4)
    assert drain(txn) == [ResponseReceived(txn.key, ok)]
    assert txn.get_timer() == pytest.approx(32.2)  # Timer M = 64·T1
    again = response_to(req, 200)
    txn.receive(again, 1.0)
    forked = response_to(req, 200, to_tag="othertag")
    txn.receive(forked, 1.1)
    assert drain(txn) == [ResponseReceived(txn.key, again), ResponseReceived(txn.key, forked)]
    txn.receive(response_to(req, 180), 1.2)  # absorbed
    txn.receive(response_to(req, 486), 1.3)  # absorbed
    assert drain(txn) == [] and txn.messages_to_send() == []
    assert run_timers(txn, until=100.0) == []
    assert txn.state is State.TERMINATED


def test_invite_transport_error_is_503() -> None:
    _, txn = invite_client()
    txn.messages_to_send()
    txn.transport_error(0.1)
    events = drain(txn)
    assert isinstance(events[0], TransportError)
    assert events[0].response is not None and events[0].response.status_code == 503
    assert isinstance(events[1], Terminated)
    assert txn.get_timer() is None


# ---------------------------------------------------------------------------
# Non-INVITE client (Figure 6)
# ---------------------------------------------------------------------------


def nict(reliable: bool = False) -> tuple[Request, NonInviteClientTransaction]:
    req = make_request("OPTIONS", transport="TCP" if reliable else "UDP")
    txn = NonInviteClientTransaction(req, SERVER_TCP if reliable else SERVER, 0.0)
    return req, txn


def test_non_invite_timer_e_capped_at_t2_and_timer_f() -> None:
    """§17.1.2.2: E = 0.5, 1, 2, 4, 4, 4… (capped at T2); F = 64·T1 → 408."""
    _, txn = nict()
    assert len(txn.messages_to_send()) == 1
    times = [t for t, _ in run_timers(txn, until=100.0)]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    intervals = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert intervals == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert txn.retransmissions == 10
    timeout, terminated = drain(txn)
    assert isinstance(timeout, TimedOut) and timeout.timer == "F"
    assert timeout.response is not None and timeout.response.status_code == 408
    assert isinstance(terminated, Terminated)


def test_non_invite_proceeding_retransmits_every_t2() -> None:
    """§17.1.2.2: in Proceeding, Timer E fires and is reset to T2 each time."""
    req, txn = nict()
    txn.messages_to_send()
    run_timers(txn, until=0.5)  # one retransmission at 0.5; E next at 1.5
    txn.receive(response_to(req, 100), 0.6)
    assert txn.state is State.PROCEEDING
    assert txn.timer_deadline(Input.TIMER_E) == 1.5  # E keeps running
    times = [t for t, _ in run_timers(txn, until=100.0)]
    assert times == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert txn.state is State.TERMINATED  # Timer F still bounds Proceeding


def test_non_invite_final_completed_timer_k() -> None:
    req, txn = nict()
    txn.messages_to_send()
    ok = response_to(req, 200)
    txn.receive(ok, 0.3)
    assert txn.state is State.COMPLETED
    assert drain(txn) == [ResponseReceived(txn.key, ok)]
    assert txn.get_timer() == pytest.approx(5.3)  # K = T4, E and F stopped
    txn.receive(response_to(req, 200), 1.0)  # retransmission absorbed
    txn.receive(response_to(req, 500), 1.0)  # any final absorbed
    assert drain(txn) == [] and txn.messages_to_send() == []
    assert run_timers(txn, until=100.0) == []
    assert txn.state is State.TERMINATED


def test_non_invite_reliable_no_e_and_k_zero() -> None:
    req, txn = nict(reliable=True)
    txn.messages_to_send()
    assert txn.timer_deadline(Input.TIMER_E) is None
    assert txn.get_timer() == 32.0
    txn.receive(response_to(req, 404), 0.1)
    assert txn.state is State.TERMINATED
    assert [type(e) for e in drain(txn)] == [ResponseReceived, Terminated]


def test_non_invite_transport_error_is_503() -> None:
    _, txn = nict()
    txn.transport_error(0.0)
    event = drain(txn)[0]
    assert isinstance(event, TransportError)
    assert event.response is not None and event.response.status_code == 503


def test_client_constructors_check_method() -> None:
    with pytest.raises(ValueError):
        InviteClientTransaction(make_request("OPTIONS"), SERVER, 0.0)
    with pytest.raises(ValueError):
        NonInviteClientTransaction(make_request("INVITE"), SERVER, 0.0)
    with pytest.raises(ValueError):
        NonInviteClientTransaction(make_request("ACK"), SERVER, 0.0)


@pytest.mark.parametrize("cls", [InviteClientTransaction, NonInviteClientTransaction])
def test_table_actions_exist(cls: type[InviteClientTransaction]) -> None:
    for _, actions in cls.TABLE.values():
        for action in actions:
            assert callable(getattr(cls, action))


def test_tables_render_as_diagrams() -> None:
    from sipwright.transaction import (
        InviteServerTransaction,
        NonInviteServerTransaction,
        to_mermaid,
    )

    text = to_mermaid(InviteClientTransaction)
    assert "Calling --> Calling: Timer A / retransmit timer a" in text
    assert "Completed --> Completed: 300-699 received / resend ack" in text
    assert "Proceeding --> Accepted: 2xx received" in text
    server = to_mermaid(InviteServerTransaction)
    assert "Proceeding --> Proceeding: 100 Trying (200 ms) / send trying" in server
    assert "Completed --> Confirmed: ACK received" in server
    assert "Trying --> Completed: 2xx from TU" in to_mermaid(NonInviteServerTransaction)


def test_destination_normalises_transport() -> None:
    from sipwright.transaction import Destination

    assert Destination("h", 5060, "tcp") == Destination("h", 5060, "TCP")
    assert Destination("h", 5060, "tcp").reliable
    assert not Destination("h", 5060).reliable
