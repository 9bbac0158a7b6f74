"""DialogLayer.handle_event: transaction events in, dialog events out (the H3 pattern)."""

from __future__ import annotations

from test_dialog_core import _in_dialog_from_alice, invite, uac_response

from sipwright import SequentialIdFactory
from sipwright.dialog import (
    DialogConfirmed,
    DialogCreated,
    DialogLayer,
    DialogRequest,
    DialogResponse,
    DialogTerminated,
    OutOfDialogRequest,
    RejectRequest,
    Retransmitted2xx,
)
from sipwright.transaction import (
    Destination,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    client_key,
    server_key,
)

SRC = Destination("192.0.2.1", 5060)


def test_uac_events_forking_and_confirm() -> None:
    layer = DialogLayer(SequentialIdFactory())
    req = invite()
    key = client_key(req)
    layer.track(key, req)
    ev1 = layer.handle_event(ResponseReceived(key, uac_response(req, 180, tag="b1")))
    ev2 = layer.handle_event(ResponseReceived(key, uac_response(req, 183, tag="b2")))
    assert isinstance(ev1[0], DialogCreated) and isinstance(ev2[0], DialogCreated)
    assert ev1[0].dialog is not ev2[0].dialog
    assert isinstance(ev1[-1], DialogResponse)
    ev3 = layer.handle_event(ResponseReceived(key, uac_response(req, 200, tag="b1")))
    assert isinstance(ev3[0], DialogConfirmed) and ev3[0].dialog is ev1[0].dialog
    stray = uac_response(req, 200, tag="b1")
    ev4 = layer.handle_event(StrayResponse(stray, SRC))
    assert ev4 == [Retransmitted2xx(ev1[0].dialog, stray)]


def test_uac_events_failure_terminates_early() -> None:
    layer = DialogLayer(SequentialIdFactory())
    req = invite()
    key = client_key(req)
    layer.track(key, req)
    created = layer.handle_event(ResponseReceived(key, uac_response(req, 180, tag="b1")))[0]
    assert isinstance(created, DialogCreated)
    events = layer.handle_event(ResponseReceived(key, uac_response(req, 603, tag="b1")))
    assert DialogTerminated(created.dialog) in events


def test_uas_events() -> None:
    layer = DialogLayer(SequentialIdFactory())
    req = invite()
    new = RequestReceived(server_key(req), req, SRC)
    assert layer.handle_event(new) == [OutOfDialogRequest(new)]
    dialog = layer.response_sent(
        req, req.make_response(200, to_tag="bobtag", headers=[("Contact", "<sip:b@h>")])
    )
    assert dialog is not None
    bye = _in_dialog_from_alice("BYE", 315)
    out = layer.handle_event(RequestReceived(server_key(bye), bye, SRC))
    assert out == [DialogRequest(dialog, bye, server_key(bye)), DialogTerminated(dialog)]
    stale = _in_dialog_from_alice("INFO", 316)
    out = layer.handle_event(RequestReceived(server_key(stale), stale, SRC))
    assert len(out) == 1 and isinstance(out[0], RejectRequest)
    assert out[0].response.status_code == 481
