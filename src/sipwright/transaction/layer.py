"""The transaction layer: many transactions, one timer heap, pulled output.

Theory of operation
-------------------
:class:`TransactionLayer` sits between the transport and the Transaction User
(PJSIP's ``TSX_LAYER``). It is sans-I/O like the rest of the core: it is driven
by three kinds of calls, and every one takes ``now`` (the aioquic contract):

* the TU: :meth:`~TransactionLayer.send_request` (creates a client
  transaction), :meth:`~TransactionLayer.send_response` (through a server
  transaction), :meth:`~TransactionLayer.send_stateless` (the 2xx ACK, §13.2.2.4,
  and stateless proxy forwarding, which belong to no transaction);
* the transport: :meth:`~TransactionLayer.receive` of a parsed message with its
  source, and :meth:`~TransactionLayer.transport_error`;
* the clock: :meth:`~TransactionLayer.handle_timer` at
  :meth:`~TransactionLayer.get_timer`, an absolute deadline.

After any of them, the caller pulls :meth:`~TransactionLayer.messages_to_send`
(or :meth:`~TransactionLayer.datagrams_to_send`) and drains
:meth:`~TransactionLayer.next_event`, then re-arms its timer at ``get_timer()``.

Matching (§17.1.3, §17.2.3) is a dict lookup by the keys of
:mod:`sipwright.transaction.key`. A response matching no client transaction is
delivered as :class:`StrayResponse` (a proxy forwards a stray 2xx, §16.7, §18.1.2;
a UA matches it to a dialog). A request matching no server transaction creates
one and is delivered as :class:`RequestReceived` — except an ACK, which never
creates a transaction and is delivered as :class:`AckReceived` with no key (the
ACK for a 2xx, §17.2.3 / RFC 6026 §8).

Timers: each transaction keeps its own deadlines; the layer keeps a heap of
``(deadline, seq, key)`` entries with *lazy deletion* — ``_scheduled[key]``
holds the one deadline currently valid for a transaction, and heap entries that
disagree are skipped when they surface. Rescheduling is therefore O(log n)
without ever searching the heap. A transaction that reaches Terminated is
removed at once, so its key can be reused.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

from ..errors import ParseError
from ..ids import IdFactory, SecretsIdFactory
from ..message import Request, Response
from .config import TimerConfig
from .events import (
    AckReceived,
    Destination,
    Outgoing,
    RequestReceived,
    StrayResponse,
    TransactionEvent,
)
from .invite_client import InviteClientTransaction
from .invite_server import InviteServerTransaction
from .key import (
    ClientKey,
    LegacyServerKey,
    ServerKey,
    TransactionKey,
    client_key,
    server_key,
)
from .machine import (
    ClientTransaction,
    ServerTransaction,
    State,
    Transaction,
    TransactionStateError,
)
from .non_invite_client import NonInviteClientTransaction
from .non_invite_server import NonInviteServerTransaction

__all__ = ["LayerStats", "TransactionLayer"]


@dataclass(slots=True)
class LayerStats:
    """Counters of a :class:`TransactionLayer` (for metrics and tests)."""

    client_transactions: int = 0
    server_transactions: int = 0
    retransmissions: int = 0
    stray_responses: int = 0
    #: Received messages with no usable Via/CSeq: unmatchable, so dropped.
    dropped: int = 0


class TransactionLayer:
    """Owns the client and server transactions of one endpoint. See the module doc."""

    def __init__(self, config: TimerConfig | None = None, *, ids: IdFactory | None = None) -> None:
        self.config = config or TimerConfig()
        self._ids: IdFactory = ids or SecretsIdFactory()
        self._clients: dict[ClientKey, ClientTransaction] = {}
        self._servers: dict[ServerKey | LegacyServerKey, ServerTransaction] = {}
        self._heap: list[tuple[float, int, TransactionKey]] = []
        self._scheduled: dict[TransactionKey, float] = {}
        self._seq = 0
        self._outbox: deque[Outgoing] = deque()
        self._events: deque[TransactionEvent] = deque()
        self.stats = LayerStats()

    # -- introspection ------------------------------------------------------------

    @property
    def active(self) -> int:
        """Number of live (not yet Terminated) transactions."""
        return len(self._clients) + len(self._servers)

    def compact(self) -> bool:
        """When no transaction is live, swap the tables for fresh ones; whether it did.

        A dict or list keeps the capacity of its busiest moment after it empties: after
        a burst of tens of thousands of transactions that is megabytes the process holds
        for nothing. An idle server calls this before giving memory back.
        """
        if self._clients or self._servers or self._heap:
            return False
        self._clients = {}
        self._servers = {}
        self._heap = []
        self._scheduled = {}
        return True

    def transaction(self, key: TransactionKey) -> Transaction | None:
        """The live transaction with this key, or None."""
        if isinstance(key, ClientKey):
            return self._clients.get(key)
        return self._servers.get(key)

    # -- TU calls -----------------------------------------------------------------

    def send_request(
        self, request: Request, destination: Destination, reliable: bool | None, now: float
    ) -> ClientKey:
        """Create a client transaction for ``request`` and queue it for sending.

        The top Via must be present (the TU or transport user decides sent-by); if
        it has no branch, one is drawn from the layer's :class:`IdFactory`
        (§8.1.1.7). A branch without the ``z9hG4bK`` cookie is refused: this stack
        only originates RFC 3261 transactions. ACK is refused too: the ACK of a
        non-2xx is sent by the INVITE transaction and the ACK of a 2xx is its own
        stateless send (:meth:`send_stateless`). ``reliable`` defaults (None) to
        the destination's transport.

        :param now: The current time.
        :returns: the key events of this transaction will carry.
        """
        if request.method == "ACK":
            raise ValueError("ACK is never a client transaction (§17.1.1.3); use send_stateless")
        vias = request.via
        if not vias:
            raise ValueError("the request needs a top Via before it is sent (§8.1.1.7)")
        if vias[0].branch is None:
            top = vias[0].with_param("branch", self._ids.branch())
            request.headers.replace_first_value("Via", str(top))
        elif not vias[0].has_magic_cookie:
            raise ValueError("the branch must start with z9hG4bK (RFC 3261 §8.1.1.7)")
        key = client_key(request)
        if key in self._clients:
            raise TransactionStateError(f"a client transaction {key} already exists")
        txn: ClientTransaction
        if request.method == "INVITE":
            txn = InviteClientTransaction(
                request, destination, now, reliable=reliable, config=self.config, key=key
            )
        else:
            txn = NonInviteClientTransaction(
                request, destination, now, reliable=reliable, config=self.config, key=key
            )
        self._clients[key] = txn
        self.stats.client_transactions += 1
        self._pump(txn)
        return key

    def send_response(
        self,
        response: Response,
        now: float,
        *,
        key: ServerKey | LegacyServerKey | None = None,
    ) -> None:
        """Send ``response`` through its server transaction.

        ``key`` is the one from :class:`RequestReceived`; without it, the key is
        derived from the response's top Via and CSeq (which §8.2.6.2 copies from
        the request), which works for RFC 3261 branches only.

        :param now: The current time.
        """
        if key is None:
            key = self._response_server_key(response)
        txn = self._servers.get(key)
        if txn is None:
            raise TransactionStateError(f"no server transaction {key} (already terminated?)")
        txn.send_response(response, now)
        self._pump(txn)

    def send_stateless(self, message: Request | Response, destination: Destination) -> None:
        """Queue a message that belongs to no transaction (2xx ACK, stateless forwarding)."""
        self._outbox.append(Outgoing(message, destination))

    # -- transport calls ------------------------------------------------------------

    def receive(
        self,
        message: Request | Response,
        source: Destination,
        reliable: bool | None,
        now: float,
    ) -> None:
        """Match a parsed message received from ``source`` and run its transaction.

        A message lacking what matching needs (top Via, CSeq; for RFC 2543
        requests also Call-ID, From and To) is dropped and counted in
        ``stats.dropped``: it cannot be answered reliably either.

        :param now: The current time.
        """
        if reliable is None:
            reliable = source.reliable
        try:
            if isinstance(message, Response):
                self._receive_response(message, source, now)
            else:
                self._receive_request(message, source, reliable, now)
        except ParseError:
            self.stats.dropped += 1

    def transport_error(self, key: TransactionKey, now: float) -> None:
        """The transport failed to deliver a message of transaction ``key``.

        The transaction terminates and the TU gets :class:`TransportError` (with a
        503 for client transactions, §8.1.3.1). Unknown keys are ignored: the
        transaction may have ended since the send.

        :param now: The current time.
        """
        txn = self.transaction(key)
        if txn is not None:
            txn.transport_error(now)
            self._pump(txn)

    # -- clock ------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The earliest deadline over all transactions (absolute), or None."""
        heap = self._heap
        while heap:
            deadline, _, key = heap[0]
            if self._scheduled.get(key) == deadline:
                return deadline
            heapq.heappop(heap)  # stale: rescheduled or gone
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every transaction timer due at ``now``.

        :param now: The current time.
        """
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, key = heapq.heappop(heap)
            if self._scheduled.get(key) != deadline:
                continue
            del self._scheduled[key]
            txn = self.transaction(key)
            if txn is not None:
                txn.handle_timer(now)
                self._pump(txn)

    # -- pulled output ------------------------------------------------------------

    def messages_to_send(self) -> list[Outgoing]:
        """Drain the queued messages, oldest first."""
        out = list(self._outbox)
        self._outbox.clear()
        return out

    def datagrams_to_send(self) -> list[tuple[bytes, Destination]]:
        """Drain the queued messages as serialised bytes (same queue as above)."""
        return [(bytes(o.message), o.destination) for o in self.messages_to_send()]

    def next_event(self) -> TransactionEvent | None:
        """Pop the next event for the TU, or None."""
        return self._events.popleft() if self._events else None

    # -- internals --------------------------------------------------------------------

    def _receive_response(self, response: Response, source: Destination, now: float) -> None:
        key = client_key(response)
        txn = self._clients.get(key)
        if txn is None:
            self.stats.stray_responses += 1
            self._events.append(StrayResponse(response, source))
            return
        txn.receive(response, now)
        self._pump(txn)

    def _receive_request(
        self, request: Request, source: Destination, reliable: bool, now: float
    ) -> None:
        key = server_key(request)
        txn = self._servers.get(key)
        if txn is None and request.method == "ACK" and isinstance(key, LegacyServerKey):
            txn = self._match_legacy_ack(request)
        if txn is not None:
            txn.receive(request, now)
            self._pump(txn)
            return
        if request.method == "ACK":
            # §17.2.3: an ACK matching no transaction goes to the TU core (a 2xx ACK).
            self._events.append(AckReceived(None, request, source))
            return
        new: ServerTransaction
        if request.method == "INVITE":
            new = InviteServerTransaction(
                request, source, now, reliable=reliable, config=self.config, key=key
            )
        else:
            new = NonInviteServerTransaction(
                request, source, now, reliable=reliable, config=self.config, key=key
            )
        cancels: ServerKey | LegacyServerKey | None = None
        if request.method == "CANCEL":
            # §9.2: the CANCEL targets the INVITE server transaction that its own
            # transaction would match if its method were INVITE.
            target = server_key(request, method="INVITE")
            cancels = target if target in self._servers else None
        self._servers[key] = new
        self.stats.server_transactions += 1
        self._events.append(RequestReceived(key, request, source, cancels))
        self._pump(new)

    def _match_legacy_ack(self, ack: Request) -> ServerTransaction | None:
        # §17.2.3 (RFC 2543): the ACK's To tag is the tag of the response the
        # server sent, which the INVITE itself lacked; look the INVITE up without
        # a To tag and compare the tag with the last response it sent.
        key = server_key(ack, replace_to_tag=True, to_tag=None)
        txn = self._servers.get(key)
        if txn is None or txn.last_response is None:
            return None
        sent_to = txn.last_response.to
        ack_to = ack.to
        if sent_to is None or ack_to is None or sent_to.tag != ack_to.tag:
            return None
        return txn

    def _response_server_key(self, response: Response) -> ServerKey:
        vias = response.via
        cseq = response.cseq
        if not vias or cseq is None or not vias[0].has_magic_cookie:
            raise TransactionStateError(
                "cannot derive the server transaction from this response; pass key="
            )
        top = vias[0]
        assert top.branch is not None
        host = top.host.lower()
        sent_by = host if top.port is None else f"{host}:{top.port}"
        return ServerKey(top.branch, sent_by, cseq.method)

    def _pump(self, txn: Transaction) -> None:
        """Collect a transaction's outputs and events, then reschedule or remove it."""
        # Runs after every message: the transaction's queues are drained in place
        # (same order as messages_to_send/next_event, without a call per item).
        outs = txn._outbox
        if outs:
            txn._outbox = []
            for out in outs:
                if out.retransmission:
                    self.stats.retransmissions += 1
            self._outbox.extend(outs)
        events = txn._events
        if events:
            self._events.extend(events)
            events.clear()
        key = txn.key
        if txn.state is State.TERMINATED:
            self._scheduled.pop(key, None)
            if isinstance(key, ClientKey):
                self._clients.pop(key, None)
            else:
                self._servers.pop(key, None)
            return
        deadline = txn.get_timer()
        if deadline is None:
            self._scheduled.pop(key, None)
        elif self._scheduled.get(key) != deadline:
            self._scheduled[key] = deadline
            self._seq += 1
            heapq.heappush(self._heap, (deadline, self._seq, key))
