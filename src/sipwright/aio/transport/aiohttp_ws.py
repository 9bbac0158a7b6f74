"""SIP over WebSocket on an aiohttp route (RFC 7118): ``GET /ws`` on the HTTP port.

Browsers reach a server over HTTP(S) only, so ``sipwright serve`` takes SIP over
WebSocket on the same port as its dashboard and metrics instead of a separate listener.
Each accepted WebSocket becomes a stream connection of the
:class:`~sipwright.aio.transport.manager.TransportManager` exactly like the ones its own
``websockets`` listener accepts: registered with a connection id (responses, and requests
to a binding's flow, go back over it, RFC 5626 §5.3), counted, swept when idle, and every
message passes the manager's tap.

RFC 7118 rules kept here: the handshake must offer the ``sip`` subprotocol (§4.1;
without it: HTTP 400, before any upgrade); one SIP message per text or binary frame
(§5.1); a frame over the parse limit closes the connection with 1009 (the message cannot
be answered: its end never arrived). Keep-alive: WebSocket pings (``heartbeat``) and the
RFC 5626 §4.4.1 CRLF ping over a frame (answered with a CRLF pong).

A browser has no address a proxy could reach: its Via and Contact name a random
``<token>.invalid`` host (RFC 7118 §5, RFC 6761 §6.4: never resolves). The connection
records the ``.invalid`` hosts its peer names for itself, so a request whose
Request-URI is such a Contact (an in-dialog BYE to a browser) goes back over the
connection that host lives on (:meth:`TransportManager.flow_destination`).
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from aiohttp import WSCloseCode, WSMsgType, web

from ...transaction import Destination
from .manager import TransportError, _Connection
from .wire import normalize_host

if TYPE_CHECKING:
    from .manager import TransportManager

__all__ = ["SIP_SUBPROTOCOL", "AiohttpWsConnection", "accept_websocket", "offers_sip"]

SIP_SUBPROTOCOL = "sip"  # RFC 7118 §4.1
#: The ``.invalid`` host of a top Via (``SIP/2.0/WS host``) or a Contact (``@host``):
#: what a WebSocket client calls itself (RFC 7118 §5). Matched on header lines only.
_INVALID_HOST = re.compile(
    rb"^(?:via|v|contact|m)[ \t]*:[^\r\n]*?[ @:]([a-z0-9][a-z0-9.-]{0,200}\.invalid)\b",
    re.IGNORECASE | re.MULTILINE,
)
#: Names one connection may claim: enough for a Via host and a Contact host.
_MAX_NAMES = 4


def offers_sip(request: web.BaseRequest) -> bool:
    """Whether the handshake offers the ``sip`` subprotocol (RFC 7118 §4.1)."""
    offered = request.headers.getall("Sec-WebSocket-Protocol", ())
    return any(
        token.strip().lower() == SIP_SUBPROTOCOL for value in offered for token in value.split(",")
    )


class AiohttpWsConnection(_Connection):
    """One ``web.WebSocketResponse`` carrying one SIP message per frame (RFC 7118 §5)."""

    def __init__(
        self,
        manager: TransportManager,
        ws: web.WebSocketResponse,
        remote: Destination,
        local: Destination,
    ) -> None:
        self._manager = manager
        self._ws = ws
        self.transport = local.transport
        self.remote = remote
        self.local = local
        self.last_activity = manager.now()
        self.keys = set()
        self.cid = 0
        self.closed = False
        self.names: set[str] = set()

    async def run(self) -> None:
        """Receive until the peer or we close; every frame goes to the manager."""
        manager = self._manager
        ws = self._ws
        try:
            while not self.closed:
                msg = await ws.receive()
                kind = msg.type
                if kind is WSMsgType.TEXT:
                    data = msg.data.encode("utf-8")
                elif kind is WSMsgType.BINARY:
                    data = msg.data
                elif kind is WSMsgType.PING:
                    self.last_activity = manager.now()
                    await ws.pong(msg.data)
                    continue
                elif kind is WSMsgType.PONG:
                    self.last_activity = manager.now()  # our heartbeat was answered
                    continue
                else:  # CLOSE, CLOSING, CLOSED, ERROR (1009 for a too large frame)
                    if kind is WSMsgType.ERROR:
                        manager._count("parse_errors")
                    break
                self.last_activity = manager.now()
                if data == b"\r\n\r\n":  # RFC 5626 §4.4.1 ping: pong, not a message
                    manager._count("keepalives")
                    await ws.send_bytes(b"\r\n")
                    continue
                if b".invalid" in data:
                    self._learn_names(data)
                manager._receive_packet(data, self.remote, self.local, self)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass  # the peer went away mid-frame or mid-pong: the same as a close
        finally:
            self.closed = True
            manager._unregister(self)
            if not ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close()

    def _learn_names(self, data: bytes) -> None:
        """Remember the ``.invalid`` hosts the peer gives itself in Via and Contact."""
        head = data.partition(b"\r\n\r\n")[0]
        for match in _INVALID_HOST.finditer(head):
            if len(self.names) >= _MAX_NAMES:
                return
            name = match.group(1).decode("ascii").lower()
            if name not in self.names and self._manager._name_connection(name, self):
                self.names.add(name)

    async def send(self, data: bytes) -> None:
        if self.closed or self._ws.closed:
            raise TransportError(f"{self.transport} connection {self.cid} is closed")
        frame = self._ws_frame(data)
        if isinstance(frame, str):
            await self._ws.send_str(frame)
        else:
            await self._ws.send_bytes(frame)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._manager._spawn(self._ws.close(code=WSCloseCode.GOING_AWAY))


async def accept_websocket(
    manager: TransportManager,
    request: web.Request,
    local: Destination,
    *,
    heartbeat: float | None = 30.0,
) -> web.StreamResponse:
    """Answer one ``GET /ws``: the RFC 7118 handshake, then SIP until the close.

    A request without the ``sip`` subprotocol, or not a WebSocket handshake at all, gets
    HTTP 400 (nothing was upgraded, so there is no SIP to answer).
    """
    if not offers_sip(request):
        return web.Response(
            status=400, text="SIP over WebSocket needs the 'sip' subprotocol (RFC 7118 4.1)\n"
        )
    ws = web.WebSocketResponse(
        protocols=(SIP_SUBPROTOCOL,),
        max_msg_size=manager.limits.max_message_size,
        heartbeat=heartbeat,
        autoping=False,  # pings and pongs count as activity (see run)
    )
    if not ws.can_prepare(request).ok:
        return web.Response(status=400, text="expected a WebSocket handshake\n")
    await ws.prepare(request)
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if not peer:
        await ws.close(code=WSCloseCode.INTERNAL_ERROR)
        return ws
    remote = Destination(normalize_host(str(peer[0])), int(peer[1]), local.transport)
    conn = AiohttpWsConnection(manager, ws, remote, local)
    if not manager._register(conn, inbound=True):
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too many connections")
        return ws
    await conn.run()
    return ws
