"""Subscriber and notifier state machines (RFC 6665 §4.1, §4.2), sans-I/O.

Both take ``now`` (any monotonic clock, seconds) and say what is due: :meth:`next_timer`
gives the next absolute deadline, :meth:`handle_timer` what to do at it. They never
send anything; the asyncio shell (:mod:`sipwright.aio.events`) builds and sends the
SUBSCRIBE / NOTIFY requests they ask for.

Refresh timing: RFC 6665 §4.1.2.2 lets the subscriber refresh "at any time before a
subscription expires" without fixing when. :func:`refresh_delay` uses the rule this
project uses for REGISTER (RFC 3261 §10.2.4 leaves it open too):
``max(expires / 2, expires - 30)`` — half way for short lifetimes (so a 2 s grant is
refreshed after 1 s), 30 s ahead for long ones (a 3600 s grant after 3570 s).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .headers import Reason, SubscriptionState

__all__ = [
    "DEFAULT_EXPIRES",
    "MIN_EXPIRES",
    "Notifier",
    "NotifierStatus",
    "SubscribeDecision",
    "Subscriber",
    "SubscriberAction",
    "SubscriberStatus",
    "refresh_delay",
]

#: Lifetime granted when a SUBSCRIBE has no Expires (RFC 6665 §4.2.1.1 leaves the default
#: to the event package; 3600 s is presence's, RFC 3856 §6.4).
DEFAULT_EXPIRES = 3600
#: Shortest lifetime a notifier accepts by default (shorter → 423 with Min-Expires,
#: RFC 6665 §4.2.1.1); 0 is always allowed: a fetch / unsubscribe (§4.4.3, §4.1.2.3).
MIN_EXPIRES = 1


def refresh_delay(expires: float) -> float:
    """Seconds after a grant of ``expires`` s to send the refresh (see the module docstring)."""
    return max(expires / 2, expires - 30)


class SubscriberStatus(enum.Enum):
    """Where a subscription stands for the subscriber (RFC 6665 §4.1.2, §4.1.3).

    ``SENT``: SUBSCRIBE sent, nothing back; ``ACCEPTED``: a 2xx but no NOTIFY yet
    (§4.1.2.4); ``PENDING`` / ``ACTIVE``: as the last NOTIFY said; ``TERMINATED``.
    """

    SENT = "sent"
    ACCEPTED = "accepted"
    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"


class SubscriberAction(enum.Enum):
    """What :meth:`Subscriber.handle_timer` asks for."""

    #: Send an in-dialog SUBSCRIBE with the same Event (§4.1.2.2).
    REFRESH = "refresh"
    #: The subscription is over (expired, or no NOTIFY came, §4.1.2.4): forget it.
    EXPIRED = "expired"


class Subscriber:
    """One subscription as seen by the subscriber.

    ``expires``: the lifetime asked for. ``notify_timeout``: how long after the 2xx a
    NOTIFY may take before the subscription is given up (§4.1.2.4: 64*T1); also how
    long after the expiry the notifier's final NOTIFY is waited for.
    """

    def __init__(self, expires: int, *, notify_timeout: float = 32.0) -> None:
        if expires < 0:
            raise ValueError("expires must be >= 0")
        self.expires = expires
        self.notify_timeout = notify_timeout
        self.status = SubscriberStatus.SENT
        #: Lifetime granted by the last 2xx or NOTIFY (seconds).
        self.granted: int | None = None
        #: Absolute time the subscription ends unless refreshed.
        self.expires_at: float | None = None
        #: Absolute time to send the next refresh (None: none due, e.g. one in flight).
        self.refresh_at: float | None = None
        self._notify_deadline: float | None = None
        self._notified = False
        #: Why it ended: a §4.1.3 reason (``noresource``...), or a local one
        #: (``"489 Bad Event"``, ``"expired"``, ``"no NOTIFY"``).
        self.reason: str | None = None
        #: Seconds the notifier asked us to wait before subscribing again (§4.1.3).
        self.retry_after: int | None = None
        #: True once an unsubscribe (Expires: 0) was sent: no more refreshes.
        self.unsubscribing = False

    @property
    def is_terminated(self) -> bool:
        return self.status is SubscriberStatus.TERMINATED

    def _terminate(self, reason: str | None) -> None:
        self.status = SubscriberStatus.TERMINATED
        self.reason = reason
        self.expires_at = self.refresh_at = self._notify_deadline = None

    def _grant(self, expires: int, now: float) -> None:
        self.granted = expires
        # A 2xx to Expires: 0 still owes the final NOTIFY (§4.1.2.3): wait for it.
        self.expires_at = now + (expires or self.notify_timeout)
        if self.unsubscribing or expires == 0:
            self.refresh_at = None
        else:
            self.refresh_at = now + refresh_delay(expires)

    def response_received(self, status: int, expires: int | None, now: float) -> None:
        """The final response to a SUBSCRIBE of ours (initial, refresh or unsubscribe).

        2xx: its Expires is the granted lifetime (§4.1.2.1; what we asked when absent).
        481 / 408 end the subscription (§4.1.2.2: the dialog is gone). Another failure
        of a refresh leaves the subscription running until it expires; of the initial
        SUBSCRIBE, ends it (reason ``"<code>"``).
        """
        if self.is_terminated or status < 200:
            return
        if 200 <= status < 300:
            self._grant(self.expires if expires is None else expires, now)
            if self.status is SubscriberStatus.SENT:
                self.status = SubscriberStatus.ACCEPTED
            if not self._notified and self._notify_deadline is None:
                self._notify_deadline = now + self.notify_timeout
            return
        if status in (408, 481) or self.status is SubscriberStatus.SENT:
            self._terminate(str(status))
        elif self.expires_at is not None and not self.unsubscribing:
            # §4.1.2.2: a failed refresh does not end the subscription; retry half way
            # to expiry (never past it).
            left = self.expires_at - now
            self.refresh_at = now + left / 2 if left > 1 else None

    def notify_received(self, state: SubscriptionState, now: float) -> None:
        """A NOTIFY's Subscription-State (§4.1.3): active / pending / terminated.

        An ``expires`` parameter is authoritative (§4.1.3) and reschedules the refresh.
        """
        self._notified = True
        self._notify_deadline = None
        if self.is_terminated:
            return
        if state.is_terminated:
            self._terminate(state.reason)
            self.retry_after = state.retry_after
            return
        self.status = (
            SubscriberStatus.ACTIVE if state.value == "active" else SubscriberStatus.PENDING
        )
        if state.expires is not None:
            self._grant(state.expires, now)

    def unsubscribe(self) -> None:
        """An unsubscribe (Expires: 0, §4.1.2.3) is being sent: stop refreshing."""
        self.unsubscribing = True
        self.refresh_at = None

    def terminate(self, reason: str) -> None:
        """End locally (UA closing, final NOTIFY never came...)."""
        if not self.is_terminated:
            self._terminate(reason)

    @property
    def _grace(self) -> float:
        # The notifier's final NOTIFY (terminated;reason=timeout, §4.2.2) is sent at the
        # expiry and its transaction may take up to Timer F = 64*T1: wait that long for it.
        return 0.0 if self.unsubscribing else self.notify_timeout

    def next_timer(self) -> float | None:
        expiry = None if self.expires_at is None else self.expires_at + self._grace
        deadlines = [t for t in (self.refresh_at, expiry, self._notify_deadline) if t is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> SubscriberAction | None:
        """What is due at ``now``: a refresh, the end of the subscription, or nothing."""
        if self.is_terminated:
            return None
        if self._notify_deadline is not None and now >= self._notify_deadline:
            self._terminate("no NOTIFY")
            return SubscriberAction.EXPIRED
        if self.expires_at is not None and now >= self.expires_at + self._grace:
            self._terminate("expired")
            return SubscriberAction.EXPIRED
        if self.refresh_at is not None and now >= self.refresh_at:
            self.refresh_at = None  # rescheduled by the refresh's 2xx or a NOTIFY
            return SubscriberAction.REFRESH
        return None


class NotifierStatus(enum.Enum):
    """A subscription as the notifier sees it: §4.2.1.2 pending / active, then terminated."""

    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class SubscribeDecision:
    """How to answer a SUBSCRIBE: ``status`` (200 or 423), the granted ``expires``, and
    ``min_expires`` for the 423's Min-Expires header."""

    status: int
    expires: int = 0
    min_expires: int | None = None


class Notifier:
    """One subscription as seen by the notifier (RFC 6665 §4.2).

    ``min_expires``: shorter non-zero requests get 423 (§4.2.1.1); ``max_expires``:
    longer ones are shortened (a notifier "MAY shorten", §4.2.1.1, never lengthen);
    ``default_expires``: the lifetime when the SUBSCRIBE has no Expires.
    """

    def __init__(
        self,
        *,
        min_expires: int = MIN_EXPIRES,
        max_expires: int = DEFAULT_EXPIRES,
        default_expires: int = DEFAULT_EXPIRES,
    ) -> None:
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.status = NotifierStatus.PENDING
        self.expires_at: float | None = None
        #: The §4.1.3 reason of the terminated state (``timeout`` on expiry/unsubscribe).
        self.reason: str | None = None
        self.retry_after: int | None = None

    @property
    def is_terminated(self) -> bool:
        return self.status is NotifierStatus.TERMINATED

    def decide(self, requested: int | None) -> SubscribeDecision:
        """The answer to a SUBSCRIBE asking ``requested`` s (None: no Expires header)."""
        if requested is None:
            return SubscribeDecision(200, min(self.default_expires, self.max_expires))
        if 0 < requested < self.min_expires:
            return SubscribeDecision(423, min_expires=self.min_expires)  # §4.2.1.1
        return SubscribeDecision(200, min(requested, self.max_expires))

    def subscribe_accepted(self, expires: int, now: float, *, active: bool = True) -> None:
        """A 2xx granting ``expires`` s was sent (initial or refresh, §4.2.1.4).

        ``expires == 0`` (unsubscribe §4.1.2.3, or a fetch §4.4.3) ends the subscription
        with reason ``timeout``: it lapsed at once, and its final NOTIFY says so.
        """
        if self.is_terminated:
            return
        if expires == 0:
            self.terminate(Reason.TIMEOUT.value)
            return
        self.expires_at = now + expires
        if active:
            self.status = NotifierStatus.ACTIVE

    def activate(self) -> None:
        """Authorization granted (pending → active, §4.2.1.2)."""
        if not self.is_terminated:
            self.status = NotifierStatus.ACTIVE

    def terminate(self, reason: str | None, retry_after: int | None = None) -> None:
        if not self.is_terminated:
            self.status = NotifierStatus.TERMINATED
            self.reason = reason
            self.retry_after = retry_after
            self.expires_at = None

    def remaining(self, now: float) -> int:
        """Seconds left, rounded (at least 1 while alive: ``expires=0`` would mean ended)."""
        if self.expires_at is None:
            return 0
        return max(1, round(self.expires_at - now))

    def state(self, now: float) -> SubscriptionState:
        """The Subscription-State for a NOTIFY sent at ``now`` (§4.2.2)."""
        if self.is_terminated:
            return SubscriptionState.terminated(self.reason, self.retry_after)
        return SubscriptionState(self.status.value, expires=self.remaining(now))

    def next_timer(self) -> float | None:
        return self.expires_at

    def handle_timer(self, now: float) -> bool:
        """True when the subscription expired at ``now`` (send NOTIFY terminated;reason=
        timeout, §4.2.2)."""
        if self.expires_at is None or now < self.expires_at or self.is_terminated:
            return False
        self.terminate(Reason.TIMEOUT.value)
        return True
