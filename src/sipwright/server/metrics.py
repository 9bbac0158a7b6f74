"""Prometheus metrics and health over HTTP (aiohttp): ``GET /metrics``, ``GET /healthz``.

The text exposition format 0.0.4 is simple enough to write by hand, so no client
library is needed. Counters come from the live objects (the proxy's ``stats``, the
registrar's and authenticator's counters) at scrape time: nothing is computed per SIP
message beyond the increments those objects already do. The bindings gauge is read from
the location store, which all workers share, so it is the same in every worker.

Every sample carries a ``worker`` label: with ``--workers N`` each worker serves its own
counters on ``http port + worker index`` (a scraper sums them with ``sum by``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["CONTENT_TYPE", "MetricsServer", "MetricsSnapshot", "render"]

log = logging.getLogger("sipwright.server.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class MetricsSnapshot:
    """The values of one scrape."""

    worker: int = 0
    requests_by_method: Mapping[str, int] = field(default_factory=dict)
    responses_by_class: Mapping[str, int] = field(default_factory=dict)
    forwarded: int = 0
    stateless_forwards: int = 0
    dropped: int = 0
    errors: int = 0
    dns_lookups: int = 0
    dns_failures: int = 0
    active_transactions: int = 0
    active_contexts: int = 0
    bindings: int = 0
    registrar_outcomes: Mapping[str, int] = field(default_factory=dict)
    auth_outcomes: Mapping[str, int] = field(default_factory=dict)
    uptime: float = 0.0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(worker: int, extra: Iterable[tuple[str, str]] = ()) -> str:
    items = [("worker", str(worker)), *extra]
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def render(snap: MetricsSnapshot) -> str:
    """The Prometheus text exposition of ``snap``."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    def labelled(name: str, label: str, values: Mapping[str, int]) -> None:
        for key in sorted(values):
            out.append(f"{name}{_labels(snap.worker, [(label, key)])} {values[key]}")

    def single(name: str, value: float) -> None:
        shown = str(int(value)) if float(value).is_integer() else f"{value:.3f}"
        out.append(f"{name}{_labels(snap.worker)} {shown}")

    family("sipwright_sip_requests_received_total", "counter", "SIP requests received.")
    labelled("sipwright_sip_requests_received_total", "method", snap.requests_by_method)
    family("sipwright_sip_responses_sent_total", "counter", "SIP responses sent, by class.")
    labelled("sipwright_sip_responses_sent_total", "class", snap.responses_by_class)
    family("sipwright_sip_forwarded_total", "counter", "Requests forwarded by the proxy.")
    single("sipwright_sip_forwarded_total", snap.forwarded)
    family(
        "sipwright_sip_stateless_forwards_total",
        "counter",
        "ACKs and responses forwarded statelessly.",
    )
    single("sipwright_sip_stateless_forwards_total", snap.stateless_forwards)
    family("sipwright_sip_dropped_total", "counter", "Messages dropped (not for us).")
    single("sipwright_sip_dropped_total", snap.dropped)
    family("sipwright_errors_total", "counter", "Send failures and hook errors.")
    single("sipwright_errors_total", snap.errors)
    family("sipwright_dns_lookups_total", "counter", "Next hops located by RFC 3263.")
    single("sipwright_dns_lookups_total", snap.dns_lookups)
    family("sipwright_dns_failures_total", "counter", "RFC 3263 lookups with no address.")
    single("sipwright_dns_failures_total", snap.dns_failures)
    family("sipwright_transactions_active", "gauge", "Transactions in progress.")
    single("sipwright_transactions_active", snap.active_transactions)
    family(
        "sipwright_invite_contexts_active", "gauge", "INVITE transactions and dialogs in progress."
    )
    single("sipwright_invite_contexts_active", snap.active_contexts)
    family("sipwright_registrar_bindings", "gauge", "Unexpired registrar bindings (all workers).")
    single("sipwright_registrar_bindings", snap.bindings)
    family(
        "sipwright_registrar_requests_total", "counter", "REGISTER outcomes, by status or event."
    )
    labelled("sipwright_registrar_requests_total", "outcome", snap.registrar_outcomes)
    family("sipwright_proxy_auth_total", "counter", "Proxy authentication outcomes.")
    labelled("sipwright_proxy_auth_total", "outcome", snap.auth_outcomes)
    family("sipwright_uptime_seconds", "gauge", "Seconds since this worker started.")
    single("sipwright_uptime_seconds", snap.uptime)
    return "\n".join(out) + "\n"


def counter_of(stats: Any, *names: str) -> dict[str, int]:
    """The first mapping attribute of ``stats`` among ``names`` (a Counter, a dict)."""
    for name in names:
        value = getattr(stats, name, None)
        if isinstance(value, Mapping):
            return {str(k): int(v) for k, v in value.items()}
    return {}


def number_of(stats: Any, *names: str) -> int:
    """The first numeric attribute (or property) of ``stats`` among ``names``."""
    for name in names:
        value = getattr(stats, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return 0


class MetricsServer:
    """An aiohttp server with ``/metrics`` (from ``snapshot()``) and ``/healthz``.

    ``healthy()`` false (the server is draining) makes ``/healthz`` answer 503, so a load
    balancer stops sending new work before the SIP sockets close.
    """

    def __init__(
        self,
        snapshot: Callable[[], Awaitable[MetricsSnapshot]],
        healthy: Callable[[], bool],
        host: str,
        port: int,
        *,
        reuse_port: bool = False,
    ) -> None:
        self._snapshot = snapshot
        self._healthy = healthy
        self.host = host
        self.port = port
        self._reuse_port = reuse_port
        self._runner: web.AppRunner | None = None
        #: The aiohttp application: other parts of the server (the dashboard, SIP over
        #: WebSocket) add their routes here before :meth:`start`.
        self.app = web.Application()
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_get("/healthz", self._health)

    async def _metrics(self, request: web.Request) -> web.Response:
        text = render(await self._snapshot())
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    async def _health(self, request: web.Request) -> web.Response:
        if self._healthy():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="draining\n")

    async def start(self) -> tuple[str, int]:
        """Listen; returns the bound (host, port) (port 0 picks a free one)."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_port=self._reuse_port or None)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server  # aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or ()
        for sock in sockets:
            name = sock.getsockname()
            self.port = int(name[1])
            break
        return self.host, self.port

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
