"""``sipwright serve``: the proxy, the registrar, the stores, metrics and the process model.

:class:`Server` is one complete server in one event loop: it opens the SQLite location
store and users table, builds the :class:`~sipwright.server.proxy.ProxyServer` with the
registrar (:class:`~sipwright.server.registrar_service.RegistrarService`) and the digest
:class:`~sipwright.server.auth.Authenticator` as its hooks, sweeps expired bindings every
``sweep_interval`` seconds, serves ``/metrics`` and ``/healthz``, and logs one structured
line (key=value or JSON) per registration and per lifecycle event — never per message.

Graceful stop (SIGTERM or SIGINT): ``/healthz`` turns 503, the proxy stops taking new
requests and drains in-flight transactions for up to ``drain`` seconds, then the HTTP
server and the stores close. Every store write is one committed SQLite transaction, so
a stop at any point leaves nothing half-written.

Worker processes (:func:`serve`): ``workers = N > 1`` forks N processes that each run
the same :class:`Server` with ``SO_REUSEPORT`` on the SIP sockets; the kernel spreads
sources over them by a hash of the 4-tuple, so every datagram from one UDP source
(retransmissions included) reaches the worker holding its transaction; the flip side:
one client sending from one socket (an upstream proxy, SIPp's default mode) only ever
uses one worker. The responses to
a request a worker forwarded come from another source (the next hop), so each worker also
binds a private UDP port and names it in its Via and Record-Route: responses and
in-dialog requests come back to the worker that holds the client transaction. (That
private port is also the source of what the worker sends over UDP; a client behind a
symmetric NAT that only accepts answers from the address it sent to needs one worker;
and a restarted worker gets a new private port, so the dialogs record-routed
through its predecessor lose their in-dialog requests.) They share the
SQLite location store (WAL, one ``BEGIN IMMEDIATE`` per REGISTER) and the digest nonce
secret (a file next to the database), so any worker accepts any worker's nonces.
Limits: a TCP/TLS connection lives in the worker that accepted it, so a request for a
UA registered over TCP that reaches another worker is sent over a new connection to the
address the REGISTER came from, which a UA's ephemeral source port usually refuses: UAs
on TCP/TLS want one worker (or UDP); nonce replay counters and metrics are per worker (each worker
serves metrics on ``http port + index``). The parent only supervises: it forwards
SIGTERM/SIGINT to the workers, restarts a worker that dies unexpectedly (giving up when
they keep dying) and exits 0 when every worker stopped cleanly.

``uvloop`` is used when it is installed (a dependency on Linux; the server also runs on
asyncio's own loop). ``serve`` re-executes itself on glibc's malloc first
(:mod:`.allocator`) so that an idle server gives its memory back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import logging
import os
import secrets
import signal
import sqlite3
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from .._version import __version__
from ..aio.dns import SipResolver
from ..aio.transport.manager import Tap
from ..capture.pcap_writer import PcapWriter
from ..errors import ParseError
from ..ladder import TracedMessage
from ..message import Response
from ..registrar import RegistrarPolicy
from ..transaction import Destination, LegacyServerKey, ServerKey, TimerConfig
from ..uri import SipUri, parse_uri
from .auth import Authenticator, Realms
from .config import ServerConfig, format_listen
from .dashboard import Dashboard
from .memory import release_memory
from .metrics import MetricsServer, MetricsSnapshot, counter_of, number_of
from .proxy import ProxyServer
from .registrar_service import RegistrarService
from .sqlite_store import SQLiteLocationStore, SQLiteUserStore
from .sqlite_store import prepare as prepare_database
from .trace import CallTracer

__all__ = [
    "LogFormatter",
    "Server",
    "configure_logging",
    "load_secret",
    "run_worker",
    "serve",
]

log = logging.getLogger("sipwright.server")

#: Seconds between two looks at whether the proxy went idle (to release memory).
IDLE_CHECK = 2.0
#: Restarts of crashed workers tolerated before the supervisor gives up.
MAX_RESTARTS = 5
#: Seconds after which a worker's death no longer counts as part of a crash loop.
STABLE_AFTER = 60.0
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


# -- structured logs -------------------------------------------------------------------


class LogFormatter(logging.Formatter):
    """One line per record: ``ts=… level=… event=… worker=… key=value…`` or JSON.

    The event is the record's message; ``extra={"fields": {...}}`` adds key/values.
    """

    def __init__(self, fmt: str = "kv", worker: int = 0) -> None:
        super().__init__()
        self.fmt = fmt
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "worker": self.worker,
            "pid": os.getpid(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info).replace("\n", " | ")
        if self.fmt == "json":
            return json.dumps(data, default=str, separators=(",", ":"))
        return " ".join(f"{k}={_kv(v)}" for k, v in data.items())


def _kv(value: object) -> str:
    text = "" if value is None else str(value)
    if text and not any(c in text for c in ' "=\\\n'):
        return text
    return json.dumps(text)


def configure_logging(level: str = "INFO", fmt: str = "kv", worker: int = 0) -> None:
    """Structured lines on stderr for the ``sipwright`` loggers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter(fmt, worker))
    root = logging.getLogger("sipwright")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    # The wire log is one line per message: only when DEBUG was asked for.
    wire = logging.getLogger("sipwright.wire")
    wire.setLevel(logging.INFO if root.level <= logging.DEBUG else logging.WARNING)


def _event(name: str, **fields: object) -> None:
    log.info(name, extra={"fields": fields})


# -- the server ------------------------------------------------------------------------


def load_secret(config: ServerConfig) -> bytes:
    """The digest nonce secret shared by the workers (and kept across restarts, so a
    client's nonce stays valid): ``<db>.secret``, created with mode 0600."""
    db = str(config.db)
    if db == ":memory:":
        return secrets.token_bytes(32)
    path = Path(db + ".secret")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(data) >= 16:
            return data
        raise ValueError(f"{path}: the secret is too short; delete the file") from None
    secret = secrets.token_bytes(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret.hex() + "\n")
    return secret


_calls_log = logging.getLogger("sipwright.server.calls")


class _ServerProxy(ProxyServer):
    """The proxy plus one ``call`` log line per final response to an INVITE.

    ProxyServer has no call-outcome hook yet; every response it sends goes through
    ``_send_response``, so this is the one place a call's setup (its final answer) is
    visible. Cost on the hot path: one method check per response. 407 challenges are
    logged at DEBUG only (every call from a UA with credentials starts with one).
    """

    def _send_response(self, key: ServerKey | LegacyServerKey, resp: Response) -> bool:
        sent = super()._send_response(key, resp)
        status = resp.status_code
        if sent and status >= 200 and key.method == "INVITE":
            level = logging.DEBUG if status == 407 else logging.INFO
            if _calls_log.isEnabledFor(level):
                _calls_log.log(level, "call", extra={"fields": _call_fields(resp)})
        return sent


def _resolver(config: ServerConfig) -> SipResolver | None:
    """RFC 3263 for next hops named by host name ([dns]); None when it is off."""
    if not config.dns:
        return None
    return SipResolver(config.dns_servers, timeout=config.dns_timeout)


def _call_fields(resp: Response) -> dict[str, object]:
    fields: dict[str, object] = {"status": resp.status_code, "call_id": resp.call_id}
    try:
        from_, to = resp.from_, resp.to
    except ParseError:
        return fields
    fields["from"] = str(from_.uri) if from_ is not None else None
    fields["to"] = str(to.uri) if to is not None else None
    return fields


def _ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(config.tls_cert), str(config.tls_key))
    return ctx


class Server:
    """One server process: ``await server.start()`` … ``await server.close()``.

    ``clock``: wall-clock seconds for bindings and nonces (tests inject a fake one).
    ``timers``: transaction timers (short ones in tests). ``reuse_port``: set by
    :func:`serve` for worker processes.
    """

    def __init__(
        self,
        config: ServerConfig,
        *,
        worker: int = 0,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
        timers: TimerConfig | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.config = config
        self.worker = worker
        self.clock = clock
        self.timers = timers
        self.reuse_port = reuse_port
        self._secret = secret
        self.store: SQLiteLocationStore | None = None
        self.users: SQLiteUserStore | None = None
        self.registrar: RegistrarService | None = None
        self.authenticator: Authenticator | None = None
        self.proxy: ProxyServer | None = None
        self.metrics: MetricsServer | None = None
        self.http_address: tuple[str, int] | None = None
        #: The web dashboard (``/``) and its call tracer (None: ``[http] trace = false``).
        self.dashboard: Dashboard | None = None
        self.tracer: CallTracer | None = None
        self._ws_local: Destination | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._idler: asyncio.Task[None] | None = None
        self._taps: list[Tap] = []
        self._pcap: PcapWriter | None = None
        self._draining = False
        self._started_at = time.monotonic()
        self._closed = False

    def add_tap(self, tap: Tap) -> None:
        """Let ``tap`` see every SIP message this server receives and sends (as bytes,
        see :attr:`TransportManager.tap`): the dashboard's traces, ``--pcap``. Call it
        after :meth:`start`; the taps run in the order they were added."""
        if self.proxy is None or self.proxy._tm is None:
            raise RuntimeError("add_tap needs a started server")
        self._taps.append(tap)
        taps = tuple(self._taps)
        if len(taps) == 1:
            self.proxy._tm.tap = tap
            return

        def fan_out(outbound: bool, data: bytes, src: Destination, dst: Destination) -> None:
            for each in taps:
                each(outbound, data, src, dst)

        self.proxy._tm.tap = fan_out

    @property
    def server_header(self) -> str:
        return f"sipwright/{__version__} (worker {self.worker})"

    async def start(self) -> None:
        config = self.config
        try:
            await self._start(config)
        except BaseException:
            await self.close(drain=0)
            raise
        _event(
            "ready",
            listen=" ".join(self._listening()),
            http=f"{self.http_address[0]}:{self.http_address[1]}" if self.http_address else "off",
            domains=",".join(config.domains),
            auth="on" if config.auth else "off",
        )

    async def _start(self, config: ServerConfig) -> None:
        self.store = SQLiteLocationStore(config.db)
        policy = RegistrarPolicy(
            min_expires=config.min_expires,
            max_expires=config.max_expires,
            default_expires=config.default_expires,
            max_bindings=config.max_bindings,
            domains=frozenset(config.domains),
        )
        realms: Realms | None = None
        if config.auth:
            self.users = SQLiteUserStore(config.db)
            secret = self._secret if self._secret is not None else load_secret(config)
            lookup = self.users.lookup_ha1
            realms = Realms(secret, lookup, config.realm_for)
            proxy_realms = Realms(secret, lookup, config.realm_for, proxy=True)
            self.authenticator = Authenticator(proxy_realms, config.domains, clock=self.clock)
        self.registrar = RegistrarService(
            self.store,
            policy,
            realms=realms,
            clock=self.clock,
            server_header=self.server_header,
        )
        self.proxy = _ServerProxy(
            listen=self._sip_listen(),
            domains=config.domains,
            location=self.store,
            on_register=self.registrar.handle,
            authenticate=self.authenticator,
            known_user=self._known_user if realms is not None else None,
            record_route=config.record_route,
            timers=self.timers,
            ssl_context=_ssl_context(config),
            clock=self.clock,
            reuse_port=self.reuse_port,
            resolver=_resolver(config),
        )
        await self.proxy.start()
        if config.pcap is not None:  # --pcap (docs/ladder.md): worker i writes FILE.i
            path = config.pcap
            if config.worker_count > 1:
                path = path.with_name(f"{path.name}.{self.worker}")
            writer = self._pcap = PcapWriter(path)
            self.add_tap(
                lambda outbound, data, src, dst: writer.write(
                    TracedMessage(time.time(), src, dst, data)
                )
            )
        if self.worker == 0:  # one sweeper is enough for the shared store
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())
        self._idler = asyncio.get_running_loop().create_task(self._idle_loop())
        if config.http is not None:
            host, port = config.http
            self.metrics = MetricsServer(
                self.snapshot,
                lambda: not self._draining,
                host,
                port + self.worker if port else 0,
            )
            self.tracer = CallTracer() if config.http_trace else None
            self.dashboard = Dashboard(self, self.tracer)
            self.dashboard.install(self.metrics.app)  # /, /validator, /api/*
            if self.tracer is not None:
                self.add_tap(self.tracer.tap)
            if config.websocket:  # RFC 7118 on the HTTP port (browsers): see _websocket
                self.metrics.app.router.add_get("/ws", self._websocket)
            self.http_address = await self.metrics.start()
            if config.websocket:
                self._ws_local = Destination(*self.http_address, "WS")
                self.proxy.add_websocket_endpoint(self._ws_local)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        """``GET /ws``: SIP over WebSocket (RFC 7118) into the proxy's transports, so a
        browser registers and calls on the port it already reaches (no second listener)."""
        tm = self.proxy._tm if self.proxy is not None else None
        if tm is None or self._ws_local is None or self._draining:
            return web.Response(status=503, text="not accepting SIP connections\n")
        return await tm.adopt_websocket(request, self._ws_local)

    def _sip_listen(self) -> list[tuple[str, str, int]]:
        """The listeners; a worker puts a private UDP socket (ephemeral port) first.

        The shared SO_REUSEPORT port spreads *sources* over the workers, but the
        responses to a request this worker forwarded come from the next hop, another
        source, which the kernel may hand to another worker: that worker has no client
        transaction for them. The proxy names its first listener in its Via and
        Record-Route (§16.6 step 8, step 4), so with a private socket first, responses
        and in-dialog requests come back to the worker that forwarded the request.
        """
        listen = list(self.config.sip_listen)
        if not self.reuse_port:
            return listen
        hosts = dict.fromkeys(host for transport, host, _ in listen if transport == "UDP")
        return [("UDP", host, 0) for host in hosts] + listen

    async def _known_user(self, aor: str) -> bool:
        """Whether ``aor`` names one of our users (so the proxy answers 404, not 480)."""
        if self.authenticator is None:
            return True
        try:
            uri = parse_uri(aor)
        except ParseError:
            return False
        if not isinstance(uri, SipUri) or uri.user is None:
            return False
        return self.authenticator.realms.user_exists(uri.user, uri.host)

    def _listening(self) -> list[str]:
        out = []
        for transport, _, _ in self._sip_listen():
            addr = self.local_address(transport)
            if addr is not None:
                shown = format_listen((transport, addr.host, addr.port))
                if shown not in out:
                    out.append(shown)
        return out

    def local_address(self, transport: str) -> Destination | None:
        """Where the SIP listener of ``transport`` is bound (after :meth:`start`)."""
        return self.proxy.local_address(transport) if self.proxy is not None else None

    async def sweep(self) -> int:
        """Delete expired bindings now; how many were deleted."""
        if self.store is None:
            return 0
        removed = await self.store.sweep(self.clock())
        if removed:
            _event("sweep", removed=removed)
        return removed

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed")

    async def _idle_loop(self) -> None:
        """Once per busy period, when the proxy holds nothing any more (no transaction,
        no context), give the freed memory back (:mod:`sipwright.server.memory`)."""
        released_at = -1  # requests handled when memory was last released
        while True:
            await asyncio.sleep(IDLE_CHECK)
            proxy = self.proxy
            if proxy is None:
                continue
            stats = proxy.stats
            handled = stats.requests.total()
            busy = (
                stats.active_server_transactions
                or stats.active_client_transactions
                or stats.active_contexts
            )
            if handled != released_at and not busy:
                released_at = handled
                proxy.compact()
                release_memory()

    async def snapshot(self) -> MetricsSnapshot:
        """The current metric values (see :mod:`sipwright.server.metrics`)."""
        stats = self.proxy.stats if self.proxy is not None else None
        bindings = 0
        if self.store is not None and not self._closed:
            bindings = await self.store.count(self.clock())
        return MetricsSnapshot(
            worker=self.worker,
            requests_by_method=counter_of(stats, "requests"),
            responses_by_class=counter_of(stats, "responses_sent"),
            forwarded=number_of(stats, "forwarded"),
            stateless_forwards=number_of(stats, "stateless_forwards"),
            dropped=number_of(stats, "dropped"),
            errors=number_of(stats, "errors"),
            dns_lookups=number_of(stats, "dns_lookups"),
            dns_failures=number_of(stats, "dns_failures"),
            active_transactions=number_of(stats, "active_server_transactions")
            + number_of(stats, "active_client_transactions"),
            active_contexts=number_of(stats, "active_contexts"),
            bindings=bindings,
            registrar_outcomes=dict(self.registrar.stats) if self.registrar else {},
            auth_outcomes=dict(self.authenticator.stats) if self.authenticator else {},
            uptime=time.monotonic() - self._started_at,
        )

    async def close(self, *, drain: float | None = None) -> None:
        """Stop gracefully: no new work, drain in-flight transactions, close the stores."""
        if self._closed:
            return
        self._draining = True
        wait = self.config.drain if drain is None else drain
        if self._idler is not None:
            self._idler.cancel()
            self._idler = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self.proxy is not None:
            try:
                await self.proxy.close(drain=wait)
            except Exception:
                log.exception("proxy close failed")
        if self._pcap is not None:  # after the drain: its messages are captured too
            self._pcap.close()
            if self._pcap.error is not None:
                log.warning("pcap capture stopped early: %s", self._pcap.error)
        self._closed = True
        if self.dashboard is not None:  # its event streams would hold the HTTP server open
            await self.dashboard.close()
        if self.metrics is not None:
            await self.metrics.close()
        if self.store is not None:
            await self.store.close()
        if self.users is not None:
            self.users.close()
        _event("stopped")

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# -- processes -------------------------------------------------------------------------


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (a faster event loop, not needed)."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _run(config: ServerConfig, worker: int, secret: bytes | None, reuse_port: bool) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    # A forked worker starts with these blocked (see _fork_worker): a SIGTERM that came
    # before the handlers existed is delivered now instead of killing the process.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    server = Server(config, worker=worker, secret=secret, reuse_port=reuse_port)
    try:
        await server.start()
    except Exception as exc:  # a port in use, an unreadable certificate or database
        log.error("start-failed", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}})
        return 1
    await stop.wait()
    _event("stopping", drain=config.drain)
    await server.close()
    return 0


def run_worker(
    config: ServerConfig, worker: int = 0, secret: bytes | None = None, reuse_port: bool = False
) -> int:
    """Run one server in this process until SIGTERM/SIGINT; the exit status."""
    configure_logging(config.log_level, config.log_format, worker)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_run(config, worker, secret, reuse_port))


def _fork_worker(config: ServerConfig, worker: int, secret: bytes) -> int:
    """Fork a worker; call with the stop signals blocked (the worker unblocks them once
    its event loop handles them, the parent once it has recorded the pid)."""
    pid = os.fork()
    if pid != 0:
        return pid
    code = 1  # the worker
    try:
        code = run_worker(config, worker, secret, reuse_port=True)
    except BaseException:
        logging.getLogger("sipwright.server").exception("worker crashed")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(config: ServerConfig) -> int:
    """Run ``config.worker_count`` workers (forked when more than one); the exit status."""
    count = config.worker_count
    secret = load_secret(config) if config.auth else None
    if count == 1:
        return run_worker(config, 0, secret)
    if secret is None:
        secret = secrets.token_bytes(32)
    configure_logging(config.log_level, config.log_format, worker=-1)
    try:
        # Set up once here: N workers creating the same new file at once contend for it.
        prepare_database(config.db)
    except (OSError, sqlite3.Error) as exc:
        log.error("start-failed", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}})
        return 1
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    born: dict[int, float] = {}

    def spawn(index: int) -> None:
        # Blocked across fork + bookkeeping: a SIGTERM then reaches the new worker too.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = _fork_worker(config, index, secret)
            children[pid] = index
            born[pid] = time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    old = {s: signal.signal(s, forward) for s in _STOP_SIGNALS}
    # What the workers inherit stays shared (copy-on-write) only if their collector never
    # writes to it: frozen objects are outside every collection.
    gc.freeze()
    try:
        for index in range(count):
            spawn(index)
        _event("supervisor", workers=count, pids=",".join(str(p) for p in children))
        restarts = 0
        status = 0
        while children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            index = children.pop(pid, -1)
            lived = time.monotonic() - born.pop(pid, 0.0)
            if index < 0:
                continue
            code = os.waitstatus_to_exitcode(wait_status)
            if stopping:
                status = status or (0 if code == 0 else 1)
                continue
            log.error("worker-died", extra={"fields": {"worker": index, "code": code}})
            # Only a crash loop counts: a worker that served for a while starts afresh.
            restarts = 1 if lived > STABLE_AFTER else restarts + 1
            if restarts > MAX_RESTARTS:
                log.error("giving-up", extra={"fields": {"restarts": restarts}})
                forward(signal.SIGTERM, None)
                status = 1
                continue
            spawn(index)
        return status
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
