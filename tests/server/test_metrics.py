"""Metrics: the Prometheus exposition after real REGISTERs, fetched over HTTP with aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from sipwright.server.metrics import MetricsServer, MetricsSnapshot, counter_of, number_of, render

from .test_registrar_service import DOMAIN, make_service, registrar, ua


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_render_is_prometheus_text() -> None:
    text = render(
        MetricsSnapshot(
            worker=1,
            requests_by_method={"INVITE": 3, "REGISTER": 2},
            responses_by_class={"2xx": 4},
            bindings=7,
            registrar_outcomes={"200": 2},
            auth_outcomes={'we"ird': 1},
            dns_lookups=5,
            dns_failures=1,
        )
    )
    lines = text.splitlines()
    assert 'sipwright_sip_requests_received_total{worker="1",method="INVITE"} 3' in lines
    assert 'sipwright_sip_responses_sent_total{worker="1",class="2xx"} 4' in lines
    assert 'sipwright_registrar_bindings{worker="1"} 7' in lines
    assert 'sipwright_proxy_auth_total{worker="1",outcome="we\\"ird"} 1' in lines
    assert "# TYPE sipwright_registrar_bindings gauge" in lines
    assert 'sipwright_dns_lookups_total{worker="1"} 5' in lines
    assert 'sipwright_dns_failures_total{worker="1"} 1' in lines
    for line in lines:  # every sample line is `name{labels} number`
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_stats_adapters() -> None:
    class Stats:
        def __init__(self) -> None:
            self.requests = {"OPTIONS": 2}
            self.active_transactions = 5
            self.flag = True

    assert counter_of(Stats(), "requests_by_method", "requests") == {"OPTIONS": 2}
    assert counter_of(None, "requests") == {}
    assert number_of(Stats(), "active_transactions") == 5
    assert number_of(Stats(), "flag") == 0


def test_metrics_after_registers(tmp_path: Path) -> None:
    async def main() -> None:
        service, store, _ = make_service(tmp_path / "m.db")
        healthy = [True]

        async def snapshot() -> MetricsSnapshot:
            return MetricsSnapshot(
                bindings=await store.count(service.clock()),
                registrar_outcomes=dict(service.stats),
            )

        http = MetricsServer(snapshot, lambda: healthy[0], "127.0.0.1", 0)
        host, port = await http.start()
        try:
            async with registrar(service) as reg, ua("alice") as alice, ua("bob") as bob:
                assert (await alice.register(reg, aor=f"sip:alice@{DOMAIN}")).status_code == 200
                assert (await bob.register(reg, aor=f"sip:bob@{DOMAIN}")).status_code == 200
                assert (await bob.register(reg, aor=f"sip:bob@{DOMAIN}")).status_code == 200
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://{host}:{port}/metrics") as resp:
                    assert resp.status == 200
                    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                    text = await resp.text()
                async with session.get(f"http://{host}:{port}/healthz") as resp:
                    assert resp.status == 200
                healthy[0] = False
                async with session.get(f"http://{host}:{port}/healthz") as resp:
                    assert resp.status == 503
        finally:
            await http.close()
            await store.close()
        lines = text.splitlines()
        assert 'sipwright_registrar_bindings{worker="0"} 2' in lines
        assert 'sipwright_registrar_requests_total{worker="0",outcome="200"} 3' in lines
        assert 'sipwright_registrar_requests_total{worker="0",outcome="registered"} 3' in lines

    run(main())
