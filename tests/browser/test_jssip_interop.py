"""JsSIP in headless Chromium against ``sipwright serve`` over ``ws://…/ws`` (RFC 7118).

The Must-show of issue 7: a real browser SIP stack (JsSIP, from the npm registry, pinned
in ``package-lock.json`` and bundled by ``npm ci``) registers to a real ``sipwright
serve`` subprocess over SIP-over-WebSocket on its HTTP port, then exchanges a MESSAGE
each way and a call each way (each side sends one BYE) with a real sipwright
``UserAgent`` on UDP. No media flows: the UserAgent's SDP is a WebRTC-shaped offer or
answer written by the test (ICE credentials, DTLS fingerprint, no candidates), which
Chromium's RTCPeerConnection accepts, so JsSIP runs its normal offer/answer code.

Both ends are checked: statuses and dialog state on the sipwright side, JsSIP's own
events (``window.events`` on the page) on the browser side, and the server's structured
log for the WS registration. The screenshot is ``test-artifacts/screenshots/jssip.png``.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from peers import in_ci
from server.serve_proc import ServeProcess

from sipwright import CallState, Request, Response
from sipwright.aio.call import IncomingCall
from sipwright.aio.endpoint import ServerRequest
from sipwright.aio.ua import UserAgent
from sipwright.transaction import TimerConfig

from .chromium import chromium_page

HERE = Path(__file__).resolve().parent
PAGE = HERE / "jssip_page.html"
BUNDLE = HERE / "node_modules" / ".bundles" / "jssip.min.js"
TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
DOMAIN = "127.0.0.1"
#: A syntactically valid DTLS fingerprint: nothing is ever negotiated with it.
FINGERPRINT = ":".join(f"{i * 7 % 256:02X}" for i in range(32))


def require_jssip() -> Path:
    """The JsSIP browser bundle ``npm ci --prefix tests/browser`` builds (``make test``)."""
    if BUNDLE.is_file():
        return BUNDLE
    message = f"{BUNDLE} missing: run `npm ci --prefix tests/browser` (make test does)"
    if in_ci():
        pytest.fail(f"{message} [CI is set: a missing peer is a failure, not a skip]")
    pytest.skip(message)


def webrtc_sdp(setup: str, mid: str, session: int, direction: str = "sendrecv") -> str:
    """An audio description Chromium accepts (RFC 8829 needs ICE credentials, a DTLS
    fingerprint and setup); no candidates, so no media is ever attempted."""
    return "\r\n".join(
        [
            "v=0",
            f"o=sipwright {session} 1 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            f"a=group:BUNDLE {mid}",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=ice-ufrag:swrt",
            "a=ice-pwd:sipwrightsipwrightsipwright",
            f"a=fingerprint:sha-256 {FINGERPRINT}",
            f"a=setup:{setup}",
            f"a=mid:{mid}",
            f"a={direction}",
            "a=rtcp-mux",
            "a=rtpmap:111 opus/48000/2",
            "",
        ]
    )


def mid_of(offer: bytes) -> str:
    found = re.search(rb"^a=mid:(\S+)", offer, re.MULTILINE)
    assert found is not None, offer
    return found.group(1).decode()


def answer_direction(offer: bytes) -> str:
    """RFC 3264 §6.1: the answer's direction mirrors the offer's (JsSIP offers
    ``recvonly`` when it has nothing to send)."""
    for offered, answered in (
        (b"a=recvonly", "sendonly"),
        (b"a=sendonly", "recvonly"),
        (b"a=inactive", "inactive"),
    ):
        if offered in offer:
            return answered
    return "sendrecv"


def record_routes(message: Request | Response) -> list[str]:
    return [v.strip() for h in message.headers.getall("Record-Route") for v in h.split(",")]


async def serve_page() -> tuple[web.AppRunner, int]:
    """The test page and the bundle, from the test's own HTTP server (no CDN)."""
    app = web.Application()

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    async def bundle(request: web.Request) -> web.FileResponse:
        return web.FileResponse(BUNDLE, headers={"Content-Type": "text/javascript"})

    app.router.add_get("/", page)
    app.router.add_get("/jssip.min.js", bundle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def browser_event(page: Any, predicate: str, what: str) -> dict[str, Any]:
    """The first ``window.events`` entry matching the JS ``predicate`` (waits, bounded)."""
    try:
        await page.wait_for_function(f"() => window.events.some({predicate})", timeout=10_000)
    except Exception as exc:
        events = await page.evaluate("() => window.events")
        raise AssertionError(f"browser never saw {what}; events: {events}") from exc
    found: dict[str, Any] = await page.evaluate(f"() => window.events.find({predicate})")
    return found


def test_jssip_in_chromium_registers_messages_and_calls_over_ws(tmp_path: Path) -> None:
    require_jssip()
    serve = ServeProcess(tmp_path)
    try:
        serve.wait_ready()
        asyncio.run(asyncio.wait_for(interop(serve, tmp_path), 90))
        # The server's own account of the browser's registration: over WS, on /ws.
        serve.wait_for(r"event=register .*aor=sip:carol@127\.0\.0\.1 status=200 .*source=ws:")
    finally:
        code = serve.stop()
    assert code == 0, "\n".join(serve.lines[-40:])


async def interop(serve: ServeProcess, tmp_path: Path) -> None:
    ws_url = f"ws://127.0.0.1:{serve.http_port}/ws"
    proxy = f"sip:127.0.0.1:{serve.sip_port}"
    runner, page_port = await serve_page()
    try:
        async with (
            chromium_page("jssip", tmp_path) as page,
            UserAgent(
                "sip:alice@127.0.0.1:0",
                outbound_proxy=proxy,
                aor=f"sip:alice@{DOMAIN}",
                timers=TIMERS,
            ) as alice,
        ):
            await page.goto(f"http://127.0.0.1:{page_port}/")
            await page.evaluate(
                "([url, uri]) => window.sipTest.start(url, uri)", [ws_url, f"sip:carol@{DOMAIN}"]
            )
            registered = await browser_event(page, "e => e.type === 'registered'", "registered")
            assert registered["status"] == 200
            assert (await alice.register(proxy, expires=300)).status_code == 200
            # Both bindings are in the server's store (its bindings gauge reads it).
            metrics_url = f"http://127.0.0.1:{serve.http_port}/metrics"
            async with aiohttp.ClientSession() as http, http.get(metrics_url) as reply:
                metrics = await reply.text()
            assert 'sipwright_registrar_bindings{worker="0"} 2\n' in metrics

            # MESSAGE sipwright -> browser (over the WS flow the REGISTER came on).
            answer = await alice.message(f"sip:carol@{DOMAIN}", "hello carol, from sipwright")
            assert answer.status_code == 200
            got = await browser_event(page, "e => e.type === 'message'", "the MESSAGE")
            assert got["body"] == "hello carol, from sipwright"
            assert got["from"] == f"sip:alice@{DOMAIN}"

            # MESSAGE browser -> sipwright.
            inbox: asyncio.Queue[Request] = asyncio.Queue()

            async def on_request(req: ServerRequest) -> None:
                if req.request.method == "MESSAGE":
                    await inbox.put(req.request)
                    await req.respond(200)
                else:
                    await req.respond(405)

            alice.on_request = on_request
            await page.evaluate(
                "() => window.sipTest.message('sip:alice@127.0.0.1', 'hi alice, from JsSIP')"
            )
            message = await asyncio.wait_for(inbox.get(), 10)
            assert message.body == b"hi alice, from JsSIP"
            assert message.from_.uri.user == "carol"  # type: ignore[union-attr]
            sent = await browser_event(page, "e => e.type === 'messageSent'", "the MESSAGE's 200")
            assert sent["status"] == 200

            # Call sipwright -> browser: JsSIP answers; sipwright hangs up.
            call = await alice.call(f"sip:carol@{DOMAIN}", sdp=webrtc_sdp("actpass", "0", 1))
            assert call.final_response is not None
            assert call.final_response.status_code == 200
            assert b"a=fingerprint:" in call.final_response.body  # Chromium's own answer
            # Double Record-Route on the transport switch (RFC 5658): the WS side names
            # the HTTP port, so the in-dialog ACK and BYE find their way to the browser.
            assert record_routes(call.final_response) == [
                f"<sip:127.0.0.1:{serve.http_port};transport=ws;lr>",
                f"<sip:127.0.0.1:{serve.sip_port};lr>",
            ]
            await browser_event(
                page, "e => e.type === 'confirmed' && e.direction === 'in'", "the ACK"
            )
            bye = await call.bye()
            assert bye.status_code == 200 and call.state is CallState.ENDED
            ended = await browser_event(
                page, "e => e.type === 'ended' && e.direction === 'in'", "the BYE"
            )
            assert ended["originator"] == "remote"

            # Call browser -> sipwright: sipwright answers with the test's SDP; JsSIP hangs up.
            calls: asyncio.Queue[IncomingCall] = asyncio.Queue()

            async def on_call(incoming: IncomingCall) -> None:
                await calls.put(incoming)

            alice.on_call = on_call
            await page.evaluate("() => window.sipTest.call('sip:alice@127.0.0.1')")
            incoming = await asyncio.wait_for(calls.get(), 10)
            offer = incoming.request.body
            assert b"UDP/TLS/RTP/SAVPF" in offer  # a WebRTC offer, from Chromium
            assert record_routes(incoming.request) == [
                f"<sip:127.0.0.1:{serve.sip_port};lr>",
                f"<sip:127.0.0.1:{serve.http_port};transport=ws;lr>",
            ]
            assert await incoming.answer(
                webrtc_sdp("active", mid_of(offer), 2, answer_direction(offer))
            )
            await asyncio.wait_for(incoming.confirmed(), 10)  # JsSIP's ACK came through
            accepted = await browser_event(
                page, "e => e.type === 'confirmed' && e.direction === 'out'", "confirmed"
            )
            assert accepted["direction"] == "out"
            await page.evaluate("() => window.sipTest.hangup()")
            assert await asyncio.wait_for(incoming.ended(), 10) == "remote BYE"
            assert incoming.state is CallState.ENDED
            ended = await browser_event(
                page, "e => e.type === 'ended' && e.direction === 'out'", "its own BYE"
            )
            assert ended["originator"] == "local"
            failures = await page.evaluate(
                "() => window.events.filter(e => ['failed', 'registrationFailed',"
                " 'messageFailed'].includes(e.type))"
            )
            assert failures == []
            await page.evaluate("() => window.sipTest.stop()")
    finally:
        await runner.cleanup()
