"""SIP-specific event notification (RFC 6665), sans-I/O.

* :mod:`.headers` — typed Event, Subscription-State and Allow-Events values (shared
  with REFER, RFC 3515).
* :mod:`.subscription` — subscriber and notifier state machines: refresh and expiry
  deadlines from ``now``; the asyncio shell is :mod:`sipwright.aio.events`.
"""

from .headers import (
    AllowEvents,
    EventHeader,
    Reason,
    SubscriptionState,
    SubState,
    event_of,
    parse_allow_events,
    parse_event,
    parse_subscription_state,
    retry_delay,
    subscription_state_of,
)
from .subscription import (
    DEFAULT_EXPIRES,
    MIN_EXPIRES,
    Notifier,
    NotifierStatus,
    SubscribeDecision,
    Subscriber,
    SubscriberAction,
    SubscriberStatus,
    refresh_delay,
)

__all__ = [
    "DEFAULT_EXPIRES",
    "MIN_EXPIRES",
    "AllowEvents",
    "EventHeader",
    "Notifier",
    "NotifierStatus",
    "Reason",
    "SubState",
    "SubscribeDecision",
    "Subscriber",
    "SubscriberAction",
    "SubscriberStatus",
    "SubscriptionState",
    "event_of",
    "parse_allow_events",
    "parse_event",
    "parse_subscription_state",
    "refresh_delay",
    "retry_delay",
    "subscription_state_of",
]
