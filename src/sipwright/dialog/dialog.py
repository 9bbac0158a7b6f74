"""One SIP dialog: its identity, state, route set, sequence numbers and target (RFC 3261 §12).

A :class:`Dialog` is a plain value holder with the §12 rules attached; it never sends
anything. The UAC side is built from a 1xx-with-To-tag or 2xx response to the request
that created it (:meth:`Dialog.from_uac_response`, §12.1.2), the UAS side from the
request and the response the UAS sends (:meth:`Dialog.from_uas_response`, §12.1.1).

Outgoing requests come from :meth:`Dialog.create_request` (§12.2.1.1) and
:meth:`Dialog.create_ack` (§13.2.2.4); incoming ones are checked by
:meth:`Dialog.receive_request` (§12.2.2), which returns the rejection to send, if any
(500 for an out-of-order CSeq, 491 / 500 + Retry-After for overlapping INVITEs, §14.2).

Sans-I/O: no clock, no randomness. Branches come from an injected
:class:`~sipwright.ids.IdFactory`; Retry-After values from an injected ``rand``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..headers.address import NameAddr
from ..ids import IdFactory
from ..message import Body, Request, Response, make_response
from ..uri import SipUri, Uri
from .helpers import glare_retry_delay, retry_after

__all__ = [
    "DEFAULT_SENT_BY",
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogError",
    "DialogId",
    "DialogState",
]

#: Methods whose request (and 2xx) replace the remote target: §12.2, RFC 3311 (UPDATE),
#: RFC 6665 (SUBSCRIBE, NOTIFY), RFC 3515 (REFER). They carry a Contact.
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})

#: Placeholder sent-by of the Via that :meth:`Dialog.create_request` writes when the
#: caller gave none. ``.invalid`` (RFC 2606) can never resolve: the transport user
#: must replace it with its own address (§18.1.1) before sending.
DEFAULT_SENT_BY = "sipwright.invalid"

#: Where a UAS starts its local CSeq when it sends its first request in the dialog
#: (§12.2.1.1 allows any value below 2**31; a constant keeps the core deterministic).
UAS_INITIAL_CSEQ = 1


class DialogError(ValueError):
    """Local misuse: a request or response that cannot make or use this dialog."""


class DialogState(enum.Enum):
    """§12: a dialog is early (1xx), confirmed (2xx) or terminated."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class DialogId:
    """The dialog ID of §12: Call-ID, local tag and remote tag (as seen by this UA)."""

    call_id: str
    local_tag: str
    remote_tag: str


def _require(value: str | None, what: str) -> str:
    if not value:
        raise DialogError(f"{what} is missing")
    return value


def _first_contact(msg: Request | Response) -> Uri | None:
    contacts = msg.contact
    if not contacts or contacts[0].is_wildcard:
        return None
    return contacts[0].uri


def _is_sips(uri: Uri) -> bool:
    return isinstance(uri, SipUri) and uri.scheme == "sips"


class Dialog:
    """The state of one dialog (§12). See the module docstring.

    Attributes are public and plain: ``route_set`` is a list of Route values
    (:class:`NameAddr`) in the order they go into a Route header; ``remote_target`` the
    URI requests are sent to; ``local_seq`` / ``remote_seq`` the CSeq numbers (None when
    empty); ``secure`` the §12.1 secure flag.
    """

    def __init__(
        self,
        *,
        call_id: str,
        local: NameAddr,
        remote: NameAddr,
        remote_target: Uri,
        route_set: Iterable[NameAddr],
        local_seq: int | None,
        remote_seq: int | None,
        secure: bool,
        is_uac: bool,
        state: DialogState,
        ids: IdFactory,
        local_contact: str | None = None,
    ) -> None:
        #: Call-ID of the dialog (§12).
        self.call_id = call_id
        #: Our address (From of our requests) with our tag.
        self.local = local
        #: The peer's address (To of our requests) with its tag.
        self.remote = remote
        self.remote_target = remote_target
        self.route_set: list[NameAddr] = list(route_set)
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.secure = secure
        #: True when this UA sent the dialog-creating request: it owns the Call-ID (§14.1).
        self.is_uac = is_uac
        self.state = state
        #: The Contact value put in target-refresh requests (§12.2.1.1).
        self.local_contact = local_contact
        #: Via sent-by and transport written by :meth:`create_request`; see DEFAULT_SENT_BY.
        self.sent_by = DEFAULT_SENT_BY
        self.transport = "UDP"
        self._ids = ids
        # CSeq number of the latest INVITE we sent (what the ACK of its 2xx reuses, §13.2.2.4).
        self._invite_seq: int | None = None
        # INVITE transactions in progress on this dialog, per side (§14.2).
        self.uac_invite_pending = False
        self.uas_invite_pending = False
        # A received target-refresh request waiting for our 2xx (§12.2.2, RFC 6141 §3.4).
        self._pending_refresh: dict[int, Uri] = {}
        _require(local.tag, "local tag")
        _require(remote.tag, "remote tag")

    # -- creation -------------------------------------------------------------------

    @classmethod
    def from_uac_response(cls, request: Request, response: Response, *, ids: IdFactory) -> Dialog:
        """The UAC's dialog from a 1xx (with To tag) or 2xx to ``request`` (§12.1.2).

        Route set = the response's Record-Route reversed; remote target = its Contact
        (the Request-URI when a 1xx has none); local seq = the request's CSeq; remote seq
        empty; secure when the Request-URI is a SIPS URI (the stack does not see the
        transport here: the caller must only send a SIPS request over TLS, §26.2.2).
        """
        code = response.status_code
        if not (100 < code < 300):
            raise DialogError(f"a {code} response does not create a dialog (§12.1)")
        from_, to, cseq = request.from_, response.to, request.cseq
        if from_ is None or to is None or cseq is None:
            raise DialogError("From, To and CSeq are needed to create a dialog")
        if to.tag is None:
            raise DialogError("a response without a To tag creates no dialog (§12.1)")
        if _require(response.call_id, "Call-ID") != request.call_id:
            raise DialogError("the response's Call-ID differs from the request's")
        dialog = cls(
            call_id=_require(request.call_id, "Call-ID"),
            local=from_,
            remote=to,
            remote_target=_first_contact(response) or request.uri,
            route_set=reversed(response.record_route),
            local_seq=cseq.number,
            remote_seq=None,
            secure=_is_sips(request.uri),
            is_uac=True,
            state=DialogState.CONFIRMED if code >= 200 else DialogState.EARLY,
            ids=ids,
            local_contact=request.headers.get("Contact"),
        )
        if request.method == "INVITE":
            dialog._invite_seq = cseq.number
            dialog.uac_invite_pending = code < 200
        return dialog

    @classmethod
    def from_uas_response(cls, request: Request, response: Response, *, ids: IdFactory) -> Dialog:
        """The UAS's dialog from a request and the 1xx/2xx it sends (§12.1.1).

        Route set = the request's Record-Route in order; remote target = the request's
        Contact; remote seq = the request's CSeq; local seq empty; local tag = the
        response's To tag; secure when the Request-URI is a SIPS URI (see
        :meth:`from_uac_response`).
        """
        code = response.status_code
        if not (100 < code < 300):
            raise DialogError(f"a {code} response does not create a dialog (§12.1)")
        from_, to, cseq = request.from_, response.to, request.cseq
        if from_ is None or to is None or cseq is None:
            raise DialogError("From, To and CSeq are needed to create a dialog")
        if to.tag is None:
            raise DialogError("the response must carry the UAS's To tag (§12.1.1)")
        target = _first_contact(request)
        if target is None:
            raise DialogError("a dialog-creating request needs a Contact (§8.1.1.8)")
        dialog = cls(
            call_id=_require(request.call_id, "Call-ID"),
            local=to,
            remote=from_,
            remote_target=target,
            route_set=request.record_route,
            local_seq=None,
            remote_seq=cseq.number,
            secure=_is_sips(request.uri),
            is_uac=False,
            state=DialogState.CONFIRMED if code >= 200 else DialogState.EARLY,
            ids=ids,
            local_contact=response.headers.get("Contact"),
        )
        if request.method == "INVITE":
            dialog.uas_invite_pending = code < 200
        return dialog

    # -- identity ---------------------------------------------------------------------

    @property
    def local_tag(self) -> str:
        return self.local.tag or ""

    @property
    def remote_tag(self) -> str:
        return self.remote.tag or ""

    @property
    def id(self) -> DialogId:
        """(Call-ID, local tag, remote tag), §12."""
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @property
    def is_early(self) -> bool:
        return self.state is DialogState.EARLY

    @property
    def is_terminated(self) -> bool:
        return self.state is DialogState.TERMINATED

    def terminate(self) -> None:
        """Move to Terminated (BYE, a 481/408 to an in-dialog request, a non-2xx final)."""
        self.state = DialogState.TERMINATED

    def confirm(self, response: Response) -> None:
        """Promote an early UAC dialog on the 2xx ``response`` (§13.2.2.4).

        The dialog becomes confirmed, the route set is recomputed from the 2xx's
        Record-Route (§12.2.1.2 via §13.2.2.4) and the remote target is its Contact.
        """
        if self.state is DialogState.TERMINATED:
            raise DialogError("a terminated dialog cannot be confirmed")
        if self.state is DialogState.EARLY:
            self.route_set = list(reversed(response.record_route))
        target = _first_contact(response)
        if target is not None:
            self.remote_target = target
        self.state = DialogState.CONFIRMED
        self.uac_invite_pending = False

    def glare_retry_delay(self, rand: Callable[[], float]) -> float:
        """Seconds to wait before retrying after a 491 on this dialog (§14.1)."""
        return glare_retry_delay(self.is_uac, rand)

    # -- outgoing requests (§12.2.1) ------------------------------------------------------

    def _request_uri_and_routes(self) -> tuple[Uri, list[str], Uri]:
        """Request-URI, Route values and next-hop URI per §12.2.1.1."""
        target = self.remote_target
        if not self.route_set:
            return target, [], target
        first = self.route_set[0].uri
        if not isinstance(first, SipUri) or first.lr:
            # Loose routing: Request-URI = remote target, Route = route set.
            return target, [str(r) for r in self.route_set], first
        # Strict router (§12.2.1.1, §16.12.1.2): its URI becomes the Request-URI with
        # the parameters not allowed there removed (§19.1.1 table: method, headers);
        # the remote target goes last in Route.
        ruri = first.without_param("method").replace(headers=())
        routes = [str(r) for r in self.route_set[1:]]
        routes.append(f"<{target}>")
        return ruri, routes, first

    def create_request(
        self,
        method: str,
        now: float | None = None,
        *,
        body: Body = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        sent_by: str | None = None,
        transport: str | None = None,
    ) -> tuple[Request, Uri]:
        """Build ``method`` within this dialog (§12.2.1.1); returns (request, next-hop URI).

        Request-URI and Route follow the route set (loose or strict first hop), To and
        From carry the tags, Call-ID is the dialog's, CSeq is local seq + 1 (which
        becomes the new local seq; an ACK reuses the last INVITE's number, see
        :meth:`create_ack`), Contact is added to target-refresh requests, Max-Forwards
        is 70 and the top Via gets a new branch. Its sent-by is ``sent_by`` or
        :attr:`sent_by` (default :data:`DEFAULT_SENT_BY`, to be replaced by the
        transport user). The next hop is the first route's URI, or the remote target.
        ``now`` is accepted for API symmetry with the other sans-I/O entry points.

        CANCEL is not an in-dialog request: use :func:`~sipwright.dialog.build_cancel`.
        """
        del now
        if method == "CANCEL":
            raise DialogError("CANCEL is built from the INVITE (§9.1): use build_cancel")
        if method == "ACK":
            return self.create_ack(
                body=body,
                content_type=content_type,
                headers=headers,
                sent_by=sent_by,
                transport=transport,
            )
        if self.state is DialogState.TERMINATED:
            raise DialogError(f"cannot send {method} in a terminated dialog")
        if method == "INVITE" and (self.uac_invite_pending or self.uas_invite_pending):
            raise DialogError("an INVITE transaction is already in progress (§14.1)")
        seq = (UAS_INITIAL_CSEQ - 1 if self.local_seq is None else self.local_seq) + 1
        self.local_seq = seq
        if method == "INVITE":
            self._invite_seq = seq
            self.uac_invite_pending = True
        return self._build(method, seq, body, content_type, headers, sent_by, transport)

    def create_ack(
        self,
        *,
        body: Body = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        sent_by: str | None = None,
        transport: str | None = None,
    ) -> tuple[Request, Uri]:
        """The ACK of a 2xx to our latest INVITE (§13.2.2.4).

        CSeq number of that INVITE with method ACK, the same Request-URI and Route as
        any in-dialog request (§12.2.1.1), and a new branch: the ACK of a 2xx is a
        transaction of its own. Credentials of the INVITE, if any, go in ``headers``.
        """
        if self._invite_seq is None:
            raise DialogError("no INVITE was sent in this dialog: nothing to ACK")
        return self._build("ACK", self._invite_seq, body, content_type, headers, sent_by, transport)

    def _build(
        self,
        method: str,
        seq: int,
        body: Body,
        content_type: str | None,
        extra: Iterable[tuple[str, str]],
        sent_by: str | None,
        transport: str | None,
    ) -> tuple[Request, Uri]:
        ruri, routes, hop = self._request_uri_and_routes()
        via = f"SIP/2.0/{transport or self.transport} {sent_by or self.sent_by}"
        fields: list[tuple[str, str]] = [
            ("Via", f"{via};branch={self._ids.branch()}"),
            ("Max-Forwards", "70"),
        ]
        fields.extend(("Route", r) for r in routes)
        fields.append(("To", str(self.remote)))
        fields.append(("From", str(self.local)))
        fields.append(("Call-ID", self.call_id))
        fields.append(("CSeq", f"{seq} {method}"))
        if method in TARGET_REFRESH_METHODS:
            if self.local_contact is None:
                raise DialogError(f"{method} is a target refresh and needs local_contact")
            fields.append(("Contact", self.local_contact))
        fields.extend(extra)
        return Request(method, ruri, fields, body, content_type=content_type), hop

    def receive_response(self, request: Request, response: Response) -> None:
        """Apply a response to a request this dialog sent (§12.2.1.2, §14.1).

        A final response ends our pending INVITE; a 2xx to a target refresh replaces the
        remote target with the response's Contact; a 481 or 408 terminates the dialog.
        """
        code = response.status_code
        if code < 200:
            return
        if request.method == "INVITE":
            self.uac_invite_pending = False
        if code in (408, 481):
            self.terminate()
        elif code < 300 and request.method in TARGET_REFRESH_METHODS:
            target = _first_contact(response)
            if target is not None:
                self.remote_target = target

    # -- incoming requests (§12.2.2) --------------------------------------------------------

    def receive_request(
        self, request: Request, *, rand: Callable[[], float] | None = None
    ) -> Response | None:
        """Check and apply an in-dialog request; return the rejection to send, or None.

        §12.2.2: a CSeq lower than the remote seq gets 500 (the remote seq is updated
        otherwise). §14.2: an INVITE while the UAS still owes a final response to an
        earlier INVITE gets 500 with Retry-After 0–10 s (drawn from ``rand``, default
        0), and while our own INVITE is pending it gets 491. A BYE terminates the dialog
        (§15.1.2); its 200 is for the caller to send. ACK and CANCEL are not checked
        (they reuse the INVITE's number). A target refresh is remembered and applied
        when the caller reports its 2xx with :meth:`response_sent`.
        """
        method = request.method
        cseq = request.cseq
        if cseq is None:
            raise DialogError("request without CSeq")
        if method in ("ACK", "CANCEL"):
            return None
        if self.remote_seq is not None and cseq.number < self.remote_seq:
            return make_response(request, 500, "Out of Order CSeq")
        self.remote_seq = cseq.number
        if method == "INVITE":
            if self.uas_invite_pending:
                seconds = retry_after(rand or (lambda: 0.0))
                return make_response(request, 500, headers=[("Retry-After", str(seconds))])
            if self.uac_invite_pending:
                return make_response(request, 491)
            self.uas_invite_pending = True
        if method == "BYE":
            self.terminate()
        if method in TARGET_REFRESH_METHODS:
            target = _first_contact(request)
            if target is not None:
                self._pending_refresh[cseq.number] = target
        return None

    def response_sent(self, request: Request, response: Response) -> None:
        """Tell the dialog the UAS sent ``response`` to the in-dialog ``request``.

        A final response to an INVITE ends the UAS INVITE transaction (§14.2); a 2xx
        to a target refresh replaces the remote target with the request's Contact
        (§12.2.2, RFC 6141 §3.4: only an accepted refresh changes the target).
        """
        code = response.status_code
        cseq = request.cseq
        if code < 200 or cseq is None:
            return
        if request.method == "INVITE":
            self.uas_invite_pending = False
        target = self._pending_refresh.pop(cseq.number, None)
        if target is not None and code < 300:
            self.remote_target = target

    def __repr__(self) -> str:
        cid, local, remote = self.call_id, self.local_tag, self.remote_tag
        return f"<Dialog {self.state.value} {cid} {local}/{remote}>"
