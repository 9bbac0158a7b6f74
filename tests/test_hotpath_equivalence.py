"""Each fast path of the per-message hot path gives exactly what the general path gives.

The proxy's speed work (issue 6) added shortcuts for the common shape of a
message; these tests run the shortcut and the general code on the same inputs,
odd ones included (compact headers, IPv6, no rport, several Vias and lines,
Route sets, folded lines, flags vs values, case).
"""

from __future__ import annotations

import asyncio
import socket
from typing import ClassVar

import pytest
from txn_helpers import make_request

from sipwright import Request, Response, make_response, parse
from sipwright.headers.params import Params, parse_params, split_commas
from sipwright.server_transport import response_target
from sipwright.transaction import Destination, TransactionLayer
from sipwright.transaction.config import TimerConfig
from sipwright.transaction.machine import Input, State, Table, Transaction

# -- Params: `in` on validated text without building the index -----------------

_PARAM_TEXTS = [
    "",
    ";branch=z9hG4bK-1;rport",
    ";branch=z9hG4bK-1;rport=5060;received=127.0.0.1",
    ";RPort;Received=[2001:db8::1]",
    ";x=rport;rportx=1;lr",
    ";lr;lr=1",
    ";maddr=239.1.1.1;ttl=16;transport=udp",
    ";a=rport",
]
_NAMES = ["rport", "RPORT", "received", "lr", "x", "rportx", "maddr", "ttl", "a", "branch", "r"]


@pytest.mark.parametrize("text", _PARAM_TEXTS)
def test_params_contains_fast_path_matches_index(text: str) -> None:
    for name in _NAMES:
        general = name.lower() in dict((n.lower(), v) for n, v in parse_params(text))
        fresh = Params.from_valid_text(text)
        assert (name in fresh) is general, (text, name)
        # The same object answers the same once split, and after get() reads.
        fresh.items()
        assert (name in fresh) is general, (text, name)
        other = Params.from_valid_text(text)
        assert other.get(name) == Params(parse_params(text)).get(name), (text, name)
        assert (name in other) is general
    assert (5 in Params.from_valid_text(";a")) is False


# -- Headers.getall_key over several lines -------------------------------------

_MULTI = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-p1,"
    " SIP/2.0/UDP [2001:db8::9];branch=z9hG4bK-a\r\n"
    "v: SIP/2.0/TCP host.example;branch=z9hG4bK-c;rport=5070;received=10.1.1.1\r\n"
    "Record-Route: <sip:p1.example;lr>,<sip:p2.example;lr>\r\n"
    "Record-Route:   <sip:p3.example;lr>  \r\n"
    "Subject: a, b\r\n"
    "Subject: c\r\n"
    "From: <sip:a@example.com>;tag=1\r\n"
    "To: <sip:b@example.com>;tag=2\r\n"
    "Call-ID: x\r\n"
    "CSeq: 1 INVITE\r\n"
    "Route: <sip:r1.example;lr>,\r\n"
    " <sip:r2.example;lr>\r\n"
    "Content-Length: 0\r\n\r\n"
)


@pytest.mark.parametrize("key", ["via", "record-route", "subject", "route", "to", "contact"])
def test_getall_key_matches_fields(key: str) -> None:
    msg = parse(_MULTI.encode())
    lines = [f.value for f in msg.headers.fields(key)]
    if key in ("via", "record-route", "route"):
        expected = [v for line in lines for v in split_commas(line)]
    else:
        expected = lines
    assert msg.headers.getall_key(key) == expected
    assert msg.headers.getall(key) == expected


def test_multi_line_vias_parse_in_order() -> None:
    vias = parse(_MULTI.encode()).via
    assert [v.branch for v in vias] == ["z9hG4bK-p1", "z9hG4bK-a", "z9hG4bK-c"]
    assert vias[1].host == "[2001:db8::9]" and vias[1].port is None
    assert vias[2].transport == "TCP" and vias[2].rport == 5070


# -- serialisation: only the Content-Length lines are visited ------------------


def test_bytes_keeps_right_content_lengths_and_fixes_wrong_ones() -> None:
    base = (
        b"MESSAGE sip:b@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-1\r\n"
        b"l: 5\r\n"
        b"Call-ID: x\r\n"
        b"CSeq: 1 MESSAGE\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Length:  5 \r\n\r\nhello"
    )
    msg = parse(base)
    assert bytes(msg) == base  # both lines right: kept as written
    zeros = base.replace(b"l: 5\r\n", b"").replace(b":  5 ", b": 005")
    assert bytes(parse(zeros)) == zeros  # leading zeros are legal: kept too
    msg.set_body(b"hi")
    wire = bytes(msg)
    assert b"l: 2\r\n" in wire and b"Content-Length: 2\r\n" in wire and wire.endswith(b"hi")
    assert parse(wire).body == b"hi"
    bare = Request("OPTIONS", "sip:b@example.com", [("Call-ID", "y")])
    assert bytes(bare).endswith(b"Call-ID: y\r\nContent-Length: 0\r\n\r\n")


# -- transaction timers: the first armed of the earliest deadline fires first ----


class _Recorder(Transaction):
    TABLE: ClassVar[Table] = {}
    INITIAL = State.TRYING

    def __init__(self) -> None:
        super().__init__(None, make_request("OPTIONS"), False, TimerConfig())  # type: ignore[arg-type]
        self.fired: list[Input] = []

    def _fire(self, inp: Input, now: float, message: object) -> bool:
        self.fired.append(inp)
        return True


def test_handle_timer_fires_ties_in_arming_order_and_only_due_ones() -> None:
    txn = _Recorder()
    txn._arm(Input.TIMER_K, 0.0, 2.0)
    txn._arm(Input.TIMER_E, 0.0, 1.0)
    txn._arm(Input.TIMER_F, 0.0, 1.0)
    txn._arm(Input.TIMER_A, 0.0, 3.0)
    txn.handle_timer(0.5)
    assert txn.fired == []
    txn.handle_timer(2.0)
    assert txn.fired == [Input.TIMER_E, Input.TIMER_F, Input.TIMER_K]
    assert txn.get_timer() == 3.0
    # Enum members hash by identity now: dict lookups still find them by value too.
    assert {Input("A"): 1}[Input.TIMER_A] == 1 and {State("Trying"): 2}[State.TRYING] == 2


# -- server transaction: the response destination is cached per top Via ---------


@pytest.mark.parametrize(
    ("via_host", "via_port", "stamp", "expected"),
    [
        ("client.test", 5060, "", Destination("client.test", 5060, "UDP")),
        ("client.test", None, ";received=192.0.2.7", Destination("192.0.2.7", 5060, "UDP")),
        ("[2001:db8::1]", 5070, ";rport=6000", Destination("2001:db8::1", 6000, "UDP")),
    ],
)
def test_server_transaction_destination_follows_top_via(
    via_host: str, via_port: int | None, stamp: str, expected: Destination
) -> None:
    layer = TransactionLayer(TimerConfig(t1=0.05, t2=0.4, t4=0.5))
    req = make_request("INVITE", via_host=via_host, via_port=via_port)
    if stamp:
        top = str(req.via[0]) + stamp
        req.headers.replace_first_value("Via", top)
    source = Destination("198.51.100.1", 1111, "UDP")
    layer.receive(req, source, None, 0.0)
    key = layer.next_event().key  # type: ignore[union-attr]
    sent: list[Destination] = []
    for status in (100, 180, 183):
        resp = make_response(req, status)
        layer.send_response(resp, 0.0, key=key)
        sent += [o.destination for o in layer.messages_to_send()]
        general = response_target(resp)
        assert sent[-1] == Destination(general.host, general.port, general.transport)
    assert sent == [expected] * 3
    # A response whose top Via differs (the TU changed it) goes where that Via says.
    moved = make_response(req, 200)
    moved.headers.replace_first_value("Via", "SIP/2.0/UDP 203.0.113.5:7000;branch=z9hG4bKtest1")
    layer.send_response(moved, 0.0, key=key)
    assert [o.destination for o in layer.messages_to_send()] == [
        Destination("203.0.113.5", 7000, "UDP")
    ]


def test_server_transaction_response_without_via_still_refused() -> None:
    layer = TransactionLayer(TimerConfig(t1=0.05, t2=0.4, t4=0.5))
    req = make_request("OPTIONS")
    layer.receive(req, Destination("198.51.100.1", 1111, "UDP"), None, 0.0)
    key = layer.next_event().key  # type: ignore[union-attr]
    layer.send_response(make_response(req, 100), 0.0, key=key)
    layer.messages_to_send()
    bad = make_response(req, 200)
    bad.headers.remove("Via")
    with pytest.raises(Exception, match="Via"):
        layer.send_response(bad, 0.0, key=key)


# -- UDP receive: cached source Destination and the keep-alive shortcut ---------


def _options(port: int, branch: str) -> bytes:
    return (
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{branch}\r\n"
        "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
        f"Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_udp_sources_and_keepalives() -> None:
    from sipwright.aio.transport.manager import Inbound, TransportManager

    async def main() -> None:
        queue: asyncio.Queue[Inbound] = asyncio.Queue()
        manager = TransportManager(queue.put_nowait)
        try:
            local = await manager.listen("UDP", "127.0.0.1", 0)
            socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
            try:
                for s in socks:
                    s.bind(("127.0.0.1", 0))
                ports = [s.getsockname()[1] for s in socks]
                sent = 0
                for round_ in range(2):  # the second round hits the cache
                    for s, port in zip(socks, ports, strict=True):
                        for ka in (b"\r\n\r\n", b"\x00", b"\r\n"):
                            s.sendto(ka, ("127.0.0.1", local.port))
                        # Leading CRLF then a message: a message, not a keep-alive.
                        data = _options(port, f"{port}-{round_}")
                        s.sendto(b"\r\n" + data, ("127.0.0.1", local.port))
                        sent += 1
                got = [await asyncio.wait_for(queue.get(), 5) for _ in range(sent)]
            finally:
                for s in socks:
                    s.close()
            by_port = sorted((i.source.port, i.message.call_id) for i in got)
            assert by_port == sorted((p, f"{p}-{r}") for p in ports for r in range(2))
            for inbound in got:
                assert inbound.source == Destination("127.0.0.1", inbound.source.port, "UDP")
                assert isinstance(inbound.message, Request)
                assert inbound.message.via[0].rport is None  # no rport asked: none added
            assert manager.stats["keepalives"] == 12
            assert manager.stats.get("parse_errors", 0) == 0
        finally:
            await manager.close()

    asyncio.run(asyncio.wait_for(main(), 10))


def test_response_parse_types_unchanged() -> None:
    msg = parse(_MULTI.encode())
    assert isinstance(msg, Response) and msg.status_code == 200
