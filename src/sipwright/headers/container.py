"""The ordered, case-insensitive header collection of a message.

Why not a dict: order matters (Via, Route and Record-Route are ordered lists,
and RFC 3261 §7.3.1 lets one header be spread over several lines that must be
combined in order), duplicates are meaningful, and commas may only be split
for headers whose grammar is a list. Each line keeps its raw text so that a
message parsed and serialised unchanged gives back the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .names import LIST_HEADERS, canonical_name, header_key
from .params import split_commas

__all__ = ["HeaderField", "Headers"]


class HeaderField:
    """One header line: its key, the name as written, the unfolded value and raw text."""

    __slots__ = ("key", "name", "raw", "value")

    def __init__(self, key: str, name: str, value: str, raw: str | None = None) -> None:
        self.key = key
        self.name = name
        self.value = value
        #: The line(s) exactly as received (folding included), or None when built.
        self.raw = raw

    def text(self) -> str:
        """The header line as it is to be serialised (no trailing CRLF)."""
        raw = self.raw
        return raw if raw is not None else f"{self.name}: {self.value}"

    def __repr__(self) -> str:
        return f"HeaderField({self.name!r}, {self.value!r})"


class Headers:
    """Header lines in order, looked up by any spelling or compact form.

    ``get``/``getall`` work on *values*: for list headers (Via, Contact,
    Route, Allow…) each comma-separated element is one value; for the others
    (Authorization, Date, Subject, unknown headers…) each line is one value.
    """

    __slots__ = ("_fields", "_index", "typed")

    def __init__(self, fields: Iterable[tuple[str, str]] | None = None) -> None:
        self._fields: list[HeaderField] = []
        self._index: dict[str, list[HeaderField]] | None = None
        #: Cache of typed values parsed from these headers; cleared on any change.
        self.typed: dict[str, object] = {}
        if fields is not None:
            for name, value in fields:
                self.add(name, value)

    @classmethod
    def _from_parsed(cls, fields: list[HeaderField]) -> Headers:
        self = cls.__new__(cls)
        self._fields = fields
        self._index = None
        self.typed = {}
        return self

    # -- lookup ---------------------------------------------------------------

    def _lookup(self) -> dict[str, list[HeaderField]]:
        index = self._index
        if index is None:
            index = {}
            for f in self._fields:
                bucket = index.get(f.key)
                if bucket is None:
                    index[f.key] = [f]
                else:
                    bucket.append(f)
            self._index = index
        return index

    def fields(self, name: str) -> list[HeaderField]:
        """Every line of header ``name``, in order."""
        return self._lookup().get(_key_of(name), [])

    def get_key(self, key: str) -> str | None:
        """:meth:`get` for an already-normalised key (hot path for typed access)."""
        bucket = self._lookup().get(key)
        if bucket is None:
            return None
        value = bucket[0].value
        if key in LIST_HEADERS:
            return split_commas(value)[0]
        return value

    def getall_key(self, key: str) -> list[str]:
        """:meth:`getall` for an already-normalised key."""
        bucket = self._lookup().get(key)
        if bucket is None:
            return []
        if key in LIST_HEADERS:
            if len(bucket) == 1:
                return split_commas(bucket[0].value)
            out: list[str] = []
            for f in bucket:
                out.extend(split_commas(f.value))
            return out
        return [f.value for f in bucket]

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (any case, compact form accepted)."""
        value = self.get_key(_key_of(name))
        return default if value is None else value

    def getall(self, name: str) -> list[str]:
        """All values of header ``name`` in order, lines combined (§7.3.1)."""
        return self.getall_key(_key_of(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key_of(name) in self._lookup()

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def count(self, name: str) -> int:
        """Number of lines of header ``name``."""
        return len(self.fields(name))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(name as written, unfolded value) for every line, in order."""
        return ((f.name, f.value) for f in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def items(self) -> list[tuple[str, str]]:
        """(name as written, unfolded value) for every line, in order."""
        return [(f.name, f.value) for f in self._fields]

    def all_fields(self) -> list[HeaderField]:
        """Every line, in order (a copy of the list)."""
        return list(self._fields)

    # -- change ---------------------------------------------------------------

    def _changed(self) -> None:
        self._index = None
        self.typed.clear()

    def add(self, name: str, value: str) -> None:
        """Append a header line."""
        self._fields.append(_new_field(name, value))
        self._changed()

    def prepend(self, name: str, value: str) -> None:
        """Insert a line above the first line of the same header, else at the top.

        This is how a proxy adds its Via (§16.6 step 8) or Record-Route (§16.6
        step 4): the new value becomes the first one.
        """
        key = _key_of(name)
        pos = 0
        for i, f in enumerate(self._fields):
            if f.key == key:
                pos = i
                break
        self._fields.insert(pos, _new_field(name, value))
        self._changed()

    def set(self, name: str, value: str) -> None:
        """Replace every line of ``name`` by one line, kept where the first one was."""
        key = _key_of(name)
        new = _new_field(name, value)
        out: list[HeaderField] = []
        placed = False
        for f in self._fields:
            if f.key == key:
                if not placed:
                    out.append(new)
                    placed = True
            else:
                out.append(f)
        if not placed:
            out.append(new)
        self._fields = out
        self._changed()

    def remove(self, name: str) -> int:
        """Remove every line of ``name``; returns how many were removed."""
        key = _key_of(name)
        before = len(self._fields)
        self._fields = [f for f in self._fields if f.key != key]
        self._changed()
        return before - len(self._fields)

    def replace_first_value(self, name: str, value: str) -> None:
        """Replace the first *value* of a header (e.g. the top Via), keeping the rest.

        For a list header written as ``Via: a, b`` on one line, the line becomes
        two lines so the untouched value keeps its exact text.
        """
        key = _key_of(name)
        for i, f in enumerate(self._fields):
            if f.key != key:
                continue
            rest = split_commas(f.value)[1:] if key in LIST_HEADERS else []
            new = [HeaderField(key, f.name, value)]
            if rest:
                new.append(HeaderField(key, f.name, ", ".join(rest)))
            self._fields[i : i + 1] = new
            self._changed()
            return
        raise KeyError(name)

    def pop_first_value(self, name: str) -> str:
        """Remove and return the first value of a header (a proxy popping a Route or Via)."""
        key = _key_of(name)
        for i, f in enumerate(self._fields):
            if f.key != key:
                continue
            values = split_commas(f.value) if key in LIST_HEADERS else [f.value]
            if len(values) > 1:
                self._fields[i] = HeaderField(key, f.name, ", ".join(values[1:]))
            else:
                del self._fields[i]
            self._changed()
            return values[0]
        raise KeyError(name)

    def copy(self) -> Headers:
        """An independent copy (the lines are shared: they are never mutated in place)."""
        return Headers._from_parsed(list(self._fields))

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


def _key_of(name: str) -> str:
    return header_key(name)


def _new_field(name: str, value: str) -> HeaderField:
    key = header_key(name)
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name!r} value contains CR or LF")
    # Names passed in lower case or compact form get the conventional spelling.
    shown = name if name != key and len(name) > 1 else canonical_name(key)
    return HeaderField(key, shown, value)
