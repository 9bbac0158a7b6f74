"""SUBSCRIBE / NOTIFY for a :class:`~sipwright.aio.ua.UserAgent` (RFC 6665), asyncio shell.

Subscriber: ``sub = await ua.subscribe(target, "presence")`` sends the SUBSCRIBE (Event,
Expires, Accept, Contact) and returns a :class:`Subscription` after its 2xx (else raises
:class:`SubscribeFailed`). The dialog comes from the 2xx, or from a NOTIFY that beats
it (§4.1.2.4: matched on Call-ID, To tag = our From tag and Event). NOTIFYs are
answered 200 and yielded in order by ``async for n in sub``; a ``terminated`` state ends
the iteration. Refreshes are in-dialog SUBSCRIBEs sent by a timer
(:func:`~sipwright.event.refresh_delay` of the lifetime granted by the last 2xx or
NOTIFY); :meth:`Subscription.unsubscribe` sends ``Expires: 0`` and waits (bounded)
for the final NOTIFY.

Notifier: ``ua.on_subscribe = handler`` gets an :class:`IncomingSubscription` per new
SUBSCRIBE: ``accept()`` (200 + an immediate NOTIFY, §4.2.1.2), ``notify(body)``,
``terminate(reason)``, ``reject(status)``. Refreshes get 200 + NOTIFY automatically
(§4.2.1.4); ``Expires: 0`` and expiry send ``terminated;reason=timeout``. No handler:
489 Bad Event (or, when only ``ua.on_request`` is set, the SUBSCRIBE goes there as
before); no Event: 400; Expires below ``min_expires``: 423 + Min-Expires.

The :class:`EventManager` of the UA claims the SUBSCRIBEs and NOTIFYs of its own
subscriptions before the dialog path of the UA; anything else (a NOTIFY of REFER in a
call's dialog...) is left to it. Subscription dialogs live in ``ua.dialogs`` (§12 CSeq
checks: 500 for an old CSeq). Limits: one subscription per dialog (a SUBSCRIBE in it
with another Event gets 489); the NOTIFYs of other forks of our SUBSCRIBE get 481.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..dialog import Dialog, DialogId, DialogState
from ..errors import ParseError, SipError
from ..event import (
    DEFAULT_EXPIRES,
    MIN_EXPIRES,
    EventHeader,
    Notifier,
    NotifierStatus,
    Subscriber,
    SubscriberAction,
    SubscriberStatus,
    SubscriptionState,
    event_of,
    parse_event,
    subscription_state_of,
)
from ..message import Request, Response
from ..transaction import Destination
from ..uri import SipUri
from .endpoint import ServerRequest

if TYPE_CHECKING:
    from .ua import UserAgent

__all__ = [
    "EventManager",
    "IncomingSubscription",
    "Notification",
    "SubscribeFailed",
    "Subscription",
]

log = logging.getLogger("sipwright.ua")

#: Seconds :meth:`Subscription.unsubscribe` waits for the final NOTIFY by default.
UNSUBSCRIBE_WAIT = 5.0


class SubscribeFailed(SipError):
    """A SUBSCRIBE got a non-2xx final response (``status_code``, ``response``):
    489 Bad Event, 403, 404..."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"SUBSCRIBE answered {response.status_code} {response.reason}")
        self.response = response
        self.status_code = response.status_code


@dataclass(frozen=True, slots=True)
class Notification:
    """One NOTIFY received: its Subscription-State, body and Content-Type."""

    state: SubscriptionState
    body: bytes
    content_type: str | None
    request: Request

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _expires_of(message: Request | Response) -> int | None:
    try:
        return message.expires
    except ParseError:
        return None


def _sync_seq(dialog: Dialog, request: Request) -> None:
    """Keep the dialog's local CSeq past an authenticated retry (which took CSeq + 1)."""
    cseq = request.cseq
    if cseq is not None and dialog.local_seq is not None:
        dialog.local_seq = max(dialog.local_seq, cseq.number)


def _first_contact(request: Request) -> SipUri | None:
    contacts = request.contact
    if not contacts or contacts[0].is_wildcard:
        return None
    uri = contacts[0].uri
    return uri if isinstance(uri, SipUri) else None


class Subscription:
    """A subscription we made (RFC 6665 §4.1). Iterate it for its :class:`Notification`
    values; ``state`` / ``reason`` / ``retry_after`` / ``expires`` say where it stands."""

    def __init__(
        self,
        ua: UserAgent,
        request: Request,
        hop: Destination,
        event: EventHeader,
        *,
        expires: int,
        accept: tuple[str, ...],
        refresh: bool,
    ) -> None:
        self._ua = ua
        #: The last SUBSCRIBE sent (initial, refresh or unsubscribe).
        self.request = request
        self._hop = hop
        self.event = event
        self.accept = accept
        self.auto_refresh = refresh
        self.machine = Subscriber(expires, notify_timeout=64 * ua.endpoint.layer.config.t1)
        self.dialog: Dialog | None = None
        #: Refresh SUBSCRIBEs answered 2xx so far.
        self.refreshes = 0
        #: The last NOTIFY received.
        self.last_notification: Notification | None = None
        self._queue: asyncio.Queue[Notification | None] = asyncio.Queue()
        self._ended = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- state ---------------------------------------------------------------------

    @property
    def state(self) -> SubscriberStatus:
        return self.machine.status

    @property
    def is_terminated(self) -> bool:
        return self.machine.is_terminated

    @property
    def reason(self) -> str | None:
        """Why it ended: the final NOTIFY's reason (§4.1.3) or a local one."""
        return self.machine.reason

    @property
    def retry_after(self) -> int | None:
        return self.machine.retry_after

    @property
    def expires(self) -> int | None:
        """Lifetime granted by the last 2xx or NOTIFY (seconds)."""
        return self.machine.granted

    @property
    def call_id(self) -> str | None:
        return self.request.call_id

    def __aiter__(self) -> AsyncIterator[Notification]:
        return self.notifications()

    async def notifications(self) -> AsyncIterator[Notification]:
        """The NOTIFYs in arrival order; ends after the one saying ``terminated``."""
        while True:
            item = await self._queue.get()
            if item is None:
                self._queue.put_nowait(None)  # later iterators end too
                return
            yield item

    async def terminated(self) -> str | None:
        """Wait for the end of the subscription; its :attr:`reason`."""
        await self._ended.wait()
        return self.reason

    # -- sending -------------------------------------------------------------------

    def _add_headers(self, request: Request, expires: int) -> None:
        request.headers.add("Event", str(self.event))
        request.headers.add("Expires", str(expires))
        if self.accept:
            request.headers.add("Accept", ", ".join(self.accept))

    async def _start(self) -> Response:
        """The initial SUBSCRIBE (§4.1.2.1): auth retries, one 423 retry (§4.2.1.1)."""
        ua = self._ua
        request, response = await ua.send(self.request, self._hop)
        self.request = request
        expires = self.machine.expires
        minimum = response.min_expires if response.status_code == 423 else None
        if minimum is not None and expires and minimum > expires:
            retry = Request("SUBSCRIBE", request.uri, [f for f in request.headers if f[0] != "Via"])
            cseq = request.cseq
            retry.headers.set("CSeq", f"{(cseq.number if cseq else 1) + 1} SUBSCRIBE")
            retry.headers.set("Expires", str(minimum))
            retry.set_body(request.body, request.content_type)
            self.machine.expires = minimum
            self.request, response = await ua.send(retry, self._hop)
        return self._on_initial_response(response)

    def _on_initial_response(self, response: Response) -> Response:
        ua = self._ua
        code = response.status_code
        now = asyncio.get_running_loop().time()
        if 200 <= code < 300:
            dialog = ua.dialogs.receive_response(self.request, response)
            if self._ended.is_set():  # a NOTIFY ended it before this 2xx came
                if dialog is not None and dialog is not self.dialog:
                    ua.dialogs.remove(dialog)
                return response
            if self.dialog is None:
                self.dialog = dialog
            elif dialog is not None and dialog is not self.dialog:
                ua.dialogs.remove(dialog)  # another fork's 2xx: not ours to keep (§4.1.4)
            if self.dialog is not None:
                _sync_seq(self.dialog, self.request)
                ua.events._bind(self.dialog.id, self)
            self.machine.response_received(code, _expires_of(response), now)
            if not self.is_terminated:
                self._task = ua._spawn(self._run_timers())
            else:
                self._finish()
            return response
        if self.dialog is not None:  # an early NOTIFY made one; the SUBSCRIBE failed
            self.machine.terminate(str(code))
        self.machine.response_received(code, None, now)
        self._finish()
        raise SubscribeFailed(response)

    async def _send_subscribe(self, expires: int) -> Response | None:
        """An in-dialog SUBSCRIBE: a refresh, or ``expires == 0`` to unsubscribe."""
        ua = self._ua
        dialog = self.dialog
        if dialog is None or dialog.is_terminated:
            return None
        request, hop = ua._in_dialog_request(dialog, "SUBSCRIBE", self._hop)
        self._add_headers(request, expires)
        try:
            request, response = await ua.send(request, hop)
        except SipError as exc:
            log.warning("SUBSCRIBE refresh failed: %s", exc)
            self.machine.response_received(503, None, asyncio.get_running_loop().time())
            self._wake.set()
            return None
        self.request = request
        _sync_seq(dialog, request)
        ua.dialogs.receive_response(request, response)
        code = response.status_code
        minimum = response.min_expires if code == 423 else None
        if minimum is not None and expires and minimum > expires:
            self.machine.expires = minimum
            return await self._send_subscribe(minimum)
        now = asyncio.get_running_loop().time()
        self.machine.response_received(code, _expires_of(response), now)
        if 200 <= code < 300 and expires:
            self.refreshes += 1
        if self.is_terminated:
            self._finish()
        self._wake.set()
        return response

    async def refresh(self) -> Response | None:
        """Refresh now (§4.1.2.2): an in-dialog SUBSCRIBE, same Event; its response."""
        return await self._send_subscribe(self.machine.expires)

    async def unsubscribe(self, timeout: float = UNSUBSCRIBE_WAIT) -> Notification | None:
        """Send ``Expires: 0`` in the dialog (§4.1.2.3) and wait up to ``timeout`` s for
        the final NOTIFY; return it (None when it did not come or the dialog was gone)."""
        if not self.is_terminated:
            self.machine.unsubscribe()
            self._wake.set()
            response = await self._send_subscribe(0)
            if response is not None and 200 <= response.status_code < 300:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._ended.wait(), timeout)
            self.machine.terminate("unsubscribed")
            self._finish()
        last = self.last_notification
        return last if last is not None and last.state.is_terminated else None

    # -- receiving -----------------------------------------------------------------

    def _dialog_from_notify(self, request: Request, target: SipUri) -> Dialog:
        """The dialog a NOTIFY creates when it beats the 2xx (§4.1.2.4): built as the
        UAS of that NOTIFY would (§12.1.1), local side = our SUBSCRIBE's From."""
        ours, theirs, cseq = self.request.from_, request.from_, request.cseq
        sub_cseq = self.request.cseq
        if ours is None or theirs is None or cseq is None or sub_cseq is None:
            raise SipError("NOTIFY or SUBSCRIBE without From / CSeq")
        return Dialog(
            call_id=request.call_id or "",
            local=ours,
            remote=theirs,
            remote_target=target,
            route_set=request.record_route,
            local_seq=sub_cseq.number,
            remote_seq=cseq.number,
            secure=isinstance(self.request.uri, SipUri) and self.request.uri.scheme == "sips",
            is_uac=True,
            state=DialogState.CONFIRMED,
            ids=self._ua.endpoint.ids,
            local_contact=self.request.headers.get("Contact"),
        )

    async def _on_notify(self, sreq: ServerRequest) -> None:
        """A NOTIFY for this subscription (§4.1.3). Everything up to the queueing runs
        without awaiting, so NOTIFYs are delivered in arrival order."""
        ua = self._ua
        request = sreq.request
        try:
            event = event_of(request)
            state = subscription_state_of(request)
        except ParseError as exc:
            sreq.respond_now(400, exc.reason)
            return
        if event is None:
            sreq.respond_now(400, "Missing Event Header")  # mandatory, §8.2.1 / §7.2
            return
        if not event.matches(self.event):
            sreq.respond_now(489)  # §4.1.3: the Event is not this subscription's
            return
        if state is None:
            sreq.respond_now(400, "Missing Subscription-State")  # §8.2.3
            return
        dialog = self.dialog
        if dialog is None:
            target = _first_contact(request)
            if target is None:
                sreq.respond_now(400, "Missing Contact")  # §8.1.1.8: it would set the target
                return
            if not state.is_terminated:  # §4.4.1: a terminated NOTIFY creates no dialog
                try:
                    made = self._dialog_from_notify(request, target)
                except (SipError, ValueError):  # a malformed Record-Route, From...
                    sreq.respond_now(400, "Malformed NOTIFY")
                    return
                dialog = ua.dialogs.add(made)
                self.dialog = dialog
                ua.events._bind(dialog.id, self)
        else:
            matched, rejection = ua.dialogs.receive_request(request)
            if rejection is not None:
                sreq.respond_now(rejection.status_code, rejection.reason)
                return
            if matched is not dialog:  # pragma: no cover - the manager matched the id
                sreq.respond_now(481)
                return
        response = sreq.make_response(200)
        sreq.respond_now(200)
        if dialog is not None:
            dialog.response_sent(request, response)
        self.machine.notify_received(state, asyncio.get_running_loop().time())
        notification = Notification(state, request.body, request.content_type, request)
        self.last_notification = notification
        self._queue.put_nowait(notification)
        if self.is_terminated:
            self._finish()
        self._wake.set()

    # -- timers and the end ----------------------------------------------------------

    async def _run_timers(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self.is_terminated:
                self._wake.clear()
                deadline = self.machine.next_timer()
                delay = None if deadline is None else deadline - loop.time()
                if delay is None or delay > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                    continue
                action = self.machine.handle_timer(loop.time())
                if action is SubscriberAction.REFRESH and self.auto_refresh:
                    await self._send_subscribe(self.machine.expires)
                elif action is SubscriberAction.EXPIRED:
                    log.info("subscription %s ended: %s", self.call_id, self.reason)
        finally:
            if not self.is_terminated:
                self.machine.terminate("closed")
            self._finish()

    def _finish(self) -> None:
        if self._ended.is_set():
            return
        self.machine.terminate("closed")
        ua = self._ua
        ua.events._forget(self)
        dialog = self.dialog
        if dialog is not None:
            dialog.terminate()
            ua.dialogs.remove(dialog)
        self._queue.put_nowait(None)
        self._ended.set()
        self._wake.set()

    def __repr__(self) -> str:
        return f"<Subscription {self.event} {self.state.value} {self.call_id}>"


class IncomingSubscription:
    """A SUBSCRIBE offered to ``ua.on_subscribe`` (RFC 6665 §4.2): answer it with
    :meth:`accept` or :meth:`reject`, then :meth:`notify` / :meth:`terminate`.

    ``event``: its Event; ``expires_requested``: its Expires (None when absent);
    ``subscriber``: the From URI; ``request``: the SUBSCRIBE.
    """

    def __init__(
        self, ua: UserAgent, manager: EventManager, sreq: ServerRequest, event: EventHeader
    ) -> None:
        self._ua = ua
        self._server = sreq
        self.request = sreq.request
        self.event = event
        self.expires_requested = _expires_of(sreq.request)
        from_ = sreq.request.from_
        self.subscriber = str(from_.uri) if from_ is not None else ""
        self.machine = Notifier(
            min_expires=manager.min_expires,
            max_expires=manager.max_expires,
            default_expires=manager.default_expires,
        )
        self.dialog: Dialog | None = None
        #: The current state document, sent in every NOTIFY (§4.2.1.2, §4.2.2).
        self.body = b""
        self.content_type: str | None = None
        #: Refresh SUBSCRIBEs accepted so far.
        self.refreshes = 0
        #: The cap ``accept(expires=...)`` set: refreshes are granted no more (§4.2.1.4).
        self.max_expires: int | None = None
        self._lock = asyncio.Lock()
        self._answering = False
        self._settled = asyncio.Event()
        self._ended = asyncio.Event()
        self._wake = asyncio.Event()

    @property
    def status(self) -> NotifierStatus:
        return self.machine.status

    @property
    def is_terminated(self) -> bool:
        return self.machine.is_terminated

    @property
    def reason(self) -> str | None:
        return self.machine.reason

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _ok_headers(self, expires: int) -> list[tuple[str, str]]:
        return [("Contact", f"<{self._ua.contact}>"), ("Expires", str(expires))]

    def _set_state(self, body: bytes | str | None, content_type: str | None) -> None:
        if body is not None:
            self.body = body.encode("utf-8") if isinstance(body, str) else body
            self.content_type = content_type or self.content_type or "text/plain"
        elif content_type is not None:
            self.content_type = content_type

    async def accept(
        self,
        expires: int | None = None,
        *,
        body: bytes | str | None = None,
        content_type: str | None = None,
        pending: bool = False,
        notify_first: bool = False,
    ) -> bool:
        """Answer 200 (202 is deprecated, §8.3.1) with the granted Expires, then send the
        immediate NOTIFY with the current state ``body`` (§4.2.1.2).

        ``expires``: grant less than asked (never more, §4.2.1.1). ``pending``: the
        subscription awaits authorization (``Subscription-State: pending``; call
        :meth:`notify` with ``active=True`` later). ``notify_first``: send the NOTIFY
        before the 200 (allowed, the subscriber copes per §4.1.2.4). False when the
        SUBSCRIBE was answered already.
        """
        server = self._server
        if server.answered or self._answering:
            return False
        self._answering = True
        granted = self.machine.decide(self.expires_requested).expires
        if expires is not None:
            self.max_expires = max(0, expires)
            granted = min(granted, self.max_expires)
        headers = self._ok_headers(granted)
        response = server.make_response(200, headers=headers)
        dialog = self._ua.dialogs.response_sent(self.request, response)  # §12.1.1
        if dialog is None:  # pragma: no cover - a 2xx to an out-of-dialog SUBSCRIBE
            return False
        self.dialog = dialog
        self._ua.events._bind(dialog.id, self)
        self._set_state(body, content_type)
        self.machine.subscribe_accepted(granted, self._now(), active=not pending)
        if notify_first:
            await self._send_notify()
            server.respond_now(200, headers=headers)
            self._settled.set()
        else:
            server.respond_now(200, headers=headers)
            self._settled.set()
            await self._send_notify()
        if not self.is_terminated:
            self._ua._spawn(self._run_timer())
        return True

    async def reject(self, status: int = 403, reason: str | None = None) -> bool:
        """Refuse the SUBSCRIBE: 403, 489 Bad Event, 404..."""
        if not 300 <= status < 700:
            raise ValueError("reject() takes a 3xx-6xx status")
        if self._server.answered or self._answering:
            return False
        self._answering = True
        self._settled.set()
        self.machine.terminate("rejected")
        self._ended.set()
        return self._server.respond_now(status, reason)

    async def notify(
        self,
        body: bytes | str | None = None,
        content_type: str | None = None,
        *,
        active: bool | None = None,
    ) -> Response | None:
        """Send a NOTIFY with the new state ``body`` (kept as the current state) and
        ``Subscription-State: active;expires=<seconds left>`` (or pending, §4.2.2).
        ``active=True`` authorizes a pending subscription. None when it is over."""
        if active:
            self.machine.activate()
        self._set_state(body, content_type)
        return await self._send_notify()

    async def terminate(
        self,
        reason: str | None = "noresource",
        *,
        retry_after: int | None = None,
        body: bytes | str | None = None,
        content_type: str | None = None,
    ) -> Response | None:
        """End the subscription: NOTIFY ``terminated;reason=...`` (§4.2.2, reasons §4.1.3)."""
        if self.is_terminated:
            return None
        self._set_state(body, content_type)
        self.machine.terminate(reason, retry_after)
        return await self._send_notify()

    async def ended(self) -> str | None:
        """Wait for the end of the subscription; the reason of its final NOTIFY."""
        await self._ended.wait()
        return self.reason

    async def _send_notify(self) -> Response | None:
        """One NOTIFY in the dialog; serialised so CSeq order = send order (§4.2.2)."""
        ua = self._ua
        async with self._lock:
            dialog = self.dialog
            if dialog is None or dialog.is_terminated or self._ended.is_set():
                return None
            state = self.machine.state(self._now())
            request, hop = ua._in_dialog_request(dialog, "NOTIFY", self._server.source)
            request.headers.add("Event", str(self.event))
            request.headers.add("Subscription-State", str(state))
            if self.body or self.content_type:
                request.set_body(self.body, self.content_type)
            try:
                request, response = await ua.send(request, hop)
            except SipError as exc:
                log.warning("NOTIFY failed: %s", exc)
                self.machine.terminate(None)
                self._finish()
                return None
            _sync_seq(dialog, request)
            ua.dialogs.receive_response(request, response)
            gave_up = response.status_code in (408, 481)
            if gave_up:
                # §4.2.2: a NOTIFY that timed out or found no subscription ends it.
                self.machine.terminate(self.machine.reason or "giveup")
            # Only a NOTIFY that *said* terminated (or found the subscriber gone) closes the
            # subscription: a terminate() waiting behind this NOTIFY must still send its own.
            if state.is_terminated or gave_up:
                self._finish()
            return response

    async def _on_subscribe(self, sreq: ServerRequest) -> None:
        """A SUBSCRIBE in our dialog: refresh or unsubscribe (§4.2.1.4, §4.1.2.3)."""
        ua = self._ua
        request = sreq.request
        dialog, rejection = ua.dialogs.receive_request(request)
        if rejection is not None:
            sreq.respond_now(rejection.status_code, rejection.reason)
            return
        if dialog is None or dialog is not self.dialog:  # pragma: no cover - matched by id
            sreq.respond_now(481)
            return
        try:
            event = event_of(request)
            requested = request.expires
        except ParseError as exc:
            self._reply(sreq, dialog, exc.status_code, exc.reason)
            return
        if event is None:
            self._reply(sreq, dialog, 400, "Missing Event Header")
            return
        if not event.matches(self.event):
            self._reply(sreq, dialog, 489)  # one subscription per dialog here
            return
        decision = self.machine.decide(requested)
        if decision.status != 200:
            headers = [("Min-Expires", str(decision.min_expires))]
            self._reply(sreq, dialog, decision.status, headers=headers)
            return
        granted = decision.expires
        if self.max_expires is not None:
            granted = min(granted, self.max_expires)
        self._reply(sreq, dialog, 200, headers=self._ok_headers(granted))
        self.machine.subscribe_accepted(granted, self._now())
        if granted:
            self.refreshes += 1
        self._wake.set()
        await self._send_notify()  # §4.2.1.4: always a NOTIFY after the 2xx

    @staticmethod
    def _reply(
        sreq: ServerRequest,
        dialog: Dialog,
        status: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        headers = list(headers)
        response = sreq.make_response(status, reason, headers)
        sreq.respond_now(status, reason, headers)
        dialog.response_sent(sreq.request, response)

    async def _run_timer(self) -> None:
        """Expiry without refresh: NOTIFY terminated;reason=timeout (§4.2.2)."""
        loop = asyncio.get_running_loop()
        try:
            while not self.is_terminated and not self._ended.is_set():
                self._wake.clear()
                deadline = self.machine.next_timer()
                delay = None if deadline is None else deadline - loop.time()
                if delay is None or delay > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                    continue
                if self.machine.handle_timer(loop.time()):
                    await self._send_notify()
        finally:
            if self._ua._closed:  # the UA closes: forget the subscription, send nothing
                self.machine.terminate("closed")
                self._finish()

    def _finish(self) -> None:
        if self._ended.is_set():
            return
        ua = self._ua
        ua.events._forget(self)
        dialog = self.dialog
        if dialog is not None:
            dialog.terminate()
            ua.dialogs.remove(dialog)
        self._ended.set()
        self._wake.set()

    def __repr__(self) -> str:
        return f"<IncomingSubscription {self.event} {self.status.value} from {self.subscriber}>"


SubscribeHandler = Callable[[IncomingSubscription], Awaitable[None]]


class EventManager:
    """The subscriptions of one UA, and the routing of SUBSCRIBE / NOTIFY to them.

    ``min_expires`` / ``max_expires`` / ``default_expires`` bound what the notifier
    grants (423 below the minimum, §4.2.1.1); ``answer_timeout``: seconds the
    ``on_subscribe`` handler has to accept or reject before a 480.
    """

    def __init__(self, ua: UserAgent) -> None:
        self._ua = ua
        self.min_expires = MIN_EXPIRES
        self.max_expires = DEFAULT_EXPIRES
        self.default_expires = DEFAULT_EXPIRES
        self.answer_timeout = 10.0
        # Subscriptions without a dialog yet, by (Call-ID, our From tag) (§4.1.2.4).
        self._pending: dict[tuple[str, str], Subscription] = {}
        self._by_dialog: dict[DialogId, Subscription | IncomingSubscription] = {}

    def __len__(self) -> int:
        """Subscriptions alive (both roles)."""
        return len(set(self._pending.values()) | set(self._by_dialog.values()))

    def _bind(self, dialog_id: DialogId, owner: Subscription | IncomingSubscription) -> None:
        self._by_dialog[dialog_id] = owner
        if isinstance(owner, Subscription):
            self._pending = {k: v for k, v in self._pending.items() if v is not owner}

    def _forget(self, owner: Subscription | IncomingSubscription) -> None:
        self._pending = {k: v for k, v in self._pending.items() if v is not owner}
        self._by_dialog = {k: v for k, v in self._by_dialog.items() if v is not owner}

    # -- subscriber ----------------------------------------------------------------

    async def subscribe(
        self,
        target: str,
        event: str | EventHeader,
        *,
        expires: int = DEFAULT_EXPIRES,
        accept: Iterable[str] = (),
        body: bytes | str | None = None,
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        refresh: bool = True,
    ) -> Subscription:
        """See :meth:`UserAgent.subscribe <sipwright.aio.ua.UserAgent.subscribe>`."""
        if expires < 0:
            raise ValueError("expires must be >= 0")
        ua = self._ua
        ev = parse_event(event) if isinstance(event, str) else event
        request, hop = ua._out_of_dialog("SUBSCRIBE", target, contact=True)
        sub = Subscription(
            ua, request, hop, ev, expires=expires, accept=tuple(accept), refresh=refresh
        )
        sub._add_headers(request, expires)
        for name, value in headers:
            request.headers.add(name, value)
        if body is not None:
            data = body.encode("utf-8") if isinstance(body, str) else body
            request.set_body(data, content_type or "text/plain")
        from_ = request.from_
        key = (request.call_id or "", from_.tag if from_ is not None and from_.tag else "")
        self._pending[key] = sub
        try:
            await sub._start()
        except BaseException:
            sub._finish()
            raise
        return sub

    # -- routing -------------------------------------------------------------------

    async def handle(self, sreq: ServerRequest) -> bool:
        """Take ``sreq`` if it is ours: any new SUBSCRIBE, a SUBSCRIBE in a dialog of an
        :class:`IncomingSubscription`, a NOTIFY of a :class:`Subscription` (matched by
        dialog, or before the dialog by Call-ID + To tag, §4.1.2.4). False otherwise."""
        request = sreq.request
        to, from_ = request.to, request.from_
        if request.method == "SUBSCRIBE":
            if to is None or to.tag is None:
                if self._ua.on_subscribe is None and self._ua.on_request is not None:
                    return False  # the application handles SUBSCRIBE itself
                await self._new_subscribe(sreq)
                return True
            if from_ is None or from_.tag is None:
                return False
            owner = self._by_dialog.get(DialogId(request.call_id or "", to.tag, from_.tag))
            if isinstance(owner, IncomingSubscription):
                await owner._on_subscribe(sreq)
                return True
            return False
        if request.method != "NOTIFY" or to is None or to.tag is None:
            return False
        if from_ is not None and from_.tag is not None:
            owner = self._by_dialog.get(DialogId(request.call_id or "", to.tag, from_.tag))
            if isinstance(owner, Subscription):
                await owner._on_notify(sreq)
                return True
            if owner is not None:
                return False
        pending = self._pending.get((request.call_id or "", to.tag))
        if pending is not None and pending.dialog is None:
            await pending._on_notify(sreq)
            return True
        return False

    async def _new_subscribe(self, sreq: ServerRequest) -> None:
        """A SUBSCRIBE outside any dialog (§4.2.1.1)."""
        request = sreq.request
        try:
            event = event_of(request)
            requested = request.expires
        except ParseError as exc:
            sreq.respond_now(exc.status_code, exc.reason)
            return
        if event is None:
            sreq.respond_now(400, "Missing Event Header")  # Event is mandatory (§8.2.1)
            return
        if not request.contact:
            sreq.respond_now(400, "Missing Contact")  # §8.1.1.8: it creates a dialog
            return
        handler = self._ua.on_subscribe
        if handler is None:
            sreq.respond_now(489)  # no package handled here (§8.3.2)
            return
        incoming = IncomingSubscription(self._ua, self, sreq, event)
        decision = incoming.machine.decide(requested)
        if decision.status != 200:
            sreq.respond_now(decision.status, headers=[("Min-Expires", str(decision.min_expires))])
            return
        task = self._ua._spawn(self._run_handler(handler, incoming))
        settled = asyncio.ensure_future(incoming._settled.wait())
        try:
            await asyncio.wait(
                {task, settled}, timeout=self.answer_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            settled.cancel()
        if not incoming._settled.is_set():
            await incoming.reject(480 if not task.done() else 500)

    @staticmethod
    async def _run_handler(handler: SubscribeHandler, incoming: IncomingSubscription) -> None:
        try:
            await handler(incoming)
        except Exception:
            log.exception("on_subscribe handler failed")
            await incoming.reject(500)
