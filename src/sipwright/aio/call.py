"""Calls of a :class:`~sipwright.aio.ua.UserAgent` (RFC 3261 §13–§15), on the dialog layer.

:class:`OutgoingCall` (placed with ``ua.dial`` / ``ua.call``) and :class:`IncomingCall`
(offered by ``ua.incoming()`` / ``ua.on_call``) share :class:`Call`: the dialog, the
session descriptions, in-dialog requests and the end of the call. The user agent routes
every in-dialog request whose dialog belongs to a call to :meth:`Call._handle_request`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from typing import TYPE_CHECKING

from ..dialog import Dialog, build_cancel
from ..errors import SipError
from ..message import Request, Response
from ..transaction import Destination
from .endpoint import ServerRequest

if TYPE_CHECKING:
    from .ua import UserAgent

__all__ = ["Call", "CallFailed", "CallState", "IncomingCall", "OutgoingCall"]

log = logging.getLogger("sipwright.ua")

#: At most this many authenticated retries per request (one per challenge is the norm).
MAX_AUTH_RETRIES = 3


class CallState(enum.Enum):
    """Where a call is. ``CALLING``/``RINGING``: INVITE pending (early dialog on a 1xx with
    a To tag); ``ANSWERED``: the UAS sent its 2xx, no ACK yet; ``CONFIRMED``: 2xx and ACK;
    ``ENDED``: BYE (either side); ``FAILED``: a non-2xx final (486, 487 after CANCEL...)."""

    CALLING = "calling"
    RINGING = "ringing"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    ENDED = "ended"
    FAILED = "failed"


class CallFailed(SipError):
    """The INVITE ended with a non-2xx final response (``response``, ``status_code``)."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"INVITE answered {response.status_code} {response.reason}")
        self.response = response
        self.status_code = response.status_code


def _body(sdp: bytes | str | None) -> bytes | None:
    return sdp.encode("utf-8") if isinstance(sdp, str) else sdp


class Call:
    """One call (an INVITE dialog) of a :class:`UserAgent`; see :class:`OutgoingCall` and
    :class:`IncomingCall`. ``dialog`` is the :class:`~sipwright.dialog.Dialog` (None
    until a 1xx with a To tag or the 2xx); ``remote_sdp`` the peer's session
    description (the 2xx body for an outgoing call, the INVITE body for an incoming one).
    """

    def __init__(self, ua: UserAgent, state: CallState) -> None:
        self._ua = ua
        self.state = state
        self.dialog: Dialog | None = None
        self.local_sdp: bytes | None = None
        self.remote_sdp: bytes | None = None
        #: Why the call ended: ``"local BYE"``, ``"remote BYE"``, ``"487 Request
        #: Terminated"``...; None while it lasts.
        self.end_reason: str | None = None
        #: Where in-dialog requests go when the route set / remote target give no IP.
        self._fallback: Destination | None = None
        self._ended = asyncio.Event()

    @property
    def call_id(self) -> str | None:
        return self.dialog.call_id if self.dialog is not None else None

    @property
    def is_over(self) -> bool:
        return self.state in (CallState.ENDED, CallState.FAILED)

    async def ended(self) -> str:
        """Wait until the call is over (BYE from either side, or failure); the reason."""
        await self._ended.wait()
        return self.end_reason or ""

    def _finish(self, state: CallState, reason: str) -> None:
        if self.is_over:
            return
        self.state = state
        self.end_reason = reason
        dialog = self.dialog
        if dialog is not None:
            dialog.terminate()
            self._ua.dialogs.remove(dialog)
            self._ua._calls.pop(dialog.id, None)
        self._ended.set()

    def _track_dialog(self, dialog: Dialog) -> None:
        self.dialog = dialog
        self._ua._calls[dialog.id] = self

    async def _handle_request(self, sreq: ServerRequest, dialog: Dialog) -> None:
        """An in-dialog request for this call's dialog, after the dialog layer's checks
        (CSeq order, 481, glare). Each method family has its own handler."""
        method = sreq.request.method
        if method == "BYE":
            await sreq.respond(200)  # §15.1.2
            self._finish(CallState.ENDED, "remote BYE")
        elif method == "PRACK":
            await self._on_prack(sreq, dialog)
        elif method in ("REFER", "NOTIFY"):
            await self._on_refer_request(sreq, dialog)
        else:
            await self._on_session_request(sreq, dialog)

    async def _reply(self, sreq: ServerRequest, dialog: Dialog, status: int) -> None:
        """Answer ``sreq`` with a bare ``status`` and let the dialog see the response."""
        response = sreq.make_response(status)
        await sreq.respond(status)
        dialog.response_sent(sreq.request, response)

    async def _on_prack(self, sreq: ServerRequest, dialog: Dialog) -> None:
        """PRACK (RFC 3262 §3): no reliable provisional is pending here."""
        await self._reply(sreq, dialog, 481)

    async def _on_refer_request(self, sreq: ServerRequest, dialog: Dialog) -> None:
        """REFER and its NOTIFYs (RFC 3515) inside the call's dialog."""
        await self._reply(sreq, dialog, 501)

    async def _on_session_request(self, sreq: ServerRequest, dialog: Dialog) -> None:
        """re-INVITE, UPDATE, INFO and any other in-dialog request."""
        await self._reply(sreq, dialog, 501)

    async def bye(self) -> Response:
        """End the call with an in-dialog BYE (§15.1.1) built by the dialog; its final response.

        The call is over as soon as the BYE is sent (§15.1.1), whatever the answer.
        """
        dialog = self.dialog
        if dialog is None or self.state not in (CallState.ANSWERED, CallState.CONFIRMED):
            raise SipError(f"no established call to end (state {self.state.value})")
        request, hop = self._ua._in_dialog_request(dialog, "BYE", self._fallback)
        self._finish(CallState.ENDED, "local BYE")
        request, response = await self._ua.send(request, hop)
        cseq = request.cseq
        if cseq is not None and dialog.local_seq is not None:
            dialog.local_seq = max(dialog.local_seq, cseq.number)  # after an auth retry
        return response


class OutgoingCall(Call):
    """A call we placed with :meth:`UserAgent.dial` / :meth:`UserAgent.call`."""

    def __init__(self, ua: UserAgent, invite: Request, hop: Destination) -> None:
        super().__init__(ua, CallState.CALLING)
        #: The INVITE as last sent (its top Via is filled in once it is sent).
        self.invite = invite
        self.local_sdp = invite.body or None
        self._fallback = hop
        self._hop = hop
        #: Provisional responses received, in order.
        self.provisional: list[Response] = []
        #: The INVITE's final response (None while pending).
        self.final_response: Response | None = None
        self._sent_provisional = asyncio.Event()
        self._final = asyncio.Event()
        self._cancel_requested = False
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        ua = self._ua
        request = self.invite
        try:
            for attempt in range(MAX_AUTH_RETRIES + 1):
                self.invite = request
                response = await ua.endpoint.request(
                    request, self._hop, on_provisional=self._on_provisional
                )
                if (
                    response.status_code not in (401, 407)
                    or ua._digest is None
                    or attempt == MAX_AUTH_RETRIES
                    or self._cancel_requested
                ):
                    break
                retry = ua._digest.retry(request, response)
                if retry is None:
                    break
                request = retry
        except SipError as exc:  # endpoint closed
            self.final_response = None
            self._finish(CallState.FAILED, f"error: {exc}")
            self._final.set()
            return
        self._on_final(response)

    def _on_provisional(self, response: Response) -> None:
        self.provisional.append(response)
        self._sent_provisional.set()
        dialog = self._ua.dialogs.receive_response(self.invite, response)
        if dialog is not None and self.dialog is None:
            self._track_dialog(dialog)
        if response.status_code > 100 and self.state is CallState.CALLING:
            self.state = CallState.RINGING

    def _on_final(self, response: Response) -> None:
        self.final_response = response
        dialog = self._ua.dialogs.receive_response(self.invite, response)
        if 200 <= response.status_code < 300 and dialog is not None:
            # The endpoint (auto_ack) has sent the ACK already (§13.2.2.4).
            if self.dialog is not None and self.dialog is not dialog:
                self._ua._calls.pop(self.dialog.id, None)
            self._track_dialog(dialog)
            self.remote_sdp = response.body or None
            self.state = CallState.CONFIRMED
            self._final.set()
            if self._cancel_requested:
                # §15: a 2xx that crossed our CANCEL: the call is up, so end it with BYE.
                self._ua._spawn(self._bye_quietly())
            return
        if self.dialog is not None:  # the non-2xx ended the early dialog(s) (§13.2.2.3)
            self._ua._calls.pop(self.dialog.id, None)
        self._finish(CallState.FAILED, f"{response.status_code} {response.reason}")
        self._final.set()

    async def _bye_quietly(self) -> None:
        with contextlib.suppress(SipError):
            await self.bye()

    async def answered(self) -> OutgoingCall:
        """Wait for the INVITE's final response; self on a 2xx, else :class:`CallFailed`."""
        await self._final.wait()
        response = self.final_response
        if response is None:
            raise SipError(self.end_reason or "call failed")
        if not 200 <= response.status_code < 300:
            raise CallFailed(response)
        return self

    async def cancel(self) -> Response | None:
        """CANCEL the pending INVITE (§9.1); return the INVITE's final response.

        Same Request-URI, Call-ID, To, From, CSeq number and top Via (branch) as the
        INVITE. As §9.1 requires, it waits for a provisional response first (the INVITE
        transaction's own timeout bounds that). After a final response it does nothing;
        a 2xx that crosses the CANCEL is ended with a BYE.
        """
        if self._final.is_set():
            return self.final_response
        self._cancel_requested = True
        provisional = asyncio.ensure_future(self._sent_provisional.wait())
        final = asyncio.ensure_future(self._final.wait())
        try:
            await asyncio.wait({provisional, final}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            provisional.cancel()
            final.cancel()
        if not self._final.is_set():
            cancel = build_cancel(self.invite)
            cancel.headers.add("User-Agent", self._ua.user_agent)
            response = await self._ua.endpoint.request(cancel, self._hop)
            log.debug("CANCEL answered %s %s", response.status_code, response.reason)
        await self._final.wait()
        return self.final_response


class IncomingCall(Call):
    """A call offered to us: answer with :meth:`ringing`, :meth:`answer`, :meth:`reject`.

    ``request`` is the INVITE; ``remote_sdp`` its body (None for an offerless INVITE:
    then the offer would come in the 2xx and the answer in the ACK, which this slice
    does not handle). ``cancelled`` is set when the caller CANCELs (the endpoint then
    answered 487 and the call is FAILED).
    """

    def __init__(self, ua: UserAgent, server: ServerRequest) -> None:
        super().__init__(ua, CallState.CALLING)
        self._server = server
        self.request = server.request
        self.remote_sdp = server.request.body or None
        self._fallback = server.source
        self._settled = asyncio.Event()
        self._acked = asyncio.Event()

    @property
    def cancelled(self) -> asyncio.Event:
        return self._server.cancelled

    @property
    def from_(self) -> str:
        return self.request.headers.get("From") or ""

    def _respond(
        self, status: int, reason: str | None = None, body: bytes | None = None
    ) -> Response | None:
        """Send a response to the INVITE and apply it to the dialog layer."""
        server = self._server
        if server.answered or server.cancelled.is_set():
            return None
        headers: list[tuple[str, str]] = []
        if 100 < status < 300:
            headers.append(("Contact", f"<{self._ua.contact}>"))
        content_type = "application/sdp" if body else None
        response = server.make_response(status, reason, headers, body or b"", content_type)
        if not server.respond_now(status, reason, headers, body or b"", content_type):
            return None
        dialog = self._ua.dialogs.response_sent(self.request, response)
        if dialog is not None and status < 300 and self.dialog is None:
            self._track_dialog(dialog)
        return response

    async def ringing(self) -> bool:
        """Send 180 Ringing with our To tag and Contact: an early dialog (§13.3.1.1)."""
        if self._respond(180) is None:
            return False
        self.state = CallState.RINGING
        return True

    async def answer(self, sdp: bytes | str | None = None) -> bool:
        """Send 200 with ``sdp`` (the answer) and Contact; the endpoint retransmits it
        until the ACK, which makes the call CONFIRMED (:meth:`confirmed`). False when
        the INVITE is gone (cancelled, already answered)."""
        body = _body(sdp)
        if self._respond(200, body=body) is None:
            return False
        self.local_sdp = body
        if not self.is_over:
            self.state = CallState.CONFIRMED if self._acked.is_set() else CallState.ANSWERED
        self._settled.set()
        return True

    async def reject(self, status: int = 486, reason: str | None = None) -> bool:
        """Send a final non-2xx (486 Busy Here by default); the transaction gets its ACK."""
        if not 300 <= status < 700:
            raise ValueError("reject() takes a 3xx-6xx status")
        if self._respond(status, reason) is None:
            return False
        if self.dialog is not None:
            self._ua._calls.pop(self.dialog.id, None)
            self.dialog = None
        self._finish(CallState.FAILED, f"rejected {status}")
        self._settled.set()
        return True

    async def confirmed(self) -> None:
        """Wait for the ACK of our 2xx."""
        await self._acked.wait()

    def _on_ack(self) -> None:
        self._acked.set()
        if self.state is CallState.ANSWERED:
            self.state = CallState.CONFIRMED

    def _on_cancel(self) -> None:
        # The endpoint answered the CANCEL 200 and the INVITE 487 (§9.2).
        response = self._server.make_response(487)
        self._ua.dialogs.response_sent(self.request, response)
        if self.dialog is not None:
            self._ua._calls.pop(self.dialog.id, None)
            self.dialog = None
        self._finish(CallState.FAILED, "cancelled")
        self._settled.set()
