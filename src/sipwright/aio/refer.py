"""Blind transfer with REFER (RFC 3515) inside a call's dialog.

Transferor: :meth:`Call.refer <sipwright.aio.call.Call.refer>` sends the REFER and
returns a :class:`Transfer` once a 2xx (202) accepted it; the NOTIFYs of the implicit
``refer`` subscription (§2.4.4) arrive in the same dialog, are answered 200 and feed
:attr:`Transfer.progress`; :meth:`Transfer.outcome` gives the final sipfrag status.

Transferee: a REFER in an established call goes through the application's hook
(``call.on_refer``, else ``ua.on_refer``: ``async (referral) -> bool``; False gives 603
Declined), is accepted with 202, followed at once by a NOTIFY ``SIP/2.0 100 Trying``
(§2.4.4: the subscription starts active); then the UA dials the Refer-To target (its
embedded headers and the Referred-By copied into the INVITE, RFC 3261 §19.1.5 and
RFC 3892 §3) and reports the INVITE's final response in a NOTIFY with
``Subscription-State: terminated;reason=noresource``. The new call is
:attr:`Referral.call`. A REFER outside a dialog (no call) is not handled here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..dialog import Dialog
from ..errors import ParseError, SipError
from ..event import Reason, SubscriptionState, event_of, subscription_state_of
from ..headers import NameAddr
from ..message import Request, Response
from ..refer import (
    REFER_EVENT,
    SIPFRAG_CONTENT_TYPE,
    ReferTo,
    SipFrag,
    build_sipfrag,
    parse_refer_to,
    parse_referred_by,
    parse_sipfrag,
)
from .endpoint import ServerRequest

if TYPE_CHECKING:
    from .call import Call, OutgoingCall

__all__ = ["ReferHandler", "Referral", "Transfer", "TransferFailed"]

log = logging.getLogger("sipwright.ua")

#: Lifetime announced in the NOTIFYs of an active refer subscription (RFC 6665 §4.1.3).
SUBSCRIPTION_EXPIRES = 60


class TransferFailed(SipError):
    """The REFER got a non-2xx final response (``response``, ``status_code``)."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"REFER answered {response.status_code} {response.reason}")
        self.response = response
        self.status_code = response.status_code


class Transfer:
    """A REFER we sent and its implicit subscription (transferor side, RFC 3515 §2.4.4).

    ``request`` / ``response``: the REFER as last sent and its final response.
    ``progress``: the status code of every sipfrag NOTIFY received, in order;
    ``final``: the final (>= 200) one; ``subscription_state`` the latest
    ``Subscription-State`` value (``active``, ``terminated``...).
    """

    def __init__(self, call: Call, refer_to: str, request: Request) -> None:
        self.call = call
        self.refer_to = refer_to
        self.request = request
        self.response: Response | None = None
        self.progress: list[int] = []
        self.frags: list[SipFrag] = []
        self.final: SipFrag | None = None
        self.subscription_state: str | None = None
        self._terminated = asyncio.Event()

    @property
    def id(self) -> int:
        """The ``id`` parameter of its NOTIFYs' Event header: the REFER's CSeq (§2.4.6)."""
        cseq = self.request.cseq
        return cseq.number if cseq is not None else 0

    @property
    def terminated(self) -> bool:
        return self._terminated.is_set()

    async def outcome(self, timeout: float = 64.0) -> int:
        """The final sipfrag status code, once a NOTIFY with ``Subscription-State:
        terminated`` came (§2.4.7). :class:`SipError` if the subscription ended without
        a final status, :class:`TimeoutError` after ``timeout`` seconds."""
        await asyncio.wait_for(self._terminated.wait(), timeout)
        if self.final is None:
            raise SipError(f"refer subscription ended without a final status ({self.refer_to})")
        return self.final.status_code

    def _on_notify(self, state: SubscriptionState, frag: SipFrag | None) -> None:
        self.subscription_state = state.value
        if frag is not None:
            self.frags.append(frag)
            self.progress.append(frag.status_code)
            if frag.is_final:
                self.final = frag
        if state.is_terminated:
            self._terminated.set()


async def send_refer(
    call: Call,
    target: str,
    *,
    referred_by: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Transfer:
    """Send an in-dialog REFER to ``target`` on ``call``; the :class:`Transfer` after its 2xx.

    The REFER is built by the dialog (route set, CSeq + 1, tags, Contact as a target
    refresh, §12.2.1.1). The transfer is registered before sending, so a NOTIFY that
    overtakes the 202 is still matched.
    """
    from .call import CallState

    dialog = call.dialog
    if dialog is None or call.state not in (CallState.ANSWERED, CallState.CONFIRMED):
        raise SipError(f"no established call to transfer (state {call.state.value})")
    ua = call._ua
    request, hop = ua._in_dialog_request(dialog, "REFER", call._fallback)
    refer_to = target if target.lstrip().startswith("<") else f"<{target}>"
    request.headers.add("Refer-To", refer_to)
    if referred_by is not None:
        by = referred_by if referred_by.lstrip().startswith("<") else f"<{referred_by}>"
        request.headers.add("Referred-By", by)
    for name, value in headers:
        request.headers.add(name, value)
    transfer = Transfer(call, target, request)
    call.transfers.append(transfer)
    try:
        request, response = await ua.send(request, hop)
    except BaseException:
        call.transfers.remove(transfer)
        raise
    transfer.request = request
    transfer.response = response
    cseq = request.cseq
    if cseq is not None and dialog.local_seq is not None:
        dialog.local_seq = max(dialog.local_seq, cseq.number)  # after an auth retry
    dialog.receive_response(request, response)
    if not 200 <= response.status_code < 300:
        call.transfers.remove(transfer)
        raise TransferFailed(response)
    return transfer


async def _respond(
    sreq: ServerRequest,
    dialog: Dialog,
    status: int,
    reason: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    response = sreq.make_response(status, reason, headers or [])
    await sreq.respond(status, reason, headers or [])
    dialog.response_sent(sreq.request, response)


async def on_notify(call: Call, sreq: ServerRequest, dialog: Dialog) -> None:
    """A NOTIFY in the call's dialog: one of a :class:`Transfer`'s (RFC 3515 §2.4.4).

    489 for an Event other than ``refer`` (RFC 6665 §8.3.2), 481 when no REFER of ours
    matches its ``id`` (§2.4.6), 400 for a missing Subscription-State or a body that is
    not a sipfrag status line (§2.4.5); else 200 and the transfer learns the status.
    """
    request = sreq.request
    try:
        event = event_of(request)
    except ParseError as exc:
        await _respond(sreq, dialog, 400, exc.reason)
        return
    if event is None or event.type != REFER_EVENT:
        await _respond(sreq, dialog, 489, headers=[("Allow-Events", REFER_EVENT)])
        return
    transfer = _match_transfer(call, event.id)
    if transfer is None:
        await _respond(sreq, dialog, 481, "Subscription Does Not Exist")
        return
    try:
        sub_state = subscription_state_of(request)
        if sub_state is None:
            raise ParseError("Missing Subscription-State", header="Subscription-State")
        frag: SipFrag | None = None
        if request.body:
            media = request.media_type
            if media is None or media.value != "message/sipfrag":
                raise ParseError("Body is not message/sipfrag", 415, header="Content-Type")
            frag = parse_sipfrag(request.body)
    except ParseError as exc:
        extra = [("Accept", "message/sipfrag")] if exc.status_code == 415 else []
        await _respond(sreq, dialog, exc.status_code, exc.reason, extra)
        return
    await _respond(sreq, dialog, 200)
    transfer._on_notify(sub_state, frag)


def _match_transfer(call: Call, event_id: str | None) -> Transfer | None:
    """The live transfer a NOTIFY's Event ``id`` names; without an id, the latest one.

    A REFER still waiting for its final response may have been re-sent with
    credentials (new CSeq, so a new id) that we do not know yet: it takes an
    unmatched id.
    """
    live = [t for t in call.transfers if not t.terminated]
    if event_id is None:
        return live[-1] if live else None
    for transfer in live:
        if str(transfer.id) == event_id.strip():
            return transfer
    pending = [t for t in live if t.response is None]
    return pending[-1] if pending else None


#: ``async (referral) -> bool``: accept (True) or decline (False, 603) a REFER.
ReferHandler = Callable[["Referral"], Awaitable[bool]]


class Referral:
    """A REFER we accepted (transferee side) and what became of it.

    ``refer_to`` / ``referred_by``: the parsed headers; ``call``: the
    :class:`~sipwright.aio.call.OutgoingCall` placed to the target (None until
    dialled); ``final``: the sipfrag reported in the last NOTIFY.
    """

    def __init__(self, call: Call, request: Request, refer_to: ReferTo) -> None:
        self.original = call
        self.request = request
        self.refer_to = refer_to
        self.referred_by: NameAddr | None = parse_referred_by(request)
        self.call: OutgoingCall | None = None
        self.final: SipFrag | None = None
        self.notify_responses: list[Response] = []
        self._done = asyncio.Event()

    @property
    def id(self) -> int:
        cseq = self.request.cseq
        return cseq.number if cseq is not None else 0

    async def completed(self) -> OutgoingCall | None:
        """Wait until the final NOTIFY is sent; the new call if the target answered."""
        await self._done.wait()
        if self.call is not None and self.final is not None and self.final.status_code < 300:
            return self.call
        return None

    async def _notify(self, frag: SipFrag, terminated: bool) -> bool:
        """Send one NOTIFY of the refer subscription (§2.4.4, §2.4.5); False if it failed."""
        call = self.original
        dialog = call.dialog
        if dialog is None or call.is_over:
            return False
        state = (
            SubscriptionState.terminated(Reason.NORESOURCE)
            if terminated
            else SubscriptionState.active(SUBSCRIPTION_EXPIRES)
        )
        try:
            request, hop = call._ua._in_dialog_request(dialog, "NOTIFY", call._fallback)
            request.headers.add("Event", f"{REFER_EVENT};id={self.id}")
            request.headers.add("Subscription-State", str(state))
            request.set_body(build_sipfrag(frag.status_code, frag.reason), SIPFRAG_CONTENT_TYPE)
            request, response = await call._ua.send(request, hop)
        except (SipError, ValueError) as exc:
            log.debug("refer NOTIFY not sent: %s", exc)
            return False
        cseq = request.cseq
        if cseq is not None and dialog.local_seq is not None:
            dialog.local_seq = max(dialog.local_seq, cseq.number)
        dialog.receive_response(request, response)
        self.notify_responses.append(response)
        return 200 <= response.status_code < 300

    async def _run(self) -> None:
        """100 Trying, INVITE the target, then the terminating NOTIFY with its outcome."""
        from .call import CallFailed

        try:
            await self._notify(SipFrag(100, "Trying"), terminated=False)
            headers = list(self.refer_to.request_headers())
            if self.referred_by is not None:
                headers.append(("Referred-By", str(self.referred_by)))
            ua = self.original._ua
            try:
                self.call = ua.dial(str(self.refer_to.uri), headers=tuple(headers))
                await self.call.answered()
                final = SipFrag(200, "OK")
                if self.call.final_response is not None:
                    final = SipFrag(200, self.call.final_response.reason or "OK")
            except CallFailed as exc:
                final = SipFrag(exc.status_code, exc.response.reason)
            except (SipError, ValueError) as exc:
                log.debug("referred INVITE failed: %s", exc)
                final = SipFrag(503, "Service Unavailable")
            self.final = final
            await self._notify(final, terminated=True)
        finally:
            self._done.set()


async def on_refer(call: Call, sreq: ServerRequest, dialog: Dialog) -> None:
    """A REFER in the call's dialog (RFC 3515 §2.4.2): answer it and, if accepted, act.

    400 for a missing or repeated Refer-To (§2.4.1), 416 for a non-SIP target, 501 for
    a referred method other than INVITE, 403 outside an established call, 603 when the
    application's hook declines; else 202 and the :class:`Referral` runs.
    """
    from .call import CallState

    request = sreq.request
    if call.state not in (CallState.ANSWERED, CallState.CONFIRMED):
        await _respond(sreq, dialog, 403, "Call Not Established")
        return
    try:
        refer_to = parse_refer_to(request)
    except ParseError as exc:
        await _respond(sreq, dialog, exc.status_code, exc.reason)
        return
    if refer_to.method != "INVITE":
        await _respond(sreq, dialog, 501, f"Cannot Refer {refer_to.method[:20]}")
        return
    referral = Referral(call, request, refer_to)
    hook = call.on_refer if call.on_refer is not None else call._ua.on_refer
    if hook is not None:
        try:
            accepted = await hook(referral)
        except Exception:
            log.exception("on_refer hook failed")
            accepted = False
        if not accepted:
            await _respond(sreq, dialog, 603, "Declined")
            return
    await _respond(sreq, dialog, 202)
    call.referrals.append(referral)
    call._ua._spawn(referral._run())
