"""Identifiers with enough entropy: Via branches, tags and Call-IDs.

RFC 3261 §8.1.1.7 requires branches unique across space and time, starting
with the magic cookie ``z9hG4bK``; §19.3 asks for at least 32 random bits in a
tag and a globally unique Call-ID (§8.1.1.4). The sans-I/O layers receive an
:class:`IdFactory` instead of calling a random source, so tests can make them
deterministic.
"""

from __future__ import annotations

import secrets
from typing import Protocol

__all__ = [
    "IdFactory",
    "SecretsIdFactory",
    "SequentialIdFactory",
    "new_branch",
    "new_call_id",
    "new_tag",
]

BRANCH_COOKIE = "z9hG4bK"


class IdFactory(Protocol):
    """Source of fresh identifiers for the protocol layers."""

    def branch(self) -> str: ...

    def tag(self) -> str: ...

    def call_id(self) -> str: ...


class SecretsIdFactory:
    """Cryptographically random identifiers (the default).

    Branches carry 96 random bits, tags 64 and Call-IDs 128; ``token_urlsafe``
    only emits ``token`` characters (§25.1), so no quoting is ever needed.
    """

    def __init__(self, call_id_host: str | None = None) -> None:
        self._host = call_id_host

    def branch(self) -> str:
        return BRANCH_COOKIE + secrets.token_urlsafe(12)

    def tag(self) -> str:
        return secrets.token_hex(8)

    def call_id(self) -> str:
        cid = secrets.token_urlsafe(16)
        return f"{cid}@{self._host}" if self._host else cid


class SequentialIdFactory:
    """Predictable identifiers for tests and reproducible traces."""

    def __init__(self, prefix: str = "t") -> None:
        self._prefix = prefix
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def branch(self) -> str:
        return f"{BRANCH_COOKIE}{self._prefix}{self._next()}"

    def tag(self) -> str:
        return f"{self._prefix}tag{self._next()}"

    def call_id(self) -> str:
        return f"{self._prefix}call{self._next()}"


_DEFAULT = SecretsIdFactory()


def new_branch() -> str:
    """A fresh RFC 3261 branch (``z9hG4bK`` + 96 random bits)."""
    return _DEFAULT.branch()


def new_tag() -> str:
    """A fresh From/To tag (64 random bits)."""
    return _DEFAULT.tag()


def new_call_id(host: str | None = None) -> str:
    """A fresh Call-ID (128 random bits), optionally ``@host``."""
    cid = _DEFAULT.call_id()
    return f"{cid}@{host}" if host else cid
