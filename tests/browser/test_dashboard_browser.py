"""The dashboard and the validator in headless Chromium, against a real in-process server.

The far ends are real sipwright UserAgents registering and calling through the server.
What the pages must show is checked in the page itself (the DOM Chromium built from the
live event stream), and the ladder's arrows are counted against an independent record:
every message the UAs and the proxy put on the wire (the ``sipwright.wire`` log).
Screenshots: ``test-artifacts/screenshots/{dashboard,ladder,validator}.png``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aio.ua_wire import Wire
from peers import shared_dir

from sipwright.aio.call import IncomingCall
from sipwright.aio.ua import UserAgent
from sipwright.server.app import Server
from sipwright.server.config import ServerConfig
from sipwright.transaction import TimerConfig

from .chromium import SCREENSHOTS, chromium_page

TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
DOMAIN = "127.0.0.1"


def run(coro: Any, timeout: float = 90) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """A started server: its SIP proxy URI and its HTTP base URL."""
    config = ServerConfig(
        listen=(("UDP", "127.0.0.1", 0),),
        domains=(DOMAIN,),
        db=tmp_path / "browser.db",
        http=("127.0.0.1", 0),
        drain=0.2,
    )
    server = Server(config, timers=TIMERS)
    await server.start()
    try:
        udp = server.local_address("UDP")
        assert udp is not None and server.http_address is not None
        host, port = server.http_address
        yield f"sip:127.0.0.1:{udp.port}", f"http://{host}:{port}"
    finally:
        await server.close(drain=0.1)


def agent(user: str, proxy: str) -> UserAgent:
    return UserAgent(
        f"sip:{user}@127.0.0.1:0", outbound_proxy=proxy, aor=f"sip:{user}@{DOMAIN}", timers=TIMERS
    )


async def live(page: Any, url: str) -> None:
    """Open the dashboard and wait until its event stream is connected."""
    await page.goto(url)
    await page.wait_for_function("document.getElementById('live').textContent === 'Live'")


def test_dashboard_lists_a_registration_within_one_second(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path) as (proxy, base), chromium_page("dashboard", tmp_path) as page:
            await live(page, base + "/")
            assert await page.locator("#registrations tbody tr").count() == 0
            async with agent("alice", proxy) as alice, agent("bob", proxy) as bob:
                assert (await alice.register(proxy, expires=300)).status_code == 200
                # The REGISTER's 200 is in: the page must show the AOR within 1 s.
                row = await page.wait_for_selector(
                    '#registrations tr[data-aor="sip:alice@127.0.0.1"]', timeout=1000
                )
                assert row is not None
                assert (await bob.register(proxy, expires=120)).status_code == 200
                await page.wait_for_selector(
                    '#registrations tr[data-aor="sip:bob@127.0.0.1"]', timeout=1000
                )
                cells = await page.locator(
                    '#registrations tr[data-aor="sip:alice@127.0.0.1"] td'
                ).all_text_contents()
                assert cells[1].startswith("sip:alice@127.0.0.1:")  # the contact
                assert cells[2] == "UDP"
                assert "min" in cells[4]  # the expiry countdown, ~5 min left
                assert await page.locator("#regs-count").text_content() == "(2)"
                # Counters arrive too (REGISTER counted by method).
                await page.wait_for_selector("#methods th:text-is('REGISTER')")

    run(main())
    assert (SCREENSHOTS / "dashboard.png").stat().st_size > 0


def test_ladder_of_a_completed_call_has_one_arrow_per_message(tmp_path: Path, wire: Wire) -> None:
    async def main() -> None:
        async with running(tmp_path) as (proxy, base), chromium_page("ladder", tmp_path) as page:
            await live(page, base + "/")
            async with agent("alice", proxy) as alice, agent("bob", proxy) as bob:
                assert (await alice.register(proxy, expires=300)).status_code == 200
                assert (await bob.register(proxy, expires=300)).status_code == 200

                async def ring_then_answer(call: IncomingCall) -> None:
                    await call.ringing()
                    await call.answer()

                bob.on_call = ring_then_answer
                call = await alice.call(f"sip:bob@{DOMAIN}")
                await call.bye()
                call_id = call.call_id
                assert call_id is not None
                await asyncio.sleep(0.3)  # any late retransmission lands in both records
            # Independently: every message the UAs sent to the proxy and the proxy sent
            # to them for this Call-ID (INVITE/100/180/200/ACK/BYE/200, each hop).
            wired = [s for s in wire.sent if s.message.call_id == call_id]
            labels = [
                m.method if hasattr(m, "method") else f"{m.status_code} {m.reason}"
                for m in (s.message for s in wired)
            ]
            for expected in ("INVITE", "180 Ringing", "200 OK", "ACK", "BYE"):
                assert expected in labels
            row = f'#calls tr[data-call-id="{call_id}"]'
            await page.wait_for_selector(row)  # the call list updated live
            await page.click(f"{row} button.open-ladder")
            await page.wait_for_function(
                "n => document.querySelectorAll('#ladder g.arrow').length === n",
                arg=len(wired),
            )
            assert await page.locator("#ladder g.arrow").count() == len(wired)
            assert await page.locator("#messages tbody tr").count() == len(wired)
            columns = await page.locator("#ladder g.column text").all_text_contents()
            assert len(columns) == 3  # alice, the proxy, bob: one column per host:port
            # Click an arrow: the whole message shows.
            index = await page.evaluate(
                "() => [...document.querySelectorAll('#messages tbody tr')]"
                ".find(tr => tr.cells[4].textContent === '180 Ringing').dataset.index"
            )
            # (on the arrow's hit band: the group's centre may lie between the time
            # offset on the left and the arrow itself)
            await page.click(f'#ladder g.arrow[data-index="{index}"] rect')
            text = await page.locator("#message").text_content()
            assert text is not None
            assert text.startswith("SIP/2.0 180 Ringing\r\n") or text.startswith(
                "SIP/2.0 180 Ringing\n"
            )
            assert f"Call-ID: {call_id}" in text and "CSeq:" in text
            # Keyboard: focus the first arrow, Enter shows the INVITE.
            await page.focus('#ladder g.arrow[data-index="0"]')
            await page.keyboard.press("Enter")
            text = await page.locator("#message").text_content()
            assert text is not None and text.startswith("INVITE sip:bob@127.0.0.1")
            # The counters follow live too (pushed every second).
            await page.wait_for_selector("#methods th:text-is('BYE')", timeout=3000)

    run(main())
    assert (SCREENSHOTS / "ladder.png").stat().st_size > 0


def test_validator_flags_the_wrong_content_length(tmp_path: Path) -> None:
    seed = shared_dir() / "seeds" / "examples" / "overview-invite-as-printed.sip"
    text = seed.read_text()

    async def main() -> None:
        async with running(tmp_path) as (_, base), chromium_page("validator", tmp_path) as page:
            await page.goto(base + "/validator")
            await page.fill("#text", text)
            await page.click("button[type=submit]")
            row = page.locator('#findings tr[data-code="content-length-mismatch"]')
            await row.wait_for()
            cells = await row.locator("td").all_text_contents()
            assert cells[0] == "error" and cells[1] == "10"
            assert "Content-Length is 142 but 145" in cells[3]
            assert cells[4] == "RFC 3261 §20.14"
            verdict = await page.locator("#verdict").text_content()
            assert verdict is not None and verdict.startswith("Invalid request")
            # The parse tree: the start line and the typed CSeq.
            tree = await page.locator("#start-line").text_content()
            assert tree is not None and "INVITE" in tree and "example.com" in tree
            cseq = page.locator("#headers tr", has=page.locator("th", has_text="CSeq"))
            await cseq.locator("summary").click()
            assert "314159" in (await cseq.locator("dl").first.text_content() or "")

    run(main())
    assert (SCREENSHOTS / "validator.png").stat().st_size > 0
