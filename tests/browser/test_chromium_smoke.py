"""The browser harness itself: Chromium starts, renders a page from a local aiohttp server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from .chromium import SCREENSHOTS, chromium_page


def test_chromium_renders_a_local_page(tmp_path: Path) -> None:
    async def main() -> str:
        app = web.Application()

        async def index(request: web.Request) -> web.Response:
            return web.Response(
                text="<!doctype html><title>t</title><p id=x>sipwright</p>"
                "<script>document.getElementById('x').textContent += ' ok'</script>",
                content_type="text/html",
            )

        app.router.add_get("/", index)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with chromium_page("smoke", tmp_path) as page:
                await page.goto(f"http://127.0.0.1:{port}/")
                return str(await page.text_content("#x"))
        finally:
            await runner.cleanup()

    assert asyncio.run(asyncio.wait_for(main(), 60)) == "sipwright ok"
    assert (SCREENSHOTS / "smoke.png").stat().st_size > 0
