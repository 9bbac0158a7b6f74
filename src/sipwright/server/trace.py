"""The live call tracer: the recent SIP messages of this worker, grouped by Call-ID.

:class:`CallTracer` is a tap (:meth:`Server.add_tap <sipwright.server.app.Server.add_tap>`):
it sees every message the server receives and sends, as bytes, and keeps them for the
dashboard's call list and ladders (:mod:`sipwright.ladder` draws them). It runs on the
proxy's hot path, so per message it only finds the Call-ID (:func:`~sipwright.ladder.call_id_of`,
a byte scan, no parse), stamps the wall-clock time and appends; parsing happens when a
page asks (:meth:`CallTracer.flow`, cached until the call changes).

Bounds (memory stays flat under load, nothing dropped silently: every cut is counted and
shown): the last ``max_calls`` Call-IDs (500) by last activity, the oldest evicted first;
``max_messages`` messages per call (200), later ones counted in ``dropped``; a message
over ``max_bytes`` (64 KiB) kept truncated to that size and marked. Messages without a
Call-ID (garbage, keep-alives with content) are only counted (``unattributed``).

Change notification is a counter (:attr:`CallTracer.version`) plus an optional wake-up
callback called at most once until :meth:`CallTracer.rearm`: the dashboard's pusher
re-arms it after each push, so under load the tracer costs one call per push, not one per
message (RFC 3261 itself says nothing here; this is about staying off the proxy's path).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..ladder import CallFlow, TracedMessage, call_flows, call_id_of
from ..transaction import Destination

__all__ = ["CallTracer", "TraceEntry", "TracedCall"]

MAX_CALLS = 500
MAX_MESSAGES = 200
MAX_BYTES = 64 * 1024


@dataclass(slots=True)
class TraceEntry:
    """One message as traced: the ladder's :class:`TracedMessage` plus what the tracer
    knows beyond it (direction, transport, truncation)."""

    message: TracedMessage
    outbound: bool
    transport: str
    #: The size on the wire; ``len(message.data)`` is smaller when it was truncated.
    size: int

    @property
    def truncated(self) -> bool:
        return self.size > len(self.message.data)


#: What the tap stores per message: ``(time, outbound, source host, port, transport,
#: destination host, port, transport, data, size)``. A flat tuple of strings and numbers:
#: building the dataclasses costs more than everything else the tap does but finding the
#: Call-ID, so they are made only when a page asks (:attr:`TracedCall.entries`); and a
#: tuple of atoms is dropped from the garbage collector's lists, so hundreds of calls kept
#: for the dashboard do not make every full collection of a busy proxy slower.
Raw = tuple[float, bool, str, int, str, str, int, str, bytes, int]


@dataclass(slots=True)
class TracedCall:
    """The messages of one Call-ID, in the order the server saw them."""

    call_id: str
    raw: list[Raw] = field(default_factory=list)
    #: Messages not kept because the call already had ``max_messages``.
    dropped: int = 0
    _entries: list[TraceEntry] = field(default_factory=list)
    #: The ladder's view of the messages, cached for ``_flow_len`` of them.
    _flow: CallFlow | None = None
    _flow_len: int = -1

    def __len__(self) -> int:
        return len(self.raw)

    @property
    def entries(self) -> list[TraceEntry]:
        """The messages as :class:`TraceEntry` (made on first read, then kept)."""
        entries = self._entries
        for t, outbound, sh, sp, st, dh, dp, dt, data, size in self.raw[len(entries) :]:
            message = TracedMessage(t, Destination(sh, sp, st), Destination(dh, dp, dt), data)
            entries.append(TraceEntry(message, outbound, dt if outbound else st, size))
        return entries

    @property
    def first_time(self) -> float:
        return self.raw[0][0] if self.raw else 0.0

    @property
    def last_time(self) -> float:
        return self.raw[-1][0] if self.raw else 0.0


class CallTracer:
    """Recent calls keyed by Call-ID, fed by :meth:`tap`; see the module doc for bounds."""

    def __init__(
        self,
        *,
        max_calls: int = MAX_CALLS,
        max_messages: int = MAX_MESSAGES,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_calls < 1 or max_messages < 1 or max_bytes < 1:
            raise ValueError("tracer bounds must be positive")
        self.max_calls = max_calls
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.clock = clock
        self._calls: OrderedDict[str, TracedCall] = OrderedDict()
        #: Bumped on every message kept or counted: pages compare it to skip work.
        self.version = 0
        #: Calls evicted to stay under ``max_calls``.
        self.evicted = 0
        #: Messages kept truncated to ``max_bytes``.
        self.truncated = 0
        #: Messages dropped because their call already had ``max_messages``.
        self.dropped = 0
        #: Messages with no Call-ID to file them under (counted only).
        self.unattributed = 0
        #: Called (no arguments) on the first change after :meth:`rearm`.
        self.on_change: Callable[[], None] | None = None
        self._armed = False

    # -- the hot path ------------------------------------------------------------------

    def tap(
        self, outbound: bool, data: bytes, source: Destination, destination: Destination
    ) -> None:
        """The :data:`~sipwright.aio.transport.manager.Tap`: file one message. Never raises
        on any input (bytes from the network)."""
        self.version += 1
        if self._armed:
            self._armed = False
            callback = self.on_change
            if callback is not None:
                callback()
        call_id = call_id_of(data)
        if call_id is None:
            self.unattributed += 1
            return
        calls = self._calls
        call = calls.get(call_id)
        if call is None:
            call = calls[call_id] = TracedCall(call_id)
            if len(calls) > self.max_calls:
                calls.popitem(last=False)
                self.evicted += 1
        else:
            calls.move_to_end(call_id)
        raw = call.raw
        if len(raw) >= self.max_messages:
            call.dropped += 1
            self.dropped += 1
            return
        size = len(data)
        if size > self.max_bytes:
            data = data[: self.max_bytes]
            self.truncated += 1
        raw.append(
            (
                self.clock(),
                outbound,
                source.host,
                source.port,
                source.transport,
                destination.host,
                destination.port,
                destination.transport,
                data,
                size,
            )
        )

    # -- readers (the dashboard) -------------------------------------------------------

    def rearm(self) -> None:
        """Ask for one :attr:`on_change` call at the next message."""
        self._armed = True

    def __len__(self) -> int:
        return len(self._calls)

    def get(self, call_id: str) -> TracedCall | None:
        return self._calls.get(call_id)

    def recent(self, limit: int | None = None) -> list[TracedCall]:
        """The calls, most recently active first (at most ``limit``)."""
        out: list[TracedCall] = []
        for call in reversed(self._calls.values()):
            if limit is not None and len(out) >= limit:
                break
            out.append(call)
        return out

    def flow(self, call: TracedCall) -> CallFlow | None:
        """The ladder's view of one call (parsed now, cached until the call changes);
        None when nothing in it parses as SIP."""
        if call._flow_len != len(call.raw):
            flows = call_flows([e.message for e in call.entries])
            call._flow = _pick(flows, call.call_id)
            call._flow_len = len(call.raw)
        return call._flow

    def cached_flow(self, call: TracedCall) -> tuple[CallFlow | None, bool]:
        """The last flow computed for ``call`` (maybe None) and whether it is current."""
        return call._flow, call._flow_len == len(call.raw)

    def clear(self) -> None:
        self._calls.clear()
        self.version += 1


def _pick(flows: Iterable[CallFlow], call_id: str) -> CallFlow | None:
    """The flow of ``call_id`` (``call_flows`` groups by the parsed Call-ID, which is the
    one ``call_id_of`` found, unless the message is too broken to parse)."""
    first: CallFlow | None = None
    for flow in flows:
        if flow.call_id == call_id:
            return flow
        if first is None:
            first = flow
    return first
