"""Fixtures shared by every test directory."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from aio.ua_wire import Wire


@pytest.fixture
def wire() -> Iterator[Wire]:
    """Every SIP message any sipwright element in the test sends, parsed back (the
    ``sipwright.wire`` logger at DEBUG): what the tests assert on."""
    logger = logging.getLogger("sipwright.wire")
    handler = Wire()
    old = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)
