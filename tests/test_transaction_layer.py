"""TransactionLayer: matching (§17.1.3, §17.2.3 with the RFC 2543 fallback), the timer
heap, stray responses, counters, and a client layer talking to a server layer."""

from __future__ import annotations

import pytest
from txn_helpers import CLIENT, SERVER, drain, make_request, response_to, run_timers, wire

from sipwright import Request, Response, SequentialIdFactory
from sipwright.transaction import (
    AckReceived,
    ClientKey,
    Destination,
    LegacyServerKey,
    RequestReceived,
    ResponseReceived,
    ServerKey,
    State,
    StrayResponse,
    Terminated,
    TimedOut,
    TransactionLayer,
    TransactionStateError,
    TransportError,
    client_key,
    server_key,
)


def req(method: str = "INVITE", **kw: object) -> Request:
    parsed = wire(make_request(method, **kw))  # type: ignore[arg-type]
    assert isinstance(parsed, Request)
    return parsed


def request_events(layer: TransactionLayer) -> list[RequestReceived]:
    return [e for e in drain(layer) if isinstance(e, RequestReceived)]


# ---------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------


def test_server_key_branch_sent_by_method() -> None:
    key = server_key(req("INVITE", via_host="Client.Test"))
    assert key == ServerKey("z9hG4bKtest1", "client.test:5060", "INVITE")
    assert server_key(req("ACK")) == key  # ACK matches the INVITE
    assert server_key(req("CANCEL")).method == "CANCEL"


def test_client_key_branch_and_cseq_method() -> None:
    r = req("INVITE")
    assert client_key(r) == ClientKey("z9hG4bKtest1", "INVITE")
    assert client_key(response_to(r, 180)) == client_key(r)


def test_legacy_key_without_magic_cookie() -> None:
    key = server_key(req("INVITE", branch=None))
    assert isinstance(key, LegacyServerKey)
    assert key.call_id == "call-1@client.test" and key.cseq_number == 1
    assert key != server_key(req("INVITE", branch=None, from_tag="other"))
    assert key != server_key(req("INVITE", branch=None, uri="sip:carol@server.test"))
    assert key != server_key(req("INVITE", branch=None, via_port=5070))
    # An old-style (cookie-less) branch is part of the top Via, so it counts too.
    assert key != server_key(req("INVITE", branch="oldstyle1"))


# ---------------------------------------------------------------------------
# Server-side matching
# ---------------------------------------------------------------------------


def test_retransmission_matches_same_transaction() -> None:
    layer = TransactionLayer()
    layer.receive(req("OPTIONS"), CLIENT, None, 0.0)
    layer.receive(req("OPTIONS"), CLIENT, None, 0.5)
    assert len(request_events(layer)) == 1
    assert layer.active == 1 and layer.stats.server_transactions == 1


def test_same_branch_different_sent_by_are_different_transactions() -> None:
    layer = TransactionLayer()
    layer.receive(req("OPTIONS"), CLIENT, None, 0.0)
    layer.receive(req("OPTIONS", via_host="other.test"), CLIENT, None, 0.0)
    layer.receive(req("OPTIONS", via_port=5070), CLIENT, None, 0.0)
    assert len(request_events(layer)) == 3


def test_cancel_is_its_own_transaction_and_points_at_invite() -> None:
    layer = TransactionLayer()
    layer.receive(req("INVITE"), CLIENT, None, 0.0)
    layer.receive(req("CANCEL"), CLIENT, None, 0.1)
    invite_ev, cancel_ev = request_events(layer)
    assert invite_ev.key != cancel_ev.key
    assert cancel_ev.cancels == invite_ev.key
    assert invite_ev.cancels is None
    # The TU answers both: 200 to CANCEL, 487 to the INVITE (§9.2).
    layer.send_response(cancel_ev.request.make_response(200, to_tag="t"), 0.2)
    layer.send_response(invite_ev.request.make_response(487, to_tag="t"), 0.2)
    codes = sorted(o.message.status_code for o in layer.messages_to_send())  # type: ignore[union-attr]
    assert codes == [200, 487]
    # A CANCEL with no matching INVITE still gets its transaction.
    layer.receive(req("CANCEL", branch="z9hG4bKnone"), CLIENT, None, 0.3)
    (lone,) = request_events(layer)
    assert lone.cancels is None


def test_ack_for_non_2xx_matches_invite_server_transaction() -> None:
    layer = TransactionLayer()
    layer.receive(req("INVITE"), CLIENT, None, 0.0)
    (ev,) = request_events(layer)
    layer.send_response(ev.request.make_response(486, to_tag="totag1"), 0.1)
    layer.receive(req("ACK", to_tag="totag1"), CLIENT, None, 0.2)
    txn = layer.transaction(ev.key)
    assert txn is not None and txn.state is State.CONFIRMED
    assert drain(layer) == []  # absorbed, no event, no new transaction
    assert layer.stats.server_transactions == 1


def test_ack_for_2xx_with_new_branch_goes_to_tu_without_transaction() -> None:
    layer = TransactionLayer()
    layer.receive(req("INVITE"), CLIENT, None, 0.0)
    (ev,) = request_events(layer)
    layer.send_response(ev.request.make_response(200, to_tag="totag1"), 0.1)
    ack = req("ACK", branch="z9hG4bKack2xx", to_tag="totag1")
    layer.receive(ack, CLIENT, None, 0.2)
    assert drain(layer) == [AckReceived(None, ack, CLIENT)]
    assert layer.active == 1  # only the Accepted INVITE transaction


def test_rfc2543_retransmission_and_ack_matching() -> None:
    layer = TransactionLayer()
    layer.receive(req("INVITE", branch=None), CLIENT, None, 0.0)
    (ev,) = request_events(layer)
    assert isinstance(ev.key, LegacyServerKey)
    layer.receive(req("INVITE", branch=None), CLIENT, None, 0.3)  # retransmission
    assert request_events(layer) == []
    layer.send_response(ev.request.make_response(404, to_tag="nf"), 0.4, key=ev.key)
    # ACK with a different To tag belongs to no transaction (goes to TU as 2xx ACK).
    stray_ack = req("ACK", branch=None, to_tag="wrong")
    layer.receive(stray_ack, CLIENT, None, 0.5)
    assert drain(layer) == [AckReceived(None, stray_ack, CLIENT)]
    layer.receive(req("ACK", branch=None, to_tag="nf"), CLIENT, None, 0.6)
    txn = layer.transaction(ev.key)
    assert txn is not None and txn.state is State.CONFIRMED
    # A different From tag is another transaction.
    layer.receive(req("INVITE", branch=None, from_tag="zz"), CLIENT, None, 0.7)
    assert len(request_events(layer)) == 1


def test_send_response_without_key_needs_rfc3261_branch() -> None:
    layer = TransactionLayer()
    layer.receive(req("OPTIONS", branch=None), CLIENT, None, 0.0)
    (ev,) = request_events(layer)
    with pytest.raises(TransactionStateError):
        layer.send_response(ev.request.make_response(200, to_tag="t"), 0.1)


def test_unmatchable_messages_are_dropped() -> None:
    layer = TransactionLayer()
    layer.receive(Request("OPTIONS", "sip:x@y.test", [("Max-Forwards", "70")]), CLIENT, None, 0)
    layer.receive(Response(200, "OK", [("CSeq", "1 OPTIONS")]), SERVER, None, 0.0)
    assert layer.stats.dropped == 2 and drain(layer) == []


# ---------------------------------------------------------------------------
# Client-side matching
# ---------------------------------------------------------------------------


def test_response_matching_and_stray() -> None:
    layer = TransactionLayer()
    invite = req("INVITE")
    key = layer.send_request(invite, SERVER, None, 0.0)
    cancel = req("CANCEL")
    cancel_key = layer.send_request(cancel, SERVER, None, 0.1)
    assert key != cancel_key and key.branch == cancel_key.branch
    layer.messages_to_send()
    # 200 to the CANCEL goes to the CANCEL transaction only.
    layer.receive(response_to(cancel, 200), SERVER, None, 0.2)
    assert next(e for e in drain(layer) if isinstance(e, ResponseReceived)).key == cancel_key
    txn = layer.transaction(key)
    assert txn is not None and txn.state is State.CALLING
    # Response with an unknown branch, or a known branch and wrong method, is stray.
    other = response_to(req("INVITE", branch="z9hG4bKunknown"), 200)
    layer.receive(other, SERVER, None, 0.3)
    wrong_method = response_to(req("OPTIONS"), 200)
    layer.receive(wrong_method, SERVER, None, 0.3)
    assert drain(layer) == [StrayResponse(other, SERVER), StrayResponse(wrong_method, SERVER)]
    assert layer.stats.stray_responses == 2


def test_send_request_fills_missing_branch_from_id_factory() -> None:
    layer = TransactionLayer(ids=SequentialIdFactory("x"))
    r = req("OPTIONS", branch=None)
    key = layer.send_request(r, SERVER, None, 0.0)
    assert key == ClientKey("z9hG4bKx1", "OPTIONS")
    assert r.via[0].branch == "z9hG4bKx1"
    with pytest.raises(ValueError):
        layer.send_request(req("OPTIONS", branch="oldstyle"), SERVER, None, 0.0)
    with pytest.raises(ValueError):
        layer.send_request(req("ACK"), SERVER, None, 0.0)
    with pytest.raises(TransactionStateError):
        layer.send_request(req("OPTIONS", branch="z9hG4bKx1"), SERVER, None, 0.0)


# ---------------------------------------------------------------------------
# Timer heap, removal, counters, transport errors
# ---------------------------------------------------------------------------


def test_heap_gives_earliest_deadline_and_removes_terminated() -> None:
    layer = TransactionLayer()
    layer.send_request(req("OPTIONS", branch="z9hG4bKa"), SERVER, None, 0.0)
    layer.send_request(req("INVITE", branch="z9hG4bKb"), SERVER, None, 0.2)
    tcp = Destination("server.test", 5060, "TCP")
    layer.send_request(req("OPTIONS", branch="z9hG4bKc", transport="TCP"), tcp, None, 0.1)
    assert layer.get_timer() == 0.5
    assert len(layer.messages_to_send()) == 3  # the first sends
    sent = run_timers(layer, until=100.0)
    a_times = [t for t, o in sent if o.message.via[0].branch == "z9hG4bKa"]
    b_times = [t for t, o in sent if o.message.via[0].branch == "z9hG4bKb"]
    assert a_times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert b_times == pytest.approx([0.7, 1.7, 3.7, 7.7, 15.7, 31.7])
    assert not any(o.message.via[0].branch == "z9hG4bKc" for _, o in sent)
    assert layer.active == 0 and layer.get_timer() is None
    assert layer.stats.retransmissions == 16
    timeouts = [e for e in drain(layer) if isinstance(e, TimedOut)]
    assert sorted(e.timer for e in timeouts) == ["B", "F", "F"]


def test_rescheduling_is_lazy_and_correct() -> None:
    layer = TransactionLayer()
    r = req("OPTIONS")
    layer.send_request(r, SERVER, None, 0.0)
    layer.receive(response_to(r, 200), SERVER, None, 0.1)  # E/F replaced by K at 5.1
    assert layer.get_timer() == pytest.approx(5.1)
    layer.handle_timer(5.1)
    assert layer.active == 0 and layer.get_timer() is None
    assert isinstance(drain(layer)[-1], Terminated)


def test_transport_error_through_layer() -> None:
    layer = TransactionLayer()
    key = layer.send_request(req("OPTIONS"), SERVER, None, 0.0)
    (out,) = layer.messages_to_send()
    assert out.key == key
    layer.transport_error(key, 0.01)
    err, term = drain(layer)
    assert isinstance(err, TransportError) and err.response is not None
    assert err.response.status_code == 503 and isinstance(term, Terminated)
    layer.transport_error(key, 0.02)  # unknown key: ignored
    assert layer.active == 0


# ---------------------------------------------------------------------------
# Two layers over a perfect wire
# ---------------------------------------------------------------------------


def test_client_and_server_layers_complete_an_invite() -> None:
    uac, uas = TransactionLayer(), TransactionLayer()
    invite = req("INVITE")
    key = uac.send_request(invite, SERVER, None, 0.0)

    def deliver(src: TransactionLayer, dst: TransactionLayer, frm: Destination, t: float) -> None:
        for data, _ in src.datagrams_to_send():
            from sipwright import parse

            dst.receive(parse(data), frm, None, t)

    deliver(uac, uas, CLIENT, 0.01)
    (ev,) = request_events(uas)
    uas.send_response(ev.request.make_response(486, to_tag="b"), 0.02)
    deliver(uas, uac, SERVER, 0.03)  # 486 → the client ACKs
    deliver(uac, uas, CLIENT, 0.04)  # ACK → Confirmed
    client_events = drain(uac)
    assert isinstance(client_events[0], ResponseReceived) and client_events[0].key == key
    server_txn = uas.transaction(ev.key)
    assert server_txn is not None and server_txn.state is State.CONFIRMED
    run_timers(uac, until=100.0)
    run_timers(uas, until=100.0)
    assert uac.active == 0 and uas.active == 0
