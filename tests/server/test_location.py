"""Location stores: the same behaviour from the in-memory and the SQLite store.

Bindings survive a restart of the SQLite store (a new connection on the same file),
expire on a fake clock, and a mutation that raises leaves nothing half-written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import pytest

from sipwright.registrar import Binding, Flow
from sipwright.server.location import (
    LocationStore,
    MemoryLocationStore,
    binding_from_json,
    binding_to_json,
)
from sipwright.server.sqlite_store import SQLiteLocationStore, SQLiteUserStore

NOW = 1_700_000_000.0
AOR = "sip:alice@example.com"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 10))


def binding(contact: str, expires_at: float, **kw: Any) -> Binding:
    return Binding(AOR, contact, expires_at, "cid", 1, **kw)


def put(bindings: Sequence[Binding]) -> Any:
    def mutation(current: list[Binding]) -> tuple[Sequence[Binding], bool, int]:
        return bindings, True, len(current)

    return mutation


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LocationStore:
    if request.param == "memory":
        return MemoryLocationStore()
    return SQLiteLocationStore(tmp_path / "var" / "location.db")


def test_json_round_trip() -> None:
    b = binding(
        "sip:a@10.0.0.1;ob",
        NOW + 5,
        q=0.5,
        instance="<urn:uuid:1>",
        reg_id=1,
        path=("<sip:edge;lr>",),
        flow=Flow("WS", "127.0.0.1", 50000, "ws-7"),
        user_agent="phone",
        updated_at=NOW,
    )
    assert binding_from_json(binding_to_json(b)) == b


def test_update_lookup_expiry_and_sweep(store: LocationStore) -> None:
    async def main() -> None:
        seen = await store.update(AOR, NOW, put([binding("sip:a@1.2.3.4", NOW + 60)]))
        assert seen == 0
        seen = await store.update(
            AOR,
            NOW,
            put([binding("sip:a@1.2.3.4", NOW + 60), binding("sip:b@1.2.3.5", NOW + 10)]),
        )
        assert seen == 1
        assert {b.contact for b in await store.lookup(AOR, NOW)} == {
            "sip:a@1.2.3.4",
            "sip:b@1.2.3.5",
        }
        assert await store.count(NOW) == 2
        # Expiry on the fake clock: at NOW+10 the short one is gone from lookups...
        assert [b.contact for b in await store.lookup(AOR, NOW + 10)] == ["sip:a@1.2.3.4"]
        assert [b.contact for b in await store.all_bindings(NOW + 10)] == ["sip:a@1.2.3.4"]
        # ...and the sweep deletes it for good.
        assert await store.sweep(NOW + 10) == 1
        assert await store.count(NOW) == 1
        assert await store.sweep(NOW + 61) == 1
        assert await store.lookup(AOR, NOW) == []
        await store.close()

    run(main())


def test_failed_mutation_writes_nothing(store: LocationStore) -> None:
    async def main() -> None:
        await store.update(AOR, NOW, put([binding("sip:a@1.2.3.4", NOW + 60)]))

        def boom(current: list[Binding]) -> tuple[Sequence[Binding], bool, None]:
            raise RuntimeError("registrar bug")

        with pytest.raises(RuntimeError):
            await store.update(AOR, NOW, boom)
        assert [b.contact for b in await store.lookup(AOR, NOW)] == ["sip:a@1.2.3.4"]
        # An unchanged outcome (e.g. a 423) leaves the stored set alone.
        await store.update(AOR, NOW, lambda current: ([], False, None))
        assert len(await store.lookup(AOR, NOW)) == 1
        await store.close()

    run(main())


def test_sqlite_bindings_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "var" / "location.db"

    async def main() -> None:
        first = SQLiteLocationStore(path)
        await first.update(AOR, NOW, put([binding("sip:a@1.2.3.4", NOW + 3600)]))
        await first.close()
        second = SQLiteLocationStore(path)
        (b,) = await second.lookup(AOR, NOW + 1)
        assert b.contact == "sip:a@1.2.3.4" and b.expires_at == NOW + 3600
        await second.close()

    run(main())


def test_user_store_keeps_only_ha1(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    users = SQLiteUserStore(path)
    users.add("alice", "example.com", "s3cret-pw")
    assert users.users() == [("alice", "example.com")]
    md5 = users.lookup_ha1("alice", "example.com", "MD5")
    assert md5 is not None and len(md5) == 32
    sha = users.lookup_ha1("alice", "example.com", "SHA-256")
    assert sha is not None and len(sha) == 64
    assert users.lookup_ha1("alice", "other", "MD5") is None
    users.close()
    assert b"s3cret-pw" not in path.read_bytes()
    users = SQLiteUserStore(path)
    assert users.remove("alice", "example.com") and users.users() == []
    users.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_all_bindings_with_a_limit(kind: str, tmp_path: Path) -> None:
    """The first bindings by AOR, without reading the rest (the dashboard's page)."""

    async def main() -> None:
        store: LocationStore = (
            MemoryLocationStore() if kind == "memory" else SQLiteLocationStore(tmp_path / "l.db")
        )
        now = 1000.0
        for user in ("carol", "alice", "bob"):
            aor = f"sip:{user}@example.com"
            binding = Binding(aor, f"sip:{user}@192.0.2.1", now + 60, "c", 1)
            await store.update(aor, now, lambda cur, b=binding: ([b], True, None))
        everything = await store.all_bindings(now)
        assert [b.aor for b in everything] == [
            "sip:alice@example.com",
            "sip:bob@example.com",
            "sip:carol@example.com",
        ]
        assert await store.all_bindings(now, 2) == everything[:2]
        assert await store.all_bindings(now, 0) == []
        assert await store.all_bindings(now + 61, 2) == []
        await store.close()

    asyncio.run(main())


def test_binding_json_is_what_asdict_gives() -> None:
    """The hand-built JSON equals ``dataclasses.asdict``'s, so stored rows stay readable."""
    import dataclasses
    import json

    for flow in (None, Flow("TCP", "192.0.2.7", 5070, "3")):
        b = Binding(
            "sip:a@example.com",
            "sip:a@192.0.2.7:5070;transport=tcp",
            1060.5,
            "cid",
            7,
            q=0.5,
            instance="<urn:uuid:00000000-0000-0000-0000-000000000001>",
            reg_id=1,
            path=("<sip:edge.example.com;lr>",),
            flow=flow,
            user_agent="ua",
            updated_at=1000.0,
        )
        text = binding_to_json(b)
        assert text == json.dumps(dataclasses.asdict(b), separators=(",", ":"))
        assert binding_from_json(text) == b


def _open_and_close(path: str, start: float) -> str:
    """In a child process: wait for the common start, open the store, report."""
    time.sleep(max(0.0, start - time.time()))
    try:
        store = SQLiteLocationStore(path)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    asyncio.run(store.close())
    return "ok"


def test_processes_opening_a_new_database_together_all_succeed(tmp_path: Path) -> None:
    """``serve --workers N`` opens one new SQLite file from N processes at once: switching
    it to WAL can fail at once with "database is locked" (seen: a worker's start failed
    that way, then the supervisor restarted it). Every opener must succeed."""
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(6, mp_context=ctx) as pool:
        list(pool.map(abs, range(6)))  # the children are up before the race starts
        for round_ in range(5):
            path = str(tmp_path / f"race{round_}.db")
            start = time.time() + 0.3
            outcomes = list(pool.map(_open_and_close, [path] * 6, [start] * 6))
            assert outcomes == ["ok"] * 6, outcomes
