"""The project's own exception types.

Bad input from the network must only ever surface as one of these, so that a
server can turn it into the right SIP answer instead of crashing (the idea of
h11's ``error_status_hint`` and sippy's ``SipParseError``).
"""

from __future__ import annotations

__all__ = ["ParseError", "SipError"]


class SipError(Exception):
    """Base class of every error sipwright raises on purpose."""


class ParseError(SipError, ValueError):
    """Input that is not a well-formed SIP message, header or URI.

    ``status_code`` is the response a server should answer with (400 unless a
    more precise code fits, e.g. 505 for a wrong SIP version, 513 for an
    oversized message), and ``reason`` a short phrase naming the fault, fit to
    be used as the reason phrase of that response. ``line`` is the 1-based line
    of the message the fault is on, when known; ``header`` the header's name.
    """

    status_code: int
    reason: str
    line: int | None
    header: str | None

    def __init__(
        self,
        reason: str,
        status_code: int = 400,
        *,
        line: int | None = None,
        header: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.line = line
        self.header = header

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.status_code} {self.reason}{where}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword state when pickled (multiprocessing workers, hypothesis).
        return (_rebuild_parse_error, (self.reason, self.status_code, self.line, self.header))


def _rebuild_parse_error(
    reason: str, status_code: int, line: int | None, header: str | None
) -> ParseError:
    return ParseError(reason, status_code, line=line, header=header)
