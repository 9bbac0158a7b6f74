"""Bounded memo tables for typed header parsing.

Typed header values are immutable and parsing is a pure function of the
text, and the same text recurs across the messages of a dialog (From, To,
Contact, Record-Route on every request and response), of a transaction (Via,
CSeq on the request and each response) and of every retransmission. A small
table keyed by the text skips the parse for those. It is cleared whole when
full, so its memory is bounded and hostile input can only make it miss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["MAX_ENTRIES", "MAX_TEXT", "clear_memo_tables", "memoize", "register_table"]

_T = TypeVar("_T")

#: Entries per table before it is cleared.
MAX_ENTRIES = 4096
#: Longer texts are parsed every time (they are rare and would pin memory).
MAX_TEXT = 512
#: Every table, so that an idle server can empty them (:func:`clear_memo_tables`).
_TABLES: list[dict[Any, Any]] = []


def register_table(table: dict[Any, Any]) -> None:
    """Let :func:`clear_memo_tables` empty another module-level cache table too."""
    _TABLES.append(table)


def clear_memo_tables() -> int:
    """Empty every memo table; how many entries were dropped.

    For a server gone idle after a burst: the entries were made all along the burst,
    so a few of them sit in most of the allocator's memory blocks and keep those from
    being returned to the system. They refill from the next messages.
    """
    dropped = 0
    for table in _TABLES:
        dropped += len(table)
        table.clear()
    return dropped


def memoize(parse: Callable[[str], _T]) -> Callable[[str], _T]:
    """Wrap a parser of immutable values with a bounded table keyed by the text."""
    table: dict[str, _T] = {}
    _TABLES.append(table)
    get = table.get

    def parse_memo(text: str) -> _T:
        value = get(text)
        if value is None:
            value = parse(text)
            if len(text) <= MAX_TEXT:
                if len(table) >= MAX_ENTRIES:
                    table.clear()
                table[text] = value
        return value

    parse_memo.__doc__ = parse.__doc__
    parse_memo.__wrapped__ = parse  # type: ignore[attr-defined]
    return parse_memo
