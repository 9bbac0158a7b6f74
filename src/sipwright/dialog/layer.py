"""The dialog layer: all dialogs of a UA, matched by Call-ID and tags (RFC 3261 §12).

:class:`DialogLayer` sits on the transaction layer the way aioquic's ``H3Connection``
sits on ``QuicConnection``: :meth:`DialogLayer.handle_event` takes a
:class:`~sipwright.transaction.TransactionEvent` and returns :class:`DialogEvent` values.
The direct calls it is built from can also be used on their own:

* :meth:`~DialogLayer.receive_request` — match an incoming request: no To tag → not
  in a dialog; a To tag matching no dialog → 481 (§12.2.2); else the dialog's checks
  (500 out of order, 491 / 500 + Retry-After for overlapping INVITEs, §14.2).
* :meth:`~DialogLayer.receive_response` — UAC side: 1xx-with-tag / 2xx responses to a
  dialog-creating request create one dialog per To tag (forking, §12.1.2, §13.2.2.4);
  a 2xx confirms its early dialog; a non-2xx final ends the early ones.
* :meth:`~DialogLayer.response_sent` — UAS side: creates the dialog (§12.1.1) and
  applies accepted target refreshes.

Sans-I/O: the Retry-After source ``rand`` and the :class:`IdFactory` are injected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..ids import IdFactory
from ..message import Request, Response, make_response
from ..transaction.events import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    Terminated,
    TransactionEvent,
)
from ..transaction.key import ClientKey, LegacyServerKey, ServerKey
from .dialog import Dialog, DialogId, DialogState

__all__ = [
    "DIALOG_CREATING_METHODS",
    "DialogAck",
    "DialogConfirmed",
    "DialogCreated",
    "DialogEvent",
    "DialogLayer",
    "DialogRequest",
    "DialogResponse",
    "DialogTerminated",
    "OutOfDialogRequest",
    "RejectRequest",
    "Retransmitted2xx",
]

#: Requests whose 1xx/2xx create a dialog (§12.1; RFC 6665 for SUBSCRIBE).
DIALOG_CREATING_METHODS = frozenset({"INVITE", "SUBSCRIBE"})


@dataclass(frozen=True, slots=True)
class DialogEvent:
    """Base of what :meth:`DialogLayer.handle_event` returns. Don't subclass outside."""


@dataclass(frozen=True, slots=True)
class DialogCreated(DialogEvent):
    """A new (early or confirmed) dialog; one per To tag when an INVITE forks."""

    dialog: Dialog


@dataclass(frozen=True, slots=True)
class DialogConfirmed(DialogEvent):
    """An early dialog received (UAC) or sent (UAS) its 2xx (§13.2.2.4)."""

    dialog: Dialog


@dataclass(frozen=True, slots=True)
class DialogTerminated(DialogEvent):
    """The dialog ended (BYE, non-2xx final to its INVITE, 481/408)."""

    dialog: Dialog


@dataclass(frozen=True, slots=True)
class DialogRequest(DialogEvent):
    """An accepted request within ``dialog``; the TU answers it through ``key``."""

    dialog: Dialog
    request: Request
    key: ServerKey | LegacyServerKey


@dataclass(frozen=True, slots=True)
class OutOfDialogRequest(DialogEvent):
    """A request with no To tag: a new dialog or a standalone request (§8.2)."""

    event: RequestReceived


@dataclass(frozen=True, slots=True)
class RejectRequest(DialogEvent):
    """The layer refused a request (481, 500, 491): send ``response`` through ``key``."""

    key: ServerKey | LegacyServerKey
    response: Response
    dialog: Dialog | None = None


@dataclass(frozen=True, slots=True)
class DialogResponse(DialogEvent):
    """A response to a request sent with a tracked client transaction."""

    dialog: Dialog | None
    request: Request
    response: Response


@dataclass(frozen=True, slots=True)
class DialogAck(DialogEvent):
    """The ACK of a 2xx arrived in ``dialog`` (§13.3.1.4: stop retransmitting the 2xx)."""

    dialog: Dialog
    request: Request


@dataclass(frozen=True, slots=True)
class Retransmitted2xx(DialogEvent):
    """A 2xx retransmission for a confirmed dialog: re-send its ACK (§13.2.2.4)."""

    dialog: Dialog
    response: Response


def _request_dialog_id(request: Request) -> DialogId | None:
    """The dialog ID a UAS reads from a request: (Call-ID, To tag, From tag), §12.2.2."""
    to, from_ = request.to, request.from_
    if to is None or to.tag is None or from_ is None or from_.tag is None:
        return None
    return DialogId(request.call_id or "", to.tag, from_.tag)


def _response_dialog_id(response: Response) -> DialogId | None:
    """The dialog ID a UAC reads from a response: (Call-ID, From tag, To tag), §12.1.2."""
    to, from_ = response.to, response.from_
    if to is None or to.tag is None or from_ is None or from_.tag is None:
        return None
    return DialogId(response.call_id or "", from_.tag, to.tag)


class DialogLayer:
    """The dialogs of one UA, keyed by :class:`DialogId`. See the module docstring."""

    def __init__(self, ids: IdFactory, *, rand: Callable[[], float] | None = None) -> None:
        self._ids = ids
        #: Random source in [0, 1) for Retry-After (§14.2); defaults to 0.0 (Retry-After: 0).
        self._rand: Callable[[], float] = rand or (lambda: 0.0)
        self._dialogs: dict[DialogId, Dialog] = {}
        self._client_requests: dict[ClientKey, Request] = {}
        self._server_requests: dict[ServerKey | LegacyServerKey, Request] = {}

    # -- lookup ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def get(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    def match_request(self, request: Request) -> Dialog | None:
        """The dialog an incoming request belongs to (Call-ID, To tag, From tag), or None."""
        dialog_id = _request_dialog_id(request)
        return None if dialog_id is None else self._dialogs.get(dialog_id)

    def add(self, dialog: Dialog) -> Dialog:
        """Register a dialog built by hand; returns it."""
        self._dialogs[dialog.id] = dialog
        return dialog

    def remove(self, dialog: Dialog) -> None:
        self._dialogs.pop(dialog.id, None)

    # -- incoming requests ---------------------------------------------------------------

    def receive_request(self, request: Request) -> tuple[Dialog | None, Response | None]:
        """Match ``request`` and run the §12.2.2 checks: (dialog, rejection to send).

        No To tag: (None, None), the request is outside any dialog. A To tag that
        matches no dialog: (None, 481) — except ACK (never answered) and CANCEL
        (matched to its INVITE by the transaction layer, §9.2), which give (None, None).
        A terminated dialog is removed after its BYE is accepted.
        """
        to = request.to
        if to is None or to.tag is None:
            return None, None
        dialog = self.match_request(request)
        if dialog is None or dialog.is_terminated:
            if request.method in ("ACK", "CANCEL"):
                return None, None
            return None, make_response(request, 481)
        rejection = dialog.receive_request(request, rand=self._rand)
        if dialog.is_terminated:
            self.remove(dialog)
        return dialog, rejection

    def response_sent(self, request: Request, response: Response) -> Dialog | None:
        """The UAS sent ``response`` to ``request``: create or update its dialog.

        A 1xx (not 100) or 2xx with a To tag to an out-of-dialog INVITE/SUBSCRIBE
        creates the dialog (§12.1.1), early or confirmed; a later 2xx confirms it; a
        non-2xx final to it ends the early dialog. For in-dialog requests, see
        :meth:`Dialog.response_sent`.
        """
        to = response.to
        if to is None or to.tag is None:
            return None
        from_ = request.from_
        if from_ is None or from_.tag is None:
            return None
        dialog_id = DialogId(request.call_id or "", to.tag, from_.tag)
        dialog = self._dialogs.get(dialog_id)
        code = response.status_code
        in_dialog = request.to is not None and request.to.tag is not None
        if dialog is None:
            if request.method in DIALOG_CREATING_METHODS and not in_dialog and 100 < code < 300:
                return self.add(Dialog.from_uas_response(request, response, ids=self._ids))
            return None
        if not in_dialog:
            # Responses to the dialog-creating request itself.
            if code >= 300 and dialog.is_early:
                dialog.terminate()
                self.remove(dialog)
            elif 200 <= code < 300:
                dialog.state = DialogState.CONFIRMED
                dialog.uas_invite_pending = False
            return dialog
        dialog.response_sent(request, response)
        return dialog

    # -- incoming responses (UAC) ----------------------------------------------------------

    def receive_response(self, request: Request, response: Response) -> Dialog | None:
        """Apply a response to our ``request``; create, confirm or end dialogs (UAC).

        Each distinct To tag in a 1xx (not 100) or 2xx to an out-of-dialog INVITE or
        SUBSCRIBE makes its own dialog (forked early dialogs, §12.1.2); a 2xx confirms
        the matching early dialog and recomputes its route set (§13.2.2.4); a non-2xx
        final ends every early dialog of the request (§12.3 of RFC 3261 via §13.2.2.3).
        """
        code = response.status_code
        in_dialog = request.to is not None and request.to.tag is not None
        if in_dialog:
            dialog = self._dialogs.get(_response_dialog_id(response) or _NO_ID)
            if dialog is not None:
                dialog.receive_response(request, response)
                if dialog.is_terminated:
                    self.remove(dialog)
            return dialog
        if request.method not in DIALOG_CREATING_METHODS:
            return None
        if code >= 300:
            self._end_early(request)
            return None
        dialog_id = _response_dialog_id(response)
        if dialog_id is None or code == 100:
            return None
        dialog = self._dialogs.get(dialog_id)
        if dialog is None:
            return self.add(Dialog.from_uac_response(request, response, ids=self._ids))
        if code >= 200:
            dialog.confirm(response)
        return dialog

    def _end_early(self, request: Request) -> list[Dialog]:
        from_ = request.from_
        local_tag = from_.tag if from_ is not None else None
        ended = [
            d
            for d in self._dialogs.values()
            if d.is_early and d.call_id == request.call_id and d.local_tag == local_tag
        ]
        for d in ended:
            d.terminate()
            self.remove(d)
        return ended

    # -- the H3Connection pattern ------------------------------------------------------------

    def track(self, key: ClientKey, request: Request) -> None:
        """Remember the request behind client transaction ``key`` (for handle_event)."""
        self._client_requests[key] = request

    def handle_event(self, event: TransactionEvent) -> list[DialogEvent]:
        """Turn one transaction-layer event into dialog events.

        ``RequestReceived``: :class:`OutOfDialogRequest`, :class:`DialogRequest` or
        :class:`RejectRequest` (481/500/491, which the TU sends as is).
        ``ResponseReceived`` for a :meth:`track`-ed request: dialog creation / confirmation
        / termination events, then :class:`DialogResponse`. ``AckReceived``:
        :class:`DialogAck`. ``StrayResponse`` carrying a 2xx of a confirmed dialog:
        :class:`Retransmitted2xx`. ``Terminated`` forgets the tracked request.
        """
        if isinstance(event, RequestReceived):
            return self._on_request(event)
        if isinstance(event, ResponseReceived):
            return self._on_response(event)
        if isinstance(event, AckReceived):
            dialog = self.match_request(event.request)
            return [] if dialog is None else [DialogAck(dialog, event.request)]
        if isinstance(event, StrayResponse):
            resp = event.response
            cseq = resp.cseq
            dialog = self._dialogs.get(_response_dialog_id(resp) or _NO_ID)
            if (
                dialog is not None
                and cseq is not None
                and cseq.method == "INVITE"
                and 200 <= resp.status_code < 300
            ):
                return [Retransmitted2xx(dialog, resp)]
            return []
        if isinstance(event, Terminated):
            key = event.key
            if isinstance(key, ClientKey):
                self._client_requests.pop(key, None)
            else:
                self._server_requests.pop(key, None)
        return []

    def _on_request(self, event: RequestReceived) -> list[DialogEvent]:
        request = event.request
        dialog, rejection = self.receive_request(request)
        if rejection is not None:
            return [RejectRequest(event.key, rejection, dialog)]
        if dialog is None:
            return [OutOfDialogRequest(event)]
        out: list[DialogEvent] = [DialogRequest(dialog, request, event.key)]
        if dialog.is_terminated:
            out.append(DialogTerminated(dialog))
        return out

    def _on_response(self, event: ResponseReceived) -> list[DialogEvent]:
        request = self._client_requests.get(event.key)
        if request is None:
            return []
        response = event.response
        before = {d.id: d.state for d in self._dialogs.values()}
        early_before = [d for d in self._dialogs.values() if d.is_early]
        dialog = self.receive_response(request, response)
        out: list[DialogEvent] = []
        if dialog is not None:
            old = before.get(dialog.id)
            if old is None and not dialog.is_terminated:
                out.append(DialogCreated(dialog))
            elif old is DialogState.EARLY and dialog.state is DialogState.CONFIRMED:
                out.append(DialogConfirmed(dialog))
            elif dialog.is_terminated:
                out.append(DialogTerminated(dialog))
        out.extend(DialogTerminated(d) for d in early_before if d.is_terminated)
        out.append(DialogResponse(dialog, request, response))
        return out


_NO_ID = DialogId("", "", "")
