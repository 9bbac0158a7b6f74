"""Size limits applied while parsing untrusted input.

A parser that accepts unbounded input is a memory-exhaustion vector; every
limit here is configurable and the defaults are generous for real traffic
(RFC 3261 §18.1.1 puts ordinary UDP messages well under 1300 bytes, and the
largest messages in RFC 4475's torture tests are a few kilobytes).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "ParseLimits"]


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Upper bounds on a single message.

    ``max_message_size`` bounds the whole message (start line, headers and
    body); exceeding it is answered 513 Message Too Large (RFC 3261 §21.5.7).
    """

    max_message_size: int = 65535
    max_headers: int = 256
    max_line_length: int = 16384


DEFAULT_LIMITS = ParseLimits()
