"""The ordered, case-insensitive header collection of a message.

Why not a dict: order matters (Via, Route and Record-Route are ordered lists,
and RFC 3261 §7.3.1 lets one header be spread over several lines that must be
combined in order), duplicates are meaningful, and commas may only be split
for headers whose grammar is a list. Each line keeps its raw text so that a
message parsed and serialised unchanged gives back the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .names import LIST_HEADERS, canonical_name, header_key
from .params import split_commas

__all__ = ["HeaderField", "Headers"]


class HeaderField(NamedTuple):
    """One header line: its key, the name as written, the unfolded value and raw text."""

    key: str
    name: str
    value: str
    #: The line(s) exactly as received (folding included), or None when built.
    raw: str | None

    def text(self) -> str:
        """The header line as it is to be serialised (no trailing CRLF)."""
        return self.raw if self.raw is not None else f"{self.name}: {self.value}"


# Internally the lines are three parallel lists: keys, ``(name, ":", value)``
# tuples straight from ``str.partition``, and the raw text (None when built).
# The parser makes them with list comprehensions and no per-line Python
# objects of its own, which is what makes parsing fast in CPython. For parsed
# lines ``name`` may carry trailing blanks and ``value`` leading and trailing
# blanks (HCOLON, §7.3.1); readers strip them on access. Lookups use
# ``list.index`` on the keys (interned strings), cheaper than building a dict
# for the handful of headers a message handler reads.
_Parts = tuple[str, str, str]
#: Headers whose typed view (``Message.via``...) is one parsed item per value, in order.
_VALUE_LISTS = frozenset(("via", "route", "record-route"))
_WS = " \t"


class Headers:
    """Header lines in order, looked up by any spelling or compact form.

    ``get``/``getall`` work on *values*: for list headers (Via, Contact,
    Route, Allow…) each comma-separated element is one value; for the others
    (Authorization, Date, Subject, unknown headers…) each line is one value.
    """

    __slots__ = ("_keys", "_parts", "_raws", "typed")

    def __init__(self, fields: Iterable[tuple[str, str]] | None = None) -> None:
        self._keys: list[str] = []
        self._parts: list[_Parts] = []
        self._raws: list[str | None] = []
        #: Cache of typed values parsed from these headers; cleared on any change.
        self.typed: dict[str, object] = {}
        if fields is not None:
            for name, value in fields:
                self.add(name, value)

    # -- lookup ---------------------------------------------------------------

    def _positions(self, key: str) -> list[int]:
        return [i for i, k in enumerate(self._keys) if k == key]

    def fields(self, name: str) -> list[HeaderField]:
        """Every line of header ``name``, in order."""
        return [self._public(i) for i in self._positions(header_key(name))]

    def lines(self) -> list[HeaderField]:
        """Every header line, in order."""
        return [self._public(i) for i in range(len(self._keys))]

    def _public(self, i: int) -> HeaderField:
        name, _, value = self._parts[i]
        return HeaderField(self._keys[i], name.rstrip(_WS), value.strip(_WS), self._raws[i])

    def select(self, keys: frozenset[str]) -> list[tuple[str, str, str]]:
        """(key, name, value) of the lines whose key is in ``keys``, in order.

        :meth:`lines` without building a :class:`HeaderField` per line: what
        copying a few headers into a response needs (§8.2.6.2).
        """
        return [
            (key, name.rstrip(_WS), value.strip(_WS))
            for key, (name, _, value) in zip(self._keys, self._parts, strict=True)
            if key in keys
        ]

    def get_key(self, key: str) -> str | None:
        """:meth:`get` for an already-normalised key (hot path for typed access)."""
        keys = self._keys
        if key not in keys:
            return None
        value = self._parts[keys.index(key)][2]
        if "," in value and key in LIST_HEADERS:
            return split_commas(value)[0]
        return value.strip(_WS)

    def getall_key(self, key: str) -> list[str]:
        """:meth:`getall` for an already-normalised key."""
        keys = self._keys
        count = keys.count(key)
        if count == 0:
            return []
        if count == 1:
            value = self._parts[keys.index(key)][2]
            if "," in value and key in LIST_HEADERS:
                return split_commas(value)
            return [value.strip(_WS)]
        # Several lines (a response's Via after each hop's): one pass over the
        # lines, and no comma scan of a value that has no comma.
        out: list[str] = []
        if key in LIST_HEADERS:
            for k, part in zip(keys, self._parts, strict=True):
                if k == key:
                    value = part[2]
                    if "," in value:
                        out += split_commas(value)
                    else:
                        out.append(value.strip(_WS))
            return out
        for k, part in zip(keys, self._parts, strict=True):
            if k == key:
                out.append(part[2].strip(_WS))
        return out

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (any case, compact form accepted)."""
        value = self.get_key(header_key(name))
        return default if value is None else value

    def getall(self, name: str) -> list[str]:
        """All values of header ``name`` in order, lines combined (§7.3.1)."""
        return self.getall_key(header_key(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and header_key(name) in self._keys

    def has_key(self, key: str) -> bool:
        """``in`` for an already-normalised key."""
        return key in self._keys

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def count(self, name: str) -> int:
        """Number of lines of header ``name``."""
        return self._keys.count(header_key(name))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(name as written, unfolded value) for every line, in order."""
        return ((name.rstrip(_WS), value.strip(_WS)) for name, _, value in self._parts)

    def __len__(self) -> int:
        return len(self._keys)

    def items(self) -> list[tuple[str, str]]:
        """(name as written, unfolded value) for every line, in order."""
        return list(self)

    def texts(self) -> Iterator[tuple[str, str, str]]:
        """(key, value, line as serialised) for every line: the serialiser's view."""
        for key, (name, _, value), raw in zip(self._keys, self._parts, self._raws, strict=True):
            yield key, value, raw if raw is not None else f"{name}: {value}"

    def wire_lines(self) -> list[str]:
        """Every line as serialised, in order: :meth:`texts` without the tuples."""
        return [
            raw if raw is not None else f"{parts[0]}: {parts[2]}"
            for parts, raw in zip(self._parts, self._raws, strict=True)
        ]

    # -- change ---------------------------------------------------------------

    def _rows(self) -> list[tuple[str, _Parts, str | None]]:
        return list(zip(self._keys, self._parts, self._raws, strict=True))

    def _set_rows(self, rows: list[tuple[str, _Parts, str | None]]) -> None:
        self._keys = [r[0] for r in rows]
        self._parts = [r[1] for r in rows]
        self._raws = [r[2] for r in rows]
        self.typed.clear()

    def _changed(self, key: str) -> None:
        """Forget the typed values that depend on header ``key``.

        Each typed value is cached under the key of the one header it is parsed
        from (``"via"``, ``"to"``...), so an edit only drops that entry: a proxy
        that adds a Via keeps the From, To and CSeq it already parsed. The SDP view
        also depends on Content-Type.
        """
        typed = self.typed
        if typed:
            typed.pop(key, None)
            if key == "content-type":
                typed.pop("sdp", None)

    def add(self, name: str, value: str) -> None:
        """Append a header line."""
        key, parts = _new_field(name, value)
        self._keys.append(key)
        self._parts.append(parts)
        self._raws.append(None)
        self._changed(key)

    def prepend(self, name: str, value: str) -> None:
        """Insert a line above the first line of the same header, else at the top.

        This is how a proxy adds its Via (§16.6 step 8) or Record-Route (§16.6
        step 4): the new value becomes the first one.
        """
        key, parts = _new_field(name, value)
        pos = self._keys.index(key) if key in self._keys else 0
        self._keys.insert(pos, key)
        self._parts.insert(pos, parts)
        self._raws.insert(pos, None)
        self._changed(key)

    def set(self, name: str, value: str) -> None:
        """Replace every line of ``name`` by one line, kept where the first one was."""
        key, parts = _new_field(name, value)
        keys = self._keys
        count = keys.count(key)
        if count == 1:  # the usual case: edit the one line in place
            i = keys.index(key)
            self._parts[i] = parts
            self._raws[i] = None
            self._changed(key)
            return
        if count == 0:
            self.add(name, value)
            return
        out: list[tuple[str, _Parts, str | None]] = []
        placed = False
        for row in self._rows():
            if row[0] == key:
                if not placed:
                    out.append((key, parts, None))
                    placed = True
            else:
                out.append(row)
        self._set_rows(out)

    def remove(self, name: str) -> int:
        """Remove every line of ``name``; returns how many were removed."""
        key = header_key(name)
        if key not in self._keys:
            return 0
        before = len(self._keys)
        self._set_rows([row for row in self._rows() if row[0] != key])
        return before - len(self._keys)

    def replace_first_value(self, name: str, value: str) -> None:
        """Replace the first *value* of a header (e.g. the top Via), keeping the rest.

        For a list header written as ``Via: a, b`` on one line, the line becomes
        two lines so the untouched value keeps its exact text.
        """
        key = header_key(name)
        if key not in self._keys:
            raise KeyError(name)
        i = self._keys.index(key)
        old = self._parts[i][2]
        shown = self._parts[i][0].rstrip(_WS)
        rest = split_commas(old)[1:] if "," in old and key in LIST_HEADERS else []
        self._parts[i] = (shown, ":", value)
        self._raws[i] = None
        if rest:
            self._keys.insert(i + 1, key)
            self._parts.insert(i + 1, (shown, ":", ", ".join(rest)))
            self._raws.insert(i + 1, None)
        self._changed(key)

    def pop_first_value(self, name: str) -> str:
        """Remove and return the first value of a header (a proxy popping a Route or Via)."""
        key = header_key(name)
        if key not in self._keys:
            raise KeyError(name)
        i = self._keys.index(key)
        shown, _, value = self._parts[i]
        if "," in value and key in LIST_HEADERS:
            values = split_commas(value)
        else:
            values = [value.strip(_WS)]
        if len(values) > 1:
            self._parts[i] = (shown.rstrip(_WS), ":", ", ".join(values[1:]))
            self._raws[i] = None
        else:
            del self._keys[i], self._parts[i], self._raws[i]
        parsed = self.typed.get(key) if key in _VALUE_LISTS else None
        self._changed(key)
        if isinstance(parsed, list) and parsed:
            # The parsed list minus its first value is still right: a proxy popping
            # its Via from a response (§16.7 step 3) then routes it without a re-parse.
            self.typed[key] = parsed[1:]
        return values[0]

    def copy(self) -> Headers:
        """An independent copy (the line tuples are immutable, so they are shared).

        The typed cache comes along (its values are immutable or never edited in
        place, and each later edit drops the entry it invalidates): a proxy's copy
        of a request (§16.6 step 1) does not parse From, To or CSeq again. The SDP
        view is left out: it depends on a body the headers do not carry.
        """
        clone = Headers()
        clone._keys = self._keys.copy()
        clone._parts = self._parts.copy()
        clone._raws = self._raws.copy()
        if self.typed:
            typed = clone.typed = self.typed.copy()
            typed.pop("sdp", None)
        return clone

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


def _new_field(name: str, value: str) -> tuple[str, _Parts]:
    key = header_key(name)
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name!r} value contains CR or LF")
    # Names passed in lower case or compact form get the conventional spelling.
    shown = name if name != key and len(name) > 1 else canonical_name(key)
    return key, (shown, ":", value)
