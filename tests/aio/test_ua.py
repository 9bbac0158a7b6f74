"""UserAgent (first slice): REGISTER with digest and refresh, MESSAGE, OPTIONS, over real UDP.

The registrar is a small in-test one on an :class:`Endpoint`: it challenges with a
:class:`DigestServer` (HA1 lookup only) and answers 200 with its bindings, each Contact
with its ``expires``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import pytest

from sipwright import Request
from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.aio.ua import UserAgent, refresh_delay
from sipwright.auth import DigestServer, ha1
from sipwright.transaction import Destination

REALM = "sipwright.test"
SECRET = b"0123456789abcdef0123456789abcdef"
CONTACT = "sip:alice@127.0.0.1:0"


def run(coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def lookup(username: str, realm: str, algorithm: str) -> str | None:
    return ha1(username, realm, "secret", algorithm) if username == "alice" else None


def uri_of(dest: Destination | None, user: str = "") -> str:
    assert dest is not None
    return f"sip:{user + '@' if user else ''}{dest.host}:{dest.port}"


class Registrar:
    """Challenges (unless ``auth`` is False), keeps bindings, answers 200 with them."""

    def __init__(
        self,
        *,
        auth: bool = True,
        grant_cap: int | None = None,
        min_expires: int | None = None,
    ) -> None:
        self.digest = DigestServer(REALM, SECRET, lookup) if auth else None
        self.grant_cap = grant_cap
        self.min_expires = min_expires
        self.requests: list[Request] = []
        self.accepted: list[Request] = []
        self.bindings: dict[str, int] = {}
        self.changed = asyncio.Event()
        #: When set, every REGISTER is answered with this status.
        self.reject: int | None = None

    async def handle(self, sreq: ServerRequest) -> None:
        req = sreq.request
        self.requests.append(req)
        self.changed.set()
        if req.method != "REGISTER":
            await sreq.respond(405, headers=[("Allow", "REGISTER")])
            return
        if self.reject is not None:
            await sreq.respond(self.reject)
            return
        if self.digest is not None:
            verdict = self.digest.verify(req, time.time())
            if not verdict.accepted:
                assert verdict.response is not None
                challenge = verdict.response.headers.getall("WWW-Authenticate")
                await sreq.respond(
                    verdict.response.status_code,
                    verdict.response.reason,
                    headers=[("WWW-Authenticate", c) for c in challenge],
                )
                return
        updates: dict[str, int] = {}
        for contact in req.contact:
            expires = contact.expires
            if expires is None:
                expires = req.expires if req.expires is not None else 3600
            if self.min_expires is not None and 0 < expires < self.min_expires:
                await sreq.respond(423, headers=[("Min-Expires", str(self.min_expires))])
                return
            if self.grant_cap is not None:
                expires = min(expires, self.grant_cap)
            updates[str(contact.uri)] = expires
        for uri, expires in updates.items():
            if expires:
                self.bindings[uri] = expires
            else:
                self.bindings.pop(uri, None)
        self.accepted.append(req)
        bindings = [("Contact", f"<{u}>;expires={e}") for u, e in self.bindings.items()]
        await sreq.respond(200, headers=bindings)


def registrar_endpoint(registrar: Registrar) -> Endpoint:
    ep = Endpoint([("UDP", "127.0.0.1", 0)])
    ep.on_request = registrar.handle
    return ep


def test_refresh_delay() -> None:
    assert refresh_delay(600) == 570
    assert refresh_delay(2) == 1
    assert refresh_delay(40) == 20


def test_register_with_digest_then_unregister() -> None:
    registrar = Registrar()

    async def main() -> None:
        async with (
            registrar_endpoint(registrar) as server,
            UserAgent(contact=CONTACT, credentials=("alice", "secret"), user_agent="ua/1") as ua,
        ):
            assert ua.contact.port not in (None, 0)
            reg_uri = uri_of(server.local_address())
            resp = await ua.register(reg_uri, expires=600)
            assert resp.status_code == 200
            first, second = registrar.requests
            assert first.authorization == []
            assert first.call_id == second.call_id
            assert first.cseq is not None and second.cseq is not None
            assert (first.cseq.number, second.cseq.number) == (1, 2)
            assert second.cseq.method == "REGISTER"
            assert first.via[0].branch != second.via[0].branch
            assert first.from_ is not None and second.from_ is not None
            assert first.from_.tag == second.from_.tag
            assert second.headers.get("User-Agent") == "ua/1"
            (creds,) = second.authorization
            assert creds.username == "alice"
            assert creds.realm == REALM
            assert creds.uri == reg_uri == second.uri_text
            assert creds.qop == "auth" and creds.nc == "00000001" and creds.cnonce
            assert creds.algorithm == "SHA-256"  # the strongest offered
            assert creds.response
            # The to/from is the AOR at the registrar; the contact has the bound port.
            assert second.to is not None
            assert str(second.to.uri) == uri_of(server.local_address(), "alice")
            (contact,) = second.contact
            assert contact.uri == ua.contact
            # The 200 carries the binding; it is read as the granted lifetime.
            assert [(c.uri, c.expires) for c in resp.contact] == [(ua.contact, 600)]
            reg = ua.registration
            assert reg is not None and reg.active and reg.granted == 600

            resp = await ua.unregister()
            assert resp.status_code == 200
            last = registrar.requests[-1]
            assert last.expires == 0
            assert [c.expires for c in last.contact] == [0]
            assert last.call_id == first.call_id
            assert last.cseq is not None and last.cseq.number > 2
            assert registrar.bindings == {}
            assert resp.contact == []
            assert not reg.active

    run(main())


def test_wrong_password_surfaces_final_401() -> None:
    registrar = Registrar()

    async def main() -> None:
        async with (
            registrar_endpoint(registrar) as server,
            UserAgent(contact=CONTACT, credentials=("alice", "wrong")) as ua,
        ):
            resp = await ua.register(uri_of(server.local_address()), expires=600)
            assert resp.status_code == 401
            assert len(registrar.requests) == 2  # one retry, then give up
            assert len(registrar.requests[1].authorization) == 1
            reg = ua.registration
            assert reg is not None and not reg.active
            assert reg.error is not None and "401" in reg.error
            await asyncio.sleep(0.1)
            assert len(registrar.requests) == 2

    run(main())


def test_no_credentials_returns_the_challenge() -> None:
    registrar = Registrar()

    async def main() -> None:
        async with (
            registrar_endpoint(registrar) as server,
            UserAgent(contact=CONTACT) as ua,
        ):
            resp = await ua.register(uri_of(server.local_address()))
            assert resp.status_code == 401
            assert len(registrar.requests) == 1

    run(main())


def test_refresh_before_expiry_then_unregister_stops_it() -> None:
    # The UA asks for 600 s, the registrar grants 2 s: the refresh comes after 1 s.
    registrar = Registrar(grant_cap=2)

    async def main() -> None:
        async with (
            registrar_endpoint(registrar) as server,
            UserAgent(contact=CONTACT, credentials=("alice", "secret")) as ua,
        ):
            start = time.monotonic()
            resp = await ua.register(uri_of(server.local_address()), expires=600)
            assert resp.status_code == 200
            reg = ua.registration
            assert reg is not None and reg.granted == 2
            while len(registrar.accepted) < 2:
                registrar.changed.clear()
                await registrar.changed.wait()
            assert time.monotonic() - start >= 0.9
            first, refresh = registrar.accepted
            assert refresh.call_id == first.call_id
            assert first.cseq is not None and refresh.cseq is not None
            assert refresh.cseq.number > first.cseq.number
            assert refresh.expires == 600  # the refresh asks again for what we wanted
            await asyncio.sleep(0.05)  # let the UA read the refresh's 200
            assert reg.refreshes >= 1 and reg.active
            cseqs = [r.cseq.number for r in registrar.requests if r.cseq is not None]
            assert cseqs == sorted(cseqs) and len(set(cseqs)) == len(cseqs)

            resp = await ua.unregister()
            assert resp.status_code == 200
            assert registrar.requests[-1].expires == 0
            count = len(registrar.requests)
            await asyncio.sleep(1.3)  # past the next refresh time: nothing more is sent
            assert len(registrar.requests) == count

    run(main())


def test_close_stops_refresh() -> None:
    registrar = Registrar(auth=False, grant_cap=2)

    async def main() -> None:
        async with registrar_endpoint(registrar) as server:
            async with UserAgent(contact=CONTACT) as ua:
                resp = await ua.register(uri_of(server.local_address()), expires=60)
                assert resp.status_code == 200
                reg = ua.registration
                assert reg is not None
                task = reg._task
                assert task is not None and not task.done()
            assert task.done()
            assert len(registrar.requests) == 1

    run(main())


def test_failed_refresh_stops_refreshing() -> None:
    registrar = Registrar(auth=False, grant_cap=2)

    async def main() -> None:
        async with (
            registrar_endpoint(registrar) as server,
            UserAgent(contact=CONTACT) as ua,
        ):
            resp = await ua.register(uri_of(server.local_address()), expires=60)
            assert resp.status_code == 200
            registrar.reject = 403
            reg = ua.registration
            assert reg is not None and reg._task is not None
            await asyncio.wait_for(reg._task, 3)
            assert len(registrar.requests) == 2
            assert reg.error is not None and "403" in reg.error
            assert not reg.active and reg.refreshes == 0
            assert reg.last_response is not None and reg.last_response.status_code == 403

    run(main())


def test_interval_too_brief_retried_with_min_expires() -> None:
    registrar = Registrar(auth=False, min_expires=60)

    async def main() -> None:
        async with (
            registrar_endpoint(registrar) as server,
            UserAgent(contact=CONTACT) as ua,
        ):
            resp = await ua.register(uri_of(server.local_address()), expires=30)
            assert resp.status_code == 200
            first, second = registrar.requests
            assert (first.expires, second.expires) == (30, 60)
            assert first.cseq is not None and second.cseq is not None
            assert second.cseq.number == first.cseq.number + 1
            reg = ua.registration
            assert reg is not None and reg.granted == 60 and reg.expires == 60

    run(main())


def test_message_delivered_as_text_plain() -> None:
    received: list[Request] = []

    async def bob(sreq: ServerRequest) -> None:
        received.append(sreq.request)
        await sreq.respond(200)

    async def main() -> None:
        async with (
            Endpoint([("UDP", "127.0.0.1", 0)]) as peer,
            UserAgent(contact=CONTACT, user_agent="ua/2") as ua,
        ):
            peer.on_request = bob
            target = uri_of(peer.local_address(), "bob")
            resp = await ua.message(target, "hello, bob")
            assert resp.status_code == 200
            (req,) = received
            assert req.method == "MESSAGE" and req.uri_text == target
            assert req.body == b"hello, bob"
            assert req.media_type is not None and req.media_type.value == "text/plain"
            assert req.from_ is not None and req.from_.tag
            assert str(req.from_.uri) == "sip:alice@127.0.0.1"
            assert req.to is not None and str(req.to.uri) == target and req.to.tag is None
            assert req.cseq is not None and (req.cseq.number, req.cseq.method) == (1, "MESSAGE")
            assert req.headers.get("User-Agent") == "ua/2"
            assert req.contact == []

    run(main())


def test_message_answers_proxy_challenge() -> None:
    digest = DigestServer(REALM, SECRET, lookup, proxy=True, algorithms=("MD5",))
    received: list[Request] = []

    async def proxy(sreq: ServerRequest) -> None:
        received.append(sreq.request)
        verdict = digest.verify(sreq.request, time.time())
        if verdict.accepted:
            await sreq.respond(202)
            return
        assert verdict.response is not None
        values = verdict.response.headers.getall("Proxy-Authenticate")
        await sreq.respond(407, headers=[("Proxy-Authenticate", v) for v in values])

    async def main() -> None:
        async with (
            Endpoint([("UDP", "127.0.0.1", 0)]) as peer,
            UserAgent(contact=CONTACT, credentials=("alice", "secret")) as ua,
        ):
            peer.on_request = proxy
            resp = await ua.message(uri_of(peer.local_address(), "bob"), b"hi")
            assert resp.status_code == 202
            first, second = received
            assert first.call_id == second.call_id
            assert second.cseq is not None and second.cseq.number == 2
            (creds,) = second.proxy_authorization
            assert creds.username == "alice" and creds.algorithm == "MD5"
            assert second.body == b"hi"

    run(main())


def test_outbound_proxy_gets_request_with_route() -> None:
    received: list[Request] = []

    async def proxy(sreq: ServerRequest) -> None:
        received.append(sreq.request)
        await sreq.respond(202)

    async def main() -> None:
        async with Endpoint([("UDP", "127.0.0.1", 0)]) as peer:
            peer.on_request = proxy
            proxy_uri = uri_of(peer.local_address())
            async with UserAgent(contact=CONTACT, outbound_proxy=proxy_uri) as ua:
                # 192.0.2.1 (TEST-NET-1) is never reached: everything goes to the proxy.
                resp = await ua.message("sip:bob@192.0.2.1:5060", "via proxy")
                assert resp.status_code == 202
            (req,) = received
            assert req.uri_text == "sip:bob@192.0.2.1:5060"
            assert req.headers.getall("Route") == [f"<{proxy_uri};lr>"]

    run(main())


def test_options() -> None:
    async def main() -> None:
        async with (
            Endpoint([("UDP", "127.0.0.1", 0)]) as peer,
            UserAgent(contact=CONTACT) as ua,
        ):
            resp = await ua.options(uri_of(peer.local_address(), "bob"))
            assert resp.status_code == 200
            assert "MESSAGE" in resp.allow
            assert peer.stats.messages_in["OPTIONS"] == 1

    run(main())


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError, match="IP address"):
        UserAgent(contact="sip:alice@example.com")  # we listen on the contact's address
    with pytest.raises(ValueError, match="UDP"):
        UserAgent(contact="sip:alice@127.0.0.1;transport=tcp")
    with pytest.raises(ValueError, match="sip"):
        UserAgent(contact="tel:+1234")
    with pytest.raises(RuntimeError, match="not started"):
        _ = UserAgent(contact=CONTACT).contact
