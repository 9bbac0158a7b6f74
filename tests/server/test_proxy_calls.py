"""The stateful proxy end to end: real sipwright UserAgents and Endpoints on 127.0.0.1.

Every message any of them puts on the wire is recorded (the ``sipwright.wire`` logger,
:class:`Wire`), the proxy's included, so each test asserts what was really sent.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aio.ua_wire import ANSWER, TIMERS, Wire, label, run, wait_until

from sipwright import Request, Response
from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.aio.ua import CallFailed, IncomingCall, UserAgent
from sipwright.registrar import Flow, aor_of, process_register
from sipwright.server.location import MemoryLocationStore
from sipwright.server.proxy import ProxyServer
from sipwright.transaction import Destination, TimerConfig


def registrar(location: MemoryLocationStore):  # type: ignore[no-untyped-def]
    """The five-line registrar hook: §10.3 by ``process_register``, stored atomically."""

    async def on_register(request: Request, flow: Flow) -> Response:
        now, aor = time.time(), aor_of(request.to.uri) or ""  # type: ignore[union-attr]
        return await location.update(aor, now, lambda cur: _apply(request, cur, now, flow))

    return on_register


def _apply(request, current, now, flow):  # type: ignore[no-untyped-def]
    out = process_register(request, current, now, flow=flow)
    return out.bindings, out.changed, out.response


@asynccontextmanager
async def proxy(
    domains: tuple[str, ...] = ("example.com",), **kw: object
) -> AsyncIterator[ProxyServer]:
    location = MemoryLocationStore()
    server = ProxyServer(
        listen=[("UDP", "127.0.0.1", 0), ("TCP", "127.0.0.1", 0)],
        domains=domains,
        location=location,
        **{"timers": TIMERS, "on_register": registrar(location), **kw},  # type: ignore[arg-type]
    )
    await server.start()
    try:
        yield server
    finally:
        await server.close(drain=0.0)


def port(px: ProxyServer, transport: str = "UDP") -> int:
    addr = px.local_address(transport)
    assert addr is not None
    return addr.port


def outbound(px: ProxyServer) -> str:
    return f"sip:127.0.0.1:{port(px)}"


def ua(name: str, px: ProxyServer) -> UserAgent:
    return UserAgent(f"sip:{name}@127.0.0.1:0", timers=TIMERS, outbound_proxy=outbound(px))


async def register(agent: UserAgent, px: ProxyServer, aor: str) -> None:
    resp = await agent.register(outbound(px), aor=aor)
    assert resp.status_code == 200


def sent_to(wire: Wire, dest_port: int) -> list[str]:
    return [label(m) for m in wire.to(dest_port)]


def first(wire: Wire, dest_port: int, what: str) -> Request | Response:
    for m in wire.to(dest_port):
        if label(m) == what:
            return m
    raise AssertionError(f"no {what} sent to {dest_port}: {sent_to(wire, dest_port)}")


async def answer_after_ringing(call: IncomingCall) -> None:
    await call.ringing()
    await call.answer(ANSWER)


# -- UDP -------------------------------------------------------------------------------


def test_register_and_call_over_udp(wire: Wire) -> None:
    async def main() -> None:
        async with proxy() as px, ua("alice", px) as alice, ua("bob", px) as bob:
            finals: list[tuple[str, int]] = []
            px.on_final = lambda req, resp: finals.append((req.method, resp.status_code))
            await register(bob, px, "sip:bob@example.com")
            bob.on_call = answer_after_ringing
            call = await alice.call("sip:bob@example.com")
            await call.bye()
            assert finals == [("REGISTER", 200), ("INVITE", 200), ("BYE", 200)]
            pu, bp, ap = port(px), bob.contact.port, alice.contact.port
            rr = f"<sip:127.0.0.1:{pu};lr>"
            # The proxy answered the REGISTER itself (with bob's binding).
            ok = first(wire, bp, "200 REGISTER")
            assert ok.headers.getall("Contact")[0].startswith(f"<{bob.contact}>")
            # INVITE to bob: retargeted to his contact, Record-Route, two Vias, MF 69.
            invite = first(wire, bp, "INVITE")
            assert isinstance(invite, Request)
            assert invite.uri == bob.contact
            assert invite.headers.getall("Record-Route") == [rr]
            assert len(invite.via) == 2 and invite.max_forwards == 69
            assert "Route" not in invite.headers  # our preloaded Route was removed
            # Alice got 100 (from the proxy), 180 and 200 with the Record-Route.
            assert sent_to(wire, ap)[:3] == ["100 INVITE", "180 INVITE", "200 INVITE"]
            assert first(wire, ap, "200 INVITE").headers.getall("Record-Route") == [rr]
            # ACK and BYE went through the proxy: sent to it with Route, then to bob.
            for method in ("ACK", "BYE"):
                assert first(wire, pu, method).headers.getall("Route") == [rr]
                relayed = first(wire, bp, method)
                assert "Route" not in relayed.headers and len(relayed.via) == 2
            assert first(wire, ap, "200 BYE").via[0].branch == first(wire, pu, "BYE").via[0].branch
            assert px.stats.requests["INVITE"] == 1 and px.stats.stateless_forwards >= 1

    run(main())


def test_call_with_the_proxy_as_request_uri_host(wire: Wire) -> None:
    """No outbound proxy: the Request-URI names the proxy's address as domain."""

    async def main() -> None:
        async with proxy(domains=("127.0.0.1",)) as px:
            pu = port(px)
            async with (
                UserAgent("sip:alice@127.0.0.1:0", timers=TIMERS) as alice,
                UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob,
            ):
                assert (await bob.register(f"sip:127.0.0.1:{pu}")).status_code == 200
                bob.on_call = answer_after_ringing
                call = await alice.call(f"sip:bob@127.0.0.1:{pu}")
                await call.bye()
                assert sent_to(wire, bob.contact.port).count("INVITE") == 1
                assert first(wire, pu, "BYE").headers.getall("Route") == [
                    f"<sip:127.0.0.1:{pu};lr>"
                ]

    run(main())


def test_busy_callee_486_is_forwarded(wire: Wire) -> None:
    async def main() -> None:
        async with proxy() as px, ua("alice", px) as alice, ua("bob", px) as bob:
            await register(bob, px, "sip:bob@example.com")

            async def busy(call: IncomingCall) -> None:
                await call.reject(486)

            bob.on_call = busy
            with pytest.raises(CallFailed) as failed:
                await alice.call("sip:bob@example.com")
            assert failed.value.response.status_code == 486
            # The non-2xx ACK is hop by hop: the proxy ACKed bob, alice ACKed the proxy.
            await wait_until(lambda: "ACK" in sent_to(wire, bob.contact.port))
            assert "ACK" in sent_to(wire, port(px))

    run(main())


def test_unregistered_callee_is_480(wire: Wire) -> None:
    async def main() -> None:
        async with proxy() as px, ua("alice", px) as alice:
            with pytest.raises(CallFailed) as failed:
                await alice.call("sip:nobody@example.com")
            assert failed.value.response.status_code == 480

    run(main())


def test_unknown_user_is_404_when_a_user_list_says_so(wire: Wire) -> None:
    async def known(aor: str) -> bool:
        return aor == "sip:bob@example.com"

    async def main() -> None:
        async with proxy(known_user=known) as px, ua("alice", px) as alice:
            for user, status in (("nobody", 404), ("bob", 480)):
                with pytest.raises(CallFailed) as failed:
                    await alice.call(f"sip:{user}@example.com")
                assert failed.value.response.status_code == status

    run(main())


def test_cancel_from_the_caller_is_propagated(wire: Wire) -> None:
    async def main() -> None:
        async with proxy() as px, ua("alice", px) as alice, ua("bob", px) as bob:
            await register(bob, px, "sip:bob@example.com")
            ringing = asyncio.Event()

            async def ring(call: IncomingCall) -> None:
                await call.ringing()
                ringing.set()

            bob.on_call = ring
            out = alice.dial("sip:bob@example.com")
            await asyncio.wait_for(ringing.wait(), 2)
            await wait_until(lambda: "180 INVITE" in sent_to(wire, alice.contact.port))
            final = await out.cancel()
            assert final is not None and final.status_code == 487
            pu, bp, ap = port(px), bob.contact.port, alice.contact.port
            # The proxy answered alice's CANCEL itself and sent its own to bob (§16.10).
            assert "CANCEL" in sent_to(wire, pu) and "200 CANCEL" in sent_to(wire, ap)
            assert "CANCEL" in sent_to(wire, bp)
            assert "200 CANCEL" in sent_to(wire, pu)  # bob's answer, absorbed
            assert sent_to(wire, ap).count("200 CANCEL") == 1
            assert "487 INVITE" in sent_to(wire, pu) and "487 INVITE" in sent_to(wire, ap)

    run(main())


def test_forking_to_two_contacts_first_200_wins(wire: Wire) -> None:
    async def main() -> None:
        async with (
            proxy() as px,
            ua("alice", px) as alice,
            ua("bob", px) as bob1,
            ua("bob", px) as bob2,
        ):
            await register(bob1, px, "sip:bob@example.com")
            await register(bob2, px, "sip:bob@example.com")
            rang: list[IncomingCall] = []
            both = asyncio.Event()

            async def ring(call: IncomingCall) -> None:
                await call.ringing()
                rang.append(call)
                if len(rang) == 2:
                    both.set()

            bob1.on_call = bob2.on_call = ring
            out = alice.dial("sip:bob@example.com")
            await asyncio.wait_for(both.wait(), 2)
            winner = next(c for c in rang if c._ua is bob1)
            await winner.answer(ANSWER)
            call = await out.answered()
            p1, p2 = bob1.contact.port, bob2.contact.port
            await wait_until(lambda: "487 INVITE" in sent_to(wire, port(px)))
            assert "INVITE" in sent_to(wire, p1) and "INVITE" in sent_to(wire, p2)
            assert "CANCEL" in sent_to(wire, p2) and "CANCEL" not in sent_to(wire, p1)
            # Alice saw exactly one 200 and no 487 (absorbed by the proxy).
            to_alice = sent_to(wire, alice.contact.port)
            assert to_alice.count("200 INVITE") == 1 and "487 INVITE" not in to_alice
            await call.bye()
            assert "BYE" in sent_to(wire, p1) and "BYE" not in sent_to(wire, p2)

    run(main())


# -- TCP and transport switching ---------------------------------------------------------


class TcpCallee:
    """A real sipwright Endpoint on TCP that registers over TCP and answers calls."""

    def __init__(self, ep: Endpoint, px: ProxyServer, user: str) -> None:
        self.ep = ep
        self.px = px
        self.user = user
        self.requests: list[Request] = []
        ep.on_request = self.handle

    @property
    def port(self) -> int:
        addr = self.ep.local_address("TCP")
        assert addr is not None
        return addr.port

    @property
    def contact(self) -> str:
        return f"sip:{self.user}@127.0.0.1:{self.port};transport=tcp"

    async def register(self) -> None:
        pt = port(self.px, "TCP")
        aor = f"sip:{self.user}@example.com"
        req = Request(
            "REGISTER",
            f"sip:127.0.0.1:{pt};transport=tcp",
            [
                ("From", f"<{aor}>;tag=r1"),
                ("To", f"<{aor}>"),
                ("Call-ID", self.ep.ids.call_id()),
                ("CSeq", "1 REGISTER"),
                ("Contact", f"<{self.contact}>"),
                ("Expires", "600"),
            ],
        )
        resp = await self.ep.request(req, Destination("127.0.0.1", pt, "TCP"))
        assert resp.status_code == 200

    async def handle(self, sreq: ServerRequest) -> None:
        self.requests.append(sreq.request)
        if sreq.request.method == "INVITE":
            await sreq.respond(180)
            await sreq.respond(
                200,
                headers=[("Contact", f"<{self.contact}>")],
                body=ANSWER,
                content_type="application/sdp",
            )
        else:
            await sreq.respond(200)


@asynccontextmanager
async def tcp_callee(px: ProxyServer, user: str = "carol") -> AsyncIterator[TcpCallee]:
    async with Endpoint([("TCP", "127.0.0.1", 0)], timers=TIMERS) as ep:
        callee = TcpCallee(ep, px, user)
        await callee.register()
        yield callee


def test_call_over_tcp(wire: Wire) -> None:
    async def main() -> None:
        async with (
            proxy() as px,
            tcp_callee(px) as carol,
            Endpoint([("TCP", "127.0.0.1", 0)], timers=TIMERS) as caller,
        ):
            pt = port(px, "TCP")
            result = await caller.call("sip:carol@example.com", Destination("127.0.0.1", pt, "TCP"))
            assert result.ok, result.error
            methods = [r.method for r in carol.requests]
            assert methods == ["INVITE", "BYE"]
            invite = carol.requests[0]
            assert invite.headers.getall("Record-Route") == [
                f"<sip:127.0.0.1:{pt};transport=tcp;lr>"
            ]
            assert invite.via[0].transport == "TCP"
            # The ACK of the 2xx went caller -> proxy -> carol over TCP.
            await wait_until(lambda: "ACK" in sent_to(wire, pt))
            ack = first(wire, pt, "ACK")
            assert ack.headers.getall("Route") == [f"<sip:127.0.0.1:{pt};transport=tcp;lr>"]

    run(main())


def test_udp_caller_tcp_callee_double_record_route(wire: Wire) -> None:
    async def main() -> None:
        async with proxy() as px, tcp_callee(px) as carol, ua("alice", px) as alice:
            pu, pt = port(px), port(px, "TCP")
            call = await alice.call("sip:carol@example.com")
            invite = carol.requests[0]
            tcp_rr = f"<sip:127.0.0.1:{pt};transport=tcp;lr>"
            udp_rr = f"<sip:127.0.0.1:{pu};lr>"
            # RFC 5658: the callee-facing interface on top, the caller-facing one below.
            assert invite.headers.getall("Record-Route") == [tcp_rr, udp_rr]
            assert invite.via[0].transport == "TCP"
            await call.bye()
            assert [r.method for r in carol.requests] == ["INVITE", "BYE"]
            bye = first(wire, pu, "BYE")
            assert bye.headers.getall("Route") == [udp_rr, tcp_rr]
            await wait_until(lambda: "ACK" in sent_to(wire, pu))

    run(main())


# -- §16.3 errors --------------------------------------------------------------------------


def _request(method: str, uri: str, *extra: tuple[str, str]) -> Request:
    return Request(
        method,
        uri,
        [
            ("From", "<sip:alice@example.com>;tag=x1"),
            ("To", f"<{uri}>"),
            ("Call-ID", f"{method}-{uri}-{len(extra)}"),
            ("CSeq", f"1 {method}"),
            *extra,
        ],
    )


def test_validation_errors(wire: Wire) -> None:
    async def main() -> None:
        async with proxy() as px, Endpoint([("UDP", "127.0.0.1", 0)], timers=TIMERS) as ep:
            dest = Destination("127.0.0.1", port(px))
            cases = [
                (_request("MESSAGE", "sip:bob@example.com", ("Max-Forwards", "0")), 483),
                (_request("MESSAGE", "sip:bob@example.com", ("Proxy-Require", "foo")), 420),
                (_request("MESSAGE", "tel:+15551234"), 416),
                (_request("MESSAGE", "sip:bob@unresolvable.example"), 404),
                (_request("MESSAGE", "sip:bob@example.com", ("Max-Forwards", "x")), 400),
                (_request("MESSAGE", "sip:bob@example.com", ("To", "<sip:eve@example.com>")), 400),
            ]
            for req, status in cases:
                resp = await ep.request(req, dest)
                assert resp.status_code == status, (req, resp)
                if status == 420:
                    assert resp.headers.getall("Unsupported") == ["foo"]
            # OPTIONS to the proxy itself, even with Max-Forwards 0 (§11).
            # A CSeq no transaction can hold (RFC 4475 scalar02): 400, not silence.
            huge = _request("MESSAGE", "sip:bob@example.com")
            huge.headers.set("CSeq", "36893488147419103232 MESSAGE")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                raw.bind(("127.0.0.1", 0))
                raw.settimeout(2.0)
                me = raw.getsockname()[1]
                huge.headers.prepend("Via", f"SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKhuge")
                huge.headers.set("Max-Forwards", "70")
                raw.sendto(bytes(huge), ("127.0.0.1", port(px)))
                answer = await asyncio.get_running_loop().run_in_executor(None, raw.recv, 4096)
            assert answer.startswith(b"SIP/2.0 400 ") and b"z9hG4bKhuge" in answer
            opts = _request("OPTIONS", f"sip:127.0.0.1:{port(px)}", ("Max-Forwards", "0"))
            resp = await ep.request(opts, dest)
            assert resp.status_code == 200 and "INVITE" in resp.allow

    run(main())


def test_loop_between_two_proxies_is_482(wire: Wire) -> None:
    async def main() -> None:
        async with (
            proxy() as a,
            proxy(domains=("other.example",)) as b,
            Endpoint([("UDP", "127.0.0.1", 0)], timers=TIMERS) as ep,
        ):
            pa, pb = port(a), port(b)
            # A forwards to B (first Route), B removes its Route and sends it back to A:
            # the same request, unchanged, comes back to A.
            req = _request(
                "MESSAGE",
                f"sip:carol@127.0.0.1:{pb}",
                ("Route", f"<sip:127.0.0.1:{pb};lr>, <sip:127.0.0.1:{pa};lr>"),
            )
            resp = await ep.request(req, Destination("127.0.0.1", pa))
            assert resp.status_code == 482
            assert a.stats.requests["MESSAGE"] == 2 and b.stats.requests["MESSAGE"] == 1
            assert "482 MESSAGE" in sent_to(wire, pb)

    run(main())


def test_keeps_serving_after_garbage(wire: Wire) -> None:
    async def main() -> None:
        async with proxy() as px, ua("alice", px) as alice:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"\x00\xffnot sip at all\r\n\r\n", ("127.0.0.1", port(px)))
                s.sendto(b"INVITE sip:x SIP/2.0\r\nVia: garbage\r\n\r\n", ("127.0.0.1", port(px)))
            resp = await alice.options(f"sip:127.0.0.1:{port(px)}")
            assert resp.status_code == 200
            assert resp.headers.get("Allow") is not None

    run(main())


def test_graceful_close_finishes_the_call_in_flight(wire: Wire) -> None:
    async def main() -> None:
        async with proxy() as px, ua("alice", px) as alice, ua("bob", px) as bob:
            await register(bob, px, "sip:bob@example.com")
            ringing = asyncio.Event()
            pending: list[IncomingCall] = []

            async def ring(call: IncomingCall) -> None:
                await call.ringing()
                pending.append(call)
                ringing.set()

            bob.on_call = ring
            out = alice.dial("sip:bob@example.com")
            await asyncio.wait_for(ringing.wait(), 2)
            closing = asyncio.create_task(px.close(drain=1.0))
            await asyncio.sleep(0.05)
            # New requests are refused with 503 and Retry-After while draining.
            resp = await alice.options("sip:bob@example.com")
            assert resp.status_code == 503 and resp.headers.get("Retry-After") == "5"
            await pending[0].answer(ANSWER)
            call = await out.answered()
            assert call is out
            # In-dialog requests still go through while draining.
            assert (await call.bye()).status_code == 200
            assert "BYE" in sent_to(wire, bob.contact.port)
            await closing

    run(main())


def test_gauges_return_to_zero(wire: Wire) -> None:
    fast = TimerConfig(t1=0.01, t2=0.08, t4=0.1)

    async def main() -> None:
        async with proxy(timers=fast) as px, ua("alice", px) as alice, ua("bob", px) as bob:
            await register(bob, px, "sip:bob@example.com")
            bob.on_call = answer_after_ringing

            async def accept(sreq: ServerRequest) -> None:
                await sreq.respond(200)

            bob.on_request = accept
            call = await alice.call("sip:bob@example.com")
            assert px.stats.active_contexts == 0  # the 2xx ended the only branch
            assert (await alice.message("sip:bob@example.com", "hi")).status_code == 200
            await call.bye()
            assert px.stats.active_client_transactions > 0
            await wait_until(lambda: px.layer.active == 0, 3.0)
            s = px.stats
            assert (s.active_server_transactions, s.active_client_transactions) == (0, 0)
            assert s.active_contexts == 0 and s.forwarded == 3 and s.errors == 0
            assert s.responses_sent["2xx"] == 4  # REGISTER, INVITE, MESSAGE, BYE

    run(main())


def test_register_without_registrar_is_405_and_options_to_domain(wire: Wire) -> None:
    async def main() -> None:
        async with proxy(on_register=None) as px, ua("bob", px) as bob:
            resp = await bob.register(outbound(px), aor="sip:bob@example.com")
            assert resp.status_code == 405
            assert "REGISTER" not in resp.allow and "INVITE" in resp.allow
            opts = await bob.options("sip:example.com")
            assert opts.status_code == 200 and "REGISTER" in opts.allow

    run(main())


def test_authenticate_hook_challenges_local_callers(wire: Wire) -> None:
    challenge = 'Digest realm="example.com", nonce="n1", algorithm=MD5, qop="auth"'
    seen: list[Request] = []

    async def authenticate(request: Request) -> Response | None:
        seen.append(request)
        if request.headers.get("Proxy-Authorization") is None:
            return request.make_response(
                407, to_tag="p1", headers=[("Proxy-Authenticate", challenge)]
            )
        return None

    async def main() -> None:
        async with proxy(authenticate=authenticate) as px, ua("bob", px) as bob:
            alice = UserAgent(
                "sip:alice@127.0.0.1:0",
                timers=TIMERS,
                outbound_proxy=outbound(px),
                aor="sip:alice@example.com",
                credentials=("alice", "secret"),
            )
            async with alice:
                await register(bob, px, "sip:bob@example.com")
                bob.on_call = answer_after_ringing
                call = await alice.call("sip:bob@example.com")
                await call.bye()
            assert [r.headers.get("Proxy-Authorization") is None for r in seen] == [True, False]
            assert sent_to(wire, alice.contact.port).count("407 INVITE") == 1
            # The in-dialog BYE was not challenged (it has a To tag).
            assert all(r.method == "INVITE" for r in seen)

    run(main())


def test_local_caller_to_a_foreign_target_is_challenged_too(wire: Wire) -> None:
    """No open relay: a From in our domain is challenged whatever the target's domain."""
    challenge = 'Digest realm="example.com", nonce="n1", algorithm=MD5, qop="auth"'
    seen: list[Request] = []

    async def authenticate(request: Request) -> Response | None:
        seen.append(request)
        if request.headers.get("Proxy-Authorization") is None:
            return request.make_response(
                407, to_tag="p1", headers=[("Proxy-Authenticate", challenge)]
            )
        return None

    async def main() -> None:
        async with proxy(authenticate=authenticate) as px:
            # Carol is on a foreign host (an IP literal): the proxy forwards to it as is.
            carol = UserAgent("sip:carol@127.0.0.1:0", timers=TIMERS)
            forger = UserAgent(
                "sip:mallory@127.0.0.1:0",
                timers=TIMERS,
                outbound_proxy=outbound(px),
                aor="sip:alice@example.com",
            )
            async with carol, forger:
                got: list[Request] = []

                async def on_request(sreq: ServerRequest) -> None:
                    got.append(sreq.request)
                    await sreq.respond(200)

                carol.on_request = on_request
                resp = await forger.message(f"sip:carol@127.0.0.1:{carol.contact.port}", "x")
                assert resp.status_code == 407 and got == []
                assert [r.method for r in seen] == ["MESSAGE"]
                # A caller from a foreign domain is not ours to authenticate: relayed.
                forger.aor = "sip:mallory@elsewhere.example"
                resp = await forger.message(f"sip:carol@127.0.0.1:{carol.contact.port}", "y")
                assert resp.status_code == 200 and [r.body for r in got] == [b"y"]

    run(main())


def test_cancel_while_the_authenticate_hook_runs(wire: Wire) -> None:
    """A CANCEL that arrives before the request is forwarded ends it with 487 (§16.10)."""
    gate = asyncio.Event()
    seen: list[Request] = []

    async def authenticate(request: Request) -> Response | None:
        seen.append(request)
        await gate.wait()
        return None

    async def main() -> None:
        async with proxy(authenticate=authenticate) as px:
            carol = UserAgent("sip:carol@127.0.0.1:0", timers=TIMERS)
            alice = UserAgent(
                "sip:alice@127.0.0.1:0",
                timers=TIMERS,
                outbound_proxy=outbound(px),
                aor="sip:alice@example.com",
            )
            async with carol, alice:
                offered: list[IncomingCall] = []

                async def on_call(call: IncomingCall) -> None:
                    offered.append(call)

                carol.on_call = on_call
                out = alice.dial(f"sip:carol@127.0.0.1:{carol.contact.port}")
                await wait_until(lambda: len(seen) == 1, 2.0)
                cancelling = asyncio.ensure_future(out.cancel())
                await wait_until(lambda: "CANCEL" in sent_to(wire, port(px)), 2.0)
                gate.set()
                final = await asyncio.wait_for(cancelling, 3.0)
                assert final is not None and final.status_code == 487
                assert offered == [] and "INVITE" not in sent_to(wire, carol.contact.port)
                assert "200 CANCEL" in sent_to(wire, alice.contact.port)

    run(main())


def test_close_does_not_wait_for_finished_transactions(wire: Wire) -> None:
    """Graceful stop waits for work in flight, not for Timer J/K of answered requests."""

    async def main() -> None:
        async with proxy() as px, ua("bob", px) as bob:
            await register(bob, px, "sip:bob@example.com")
            assert px.layer.active > 0  # the REGISTER's server transaction waits out Timer J
            # A 30 s drain returns at once: nothing is being proxied.
            await asyncio.wait_for(px.close(drain=30.0), 2.0)

    run(main())


def test_stray_responses_are_forwarded_by_via_or_dropped(wire: Wire) -> None:
    async def main() -> None:
        async with proxy() as px, Endpoint([("UDP", "127.0.0.1", 0)], timers=TIMERS) as ep:
            got: list[Response] = []
            ep.on_stray_response = lambda resp, src: got.append(resp)
            me = ep.local_address("UDP")
            assert me is not None
            pu = port(px)

            def response(top: str) -> Response:
                return Response(
                    200,
                    headers=[
                        ("Via", top),
                        ("Via", f"SIP/2.0/UDP 127.0.0.1:{me.port};branch=z9hG4bKup1"),
                        ("From", "<sip:a@example.com>;tag=1"),
                        ("To", "<sip:b@example.com>;tag=2"),
                        ("Call-ID", "stray1"),
                        ("CSeq", "1 INVITE"),
                    ],
                )

            proxy_dest = Destination("127.0.0.1", pu)
            ours = f"SIP/2.0/UDP 127.0.0.1:{pu};branch=z9hG4bKsw0123456789abcdef.x"
            ep.send_stateless(response(ours), proxy_dest)
            await wait_until(lambda: len(got) == 1)
            assert [v.branch for v in got[0].via] == ["z9hG4bKup1"]
            assert px.stats.stateless_forwards == 1
            # A response whose top Via is not ours goes nowhere.
            ep.send_stateless(response("SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKx"), proxy_dest)
            await wait_until(lambda: px.stats.dropped == 1)
            assert len(got) == 1

    run(main())


def test_two_workers_sharing_the_port(wire: Wire) -> None:
    """SO_REUSEPORT: two proxies on one port; each forwards from a private port, so the
    callee's responses reach the worker holding the transaction, whichever it is."""

    async def main() -> None:
        location = MemoryLocationStore()

        def worker(udp: int, tcp: int) -> ProxyServer:
            return ProxyServer(
                listen=[("UDP", "127.0.0.1", udp), ("TCP", "127.0.0.1", tcp)],
                domains=["example.com"],
                location=location,
                on_register=registrar(location),
                timers=TIMERS,
                reuse_port=True,
            )

        async with worker(0, 0) as w1:
            pu, pt = port(w1), port(w1, "TCP")
            async with worker(pu, pt) as w2, ua("bob", w1) as bob:
                assert port(w2) == pu and port(w2, "TCP") == pt
                await register(bob, w1, "sip:bob@example.com")
                bob.on_call = answer_after_ringing
                for name in ("alice", "carol", "dave", "erin"):
                    async with ua(name, w1) as caller:
                        call = await caller.call("sip:bob@example.com")
                        assert (await call.bye()).status_code == 200
                invites = [m for m in wire.to(bob.contact.port) if label(m) == "INVITE"]
                assert len(invites) == 4
                for invite in invites:
                    assert invite.headers.getall("Record-Route") == [f"<sip:127.0.0.1:{pu};lr>"]
                    assert invite.via[0].port != pu  # the worker's private port
                assert w1.stats.requests["INVITE"] + w2.stats.requests["INVITE"] == 4
                # Every response reached its transaction: nothing was sent to bob twice.
                assert not [
                    s for s in wire.sent if s.to_port == bob.contact.port and s.retransmission
                ]
                assert w1.stats.stateless_forwards + w2.stats.stateless_forwards == 4  # ACKs

    run(main())


def test_timer_c_cancels_a_call_ringing_too_long(wire: Wire) -> None:
    async def main() -> None:
        async with proxy(timer_c=0.3) as px, ua("alice", px) as alice, ua("bob", px) as bob:
            await register(bob, px, "sip:bob@example.com")

            async def ring_forever(call: IncomingCall) -> None:
                await call.ringing()

            bob.on_call = ring_forever
            with pytest.raises(CallFailed) as failed:
                await alice.call("sip:bob@example.com")
            assert failed.value.response.status_code == 487
            # The CANCEL came from the proxy (§16.8): alice sent none.
            assert "CANCEL" in sent_to(wire, bob.contact.port)
            assert "CANCEL" not in sent_to(wire, port(px))

    run(main())
