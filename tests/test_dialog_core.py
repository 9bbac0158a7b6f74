"""Dialog creation, in-dialog requests and §12.2.2 checks (RFC 3261 §12–§15)."""

from __future__ import annotations

import pytest

from sipwright import Request, Response, SequentialIdFactory, parse
from sipwright.dialog import (
    Dialog,
    DialogError,
    DialogId,
    DialogLayer,
    DialogState,
    build_cancel,
)
from sipwright.uri import SipUri

INVITE = (
    "INVITE sip:bob@biloxi.example SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example;branch=z9hG4bKinv1\r\n"
    "Max-Forwards: 70\r\n"
    "Route: <sip:p1.atlanta.example;lr>\r\n"
    "To: Bob <sip:bob@biloxi.example>\r\n"
    "From: Alice <sip:alice@atlanta.example>;tag=alicetag\r\n"
    "Call-ID: call-1@pc33\r\n"
    "CSeq: 314 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example>\r\n"
    "Record-Route: <sip:p1.atlanta.example;lr>\r\n"
    "Record-Route: <sip:p2.biloxi.example;lr>\r\n"
    "Content-Length: 0\r\n\r\n"
)


def invite(text: str = INVITE) -> Request:
    msg = parse(text.encode())
    assert isinstance(msg, Request)
    return msg


def uac_response(
    req: Request,
    code: int,
    tag: str = "bobtag",
    contact: str = "<sip:bob@192.0.2.4>",
    rr: tuple[str, ...] = ("<sip:p1.atlanta.example;lr>", "<sip:p2.biloxi.example;lr>"),
) -> Response:
    """What the UAC receives: Record-Route as the proxies left it (UAS-side order)."""
    headers = [("Contact", contact)] + [("Record-Route", r) for r in rr]
    resp = req.make_response(code, to_tag=tag, headers=headers)
    # make_response copied the request's Record-Route too; keep only ours.
    resp.headers.remove("Record-Route")
    for r in rr:
        resp.headers.add("Record-Route", r)
    return resp


def new_uac(code: int = 200) -> tuple[Dialog, Request]:
    req = invite()
    dialog = Dialog.from_uac_response(req, uac_response(req, code), ids=SequentialIdFactory("x"))
    return dialog, req


# -- creation ---------------------------------------------------------------------------


def test_uac_dialog_fields() -> None:
    dialog, _ = new_uac(200)
    assert dialog.id == DialogId("call-1@pc33", "alicetag", "bobtag")
    assert dialog.state is DialogState.CONFIRMED
    # §12.1.2: route set = Record-Route reversed.
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p2.biloxi.example;lr",
        "sip:p1.atlanta.example;lr",
    ]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"
    assert dialog.local_seq == 314
    assert dialog.remote_seq is None
    assert dialog.secure is False
    assert dialog.is_uac


def test_uac_early_dialog_from_180() -> None:
    dialog, _ = new_uac(180)
    assert dialog.state is DialogState.EARLY
    assert dialog.uac_invite_pending


def test_uac_no_dialog_without_to_tag_or_for_100() -> None:
    req = invite()
    with pytest.raises(DialogError):
        Dialog.from_uac_response(req, req.make_response(180), ids=SequentialIdFactory())
    with pytest.raises(DialogError):
        Dialog.from_uac_response(req, uac_response(req, 100), ids=SequentialIdFactory())


def test_secure_flag_for_sips() -> None:
    req = invite(INVITE.replace("INVITE sip:bob", "INVITE sips:bob"))
    dialog = Dialog.from_uac_response(req, uac_response(req, 200), ids=SequentialIdFactory())
    assert dialog.secure is True


def test_uas_dialog_fields() -> None:
    req = invite()
    resp = req.make_response(200, to_tag="bobtag", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    layer = DialogLayer(SequentialIdFactory("u"))
    dialog = layer.response_sent(req, resp)
    assert dialog is not None
    assert dialog.id == DialogId("call-1@pc33", "bobtag", "alicetag")
    assert dialog.state is DialogState.CONFIRMED
    # §12.1.1: route set = Record-Route in order.
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p1.atlanta.example;lr",
        "sip:p2.biloxi.example;lr",
    ]
    assert str(dialog.remote_target) == "sip:alice@pc33.atlanta.example"
    assert dialog.remote_seq == 314
    assert dialog.local_seq is None
    assert not dialog.is_uac
    assert layer.match_request(_in_dialog_from_alice("BYE", 315)) is dialog


def _in_dialog_from_alice(method: str, cseq: int, to_tag: str = "bobtag") -> Request:
    return Request(
        method,
        "sip:bob@192.0.2.4",
        [
            ("Via", f"SIP/2.0/UDP pc33.atlanta.example;branch=z9hG4bK{method}{cseq}"),
            ("Max-Forwards", "70"),
            ("To", f"<sip:bob@biloxi.example>;tag={to_tag}"),
            ("From", "<sip:alice@atlanta.example>;tag=alicetag"),
            ("Call-ID", "call-1@pc33"),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", "<sip:alice@198.51.100.7>"),
        ],
    )


def uas_layer() -> tuple[DialogLayer, Dialog]:
    req = invite()
    resp = req.make_response(200, to_tag="bobtag", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    layer = DialogLayer(SequentialIdFactory("u"), rand=lambda: 0.75)
    dialog = layer.response_sent(req, resp)
    assert dialog is not None
    return layer, dialog


# -- forking ----------------------------------------------------------------------------


def test_forked_early_dialogs_and_confirmation() -> None:
    layer = DialogLayer(SequentialIdFactory("f"))
    req = invite()
    d1 = layer.receive_response(req, uac_response(req, 180, tag="b1", contact="<sip:b1@h1>"))
    d2 = layer.receive_response(req, uac_response(req, 180, tag="b2", contact="<sip:b2@h2>"))
    assert d1 is not None and d2 is not None and d1 is not d2
    assert len(layer) == 2
    assert d1.is_early and d2.is_early
    # A retransmitted 180 from the same branch maps to the same dialog.
    assert layer.receive_response(req, uac_response(req, 180, tag="b1")) is d1
    ok = uac_response(req, 200, tag="b2", contact="<sip:b2@h2-final>", rr=("<sip:p9;lr>",))
    assert layer.receive_response(req, ok) is d2
    assert d2.state is DialogState.CONFIRMED
    assert d1.state is DialogState.EARLY
    # §13.2.2.4: route set recomputed from the 2xx, remote target from its Contact.
    assert [str(r.uri) for r in d2.route_set] == ["sip:p9;lr"]
    assert str(d2.remote_target) == "sip:b2@h2-final"


def test_non_2xx_final_ends_early_dialogs() -> None:
    layer = DialogLayer(SequentialIdFactory("f"))
    req = invite()
    d1 = layer.receive_response(req, uac_response(req, 180, tag="b1"))
    assert d1 is not None
    layer.receive_response(req, uac_response(req, 486, tag="b1"))
    assert d1.is_terminated
    assert len(layer) == 0


# -- in-dialog requests (§12.2.1.1) ----------------------------------------------------------


def test_loose_route_request() -> None:
    dialog, _ = new_uac(200)
    bye, hop = dialog.create_request("BYE")
    assert str(bye.uri) == "sip:bob@192.0.2.4"
    assert bye.headers.getall("Route") == [
        "<sip:p2.biloxi.example;lr>",
        "<sip:p1.atlanta.example;lr>",
    ]
    assert str(hop) == "sip:p2.biloxi.example;lr"
    assert bye.to is not None and bye.to.tag == "bobtag"
    assert bye.from_ is not None and bye.from_.tag == "alicetag"
    assert bye.call_id == "call-1@pc33"
    assert str(bye.cseq) == "315 BYE"
    assert bye.max_forwards == 70
    assert bye.via[0].branch == "z9hG4bKx1"
    assert "Contact" not in bye.headers
    info, _ = dialog.create_request("INFO")
    assert str(info.cseq) == "316 INFO"
    assert info.via[0].branch == "z9hG4bKx2"
    assert dialog.local_seq == 316


def test_no_route_set_goes_to_remote_target() -> None:
    req = invite()
    dialog = Dialog.from_uac_response(req, uac_response(req, 200, rr=()), ids=SequentialIdFactory())
    bye, hop = dialog.create_request("BYE")
    assert "Route" not in bye.headers
    assert str(bye.uri) == str(hop) == "sip:bob@192.0.2.4"


def test_strict_route_request() -> None:
    req = invite()
    rr = ("<sip:loose.example;lr>", "<sip:strict.example;method=INVITE;maddr=10.0.0.1>")
    dialog = Dialog.from_uac_response(req, uac_response(req, 200, rr=rr), ids=SequentialIdFactory())
    bye, hop = dialog.create_request("BYE")
    # First route (a strict router) becomes the Request-URI, "method" stripped (§19.1.1).
    assert isinstance(bye.uri, SipUri)
    assert str(bye.uri) == "sip:strict.example;maddr=10.0.0.1"
    assert bye.headers.getall("Route") == ["<sip:loose.example;lr>", "<sip:bob@192.0.2.4>"]
    assert str(hop) == "sip:strict.example;method=INVITE;maddr=10.0.0.1"


def test_target_refresh_requests_carry_contact() -> None:
    dialog, _ = new_uac(200)
    for method in ("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"):
        dialog.uac_invite_pending = False
        msg, _ = dialog.create_request(method)
        assert msg.headers.get("Contact") == "<sip:alice@pc33.atlanta.example>", method
    msg, _ = dialog.create_request("MESSAGE", body=b"hi", content_type="text/plain")
    assert "Contact" not in msg.headers
    assert msg.body == b"hi"


def test_ack_keeps_invite_number_and_new_branch() -> None:
    dialog, _ = new_uac(200)
    ack, _ = dialog.create_ack()
    assert str(ack.cseq) == "314 ACK"
    assert ack.method == "ACK"
    assert str(ack.uri) == "sip:bob@192.0.2.4"
    assert ack.headers.getall("Route") == [
        "<sip:p2.biloxi.example;lr>",
        "<sip:p1.atlanta.example;lr>",
    ]
    assert ack.via[0].branch not in (None, "z9hG4bKinv1")
    assert dialog.local_seq == 314  # an ACK takes no number
    reinvite, _ = dialog.create_request("INVITE")
    assert str(reinvite.cseq) == "315 INVITE"
    ack2, _ = dialog.create_request("ACK")
    assert str(ack2.cseq) == "315 ACK"
    with pytest.raises(DialogError):
        dialog.create_request("CANCEL")


def test_uas_first_request_initialises_local_seq() -> None:
    _, dialog = uas_layer()
    bye, _ = dialog.create_request("BYE")
    assert dialog.local_seq == 1 and str(bye.cseq) == "1 BYE"
    assert str(bye.uri) == "sip:alice@pc33.atlanta.example"
    assert bye.headers.getall("Route") == [
        "<sip:p1.atlanta.example;lr>",
        "<sip:p2.biloxi.example;lr>",
    ]
    assert bye.to is not None and bye.to.tag == "alicetag"
    assert bye.from_ is not None and bye.from_.tag == "bobtag"


# -- target refresh -----------------------------------------------------------------------


def test_uac_target_refresh_on_reinvite_2xx() -> None:
    dialog, _ = new_uac(200)
    reinvite, _ = dialog.create_request("INVITE")
    ok = reinvite.make_response(200, headers=[("Contact", "<sip:bob@203.0.113.9>")])
    dialog.receive_response(reinvite, ok)
    assert str(dialog.remote_target) == "sip:bob@203.0.113.9"
    assert not dialog.uac_invite_pending


def test_uac_no_target_refresh_on_error() -> None:
    dialog, _ = new_uac(200)
    reinvite, _ = dialog.create_request("INVITE")
    dialog.receive_response(reinvite, reinvite.make_response(488))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"
    assert dialog.state is DialogState.CONFIRMED


def test_uas_target_refresh_applied_on_2xx_only() -> None:
    layer, dialog = uas_layer()
    update = _in_dialog_from_alice("UPDATE", 315)
    assert layer.receive_request(update) == (dialog, None)
    assert str(dialog.remote_target) == "sip:alice@pc33.atlanta.example"
    layer.response_sent(update, update.make_response(200))
    assert str(dialog.remote_target) == "sip:alice@198.51.100.7"
    reinvite = _in_dialog_from_alice("INVITE", 316)
    reinvite.headers.set("Contact", "<sip:alice@elsewhere>")
    layer.receive_request(reinvite)
    layer.response_sent(reinvite, reinvite.make_response(488))
    assert str(dialog.remote_target) == "sip:alice@198.51.100.7"


def test_481_or_408_to_in_dialog_request_terminates() -> None:
    layer = DialogLayer(SequentialIdFactory())
    req = invite()
    dialog = layer.receive_response(req, uac_response(req, 200))
    assert dialog is not None
    info, _ = dialog.create_request("INFO")
    layer.receive_response(info, info.make_response(481))
    assert dialog.is_terminated and len(layer) == 0


# -- incoming checks (§12.2.2, §14.2) -----------------------------------------------------------


def test_out_of_order_cseq_gets_500() -> None:
    layer, dialog = uas_layer()
    assert layer.receive_request(_in_dialog_from_alice("INFO", 320)) == (dialog, None)
    assert dialog.remote_seq == 320
    got, rejection = layer.receive_request(_in_dialog_from_alice("INFO", 319))
    assert got is dialog
    assert rejection is not None and rejection.status_code == 500
    assert dialog.remote_seq == 320


def test_unknown_dialog_gets_481() -> None:
    layer, _ = uas_layer()
    dialog, rejection = layer.receive_request(_in_dialog_from_alice("INFO", 400, to_tag="nope"))
    assert dialog is None
    assert rejection is not None and rejection.status_code == 481
    assert rejection.to is not None and rejection.to.tag == "nope"
    # ACK is never answered; CANCEL is matched by the transaction layer.
    assert layer.receive_request(_in_dialog_from_alice("ACK", 400, to_tag="nope")) == (None, None)


def test_out_of_dialog_request_passes() -> None:
    layer, _ = uas_layer()
    assert layer.receive_request(invite()) == (None, None)


def test_overlapping_reinvite_uas_gets_500_retry_after() -> None:
    layer, dialog = uas_layer()
    first = _in_dialog_from_alice("INVITE", 315)
    assert layer.receive_request(first) == (dialog, None)
    _, rejection = layer.receive_request(_in_dialog_from_alice("INVITE", 316))
    assert rejection is not None and rejection.status_code == 500
    retry = rejection.headers.get("Retry-After")
    assert retry is not None and 0 <= int(retry) <= 10
    assert retry == "8"  # rand() = 0.75 -> floor(0.75 * 11)
    # After the final response, a new re-INVITE is fine.
    layer.response_sent(first, first.make_response(200))
    assert layer.receive_request(_in_dialog_from_alice("INVITE", 317)) == (dialog, None)


def test_glare_reinvite_gets_491() -> None:
    layer, dialog = uas_layer()
    dialog.create_request("INVITE")  # our own re-INVITE is pending
    _, rejection = layer.receive_request(_in_dialog_from_alice("INVITE", 315))
    assert rejection is not None and rejection.status_code == 491
    with pytest.raises(DialogError):
        dialog.create_request("INVITE")


def test_bye_terminates() -> None:
    layer, dialog = uas_layer()
    assert layer.receive_request(_in_dialog_from_alice("BYE", 315)) == (dialog, None)
    assert dialog.is_terminated
    assert len(layer) == 0
    with pytest.raises(DialogError):
        dialog.create_request("INFO")
    _, rejection = layer.receive_request(_in_dialog_from_alice("INFO", 316))
    assert rejection is not None and rejection.status_code == 481


# -- CANCEL (§9.1) ------------------------------------------------------------------------------


def test_cancel_builder() -> None:
    req = invite(
        INVITE.replace(
            "Max-Forwards: 70\r\n",
            "Via: SIP/2.0/UDP proxy.example;branch=z9hG4bKlower\r\nMax-Forwards: 70\r\n",
        )
    )
    cancel = build_cancel(req)
    assert cancel.method == "CANCEL"
    assert cancel.uri_text == "sip:bob@biloxi.example"
    assert cancel.headers.getall("Via") == ["SIP/2.0/UDP pc33.atlanta.example;branch=z9hG4bKinv1"]
    assert cancel.headers.getall("Route") == ["<sip:p1.atlanta.example;lr>"]
    assert cancel.headers.get("To") == "Bob <sip:bob@biloxi.example>"
    assert cancel.headers.get("From") == "Alice <sip:alice@atlanta.example>;tag=alicetag"
    assert cancel.call_id == "call-1@pc33"
    assert str(cancel.cseq) == "314 CANCEL"
    assert cancel.max_forwards == 70
    assert "Contact" not in cancel.headers and "Record-Route" not in cancel.headers
    with pytest.raises(ValueError):
        build_cancel(_in_dialog_from_alice("BYE", 1))
