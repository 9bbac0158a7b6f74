"""Headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright's async API.

Playwright never downloads a browser here: it starts the system Chromium through
``executable_path``, with the flags this sandbox needs (no sandbox as root, no GPU, no
background networking: the machine has no internet, and Chromium's own lookups would be
refused over and over). Each page's screenshot is saved under
``test-artifacts/screenshots/`` when the test ends, for review (not committed).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from peers import REPO_DIR, in_ci

__all__ = ["SCREENSHOTS", "chromium_page", "require_chromium"]

SCREENSHOTS = REPO_DIR / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def require_chromium() -> str:
    """The Chromium binary; fails under CI, skips elsewhere, when it is missing."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    message = "Chromium not found; `bash .ci/run` installs it (Debian package `chromium`)"
    if in_ci():
        pytest.fail(f"{message} [CI is set: a missing peer is a failure, not a skip]")
    pytest.skip(message)


@contextlib.asynccontextmanager
async def chromium_page(screenshot: str, tmp: Path) -> AsyncIterator[Any]:
    """A fresh Chromium (Playwright gives it an empty temporary profile) and one page; the page's
    screenshot goes to ``test-artifacts/screenshots/<screenshot>.png`` at the end,
    also when the test failed (that is when it is most useful)."""
    executable = require_chromium()
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # a dev dependency: `make test` installs it
        pytest.fail("the Python package `playwright` is missing (pip install -e '.[dev]')")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=executable,
            args=CHROMIUM_FLAGS,
            timeout=30_000,
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            try:
                yield page
            finally:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(Exception):
                    await page.screenshot(
                        path=str(SCREENSHOTS / f"{screenshot}.png"), full_page=True
                    )
        finally:
            await browser.close()
