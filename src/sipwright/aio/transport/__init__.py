"""The asyncio transport layer (RFC 3261 §18, RFC 3581, RFC 5626 §3.5.1, RFC 7118).

Re-exports only: the manager and its connections live in ``manager``, the pure
helpers (size rule, stateless rejection of malformed requests) in ``wire``.
"""

from .manager import STREAM_TRANSPORTS, TRANSPORTS, Inbound, TransportError, TransportManager
from .wire import UDP_SIZE_THRESHOLD, needs_stream, reject_malformed

__all__ = [
    "STREAM_TRANSPORTS",
    "TRANSPORTS",
    "UDP_SIZE_THRESHOLD",
    "Inbound",
    "TransportError",
    "TransportManager",
    "needs_stream",
    "reject_malformed",
]
