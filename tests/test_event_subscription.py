"""Subscriber / notifier state machines (RFC 6665 §4.1, §4.2): deadlines from ``now``."""

from __future__ import annotations

from sipwright.event import (
    Notifier,
    NotifierStatus,
    SubscribeDecision,
    Subscriber,
    SubscriberAction,
    SubscriberStatus,
    SubscriptionState,
    refresh_delay,
)


def test_refresh_delay_scales() -> None:
    assert refresh_delay(2) == 1
    assert refresh_delay(60) == 30
    assert refresh_delay(3600) == 3570


def test_subscriber_refresh_and_notify_expires() -> None:
    sub = Subscriber(600, notify_timeout=32)
    assert sub.status.value == "sent" and sub.next_timer() is None
    sub.response_received(200, 300, now=100.0)  # §4.1.2.1: the 2xx's Expires rules
    assert sub.status is SubscriberStatus.ACCEPTED and sub.granted == 300
    assert sub.refresh_at == 100 + 270
    sub.notify_received(SubscriptionState.active(60), now=101.0)  # §4.1.3: authoritative
    assert sub.status.value == "active" and sub.refresh_at == 131.0
    assert sub.next_timer() == 131.0
    assert sub.handle_timer(130.0) is None
    assert sub.handle_timer(131.0) is SubscriberAction.REFRESH
    assert sub.refresh_at is None  # one refresh in flight
    sub.response_received(200, 60, now=131.5)
    assert sub.refresh_at == 161.5 and not sub.is_terminated


def test_subscriber_no_notify_after_2xx_ends_it() -> None:
    sub = Subscriber(600, notify_timeout=32)
    sub.response_received(200, 600, now=0.0)
    assert sub.next_timer() == 32.0  # §4.1.2.4: 64*T1 for the first NOTIFY
    assert sub.handle_timer(32.0) is SubscriberAction.EXPIRED
    assert sub.is_terminated and sub.reason == "no NOTIFY"


def test_subscriber_terminated_notify_and_failures() -> None:
    sub = Subscriber(60)
    sub.response_received(200, 60, now=0.0)
    sub.notify_received(SubscriptionState("terminated", reason="probation", retry_after=9), 1.0)
    assert sub.is_terminated and (sub.reason, sub.retry_after) == ("probation", 9)
    assert sub.next_timer() is None and sub.handle_timer(1e9) is None

    failed = Subscriber(60)
    failed.response_received(489, None, now=0.0)
    assert failed.is_terminated and failed.reason == "489"

    gone = Subscriber(60)
    gone.response_received(200, 60, now=0.0)
    gone.notify_received(SubscriptionState.pending(60), 0.0)
    assert gone.status is SubscriberStatus.PENDING
    gone.response_received(481, None, now=30.0)  # §4.1.2.2: the dialog is gone
    assert gone.is_terminated


def test_subscriber_refresh_failure_keeps_it_until_expiry() -> None:
    sub = Subscriber(60, notify_timeout=4)
    sub.response_received(200, 60, now=0.0)
    sub.notify_received(SubscriptionState.active(60), 0.0)
    assert sub.handle_timer(30.0) is SubscriberAction.REFRESH
    sub.response_received(500, None, now=30.0)
    assert not sub.is_terminated and sub.refresh_at == 45.0
    assert sub.handle_timer(45.0) is SubscriberAction.REFRESH
    sub.response_received(503, None, now=59.5)  # too close to expiry to try again
    assert sub.refresh_at is None
    # Expiry, plus time for the notifier's final NOTIFY.
    assert sub.next_timer() == 64.0 and sub.handle_timer(63.9) is None
    assert sub.handle_timer(64.0) is SubscriberAction.EXPIRED
    assert sub.reason == "expired"


def test_subscriber_unsubscribe_waits_for_final_notify() -> None:
    sub = Subscriber(60, notify_timeout=4)
    sub.response_received(200, 60, now=0.0)
    sub.notify_received(SubscriptionState.active(60), 0.0)
    sub.unsubscribe()
    sub.response_received(200, 0, now=10.0)  # §4.1.2.3: the final NOTIFY is owed
    assert not sub.is_terminated and sub.refresh_at is None and sub.next_timer() == 14.0
    sub.notify_received(SubscriptionState.terminated("timeout"), 10.1)
    assert sub.is_terminated and sub.reason == "timeout"


def test_notifier_decisions() -> None:
    notifier = Notifier(min_expires=60, max_expires=3600, default_expires=1800)
    assert notifier.decide(None) == SubscribeDecision(200, 1800)
    assert notifier.decide(30) == SubscribeDecision(423, min_expires=60)  # §4.2.1.1
    assert notifier.decide(0) == SubscribeDecision(200, 0)  # unsubscribe / fetch
    assert notifier.decide(7200) == SubscribeDecision(200, 3600)  # may shorten, not lengthen


def test_notifier_lifecycle() -> None:
    notifier = Notifier(min_expires=1)
    notifier.subscribe_accepted(2, now=10.0, active=False)
    assert notifier.status is NotifierStatus.PENDING
    assert str(notifier.state(10.0)) == "pending;expires=2"
    notifier.activate()
    assert str(notifier.state(10.9)) == "active;expires=1"
    assert notifier.next_timer() == 12.0 and not notifier.handle_timer(11.9)
    notifier.subscribe_accepted(2, now=11.5)  # refresh
    assert notifier.next_timer() == 13.5
    assert notifier.handle_timer(13.5)  # §4.2.2: expired → terminated;reason=timeout
    assert str(notifier.state(13.5)) == "terminated;reason=timeout"
    assert not notifier.handle_timer(99.0)


def test_notifier_unsubscribe_and_terminate() -> None:
    unsub = Notifier()
    unsub.subscribe_accepted(600, now=0.0)
    unsub.subscribe_accepted(0, now=5.0)  # Expires: 0 (§4.1.2.3)
    assert unsub.is_terminated and unsub.reason == "timeout"
    ended = Notifier()
    ended.subscribe_accepted(600, now=0.0)
    ended.terminate("noresource", retry_after=5)
    assert str(ended.state(1.0)) == "terminated;reason=noresource;retry-after=5"
    ended.terminate("other")
    assert ended.reason == "noresource"
