"""Parameters, quoted strings and comma lists: the building blocks of header values.

RFC 3261 §7.3.1: a header holding a comma-separated list may be split only on
commas that are outside quoted strings and outside ``<...>``; parameters are
``;name[=value]`` with ``SEMI``/``EQUAL`` allowing whitespace around them
(§25.1), and a value may be a token, a host or a quoted-string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .._abnf import TOKEN_RE
from ..errors import ParseError

__all__ = [
    "Params",
    "format_params",
    "parse_params",
    "quote",
    "split_commas",
    "unquote",
]

_WS = " \t"


def split_commas(value: str) -> list[str]:
    """Split a list header value on commas outside quotes and angle brackets.

    Empty elements (``a,,b``) are kept as empty strings so callers can report
    them; surrounding whitespace is stripped.
    """
    if "," not in value:
        return [value.strip(_WS)]
    if '"' not in value and "<" not in value:
        return [part.strip(_WS) for part in value.split(",")]
    parts: list[str] = []
    start = 0
    i = 0
    n = len(value)
    in_quote = False
    in_angle = False
    while i < n:
        ch = value[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif in_angle:
            if ch == ">":
                in_angle = False
        elif ch == "<":
            in_angle = True
        elif ch == ",":
            parts.append(value[start:i].strip(_WS))
            start = i + 1
        i += 1
    if in_quote:
        raise ParseError("unterminated quoted string")
    if in_angle:
        raise ParseError("unterminated <")
    parts.append(value[start:].strip(_WS))
    return parts


def unquote(text: str) -> str:
    """Decode a ``quoted-string`` (with its quotes) to its content (§25.1 quoted-pair)."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ParseError("malformed quoted string")
    inner = text[1:-1]
    if "\\" not in inner:
        if '"' in inner:
            raise ParseError("unescaped quote inside quoted string")
        return inner
    out: list[str] = []
    i = 0
    n = len(inner)
    while i < n:
        ch = inner[i]
        if ch == "\\":
            if i + 1 >= n:
                raise ParseError("dangling backslash in quoted string")
            out.append(inner[i + 1])
            i += 2
            continue
        if ch == '"':
            raise ParseError("unescaped quote inside quoted string")
        out.append(ch)
        i += 1
    return "".join(out)


def quote(text: str) -> str:
    """Encode text as a ``quoted-string``, escaping ``"`` and ``\\``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def find_quote_end(text: str, start: int) -> int:
    """Index of the closing quote of the quoted string opening at ``start``."""
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i
        i += 1
    raise ParseError("unterminated quoted string")


def _split_semis(text: str) -> list[str]:
    if '"' not in text:
        return text.split(";")
    parts: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i = find_quote_end(text, i)
        elif ch == ";":
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def parse_params(text: str) -> tuple[tuple[str, str | None], ...]:
    """Parse ``;a=1;b;c="x"`` (the text from the first ``;``) into ordered pairs.

    Values are returned as written (quoted strings keep their quotes) so that
    a message re-serialises byte for byte; use :func:`unquote` for content.
    """
    text = text.strip(_WS)
    if not text:
        return ()
    if text[0] != ";":
        raise ParseError(f"expected ';' before parameters: {text[:40]!r}")
    pairs: list[tuple[str, str | None]] = []
    for raw in _split_semis(text[1:]):
        name, eq, value = raw.partition("=")
        name = name.strip(_WS)
        if not name or TOKEN_RE.fullmatch(name) is None:
            raise ParseError(f"invalid parameter name {name[:40]!r}")
        if eq:
            value = value.strip(_WS)
            if not value:
                raise ParseError(f"parameter {name!r} has '=' but no value")
            if value[0] == '"':
                if find_quote_end(value, 0) != len(value) - 1:
                    raise ParseError(f"junk after quoted value of {name!r}")
            elif " " in value or "\t" in value:
                raise ParseError(f"whitespace inside value of {name!r}")
            pairs.append((name, value))
        else:
            pairs.append((name, None))
    return tuple(pairs)


def format_params(pairs: tuple[tuple[str, str | None], ...]) -> str:
    """Inverse of :func:`parse_params`."""
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in pairs)


# One ``;name[=value]`` parameter whose value is a token or host (no quoted
# string, no blanks): the shape of nearly every parameter on the wire. A list
# matching PARAMS_FAST needs no further validation and splits on ';' and '='.
# Possessive quantifiers: nothing to backtrack, so the match is one pass.
PARAM_VALUE_FAST = r"[A-Za-z0-9\-.!%*_+`'~:\[\]]++"
PARAMS_FAST = rf"(?:;[A-Za-z0-9\-.!%*_+`'~]++(?:={PARAM_VALUE_FAST})?+)*+"
PARAMS_FAST_RE = re.compile(PARAMS_FAST)


class Params:
    """Ordered, case-insensitive view of ``;name=value`` parameters.

    Immutable: the typed header objects that hold it are cached and shared.
    ``get`` returns the value as written (quotes kept), ``None`` for a flag
    parameter; use ``in`` to tell a flag from an absent parameter. A list
    already validated by the parser is kept as text and split on first use.
    """

    __slots__ = ("_index", "_pairs", "_text")

    def __init__(self, pairs: tuple[tuple[str, str | None], ...] = ()) -> None:
        self._pairs: tuple[tuple[str, str | None], ...] | None = pairs
        self._index: dict[str, str | None] | None = None
        self._text: str | None = None

    @classmethod
    def from_valid_text(cls, text: str) -> Params:
        """Params from text that fully matches :data:`PARAMS_FAST` (not checked again)."""
        self = cls.__new__(cls)
        self._pairs = None
        self._index = None
        self._text = text
        return self

    def _get_pairs(self) -> tuple[tuple[str, str | None], ...]:
        pairs = self._pairs
        if pairs is None:
            text = self._text or ""
            out: list[tuple[str, str | None]] = []
            for part in text.split(";")[1:]:
                name, eq, value = part.partition("=")
                out.append((name, value if eq else None))
            pairs = self._pairs = tuple(out)
        return pairs

    def _lookup(self) -> dict[str, str | None]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self._get_pairs():
                index.setdefault(name.lower(), value)
            self._index = index
        return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first parameter called ``name`` (case-insensitive)."""
        index = self._index
        if index is None:
            text = self._text
            if text is not None and self._pairs is None:
                # Validated text (no blanks) not split yet: find the value
                # without building the index (branch, tag: the hot reads).
                low = text.lower()
                key = ";" + name.lower()
                i = low.find(key)
                while i >= 0:
                    end = i + len(key)
                    if end == len(low) or low[end] == ";":
                        return None
                    if low[end] == "=":
                        stop = low.find(";", end)
                        return text[end + 1 :] if stop < 0 else text[end + 1 : stop]
                    i = low.find(key, end)
                return default
            index = self._lookup()
        key = name.lower()
        if key in index:
            return index[key]
        return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._get_pairs())

    def __len__(self) -> int:
        return len(self._get_pairs())

    def items(self) -> tuple[tuple[str, str | None], ...]:
        """The parameters in order, as written."""
        return self._get_pairs()

    def with_param(self, name: str, value: str | None) -> Params:
        """A copy with ``name`` set (replaced in place if present, else appended)."""
        key = name.lower()
        pairs = list(self._get_pairs())
        for i, (existing, _) in enumerate(pairs):
            if existing.lower() == key:
                pairs[i] = (existing, value)
                return Params(tuple(pairs))
        pairs.append((name, value))
        return Params(tuple(pairs))

    def without(self, name: str) -> Params:
        """A copy without any parameter called ``name``."""
        key = name.lower()
        return Params(tuple(p for p in self._get_pairs() if p[0].lower() != key))

    def __str__(self) -> str:
        return format_params(self._get_pairs())

    def __repr__(self) -> str:
        return f"Params({self._get_pairs()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Params):
            return NotImplemented
        return self._lookup() == other._lookup()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._lookup().items(), key=lambda kv: kv[0])))


class HasParams:
    """Base of header values whose ``;params`` are split only when first read.

    The fast parsers keep the validated parameter text (``_params_text``) and
    leave ``_params`` unset; values built in code pass a :class:`Params`.
    """

    __slots__ = ("_params", "_params_text")

    _params: Params | None
    _params_text: str | None

    @property
    def params(self) -> Params:
        """All parameters, in order."""
        params = self._params
        if params is None:
            params = self._params = Params.from_valid_text(self._params_text or "")
        return params
