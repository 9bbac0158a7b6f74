"""The registrar service end to end: real UserAgents over UDP against an Endpoint whose
``on_request`` hands every REGISTER to :class:`RegistrarService` (the same call the proxy
makes), with the SQLite location store and the HA1-only users table.

Covers RFC 3261 §10.3: the 401 challenge and the authenticated retry (step 3), a wrong
password, another user's AOR (403, step 4), an unknown user (404), 423 Min-Expires
(step 7, §21.4.17), ``Contact: *`` (step 6), bindings surviving a restart, and expiry on
an injected clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.aio.ua import UserAgent
from sipwright.message import Request, Response
from sipwright.registrar import Flow, RegistrarPolicy
from sipwright.server.auth import Realms
from sipwright.server.proxy import ProxyServer
from sipwright.server.registrar_service import RegistrarService
from sipwright.server.sqlite_store import SQLiteLocationStore, SQLiteUserStore
from sipwright.transaction import TimerConfig

TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
DOMAIN = "127.0.0.1"
SECRET = b"0123456789abcdef0123456789abcdef"
_COPIED = {"via", "from", "to", "call-id", "cseq", "content-length"}


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_service(
    db: Path, *, auth: bool = False, clock: Callable[[], float] | None = None, **policy: Any
) -> tuple[RegistrarService, SQLiteLocationStore, SQLiteUserStore | None]:
    store = SQLiteLocationStore(db)
    users = None
    realms = None
    if auth:
        users = SQLiteUserStore(db)
        realms = Realms(SECRET, users.lookup_ha1, lambda domain: domain)
    service = RegistrarService(
        store,
        RegistrarPolicy(domains=frozenset({DOMAIN}), **policy),
        realms=realms,
        clock=clock or FakeClock(),
        server_header="sipwright-test",
    )
    return service, store, users


@pytest.fixture(params=["proxy", "endpoint"])
def harness(request: pytest.FixtureRequest) -> str:
    """Where the service runs: behind the real ProxyServer (its ``on_register`` hook), or
    behind a bare Endpoint (the service alone, without the proxy's own validation)."""
    return str(request.param)


@asynccontextmanager
async def registrar(service: RegistrarService, harness: str = "endpoint") -> AsyncIterator[str]:
    """A REGISTER server on an ephemeral UDP port answering with ``service``."""
    if harness == "proxy":
        proxy = ProxyServer(
            listen=[("UDP", DOMAIN, 0)],
            domains=[DOMAIN],
            location=service.location,
            on_register=service.handle,
            timers=TIMERS,
        )
        async with proxy:
            addr = proxy.local_address("UDP")
            assert addr is not None
            yield f"sip:{DOMAIN}:{addr.port}"
        return

    async def on_request(sreq: ServerRequest) -> None:
        if sreq.request.method != "REGISTER":
            await sreq.respond(405)
            return
        src = sreq.source
        response = await service(sreq.request, Flow(src.transport, src.host, src.port))
        extra = [(f.name, f.value) for f in response.headers.lines() if f.key not in _COPIED]
        await sreq.respond(response.status_code, response.reason, headers=extra)

    async with Endpoint([("UDP", DOMAIN, 0)], timers=TIMERS) as ep:
        ep.on_request = on_request
        addr = ep.local_address("UDP")
        assert addr is not None
        yield f"sip:{DOMAIN}:{addr.port}"


def ua(user: str, password: str | None = None) -> UserAgent:
    creds = (user, password) if password is not None else None
    return UserAgent(f"sip:{user}@127.0.0.1:0", credentials=creds, timers=TIMERS)


def contacts(response: Response) -> list[str]:
    return [str(c.uri) for c in response.contact]


def raw_register(
    agent: UserAgent,
    registrar_uri: str,
    aor: str,
    *,
    contact: str | None,
    expires: int | None,
    cseq: int = 1,
    call_id: str | None = None,
) -> Request:
    headers = [
        ("From", f"<{aor}>;tag={agent.endpoint.ids.tag()}"),
        ("To", f"<{aor}>"),
        ("Call-ID", call_id or agent.endpoint.ids.call_id()),
        ("CSeq", f"{cseq} REGISTER"),
    ]
    if contact is not None:
        headers.append(("Contact", contact))
    if expires is not None:
        headers.append(("Expires", str(expires)))
    return Request("REGISTER", registrar_uri, headers)


async def send(agent: UserAgent, request: Request) -> Response:
    from sipwright.aio.calls import next_hop
    from sipwright.transaction import Destination
    from sipwright.uri import SipUri

    uri = request.uri
    assert isinstance(uri, SipUri)
    hop = next_hop(uri, Destination(uri.host, uri.port or 5060, "UDP"))
    _, response = await agent.send(request, hop)
    return response


def test_open_registrar_lists_binding(tmp_path: Path, harness: str) -> None:
    async def main() -> None:
        service, store, _ = make_service(tmp_path / "r.db")
        async with registrar(service, harness) as reg, ua("alice") as alice:
            aor = f"sip:alice@{DOMAIN}"
            response = await alice.register(reg, expires=300, aor=aor)
            assert response.status_code == 200
            assert contacts(response) == [str(alice.contact)]
            assert response.contact[0].expires == 300
            assert response.to is not None and response.to.tag
            assert response.headers.get("Server") == "sipwright-test"
            assert [b.contact for b in await store.lookup(aor, service.clock())] == [
                str(alice.contact)
            ]
        assert service.stats["200"] == 1 and service.stats["registered"] == 1
        await store.close()

    run(main())


def test_digest_challenge_then_200(tmp_path: Path, harness: str) -> None:
    async def main() -> None:
        service, store, users = make_service(tmp_path / "r.db", auth=True)
        assert users is not None
        users.add("alice", DOMAIN, "wonderland")
        async with registrar(service, harness) as reg, ua("alice", "wonderland") as alice:
            response = await alice.register(reg, expires=300, aor=f"sip:alice@{DOMAIN}")
            assert response.status_code == 200
            assert contacts(response) == [str(alice.contact)]
            req = alice.registration
            assert req is not None and req.cseq == 2  # the 401 and the authenticated retry
        assert service.stats["401"] == 1 and service.stats["200"] == 1
        await store.close()
        users.close()

    run(main())


def test_wrong_password_gets_final_401(tmp_path: Path, harness: str) -> None:
    async def main() -> None:
        service, store, users = make_service(tmp_path / "r.db", auth=True)
        assert users is not None
        users.add("alice", DOMAIN, "wonderland")
        async with registrar(service, harness) as reg, ua("alice", "looking-glass") as alice:
            response = await alice.register(reg, expires=300, aor=f"sip:alice@{DOMAIN}")
            assert response.status_code == 401
            assert response.headers.get("WWW-Authenticate") is not None
        assert service.stats["401"] == 2 and service.stats["200"] == 0
        assert await store.count(service.clock()) == 0
        await store.close()
        users.close()

    run(main())


def test_someone_elses_aor_is_forbidden_and_unknown_user_not_found(
    tmp_path: Path, harness: str
) -> None:
    async def main() -> None:
        service, store, users = make_service(tmp_path / "r.db", auth=True)
        assert users is not None
        users.add("alice", DOMAIN, "wonderland")
        users.add("bob", DOMAIN, "builder")
        async with registrar(service, harness) as reg, ua("bob", "builder") as bob:
            response = await bob.register(reg, expires=300, aor=f"sip:alice@{DOMAIN}")
            assert response.status_code == 403
            response = await bob.register(reg, expires=300, aor=f"sip:carol@{DOMAIN}")
            assert response.status_code == 404
            response = await bob.register(reg, expires=300, aor=f"sip:bob@{DOMAIN}")
            assert response.status_code == 200
        now = service.clock()
        assert await store.lookup(f"sip:alice@{DOMAIN}", now) == []
        assert len(await store.lookup(f"sip:bob@{DOMAIN}", now)) == 1
        await store.close()
        users.close()

    run(main())


def test_interval_too_brief_then_min_expires(tmp_path: Path, harness: str) -> None:
    async def main() -> None:
        service, store, _ = make_service(tmp_path / "r.db", min_expires=120)
        async with registrar(service, harness) as reg, ua("alice") as alice:
            aor = f"sip:alice@{DOMAIN}"
            request = raw_register(alice, reg, aor, contact=f"<{alice.contact}>", expires=30)
            response = await send(alice, request)
            assert response.status_code == 423
            assert response.headers.get("Min-Expires") == "120"
            # The UserAgent retries with Min-Expires by itself (§10.2.8).
            response = await alice.register(reg, expires=30, aor=aor)
            assert response.status_code == 200
            assert response.contact[0].expires == 120
        assert service.stats["423"] == 2
        await store.close()

    run(main())


def test_wildcard_unregister_and_unsupported_require(tmp_path: Path, harness: str) -> None:
    async def main() -> None:
        service, store, _ = make_service(tmp_path / "r.db")
        async with registrar(service, harness) as reg, ua("alice") as alice, ua("alice") as desk:
            aor = f"sip:alice@{DOMAIN}"
            assert (await alice.register(reg, expires=300, aor=aor)).status_code == 200
            response = await desk.register(reg, expires=300, aor=aor)
            assert sorted(contacts(response)) == sorted([str(alice.contact), str(desk.contact)])
            bad = raw_register(alice, reg, aor, contact="*", expires=300)
            assert (await send(alice, bad)).status_code == 400
            req = raw_register(alice, reg, aor, contact=None, expires=None)
            req.headers.add("Require", "foo-bar")
            response = await send(alice, req)
            assert response.status_code == 420
            assert response.headers.get("Unsupported") == "foo-bar"
            wipe = raw_register(alice, reg, aor, contact="*", expires=0)
            response = await send(alice, wipe)
            assert response.status_code == 200
            assert response.contact == []
        assert await store.lookup(aor, service.clock()) == []
        assert service.stats["unregistered"] == 1
        await store.close()

    run(main())


def test_bindings_survive_restart(tmp_path: Path, harness: str) -> None:
    db = tmp_path / "r.db"
    clock = FakeClock()

    async def first() -> str:
        service, store, _ = make_service(db, clock=clock)
        async with registrar(service, harness) as reg, ua("alice") as alice:
            response = await alice.register(reg, expires=600, aor=f"sip:alice@{DOMAIN}")
            assert response.status_code == 200
            contact = str(alice.contact)
        await store.close()
        return contact

    async def second(contact: str) -> None:
        service, store, _ = make_service(db, clock=clock)
        async with registrar(service, harness) as reg, ua("alice") as alice:
            query = raw_register(alice, reg, f"sip:alice@{DOMAIN}", contact=None, expires=None)
            response = await send(alice, query)
            assert response.status_code == 200
            assert contacts(response) == [contact]
            assert response.contact[0].expires == 600 - 10
        await store.close()

    contact = run(first())
    clock.now += 10
    run(second(contact))


def test_expiry_on_fake_clock_and_sweep(tmp_path: Path, harness: str) -> None:
    async def main() -> None:
        clock = FakeClock()
        service, store, _ = make_service(tmp_path / "r.db", clock=clock)
        aor = f"sip:alice@{DOMAIN}"
        async with registrar(service, harness) as reg, ua("alice") as alice:
            assert (await alice.register(reg, expires=60, aor=aor)).status_code == 200
            clock.now += 59
            query = raw_register(alice, reg, aor, contact=None, expires=None)
            response = await send(alice, query)
            assert [c.expires for c in response.contact] == [1]
            clock.now += 2
            query = raw_register(alice, reg, aor, contact=None, expires=None)
            response = await send(alice, query)
            assert response.status_code == 200 and response.contact == []
        assert await store.sweep(clock()) == 1
        await store.close()

    run(main())


@pytest.mark.parametrize(
    ("bad_to", "status"), [("<sip:alice@elsewhere.example>", 404), ("<tel:+15551234>", 400)]
)
def test_foreign_or_non_sip_aor(tmp_path: Path, harness: str, bad_to: str, status: int) -> None:
    async def main() -> None:
        service, store, _ = make_service(tmp_path / "r.db")
        async with registrar(service, harness) as reg, ua("alice") as alice:
            req = raw_register(alice, reg, f"sip:alice@{DOMAIN}", contact=None, expires=None)
            req.headers.set("To", bad_to)
            assert (await send(alice, req)).status_code == status
        await store.close()

    run(main())


def test_malformed_expires_is_400_naming_the_fault(tmp_path: Path, harness: str) -> None:
    async def main() -> None:
        service, store, _ = make_service(tmp_path / "r.db")
        async with registrar(service, harness) as reg, ua("alice") as alice:
            aor = f"sip:alice@{DOMAIN}"
            req = raw_register(alice, reg, aor, contact=f"<{alice.contact}>", expires=None)
            req.headers.add("Expires", "soon")
            response = await send(alice, req)
            assert response.status_code == 400
            assert "Expires" in response.reason
        assert await store.count(service.clock()) == 0
        await store.close()

    run(main())
