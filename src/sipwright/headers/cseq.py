"""CSeq (RFC 3261 §20.16, §8.1.1.5)."""

from __future__ import annotations

import re

from .._abnf import TOKEN_RE, UINT32_MAX, ascii_int
from ..errors import ParseError

__all__ = ["CSeq", "parse_cseq"]


class CSeq:
    """Sequence number and method. The number must fit 32 bits unsigned (§8.1.1.5)."""

    __slots__ = ("method", "number")

    def __init__(self, number: int, method: str) -> None:
        self.number = number
        self.method = method

    def __str__(self) -> str:
        return f"{self.number} {self.method}"

    def __repr__(self) -> str:
        return f"CSeq({self.number}, {self.method!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CSeq):
            return NotImplemented
        return self.number == other.number and self.method == other.method

    def __hash__(self) -> int:
        return hash((self.number, self.method))


_CSEQ_FAST = re.compile(r"[ \t]*([0-9]{1,10}) ([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*")
_new_cseq = CSeq.__new__


def parse_cseq(text: str) -> CSeq:
    """Parse ``1*DIGIT LWS Method``."""
    m = _CSEQ_FAST.fullmatch(text)
    if m is not None:
        number_text, method = m.groups()
        cseq = _new_cseq(CSeq)
        cseq.number = int(number_text)
        cseq.method = method
        if cseq.number <= UINT32_MAX:
            return cseq
    parts = text.split()
    if len(parts) != 2:
        raise ParseError("CSeq must be a number and a method", header="CSeq")
    number_text, method = parts
    number = ascii_int(number_text)
    if number is None:
        raise ParseError("CSeq number is not a number", header="CSeq")
    if number > UINT32_MAX:
        raise ParseError("CSeq number exceeds 2**32-1", header="CSeq")
    if TOKEN_RE.fullmatch(method) is None:
        raise ParseError("CSeq method is not a token", header="CSeq")
    return CSeq(number, method)
