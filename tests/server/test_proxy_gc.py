"""ProxyServer raises the collector's gen-0 threshold while it runs, and restores it.

The proxy holds every message of a transaction until Timer J/K; with CPython's default
threshold each young collection walks them too (about a third of the CPU under call
load). The setting is process-wide, so it must come back when the last proxy closes
(other code in the process, the test run itself, keeps its own setting).
"""

from __future__ import annotations

import asyncio
import gc

import pytest

from sipwright.server import proxy as proxy_module
from sipwright.server.location import MemoryLocationStore
from sipwright.server.proxy import GC_GEN0_THRESHOLD, ProxyServer


@pytest.fixture(autouse=True)
def no_other_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from "no proxy running", whatever other tests left open."""
    monkeypatch.setattr(proxy_module, "_gc_users", 0)
    monkeypatch.setattr(proxy_module, "_gc_saved", None)


def _proxy(**kw: object) -> ProxyServer:
    return ProxyServer(
        listen=[("UDP", "127.0.0.1", 0)],
        domains=["example.com"],
        location=MemoryLocationStore(),
        **kw,  # type: ignore[arg-type]
    )


def test_threshold_raised_while_running_and_restored_after_the_last_close() -> None:
    async def scenario() -> None:
        before = gc.get_threshold()
        gc.set_threshold(700, before[1], before[2])
        try:
            first, second = _proxy(), _proxy()
            await first.start()
            await second.start()
            assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
            await first.close(drain=0.0)
            assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD  # the second still runs
            await second.close(drain=0.0)
            await second.close(drain=0.0)  # a second close changes nothing
            assert gc.get_threshold() == (700, before[1], before[2])
        finally:
            gc.set_threshold(*before)

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_tune_gc_false_leaves_the_collector_alone() -> None:
    async def scenario() -> None:
        before = gc.get_threshold()
        proxy = _proxy(tune_gc=False)
        await proxy.start()
        try:
            assert gc.get_threshold() == before
        finally:
            await proxy.close(drain=0.0)
        assert gc.get_threshold() == before

    asyncio.run(asyncio.wait_for(scenario(), 10))
