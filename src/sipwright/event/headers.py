"""Typed views of the RFC 6665 headers: Event, Subscription-State, Allow-Events.

Small immutable values with ``parse`` / ``str`` round trips. Malformed input raises
:class:`~sipwright.errors.ParseError` (a 400 naming the header), never anything else,
so a UA can answer bad NOTIFY / SUBSCRIBE requests properly. REFER (RFC 3515 §2.4.4,
``Event: refer``) uses the same helpers.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .._abnf import UINT32_MAX, ascii_int
from ..errors import ParseError
from ..headers.params import format_params, parse_params, split_commas, unquote
from ..message import Message

__all__ = [
    "AllowEvents",
    "EventHeader",
    "Reason",
    "SubState",
    "SubscriptionState",
    "event_of",
    "parse_allow_events",
    "parse_event",
    "parse_subscription_state",
    "retry_delay",
    "subscription_state_of",
]

# RFC 6665 §8.4: event-type = event-package *( "." event-template ); both are token-nodot.
_TOKEN_NODOT = r"[A-Za-z0-9\-!%*_+`'~]+"
_EVENT_TYPE_RE = re.compile(rf"{_TOKEN_NODOT}(?:\.{_TOKEN_NODOT})*")
_WS = " \t"

Params = tuple[tuple[str, str | None], ...]


def _split(text: str, header: str) -> tuple[str, Params]:
    value, semi, rest = text.partition(";")
    value = value.strip(_WS)
    if not value:
        raise ParseError(f"empty {header}", header=header)
    try:
        params = parse_params(semi + rest) if semi else ()
    except ParseError as exc:
        raise ParseError(f"bad {header} parameters: {exc.reason}", header=header) from None
    return value, params


def _param_value(value: str | None) -> str | None:
    if value is not None and value.startswith('"'):
        return unquote(value)
    return value


@dataclass(frozen=True, slots=True)
class EventHeader:
    """``Event: presence;id=7`` (RFC 6665 §8.2.1).

    ``type`` is the event-type as written (``presence.winfo``): the package then its
    templates (:attr:`package`, :attr:`templates`). ``id`` tells apart several
    subscriptions of one package in one dialog; ``params`` are the other parameters.
    """

    type: str
    id: str | None = None
    params: Params = ()

    @property
    def package(self) -> str:
        """The event package: the event-type before its first dot."""
        return self.type.partition(".")[0]

    @property
    def templates(self) -> tuple[str, ...]:
        """Event templates (``winfo`` of ``presence.winfo``, RFC 6665 §7.2)."""
        return tuple(self.type.split(".")[1:])

    def matches(self, other: EventHeader) -> bool:
        """Whether two Event values name the same subscription (RFC 6665 §8.2.1).

        The event-type and the ``id`` are compared byte by byte (case-sensitive);
        a value with an ``id`` never matches one without; other parameters are ignored.
        """
        return self.type == other.type and self.id == other.id

    def __str__(self) -> str:
        pairs: list[tuple[str, str | None]] = list(self.params)
        if self.id is not None:
            pairs.insert(0, ("id", self.id))
        return f"{self.type}{format_params(tuple(pairs))}"


def parse_event(text: str) -> EventHeader:
    """Parse an Event (or ``o``) header value; ParseError when malformed (§8.4)."""
    value, params = _split(text, "Event")
    if _EVENT_TYPE_RE.fullmatch(value) is None:
        raise ParseError(f"invalid event type {value[:40]!r}", header="Event")
    event_id: str | None = None
    rest: list[tuple[str, str | None]] = []
    for name, param in params:
        if name.lower() == "id" and event_id is None:
            if param is None:
                raise ParseError("Event id without a value", header="Event")
            event_id = _param_value(param)
        else:
            rest.append((name, param))
    return EventHeader(value, event_id, tuple(rest))


class SubState(enum.Enum):
    """``substate-value`` (RFC 6665 §8.2.3); an unknown extension value counts as pending
    (§4.1.3: "MUST treat [it] as if it were 'pending'") but keeps its text in
    :attr:`SubscriptionState.value`."""

    ACTIVE = "active"
    PENDING = "pending"
    TERMINATED = "terminated"


class Reason(enum.Enum):
    """``event-reason-value`` of a terminated subscription (RFC 6665 §4.1.3)."""

    DEACTIVATED = "deactivated"
    PROBATION = "probation"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    GIVEUP = "giveup"
    NORESOURCE = "noresource"
    INVARIANT = "invariant"


def _delta(text: str | None, what: str) -> int:
    number = ascii_int((text or "").strip(_WS))
    if number is None:
        raise ParseError(f"Subscription-State {what} is not a number", header="Subscription-State")
    return min(number, UINT32_MAX)


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """``Subscription-State: active;expires=600`` (RFC 6665 §8.2.3).

    ``value`` is the substate as written (lower-cased); :attr:`state` maps it to
    :class:`SubState` (extensions → PENDING, §4.1.3). ``reason`` and ``retry_after``
    come with ``terminated``; ``expires`` (seconds left) with active / pending.
    """

    value: str
    expires: int | None = None
    reason: str | None = None
    retry_after: int | None = None
    params: Params = ()

    @classmethod
    def active(cls, expires: int) -> SubscriptionState:
        return cls("active", expires=expires)

    @classmethod
    def pending(cls, expires: int) -> SubscriptionState:
        return cls("pending", expires=expires)

    @classmethod
    def terminated(
        cls, reason: str | Reason | None = None, retry_after: int | None = None
    ) -> SubscriptionState:
        text = reason.value if isinstance(reason, Reason) else reason
        return cls("terminated", reason=text, retry_after=retry_after)

    @property
    def state(self) -> SubState:
        try:
            return SubState(self.value)
        except ValueError:
            return SubState.PENDING

    @property
    def is_terminated(self) -> bool:
        return self.value == "terminated"

    def __str__(self) -> str:
        pairs: list[tuple[str, str | None]] = []
        if self.reason is not None:
            pairs.append(("reason", self.reason))
        if self.expires is not None:
            pairs.append(("expires", str(self.expires)))
        if self.retry_after is not None:
            pairs.append(("retry-after", str(self.retry_after)))
        pairs.extend(self.params)
        return f"{self.value}{format_params(tuple(pairs))}"


def parse_subscription_state(text: str) -> SubscriptionState:
    """Parse a Subscription-State value; ParseError when malformed (§8.4)."""
    value, params = _split(text, "Subscription-State")
    if _EVENT_TYPE_RE.fullmatch(value) is None or "." in value:
        raise ParseError(f"invalid substate {value[:40]!r}", header="Subscription-State")
    expires = reason = retry = None
    rest: list[tuple[str, str | None]] = []
    for name, param in params:
        key = name.lower()
        if key == "expires":
            expires = _delta(param, "expires")
        elif key == "reason":
            reason = (_param_value(param) or "").lower() or None
        elif key == "retry-after":
            retry = _delta(param, "retry-after")
        else:
            rest.append((name, param))
    return SubscriptionState(value.lower(), expires, reason, retry, tuple(rest))


def retry_delay(state: SubscriptionState) -> float | None:
    """After ``terminated``: seconds before a new SUBSCRIBE may be sent, None for never.

    RFC 6665 §4.1.3: ``deactivated`` and ``timeout`` allow an immediate retry;
    ``probation`` and ``giveup`` a retry after ``retry-after`` (when given);
    ``rejected``, ``noresource`` and ``invariant`` say not to retry; no reason or an
    unknown one: a retry later is allowed, no sooner than ``retry-after``.
    """
    reason = state.reason
    if reason in ("rejected", "noresource", "invariant"):
        return None
    if reason in ("deactivated", "timeout"):
        return 0.0
    return float(state.retry_after or 0)


@dataclass(frozen=True, slots=True)
class AllowEvents:
    """``Allow-Events: presence, dialog`` (RFC 6665 §8.2.2): the event types a UA accepts."""

    types: tuple[str, ...]

    def __contains__(self, event_type: object) -> bool:
        return event_type in self.types

    def __str__(self) -> str:
        return ", ".join(self.types)


def parse_allow_events(values: list[str]) -> AllowEvents:
    """Parse every Allow-Events (``u``) header value, comma lists included."""
    types: list[str] = []
    for value in values:
        for item in split_commas(value):
            if not item:
                continue
            if _EVENT_TYPE_RE.fullmatch(item) is None:
                raise ParseError(f"invalid Allow-Events entry {item[:40]!r}", header="Allow-Events")
            types.append(item)
    return AllowEvents(tuple(types))


def event_of(message: Message) -> EventHeader | None:
    """The message's Event header (None when absent); ParseError when malformed."""
    value = message.headers.get("Event")
    return None if value is None else parse_event(value)


def subscription_state_of(message: Message) -> SubscriptionState | None:
    """The message's Subscription-State (None when absent); ParseError when malformed."""
    value = message.headers.get("Subscription-State")
    return None if value is None else parse_subscription_state(value)
