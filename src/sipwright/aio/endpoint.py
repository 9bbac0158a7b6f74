"""An asyncio SIP endpoint: one :class:`TransportManager` plus one :class:`TransactionLayer`.

The pump follows aioquic's asyncio glue (ARCHITECTURE.md §2): every input — an inbound
message, a TU call, a timer — is fed to the sans-I/O layer with ``now = loop.time()``;
then the endpoint drains the layer's events, transmits ``messages_to_send()`` through the
transports, and re-arms a single ``loop.call_at`` at ``get_timer()``. A timer callback
uses ``now = max(deadline, loop.time())`` so a slightly early wake-up still counts.

Client side: :meth:`Endpoint.request` (final response; a 408 or 503 built by the
transaction layer comes back as a response) and :meth:`Endpoint.request_iter`
(provisional responses too). Server side: ``ep.on_request = handler`` receives a
:class:`ServerRequest` per new request; without a handler OPTIONS gets a 200 with
Allow/Accept/Supported and anything else a 501. A CANCEL matching a pending INVITE is
answered 200 and the INVITE 487 by the endpoint (§9.2).

INVITE sessions (the minimal UA core until the dialog layer lands; see ``calls.py``):

* UAS (§13.3.1.4): a 2xx sent to an INVITE through :meth:`ServerRequest.respond` is
  retransmitted by the endpoint over unreliable transports, T1 doubling up to T2, until
  the ACK arrives (matched by Call-ID, CSeq number and To tag; the ACK still goes to
  ``on_ack``) or a BYE for that dialog arrives, or 64·T1 passes: then it is logged,
  counted in ``stats.ack_timeouts`` and reported to ``on_ack_timeout`` (§13.3.1.4 says the
  UAS should then end the session with BYE; that is left to the application).
* UAC (§13.2.2.4): a 2xx to an INVITE sent with :meth:`Endpoint.request` (or
  :meth:`Endpoint.request_iter`) makes the endpoint send the ACK itself, statelessly,
  to the remote target (or first Route), and again for every retransmission of that 2xx
  (``auto_ack=False`` turns this off). :meth:`Endpoint.call` places a whole call.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from .._netaddr import ip_of
from .._version import __version__
from ..errors import SipError
from ..ids import IdFactory, SecretsIdFactory
from ..message import Request, Response, make_response
from ..server_transport import response_target
from ..transaction import (
    AckReceived,
    ClientKey,
    Destination,
    LegacyServerKey,
    Outgoing,
    RequestReceived,
    ResponseReceived,
    ServerKey,
    StrayResponse,
    Terminated,
    TimedOut,
    TimerConfig,
    TransactionLayer,
    TransactionStateError,
)
from ..transaction import TransportError as TxnTransportError
from ..uri import SipUri
from .calls import CallResult, build_in_dialog_request, next_hop, place_call
from .transports import needs_stream

if TYPE_CHECKING:
    from ..uri import Uri
    from .transports import Inbound

__all__ = [
    "ALLOWED_METHODS",
    "AckTimeoutCallback",
    "CallResult",
    "Endpoint",
    "EndpointStats",
    "RequestHandler",
    "ServerRequest",
    "TransportLike",
]

wire_log = logging.getLogger("sipwright.wire")
log = logging.getLogger("sipwright.endpoint")

#: Methods this endpoint advertises in Allow when it answers OPTIONS itself.
ALLOWED_METHODS = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "MESSAGE")
DEFAULT_USER_AGENT = f"sipwright/{__version__}"

ServerKeyT = ServerKey | LegacyServerKey
RequestHandler = Callable[["ServerRequest"], Awaitable[None]]
ProvisionalCallback = Callable[[Response], object]
#: ``on_ack_timeout(request, response)``: no ACK came for this 2xx within 64·T1.
AckTimeoutCallback = Callable[[Request, Response], object]


class TransportLike(Protocol):
    """What the endpoint needs from :class:`sipwright.aio.transports.TransportManager`."""

    async def listen(
        self, transport: str, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
    ) -> Destination: ...

    def local_address(self, transport: str) -> Destination | None: ...

    async def send(
        self, data: bytes, dest: Destination, *, connection_id: int | None = None
    ) -> int | None: ...

    async def close(self) -> None: ...


TransportFactory = Callable[[Callable[["Inbound"], None]], TransportLike]


def _default_factory(on_message: Callable[[Inbound], None]) -> TransportLike:
    from .transports import TransportManager

    return TransportManager(on_message)


@dataclass(slots=True)
class EndpointStats:
    """Counters: messages in/out per method (requests) and status class (``"2xx"``)."""

    messages_in: Counter[str] = field(default_factory=Counter)
    messages_out: Counter[str] = field(default_factory=Counter)
    retransmissions: int = 0
    send_errors: int = 0
    handler_errors: int = 0
    #: Retransmissions of 2xx responses to INVITE by the UAS core (§13.3.1.4).
    ok_retransmissions: int = 0
    #: 2xx responses to INVITE for which no ACK came within 64·T1.
    ack_timeouts: int = 0
    #: ACKs for 2xx responses sent by the UAC core (first sends and re-sends).
    acks_sent: int = 0
    layer: TransactionLayer | None = None

    @property
    def active_transactions(self) -> int:
        return self.layer.active if self.layer is not None else 0


def _label(message: Request | Response) -> str:
    if isinstance(message, Request):
        return message.method
    return f"{message.status_code // 100}xx"


def _summary(message: Request | Response) -> str:
    if isinstance(message, Request):
        return f"{message.method} {message.uri_text}"
    return f"{message.status_code} {message.reason}"


def _is_ipv6(host: str) -> bool:
    ip = ip_of(host)  # cached: called for every request's Via
    return ip is not None and ip.version == 6


def _host_for_via(host: str) -> str:
    return f"[{host}]" if _is_ipv6(host) and not host.startswith("[") else host


def local_ip_for(remote_host: str) -> str:
    """The local address the kernel would use to reach ``remote_host`` (no packet sent)."""
    host = remote_host.strip("[]")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1"
    if addr.is_loopback:
        return str(addr)
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((host, 9))
            return str(sock.getsockname()[0])
        except OSError:
            return "::1" if addr.version == 6 else "127.0.0.1"


class ServerRequest:
    """A request received by the endpoint, to be answered with :meth:`respond`."""

    __slots__ = ("_endpoint", "_final", "_to_tag", "cancelled", "key", "request", "source")

    def __init__(
        self, endpoint: Endpoint, key: ServerKeyT, request: Request, source: Destination
    ) -> None:
        self._endpoint = endpoint
        self.key = key
        self.request = request
        self.source = source
        self._to_tag = endpoint.ids.tag()
        self._final = False
        #: Set when a CANCEL for this (INVITE) request arrived; the endpoint sent 487.
        self.cancelled = asyncio.Event()

    @property
    def answered(self) -> bool:
        """Whether a final response has been sent."""
        return self._final

    def make_response(
        self,
        status: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        """Build (not send) a response to this request, with this request's To tag."""
        return make_response(
            self.request,
            status,
            reason,
            to_tag=None if status == 100 else self._to_tag,
            headers=headers,
            body=body,
            content_type=content_type,
        )

    def respond_now(
        self,
        status: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> bool:
        """Send a response synchronously; False when the transaction is gone or final."""
        if self._final:
            return False
        resp = self.make_response(status, reason, headers, body, content_type)
        ok = self._endpoint._send_response(resp, self.key)
        if ok and status >= 200:
            self._final = True
            if status < 300 and self.request.method == "INVITE":
                self._endpoint._track_2xx(self, resp)
        return ok

    async def respond(
        self,
        status: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> bool:
        """Send a provisional or final response through the server transaction."""
        return self.respond_now(status, reason, headers, body, content_type)

    def __repr__(self) -> str:
        return f"<ServerRequest {self.request.method} from {self.source}>"


@dataclass(slots=True)
class _ClientWait:
    future: asyncio.Future[Response]
    on_provisional: ProvisionalCallback | None = None
    queue: asyncio.Queue[Response] | None = None
    request: Request | None = None
    destination: Destination | None = None
    #: Final responses after the first (RFC 6026 Accepted: 2xx retransmissions and
    #: 2xx from other forks, §13.2.2.4), already ACKed when ``auto_ack``.
    on_late_final: ProvisionalCallback | None = None


@dataclass(slots=True)
class _Pending2xx:
    """A 2xx to an INVITE sent by the UAS core, waiting for its ACK (§13.3.1.4)."""

    request: Request
    response: Response
    key: ServerKeyT
    cseq: int
    destination: Destination
    retransmit: bool
    interval: float
    deadline: float
    handle: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _SentAck:
    """The ACK the UAC core sent for a 2xx, re-sent for each retransmission of it."""

    ack: Request
    destination: Destination
    handle: asyncio.TimerHandle | None = None


def _reinvite_ack(
    invite: Request, response: Response, cseq: int, destination: Destination
) -> tuple[Request, Destination]:
    """The ACK of a 2xx to a re-INVITE (an INVITE inside a dialog), and its next hop.

    The route set of an established dialog never changes (§12.2.1.2), so the ACK takes the
    re-INVITE's own Route headers rather than the 2xx's Record-Route (which a re-INVITE's
    2xx need not carry); its Request-URI is the remote target as refreshed by the 2xx's
    Contact (§12.2, §13.2.2.4); same CSeq number, method ACK, a new branch (written by the
    caller: the 2xx ACK is a transaction of its own).
    """
    routes = invite.headers.getall("Route")
    route_set = invite.route
    contacts = response.contact
    target: Uri | None = contacts[0].uri if contacts and not contacts[0].is_wildcard else None
    first = route_set[0].uri if route_set else None
    if isinstance(first, SipUri) and not first.lr:
        # A strict router holds the Request-URI; the remote target is the last Route.
        ruri: Uri = invite.uri
        if target is not None and routes:
            routes = [*routes[:-1], f"<{target}>"]
        hop_uri: Uri = invite.uri
    else:
        ruri = target if target is not None else invite.uri
        hop_uri = first if first is not None else ruri
    headers: list[tuple[str, str]] = [("Max-Forwards", "70")]
    headers.extend(("Route", r) for r in routes)
    headers.append(("From", invite.headers.get("From") or ""))
    headers.append(("To", invite.headers.get("To") or ""))
    headers.append(("Call-ID", invite.call_id or ""))
    headers.append(("CSeq", f"{cseq} ACK"))
    for name in ("Authorization", "Proxy-Authorization"):  # §13.2.2.4
        headers.extend((name, v) for v in invite.headers.getall(name))
    return Request("ACK", ruri, headers), next_hop(hop_uri, destination)


class Endpoint:
    """Transports + transaction layer + pump. Use as ``async with Endpoint(...) as ep``."""

    def __init__(
        self,
        listen: Sequence[tuple[str, str, int]] = (),
        *,
        timers: TimerConfig | None = None,
        ids: IdFactory | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        transport_factory: TransportFactory | None = None,
        auto_ack: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._listen_specs = list(listen)
        #: Server certificate and key for the TLS and WSS listeners.
        self.ssl_context = ssl_context
        #: Whether the UAC core ACKs 2xx responses to INVITE itself (§13.2.2.4).
        self.auto_ack = auto_ack
        # UAS: 2xx awaiting ACK, by (Call-ID, To tag). UAC: ACKs sent, by
        # (Call-ID, CSeq number, To tag), kept 64·T1 for 2xx retransmissions.
        self._pending_2xx: dict[tuple[str, str], _Pending2xx] = {}
        self._sent_acks: dict[tuple[str, int, str], _SentAck] = {}
        self.ids: IdFactory = ids or SecretsIdFactory()
        self.layer = TransactionLayer(timers, ids=self.ids)
        self.user_agent = user_agent
        self._factory = transport_factory or _default_factory
        self._transports: TransportLike | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._clients: dict[ClientKey, _ClientWait] = {}
        self._servers: dict[ServerKeyT, ServerRequest] = {}
        self._server_conns: dict[ServerKeyT, int] = {}
        self._chains: dict[tuple[Destination, int | None], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._processing = False
        self._closed = False
        self.stats = EndpointStats(layer=self.layer)
        #: Handler for new requests (not ACK, not a CANCEL that matched an INVITE).
        self.on_request: RequestHandler | None = None
        #: Called with every ACK that matched no transaction (the ACK of a 2xx).
        self.on_ack: Callable[[Request, Destination], object] | None = None
        #: Called with responses that matched no client transaction.
        self.on_stray_response: Callable[[Response, Destination], object] | None = None
        #: Called when a 2xx to INVITE got no ACK within 64·T1 (§13.3.1.4).
        self.on_ack_timeout: AckTimeoutCallback | None = None
        #: Allow and Supported of the default OPTIONS answer (§11.2; a UserAgent sets its own).
        self.allow: tuple[str, ...] = ALLOWED_METHODS
        self.supported: tuple[str, ...] = ()

    # -- lifecycle -----------------------------------------------------------------

    @property
    def transports(self) -> TransportLike:
        if self._transports is None:
            raise RuntimeError("the endpoint is not started (use `async with Endpoint(...)`)")
        return self._transports

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transports = self._factory(self._on_inbound)
        try:
            for transport, host, port in self._listen_specs:
                name = transport.upper()
                tls = self.ssl_context if name in ("TLS", "WSS") else None
                await self._transports.listen(name, host, port, ssl_context=tls)
        except BaseException:
            await self._transports.close()
            raise

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for pending in self._pending_2xx.values():
            if pending.handle is not None:
                pending.handle.cancel()
        self._pending_2xx.clear()
        for sent in self._sent_acks.values():
            if sent.handle is not None:
                sent.handle.cancel()
        self._sent_acks.clear()
        for task in list(self._tasks) + list(self._chains.values()):
            task.cancel()
        for task in list(self._tasks) + list(self._chains.values()):
            with contextlib.suppress(BaseException):
                await task
        for wait in self._clients.values():
            if not wait.future.done():
                wait.future.set_exception(SipError("endpoint closed"))
        self._clients.clear()
        if self._transports is not None:
            await self._transports.close()

    async def __aenter__(self) -> Endpoint:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def local_address(self, transport: str = "UDP") -> Destination | None:
        return self.transports.local_address(transport.upper())

    async def local_for(self, destination: Destination) -> Destination | None:
        """Our address for messages to ``destination``; listens on an ephemeral port
        (UDP/TCP, on the address that routes to it) when nothing listens yet."""
        transport = destination.transport.upper()
        local = self.transports.local_address(transport)
        if local is None and transport in ("UDP", "TCP"):
            ip = local_ip_for(destination.host)
            local = await self.transports.listen(transport, ip, 0)
        return local

    @property
    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    # -- client side ---------------------------------------------------------------

    async def _top_via(self, destination: Destination) -> str:
        local = await self.local_for(destination)
        if local is not None:
            sent_by = _host_for_via(local.host)
            if local.port:
                sent_by += f":{local.port}"
        else:
            sent_by = _host_for_via(local_ip_for(destination.host))
        branch = self.ids.branch()
        return f"SIP/2.0/{destination.transport.upper()} {sent_by};branch={branch};rport"

    async def _prepare(self, msg: Request, destination: Destination) -> Destination:
        """Fill Max-Forwards and the top Via; apply §18.1.1 (large requests go over TCP)."""
        if msg.headers.get("Max-Forwards") is None:
            msg.headers.add("Max-Forwards", "70")
        if not msg.via:
            msg.headers.prepend("Via", await self._top_via(destination))
            if needs_stream(bytes(msg), destination):
                destination = Destination(destination.host, destination.port, "TCP")
                msg.headers.replace_first_value("Via", await self._top_via(destination))
        elif msg.via[0].branch is None:
            top = msg.via[0].with_param("branch", self.ids.branch())
            msg.headers.replace_first_value("Via", str(top))
        return destination

    async def _start(self, msg: Request, destination: Destination, wait: _ClientWait) -> None:
        if self._closed:
            raise SipError("endpoint closed")
        destination = await self._prepare(msg, destination)
        wait.request = msg
        wait.destination = destination
        key = self.layer.send_request(msg, destination, None, self._now)
        self._clients[key] = wait
        self._process()

    async def request(
        self,
        msg: Request,
        destination: Destination,
        *,
        on_provisional: ProvisionalCallback | None = None,
        on_late_final: ProvisionalCallback | None = None,
    ) -> Response:
        """Send ``msg`` through a client transaction and return its final response.

        Fills Max-Forwards (70) and the top Via (our sent-by, a fresh branch) when
        missing. A timeout or transport failure returns the transaction layer's 408
        or 503 (§8.1.3.1). ``on_provisional`` is called with each 1xx;
        ``on_late_final`` with each final response the INVITE transaction passes up
        after the first (RFC 6026 Accepted state: 2xx retransmissions and the 2xx of
        other forks, which a UAC must ACK and then end with BYE, §13.2.2.4).
        """
        assert self._loop is not None, "endpoint not started"
        wait = _ClientWait(self._loop.create_future(), on_provisional)
        wait.on_late_final = on_late_final
        await self._start(msg, destination, wait)
        return await wait.future

    async def request_iter(self, msg: Request, destination: Destination) -> AsyncIterator[Response]:
        """Like :meth:`request`, yielding every response: provisionals, then the final."""
        assert self._loop is not None, "endpoint not started"
        queue: asyncio.Queue[Response] = asyncio.Queue()
        wait = _ClientWait(self._loop.create_future(), None, queue)
        await self._start(msg, destination, wait)
        while True:
            resp = await queue.get()
            yield resp
            if resp.status_code >= 200:
                return

    async def call(
        self,
        uri: str | Uri,
        destination: Destination,
        *,
        sdp: bytes | None = None,
        duration: float = 0.0,
        from_uri: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> CallResult:
        """Place a whole call: INVITE (SDP offer ``sdp`` or a minimal one), ACK, BYE.

        The minimal UA core until the dialog layer lands (see ``calls.py``): the 2xx is
        ACKed by the endpoint, the call lasts ``duration`` seconds, then an in-dialog BYE
        (Request-URI = remote Contact, Route = Record-Route reversed, CSeq 2) is sent and
        its final response awaited. Returns a :class:`CallResult` (``.ok``).
        """
        return await place_call(
            self, uri, destination, sdp=sdp, duration=duration, from_uri=from_uri, headers=headers
        )

    # -- UAC core: the ACK of a 2xx (§13.2.2.4) ---------------------------------------

    def _via_for(self, destination: Destination) -> str:
        local = self.transports.local_address(destination.transport.upper())
        if local is not None:
            sent_by = _host_for_via(local.host) + (f":{local.port}" if local.port else "")
        else:
            sent_by = _host_for_via(local_ip_for(destination.host))
        return f"SIP/2.0/{destination.transport.upper()} {sent_by};branch={self.ids.branch()};rport"

    def _ack_2xx(self, response: Response, wait: _ClientWait | None) -> None:
        """Send (or re-send) the ACK for a 2xx to an INVITE."""
        cseq = response.cseq
        to = response.to
        call_id = response.call_id
        if cseq is None or to is None or call_id is None:
            return
        ack_key = (call_id, cseq.number, to.tag or "")
        sent = self._sent_acks.get(ack_key)
        if sent is None:
            if wait is None or wait.request is None or wait.destination is None:
                return
            invite = wait.request
            via_dest = wait.destination
            if invite.to is not None and invite.to.tag is not None:
                ack, hop = _reinvite_ack(invite, response, cseq.number, via_dest)
            else:
                ack, hop = build_in_dialog_request("ACK", invite, response, cseq.number, via_dest)
            ack.headers.prepend("Via", self._via_for(hop))
            sent = _SentAck(ack, hop)
            self._sent_acks[ack_key] = sent
            if self._loop is not None:
                sent.handle = self._loop.call_later(
                    self.layer.config.timer_m + self.layer.config.t4,
                    self._sent_acks.pop,
                    ack_key,
                    None,
                )
        self.stats.acks_sent += 1
        self.send_stateless(sent.ack, sent.destination)

    # -- UAS core: 2xx retransmission (§13.3.1.4) ------------------------------------

    def _track_2xx(self, sreq: ServerRequest, response: Response) -> None:
        cseq = response.cseq
        to = response.to
        call_id = response.call_id
        if cseq is None or to is None or call_id is None or self._loop is None:
            return
        config = self.layer.config
        t = response_target(response)
        dest = Destination(t.host, t.port, t.transport)
        pending = _Pending2xx(
            sreq.request,
            response,
            sreq.key,
            cseq.number,
            dest,
            retransmit=not sreq.source.reliable,
            interval=config.t1,
            deadline=self._now + 64 * config.t1,
        )
        dialog = (call_id, to.tag or "")
        old = self._pending_2xx.get(dialog)
        if old is not None and old.handle is not None:
            old.handle.cancel()
        self._pending_2xx[dialog] = pending
        first = pending.deadline if not pending.retransmit else self._now + pending.interval
        pending.handle = self._loop.call_at(first, self._on_2xx_timer, dialog, pending)

    def _on_2xx_timer(self, dialog: tuple[str, str], pending: _Pending2xx) -> None:
        if self._closed or self._pending_2xx.get(dialog) is not pending:
            return
        assert self._loop is not None
        now = self._now
        if now >= pending.deadline - 1e-3:
            del self._pending_2xx[dialog]
            self.stats.ack_timeouts += 1
            log.warning(
                "no ACK for %s %s (call-id %s) within 64*T1; the session should be ended",
                pending.response.status_code,
                pending.response.reason,
                dialog[0],
            )
            callback = self.on_ack_timeout
            if callback is not None:
                try:
                    callback(pending.request, pending.response)
                except Exception:
                    log.exception("on_ack_timeout callback failed")
            return
        self.stats.ok_retransmissions += 1
        self.stats.retransmissions += 1
        try:
            # While the INVITE server transaction is Accepted (RFC 6026) it passes the
            # TU's 2xx through; after Timer L the 2xx goes statelessly.
            self.layer.send_response(pending.response, now, key=pending.key)
        except TransactionStateError:
            self.layer.send_stateless(pending.response, pending.destination)
        self._process()
        pending.interval = min(2 * pending.interval, self.layer.config.t2)
        at = min(now + pending.interval, pending.deadline)
        pending.handle = self._loop.call_at(at, self._on_2xx_timer, dialog, pending)

    def _stop_2xx(self, request: Request, *, ack: bool) -> None:
        """An ACK (matching CSeq) or a BYE for the dialog stops the 2xx retransmission."""
        to = request.to
        call_id = request.call_id
        if to is None or call_id is None or not self._pending_2xx:
            return
        dialog = (call_id, to.tag or "")
        pending = self._pending_2xx.get(dialog)
        if pending is None:
            return
        if ack:
            cseq = request.cseq
            if cseq is None or cseq.number != pending.cseq:
                return
        del self._pending_2xx[dialog]
        if pending.handle is not None:
            pending.handle.cancel()

    # -- stateless -----------------------------------------------------------------

    def send_stateless(self, msg: Request | Response, destination: Destination) -> None:
        """Send a message outside any transaction (2xx ACK, stateless proxying)."""
        self.layer.send_stateless(msg, destination)
        self._process()

    def respond_stateless(
        self,
        request: Request,
        status: int,
        reason: str | None = None,
        destination: Destination | None = None,
    ) -> None:
        """Answer ``request`` without a transaction (to its Via, or ``destination``)."""
        resp = make_response(request, status, reason, to_tag=self.ids.tag())
        if destination is None:
            t = response_target(resp)
            destination = Destination(t.host, t.port, t.transport)
        self.send_stateless(resp, destination)

    # -- server side ---------------------------------------------------------------

    def _send_response(self, resp: Response, key: ServerKeyT) -> bool:
        try:
            self.layer.send_response(resp, self._now, key=key)
        except TransactionStateError as exc:
            log.debug("response %s not sent: %s", resp.status_code, exc)
            return False
        self._process()
        return True

    def _default_answer(self, sreq: ServerRequest) -> None:
        if sreq.request.method == "OPTIONS":
            sreq.respond_now(
                200,
                headers=[
                    ("Allow", ", ".join(self.allow)),
                    ("Accept", "application/sdp"),
                    ("Supported", ", ".join(self.supported)),
                    ("Server", self.user_agent),
                ],
            )
        else:
            sreq.respond_now(501)

    async def _run_handler(self, handler: RequestHandler, sreq: ServerRequest) -> None:
        try:
            await handler(sreq)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.handler_errors += 1
            log.exception("request handler failed for %r", sreq)
            sreq.respond_now(500)
            return
        if not sreq.answered:
            log.warning("handler returned without a final response: %r", sreq)
            sreq.respond_now(500, "Handler Sent No Response")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_request(self, event: RequestReceived) -> None:
        request = event.request
        if request.method == "BYE" and self._pending_2xx:
            self._stop_2xx(request, ack=False)
        sreq = ServerRequest(self, event.key, request, event.source)
        self._servers[event.key] = sreq
        if request.method == "CANCEL" and event.cancels is not None:
            target = self._servers.get(event.cancels)
            sreq.respond_now(200)
            if target is not None and not target.answered:
                target.respond_now(487)
                target.cancelled.set()
            return
        if request.method == "CANCEL":
            sreq.respond_now(481)
            return
        handler = self.on_request
        if handler is None:
            self._default_answer(sreq)
        else:
            self._spawn(self._run_handler(handler, sreq))

    # -- the pump ------------------------------------------------------------------

    def _on_inbound(self, inbound: Inbound) -> None:
        # The transport has stamped received/rport on requests already (§18.2.1).
        if self._closed:
            return
        message = inbound.message
        source = inbound.source
        self._log_wire("recv", message, source)
        self.stats.messages_in[_label(message)] += 1
        self.layer.receive(message, source, source.reliable, self._now)
        if inbound.connection_id is not None and isinstance(message, Request):
            # Remember the connection of a new server transaction (§18.2.2).
            while (event := self.layer.next_event()) is not None:
                if isinstance(event, RequestReceived):
                    self._server_conns[event.key] = inbound.connection_id
                self._dispatch(event)
        self._process()

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._timer_at
        self._timer_at = None
        now = self._now if deadline is None else max(deadline, self._now)
        self.layer.handle_timer(now)
        self._process()

    def _process(self) -> None:
        """Drain events, transmit, re-arm the timer. Re-entrant calls fold into one."""
        if self._processing or self._closed:
            return
        self._processing = True
        try:
            while True:
                event = self.layer.next_event()
                if event is not None:
                    self._dispatch(event)
                    continue
                out = self.layer.messages_to_send()
                if not out:
                    break
                for item in out:
                    self._transmit(item)
        finally:
            self._processing = False
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self.layer.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _dispatch(self, event: object) -> None:
        if isinstance(event, RequestReceived):
            self._on_request(event)
        elif isinstance(event, ResponseReceived):
            self._deliver(event.key, event.response)
        elif isinstance(event, TimedOut | TxnTransportError):
            if isinstance(event.key, ClientKey) and event.response is not None:
                self._deliver(event.key, event.response)
        elif isinstance(event, Terminated):
            if isinstance(event.key, ClientKey):
                self._clients.pop(event.key, None)
            else:
                self._servers.pop(event.key, None)
                self._server_conns.pop(event.key, None)
        elif isinstance(event, AckReceived):
            self._stop_2xx(event.request, ack=True)
            if event.key is None and self.on_ack is not None:
                self.on_ack(event.request, event.source)
        elif isinstance(event, StrayResponse):
            if self.auto_ack and self._is_invite_2xx(event.response):
                self._ack_2xx(event.response, None)
            if self.on_stray_response is not None:
                self.on_stray_response(event.response, event.source)

    @staticmethod
    def _is_invite_2xx(response: Response) -> bool:
        if not 200 <= response.status_code < 300:
            return False
        cseq = response.cseq
        return cseq is not None and cseq.method == "INVITE"

    def _deliver(self, key: ClientKey, response: Response) -> None:
        wait = self._clients.get(key)
        if self.auto_ack and key.method == "INVITE" and self._is_invite_2xx(response):
            self._ack_2xx(response, wait)
        if wait is not None and wait.future.done() and response.status_code >= 200:
            if wait.on_late_final is not None:
                try:
                    wait.on_late_final(response)
                except Exception:
                    log.exception("on_late_final callback failed")
            return
        if wait is None or wait.future.done():
            return
        if wait.queue is not None:
            wait.queue.put_nowait(response)
        if response.status_code < 200:
            if wait.on_provisional is not None:
                try:
                    wait.on_provisional(response)
                except Exception:
                    log.exception("on_provisional callback failed")
            return
        wait.future.set_result(response)

    def _transmit(self, out: Outgoing) -> None:
        assert self._loop is not None
        message = out.message
        data = bytes(message)
        self._log_wire("send", message, out.destination, out.retransmission)
        self.stats.messages_out[_label(message)] += 1
        if out.retransmission:
            self.stats.retransmissions += 1
        conn: int | None = None
        if out.key is not None and not isinstance(out.key, ClientKey):
            conn = self._server_conns.get(out.key)
        chain = (out.destination, conn)
        prev = self._chains.get(chain)
        task = self._loop.create_task(self._send(data, out, conn, prev))
        self._chains[chain] = task

        def done(t: asyncio.Task[None], chain: tuple[Destination, int | None] = chain) -> None:
            if self._chains.get(chain) is t:
                del self._chains[chain]

        task.add_done_callback(done)

    async def _send(
        self,
        data: bytes,
        out: Outgoing,
        conn: int | None,
        prev: asyncio.Task[None] | None,
    ) -> None:
        # Messages to one destination leave in order (a 180 before its 200).
        if prev is not None and not prev.done():
            await asyncio.wait({prev})
        try:
            await self.transports.send(data, out.destination, connection_id=conn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.send_errors += 1
            log.info("send to %s failed: %s", out.destination, exc)
            if out.key is not None and not self._closed:
                self.layer.transport_error(out.key, self._now)
                self._process()

    def _log_wire(
        self,
        direction: str,
        message: Request | Response,
        peer: Destination,
        retransmission: bool = False,
    ) -> None:
        if not wire_log.isEnabledFor(logging.INFO):
            return
        cseq = message.headers.get("CSeq")
        wire_log.info(
            "%s %s %s:%s %s%s call-id=%s cseq=%s",
            direction,
            peer.transport,
            peer.host,
            peer.port,
            _summary(message),
            " (retransmission)" if retransmission else "",
            message.call_id,
            cseq,
        )
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s\n%s", direction, bytes(message).decode("utf-8", "replace"))
