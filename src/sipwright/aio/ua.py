"""The user agent: REGISTER, MESSAGE, OPTIONS and basic calls on one endpoint.

:class:`UserAgent` owns one :class:`~sipwright.aio.endpoint.Endpoint` listening on UDP at
the host and port of its ``contact`` (port 0: an ephemeral port; the Contact header then
carries the bound one). What it does:

* :meth:`UserAgent.register` / :meth:`UserAgent.unregister`: RFC 3261 §10.2. The REGISTER
  has To = From = the address-of-record, Contact = our contact, ``Expires``. After a 2xx
  the binding's granted lifetime is read from the 200's Contact matching ours (§10.2.4:
  its ``expires`` parameter), else its Expires header, else what we asked for; a refresh
  is scheduled at ``max(expires / 2, expires - 30)`` seconds and repeats while it
  succeeds. Every REGISTER of a registration (refreshes, the unregister) reuses the
  Call-ID and From tag and increments CSeq (§10.2.4). A 423 Interval Too Brief is
  retried once with its Min-Expires (§10.2.8). :meth:`unregister` sends ``Expires: 0``
  and ``Contact: <ours>;expires=0`` and stops the refresh.
* :meth:`UserAgent.message`: a pager-mode MESSAGE (RFC 3428), ``text/plain`` by default.
* :meth:`UserAgent.options`: an out-of-dialog OPTIONS (§11).
* :meth:`UserAgent.publish`: event state publication (RFC 3903), refreshed with
  SIP-If-Match; see :mod:`sipwright.aio.publish` (also the compositor side,
  :class:`~sipwright.aio.publish.PublicationServer`).

Each request goes through :meth:`sipwright.auth.DigestClient.retry` when a 401/407 comes
back and credentials were given: same Call-ID, CSeq + 1, a new branch (§22.2). The
DigestClient gives up when the request already carried credentials for the challenged
realm and the server did not say ``stale=true``, so a wrong password surfaces as the final
401/407 (never an endless loop); a hard cap of :data:`MAX_AUTH_RETRIES` retries applies too.

Routing: with ``outbound_proxy`` every request is sent to that proxy with a preloaded
``Route: <proxy;lr>`` (§8.1.2); otherwise to the Request-URI. A next hop named by host
name is located by RFC 3263 (:class:`~sipwright.aio.dns.SipResolver`: NAPTR, SRV, A;
over UDP, the transport this UA speaks) when a request is first sent there — by
:meth:`UserAgent.locate`, which ``call``, ``register``, ``message``, ``options``,
``subscribe`` and ``publish`` run — and remembered; :meth:`UserAgent.dial` (which returns
at once) and in-dialog requests need hops that are IP addresses or already located.

Calls (§13–§15, on :mod:`sipwright.dialog`): :meth:`UserAgent.call` / :meth:`UserAgent.dial`
send an INVITE (SDP offer, default :func:`~sipwright.aio.calls.default_sdp_offer`) and give
an :class:`OutgoingCall`; a 1xx with a To tag makes an early dialog, the 2xx confirms it
(the ACK is sent by the endpoint's UAC core, ``auto_ack``, also for 2xx retransmissions),
a non-2xx raises :class:`CallFailed` (its ACK belongs to the INVITE transaction).
:meth:`OutgoingCall.cancel` sends the CANCEL of §9.1 (after a provisional response).
Incoming INVITEs become :class:`IncomingCall` objects, given to ``ua.on_call`` or yielded
by :meth:`UserAgent.incoming`: ``ringing()`` (180 with To tag and Contact, early dialog),
``answer(sdp)`` (200 retransmitted by the endpoint until the ACK), ``reject(486)``; a
CANCEL makes the endpoint send 487 and the call FAILED; no answer within
``no_answer_timeout`` gives 480. ``call.bye()`` sends a BYE built by the Dialog (route
set, CSeq + 1, tags); a BYE received is matched through the :class:`DialogLayer` (481
for an unknown dialog) and ends the call (``await call.ended()``).

Mid-call (docs/mid-call.md): ``call.reinvite()`` / ``hold()`` / ``resume()`` (§14, RFC 3264
§8.4), ``update()`` (RFC 3311) and ``send_dtmf()`` (INFO, RFC 6086); offers received in a
re-INVITE or UPDATE are answered with :mod:`sipwright.sdp` (or ``call.on_offer``), a 491
is retried after ``ua.glare_delay`` (§14.1), DTMF INFOs feed ``call.dtmf()``.

Events (RFC 6665, docs/events.md, :mod:`sipwright.aio.events`): :meth:`UserAgent.subscribe`
(NOTIFYs in order, automatic refresh, ``unsubscribe()``) and ``ua.on_subscribe`` (the
notifier: ``accept()`` / ``notify()`` / ``terminate()``); SUBSCRIBEs and the NOTIFYs of
these subscriptions are routed to ``ua.events`` before the dialog path.

Not yet: other in-dialog requests (REFER and its NOTIFYs are handled by the
call, :meth:`Call.refer`, RFC 3515 blind transfer only; REFER outside a dialog gets
``ua.on_request``), several subscriptions in one dialog, forked SUBSCRIBEs, offerless
INVITEs (offer in the 2xx, answer in the ACK), SDP negotiation (the application passes
offer and answer bytes), UPDATE / offers in PRACK bodies during the early dialog (RFC 3262
§5, RFC 3311), session timers, BYE on a 2xx never ACKed.

Reliable provisionals (RFC 3262) and forking (§13.2.2.4): see docs/reliable-and-forking.md.
INVITEs carry ``Supported: 100rel`` and our ``Allow`` (``UserAgent(allow=..., supported=...)``,
also used in 2xx to INVITE and the OPTIONS answer); a reliable 1xx is PRACKed in its early
dialog, once per RSeq; ``IncomingCall.ringing(reliable=True)`` / ``progress()`` send them;
an INVITE requiring an option tag we lack gets 420. Each forked 1xx makes its own early
dialog (``OutgoingCall.early_dialogs``); a 2xx from a second fork is ACKed and BYEd.

Out-of-dialog requests other than INVITE go to ``ua.on_request``
or get the endpoint's default answers (OPTIONS 200, others 501); setting
``ua.endpoint.on_request`` replaces all of this. :meth:`UserAgent.close` stops refreshing
but does not unregister (call :meth:`unregister` first) and does not hang up calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from ..auth import DigestClient
from ..dialog import Dialog, DialogId, DialogLayer, glare_retry_delay
from ..errors import ParseError, SipError
from ..ids import IdFactory
from ..message import Request, Response
from ..transaction import Destination, TimerConfig
from ..uri import SipUri, parse_uri
from .call import (
    MAX_AUTH_RETRIES,
    Call,
    CallFailed,
    CallState,
    IncomingCall,
    OutgoingCall,
    _body,
)
from .calls import default_sdp_offer, literal_hop, next_hop
from .dns import SipResolver
from .endpoint import DEFAULT_USER_AGENT, Endpoint, RequestHandler, ServerRequest
from .events import EventManager, IncomingSubscription, Subscription
from .publish import Publication, start_publication
from .refer import ReferHandler

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_SUPPORTED",
    "MAX_AUTH_RETRIES",
    "Call",
    "CallFailed",
    "CallState",
    "IncomingCall",
    "OutgoingCall",
    "Registration",
    "UserAgent",
    "refresh_delay",
]

log = logging.getLogger("sipwright.ua")


#: What a UserAgent handles by default: its Allow (RFC 3261 §20.5).
DEFAULT_ALLOW = (
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "MESSAGE",
    "PRACK",
    "UPDATE",
    "INFO",
    "REFER",
    "SUBSCRIBE",
    "NOTIFY",
)
#: Option tags a UserAgent supports by default: its Supported (§20.37). ``100rel``:
#: reliable provisional responses (RFC 3262).
DEFAULT_SUPPORTED = ("100rel",)


def refresh_delay(expires: float) -> float:
    """Seconds after a successful REGISTER to refresh a binding granted ``expires`` s."""
    return max(expires / 2, expires - 30)


def _sip_uri(text: str, what: str) -> SipUri:
    uri = parse_uri(text.strip().removeprefix("<").removesuffix(">"))
    if not isinstance(uri, SipUri):
        raise ValueError(f"{what} must be a sip: or sips: URI, not {text!r}")
    return uri


#: Located next hops remembered by one UA (cleared when full).
_LOCATED_MAX = 256


def _destination(uri: SipUri) -> Destination:
    """Our own listening address from the contact URI: an IP literal host."""
    hop = literal_hop(uri, "UDP")
    if hop is None:
        raise ValueError(f"{uri}: the contact needs an IP address host to listen on")
    return hop


@dataclass(slots=True)
class Registration:
    """One registration's state (§10.2.4): the same Call-ID and From tag for every REGISTER."""

    registrar: SipUri
    aor: str
    call_id: str
    from_tag: str
    #: What we ask for (seconds); raised by a 423's Min-Expires.
    expires: int
    #: CSeq number of the last REGISTER sent.
    cseq: int = 0
    #: Lifetime granted by the last 2xx (seconds), None before the first one.
    granted: int | None = None
    #: Final response to the last REGISTER.
    last_response: Response | None = None
    #: Successful refreshes so far (not counting the first REGISTER).
    refreshes: int = 0
    #: Why refreshing stopped early (a non-2xx or an error), else None.
    error: str | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """Whether the last REGISTER succeeded with a non-zero lifetime."""
        return bool(self.granted) and self.error is None


class UserAgent:
    """A UA on one UDP endpoint. Use as ``async with UserAgent(contact=...) as ua``.

    ``contact``: our SIP URI (IP host; port 0 for an ephemeral port). ``resolver``: for
    next hops named by host name (default: one using the system's name servers, made
    when first needed). ``credentials``:
    ``(username, password)`` answering any realm's digest challenge. ``outbound_proxy``:
    the URI of a proxy every request goes through. ``aor``: our address-of-record (From
    of MESSAGE/OPTIONS, To/From of REGISTER); by default ``sip:user@registrar-host`` for
    REGISTER and, for other requests, the registered AOR or else ``sip:user@contact-host``.
    """

    #: ``async (referral) -> bool`` deciding on a REFER received in any of our calls
    #: when the call has no ``on_refer`` of its own (RFC 3515); None: accept.
    on_refer: ReferHandler | None = None

    def __init__(
        self,
        contact: str,
        *,
        credentials: tuple[str, str] | None = None,
        outbound_proxy: str | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        aor: str | None = None,
        display_name: str | None = None,
        timers: TimerConfig | None = None,
        ids: IdFactory | None = None,
        allow: tuple[str, ...] = DEFAULT_ALLOW,
        supported: tuple[str, ...] = DEFAULT_SUPPORTED,
        resolver: SipResolver | None = None,
    ) -> None:
        uri = _sip_uri(contact, "contact")
        local = _destination(uri)
        if local.transport != "UDP":
            raise ValueError("this slice listens on UDP only")
        self._contact_spec = uri
        self._contact: SipUri | None = None
        self.endpoint = Endpoint(
            [("UDP", local.host, uri.port or 0)], timers=timers, ids=ids, user_agent=user_agent
        )
        self.user_agent = user_agent
        #: Methods we handle: the Allow of our INVITEs, 2xx to INVITE and OPTIONS
        #: answers (§20.5). Option tags we support: their Supported (§20.37); without
        #: ``100rel`` no reliable provisional is asked for or sent (RFC 3262).
        self.allow = tuple(m.upper() for m in allow)
        self.supported = tuple(supported)
        self.endpoint.allow = self.allow
        self.endpoint.supported = self.supported
        self.aor = aor
        self.display_name = display_name
        self._digest = (
            DigestClient.for_user(*credentials, ids=self.endpoint.ids)
            if credentials is not None
            else None
        )
        self._proxy: SipUri | None = None
        self._proxy_route: str | None = None
        #: RFC 3263 location of next hops named by host name (see :meth:`locate`).
        self.resolver = resolver
        self._located: dict[str, Destination] = {}
        self._family = "AAAA" if ":" in local.host else "A"
        if outbound_proxy is not None:
            proxy = _sip_uri(outbound_proxy, "outbound_proxy")
            self._proxy = proxy
            if not proxy.lr:
                proxy = dataclasses.replace(proxy, params=(*proxy.params, ("lr", None)))
            self._proxy_route = f"<{proxy}>"
        #: The current registration (None before :meth:`register`).
        self.registration: Registration | None = None
        self._closed = False
        #: The dialogs of our calls (§12); in-dialog requests are matched here.
        #: Random source in [0, 1) for the waits of §14.1 (glare) and §14.2 (Retry-After).
        self.rand: Callable[[], float] = random.random
        #: ``glare_delay(call_id_owner)``: seconds to wait after a 491 before re-sending a
        #: re-INVITE/UPDATE (§14.1: 2.1-4 s when we own the Call-ID, else 0-2 s).
        self.glare_delay: Callable[[bool], float] = lambda owner: glare_retry_delay(
            owner, self.rand
        )
        self.dialogs = DialogLayer(self.endpoint.ids, rand=lambda: self.rand())
        self._calls: dict[DialogId, Call] = {}
        self._incoming: asyncio.Queue[IncomingCall] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        #: ``on_call(incoming)``: handles each incoming call (else :meth:`incoming` yields it).
        self.on_call: Callable[[IncomingCall], Awaitable[None]] | None = None
        #: Out-of-dialog requests other than INVITE (else the endpoint's default answers).
        self.on_request: RequestHandler | None = None
        #: Seconds an incoming INVITE may wait for answer()/reject() before a 480.
        self.no_answer_timeout = 60.0
        #: RFC 6665 subscriptions (both roles); see :mod:`sipwright.aio.events`.
        self.events = EventManager(self)
        #: ``on_subscribe(incoming)``: handles each new SUBSCRIBE (none set: 489 Bad Event).
        self.on_subscribe: Callable[[IncomingSubscription], Awaitable[None]] | None = None
        self.endpoint.on_request = self._on_request
        self.endpoint.on_ack = self._on_ack

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        await self.endpoint.start()
        bound = self.endpoint.local_address("UDP")
        if bound is None:  # pragma: no cover - start() listened or raised
            raise SipError("no UDP listener")
        self._contact = dataclasses.replace(self._contact_spec, port=bound.port)
        if self._proxy is not None:
            try:
                await self.locate(self._proxy)
            except BaseException:
                await self.endpoint.close()
                raise

    async def close(self) -> None:
        """Stop refreshing and close the endpoint (the binding is left to expire)."""
        if self._closed:
            return
        self._closed = True
        await self._stop_refresh()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self.endpoint.close()

    async def __aenter__(self) -> UserAgent:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def contact(self) -> SipUri:
        """Our contact URI with the bound port."""
        if self._contact is None:
            raise RuntimeError("the user agent is not started (use `async with UserAgent(...)`)")
        return self._contact

    # -- sending ---------------------------------------------------------------------

    async def locate(self, target: str | SipUri) -> Destination:
        """Where requests for ``target`` are sent: the outbound proxy when there is one,
        else ``target``; an IP address as it is, a host name located by RFC 3263 §4
        (UDP only: this UA's transport) and remembered for the requests that follow.
        Raises :class:`~sipwright.errors.SipError` when the name has no address."""
        uri = target if isinstance(target, SipUri) else _sip_uri(target, "target")
        hop_uri = self._proxy if self._proxy is not None else uri
        literal = literal_hop(hop_uri, "UDP")
        if literal is not None:
            return literal
        key = str(hop_uri)
        found = self._located.get(key)
        if found is None:
            if self.resolver is None:
                self.resolver = SipResolver()
            dests = await self.resolver.locate(hop_uri, ("UDP",), (self._family,))
            if not dests:
                raise SipError(f"{hop_uri.host}: no address found for it (RFC 3263)")
            found = dests[0]
            if len(self._located) >= _LOCATED_MAX:
                self._located.clear()
            self._located[key] = found
        return found

    def _hop_for(self, uri: SipUri) -> Destination:
        """The next hop for ``uri`` without waiting: an IP address, or a name located
        already (by :meth:`locate`)."""
        hop = literal_hop(uri, "UDP") or self._located.get(str(uri))
        if hop is None:
            raise ValueError(f"{uri}: a host name must be located first (await ua.locate())")
        return hop

    def _next_hop(self, target: SipUri) -> Destination:
        return self._hop_for(self._proxy if self._proxy is not None else target)

    def _name_addr(self, uri: str) -> str:
        if self.display_name:
            escaped = self.display_name.replace("\\", "\\\\").replace('"', '\\"')
            return f'"{escaped}" <{uri}>'
        return f"<{uri}>"

    def _default_aor(self) -> str:
        if self.aor is not None:
            return self.aor
        if self.registration is not None:
            return self.registration.aor
        user = f"{self.contact.user}@" if self.contact.user else ""
        return f"{self.contact.scheme}:{user}{self.contact.host}"

    async def send(self, request: Request, destination: Destination) -> tuple[Request, Response]:
        """Send ``request``; answer 401/407 challenges; return the last request and response.

        The request is completed with a User-Agent header when it has none.
        """
        if request.headers.get("User-Agent") is None:
            request.headers.add("User-Agent", self.user_agent)
        response = await self.endpoint.request(request, destination)
        for _ in range(MAX_AUTH_RETRIES):
            if response.status_code not in (401, 407) or self._digest is None:
                break
            retry = self._digest.retry(request, response)
            if retry is None:
                break
            request = retry
            response = await self.endpoint.request(request, destination)
        return request, response

    def _out_of_dialog(
        self, method: str, target: str, *, contact: bool
    ) -> tuple[Request, Destination]:
        uri = _sip_uri(target, "target")
        headers = [
            ("From", f"{self._name_addr(self._default_aor())};tag={self.endpoint.ids.tag()}"),
            ("To", f"<{uri}>"),
            ("Call-ID", self.endpoint.ids.call_id()),
            ("CSeq", f"1 {method}"),
        ]
        if self._proxy_route is not None:
            headers.insert(0, ("Route", self._proxy_route))
        if contact:
            headers.append(("Contact", f"<{self.contact}>"))
        return Request(method, uri, headers), self._next_hop(uri)

    async def message(
        self, target: str, body: str | bytes, *, content_type: str = "text/plain"
    ) -> Response:
        """Send a MESSAGE (RFC 3428) with ``body`` to ``target``; return the final response."""
        await self.locate(target)
        request, hop = self._out_of_dialog("MESSAGE", target, contact=False)
        data = body.encode("utf-8") if isinstance(body, str) else body
        request.set_body(data, content_type)
        _, response = await self.send(request, hop)
        return response

    async def options(self, target: str) -> Response:
        """Send an OPTIONS (§11) to ``target``; return the final response."""
        await self.locate(target)
        request, hop = self._out_of_dialog("OPTIONS", target, contact=True)
        request.headers.add("Accept", "application/sdp")
        _, response = await self.send(request, hop)
        return response

    async def publish(
        self,
        target: str,
        event: str,
        body: bytes | str,
        *,
        content_type: str = "application/pidf+xml",
        expires: int = 3600,
    ) -> Publication:
        """Publish ``event`` state ``body`` for ``target`` (RFC 3903); the :class:`Publication`.

        Returns after the initial PUBLISH's 2xx (its SIP-ETag and Expires); refreshed
        before it expires, ``modify(body)`` / ``remove()`` on the result. A non-2xx raises
        :class:`~sipwright.aio.publish.PublishFailed`.
        """
        await self.locate(target)
        return await start_publication(
            self, target, event, body, content_type=content_type, expires=expires
        )

    # -- registration ----------------------------------------------------------------

    def _register_request(self, reg: Registration, expires: int) -> Request:
        reg.cseq += 1
        headers = [
            ("From", f"{self._name_addr(reg.aor)};tag={reg.from_tag}"),
            ("To", self._name_addr(reg.aor)),
            ("Call-ID", reg.call_id),
            ("CSeq", f"{reg.cseq} REGISTER"),
            ("Contact", f"<{self.contact}>" + (";expires=0" if expires == 0 else "")),
            ("Expires", str(expires)),
        ]
        if self._proxy_route is not None:
            headers.insert(0, ("Route", self._proxy_route))
        return Request("REGISTER", reg.registrar, headers)

    def _granted(self, response: Response, requested: int) -> int:
        """The lifetime the registrar granted our contact (§10.2.4)."""
        for contact in response.contact:
            if contact.uri == self.contact and contact.expires is not None:
                return contact.expires
        return response.expires if response.expires is not None else requested

    async def _do_register(self, reg: Registration, expires: int) -> Response:
        """One REGISTER transaction (with its auth retries and one 423 retry)."""
        hop = self._next_hop(reg.registrar)
        request, response = await self.send(self._register_request(reg, expires), hop)
        if response.status_code == 423 and expires:
            minimum = response.min_expires
            if minimum is not None and minimum > expires:
                reg.expires = expires = minimum
                request, response = await self.send(self._register_request(reg, expires), hop)
        cseq = request.cseq
        if cseq is not None:
            reg.cseq = max(reg.cseq, cseq.number)
        reg.last_response = response
        if 200 <= response.status_code < 300:
            reg.granted = self._granted(response, expires) if expires else 0
            reg.error = None
        else:
            reg.error = f"REGISTER answered {response.status_code} {response.reason}"
        return response

    async def register(
        self, registrar: str, *, expires: int = 3600, aor: str | None = None
    ) -> Response:
        """Register our contact at ``registrar`` for ``expires`` s; return the final response.

        A 2xx (its Contact values are the bindings, §10.3) starts the refresh loop.
        Registering again with the same registrar and AOR continues the registration
        (same Call-ID, next CSeq); anything else starts a new one.
        """
        if expires < 0:
            raise ValueError("expires must be >= 0")
        uri = _sip_uri(registrar, "registrar")
        await self.locate(uri)
        if aor is None:
            aor = self.aor
        if aor is None:
            user = f"{self.contact.user}@" if self.contact.user else ""
            aor = f"{uri.scheme}:{user}{uri.host_port}"
        await self._stop_refresh()
        reg = self.registration
        if reg is None or reg.registrar != uri or reg.aor != aor:
            ids = self.endpoint.ids
            reg = Registration(uri, aor, ids.call_id(), ids.tag(), expires)
            self.registration = reg
        reg.expires = expires
        response = await self._do_register(reg, expires)
        if reg.active:
            self._schedule(reg)
        return response

    async def unregister(self) -> Response:
        """Remove our binding (``Expires: 0``) and stop refreshing; return the final response."""
        reg = self.registration
        if reg is None:
            raise SipError("not registered")
        await self._stop_refresh()
        return await self._do_register(reg, 0)

    def _schedule(self, reg: Registration) -> None:
        reg._task = asyncio.get_running_loop().create_task(self._refresh_loop(reg))

    async def _refresh_loop(self, reg: Registration) -> None:
        while reg.granted:
            await asyncio.sleep(refresh_delay(reg.granted))
            try:
                await self._do_register(reg, reg.expires)
            except SipError as exc:
                reg.error = f"refresh failed: {exc}"
            if reg.error is not None:
                log.warning("registration of %s stopped: %s", reg.aor, reg.error)
                return
            reg.refreshes += 1
            log.debug("registration of %s refreshed for %s s", reg.aor, reg.granted)

    async def _stop_refresh(self) -> None:
        reg = self.registration
        if reg is None or reg._task is None:
            return
        task, reg._task = reg._task, None
        if task is asyncio.current_task():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # -- calls (§13–§15) -------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def dial(
        self,
        target: str,
        *,
        sdp: bytes | str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> OutgoingCall:
        """Send an INVITE to ``target`` and return the pending :class:`OutgoingCall` at once.

        ``sdp``: the offer (default: :func:`~sipwright.aio.calls.default_sdp_offer` for our
        contact host). Await :meth:`OutgoingCall.answered` or use :meth:`OutgoingCall.cancel`.
        The INVITE carries our :attr:`allow` and :attr:`supported` (§20.5, §20.37; with
        ``100rel`` the callee may send reliable provisionals, RFC 3262), unless
        ``headers`` has its own Allow / Supported (e.g. ``("Require", "100rel")``
        insists on them, RFC 3262 §4).
        """
        request, hop = self._out_of_dialog("INVITE", target, contact=True)
        body = _body(sdp)
        if body is None:
            body = default_sdp_offer(self.contact.bare_host)
        request.set_body(body, "application/sdp")
        for name, value in headers:
            request.headers.add(name, value)
        if request.headers.get("Allow") is None and self.allow:
            request.headers.add("Allow", ", ".join(self.allow))
        if request.headers.get("Supported") is None and self.supported:
            request.headers.add("Supported", ", ".join(self.supported))
        request.headers.add("User-Agent", self.user_agent)
        call = OutgoingCall(self, request, hop)
        call._task = self._spawn(call._run())
        return call

    async def call(
        self,
        target: str,
        *,
        sdp: bytes | str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> OutgoingCall:
        """Call ``target``; return the call once answered (2xx, ACK sent).

        Raises :class:`CallFailed` (``status_code``, ``response``) on a non-2xx final.
        """
        await self.locate(target)
        return await self.dial(target, sdp=sdp, headers=headers).answered()

    async def subscribe(
        self,
        target: str,
        event: str,
        *,
        expires: int = 3600,
        accept: tuple[str, ...] = (),
        body: bytes | str | None = None,
        content_type: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        refresh: bool = True,
    ) -> Subscription:
        """Subscribe to ``event`` (``"presence"``, ``"dialog;id=1"``) at ``target``
        (RFC 6665 §4.1.2.1); return the :class:`~sipwright.aio.events.Subscription` after
        the 2xx (401/407 answered with our credentials, a 423 retried once with its
        Min-Expires). A non-2xx raises :class:`~sipwright.aio.events.SubscribeFailed`.
        ``refresh=False``: no automatic refresh (§4.1.2.2); iterate the subscription for
        its NOTIFYs.
        """
        await self.locate(target)
        return await self.events.subscribe(
            target,
            event,
            expires=expires,
            accept=accept,
            body=body,
            content_type=content_type,
            headers=headers,
            refresh=refresh,
        )

    async def incoming(self) -> AsyncIterator[IncomingCall]:
        """Incoming calls, as they arrive (when :attr:`on_call` is not set)."""
        while True:
            yield await self._incoming.get()

    def _in_dialog_request(
        self, dialog: Dialog, method: str, fallback: Destination | None
    ) -> tuple[Request, Destination]:
        """``method`` built by ``dialog`` (§12.2.1.1) and its next hop.

        The dialog's placeholder Via is dropped: the endpoint writes our own (new branch).
        """
        request, hop_uri = dialog.create_request(method)
        request.headers.remove("Via")
        if self._proxy is not None and self._proxy_route is not None and not dialog.route_set:
            request.headers.prepend("Route", self._proxy_route)
            return request, self._hop_for(self._proxy)
        if fallback is None:
            if not isinstance(hop_uri, SipUri):
                raise SipError(f"cannot route {method} to {hop_uri}")
            return request, self._hop_for(hop_uri)
        return request, next_hop(hop_uri, fallback)

    async def _on_request(self, sreq: ServerRequest) -> None:
        request = sreq.request
        # RFC 6665: SUBSCRIBEs and the NOTIFYs of our own subscriptions go to the event
        # manager first; other NOTIFYs (REFER's, in a call's dialog) go on below.
        if request.method in ("SUBSCRIBE", "NOTIFY") and await self.events.handle(sreq):
            return
        to = request.to
        if to is not None and to.tag is not None:
            await self._in_dialog(sreq)
        elif request.method == "INVITE":
            await self._incoming_invite(sreq)
        elif self.on_request is not None:
            await self.on_request(sreq)
        else:
            self.endpoint._default_answer(sreq)

    async def _in_dialog(self, sreq: ServerRequest) -> None:
        """A request with a To tag: matched through the dialog layer (§12.2.2)."""
        request = sreq.request
        dialog, rejection = self.dialogs.receive_request(request)
        if rejection is not None:
            retry = rejection.headers.get("Retry-After")
            extra = [("Retry-After", retry)] if retry is not None else []
            await sreq.respond(rejection.status_code, rejection.reason, headers=extra)
            return
        if dialog is None:  # pragma: no cover - only ACK/CANCEL get here, never via on_request
            await sreq.respond(481)
            return
        call = self._calls.get(dialog.id)
        if call is not None:
            await call._handle_request(sreq, dialog)
            return
        if request.method == "BYE":
            await sreq.respond(200)  # §15.1.2: a dialog without a call (nothing to end)
            return
        # A dialog nothing here owns any more.
        response = sreq.make_response(481)
        await sreq.respond(481)
        dialog.response_sent(request, response)

    async def _incoming_invite(self, sreq: ServerRequest) -> None:
        if not sreq.request.contact:
            await sreq.respond(400, "Missing Contact")  # §8.1.1.8
            return
        try:
            required = sreq.request.require
        except ParseError as exc:
            await sreq.respond(exc.status_code, exc.reason)
            return
        unsupported = [tag for tag in required if tag not in self.supported]
        if unsupported:  # §8.2.2.3 (RFC 3262 §3 for 100rel)
            await sreq.respond(420, headers=[("Unsupported", ", ".join(unsupported))])
            return
        call = IncomingCall(self, sreq)
        handler = self.on_call
        if handler is not None:
            self._spawn(self._run_on_call(handler, call))
        else:
            self._incoming.put_nowait(call)
        waits = {
            asyncio.ensure_future(sreq.cancelled.wait()),
            asyncio.ensure_future(call._settled.wait()),
        }
        try:
            await asyncio.wait(
                waits, timeout=self.no_answer_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waits:
                waiter.cancel()
        if call._settled.is_set():
            return
        if sreq.cancelled.is_set():
            call._on_cancel()
        else:
            await call.reject(480)

    async def _run_on_call(
        self, handler: Callable[[IncomingCall], Awaitable[None]], call: IncomingCall
    ) -> None:
        try:
            await handler(call)
        except Exception:
            log.exception("on_call handler failed")
            await call.reject(500)

    def _on_ack(self, request: Request, source: Destination) -> None:
        """The ACK of a 2xx (to the first INVITE or a re-INVITE) for one of our calls."""
        dialog = self.dialogs.match_request(request)
        call = self._calls.get(dialog.id) if dialog is not None else None
        if call is None:
            return
        if isinstance(call, IncomingCall):
            call._on_ack()
        call._on_session_ack(request)
