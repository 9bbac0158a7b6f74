"""Small typed headers: option-tag lists, parameterised values, media types.

``ParamHeader`` is the generic typed form of any ``value *(SEMI param)``
header (Event, Content-Disposition, Accept, Reason, Subscription-State…).
"""

from __future__ import annotations

from .._abnf import TOKEN_RE, UINT32_MAX, ascii_int
from ..errors import ParseError
from .params import Params, format_params, parse_params

__all__ = [
    "MediaType",
    "ParamHeader",
    "parse_delta_seconds",
    "parse_media_type",
    "parse_param_header",
    "parse_token_list",
]

_WS = " \t"


class ParamHeader:
    """A value followed by ``;name=value`` parameters."""

    __slots__ = ("params", "value")

    def __init__(self, value: str, params: Params | None = None) -> None:
        self.value = value
        self.params = params if params is not None else Params()

    def __str__(self) -> str:
        return f"{self.value}{format_params(self.params.items())}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParamHeader):
            return NotImplemented
        return self.value == other.value and self.params == other.params

    def __hash__(self) -> int:
        return hash(self.value)


class MediaType(ParamHeader):
    """``type/subtype;params`` (RFC 3261 §20.15). ``value`` is lower-cased."""

    __slots__ = ()

    @property
    def type(self) -> str:
        return self.value.partition("/")[0]

    @property
    def subtype(self) -> str:
        return self.value.partition("/")[2]


def parse_param_header(text: str) -> ParamHeader:
    """Parse ``value *(SEMI generic-param)``; the value is kept as written."""
    value, semi, rest = text.partition(";")
    value = value.strip(_WS)
    if not value:
        raise ParseError("empty header value")
    params = Params(parse_params(semi + rest)) if semi else Params()
    return ParamHeader(value, params)


def parse_media_type(text: str) -> MediaType:
    """Parse a Content-Type / Accept element: ``m-type SLASH m-subtype *(SEMI m-parameter)``."""
    value, semi, rest = text.partition(";")
    mtype, slash, subtype = value.partition("/")
    mtype = mtype.strip(_WS)
    subtype = subtype.strip(_WS)
    if not slash or TOKEN_RE.fullmatch(mtype) is None or TOKEN_RE.fullmatch(subtype) is None:
        raise ParseError(f"invalid media type {value.strip(_WS)[:40]!r}", header="Content-Type")
    params = Params(parse_params(semi + rest)) if semi else Params()
    return MediaType(f"{mtype.lower()}/{subtype.lower()}", params)


def parse_token_list(values: list[str], header: str) -> list[str]:
    """Validate option-tag / method lists (Allow, Supported, Require, Proxy-Require…)."""
    out: list[str] = []
    for value in values:
        if not value:
            continue  # Supported: (empty) is legal: no extensions
        if TOKEN_RE.fullmatch(value) is None:
            raise ParseError(f"invalid {header} entry {value[:30]!r}", header=header)
        out.append(value)
    return out


def parse_delta_seconds(text: str, header: str) -> int:
    """``delta-seconds = 1*DIGIT``; larger than 2**32-1 is taken as 2**32-1 (§20.19, §25.1)."""
    number = ascii_int(text.strip(_WS))
    if number is None:
        raise ParseError(f"{header} is not a number of seconds", header=header)
    return min(number, UINT32_MAX)
