"""Fixtures for the asyncio-shell tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from .ua_wire import Wire


@pytest.fixture
def wire() -> Iterator[Wire]:
    logger = logging.getLogger("sipwright.wire")
    handler = Wire()
    old = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)
