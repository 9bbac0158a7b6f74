"""The asyncio shell around the sans-I/O core (rank 6: the only layer with I/O).

``sipwright.aio.transports`` holds the transport layer (UDP, TCP, TLS, WS, WSS).
Nothing outside this package and ``cli.py`` imports asyncio.
"""

from .transports import Inbound, TransportError, TransportManager, needs_stream

__all__ = ["Inbound", "TransportError", "TransportManager", "needs_stream"]
