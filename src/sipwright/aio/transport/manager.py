"""The asyncio transport layer: UDP, TCP, TLS, WS and WSS (RFC 3261 §18, RFC 7118).

One :class:`TransportManager` owns every listening socket and every stream
connection. Bytes that arrive become :class:`Inbound` values handed to the
``on_message`` callback, with ``received``/``rport`` already stamped on requests
(§18.2.1, RFC 3581). ``send`` writes bytes to a :class:`Destination`, reusing an
open connection for stream transports (§18.1.1, §18.2.2). Peer trouble never
escapes as an exception from a listener: it is logged, counted in ``stats`` and,
where the message names enough to route an answer, answered statelessly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ...errors import ParseError, SipError
from ...limits import DEFAULT_LIMITS, ParseLimits
from ...message import Request, Response
from ...parser import KeepAlive, StreamParser, parse
from ...server_transport import stamp_received
from ...transaction import Destination
from .wire import MAX_DATAGRAM, normalize_host, reject_malformed, summarize

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "STREAM_TRANSPORTS",
    "TRANSPORTS",
    "Inbound",
    "Tap",
    "TransportError",
    "TransportManager",
]

logger = logging.getLogger(__name__)

TRANSPORTS = ("UDP", "TCP", "TLS", "WS", "WSS")
STREAM_TRANSPORTS = frozenset({"TCP", "TLS", "WS", "WSS"})
_SIP_SUBPROTOCOL = Subprotocol("sip")  # RFC 7118 §4.1
#: The ``messages_in.<T>`` counter names, built once rather than per message.
_IN_KEYS = {t: f"messages_in.{t}" for t in TRANSPORTS}


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message received: what, from where, on which local address, when."""

    message: Request | Response
    source: Destination
    local: Destination
    received_at: float
    connection_id: int | None


#: ``tap(outbound, data, source, destination)``: see :attr:`TransportManager.tap`.
Tap = Callable[[bool, bytes, Destination, Destination], None]


class TransportError(SipError):
    """A send that could not be done: refused, closed, too large, no route."""


_KEEPALIVE_BYTES = b"\r\n\x00"
#: Source addresses whose Destination a UDP endpoint keeps (cleared whole when full).
_SOURCE_CACHE_MAX = 1024


def _hostport(sockname: Any) -> tuple[str, int]:
    return str(sockname[0]), int(sockname[1])


class _Connection:
    """What every stream connection offers the manager (TCP/TLS and WS/WSS)."""

    cid: int
    transport: str
    remote: Destination
    local: Destination
    last_activity: float
    #: When the message now being received began (None between messages):
    #: a message must arrive whole within ``message_timeout`` (slow-loris guard).
    partial_since: float | None = None
    keys: set[Destination]
    closed: bool
    _manager: TransportManager

    async def send(self, data: bytes) -> None:
        raise NotImplementedError

    def _ws_frame(self, data: bytes) -> str | bytes:
        """Note a message going out over a WebSocket (activity, the tap) and choose its
        frame: text when the message is UTF-8, else binary (RFC 7118 §5.1)."""
        self.last_activity = self._manager.now()
        tap = self._manager.tap
        if tap is not None:
            tap(True, data, self.local, self.remote)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data

    def close(self) -> None:
        raise NotImplementedError


class _StreamConnection(asyncio.Protocol, _Connection):
    """A TCP or TLS connection framed by :class:`StreamParser` (§18.3)."""

    def __init__(self, manager: TransportManager, transport: str, local: Destination | None):
        self._manager = manager
        self.transport = transport
        self._listen_local = local
        self._parser = StreamParser(limits=manager.limits)
        self._io: asyncio.Transport | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self.closed = False
        self.keys = set()
        self.cid = 0

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._io = cast(asyncio.Transport, transport)
        host, port = _hostport(transport.get_extra_info("peername"))
        self.remote = Destination(normalize_host(host), port, self.transport)
        if self._listen_local is not None:
            self.local = self._listen_local
        else:
            lhost, lport = _hostport(transport.get_extra_info("sockname"))
            self.local = Destination(lhost, lport, self.transport)
        self.last_activity = self._manager.now()
        if not self._manager._register(self, inbound=self._listen_local is not None):
            self.closed = True
            self._io.abort()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        now = self.last_activity = self._manager.now()
        try:
            items = self._parser.feed(data)
        except ParseError as exc:
            self._framing_error(exc)
            return
        if not self._parser.buffered:
            self.partial_since = None
        elif items or self.partial_since is None:
            self.partial_since = now  # a new message has begun
        for item in items:
            if isinstance(item, KeepAlive):
                if item.ping:  # RFC 5626 §3.5.1: CRLFCRLF ping, CRLF pong
                    self._write(b"\r\n")
                    self._manager._count("keepalives")
                continue
            tap = self._manager.tap
            if tap is not None:
                tap(False, bytes(item), self.remote, self.local)
            self._manager._receive_message(item, self.remote, self.local, self)
            if self.closed:
                return
        if self._parser.error is not None:
            self._framing_error(self._parser.error)

    def _framing_error(self, exc: ParseError) -> None:
        self._manager._count("parse_errors")
        # Answer the faulty request (400, or 513 for an oversized one, RFC 3261 §21.5.14)
        # before closing: a stream cannot be re-synchronised after a framing error (§18.3),
        # but the client should learn why instead of seeing a bare close.
        rejection = reject_malformed(self._parser.unparsed, exc, self.remote)
        if rejection is not None:
            with contextlib.suppress(TransportError):
                self._write(rejection.data)
                self._manager._count("rejected")
        logger.debug(
            "framing error on %s connection %d from %s:%d: %s; closing",
            self.transport,
            self.cid,
            self.remote.host,
            self.remote.port,
            exc,
        )
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._writable.set()
        self._manager._unregister(self)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- _Connection
    def _write(self, data: bytes) -> None:
        if self.closed or self._io is None or self._io.is_closing():
            raise TransportError(f"{self.transport} connection {self.cid} is closed")
        self._io.write(data)
        self.last_activity = self._manager.now()
        tap = self._manager.tap
        if tap is not None and data != b"\r\n":  # not the keep-alive pong
            tap(True, data, self.local, self.remote)

    async def send(self, data: bytes) -> None:
        self._write(data)
        await self._writable.wait()
        if self.closed:
            raise TransportError(f"{self.transport} connection {self.cid} closed while sending")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._io is not None:
                self._io.close()


class _WsConnection(_Connection):
    """A WebSocket carrying one SIP message per frame (RFC 7118 §5)."""

    def __init__(
        self,
        manager: TransportManager,
        ws: ServerConnection | ClientConnection,
        transport: str,
        local: Destination | None,
    ) -> None:
        self._manager = manager
        self._ws = ws
        self.transport = transport
        host, port = _hostport(ws.remote_address)
        self.remote = Destination(normalize_host(host), port, transport)
        if local is None:
            lhost, lport = _hostport(ws.local_address)
            local = Destination(lhost, lport, transport)
        self.local = local
        self.last_activity = manager.now()
        self.keys = set()
        self.cid = 0
        self.closed = False

    async def run(self) -> None:
        try:
            async for frame in self._ws:
                self.last_activity = self._manager.now()
                data = frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)
                self._manager._receive_packet(data, self.remote, self.local, self)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self._manager._unregister(self)

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise TransportError(f"{self.transport} connection {self.cid} is closed")
        await self._ws.send(self._ws_frame(data))  # str: text frame, bytes: binary
        # websockets may buffer; a closed socket shows as ConnectionClosed here.

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._manager._spawn(self._ws.close())


def _grow_receive_buffer(sock: socket.socket, size: int) -> None:
    """Ask for a large UDP receive buffer: a burst outlasting the kernel's
    default (~208 KB) is dropped before the loop sees it, and each drop costs a
    500 ms retransmission (Timer A/E). SO_RCVBUFFORCE passes rmem_max when
    privileged; otherwise the kernel caps SO_RCVBUF silently."""
    if size <= 0:
        return
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    for option in (force, socket.SO_RCVBUF):
        if option is None:
            continue
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, size)
            return


def _always_queued() -> int:
    return 1  # unknown: let the transport send (it orders what it queued)


async def _udp_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A bound, non-blocking UDP socket, made here so the endpoint holds the socket
    object itself (what ``create_datagram_endpoint(local_addr=...)`` would build)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP)
    if not infos:
        raise OSError(f"no address for {host!r}")
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    assert error is not None
    raise error


class _UdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, manager: TransportManager) -> None:
        self._manager = manager
        self.io: asyncio.DatagramTransport | None = None
        self.local = Destination("0.0.0.0", 0, "UDP")
        self.family = socket.AF_INET
        self._sources: dict[object, Destination] = {}
        #: The socket object itself (the transport's ``socket`` extra is a stand-in
        #: without ``sendto`` under uvloop); see :meth:`sendto`.
        self.sock: socket.socket | None = None
        self._queued: Callable[[], int] = _always_queued

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not always a DatagramTransport subclass at run time (selector loop, 3.11).
        self.io = cast(asyncio.DatagramTransport, transport)
        # Bytes the transport holds, waiting for the socket (both loops have it; the
        # DatagramTransport interface does not name it).
        self._queued = getattr(transport, "get_write_buffer_size", _always_queued)
        sock = transport.get_extra_info("socket")
        self.family = sock.family
        _grow_receive_buffer(sock, self._manager.udp_receive_buffer)
        host, port = _hostport(transport.get_extra_info("sockname"))
        self.local = Destination(host, port, "UDP")

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            # A peer's source Destination is built once (it is immutable, and
            # normalising the host and a frozen dataclass's __init__ are not free
            # on every datagram); bounded, so a flood of sources only misses.
            source = self._sources.get(addr)
            if source is None:
                host, port = _hostport(addr)
                source = Destination(normalize_host(host), port, "UDP")
                if len(self._sources) >= _SOURCE_CACHE_MAX:
                    self._sources.clear()
                self._sources[addr] = source
            self._manager._receive_packet(data, source, self.local, None, self)
        except Exception:  # never let one datagram kill the listener
            logger.exception("error handling a UDP datagram from %r", addr)

    def error_received(self, exc: Exception) -> None:
        self._manager._count("udp_errors")
        logger.debug("UDP error on %s:%d: %s", self.local.host, self.local.port, exc)

    def sendto(self, data: bytes, host: str, port: int) -> None:
        """Send one datagram, on the socket itself when nothing is queued.

        Why not always ``transport.sendto``: uvloop keeps every destination address
        object it was given in a 2 048-entry cache (address → sockaddr), so after a
        burst from many peers those small tuples stay alive, scattered over the heap,
        and keep CPython's allocator from returning the arenas the burst used (the
        proxy's memory would not come back to its baseline when idle). The transport
        tries the same non-blocking send first; it is used when the socket's buffer is
        full (it queues, in order) or when there is no socket object.
        """
        io = self.io
        if io is None or io.is_closing():
            raise TransportError("UDP socket is closed")
        sock = self.sock
        if sock is None or self._queued():
            io.sendto(data, (host, port))
        else:
            try:
                sock.sendto(data, (host, port))
            except (BlockingIOError, InterruptedError):
                io.sendto(data, (host, port))
            except OSError as exc:  # what the transport would report
                self.error_received(exc)
        tap = self._manager.tap
        if tap is not None:
            tap(True, data, self.local, Destination(host, port, "UDP"))


class TransportManager:
    """Every socket of one SIP element, and the routing of bytes in and out.

    ``on_message`` is called (synchronously, from the event loop) for each
    message received. ``limits`` bounds each message; ``max_connections`` the
    number of open stream connections (inbound beyond it are closed at once,
    outbound raise :class:`TransportError`); ``idle_timeout`` closes stream
    connections without traffic for that many seconds, and ``message_timeout``
    those on which one message takes longer than that to arrive whole (a
    trickle of bytes keeps a connection active but never finishes a message:
    the slow-loris attack); a TLS handshake gets ``connect_timeout``. ``client_ssl_context``
    is used to open TLS and WSS connections (default: the system's trust store).
    """

    def __init__(
        self,
        on_message: Callable[[Inbound], None],
        *,
        limits: ParseLimits = DEFAULT_LIMITS,
        max_connections: int = 1024,
        idle_timeout: float = 300.0,
        client_ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
        message_timeout: float = 30.0,
        udp_receive_buffer: int = 4 * 1024 * 1024,
        reuse_port: bool = False,
    ) -> None:
        self.on_message = on_message
        self.limits = limits
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.message_timeout = message_timeout
        self.udp_receive_buffer = udp_receive_buffer
        #: SO_REUSEPORT on UDP/TCP/TLS listeners: several worker processes share a port
        #: and the kernel spreads datagrams and connections over them.
        self.reuse_port = reuse_port
        self.client_ssl_context = client_ssl_context
        self.connect_timeout = connect_timeout
        #: Counters: ``messages_in.<T>``, ``messages_out.<T>``, ``parse_errors``,
        #: ``rejected`` (malformed requests answered), ``dropped``,
        #: ``connections_opened``, ``connections_closed``, ``connections_refused``,
        #: ``keepalives``, ``callback_errors``, ``udp_errors``.
        self.stats: dict[str, int] = {}
        self._listeners: list[Destination] = []
        self._udp: list[_UdpEndpoint] = []
        self._servers: list[asyncio.Server] = []
        self._ws_servers: list[Server] = []
        self._conns: dict[int, _Connection] = {}
        self._by_dest: dict[Destination, int] = {}
        self._connecting: dict[Destination, asyncio.Future[_Connection]] = {}
        self._next_cid = 1
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False
        #: Sees every SIP message this manager receives or sends, as bytes:
        #: ``tap(outbound, data, source, destination)`` — for traces and captures
        #: (the dashboard's ladders, ``serve --pcap``). Received ones are seen before
        #: parsing (so malformed ones too), one message per call; keep-alives are not.
        #: It must not raise. None (the default) costs one attribute check per message.
        self.tap: Tap | None = None

    # ------------------------------------------------------------------ public
    @property
    def connection_count(self) -> int:
        """Open stream connections (TCP, TLS, WS, WSS)."""
        return len(self._conns)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def clear_caches(self) -> None:
        """Forget the cached source addresses (an idle server giving memory back)."""
        for ep in self._udp:
            ep._sources = {}

    async def listen(
        self, transport: str, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
    ) -> Destination:
        """Bind ``transport`` on ``host``:``port`` (0: ephemeral); return the bound address."""
        name = transport.upper()
        if name not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}; expected one of {TRANSPORTS}")
        if name in ("TLS", "WSS") and ssl_context is None:
            raise ValueError(f"{name} needs an ssl_context")
        if self._closed:
            raise TransportError("transport manager is closed")
        loop = asyncio.get_running_loop()
        bind_host = host.strip("[]")
        try:
            if name == "UDP":
                sock = await _udp_socket(bind_host, port, self.reuse_port)
                try:
                    _, proto = await loop.create_datagram_endpoint(
                        lambda: _UdpEndpoint(self), sock=sock
                    )
                except BaseException:
                    sock.close()
                    raise
                proto.sock = sock
                self._udp.append(proto)
                bound = proto.local
            elif name in ("TCP", "TLS"):
                holder: list[Destination] = []

                def factory() -> _StreamConnection:
                    return _StreamConnection(self, name, holder[0] if holder else None)

                tls = ssl_context if name == "TLS" else None
                server = await loop.create_server(
                    factory,
                    bind_host,
                    port,
                    ssl=tls,
                    ssl_handshake_timeout=self.connect_timeout if tls is not None else None,
                    reuse_port=self.reuse_port or None,
                )
                bhost, bport = _hostport(server.sockets[0].getsockname())
                bound = Destination(bhost, bport, name)
                holder.append(bound)
                self._servers.append(server)
            else:
                bound = await self._listen_ws(name, bind_host, port, ssl_context)
        except OSError as exc:
            raise TransportError(f"cannot listen on {name} {host}:{port}: {exc}") from exc
        self._listeners.append(bound)
        self._start_sweeper()
        logger.info("listening on %s %s:%d", name, bound.host, bound.port)
        return bound

    def local_address(self, transport: str, *, ipv6: bool | None = None) -> Destination | None:
        """The first address listening on ``transport`` (of the IP family asked, if any)."""
        name = transport.upper()
        for bound in self._listeners:
            if bound.transport != name:
                continue
            if ipv6 is None or (":" in bound.host) == ipv6:
                return bound
        return None

    @property
    def listeners(self) -> tuple[Destination, ...]:
        return tuple(self._listeners)

    def add_websocket_endpoint(self, local: Destination) -> None:
        """Announce a WS/WSS endpoint served by someone else's HTTP server (the ``/ws``
        route of ``sipwright serve``, :mod:`.aiohttp_ws`): :meth:`local_address` and
        :attr:`listeners` report it, so Via and Record-Route name it (RFC 7118 §5).
        Its connections arrive through :meth:`adopt_websocket`."""
        if local.transport not in ("WS", "WSS"):
            raise ValueError(f"a WebSocket endpoint is WS or WSS, not {local.transport!r}")
        self._listeners.append(local)
        self._start_sweeper()

    async def adopt_websocket(
        self, request: web.Request, local: Destination, *, heartbeat: float | None = 30.0
    ) -> web.StreamResponse:
        """Serve one aiohttp WebSocket handshake as a SIP connection of this manager
        (RFC 7118; see :func:`.aiohttp_ws.accept_websocket`), until it closes."""
        from .aiohttp_ws import accept_websocket  # it builds on this module

        return await accept_websocket(self, request, local, heartbeat=heartbeat)

    def flow_destination(self, host: str) -> Destination | None:
        """Where a WebSocket client that calls itself ``host`` (a ``.invalid`` name in its
        Via/Contact, RFC 7118 §5) is reached: its open connection's address, or None."""
        for transport in ("WS", "WSS"):
            cid = self._by_dest.get(Destination(host.lower(), 0, transport))
            conn = self._conns.get(cid) if cid is not None else None
            if conn is not None and not conn.closed:
                return conn.remote
        return None

    async def send(
        self, data: bytes, dest: Destination, *, connection_id: int | None = None
    ) -> int | None:
        """Send ``data`` to ``dest``; return the connection id used (None for UDP).

        With ``connection_id`` (a stream the request came on, §18.2.2) that
        connection is used while open; otherwise an open connection to
        ``dest`` is reused, or one is opened. Over UDP the socket listening on
        ``dest``'s IP family sends (one is bound on an ephemeral port if none).
        The §18.1.1 size rule is the caller's: see :func:`needs_stream`.
        Raises :class:`TransportError` on failure.
        """
        if self._closed:
            raise TransportError("transport manager is closed")
        name = dest.transport
        if name not in TRANSPORTS:
            raise TransportError(f"unsupported transport {name!r}")
        if name == "UDP":
            await self._send_udp(data, dest)
            return None
        conn: _Connection | None = None
        if connection_id is not None:
            conn = self._conns.get(connection_id)
        if conn is None:
            key = Destination(normalize_host(dest.host.strip("[]")), dest.port, name)
            cid = self._by_dest.get(key)
            conn = self._conns.get(cid) if cid is not None else None
            if conn is None:
                conn = await self._connect(key)
        try:
            await conn.send(data)
        except TransportError:
            raise
        except (ConnectionClosed, OSError) as exc:
            raise TransportError(f"send over {name} connection {conn.cid} failed: {exc}") from exc
        self._count(f"messages_out.{name}")
        self._log_out(data, conn.remote, conn.cid)
        return conn.cid

    async def close(self) -> None:
        """Close every listener and connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for fut in self._connecting.values():
            fut.cancel()
        for server in self._servers:
            server.close()
        for ws_server in self._ws_servers:
            ws_server.close()
        for conn in list(self._conns.values()):
            conn.close()
        for ep in self._udp:
            if ep.io is not None:
                ep.io.close()
        for ws_server in self._ws_servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws_server.wait_closed(), 2.0)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for t in pending:
                t.cancel()
        if self._sweeper is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    # ------------------------------------------------------------------ receive
    def _receive_packet(
        self,
        data: bytes,
        source: Destination,
        local: Destination,
        conn: _Connection | None,
        udp: _UdpEndpoint | None = None,
    ) -> None:
        """A datagram or a WebSocket frame: exactly one message (or a keep-alive)."""
        # Only a datagram starting with CR, LF or NUL can be a keep-alive: the
        # others skip the strip (a copy of the whole datagram).
        if not data or (data[0] in _KEEPALIVE_BYTES and not data.strip(_KEEPALIVE_BYTES)):
            self._count("keepalives")  # CRLF or empty keep-alive (RFC 5626 §4.4.1)
            return
        if self.tap is not None:
            self.tap(False, data, source, local)
        try:
            msg = parse(data, limits=self.limits)
        except ParseError as exc:
            self._malformed(data, exc, source, conn, udp)
            return
        self._receive_message(msg, source, local, conn, data, udp)

    def _receive_message(
        self,
        msg: Request | Response,
        source: Destination,
        local: Destination,
        conn: _Connection | None,
        data: bytes | None = None,
        udp: _UdpEndpoint | None = None,
    ) -> None:
        if isinstance(msg, Request):
            try:
                stamp_received(msg, source.host, source.port)  # §18.2.1, RFC 3581
            except ParseError as exc:
                self._malformed(data if data is not None else bytes(msg), exc, source, conn, udp)
                return
        self._count(_IN_KEYS.get(source.transport) or f"messages_in.{source.transport}")
        cid = conn.cid if conn is not None else None
        if logger.isEnabledFor(logging.DEBUG):
            what = msg.method if isinstance(msg, Request) else str(msg.status_code)
            logger.debug(
                "in  %s %s call-id=%s from %s:%d conn=%s",
                source.transport,
                what,
                msg.call_id,
                source.host,
                source.port,
                cid,
            )
        inbound = Inbound(msg, source, local, self.now(), cid)
        try:
            self.on_message(inbound)
        except Exception:
            self._count("callback_errors")
            logger.exception("on_message raised for a message from %s:%d", source.host, source.port)

    def _malformed(
        self,
        data: bytes,
        exc: ParseError,
        source: Destination,
        conn: _Connection | None,
        udp: _UdpEndpoint | None,
    ) -> None:
        self._count("parse_errors")
        rejection = reject_malformed(data, exc, source)
        if rejection is None:
            self._count("dropped")
            logger.debug(
                "dropped malformed %s message from %s:%d: %s",
                source.transport,
                source.host,
                source.port,
                exc,
            )
            return
        self._count("rejected")
        target = rejection.target
        logger.debug(
            "out %s %d %s to %s:%d (stateless, malformed request)",
            source.transport,
            rejection.response.status_code,
            rejection.response.reason,
            target.host,
            target.port,
        )
        if conn is not None:
            self._spawn(self._send_quietly(rejection.data, source, conn.cid))
        elif udp is not None:
            try:
                udp.sendto(rejection.data, target.host, target.port)
                self._count("messages_out.UDP")
            except (TransportError, OSError) as err:
                logger.debug("could not answer malformed request: %s", err)

    async def _send_quietly(self, data: bytes, dest: Destination, cid: int) -> None:
        try:
            await self.send(data, dest, connection_id=cid)
        except TransportError as exc:
            logger.debug("could not answer malformed request: %s", exc)

    # ------------------------------------------------------------------ UDP out
    async def _send_udp(self, data: bytes, dest: Destination) -> None:
        if len(data) > MAX_DATAGRAM:
            raise TransportError("message too large for UDP")
        host = dest.host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if family == socket.AF_INET and not host.replace(".", "").isdigit():
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, dest.port, type=socket.SOCK_DGRAM
                )
            except OSError as exc:
                raise TransportError(f"cannot resolve {host!r}: {exc}") from exc
            if not infos:
                raise TransportError(f"cannot resolve {host!r}")
            family = infos[0][0]
            host = str(infos[0][4][0])
        ep = self._udp_for(family, host)
        if ep is None:
            wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
            await self.listen("UDP", wildcard, 0)
            ep = self._udp_for(family, host)
            if ep is None:
                raise TransportError(f"no UDP socket for {host}")
        try:
            ep.sendto(data, host, dest.port)
        except OSError as exc:
            raise TransportError(f"UDP send to {host}:{dest.port} failed: {exc}") from exc
        self._count("messages_out.UDP")
        self._log_out(data, Destination(host, dest.port, "UDP"), None)

    def _udp_for(self, family: int, host: str) -> _UdpEndpoint | None:
        loopback = host.startswith("127.") or host == "::1"
        fallback: _UdpEndpoint | None = None
        for ep in self._udp:
            if ep.family != family or ep.io is None or ep.io.is_closing():
                continue
            bound = ep.local.host
            if bound in ("0.0.0.0", "::"):
                return ep
            bound_loop = bound.startswith("127.") or bound == "::1"
            if bound_loop == loopback:
                return ep
            fallback = fallback or ep
        return fallback

    # ------------------------------------------------------------------ streams
    async def _connect(self, key: Destination) -> _Connection:
        pending = self._connecting.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        if len(self._conns) >= self.max_connections:
            raise TransportError("too many connections")
        fut: asyncio.Future[_Connection] = asyncio.get_running_loop().create_future()
        self._connecting[key] = fut
        try:
            conn = await asyncio.wait_for(self._open(key), self.connect_timeout)
            if conn.closed:
                raise TransportError(f"{key.transport} connection to {key.host}:{key.port} refused")
        except Exception as exc:
            err = (
                exc
                if isinstance(exc, TransportError)
                else TransportError(
                    f"cannot connect {key.transport} to {key.host}:{key.port}: "
                    f"{exc or type(exc).__name__}"
                )
            )
            fut.set_exception(err)
            fut.exception()  # mark retrieved: nobody else may be waiting
            if err is exc:
                raise
            raise err from exc
        except BaseException:
            fut.cancel()
            raise
        finally:
            self._connecting.pop(key, None)
        self._by_dest[key] = conn.cid
        conn.keys.add(key)
        fut.set_result(conn)
        return conn

    async def _open(self, key: Destination) -> _Connection:
        loop = asyncio.get_running_loop()
        name = key.transport
        ctx = self._client_ssl() if name in ("TLS", "WSS") else None
        if name in ("TCP", "TLS"):
            _, proto = await loop.create_connection(
                lambda: _StreamConnection(self, name, None), key.host, key.port, ssl=ctx
            )
            return proto
        host = f"[{key.host}]" if ":" in key.host else key.host
        uri = f"{'wss' if name == 'WSS' else 'ws'}://{host}:{key.port}/"
        ws = await connect(
            uri,
            subprotocols=[_SIP_SUBPROTOCOL],
            ssl=ctx,
            max_size=self.limits.max_message_size,
            open_timeout=self.connect_timeout,
        )
        if ws.subprotocol != _SIP_SUBPROTOCOL:
            await ws.close()
            raise TransportError(f"{uri} did not accept the 'sip' subprotocol")
        conn = _WsConnection(self, ws, name, None)
        if not self._register(conn, inbound=False):
            await ws.close()
            raise TransportError("too many connections")
        self._spawn(conn.run())
        return conn

    def _client_ssl(self) -> ssl.SSLContext:
        if self.client_ssl_context is None:
            self.client_ssl_context = ssl.create_default_context()
        return self.client_ssl_context

    async def _listen_ws(
        self, name: str, host: str, port: int, ctx: ssl.SSLContext | None
    ) -> Destination:
        holder: list[Destination] = []

        async def handler(ws: ServerConnection) -> None:
            conn = _WsConnection(self, ws, name, holder[0] if holder else None)
            if not self._register(conn, inbound=True):
                await ws.close(1013, "too many connections")
                return
            await conn.run()

        server = await serve(
            handler,
            host,
            port,
            subprotocols=[_SIP_SUBPROTOCOL],  # no "sip" offered: HTTP 400 (RFC 7118 §4.1)
            ssl=ctx,
            max_size=self.limits.max_message_size,
        )
        bhost, bport = _hostport(next(iter(server.sockets)).getsockname())
        bound = Destination(bhost, bport, name)
        holder.append(bound)
        self._ws_servers.append(server)
        return bound

    def _register(self, conn: _Connection, *, inbound: bool) -> bool:
        if self._closed or (inbound and len(self._conns) >= self.max_connections):
            self._count("connections_refused")
            logger.debug(
                "refused %s connection from %s:%d (limit %d)",
                conn.transport,
                conn.remote.host,
                conn.remote.port,
                self.max_connections,
            )
            return False
        conn.cid = self._next_cid
        self._next_cid += 1
        self._conns[conn.cid] = conn
        self._by_dest[conn.remote] = conn.cid
        conn.keys.add(conn.remote)
        self._count("connections_opened")
        logger.debug(
            "%s connection %d %s %s:%d",
            conn.transport,
            conn.cid,
            "from" if inbound else "to",
            conn.remote.host,
            conn.remote.port,
        )
        return True

    def _name_connection(self, name: str, conn: _Connection) -> bool:
        """Let ``name`` (a ``.invalid`` host) reach ``conn``; first come, first served:
        a live connection's name is not taken over by another one. The key goes with the
        connection's others, so :meth:`_unregister` drops it."""
        key = Destination(name, 0, conn.transport)
        owner = self._by_dest.get(key)
        if owner is not None and owner != conn.cid and owner in self._conns:
            return False
        self._by_dest[key] = conn.cid
        conn.keys.add(key)
        return True

    def _unregister(self, conn: _Connection) -> None:
        if self._conns.pop(conn.cid, None) is None:
            return
        for key in conn.keys:
            if self._by_dest.get(key) == conn.cid:
                del self._by_dest[key]
        self._count("connections_closed")
        logger.debug("%s connection %d closed", conn.transport, conn.cid)

    # ------------------------------------------------------------------ helpers
    def _start_sweeper(self) -> None:
        if self._sweeper is None and (self.idle_timeout > 0 or self.message_timeout > 0):
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        periods = [t for t in (self.idle_timeout, self.message_timeout) if t > 0]
        interval = max(0.05, min(min(periods) / 4, 10.0))
        while True:
            await asyncio.sleep(interval)
            now = self.now()
            for conn in list(self._conns.values()):
                if self.idle_timeout > 0 and conn.last_activity < now - self.idle_timeout:
                    logger.debug("closing idle %s connection %d", conn.transport, conn.cid)
                    self._count("connections_idle_closed")
                    conn.close()
                elif (
                    self.message_timeout > 0
                    and conn.partial_since is not None
                    and conn.partial_since < now - self.message_timeout
                ):
                    logger.debug("closing slow %s connection %d", conn.transport, conn.cid)
                    self._count("connections_slow_closed")
                    conn.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def _log_out(self, data: bytes, dest: Destination, cid: int | None) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "out %s %s to %s:%d conn=%s",
                dest.transport,
                summarize(data),
                dest.host,
                dest.port,
                cid,
            )
