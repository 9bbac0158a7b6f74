"""Stable import path for the transport layer: ``from sipwright.aio.transports import ...``.

The implementation is the ``sipwright.aio.transport`` package.
"""

from .transport import (
    STREAM_TRANSPORTS,
    TRANSPORTS,
    UDP_SIZE_THRESHOLD,
    Inbound,
    TransportError,
    TransportManager,
    needs_stream,
)

__all__ = [
    "STREAM_TRANSPORTS",
    "TRANSPORTS",
    "UDP_SIZE_THRESHOLD",
    "Inbound",
    "TransportError",
    "TransportManager",
    "needs_stream",
]
