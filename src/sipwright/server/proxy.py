"""The asyncio stateful proxy (RFC 3261 §16): transports + transactions + response contexts.

:class:`ProxyServer` is the I/O shell around the sans-I/O rules of :mod:`sipwright.proxy`.
It owns one :class:`~sipwright.aio.transports.TransportManager` and one
:class:`~sipwright.transaction.TransactionLayer` and pumps them like
:class:`~sipwright.aio.endpoint.Endpoint` does (every input with ``now = loop.time()``,
then events, then output, then one ``call_at`` for the next timer), but leaner: no UA
core, no per-message logging unless the ``sipwright.wire`` logger is enabled.

What happens to a request (§16.3–§16.6):

* validated (§16.3: 400, 416, 483, 482, 420; a request whose CSeq no transaction can
  hold gets a stateless 400 rather than the layer's silent drop); an INVITE gets its
  100 Trying at once (§16.2); route pre-processing (§16.4);
* addressed to us (Request-URI = one of our domains or addresses with no user part, no
  Route left): OPTIONS → 200 with Allow/Accept/Supported (§11, also with Max-Forwards
  0); REGISTER → the ``on_register`` hook (405 with Allow when there is none: we are
  responsible for the domain but run no registrar); anything else → 405;
* for one of our domains with a user part and no Route left: the location service gives
  the targets (§16.5), each binding's Path becoming Route (RFC 3327) and its flow the
  next hop (RFC 5626 §5.3); no binding → 480 Temporarily Unavailable, the response §16.5
  recommends for an empty target set — or 404 when the ``known_user`` hook says the user
  does not exist. A REGISTER to our domain goes to ``on_register`` whatever its user part.
  Before the lookup, ``authenticate`` may challenge an out-of-dialog request whose From
  is in our domains (ACK and CANCEL are never challenged, §22.1);
* otherwise forwarded to its first Route or Request-URI: an IP literal as it is; a host
  name is located by RFC 3263 (NAPTR, SRV, A/AAAA through ``resolver``, a
  :class:`~sipwright.aio.dns.SipResolver`), the first address tried and the others
  kept for failover (a 503 or a timeout before any provisional, §4.3); a name with no
  address (or no resolver) gets 404 naming the fault.

Each stateful forward has a :class:`~sipwright.proxy.ResponseContext`; Record-Route is
added to initial dialog-creating requests (``<sip:ip:port;lr>``, two values when the
request leaves over another transport or address than it came in on, RFC 5658). ACKs for
2xx are forwarded statelessly by their Route/Request-URI (§16.6, §16.11); responses
matching no context (stray 2xx, retransmissions) are forwarded statelessly by their Via
(§16.7 step 5, §18.2.2) after our Via is removed; a response whose top Via is not ours is
dropped. CANCEL: 200 at once, every pending branch cancelled (§16.10); a CANCEL matching
no transaction gets 481 (we never forward INVITEs statelessly, so there is nothing
to forward it along).

Over UDP the proxy writes datagrams synchronously (no task per message: this is the hot
path); stream sends go through tasks chained per destination so they keep their order.
The location store and the hooks are awaited by stepping their coroutine by hand: an
in-memory store never suspends, so no task is created per request (see ``_run_soon``).

Several worker processes (``reuse_port=True``: SO_REUSEPORT on the listeners). The
kernel spreads datagrams over the workers by source address, so the callee's answers
to a request forwarded by one worker could land on another. Each worker therefore
forwards over UDP from a private port of its own (its Via sent-by), which brings every
response back to the worker that holds the client transaction; Record-Route names the
shared port, since any worker can proxy an in-dialog request. A binding's flow records
the connection as ``"<pid>/<connection id>"``: only the worker that holds the
connection uses it, the others reach the flow's address.

Addresses: a wildcard listener (``0.0.0.0``) is advertised in Via and Record-Route as
the local address that routes to the peer. There is no separate "advertised address"
setting (a proxy behind NAT would need one).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._netaddr import ip_of
from .._version import __version__
from ..aio.dns import SipResolver
from ..aio.endpoint import local_ip_for
from ..aio.transports import Inbound, TransportError, TransportManager
from ..dialog.helpers import build_cancel
from ..errors import ParseError
from ..headers import Via
from ..ids import IdFactory, SecretsIdFactory
from ..message import Request, Response, make_response
from ..proxy import (
    CancelBranch,
    ForwardResponse,
    LocalIdentity,
    ResponseContext,
    StartBranch,
    Target,
    destination_of,
    detect_loop,
    forward_request,
    loop_hash,
    make_branch,
    next_hop_uri,
    preprocess_routes,
    record_route_value,
    stateless_branch,
    validate_request,
)
from ..proxy.context import Branch
from ..proxy.forward import BRANCH_PREFIX
from ..proxy.targets import flow_connection, targets_of
from ..registrar import Binding, Flow, aor_of
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
    ServerTransaction,
    StrayResponse,
    Terminated,
    TimedOut,
    TimerConfig,
    TransactionLayer,
    TransactionStateError,
)
from ..transaction import TransportError as TxnTransportError
from ..uri import SipUri, Uri, parse_uri
from .location import LocationStore

__all__ = ["ProxyServer", "ProxyStats"]

log = logging.getLogger("sipwright.proxy")
wire_log = logging.getLogger("sipwright.wire")

ServerKeyT = ServerKey | LegacyServerKey
RegisterHook = Callable[[Request, Flow], Awaitable[Response]]
AuthHook = Callable[[Request], Awaitable[Response | None]]
KnownUserHook = Callable[[str], Awaitable[bool]]

#: Methods answered by the proxy itself when addressed to it (Allow of its OPTIONS 200).
ALLOW = (
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "REGISTER",
    "MESSAGE",
    "SUBSCRIBE",
    "NOTIFY",
    "REFER",
    "INFO",
    "UPDATE",
    "PRACK",
    "PUBLISH",
)
#: Requests that may create a dialog: Record-Route goes into their initial instance.
_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})
SERVER_HEADER = f"sipwright/{__version__}"
#: ``responses_sent`` keys by status class (a status is three digits, §7.2): no
#: f-string per response sent.
_CLASS_KEYS = tuple(f"{n}xx" for n in range(10))

#: Allocations between young-generation collections while a proxy runs (CPython's
#: default is 700). Measured in-process on a full INVITE/ACK/BYE call load: with the
#: default, the collector took about a third of the CPU, because every young
#: collection also walks the messages and transactions held for Timers J and K.
GC_GEN0_THRESHOLD = 50_000
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


def _gc_acquire() -> None:
    """Raise the collector's gen-0 threshold while at least one proxy runs."""
    global _gc_users, _gc_saved
    if _gc_users == 0:
        _gc_saved = gc.get_threshold()
        _, gen1, gen2 = _gc_saved
        gc.set_threshold(max(GC_GEN0_THRESHOLD, _gc_saved[0]), gen1, gen2)
    _gc_users += 1


def _gc_release() -> None:
    global _gc_users, _gc_saved
    _gc_users -= 1
    if _gc_users == 0 and _gc_saved is not None:
        gc.set_threshold(*_gc_saved)
        _gc_saved = None


@dataclass(slots=True)
class ProxyStats:
    """Plain counters for /metrics. ``active_*`` are live gauges."""

    requests: Counter[str] = field(default_factory=Counter)
    #: Responses sent upstream or generated, by class: ``"1xx"`` .. ``"6xx"``.
    responses_sent: Counter[str] = field(default_factory=Counter)
    #: Requests forwarded statefully (one per branch).
    forwarded: int = 0
    #: ACKs and responses forwarded statelessly.
    stateless_forwards: int = 0
    #: Messages dropped: responses not for us, ACKs with nowhere to go.
    dropped: int = 0
    #: Send failures and hook errors.
    errors: int = 0
    #: Next hops located by RFC 3263, and those that gave no address.
    dns_lookups: int = 0
    dns_failures: int = 0
    active_server_transactions: int = 0
    active_client_transactions: int = 0
    active_contexts: int = 0


@dataclass(eq=False, slots=True)
class _Proxied:
    """One request being proxied statefully: its server transaction and context."""

    key: ServerKeyT
    request: Request
    ctx: ResponseContext | None
    #: Loop hash of the request as received (§16.6 step 8).
    lh: str
    #: Our address the request came in on, and the address it came from.
    inbound: Destination
    source_host: str
    record_route: bool
    #: The targets came from the location service: their URI replaces the Request-URI.
    retarget: bool
    cancelled: bool = False
    timer: asyncio.TimerHandle | None = None
    timer_at: float | None = None


class ProxyServer:
    """A stateful SIP proxy; ``await start()``, ``await close()``. See the module doc."""

    def __init__(
        self,
        *,
        listen: Sequence[tuple[str, str, int]],
        domains: Iterable[str],
        location: LocationStore,
        on_register: RegisterHook | None = None,
        authenticate: AuthHook | None = None,
        known_user: KnownUserHook | None = None,
        record_route: bool = True,
        timers: TimerConfig | None = None,
        timer_c: float = 180.0,
        ssl_context: ssl.SSLContext | None = None,
        ids: IdFactory | None = None,
        clock: Callable[[], float] = time.time,
        reuse_port: bool = False,
        tune_gc: bool = True,
        resolver: SipResolver | None = None,
    ) -> None:
        self._listen_specs = list(listen)
        #: RFC 3263 server location for next hops named by host name (None: 404).
        self.resolver = resolver
        self.identity = LocalIdentity(domains)
        self.location = location
        self.on_register = on_register
        self.authenticate = authenticate
        #: ``known_user(aor)``: False turns "no binding" into 404 instead of 480.
        self.known_user = known_user
        self.record_route = record_route
        self.timer_c = timer_c
        self.ssl_context = ssl_context
        self.ids: IdFactory = ids or SecretsIdFactory()
        #: ``on_final(request, response)``: called once per request we answer, with its
        #: first final response (forwarded or generated here) — not for the 2xx
        #: retransmissions and extra 2xx of forks that follow. For call logs and CDRs.
        self.on_final: Callable[[Request, Response], None] | None = None
        #: Wall clock for the location service (bindings expire in wall-clock time).
        self.clock = clock
        self.reuse_port = reuse_port
        #: Raise the garbage collector's gen-0 threshold from start() to close() (see
        #: GC_GEN0_THRESHOLD): process-wide, restored when the last proxy closes.
        self.tune_gc = tune_gc
        self._gc_tuned = False
        self.layer = TransactionLayer(timers, ids=self.ids)
        self.stats = ProxyStats()
        self._tm: TransportManager | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._processing = False
        self._closing = False
        self._closed = False
        self._locals: dict[str, Destination] = {}
        #: With ``reuse_port``: our own UDP socket (not shared with other workers) for
        #: the requests we forward, so their responses come back to *this* process.
        self._private_udp: Any = None
        self._via_udp: Destination | None = None
        self._wildcard_ips: dict[str, str] = {}
        self._proxied: dict[ServerKeyT, _Proxied] = {}
        self._branches: dict[ClientKey, tuple[_Proxied, Branch]] = {}
        #: Client transactions whose context is done but which live on for Timer K/M:
        #: the upstream server key when the request was an INVITE (a late 2xx still goes
        #: up, §16.7 step 5, RFC 6026), else None (anything late is absorbed). Keeping
        #: this instead of the context lets the context and its messages go at once.
        self._finished: dict[ClientKey, ServerKeyT | None] = {}
        self._own_cancels: set[ClientKey] = set()
        self._server_conns: dict[ServerKeyT, int] = {}
        self._client_conns: dict[ClientKey, int] = {}
        self._chains: dict[tuple[Destination, int | None], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pid = str(os.getpid())

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Bind every listener of ``listen``."""
        self._loop = asyncio.get_running_loop()
        self._tm = TransportManager(self._on_inbound, reuse_port=self.reuse_port)
        try:
            for transport, host, port in self._listen_specs:
                name = transport.upper()
                tls = self.ssl_context if name in ("TLS", "WSS") else None
                bound = await self._tm.listen(name, host, port, ssl_context=tls)
                self.identity.add_address(bound.host, bound.port)
                self._locals.setdefault(name, bound)
            shared = self._locals.get("UDP")
            if self.reuse_port and shared is not None:
                # Workers share the listening port and the kernel spreads what arrives on
                # it by source address: a response from a callee could reach a worker
                # that does not hold the client transaction. Forwarding from a private
                # port (our Via's sent-by) brings every response back here; the shared
                # port stays in Record-Route, as any worker can proxy in-dialog requests.
                private = await self._tm.listen("UDP", shared.host, 0)
                self.identity.add_address(private.host, private.port)
                self._via_udp = private
                self._private_udp = next((ep for ep in self._tm._udp if ep.local == private), None)
        except BaseException:
            await self._tm.close()
            raise
        if self.tune_gc and not self._gc_tuned:
            self._gc_tuned = True
            _gc_acquire()

    async def close(self, *, drain: float = 5.0) -> None:
        """Stop taking new requests, let the calls and transactions in flight finish
        for up to ``drain`` seconds, then close every socket.

        While draining, out-of-dialog requests get 503 with Retry-After (another worker
        or server can take them); responses, ACKs, CANCELs and in-dialog requests are
        still proxied so the calls in progress end cleanly.
        """
        if self._closed:
            return
        self._closing = True
        loop = asyncio.get_running_loop()
        end = loop.time() + drain
        # In flight = a request still being proxied or a hook (registrar, auth) still
        # running. Transactions that already sent their final response only wait out
        # Timer J/K/I (absorbing retransmissions): they need not hold the stop.
        while (self._proxied or self._tasks) and loop.time() < end:
            await asyncio.sleep(0.02)
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for p in self._proxied.values():
            if p.timer is not None:
                p.timer.cancel()
        for task in list(self._tasks) + list(self._chains.values()):
            task.cancel()
        for task in list(self._tasks) + list(self._chains.values()):
            with contextlib.suppress(BaseException):
                await task
        if self._tm is not None:
            await self._tm.close()
        if self._gc_tuned:
            self._gc_tuned = False
            _gc_release()

    async def __aenter__(self) -> ProxyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close(drain=0.0)

    def local_address(self, transport: str) -> Destination | None:
        """Our first listening address on ``transport`` (None before start or if none)."""
        return self._locals.get(transport.upper())

    def add_websocket_endpoint(self, local: Destination) -> None:
        """Take SIP over WebSocket at ``local``, served by another HTTP server (``GET /ws``
        of ``sipwright serve``): named in Via and Record-Route for WS (RFC 7118 §5), and
        recognised as ours in Route (§16.4). Call after :meth:`start`."""
        assert self._tm is not None, "add_websocket_endpoint needs a started proxy"
        self._tm.add_websocket_endpoint(local)
        self.identity.add_address(local.host, local.port)
        self._locals.setdefault(local.transport, local)

    def _hop_destination(self, uri: Uri) -> Destination | None:
        """Where a next-hop URI is reached: its IP literal, else the connection of the
        WebSocket client it names by ``.invalid`` host; None for a host name (see
        :meth:`_locatable`: RFC 3263 needs awaiting)."""
        return destination_of(uri) or self._named_flow(uri)

    def _locatable(self, uri: Uri) -> SipUri | None:
        """``uri`` when it names a host that DNS may know (RFC 3263) and there is a
        resolver; None for ``.invalid`` names (a flow that is gone) and the rest."""
        if self.resolver is None or not isinstance(uri, SipUri):
            return None
        host = uri.bare_host.lower()
        if not host or host.endswith(".invalid") or ip_of(host) is not None:
            return None
        return uri

    async def _locate(self, uri: SipUri) -> list[Destination]:
        """RFC 3263 for ``uri``, limited to the transports and address families we have."""
        assert self.resolver is not None
        have = set(self._locals)
        families = []
        if any(":" not in d.host for d in self._locals.values()):
            families.append("A")
        if any(":" in d.host for d in self._locals.values()):
            families.append("AAAA")
        found = await self.resolver.locate(uri, have & {"UDP", "TCP", "TLS"}, families)
        self.stats.dns_lookups += 1
        if not found:
            self.stats.dns_failures += 1
        return found

    def _named_flow(self, uri: object) -> Destination | None:
        """The connection of a WebSocket client whose URI host is its ``.invalid`` name
        (RFC 7118 §5): its Contact is reachable only over that connection."""
        if self._tm is None or not isinstance(uri, SipUri):
            return None
        host = uri.bare_host.lower()
        return self._tm.flow_destination(host) if host.endswith(".invalid") else None

    @property
    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    # -- the pump ------------------------------------------------------------------

    def _on_inbound(self, inbound: Inbound) -> None:
        if self._closed:
            return
        message = inbound.message
        if wire_log.isEnabledFor(logging.INFO):
            self._log_wire("recv", message, inbound.source)
        if isinstance(message, Request):
            self.stats.requests[message.method] += 1
            try:
                # What transaction matching reads (§17.2.3): the layer would drop a
                # request it cannot match; we answer it 400 instead (§16.3 step 1).
                message.cseq  # noqa: B018
            except ParseError as exc:
                self._reject_unmatchable(message, inbound, exc)
                return
        self.layer.receive(message, inbound.source, None, self._now)
        layer = self.layer
        while (event := layer.next_event()) is not None:
            self._dispatch(event, inbound)
        self._process()

    def _reject_unmatchable(self, request: Request, inbound: Inbound, exc: ParseError) -> None:
        """A stateless 400 naming the fault, for a request no transaction can hold."""
        if request.method == "ACK":
            self.stats.dropped += 1
            return
        try:
            resp = make_response(request, 400, f"Bad Request ({exc.reason})"[:100])
            if inbound.source.reliable:
                dest = inbound.source  # §18.2.2: back over the connection it came on
            else:
                t = response_target(resp)
                if t.needs_resolution:
                    self.stats.dropped += 1
                    return
                dest = Destination(t.host, t.port, t.transport)
        except ParseError:
            self.stats.dropped += 1
            return
        self.layer.send_stateless(resp, dest)
        self.stats.responses_sent["4xx"] += 1
        self._process()

    def compact(self) -> bool:
        """When nothing is in flight, fresh tables for the proxy and its transaction
        layer (see :meth:`TransactionLayer.compact`); whether it did."""
        if (
            self._proxied
            or self._branches
            or self._finished
            or self._chains
            or not self.layer.compact()
        ):
            return False
        self._proxied = {}
        self._branches = {}
        self._finished = {}
        self._own_cancels = set()
        self._server_conns = {}
        self._client_conns = {}
        if self._tm is not None:
            self._tm.clear_caches()
        return True

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._timer_at
        self._timer_at = None
        now = self._now if deadline is None else max(deadline, self._now)
        self.layer.handle_timer(now)
        self._process()

    def _process(self) -> None:
        if self._processing or self._closed:
            return
        self._processing = True
        layer = self.layer
        try:
            while True:
                event = layer.next_event()
                if event is not None:
                    self._dispatch(event, None)
                    continue
                out = layer.messages_to_send()
                if not out:
                    break
                for item in out:
                    self._transmit(item)
        finally:
            self._processing = False
        # One loop timer for the whole layer, moved only when the next deadline comes
        # *earlier*: when it moves later (the transaction owning the earliest timer
        # ended), the armed one fires early once, finds nothing due and re-arms. Every
        # call makes and ends several transactions, and a cancel + call_at for each
        # of those changes cost more than the odd early wake-up.
        deadline = layer.get_timer()
        if deadline is not None and (self._timer_at is None or deadline < self._timer_at):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            if self._loop is not None:
                self._timer = self._loop.call_at(deadline, self._on_timer)

    def _dispatch(self, event: object, inbound: Inbound | None) -> None:
        stats = self.stats
        if isinstance(event, ResponseReceived):
            self._on_response(event.key, event.response)
        elif isinstance(event, RequestReceived):
            stats.active_server_transactions += 1
            if inbound is not None and inbound.connection_id is not None:
                self._server_conns[event.key] = inbound.connection_id
            self._on_request(event, inbound)
        elif isinstance(event, AckReceived):
            self._forward_ack(event.request, inbound)
        elif isinstance(event, Terminated):
            key = event.key
            # The keys hash in Python (dataclasses): skip the tables that are empty, as
            # the connection and CANCEL tables are under a UDP load.
            if isinstance(key, ClientKey):
                stats.active_client_transactions -= 1
                self._branches.pop(key, None)
                self._finished.pop(key, None)
                if self._client_conns:
                    self._client_conns.pop(key, None)
                if self._own_cancels:
                    self._own_cancels.discard(key)
            else:
                stats.active_server_transactions -= 1
                if self._server_conns:
                    self._server_conns.pop(key, None)
        elif isinstance(event, TimedOut | TxnTransportError):
            if isinstance(event.key, ClientKey) and event.response is not None:
                self._on_response(event.key, event.response)
        elif isinstance(event, StrayResponse):
            self._forward_response_stateless(event.response)

    # -- requests ------------------------------------------------------------------

    def _respond(
        self,
        key: ServerKeyT,
        request: Request,
        status: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        try:
            resp = make_response(
                request,
                status,
                reason,
                to_tag=None if status == 100 else self.ids.tag(),
                headers=headers,
            )
        except ParseError:
            # A To we cannot parse gets no tag: copied as is, the answer still matches
            # the client transaction by Via and CSeq (§17.1.3).
            resp = make_response(request, status, reason, headers=headers)
        self._send_response(key, resp)

    def _send_response(self, key: ServerKeyT, resp: Response) -> bool:
        status = resp.status_code
        hook = self.on_final
        first: Request | None = None
        if hook is not None and status >= 200:
            txn = self.layer.transaction(key)
            if txn is not None and isinstance(txn, ServerTransaction):
                last = txn.last_response
                if last is None or last.status_code < 200:
                    first = txn.request
        try:
            self.layer.send_response(resp, self._now, key=key)
        except TransactionStateError:
            return False
        self.stats.responses_sent[_CLASS_KEYS[status // 100 % 10]] += 1
        if first is not None and hook is not None:
            try:
                hook(first, resp)
            except Exception:
                self.stats.errors += 1
                log.exception("on_final hook failed")
        return True

    def _on_request(self, event: RequestReceived, inbound: Inbound | None) -> None:
        request = event.request
        key = event.key
        method = request.method
        if method == "CANCEL":
            self._on_cancel(event)
            return
        if self._closing:
            try:
                to = request.to
            except ParseError:
                to = None
            if to is None or to.tag is None:
                # Draining: no new dialogs or transactions; in-dialog requests (a BYE
                # ending a call in flight) still go through.
                self._respond(key, request, 503, headers=[("Retry-After", "5")])
                return
        identity = self.identity
        try:
            uri = request.uri
            to_us = isinstance(uri, SipUri) and uri.user is None and identity.is_this_proxy(uri)
        except ParseError:
            to_us = False
        error = validate_request(request, options_to_us=to_us and method == "OPTIONS")
        if error is not None:
            self._send_response(key, error)
            return
        if detect_loop(request, self._is_our_via):
            self._respond(key, request, 482)
            return
        lh = loop_hash(request)
        try:
            preprocess_routes(request, identity)
        except ParseError as exc:
            self._respond(key, request, 400, f"Bad Route ({exc.reason})"[:100])
            return
        uri = request.uri
        if not isinstance(uri, SipUri):
            # A strict router's last Route value became the Request-URI (§16.4).
            self._respond(key, request, 416)
            return
        has_route = request.headers.has_key("route")
        local_in = inbound.local if inbound is not None else self._default_local()
        if not has_route and identity.is_local_domain(uri):
            if method == "REGISTER":
                self._run_soon(self._register(key, request, inbound))
                return
            if uri.user is None:
                self._answer_to_us(key, request)
                return
            if method == "INVITE":
                self._respond(key, request, 100)
            self._run_soon(self._proxy_local(key, request, lh, local_in, event.source.host))
            return
        if uri.user is None and identity.is_this_proxy(uri) and not has_route:
            self._answer_to_us(key, request)
            return
        hop = next_hop_uri(request)
        locate: SipUri | None = None
        if self._hop_destination(hop) is None:
            locate = self._locatable(hop)
            if locate is None:
                self._respond(key, request, 404, "Not Found (no route to that host)")
                return
        if method == "INVITE":
            self._respond(key, request, 100)
        if locate is not None or (self.authenticate is not None and self._needs_auth(request)):
            # A local user calling a foreign target is challenged too: otherwise anyone
            # could relay through us by forging a From in our domain.
            self._run_soon(
                self._forward_foreign_async(
                    key, request, uri, lh, local_in, event.source.host, locate
                )
            )
            return
        self._forward_foreign(key, request, uri, lh, local_in, event.source.host)

    def _forward_foreign(
        self,
        key: ServerKeyT,
        request: Request,
        uri: SipUri,
        lh: str,
        local_in: Destination,
        source_host: str,
    ) -> None:
        """Forward to the Request-URI or the first Route (§16.5: the target is the URI)."""
        p = self._new_proxied(key, request, lh, local_in, source_host, retarget=False)
        self._begin(p, [Target(uri)])

    async def _forward_foreign_async(
        self,
        key: ServerKeyT,
        request: Request,
        uri: SipUri,
        lh: str,
        local_in: Destination,
        source_host: str,
        locate: SipUri | None,
    ) -> None:
        """:meth:`_forward_foreign` after what needs awaiting: the authenticate hook
        (when the request needs it) and locating the next hop ``locate`` (RFC 3263)."""
        p = self._new_proxied(key, request, lh, local_in, source_host, retarget=False)
        self._proxied[key] = p  # a CANCEL arriving meanwhile finds it
        try:
            if await self._challenged(p):
                return
            target = Target(uri)
            if locate is not None:
                found = await self._locate(locate)
                if not found and not p.cancelled and not self._closed:
                    self._forget(p)
                    host = locate.bare_host[:60]
                    self._respond(key, request, 404, f"Not Found (no address for {host})")
                    return
                if found:
                    target = Target(uri, destination=found[0], alternatives=tuple(found[1:]))
            self._forget(p)
            if p.cancelled or self._closed:
                self._respond(key, request, 487)  # §9.2: cancelled before forwarding
                return
            self._begin(p, [target])
        except Exception:
            self.stats.errors += 1
            log.exception("forwarding %s failed", request.method)
            self._forget(p)
            self._respond(key, request, 500)
        finally:
            self._process()

    def _new_proxied(
        self,
        key: ServerKeyT,
        request: Request,
        lh: str,
        local_in: Destination,
        source_host: str,
        *,
        retarget: bool,
    ) -> _Proxied:
        to = request.to
        rr = (
            self.record_route
            and request.method in _DIALOG_CREATING
            and (to is None or to.tag is None)
        )
        return _Proxied(key, request, None, lh, local_in, source_host, rr, retarget)

    def _begin(self, p: _Proxied, targets: Sequence[Target]) -> None:
        """Give ``p`` its response context over ``targets`` (§16.7) and start forwarding."""
        p.ctx = ResponseContext(
            p.request, targets, timer_c=self.timer_c, cancel_wait=64 * self.layer.config.t1
        )
        old = self._proxied.get(p.key)
        if old is not None and old is not p and old.ctx is not None:
            self.stats.active_contexts -= 1  # same key reused: the old context is forgotten
        self._proxied[p.key] = p
        self.stats.active_contexts += 1
        p.ctx.start(self._now)
        self._drive(p)

    def _forget(self, p: _Proxied) -> None:
        """Drop a request that never got a context (answered here after the lookup)."""
        if self._proxied.get(p.key) is p:
            del self._proxied[p.key]

    def _answer_to_us(self, key: ServerKeyT, request: Request) -> None:
        if request.method == "OPTIONS":
            self._respond(
                key,
                request,
                200,
                headers=[
                    ("Allow", ", ".join(ALLOW)),
                    ("Accept", "application/sdp"),
                    ("Supported", "path, outbound"),
                    ("Server", SERVER_HEADER),
                ],
            )
        elif request.method != "ACK":
            self._respond(key, request, 405, headers=[("Allow", "OPTIONS, REGISTER")])

    def _on_cancel(self, event: RequestReceived) -> None:
        request = event.request
        if event.cancels is None:
            self._respond(event.key, request, 481)  # §9.2: no such transaction
            return
        p = self._proxied.get(event.cancels)
        if p is None:
            # The INVITE was answered here (an error, 480...): nothing to cancel (§9.2).
            self._respond(event.key, request, 200)
            return
        self._respond(event.key, request, 200)  # §16.10
        p.cancelled = True
        if p.ctx is not None:
            p.ctx.cancel(self._now)
            self._drive(p)

    async def _register(self, key: ServerKeyT, request: Request, inbound: Inbound | None) -> None:
        try:
            if self.on_register is None:
                allow = ", ".join(m for m in ALLOW if m != "REGISTER")
                self._respond(key, request, 405, headers=[("Allow", allow)])
                return
            flow = self._flow_of(inbound)
            resp = await self.on_register(request, flow)
            self._send_response(key, self._tagged(resp))
        except Exception:
            self.stats.errors += 1
            log.exception("the registrar hook failed")
            self._respond(key, request, 500)
        finally:
            self._process()

    def _tagged(self, resp: Response) -> Response:
        """A hook's final response gets a To tag when it has none (§8.2.6.2)."""
        to = resp.to
        if to is not None and to.tag is None and resp.status_code > 100:
            resp.headers.replace_first_value("To", str(to.with_param("tag", self.ids.tag())))
        return resp

    def _flow_of(self, inbound: Inbound | None) -> Flow:
        if inbound is None:
            return Flow("UDP", "0.0.0.0", 0)
        src = inbound.source
        cid = inbound.connection_id
        return Flow(src.transport, src.host, src.port, flow_connection(self._pid, cid))

    async def _proxy_local(
        self,
        key: ServerKeyT,
        request: Request,
        lh: str,
        local_in: Destination,
        source_host: str,
    ) -> None:
        """§16.5: targets from the location service, then forward (or 480/404)."""
        p = self._new_proxied(key, request, lh, local_in, source_host, retarget=True)
        self._proxied[key] = p  # a CANCEL arriving during the lookup finds it
        try:
            uri = request.uri
            assert isinstance(uri, SipUri)
            if await self._challenged(p):
                return
            aor = aor_of(uri) or ""
            now = self.clock()
            bindings = await self.location.lookup(aor, now)
            if not bindings and uri.port is not None:
                # sip:bob@domain:our-port and sip:bob@domain are the same user here.
                bindings = await self.location.lookup(aor_of(uri.replace(port=None)) or "", now)
            targets = self._targets(bindings)
            if p.cancelled or self._closed:
                self._forget(p)
                self._respond(key, request, 487)
                return
            if not targets:
                self._forget(p)
                if self.known_user is not None and not await self.known_user(aor):
                    self._respond(key, request, 404)
                else:
                    self._respond(key, request, 480)
                return
            self._forget(p)
            self._begin(p, targets)
        except Exception:
            self.stats.errors += 1
            log.exception("proxying %s failed", request.method)
            self._forget(p)
            self._respond(key, request, 500)
        finally:
            self._process()

    async def _challenged(self, p: _Proxied) -> bool:
        """Run the authenticate hook when the request needs it; True when it answered
        with a challenge (sent upstream, the request forgotten)."""
        if self.authenticate is None or not self._needs_auth(p.request):
            return False
        challenge = await self.authenticate(p.request)
        if challenge is None:
            return False
        self._forget(p)
        self._send_response(p.key, self._tagged(challenge))
        return True

    def _needs_auth(self, request: Request) -> bool:
        if request.method in ("ACK", "CANCEL"):
            return False
        to = request.to
        if to is not None and to.tag is not None:
            return False
        frm = request.from_
        return frm is not None and self.identity.is_local_domain(frm.uri)

    def _targets(self, bindings: Sequence[Binding]) -> list[Target]:
        return targets_of(bindings, process=self._pid)

    # -- the response context ------------------------------------------------------

    def _drive(self, p: _Proxied) -> None:
        ctx = p.ctx
        assert ctx is not None
        while (action := ctx.next_action()) is not None:
            if isinstance(action, ForwardResponse):
                if not self._send_response(p.key, action.response):
                    self._late_2xx(action.response)
            elif isinstance(action, StartBranch):
                self._start_branch(p, action.branch)
            elif isinstance(action, CancelBranch):
                self._cancel_branch(action.branch)
        if ctx.done:
            if self._proxied.get(p.key) is p:
                del self._proxied[p.key]
                self.stats.active_contexts -= 1
            if p.timer is not None:
                p.timer.cancel()
                p.timer = None
            upstream = p.key if p.request.method == "INVITE" else None
            branches, finished = self._branches, self._finished
            for branch in ctx.branches:
                if branch.key is not None and branches.pop(branch.key, None) is not None:
                    finished[branch.key] = upstream
            return
        # As for the layer's timer: moved only when the deadline comes earlier (each
        # provisional pushes Timer C later; the armed timer then fires early once).
        deadline = ctx.get_timer()
        if deadline is not None and (p.timer_at is None or deadline < p.timer_at):
            if p.timer is not None:
                p.timer.cancel()
            p.timer_at = deadline
            if self._loop is not None:
                p.timer = self._loop.call_at(deadline, self._on_ctx_timer, p)

    def _on_ctx_timer(self, p: _Proxied) -> None:
        p.timer = None
        deadline = p.timer_at
        p.timer_at = None
        if p.ctx is None or self._closed:
            return
        p.ctx.handle_timer(self._now if deadline is None else max(deadline, self._now))
        self._drive(p)
        self._process()

    def _late_2xx(self, response: Response) -> None:
        """A 2xx the server transaction no longer takes: forward it by its Via."""
        if 200 <= response.status_code < 300 and response.via:
            t = response_target(response)
            if not t.needs_resolution:
                self.layer.send_stateless(response, Destination(t.host, t.port, t.transport))
                self.stats.stateless_forwards += 1

    def _start_branch(self, p: _Proxied, branch: Branch) -> None:
        ctx = p.ctx
        assert ctx is not None
        target = branch.target
        request = p.request
        if target.path:
            try:
                hop = parse_uri(target.path[0].strip().removeprefix("<").partition(">")[0])
            except ParseError:
                ctx.fail(branch, 500, self._now)
                return
            dest = destination_of(hop)
        elif target.destination is not None:
            dest = target.destination  # a flow, or an address located by RFC 3263
        elif request.headers.has_key("route"):
            dest = destination_of(next_hop_uri(request))
        else:
            dest = self._hop_destination(target.uri)
        if dest is None:
            ctx.fail(branch, 480 if p.retarget else 404, self._now)
            return
        local_out = self._locals.get(dest.transport) or self._default_local()
        host = self._advertised(local_out.host, dest.host)
        via_local = self._via_udp if dest.transport == "UDP" and self._via_udp else local_out
        sent_by = f"[{host}]" if ":" in host else host
        via = (
            f"SIP/2.0/{dest.transport} {sent_by}:{via_local.port};"
            f"branch={make_branch(p.lh, self.ids.branch()[7:])}"
        )
        rr: list[str] = []
        if p.record_route:
            rr.append(record_route_value(host, local_out.port, dest.transport))
            inbound = p.inbound
            in_host = self._advertised(inbound.host, p.source_host)
            if inbound.transport != dest.transport or in_host != host:
                rr.append(record_route_value(in_host, inbound.port, inbound.transport))
        try:
            fwd = forward_request(
                request,
                via=via,
                target=target.uri if p.retarget else None,
                record_route=rr,
                path=target.path,
            )
            if fwd.uri is not request.uri and not target.path and target.destination is None:
                # A strict router next (§16.12): its address is now the Request-URI.
                dest = destination_of(fwd.uri) or dest
            key = self.layer.send_request(fwd, dest, None, self._now)
        except (ParseError, ValueError, TransactionStateError) as exc:
            log.debug("cannot forward to %s: %s", target.uri, exc)
            self.stats.errors += 1
            ctx.fail(branch, 500, self._now)
            return
        branch.request = fwd
        branch.destination = dest
        branch.key = key
        self._branches[key] = (p, branch)
        if target.connection is not None:
            self._client_conns[key] = target.connection
        self.stats.forwarded += 1
        self.stats.active_client_transactions += 1

    def _cancel_branch(self, branch: Branch) -> None:
        if branch.request is None or branch.destination is None:
            return
        try:
            cancel = build_cancel(branch.request)
            key = self.layer.send_request(cancel, branch.destination, None, self._now)
        except (ValueError, TransactionStateError) as exc:
            log.debug("cannot CANCEL branch %d: %s", branch.index, exc)
            return
        self._own_cancels.add(key)
        self.stats.active_client_transactions += 1
        conn = self._client_conns.get(branch.key)
        if conn is not None:
            self._client_conns[key] = conn

    def _on_response(self, key: ClientKey, response: Response) -> None:
        entry = self._branches.get(key)
        if entry is None:
            if key in self._finished:
                self._late_response(key, response)
            elif key not in self._own_cancels:
                self._forward_response_stateless(response)
            return
        p, branch = entry
        if p.ctx is None:
            return
        p.ctx.receive(branch, response, self._now)
        self._drive(p)

    def _late_response(self, key: ClientKey, response: Response) -> None:
        """A response on a branch of a finished context: what the context would do
        with it (``ResponseContext.receive`` on a completed branch). Only a 2xx to an
        INVITE goes upstream (§16.7 step 5; a retransmission or another fork's answer,
        passed up by the client transaction in Accepted, RFC 6026); the rest is absorbed.
        """
        upstream = self._finished.get(key)
        if upstream is None or not 200 <= response.status_code < 300:
            return
        if response.headers.has_key("via"):
            response.headers.pop_first_value("Via")  # §16.7 step 3
        if not self._send_response(upstream, response):
            self._late_2xx(response)

    # -- stateless forwarding --------------------------------------------------------

    def _is_our_via(self, via: Via) -> bool:
        return self.identity.is_our_address(via.host, via.port, via.transport)

    def _forward_response_stateless(self, response: Response) -> None:
        """§16.11/§18.2.2: a response matching no context goes to the Via below ours."""
        try:
            vias = response.via
            top = vias[0] if vias else None
            branch = top.branch if top is not None else None
            if (
                top is None
                or len(vias) < 2
                or branch is None
                or not branch.startswith(BRANCH_PREFIX)
                or not self._is_our_via(top)
            ):
                self.stats.dropped += 1
                return
            response.headers.pop_first_value("Via")
            t = response_target(response)
        except ParseError:
            self.stats.dropped += 1
            return
        if t.needs_resolution:
            self.stats.dropped += 1
            return
        self.layer.send_stateless(response, Destination(t.host, t.port, t.transport))
        self.stats.stateless_forwards += 1

    def _forward_ack(self, request: Request, inbound: Inbound | None) -> None:
        """The ACK of a 2xx: forwarded statelessly along its Route / Request-URI (§16.6).

        An ACK sent to an address-of-record of ours rather than along the route set (a
        UA that ignored Record-Route, SIPp's built-in ``uac``) is retargeted like the
        INVITE was: to the first binding of the AOR.
        """
        try:
            if request.max_forwards == 0 or not request.via:
                self.stats.dropped += 1
                return
            branch = stateless_branch(request)
            preprocess_routes(request, self.identity)
            uri = request.uri
            if (
                not request.headers.has_key("route")
                and isinstance(uri, SipUri)
                and uri.user is not None
                and self.identity.is_local_domain(uri)
            ):
                self._run_soon(self._forward_ack_local(request, uri, branch))
                return
            self._send_ack(request, None, branch)
        except (ParseError, ValueError):
            self.stats.dropped += 1

    def _send_ack(
        self,
        request: Request,
        target: Target | None,
        branch: str,
        located: Destination | None = None,
    ) -> None:
        if located is not None:
            dest: Destination | None = located
        elif target is None:
            hop = next_hop_uri(request)
            dest = self._hop_destination(hop)
            if dest is None and (name := self._locatable(hop)) is not None:
                self._run_soon(self._locate_then_ack(request, name, branch))
                return
        else:
            dest = target.destination or destination_of(target.uri)
        if dest is None or self.identity.is_our_address(dest.host, dest.port, dest.transport):
            self.stats.dropped += 1
            return
        local_out = self._locals.get(dest.transport) or self._default_local()
        host = self._advertised(local_out.host, dest.host)
        sent_by = f"[{host}]" if ":" in host else host
        via = f"SIP/2.0/{dest.transport} {sent_by}:{local_out.port};branch={branch}"
        try:
            fwd = forward_request(
                request,
                via=via,
                target=target.uri if target is not None else None,
                path=target.path if target is not None else (),
            )
            if target is not None and target.path:
                dest = destination_of(next_hop_uri(fwd)) or dest
        except ParseError:
            self.stats.dropped += 1  # a malformed Path stored with the binding
            return
        self.layer.send_stateless(fwd, dest)
        self.stats.stateless_forwards += 1

    async def _locate_then_ack(self, request: Request, hop: SipUri, branch: str) -> None:
        """The ACK of a 2xx whose next hop is a host name: to its first address (an ACK
        has no transaction, so no failover, §17.1.1.3)."""
        try:
            found = await self._locate(hop)
            if found:
                self._send_ack(request, None, branch, located=found[0])
            else:
                self.stats.dropped += 1
        except Exception:
            self.stats.errors += 1
            log.exception("forwarding an ACK failed")
        finally:
            self._process()

    async def _forward_ack_local(self, request: Request, uri: SipUri, branch: str) -> None:
        try:
            now = self.clock()
            bindings = await self.location.lookup(aor_of(uri) or "", now)
            if not bindings and uri.port is not None:
                bindings = await self.location.lookup(aor_of(uri.replace(port=None)) or "", now)
            targets = self._targets(bindings)
            if not targets:
                self.stats.dropped += 1
                return
            best = max(targets, key=lambda t: t.q)
            self._send_ack(request, best, branch)
        except Exception:
            self.stats.errors += 1
            log.exception("forwarding an ACK failed")
        finally:
            self._process()

    # -- output ----------------------------------------------------------------------

    def _advertised(self, host: str, peer: str) -> str:
        """Our address as written in Via/Record-Route: a wildcard listener (0.0.0.0,
        ::) is replaced by the local address that routes to ``peer`` (cached)."""
        if host not in ("0.0.0.0", "::"):
            return host
        ip = self._wildcard_ips.get(peer)
        if ip is None:
            if len(self._wildcard_ips) > 4096:
                self._wildcard_ips.clear()
            ip = self._wildcard_ips[peer] = local_ip_for(peer)
        return ip

    def _default_local(self) -> Destination:
        for d in self._locals.values():
            return d
        return Destination("127.0.0.1", 5060, "UDP")

    def _transmit(self, out: Outgoing) -> None:
        message = out.message
        dest = out.destination
        if wire_log.isEnabledFor(logging.INFO):
            self._log_wire("send", message, dest, out.retransmission)
        data = bytes(message)
        tm = self._tm
        assert tm is not None and self._loop is not None
        if dest.transport == "UDP" and self._send_udp_now(
            data, dest, isinstance(out.key, ClientKey)
        ):
            return
        conn: int | None = None
        key = out.key
        if key is not None:
            if isinstance(key, ClientKey):
                conn = self._client_conns.get(key)
            else:
                conn = self._server_conns.get(key)
        chain = (dest, conn)
        prev = self._chains.get(chain)
        task = self._loop.create_task(self._send(data, out, conn, prev))
        self._chains[chain] = task

        def done(t: asyncio.Task[None], chain: tuple[Destination, int | None] = chain) -> None:
            if self._chains.get(chain) is t:
                del self._chains[chain]

        task.add_done_callback(done)

    def _send_udp_now(self, data: bytes, dest: Destination, client: bool = False) -> bool:
        """Write a datagram at once on the listening UDP socket (no task: the hot path).

        Reaches into the transport manager's UDP endpoints; False sends the slow way
        (a name to resolve, no socket yet, too large...). ``client``: a request of a
        client transaction, sent from the private port when there is one.
        """
        tm = self._tm
        if tm is None or len(data) > 65507:
            return False
        host = dest.host
        if not host.replace(".", "").isdigit():
            return False  # IPv6 or a name: the manager's general path
        ep = self._private_udp if client and self._private_udp is not None else None
        if ep is None:
            ep = tm._udp_for(socket.AF_INET, host)
        if ep is None:
            return False
        try:
            ep.sendto(data, host, dest.port)
        except (OSError, TransportError):
            self.stats.errors += 1
        return True

    async def _send(
        self, data: bytes, out: Outgoing, conn: int | None, prev: asyncio.Task[None] | None
    ) -> None:
        if prev is not None and not prev.done():
            await asyncio.wait({prev})
        assert self._tm is not None
        try:
            await self._tm.send(data, out.destination, connection_id=conn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.errors += 1
            log.debug("send to %s failed: %s", out.destination, exc)
            if out.key is not None and not self._closed:
                self.layer.transport_error(out.key, self._now)
                self._process()

    def _run_soon(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` at once, synchronously as far as it goes; a task only if it waits.

        The hooks and the location store are async, but an in-memory store never really
        suspends: stepping the coroutine by hand saves a task (creation, scheduling, one
        loop iteration) per INVITE on the hot path. When it does suspend on a future,
        :meth:`_resume` carries it on like a task would.
        """
        try:
            pending = coro.send(None)
        except StopIteration:
            return
        except Exception:
            self.stats.errors += 1
            log.exception("a proxy coroutine failed")
            return
        self._spawn(self._resume(coro, pending))

    @staticmethod
    async def _resume(coro: Coroutine[Any, Any, None], pending: Any) -> None:
        try:
            while True:
                if isinstance(pending, asyncio.Future):
                    await asyncio.wait({pending})  # its outcome is read by coro itself
                else:
                    await asyncio.sleep(0)  # a bare yield
                pending = coro.send(None)
        except StopIteration:
            return
        finally:
            coro.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _log_wire(
        self,
        direction: str,
        message: Request | Response,
        peer: Destination,
        retransmission: bool = False,
    ) -> None:
        """The endpoint's ``sipwright.wire`` format, so the same tools read both."""
        summary = (
            f"{message.method} {message.uri_text}"
            if isinstance(message, Request)
            else f"{message.status_code} {message.reason}"
        )
        wire_log.info(
            "%s %s %s:%s %s%s call-id=%s cseq=%s",
            direction,
            peer.transport,
            peer.host,
            peer.port,
            summary,
            " (retransmission)" if retransmission else "",
            message.call_id,
            message.headers.get("CSeq"),
        )
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s\n%s", direction, bytes(message).decode("utf-8", "replace"))
