"""The transaction layer of RFC 3261 §17 (with RFC 6026), sans-I/O.

Re-exports only. The four state machines live in ``invite_client``,
``non_invite_client``, ``invite_server`` and ``non_invite_server``; matching keys
in ``key``; timers in ``config``; what comes out in ``events``; the layer that
owns them all in ``layer``.
"""

from .config import DEFAULT_TIMERS, TimerConfig
from .events import (
    RELIABLE_TRANSPORTS,
    AckReceived,
    Destination,
    Outgoing,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    Terminated,
    TimedOut,
    TransactionEvent,
    TransportError,
)
from .invite_client import InviteClientTransaction, build_ack
from .invite_server import InviteServerTransaction
from .key import (
    ClientKey,
    LegacyServerKey,
    ServerKey,
    TransactionKey,
    client_key,
    server_key,
)
from .layer import LayerStats, TransactionLayer
from .machine import (
    ClientTransaction,
    Input,
    ServerTransaction,
    State,
    Transaction,
    TransactionStateError,
    to_mermaid,
)
from .non_invite_client import NonInviteClientTransaction
from .non_invite_server import NonInviteServerTransaction

__all__ = [
    "DEFAULT_TIMERS",
    "RELIABLE_TRANSPORTS",
    "AckReceived",
    "ClientKey",
    "ClientTransaction",
    "Destination",
    "Input",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "LayerStats",
    "LegacyServerKey",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "Outgoing",
    "RequestReceived",
    "ResponseReceived",
    "ServerKey",
    "ServerTransaction",
    "State",
    "StrayResponse",
    "Terminated",
    "TimedOut",
    "TimerConfig",
    "Transaction",
    "TransactionEvent",
    "TransactionKey",
    "TransactionLayer",
    "TransactionStateError",
    "TransportError",
    "build_ack",
    "client_key",
    "server_key",
    "to_mermaid",
]
