"""What the transaction layer tells its user: outputs to send and events for the TU.

Two kinds of values come out of the sans-I/O core (the aioquic pattern):

* :class:`Outgoing` — "send this message to this destination", pulled with
  ``messages_to_send()`` (or as bytes with ``datagrams_to_send()``). Each carries
  the key of the transaction that sent it, so a transport that fails to deliver it
  can report the failure back with ``transport_error(key, now)`` (§17.1.1.2,
  §17.1.2.2, §17.2.4).
* :class:`TransactionEvent` subclasses — what the Transaction User (TU) must
  know, pulled with ``next_event()``. Peer and network trouble becomes an event,
  never an exception: a timeout is :class:`TimedOut` carrying the 408 the client
  TU must treat as received (§8.1.3.1), a transport failure
  :class:`TransportError` carrying a 503 (§8.1.3.1, §18.4).

Events are frozen, slotted dataclasses: plain values that tests compare.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..message import Request, Response
from .key import ClientKey, LegacyServerKey, ServerKey, TransactionKey

__all__ = [
    "RELIABLE_TRANSPORTS",
    "AckReceived",
    "Destination",
    "Outgoing",
    "RequestReceived",
    "ResponseReceived",
    "StrayResponse",
    "Terminated",
    "TimedOut",
    "TransactionEvent",
    "TransportError",
]

#: Transports with their own retransmission (§17.1.1.2 "reliable"): no Timer A, E
#: or G, and Timers D, I, J, K are zero.
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a message goes, or where it came from: ``host``, ``port``, ``transport``.

    Deliberately just the three things §18 needs to pick a socket: an address
    already resolved by RFC 3263 (the core never resolves), a port and an
    upper-case transport name. For a reliable transport it names the connection's
    remote end, so the I/O shell can find the open connection by it (§18.2.2:
    responses go back over the connection the request came on).
    """

    host: str
    port: int
    transport: str = "UDP"

    def __post_init__(self) -> None:
        if self.transport != self.transport.upper():
            object.__setattr__(self, "transport", self.transport.upper())

    @property
    def reliable(self) -> bool:
        """Whether the transport is reliable (TCP, TLS, SCTP, WS, WSS)."""
        return self.transport in RELIABLE_TRANSPORTS


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to hand to the transport.

    ``key`` is the sending transaction (None for messages sent statelessly with
    ``send_stateless``); ``retransmission`` tells retransmits from first sends,
    which the layer counts and a trace can show.
    """

    message: Request | Response
    destination: Destination
    key: TransactionKey | None = None
    retransmission: bool = False


@dataclass(frozen=True, slots=True)
class TransactionEvent:
    """Base of the events delivered to the TU. Don't subclass outside this module."""


@dataclass(frozen=True, slots=True)
class RequestReceived(TransactionEvent):
    """A new request created a server transaction; the TU must answer it.

    ``cancels`` is, for a CANCEL, the key of the INVITE server transaction it
    targets when one is known (§9.2 matching), else None.
    """

    key: ServerKey | LegacyServerKey
    request: Request
    source: Destination
    cancels: ServerKey | LegacyServerKey | None = None


@dataclass(frozen=True, slots=True)
class ResponseReceived(TransactionEvent):
    """A response for a client transaction, to be passed to the TU (§17.1)."""

    key: ClientKey
    response: Response


@dataclass(frozen=True, slots=True)
class AckReceived(TransactionEvent):
    """An ACK for the TU: the ACK of a 2xx (§13.3.1.4, RFC 6026 §8.6).

    ``key`` is the INVITE server transaction in the Accepted state the ACK matched,
    or None when it matched none (the usual case: a 2xx ACK has a fresh branch,
    §17.1.1.3, and is passed straight to the TU core, §17.2.3). ACKs for non-2xx
    responses are absorbed by the transaction and never produce this event.
    """

    key: ServerKey | LegacyServerKey | None
    request: Request
    source: Destination


@dataclass(frozen=True, slots=True)
class TimedOut(TransactionEvent):
    """A transaction timer expired without the expected message.

    ``timer`` is the RFC name (``"B"``, ``"F"``, ``"H"``). For a client transaction
    ``response`` is a locally built 408 that the TU treats as received
    (§8.1.3.1); for an INVITE server transaction (Timer H: no ACK) it is None.
    """

    key: TransactionKey
    timer: str
    response: Response | None = None


@dataclass(frozen=True, slots=True)
class TransportError(TransactionEvent):
    """The transport failed to send for this transaction (§17.1.1.2, §17.2.4).

    For a client transaction ``response`` is a locally built 503 the TU treats as
    received (§8.1.3.1); None for a server transaction.
    """

    key: TransactionKey
    response: Response | None = None


@dataclass(frozen=True, slots=True)
class Terminated(TransactionEvent):
    """The transaction reached Terminated and was removed; its key is free again."""

    key: TransactionKey


@dataclass(frozen=True, slots=True)
class StrayResponse(TransactionEvent):
    """A response matching no client transaction (§17.1.3, §18.1.2).

    A UA core discards it, except 2xx retransmissions to INVITE that it matches to
    a dialog (§13.2.2.4); a stateful proxy forwards a stray 2xx statelessly
    (§16.7 step 5).
    """

    response: Response
    source: Destination
