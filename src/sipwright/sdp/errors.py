"""Errors raised by the SDP layer.

Every fault in an SDP body surfaces as :class:`SdpError` (a ``ValueError`` and a
:class:`~sipwright.errors.SipError`), never as another exception type, so that a user agent
can turn a bad body into the right SIP answer: 400 for a body that is not SDP at all, 488
(Not Acceptable Here, RFC 3261 §21.4.26) when the offer is well formed but nothing in it can
be accepted (RFC 3264 §6).
"""

from __future__ import annotations

from ..errors import SipError

__all__ = ["NoCommonMedia", "SdpError"]


class SdpError(SipError, ValueError):
    """An SDP body (or a value meant for one) that is not well formed.

    ``line`` is the 1-based line of the body the fault is on, when known; ``message`` says
    what is wrong; ``status_code`` is the SIP response a UAS should answer with.
    """

    status_code: int = 400
    message: str
    line: int | None

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.message}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the keyword state when pickled (hypothesis, multiprocessing workers).
        return (type(self)._rebuild, (self.message, self.line))

    @classmethod
    def _rebuild(cls, message: str, line: int | None) -> SdpError:
        return cls(message, line=line)


class NoCommonMedia(SdpError):
    """An offer of which no media stream at all can be accepted.

    RFC 3264 §6 lets the answerer reject single streams (port 0); when every stream would be
    rejected the whole offer is refused instead, with 488 Not Acceptable Here (RFC 3261
    §13.3.1.3), ideally carrying a Warning header naming the reason.
    """

    status_code = 488
