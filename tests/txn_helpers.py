"""Test helpers for the transaction layer: message builders, a fake clock, a lossy network.

Nothing here reads a clock: tests step ``now`` to ``get_timer()`` (the aioquic way), so
every timer assertion is exact. The lossy network takes its RNG from the test, seeded,
so a failure reproduces.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sipwright import Request, Response, parse
from sipwright.transaction import (
    Destination,
    Outgoing,
    Transaction,
    TransactionEvent,
    TransactionLayer,
)

CLIENT = Destination("client.test", 5060, "UDP")
SERVER = Destination("server.test", 5060, "UDP")
CLIENT_TCP = Destination("client.test", 5060, "TCP")
SERVER_TCP = Destination("server.test", 5060, "TCP")


def make_request(
    method: str = "INVITE",
    *,
    branch: str | None = "z9hG4bKtest1",
    via_host: str = "client.test",
    via_port: int | None = 5060,
    transport: str = "UDP",
    cseq: int = 1,
    cseq_method: str | None = None,
    call_id: str = "call-1@client.test",
    from_tag: str | None = "fromtag1",
    to_tag: str | None = None,
    uri: str = "sip:bob@server.test",
    routes: tuple[str, ...] = (),
) -> Request:
    """A minimal valid request (§8.1.1), Via first."""
    sent_by = via_host if via_port is None else f"{via_host}:{via_port}"
    via = f"SIP/2.0/{transport} {sent_by}"
    if branch is not None:
        via += f";branch={branch}"
    from_ = "<sip:alice@client.test>" + (f";tag={from_tag}" if from_tag else "")
    to = "<sip:bob@server.test>" + (f";tag={to_tag}" if to_tag else "")
    fields = [("Via", via), ("Max-Forwards", "70")]
    fields += [("Route", r) for r in routes]
    fields += [
        ("From", from_),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {cseq_method or method}"),
    ]
    return Request(method, uri, fields)


def wire(message: Request | Response) -> Request | Response:
    """Serialise and parse back, as the network would."""
    return parse(bytes(message))


def response_to(request: Request, status: int, *, to_tag: str | None = "totag1") -> Response:
    """A response as the far end would build it (wire round trip included)."""
    resp = request.make_response(status, to_tag=to_tag)
    parsed = wire(resp)
    assert isinstance(parsed, Response)
    return parsed


def drain(source: Transaction | TransactionLayer) -> list[TransactionEvent]:
    events: list[TransactionEvent] = []
    while (event := source.next_event()) is not None:
        events.append(event)
    return events


def run_timers(
    txn: Transaction | TransactionLayer, until: float, start: float = 0.0
) -> list[tuple[float, Outgoing]]:
    """Step the fake clock from timer to timer up to ``until``; return (time, output)."""
    sent: list[tuple[float, Outgoing]] = []
    while (deadline := txn.get_timer()) is not None and deadline <= until:
        assert deadline >= start, "a timer deadline went backwards"
        txn.handle_timer(deadline)
        sent += [(deadline, out) for out in txn.messages_to_send()]
    return sent


# ---------------------------------------------------------------------------
# In-memory lossy network
# ---------------------------------------------------------------------------


@dataclass
class LossyNetwork:
    """Datagrams between nodes keyed by (host, port), with loss and random delay.

    Random delays reorder messages; ``loss`` drops each datagram independently. The
    RNG is the test's, seeded.
    """

    rng: random.Random
    loss: float = 0.2
    min_delay: float = 0.005
    max_delay: float = 0.25
    sent: int = 0
    lost: int = 0
    _queue: list[tuple[float, int, Destination, Destination, bytes]] = field(default_factory=list)
    _seq: int = 0

    def send(self, data: bytes, source: Destination, destination: Destination, now: float) -> None:
        self.sent += 1
        if self.rng.random() < self.loss:
            self.lost += 1
            return
        self._seq += 1
        at = now + self.rng.uniform(self.min_delay, self.max_delay)
        heapq.heappush(self._queue, (at, self._seq, source, destination, data))

    def next_delivery(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def pop_due(self, now: float) -> list[tuple[Destination, Destination, bytes]]:
        out = []
        while self._queue and self._queue[0][0] <= now:
            _, _, source, destination, data = heapq.heappop(self._queue)
            out.append((source, destination, data))
        return out


@dataclass
class Node:
    """One endpoint: an address, a TransactionLayer and a TU callback."""

    address: Destination
    layer: TransactionLayer
    on_event: Callable[[Node, TransactionEvent, float], None]
    #: Extra timers of the TU itself (e.g. 2xx retransmission, §13.3.1.4).
    tu_timers: list[tuple[float, int, Callable[[float], None]]] = field(default_factory=list)


class Simulation:
    """Drive many nodes over a :class:`LossyNetwork` with one fake clock."""

    def __init__(self, network: LossyNetwork) -> None:
        self.network = network
        self.nodes: dict[tuple[str, int], Node] = {}
        self.now = 0.0
        self._seq = 0

    def add(self, node: Node) -> Node:
        self.nodes[(node.address.host, node.address.port)] = node
        return node

    def call_at(self, node: Node, at: float, fn: Callable[[float], None]) -> None:
        self._seq += 1
        heapq.heappush(node.tu_timers, (at, self._seq, fn))

    def flush(self, node: Node) -> None:
        """Pump events to the TU and outputs to the network until quiet."""
        while True:
            event = node.layer.next_event()
            if event is None:
                break
            node.on_event(node, event, self.now)
        for data, destination in node.layer.datagrams_to_send():
            self.network.send(data, node.address, destination, self.now)

    def next_time(self) -> float | None:
        times = [self.network.next_delivery()]
        for node in self.nodes.values():
            times.append(node.layer.get_timer())
            if node.tu_timers:
                times.append(node.tu_timers[0][0])
        real = [t for t in times if t is not None]
        return min(real) if real else None

    def run(self, until: float) -> None:
        while (at := self.next_time()) is not None and at <= until:
            assert at >= self.now
            self.now = at
            for source, destination, data in self.network.pop_due(at):
                node = self.nodes[(destination.host, destination.port)]
                node.layer.receive(parse(data), source, None, at)
                self.flush(node)
            for node in self.nodes.values():
                timer = node.layer.get_timer()
                if timer is not None and timer <= at:
                    node.layer.handle_timer(at)
                while node.tu_timers and node.tu_timers[0][0] <= at:
                    _, _, fn = heapq.heappop(node.tu_timers)
                    fn(at)
                self.flush(node)
