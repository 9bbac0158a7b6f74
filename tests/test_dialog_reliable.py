"""RFC 3262 sans-I/O rules: RSeq/RAck parsing, the UAS retransmission schedule and PRACK
matching, the UAC's in-order RSeq tracking, and the PRACK built by the early dialog."""

from __future__ import annotations

import pytest

from sipwright import Request, Response
from sipwright.dialog import (
    Dialog,
    ReliableProvisionals,
    RSeqTracker,
    build_prack,
    is_reliable,
    parse_rack,
    parse_rseq,
    requires_100rel,
    wants_100rel,
)
from sipwright.errors import ParseError
from sipwright.ids import SequentialIdFactory
from sipwright.message import make_response


def _invite(*extra: tuple[str, str]) -> Request:
    return Request(
        "INVITE",
        "sip:bob@127.0.0.1:5070",
        [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa1"),
            ("From", "<sip:alice@127.0.0.1>;tag=a"),
            ("To", "<sip:bob@127.0.0.1>"),
            ("Call-ID", "c1"),
            ("CSeq", "1 INVITE"),
            ("Contact", "<sip:alice@127.0.0.1:5060>"),
            *extra,
        ],
    )


def _ringing(invite: Request, status: int = 180) -> Response:
    return make_response(
        invite, status, to_tag="b", headers=[("Contact", "<sip:bob@127.0.0.1:5070>")]
    )


def _prack(rack: str | None) -> Request:
    headers = [("CSeq", "2 PRACK")]
    if rack is not None:
        headers.append(("RAck", rack))
    return Request("PRACK", "sip:bob@127.0.0.1:5070", headers)


def test_parse_rseq_and_rack() -> None:
    assert parse_rseq(" 42 ") == 42
    assert parse_rseq(str(2**32 - 1)) == 2**32 - 1
    rack = parse_rack("776656 1 INVITE")
    assert (rack.rseq, rack.cseq, rack.method, str(rack)) == (
        776656,
        1,
        "INVITE",
        "776656 1 INVITE",
    )
    for bad in ("0", "-1", "x", "", str(2**32), "1.5", "١٢"):
        with pytest.raises(ParseError) as exc:
            parse_rseq(bad)
        assert exc.value.status_code == 400 and exc.value.header == "RSeq"
    for bad in ("1 INVITE", "1 2 3 4", "a 1 INVITE", "1 b INVITE", "1 1 IN\x00VITE"):
        with pytest.raises(ParseError):
            parse_rack(bad)


def test_option_tag_checks() -> None:
    assert not wants_100rel(_invite())
    assert wants_100rel(_invite(("Supported", "timer, 100rel")))
    assert wants_100rel(_invite(("Require", "100rel")))
    assert not requires_100rel(_invite(("Supported", "100rel")))
    assert requires_100rel(_invite(("Require", "100rel")))
    # A malformed header from the network counts as absent, never raises.
    assert not wants_100rel(_invite(("Supported", "100rel x"), ("Require", "?")))
    assert not requires_100rel(_invite(("Require", "a b")))
    invite = _invite()
    plain = _ringing(invite)
    assert not is_reliable(plain)
    plain.headers.add("Require", "100rel")
    assert not is_reliable(plain)  # no RSeq
    plain.headers.add("RSeq", "5")
    assert is_reliable(plain)


def test_uas_numbers_retransmits_and_matches() -> None:
    invite = _invite(("Supported", "100rel"))
    rel = ReliableProvisionals(1000, t1=0.5)
    assert rel.get_timer() is None
    first = rel.prepare(_ringing(invite), now=10.0)
    assert first.require == ["100rel"] and first.headers.get("RSeq") == "1000"
    with pytest.raises(ValueError):  # §3: one unacknowledged at a time
        rel.prepare(_ringing(invite, 183), now=10.1)
    # T1, then doubling: 10.5, 11.5, 13.5, 17.5...
    deadlines = []
    now = 10.0
    for _ in range(4):
        deadline = rel.get_timer()
        assert deadline is not None
        deadlines.append(deadline)
        now = deadline
        assert rel.handle_timer(now) == [first]
    assert deadlines == [10.5, 11.5, 13.5, 17.5]
    assert rel.handle_timer(now) == []  # nothing due yet
    # A PRACK for something else: 481 (False); the right one stops everything.
    assert not rel.receive_prack(_prack("999 1 INVITE"))
    assert not rel.receive_prack(_prack("1000 2 INVITE"))
    with pytest.raises(ParseError):
        rel.receive_prack(_prack(None))
    assert rel.receive_prack(_prack("1000 1 INVITE"))
    assert rel.pending is None and rel.get_timer() is None
    assert not rel.receive_prack(_prack("1000 1 INVITE"))  # already acknowledged
    second = rel.prepare(_ringing(invite, 183), now=20.0)
    assert second.headers.get("RSeq") == "1001"
    assert rel.retransmissions == 4


def test_uas_gives_up_after_64_t1_and_stop_keeps_matching() -> None:
    invite = _invite(("Supported", "100rel"))
    rel = ReliableProvisionals(1, t1=0.5)
    rel.prepare(_ringing(invite), now=0.0)
    sends = 0
    for _ in range(20):
        deadline = rel.get_timer()
        if deadline is None:
            break
        sends += len(rel.handle_timer(deadline))
    assert rel.timed_out and rel.get_timer() is None
    assert sends == 6  # 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 < 32 = 64·T1
    rel2 = ReliableProvisionals(7, t1=0.5)
    rel2.prepare(_ringing(invite), now=0.0)
    rel2.stop()  # a 2xx went out: no more re-sends, the PRACK still matches
    assert rel2.get_timer() is None and rel2.handle_timer(5.0) == []
    assert rel2.receive_prack(_prack("7 1 INVITE"))


def test_uas_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ReliableProvisionals(0)
    with pytest.raises(ValueError):
        ReliableProvisionals(2**31)
    rel = ReliableProvisionals(1)
    with pytest.raises(ValueError):
        rel.prepare(make_response(_invite(), 200, to_tag="b"), now=0.0)


def test_uac_rseq_tracker() -> None:
    tracker = RSeqTracker()
    assert tracker.accept(500)  # the first may be anything
    assert not tracker.accept(500)  # retransmission
    assert not tracker.accept(502)  # gap: out of order (§4)
    assert tracker.accept(501)
    assert tracker.last == 501


def test_build_prack_in_early_dialog() -> None:
    invite = _invite(("Supported", "100rel"))
    ringing = _ringing(invite)
    ringing.headers.add("Require", "100rel")
    ringing.headers.add("RSeq", "88")
    dialog = Dialog.from_uac_response(invite, ringing, ids=SequentialIdFactory())
    assert dialog.is_early
    prack, hop = build_prack(dialog, ringing)
    assert prack.method == "PRACK" and prack.headers.get("RAck") == "88 1 INVITE"
    assert prack.cseq is not None and (prack.cseq.number, prack.cseq.method) == (2, "PRACK")
    assert prack.to is not None and prack.to.tag == "b"
    assert str(hop) == "sip:bob@127.0.0.1:5070" == prack.uri_text
    with pytest.raises(ParseError):
        build_prack(dialog, _ringing(invite))
