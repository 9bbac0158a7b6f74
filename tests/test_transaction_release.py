"""Finished transactions drop their messages but keep doing their job (machine.py).

For each state that only absorbs retransmissions, the transaction must have released
its request (``released``; reading ``request`` then raises), and still answer exactly
as RFC 3261 / RFC 6026 say: a retransmitted request gets the last response again
(non-INVITE server, Completed), a retransmitted final gets the same ACK again (INVITE
client, Completed), a 2xx still goes to the TU (INVITE client, Accepted), an ACK still
goes to the TU (INVITE server, Accepted).
"""

from __future__ import annotations

import pytest
from txn_helpers import CLIENT, SERVER, drain, make_request, response_to, wire

from sipwright import Request
from sipwright.transaction import (
    AckReceived,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ResponseReceived,
    State,
    TransactionStateError,
)


def test_non_invite_server_completed_resends_the_last_response() -> None:
    req = wire(make_request("BYE"))
    assert isinstance(req, Request)
    txn = NonInviteServerTransaction(req, CLIENT, 0.0)
    assert not txn.released and txn.request is req
    txn.send_response(req.make_response(200, to_tag="t"), 0.1)
    assert txn.state is State.COMPLETED and txn.released
    with pytest.raises(TransactionStateError):
        _ = txn.request
    first = txn.messages_to_send()
    txn.receive(req, 0.2)
    again = txn.messages_to_send()
    assert len(first) == len(again) == 1
    assert bytes(again[0].message) == bytes(first[0].message) and again[0].retransmission


def test_invite_client_completed_resends_the_same_ack() -> None:
    req = make_request("INVITE")
    txn = InviteClientTransaction(req, SERVER, 0.0)
    txn.messages_to_send()
    busy = response_to(req, 486)
    txn.receive(busy, 0.1)
    assert txn.state is State.COMPLETED and txn.released
    ack = txn.messages_to_send()
    txn.receive(busy, 0.2)
    again = txn.messages_to_send()
    assert [bytes(o.message) for o in again] == [bytes(o.message) for o in ack]
    assert bytes(ack[0].message).startswith(b"ACK ")
    assert txn.final_response is None  # released with the request


def test_invite_client_accepted_still_passes_2xx_up() -> None:
    req = make_request("INVITE")
    txn = InviteClientTransaction(req, SERVER, 0.0)
    txn.receive(response_to(req, 200), 0.1)
    assert txn.state is State.ACCEPTED and txn.released
    drain(txn)
    txn.receive(response_to(req, 200, to_tag="fork2"), 0.2)
    events = drain(txn)
    assert [type(e) for e in events] == [ResponseReceived]


def test_non_invite_client_completed_is_released() -> None:
    req = make_request("OPTIONS")
    txn = NonInviteClientTransaction(req, SERVER, 0.0)
    txn.receive(response_to(req, 200), 0.1)
    assert txn.state is State.COMPLETED and txn.released


def test_invite_server_accepted_and_confirmed() -> None:
    req = wire(make_request("INVITE"))
    assert isinstance(req, Request)
    ok = InviteServerTransaction(req, CLIENT, 0.0)
    ok.send_response(req.make_response(200, to_tag="t"), 0.1)
    assert ok.state is State.ACCEPTED and ok.released and ok.last_response is None
    ack = wire(make_request("ACK", cseq_method="ACK", to_tag="t"))
    assert isinstance(ack, Request)
    drain(ok)
    ok.receive(ack, 0.2)
    assert [type(e) for e in drain(ok)] == [AckReceived]

    req2 = wire(make_request("INVITE", branch="z9hG4bKtest2"))
    assert isinstance(req2, Request)
    busy = InviteServerTransaction(req2, CLIENT, 0.0)
    busy.send_response(req2.make_response(486, to_tag="t"), 0.1)
    # Completed keeps the 486 for Timer G and for matching the ACK.
    assert busy.state is State.COMPLETED and busy.released and busy.last_response is not None
    ack2 = wire(make_request("ACK", branch="z9hG4bKtest2", cseq_method="ACK", to_tag="t"))
    assert isinstance(ack2, Request)
    busy.receive(ack2, 0.2)
    assert busy.state is State.CONFIRMED and busy.last_response is None


def test_layer_compact_only_when_empty() -> None:
    """An idle layer swaps its tables for fresh ones; a busy one keeps them."""
    from sipwright.headers.memo import clear_memo_tables
    from sipwright.transaction import TransactionLayer

    layer = TransactionLayer()
    key = layer.send_request(make_request("OPTIONS"), SERVER, None, 0.0)
    assert not layer.compact() and layer.transaction(key) is not None
    layer.handle_timer(1000.0)  # Timer F: the transaction times out and ends
    assert layer.transaction(key) is None
    assert layer.compact()
    assert layer.active == 0
    # Memo tables refill on demand: emptying them changes no parse result.
    req = wire(make_request("BYE"))
    assert clear_memo_tables() >= 1
    assert bytes(wire(req)) == bytes(req)
