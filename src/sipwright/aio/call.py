"""Calls of a :class:`~sipwright.aio.ua.UserAgent` (RFC 3261 §13–§15), on the dialog layer.

:class:`OutgoingCall` (placed with ``ua.dial`` / ``ua.call``) and :class:`IncomingCall`
(offered by ``ua.incoming()`` / ``ua.on_call``) share :class:`Call`: the dialog, the
session descriptions, in-dialog requests and the end of the call. The user agent routes
every in-dialog request whose dialog belongs to a call to :meth:`Call._handle_request`.

Mid-call session changes (RFC 3261 §14, RFC 3264 §8, RFC 3311, RFC 6086):
:meth:`Call.reinvite`, :meth:`Call.hold` / :meth:`Call.resume`, :meth:`Call.update`,
:meth:`Call.send_dtmf` / :meth:`Call.info`; received re-INVITE/UPDATE offers are answered
by :meth:`Call.auto_answer` or the ``on_offer`` hook, DTMF INFOs read with
:meth:`Call.dtmf`. See docs/mid-call.md.

Blind transfer (RFC 3515): :meth:`Call.refer` sends a REFER and gives a
:class:`~sipwright.aio.refer.Transfer`; a REFER received in an established call is
accepted (202, NOTIFYs with sipfrag) and its target dialled, see :mod:`sipwright.aio.refer`.
Not yet: attended transfer (Replaces is copied into the INVITE but not honoured when
received), REFER outside a dialog, ``norefersub`` (RFC 4488).

Reliable provisionals (RFC 3262, :mod:`sipwright.dialog.reliable`): an
:class:`IncomingCall` sends them with ``ringing(reliable=True)`` / ``progress()`` and
answers PRACKs (:meth:`Call._on_prack`); an :class:`OutgoingCall` PRACKs each new RSeq
in its early dialog. Forking (§12.1.2, §13.2.2.4): :attr:`OutgoingCall.early_dialogs`,
one per To tag; a 2xx from a second fork is ACKed by the endpoint and ended with BYE.
Not yet: offers/answers in PRACK bodies or UPDATE in the early dialog (RFC 3262 §5), the
early media of several forks kept apart (``remote_sdp`` is the 2xx body).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from ..dialog import Dialog, DialogError, build_cancel
from ..dialog.reliable import (
    OPTION_TAG,
    RSEQ_MAX_INITIAL,
    RAck,
    ReliableProvisionals,
    RSeqTracker,
    is_reliable,
    parse_rseq,
    requires_100rel,
    wants_100rel,
)
from ..errors import ParseError, SipError
from ..message import Request, Response
from ..sdp import (
    Direction,
    LocalCapabilities,
    MediaCapability,
    SdpError,
    SessionDescription,
    is_hold,
    make_answer,
    next_version,
)
from ..sdp.attributes import DIRECTION_NAMES
from ..transaction import Destination
from .calls import default_sdp_offer
from .endpoint import ServerRequest
from .refer import (
    ReferHandler,
    Referral,
    Transfer,
    TransferFailed,
    on_notify,
    on_refer,
    send_refer,
)

if TYPE_CHECKING:
    from .ua import UserAgent

__all__ = [
    "Call",
    "CallFailed",
    "CallState",
    "IncomingCall",
    "OutgoingCall",
    "Transfer",
    "TransferFailed",
]

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


#: At most this many re-sends of a re-INVITE/UPDATE answered 491 (§14.1).
MAX_GLARE_RETRIES = 5
#: DTMF digits (RFC 4733 §3.2 events 0-15) that :meth:`Call.send_dtmf` sends.
DTMF_DIGITS = frozenset("0123456789*#ABCD")
#: INFO bodies taken as DTMF: the de-facto ``dtmf-relay`` (``Signal=5``) and ``dtmf``.
DTMF_CONTENT_TYPES = ("application/dtmf-relay", "application/dtmf")
#: Received digits kept for :meth:`Call.dtmf` before further INFOs get 503.
MAX_QUEUED_DTMF = 256
# Signal values some phones send for * # A-D (the RFC 4733 event numbers).
_DTMF_EVENTS = {"10": "*", "11": "#", "12": "A", "13": "B", "14": "C", "15": "D"}


def _body(sdp: bytes | str | None) -> bytes | None:
    return sdp.encode("utf-8") if isinstance(sdp, str) else sdp


def _is_hold(sdp: bytes) -> bool:
    """Whether ``sdp`` asks not to receive media (RFC 3264 §8.4); False if unparsable."""
    try:
        return is_hold(SessionDescription.parse(sdp))
    except SdpError:
        return False


def _parse_dtmf(content_type: str, body: bytes) -> str | None:
    """The digit of an INFO body (``Signal=5`` for dtmf-relay, the bare digit for dtmf)."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    signal = text.strip()
    if content_type == "application/dtmf-relay":
        found = [
            v
            for n, sep, v in (ln.partition("=") for ln in text.splitlines())
            if sep and n.strip().lower() == "signal"
        ]
        if not found:
            return None
        signal = found[0].strip()
    signal = _DTMF_EVENTS.get(signal, signal).upper()
    return signal if len(signal) == 1 and signal in DTMF_DIGITS else None


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
        # -- mid-call session changes (re-INVITE, UPDATE, INFO) --
        #: ``on_offer(offer) -> answer | None``: answers an offer received in a re-INVITE or
        #: UPDATE (None: 488). Unset: :meth:`auto_answer` (RFC 3264 with our codecs).
        self.on_offer: Callable[[bytes], Awaitable[bytes | str | None]] | None = None
        #: We put the peer on hold (our last accepted offer was sendonly/inactive, §8.4).
        self.local_hold = False
        #: The peer put us on hold (its last offer was sendonly/inactive, RFC 3264 §8.4).
        self.remote_hold = False
        #: Digits received by INFO (RFC 6086), read with :meth:`dtmf`.
        self._dtmf: asyncio.Queue[str] = asyncio.Queue(maxsize=MAX_QUEUED_DTMF)
        # We sent an offer (re-INVITE/UPDATE) and wait for its answer (RFC 3311 §5.2).
        self._offer_pending = False
        # CSeq of a received offerless re-INVITE whose 2xx carried our offer (answer in ACK).
        self._ack_answer_seq: int | None = None
        #: ``async (referral) -> bool`` deciding on a REFER received in this call
        #: (RFC 3515); None: ``ua.on_refer``, else accept.
        self.on_refer: ReferHandler | None = None
        #: REFERs we sent in this call (:meth:`refer`), and REFERs we accepted.
        self.transfers: list[Transfer] = []
        self.referrals: list[Referral] = []

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

    #: UAS side of RFC 3262 for the INVITE of an :class:`IncomingCall` (None elsewhere).
    _reliable: ReliableProvisionals | None = None

    async def _on_prack(self, sreq: ServerRequest, dialog: Dialog) -> None:
        """PRACK (RFC 3262 §3): 200 when its RAck names our unacknowledged reliable 1xx
        (its retransmission stops), 481 when it matches none, 400 for a bad RAck."""
        reliable = self._reliable
        try:
            matched = reliable is not None and reliable.receive_prack(sreq.request)
        except ParseError as exc:
            response = sreq.make_response(exc.status_code, exc.reason)
            await sreq.respond(exc.status_code, exc.reason)
            dialog.response_sent(sreq.request, response)
            return
        await self._reply(sreq, dialog, 200 if matched else 481)
        if matched:
            self._on_pracked()

    def _on_pracked(self) -> None:
        """The pending reliable 1xx got its PRACK (see :class:`IncomingCall`)."""

    async def _on_refer_request(self, sreq: ServerRequest, dialog: Dialog) -> None:
        """REFER and its NOTIFYs (RFC 3515) inside the call's dialog: see
        :mod:`sipwright.aio.refer` (transferee: :func:`on_refer`; transferor: the
        ``refer`` NOTIFYs of a :class:`Transfer`)."""
        if sreq.request.method == "REFER":
            await on_refer(self, sreq, dialog)
        else:
            await on_notify(self, sreq, dialog)

    async def refer(
        self,
        target: str,
        *,
        referred_by: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Transfer:
        """Blind transfer (RFC 3515): ask the peer to call ``target``; the :class:`Transfer`.

        Sends an in-dialog REFER with ``Refer-To: <target>`` (and ``Referred-By`` when
        given) and returns after its 2xx (202); a non-2xx raises :class:`TransferFailed`.
        ``await transfer.outcome()`` then gives the final status the peer reports in its
        NOTIFYs; hanging up the call after a 2xx outcome is left to the caller.
        """
        return await send_refer(self, target, referred_by=referred_by, headers=headers)

    # -- mid-call session changes: receiving (§14.2, RFC 3311, RFC 6086) ---------------

    async def _on_session_request(self, sreq: ServerRequest, dialog: Dialog) -> None:
        """re-INVITE (§14.2), UPDATE (RFC 3311 §5.2), INFO (RFC 6086); others get 501."""
        method = sreq.request.method
        if method in ("INVITE", "UPDATE"):
            await self._on_offer_request(sreq, dialog)
        elif method == "INFO":
            await self._on_info(sreq, dialog)
        else:
            await self._reply(sreq, dialog, 501)

    async def _answer_request(
        self,
        sreq: ServerRequest,
        dialog: Dialog,
        status: int,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
    ) -> None:
        """Send a response (an SDP ``body`` if given) and let the dialog apply it: a 2xx
        to a target refresh moves the remote target (§12.2.2), any final ends the UAS
        INVITE transaction (§14.2)."""
        fields = list(headers or ())
        if 200 <= status < 300 and sreq.request.method in ("INVITE", "UPDATE"):
            fields.append(("Contact", f"<{self._ua.contact}>"))  # §12.1.1, RFC 3311 §5.2
        content_type = "application/sdp" if body else None
        data = body or b""
        response = sreq.make_response(status, reason, fields, data, content_type)
        await sreq.respond(status, reason, fields, data, content_type)
        dialog.response_sent(sreq.request, response)

    async def _on_offer_request(self, sreq: ServerRequest, dialog: Dialog) -> None:
        """A re-INVITE or an UPDATE: answer its offer (RFC 3264 §8), or offer in our 2xx
        when a re-INVITE has none (the answer then comes in the ACK, §14.2)."""
        request = sreq.request
        offer = request.body or None
        if offer is None and request.method == "UPDATE":
            await self._answer_request(sreq, dialog, 200)  # a target refresh only
            return
        if offer is not None and request.content_type != "application/sdp":
            await self._answer_request(sreq, dialog, 415, headers=[("Accept", "application/sdp")])
            return
        if self._offer_pending:
            # Our own offer awaits its answer: RFC 3311 §5.2 (and §14.2 for INVITE).
            await self._answer_request(sreq, dialog, 491)
            return
        if offer is None:
            if self.local_sdp is None:
                await self._answer_request(sreq, dialog, 488, "No Session Description")
                return
            cseq = request.cseq
            self._ack_answer_seq = cseq.number if cseq is not None else None
            await self._answer_request(sreq, dialog, 200, body=self.local_sdp)
            return
        status, answer = await self._answer(offer)
        if answer is None:
            await self._answer_request(sreq, dialog, status)
            return
        self.remote_sdp = offer
        self.local_sdp = answer
        self.remote_hold = _is_hold(offer)
        await self._answer_request(sreq, dialog, 200, body=answer)

    async def _answer(self, offer: bytes) -> tuple[int, bytes | None]:
        """(200, answer) or (error status, None): through :attr:`on_offer` when set."""
        hook = self.on_offer
        if hook is None:
            try:
                return 200, self.auto_answer(offer)
            except SdpError as exc:  # 400 malformed, 488 NoCommonMedia (RFC 3264 §6)
                log.debug("offer refused: %s", exc)
                return exc.status_code, None
        try:
            answer = await hook(offer)
        except Exception:
            log.exception("on_offer hook failed")
            return 500, None
        return (488, None) if answer is None else (200, _body(answer))

    def auto_answer(self, offer: bytes) -> bytes:
        """The answer this call gives to ``offer`` when :attr:`on_offer` is unset.

        RFC 3264 §6 and §8 via :func:`~sipwright.sdp.make_answer`: our current codecs,
        address and ports (those of :attr:`local_sdp`), the offer's direction reversed
        (sendonly → recvonly, inactive → inactive) and limited to sendonly while we hold
        the peer (:attr:`local_hold`), the ``o=`` line continued with its version bumped
        when anything changed. Raises :class:`~sipwright.sdp.SdpError` (400) for a
        malformed offer, :class:`~sipwright.sdp.NoCommonMedia` (488) when nothing fits.
        """
        description = SessionDescription.parse(offer)
        previous = self._local_description()
        return bytes(make_answer(description, self._capabilities(previous), previous))

    def _local_description(self) -> SessionDescription | None:
        if self.local_sdp is None:
            return None
        try:
            return SessionDescription.parse(self.local_sdp)
        except SdpError:
            return None

    def _capabilities(self, previous: SessionDescription | None) -> LocalCapabilities:
        """What we can do, read back from our last description (or the default offer)."""
        base = previous
        if base is None:
            base = SessionDescription.parse(default_sdp_offer(self._ua.contact.bare_host))
        media = [
            MediaCapability(m.media, m.port, codecs=m.codecs, protos=(m.proto,), ptime=m.ptime)
            for m in base.media
            if m.port != 0 and m.is_rtp
        ]
        connection = next(
            (c for c in (m.effective_connection for m in base.media) if c is not None),
            base.connection,
        )
        origin = base.origin
        return LocalCapabilities(
            address=connection.address if connection is not None else origin.address,
            session_id=origin.sess_id,
            media=media,
            username=origin.username,
            session_name=base.session_name,
            session_version=origin.sess_version,
            direction=Direction.SENDONLY if self.local_hold else Direction.SENDRECV,
            rtcp_mux=any(m.rtcp_mux for m in base.media),
            bundle=False,
        )

    def _on_session_ack(self, request: Request) -> None:
        """The ACK of a 2xx we sent: after an offerless re-INVITE it carries the answer
        to the offer our 2xx made (RFC 3264 §4, RFC 3261 §14.2)."""
        seq, cseq = self._ack_answer_seq, request.cseq
        if seq is None or cseq is None or cseq.number != seq:
            return
        self._ack_answer_seq = None
        if request.body:
            self.remote_sdp = request.body

    async def _on_info(self, sreq: ServerRequest, dialog: Dialog) -> None:
        """INFO (RFC 6086, legacy usage without Info-Package): DTMF bodies are queued for
        :meth:`dtmf`; other body types get 415 with the Accept we take (RFC 6086
        §4.2.2, RFC 3261 §21.4.16); an empty INFO (a keep-alive) gets 200."""
        request = sreq.request
        if not request.body:
            await self._answer_request(sreq, dialog, 200)
            return
        content_type = request.content_type
        if content_type not in DTMF_CONTENT_TYPES:
            accept = [("Accept", ", ".join(DTMF_CONTENT_TYPES))]
            await self._answer_request(sreq, dialog, 415, headers=accept)
            return
        digit = _parse_dtmf(content_type, request.body)
        if digit is None:
            await self._answer_request(sreq, dialog, 400, "Bad DTMF Body")
            return
        try:
            self._dtmf.put_nowait(digit)
        except asyncio.QueueFull:
            log.warning("DTMF digit %r dropped: %d digits not read", digit, MAX_QUEUED_DTMF)
            await self._answer_request(sreq, dialog, 503, "DTMF Queue Full")
            return
        await self._answer_request(sreq, dialog, 200)

    async def dtmf(self) -> AsyncIterator[str]:
        """DTMF digits received by INFO, in arrival order (``async for d in call.dtmf()``).

        Ends once the call is over and the digits already received are read.
        """
        while True:
            if self._dtmf.empty() and self._ended.is_set():
                return
            get = asyncio.ensure_future(self._dtmf.get())
            ended = asyncio.ensure_future(self._ended.wait())
            try:
                await asyncio.wait({get, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                get.cancel()
                ended.cancel()
            if get.done() and not get.cancelled():
                yield get.result()

    # -- mid-call session changes: sending ---------------------------------------------

    def _established(self) -> Dialog:
        dialog = self.dialog
        if dialog is None or self.state not in (CallState.ANSWERED, CallState.CONFIRMED):
            raise SipError(f"no established call (state {self.state.value})")
        return dialog

    async def _in_dialog_send(
        self, method: str, body: bytes | None, content_type: str | None
    ) -> tuple[Request, Response]:
        """Send ``method`` built by the dialog (§12.2.1.1: route set, CSeq + 1, tags) and
        apply its final response to the dialog (target refresh, 481/408 end it)."""
        dialog = self._established()
        try:
            request, hop = self._ua._in_dialog_request(dialog, method, self._fallback)
        except DialogError as exc:  # an INVITE transaction is already in progress (§14.1)
            raise SipError(str(exc)) from None
        if body is not None:
            request.set_body(body, content_type)
        self._offer_pending = content_type == "application/sdp"
        try:
            request, response = await self._ua.send(request, hop)
        except SipError:
            if method == "INVITE":
                dialog.uac_invite_pending = False
            raise
        finally:
            self._offer_pending = False
        cseq = request.cseq
        if cseq is not None and dialog.local_seq is not None:
            dialog.local_seq = max(dialog.local_seq, cseq.number)  # after an auth retry
        self._ua.dialogs.receive_response(request, response)
        if dialog.is_terminated:  # §12.2.1.2: 481 or 408 end the dialog
            reason = f"{response.status_code} {response.reason} to {method}"
            self._finish(CallState.ENDED, reason)
        return request, response

    async def _offer(self, method: str, make_offer: Callable[[], bytes]) -> Response:
        """Send an offer in ``method`` (INVITE or UPDATE) and take the answer.

        A 491 is retried after :attr:`UserAgent.glare_delay` (§14.1, RFC 3311 §5.1), with
        the offer rebuilt from the then-current session; so is a retry that finds an
        INVITE transaction of the peer still open. A 2xx makes the offer and its answer
        the session; any other final leaves the session as it was (§14.1).
        """
        response: Response | None = None
        for attempt in range(MAX_GLARE_RETRIES + 1):
            dialog = self._established()
            busy = method == "INVITE" and (dialog.uac_invite_pending or dialog.uas_invite_pending)
            if attempt > 0 and busy:
                await asyncio.sleep(self._ua.glare_delay(dialog.is_uac))
                continue
            offer = make_offer()
            _, response = await self._in_dialog_send(method, offer, "application/sdp")
            if response.status_code != 491 or attempt == MAX_GLARE_RETRIES or self.is_over:
                break
            await asyncio.sleep(self._ua.glare_delay(dialog.is_uac))
        if response is None:
            raise SipError(f"{method} not sent: the dialog stayed busy")
        if 200 <= response.status_code < 300:
            self.local_sdp = offer
            self.local_hold = _is_hold(offer)
            if response.body:
                self.remote_sdp = response.body
        return response

    def _versioned(self, sdp: bytes) -> bytes:
        """``sdp`` with our ``o=`` line continued (RFC 3264 §8): same origin, version + 1
        when it differs from :attr:`local_sdp`. Unparsable bodies go as given."""
        previous = self._local_description()
        try:
            description = SessionDescription.parse(sdp)
        except SdpError:
            return sdp
        if previous is None:
            return sdp
        return bytes(next_version(previous, description))

    def _directed(self, hold: bool) -> bytes:
        """Our current description with every active stream on hold (sendonly, or
        inactive if it was recvonly) or back to sendrecv, o= version + 1 (RFC 3264 §8.4)."""
        previous = self._local_description()
        if previous is None:
            raise SipError("no local session description to put on hold or resume")
        media = [
            m
            if m.port == 0
            else m.with_direction(
                m.effective_direction.limited_to(Direction.SENDONLY) if hold else Direction.SENDRECV
            )
            for m in previous.media
        ]
        attributes = [a for a in previous.attributes if a.name not in DIRECTION_NAMES]
        changed = dataclasses.replace(previous, attributes=attributes, media=media)
        return bytes(next_version(previous, changed))

    async def reinvite(self, sdp: bytes | str | None = None) -> Response:
        """Send a re-INVITE (§14.1) offering ``sdp`` (default: our current description,
        unchanged, a session refresh); return its final response.

        A given ``sdp`` keeps our ``o=`` origin with the version bumped (RFC 3264 §8).
        2xx: the endpoint ACKs it (same CSeq number, a new branch, the route set), the
        offer and answer become :attr:`local_sdp` / :attr:`remote_sdp` and the 2xx's
        Contact the remote target. Any other final (488...) is returned and changes
        nothing (§14.1); 491 is retried after :attr:`UserAgent.glare_delay`. Raises
        :class:`SipError` when the call is not established or an INVITE is pending.
        """
        body = _body(sdp)
        if body is None:
            if self.local_sdp is None:
                raise SipError("no session description to offer")
            current = self.local_sdp
            return await self._offer("INVITE", lambda: self.local_sdp or current)
        given = body
        return await self._offer("INVITE", lambda: self._versioned(given))

    async def hold(self) -> Response:
        """Put the peer on hold: a re-INVITE whose streams are ``sendonly`` (``inactive``
        if the peer holds us), o= version + 1 (RFC 3264 §8.4). :attr:`local_hold` is set
        on its 2xx; the final response is returned."""
        self._directed(True)  # fail before sending when there is nothing to hold
        return await self._offer("INVITE", lambda: self._directed(True))

    async def resume(self) -> Response:
        """Take the peer off hold: a re-INVITE with ``sendrecv`` streams (RFC 3264 §8.4)."""
        self._directed(False)
        return await self._offer("INVITE", lambda: self._directed(False))

    async def update(self, sdp: bytes | str | None = None) -> Response:
        """Send an UPDATE (RFC 3311) in the established call; return its final response.

        Without ``sdp`` it only refreshes the target (it carries our Contact); with one it
        is an offer handled like :meth:`reinvite` (o= continued, 491 retried, a non-2xx
        changes nothing).
        """
        body = _body(sdp)
        if body is None:
            _, response = await self._in_dialog_send("UPDATE", None, None)
            return response
        given = body
        return await self._offer("UPDATE", lambda: self._versioned(given))

    async def info(self, body: bytes | str, content_type: str) -> Response:
        """Send an INFO (RFC 6086, legacy usage: no Info-Package) carrying ``body`` of
        type ``content_type`` in the established call; return its final response."""
        _, response = await self._in_dialog_send("INFO", _body(body), content_type)
        return response

    async def send_dtmf(self, digits: str, duration_ms: int = 160) -> list[Response]:
        """Send ``digits`` (0-9, *, #, A-D) as one INFO each, ``application/dtmf-relay``
        (``Signal=5`` / ``Duration=160``), each awaited before the next.

        Returns the final responses; stops at the first non-2xx. Raises ValueError for
        a digit outside the DTMF set or a duration outside 1-10000 ms.
        """
        for digit in digits:
            if digit.upper() not in DTMF_DIGITS:
                raise ValueError(f"not a DTMF digit: {digit!r}")
        if not 0 < duration_ms <= 10_000:
            raise ValueError("duration_ms must be 1 to 10000")
        responses: list[Response] = []
        for digit in digits:
            body = f"Signal={digit.upper()}\r\nDuration={duration_ms}\r\n"
            response = await self.info(body, "application/dtmf-relay")
            responses.append(response)
            if not 200 <= response.status_code < 300:
                break
        return responses

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
    """A call we placed with :meth:`UserAgent.dial` / :meth:`UserAgent.call`.

    Forking (§12.1.2, §13.2.2.4): every 1xx with a new To tag makes an early dialog of
    its own (:attr:`early_dialogs`); the first 2xx confirms its dialog and the call;
    a 2xx from another fork is ACKed (by the endpoint) and ended with a BYE; the early
    dialogs left end 64·T1 after the first 2xx. Reliable provisionals (RFC 3262) get
    a PRACK in their own early dialog, once per RSeq.
    """

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
        #: Early dialogs by remote (To) tag, one per fork that sent a 1xx (§12.1.2).
        self.early_dialogs: dict[str, Dialog] = {}
        #: PRACKs sent (request, final response or None while pending), in order.
        self.pracks: list[tuple[Request, Response | None]] = []
        #: Dialogs of other forks whose 2xx came after ours: ACKed, then ended by BYE.
        self.extra_dialogs: list[Dialog] = []
        self._rseq: dict[str, RSeqTracker] = {}
        self._late_tags: set[str] = set()

    async def _run(self) -> None:
        ua = self._ua
        request = self.invite
        try:
            for attempt in range(MAX_AUTH_RETRIES + 1):
                self.invite = request
                response = await ua.endpoint.request(
                    request,
                    self._hop,
                    on_provisional=self._on_provisional,
                    on_late_final=self._on_late_final,
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
        if self._final.is_set():
            return
        dialog = self._ua.dialogs.receive_response(self.invite, response)
        if dialog is not None:
            self.early_dialogs.setdefault(dialog.remote_tag, dialog)
            if self.dialog is None:
                self._track_dialog(dialog)
        if response.status_code > 100 and self.state is CallState.CALLING:
            self.state = CallState.RINGING
        if dialog is not None and is_reliable(response) and OPTION_TAG in self._ua.supported:
            self._prack(dialog, response)

    def _prack(self, dialog: Dialog, response: Response) -> None:
        """PRACK a reliable 1xx in its early dialog, once per RSeq (RFC 3262 §4)."""
        try:
            rseq = parse_rseq(response.headers.get("RSeq") or "")
        except ParseError:
            log.debug("reliable %s with a bad RSeq ignored", response.status_code)
            return
        tracker = self._rseq.setdefault(dialog.remote_tag, RSeqTracker())
        if not tracker.accept(rseq):
            # A retransmission (its PRACK's own transaction retransmits) or a gap (§4).
            return
        cseq = response.cseq
        if cseq is None or dialog.is_terminated:
            return
        request, hop = self._ua._in_dialog_request(dialog, "PRACK", self._fallback)
        request.headers.add("RAck", str(RAck(rseq, cseq.number, cseq.method)))
        self._ua._spawn(self._send_prack(dialog, request, hop))

    async def _send_prack(self, dialog: Dialog, request: Request, hop: Destination) -> None:
        entry = len(self.pracks)
        self.pracks.append((request, None))
        try:
            sent, response = await self._ua.send(request, hop)
        except SipError as exc:  # endpoint closed
            log.debug("PRACK not sent: %s", exc)
            return
        self.pracks[entry] = (sent, response)
        cseq = sent.cseq
        if cseq is not None and dialog.local_seq is not None:
            dialog.local_seq = max(dialog.local_seq, cseq.number)  # after an auth retry
        dialog.receive_response(sent, response)

    def _on_late_final(self, response: Response) -> None:
        """A final response after the first (RFC 6026 Accepted), already ACKed by the
        endpoint: a 2xx from another fork is ended with a BYE (§13.2.2.4)."""
        if 200 <= response.status_code < 300:
            self._ua._spawn(self._end_other_fork(response))

    async def _end_other_fork(self, response: Response) -> None:
        await self._final.wait()
        to = response.to
        tag = to.tag if to is not None else None
        if tag is None or (self.dialog is not None and tag == self.dialog.remote_tag):
            return  # a retransmission of our own 2xx (re-ACKed by the endpoint)
        if tag in self._late_tags:
            return
        self._late_tags.add(tag)
        dialog = self._ua.dialogs.receive_response(self.invite, response)
        if dialog is None:
            return
        self.early_dialogs.pop(tag, None)
        self.extra_dialogs.append(dialog)
        try:
            request, hop = self._ua._in_dialog_request(dialog, "BYE", self._hop)
        except (SipError, DialogError) as exc:
            log.debug("no BYE for the extra 2xx: %s", exc)
            return
        dialog.terminate()
        self._ua.dialogs.remove(dialog)
        with contextlib.suppress(SipError):
            await self._ua.send(request, hop)

    async def _end_early_dialogs(self) -> None:
        """§13.2.2.4: 64·T1 after the first 2xx, early dialogs not confirmed end."""
        await asyncio.sleep(64 * self._ua.endpoint.layer.config.t1)
        self._drop_early_dialogs()

    def _drop_early_dialogs(self) -> None:
        for tag, dialog in list(self.early_dialogs.items()):
            if dialog.is_early:
                dialog.terminate()
                self._ua.dialogs.remove(dialog)
            if dialog is not self.dialog:
                self._ua._calls.pop(dialog.id, None)
            del self.early_dialogs[tag]

    def _on_final(self, response: Response) -> None:
        self.final_response = response
        dialog = self._ua.dialogs.receive_response(self.invite, response)
        if 200 <= response.status_code < 300 and dialog is not None:
            # The endpoint (auto_ack) has sent the ACK already (§13.2.2.4).
            if self.dialog is not None and self.dialog is not dialog:
                self._ua._calls.pop(self.dialog.id, None)
            self._track_dialog(dialog)
            self.early_dialogs.pop(dialog.remote_tag, None)
            if self.early_dialogs:
                self._ua._spawn(self._end_early_dialogs())
            self.remote_sdp = response.body or None
            self.state = CallState.CONFIRMED
            self._final.set()
            if self._cancel_requested:
                # §15: a 2xx that crossed our CANCEL: the call is up, so end it with BYE.
                self._ua._spawn(self._bye_quietly())
            return
        if self.dialog is not None:  # the non-2xx ended the early dialog(s) (§13.2.2.3)
            self._ua._calls.pop(self.dialog.id, None)
        self._drop_early_dialogs()
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
        # Set while no reliable 1xx awaits its PRACK (RFC 3262 §3: one at a time).
        self._reliable_idle = asyncio.Event()
        self._reliable_idle.set()
        self._resend: Callable[[], bool] | None = None
        self._retransmitter: asyncio.Task[None] | None = None

    @property
    def cancelled(self) -> asyncio.Event:
        return self._server.cancelled

    @property
    def from_(self) -> str:
        return self.request.headers.get("From") or ""

    def _respond(
        self,
        status: int,
        reason: str | None = None,
        body: bytes | None = None,
        *,
        reliable: ReliableProvisionals | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Response | None:
        """Send a response to the INVITE and apply it to the dialog layer.

        With ``reliable`` the 1xx carries ``Require: 100rel`` and the next RSeq and is
        retransmitted until its PRACK (RFC 3262 §3). A 2xx carries our Allow and
        Supported (§13.3.1.4); a final response stops 1xx retransmissions.
        """
        server = self._server
        if server.answered or server.cancelled.is_set():
            return None
        fields: list[tuple[str, str]] = list(headers)
        if 100 < status < 300:
            fields.append(("Contact", f"<{self._ua.contact}>"))
        if 200 <= status < 300:
            if self._ua.allow:
                fields.append(("Allow", ", ".join(self._ua.allow)))
            if self._ua.supported:
                fields.append(("Supported", ", ".join(self._ua.supported)))
        if reliable is not None:
            fields += [("Require", OPTION_TAG), ("RSeq", str(reliable.next_rseq))]
        content_type = "application/sdp" if body else None
        data = body or b""
        response = server.make_response(status, reason, fields, data, content_type)
        if not server.respond_now(status, reason, fields, data, content_type):
            return None
        if reliable is not None:
            reliable.prepare(response, asyncio.get_running_loop().time())
            self._resend = lambda: server.respond_now(status, reason, fields, data, content_type)
            self._reliable_idle.clear()
            if self._retransmitter is None or self._retransmitter.done():
                self._retransmitter = self._ua._spawn(self._retransmit_reliable(reliable))
        elif status >= 200 and self._reliable is not None:
            self._reliable.stop()
            self._reliable_idle.set()
        dialog = self._ua.dialogs.response_sent(self.request, response)
        if dialog is not None and status < 300 and self.dialog is None:
            self._track_dialog(dialog)
        return response

    @property
    def supports_100rel(self) -> bool:
        """Whether the INVITE allows reliable provisionals (100rel in Supported/Require)."""
        return wants_100rel(self.request)

    async def ringing(
        self,
        *,
        reliable: bool | None = None,
        status: int = 180,
        sdp: bytes | str | None = None,
    ) -> bool:
        """Send 180 Ringing (or ``status``) with our To tag and Contact: an early dialog
        (§13.3.1.1). False when the INVITE is gone.

        ``reliable=True`` sends it reliably (RFC 3262: ``Require: 100rel``, ``RSeq``,
        retransmitted until the PRACK) when the INVITE has 100rel in Supported or
        Require and our ``supported`` has it; otherwise unreliably (check
        :attr:`supports_100rel` and ``reject(421)`` if you must have it). An INVITE
        with ``Require: 100rel`` always gets reliable provisionals (§3). A second
        reliable 1xx waits for the PRACK of the first (§3); no PRACK within 64·T1
        makes the call fail with a 500 to the INVITE.
        """
        if self._server.answered:
            return False
        if not await self._provisional(status, _body(sdp), reliable):
            return False
        if not self.is_over:
            self.state = CallState.RINGING
        return True

    async def progress(
        self, sdp: bytes | str | None = None, *, reliable: bool | None = None
    ) -> bool:
        """Send 183 Session Progress (early media ``sdp``); see :meth:`ringing`."""
        return await self.ringing(reliable=reliable, status=183, sdp=sdp)

    async def pracked(self) -> bool:
        """Wait until the last reliable 1xx is PRACKed (True), or given up on (False)."""
        await self._reliable_idle.wait()
        rel = self._reliable
        return rel is not None and rel.pending is None and not rel.timed_out

    def _use_100rel(self, reliable: bool | None) -> bool:
        if OPTION_TAG not in self._ua.supported:
            return False
        if requires_100rel(self.request):
            return True  # RFC 3262 §3: MUST send reliably
        return bool(reliable) and wants_100rel(self.request)

    async def _provisional(self, status: int, body: bytes | None, reliable: bool | None) -> bool:
        if not 100 < status < 200:
            raise ValueError("a provisional response is 101-199")
        if not self._use_100rel(reliable):
            return self._respond(status, body=body) is not None
        await self._reliable_idle.wait()  # §3: one unacknowledged reliable 1xx at a time
        rel = self._reliable
        if rel is not None and rel.timed_out:
            return False
        if rel is None:
            config = self._ua.endpoint.layer.config
            rel = self._reliable = ReliableProvisionals(
                random.randint(1, RSEQ_MAX_INITIAL), t1=config.t1
            )
        return self._respond(status, body=body, reliable=rel) is not None

    async def _retransmit_reliable(self, rel: ReliableProvisionals) -> None:
        """Re-send the pending reliable 1xx at T1, 2·T1… until its PRACK; after 64·T1
        reject the INVITE with a 5xx (RFC 3262 §3)."""
        loop = asyncio.get_running_loop()
        while (deadline := rel.get_timer()) is not None:
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            if self._server.answered:
                rel.stop()
                break
            for _ in rel.handle_timer(max(deadline, loop.time())):
                if self._resend is not None:
                    self._resend()
        if rel.timed_out:
            log.info("no PRACK for the reliable provisional within 64*T1")
            if self._respond(500, "Provisional Response Not Acknowledged") is not None:
                self._failed("no PRACK")
        self._reliable_idle.set()

    def _on_pracked(self) -> None:
        self._reliable_idle.set()

    def _failed(self, reason: str) -> None:
        if self.dialog is not None:
            self._ua._calls.pop(self.dialog.id, None)
            self.dialog = None
        self._finish(CallState.FAILED, reason)
        self._settled.set()

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
        rel = self._reliable
        if rel is not None and rel.pending is not None and not rel.pending.body:
            # RFC 3262 §3: no non-2xx final before the PRACK of a reliable 1xx (without
            # SDP); the retransmission gives up after 64·T1.
            await self._reliable_idle.wait()
        # 421 lists what we need (§21.4.15): here, reliable provisionals.
        extra = (("Require", OPTION_TAG),) if status == 421 else ()
        if self._respond(status, reason, headers=extra) is None:
            return False
        self._failed(f"rejected {status}")
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
