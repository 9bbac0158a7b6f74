"""Many client/server layer pairs over a lossy, reordering in-memory network.

20 % of datagrams are dropped and every delivery is delayed by a random 5–250 ms (so
messages overtake each other). N = 200 transactions, INVITE and non-INVITE, spread over
8 client and 4 server endpoints, each with its own TransactionLayer. The TUs here are
minimal UA cores: the server answers in several ways (at once, after a 180, late enough
for the automatic 100 Trying, with 2xx or non-2xx) and retransmits its 2xx until the
ACK arrives (§13.3.1.4); the client ACKs every 2xx (§13.2.2.4). Everything must
complete; no request may reach a server TU twice; each client transaction must deliver
exactly one final outcome (2xx retransmissions to INVITE, which RFC 6026 passes to the
TU, must repeat the same answer).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from txn_helpers import LossyNetwork, Node, Simulation

from sipwright import Request, Response, SequentialIdFactory
from sipwright.transaction import (
    AckReceived,
    Destination,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    Terminated,
    TimedOut,
    TransactionEvent,
    TransactionLayer,
    TransportError,
)

N = 200
NON_INVITE = ("OPTIONS", "REGISTER", "MESSAGE", "BYE")


@dataclass
class Book:
    """What the TUs saw, for the assertions."""

    server_seen: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    finals: dict[str, list[tuple[int, str | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    expected: dict[str, int] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    failures: list[TransactionEvent] = field(default_factory=list)
    trying_seen: set[str] = field(default_factory=set)
    strays: int = 0


def ack_for_2xx(response: Response, request_uri: str, via_host: str, branch: str) -> Request:
    cseq = response.cseq
    assert cseq is not None
    return Request(
        "ACK",
        request_uri,
        [
            ("Via", f"SIP/2.0/UDP {via_host}:5060;branch={branch}"),
            ("Max-Forwards", "70"),
            ("From", response.headers["From"]),
            ("To", response.headers["To"]),
            ("Call-ID", response.headers["Call-ID"]),
            ("CSeq", f"{cseq.number} ACK"),
        ],
    )


def build_simulation(seed: int) -> tuple[Simulation, Book, list[Node], list[Node]]:
    rng = random.Random(seed)
    sim = Simulation(LossyNetwork(rng, loss=0.2))
    book = Book()
    ids = SequentialIdFactory("ack")

    def client_tu(node: Node, event: TransactionEvent, now: float) -> None:
        if isinstance(event, ResponseReceived | StrayResponse):
            resp = event.response
            call_id = resp.call_id or ""
            if isinstance(event, StrayResponse):
                book.strays += 1
            elif resp.status_code >= 200:
                to = resp.to
                book.finals[call_id].append((resp.status_code, to.tag if to else None))
            elif resp.status_code == 100:
                book.trying_seen.add(call_id)
            cseq = resp.cseq
            if cseq and cseq.method == "INVITE" and 200 <= resp.status_code < 300:
                host, port = call_id.split("|")[1].split(":")
                server = Destination(host, int(port), "UDP")
                ack = ack_for_2xx(resp, f"sip:svc@{server.host}", node.address.host, ids.branch())
                node.layer.send_stateless(ack, server)
        elif isinstance(event, TimedOut | TransportError):
            book.failures.append(event)

    def server_tu(node: Node, event: TransactionEvent, now: float) -> None:
        layer = node.layer
        if isinstance(event, AckReceived):
            book.acked.add(event.request.call_id or "")
            return
        if not isinstance(event, RequestReceived):
            if isinstance(event, TimedOut):
                book.failures.append(event)
            return
        request, key = event.request, event.key
        call_id = request.call_id or ""
        book.server_seen[call_id] += 1
        variant = int(call_id.split("|")[0]) % 4
        status = book.expected[call_id]

        def answer(at: float) -> None:
            response = request.make_response(status, to_tag=f"uas{call_id}")
            layer.send_response(response, at, key=key)
            if request.method == "INVITE" and status == 200:
                retransmit_2xx(response, at, interval=0.5, first=at)

        def retransmit_2xx(response: Response, at: float, interval: float, first: float) -> None:
            # §13.3.1.4: the UAS core, not the transaction, retransmits the 2xx.
            nxt = at + interval
            if nxt - first >= 32.0:
                return

            def fire(t: float) -> None:
                if call_id in book.acked or layer.transaction(key) is None:
                    return
                layer.send_response(response, t, key=key)
                retransmit_2xx(response, t, min(2 * interval, 4.0), first)

            sim.call_at(node, nxt, fire)

        if variant == 0:
            answer(now)
        elif variant == 1:
            layer.send_response(
                request.make_response(
                    180 if request.method == "INVITE" else 100, to_tag=f"uas{call_id}"
                ),
                now,
                key=key,
            )
            sim.call_at(node, now + 1.0, answer)
        else:
            # Late enough (0.5 s) that the INVITE transaction sends 100 Trying itself.
            sim.call_at(node, now + 0.5, answer)

    clients = [
        sim.add(
            Node(
                Destination(f"c{i}.test", 5060, "UDP"),
                TransactionLayer(ids=SequentialIdFactory(f"c{i}")),
                client_tu,
            )
        )
        for i in range(8)
    ]
    servers = [
        sim.add(Node(Destination(f"s{i}.test", 5060, "UDP"), TransactionLayer(), server_tu))
        for i in range(4)
    ]

    for i in range(N):
        client = rng.choice(clients)
        server = rng.choice(servers)
        method = "INVITE" if i % 2 == 0 else rng.choice(NON_INVITE)
        call_id = f"{i}|{server.address.host}:{server.address.port}"
        if method == "INVITE":
            book.expected[call_id] = rng.choice((200, 200, 486, 603))
        else:
            book.expected[call_id] = rng.choice((200, 202, 404))
        request = Request(
            method,
            f"sip:svc@{server.address.host}",
            [
                ("Via", f"SIP/2.0/UDP {client.address.host}:5060"),  # branch from the layer
                ("Max-Forwards", "70"),
                ("From", f"<sip:u{i}@{client.address.host}>;tag=f{i}"),
                ("To", f"<sip:svc@{server.address.host}>"),
                ("Call-ID", call_id),
                ("CSeq", f"1 {method}"),
            ],
        )
        start = rng.uniform(0.0, 5.0)

        def start_request(
            t: float, node: Node = client, req: Request = request, dst: Node = server
        ) -> None:
            node.layer.send_request(req, dst.address, None, t)

        sim.call_at(client, start, start_request)
    return sim, book, clients, servers


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lossy_network_all_transactions_complete_exactly_once(seed: int) -> None:
    sim, book, clients, servers = build_simulation(seed)
    sim.run(until=1000.0)

    assert sim.network.lost > 0.15 * sim.network.sent  # the loss really happened
    assert book.failures == []
    assert len(book.expected) == N
    for call_id, status in book.expected.items():
        assert book.server_seen[call_id] == 1, call_id  # each request reached the TU once
        finals = book.finals[call_id]
        assert finals, f"no final response for {call_id}"
        assert {f for f in finals} == {(status, f"uas{call_id}")}, (call_id, finals)
        method_is_invite = int(call_id.split("|")[0]) % 2 == 0
        if not (method_is_invite and status == 200):
            assert len(finals) == 1, (call_id, finals)  # no duplicate final to the TU
        else:
            assert call_id in book.acked
    # The automatic 100 Trying reached some clients (variants 2 and 3 of INVITE).
    assert book.trying_seen
    # Everything terminated and was removed; retransmissions were needed.
    layers = [n.layer for n in clients + servers]
    assert all(layer.active == 0 for layer in layers)
    assert all(layer.get_timer() is None for layer in layers)
    assert sum(layer.stats.retransmissions for layer in layers) > 0
    assert sum(layer.stats.client_transactions for layer in layers) == N
    assert sum(layer.stats.server_transactions for layer in layers) == N


def test_terminated_events_match_transactions() -> None:
    """Each transaction ends with exactly one Terminated event on its layer."""
    sim, _book, clients, servers = build_simulation(7)
    counts: dict[int, int] = defaultdict(int)
    for node in clients + servers:
        original = node.on_event

        def spy(n: Node, e: TransactionEvent, t: float, original=original) -> None:  # type: ignore[no-untyped-def]
            if isinstance(e, Terminated):
                counts[id(n)] += 1
            original(n, e, t)

        node.on_event = spy
    sim.run(until=1000.0)
    assert sum(counts.values()) == 2 * N
