"""The ladder page in headless Chromium: it renders one arrow per message, loads nothing
from the network, and clicking an arrow (or Enter on it) shows that message's full text,
escaped, with its lint findings; a second click hides it again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from browser.chromium import SCREENSHOTS, chromium_page
from peers import shared_dir

from sipwright.ladder import TracedMessage, call_flows, render_html
from sipwright.transaction import Destination

A = Destination("127.0.0.1", 5060)
B = Destination("127.0.0.1", 5070)


def test_clicking_an_arrow_shows_the_message(tmp_path: Path) -> None:
    examples = shared_dir() / "seeds" / "examples"
    invite = (examples / "overview-invite-as-printed.sip").read_bytes()
    ok = (examples / "overview-200-ok.sip").read_bytes()
    evil = ok.replace(b"Content-Length", b"X-Evil: <img src=x onerror=alert(1)>\r\nContent-Length")
    flows = call_flows(
        [
            TracedMessage(0.0, A, B, invite),
            TracedMessage(0.5, A, B, invite),
            TracedMessage(0.7, B, A, evil),
        ]
    )
    page_html = render_html(flows, title="ladder test")
    path = tmp_path / "ladder.html"
    path.write_text(page_html, encoding="utf-8")

    async def main() -> tuple[int, list[str], bool, str, str, bool, list[str]]:
        requests: list[str] = []
        async with chromium_page("ladder", tmp_path) as page:
            page.on("request", lambda r: requests.append(r.url))
            await page.goto(path.as_uri())
            arrows = await page.locator("g.arrow").count()
            detail = page.locator('div.msg[data-index="0"]')
            hidden_before = await detail.is_hidden()
            await page.locator('g.arrow[data-index="0"]').click()
            text0 = await detail.inner_text()
            third = page.locator('div.msg[data-index="2"]')
            await page.locator('g.arrow[data-index="2"]').focus()
            await page.keyboard.press("Enter")
            text2 = await third.inner_text()
            await page.locator('g.arrow[data-index="0"]').click()
            hidden_again = await detail.is_hidden()
            images = await page.evaluate("Array.from(document.images).map(i => i.src)")
            return arrows, requests, hidden_before, text0, text2, hidden_again, images

    arrows, requests, hidden_before, text0, text2, hidden_again, images = asyncio.run(
        asyncio.wait_for(main(), 60)
    )
    assert arrows == 3
    assert requests == [path.as_uri()]  # the page fetched nothing else
    assert hidden_before and hidden_again
    assert "INVITE sip:" in text0 and "content-length-mismatch" in text0
    assert "X-Evil: <img src=x onerror=alert(1)>" in text2  # shown as text…
    assert images == []  # …never parsed as markup
    assert (SCREENSHOTS / "ladder.png").stat().st_size > 0
