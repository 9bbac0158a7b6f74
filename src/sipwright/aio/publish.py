"""Event state publication (RFC 3903) on a :class:`~sipwright.aio.ua.UserAgent`.

Publisher: :meth:`UserAgent.publish <sipwright.aio.ua.UserAgent.publish>` sends the
initial PUBLISH (full body, no ``SIP-If-Match``) and returns a :class:`Publication` once
a 2xx gave it an entity-tag; a task refreshes it before it expires (``SIP-If-Match``,
no body, §4.4); :meth:`Publication.modify` replaces the state (§4.5) and
:meth:`Publication.remove` ends it (``Expires: 0``, §4.6). A 412 to a refresh or modify
means the compositor lost our state: the full body is published again as an initial
PUBLISH (§4.3). Every PUBLISH of a publication reuses its Call-ID and From tag with the
next CSeq, and goes through the UA's digest retry (401/407).

Compositor: :class:`PublicationServer` answers PUBLISH requests from a
:class:`~sipwright.publication.PublicationStore` (RFC 3903 §6); install it with
:meth:`PublicationServer.install` so a UA serves as the Event State Compositor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..auth import DigestServer
from ..errors import SipError
from ..message import Request, Response
from ..publication import EventState, PublicationClient, PublicationStore, PublishKind
from .endpoint import RequestHandler, ServerRequest

if TYPE_CHECKING:
    from .ua import UserAgent

__all__ = ["Publication", "PublicationServer", "PublishFailed", "start_publication"]

log = logging.getLogger("sipwright.ua")


class PublishFailed(SipError):
    """A PUBLISH got a non-2xx final response (``response``, ``status_code``)."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"PUBLISH answered {response.status_code} {response.reason}")
        self.response = response
        self.status_code = response.status_code


class Publication:
    """One publication of event state (RFC 3903 §4) and its refresh task.

    ``etag``: the current SIP-ETag; ``last_response``: the final response to the last
    PUBLISH; ``refreshes``: successful timer-driven refreshes; ``error``: why refreshing
    stopped early, else None.
    """

    def __init__(self, ua: UserAgent, target: str, state: PublicationClient) -> None:
        from .ua import _sip_uri

        self._ua = ua
        self.target = _sip_uri(target, "target")
        self.state = state
        self.call_id = ua.endpoint.ids.call_id()
        self.from_tag = ua.endpoint.ids.tag()
        self.cseq = 0
        self.last_response: Response | None = None
        self.refreshes = 0
        self.error: str | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def etag(self) -> str | None:
        return self.state.etag

    @property
    def active(self) -> bool:
        return self.state.etag is not None and self.error is None

    def _request(self, kind: PublishKind) -> Request:
        ua = self._ua
        self.cseq += 1
        headers = [
            ("From", f"{ua._name_addr(ua._default_aor())};tag={self.from_tag}"),
            ("To", f"<{self.target}>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} PUBLISH"),
            *self.state.headers(kind),
        ]
        if ua._proxy_route is not None:
            headers.insert(0, ("Route", ua._proxy_route))
        request = Request("PUBLISH", self.target, headers)
        body, content_type = self.state.body_for(kind)
        if body:
            request.set_body(body, content_type)
        return request

    async def _send_one(self, kind: PublishKind) -> Response:
        request, response = await self._ua.send(
            self._request(kind), self._ua._next_hop(self.target)
        )
        cseq = request.cseq
        if cseq is not None:
            self.cseq = max(self.cseq, cseq.number)
        self.state.on_response(kind, response, asyncio.get_running_loop().time())
        self.last_response = response
        return response

    async def _send(self, kind: PublishKind) -> Response:
        """One operation, with a 423 retry (Min-Expires) and a 412 re-publish (§4.3)."""
        response = await self._send_one(kind)
        if response.status_code == 423 and kind is not PublishKind.REMOVE:
            minimum = response.min_expires
            if minimum is not None and minimum > self.state.expires:
                self.state.expires = minimum
                response = await self._send_one(kind)
        if response.status_code == 412 and kind in (PublishKind.REFRESH, PublishKind.MODIFY):
            response = await self._send_one(PublishKind.INITIAL)
        return response

    async def _operation(self, kind: PublishKind) -> Response:
        async with self._lock:
            response = await self._send(kind)
        if not 200 <= response.status_code < 300:
            raise PublishFailed(response)
        return response

    async def refresh(self) -> Response:
        """Refresh now: SIP-If-Match and no body (§4.4)."""
        return await self._operation(self.state.kind_for_refresh())

    async def modify(self, body: bytes | str, content_type: str | None = None) -> Response:
        """Replace the published state with ``body`` (§4.5: SIP-If-Match + the new body)."""
        self.state.body = body.encode("utf-8") if isinstance(body, str) else body
        if content_type is not None:
            self.state.content_type = content_type
        kind = PublishKind.MODIFY if self.state.etag is not None else PublishKind.INITIAL
        return await self._operation(kind)

    async def remove(self) -> Response:
        """Remove the state (§4.6: ``Expires: 0`` + SIP-If-Match) and stop refreshing."""
        await self._stop()
        if self.state.etag is None:
            raise SipError("nothing is published")
        return await self._operation(PublishKind.REMOVE)

    def _start(self) -> None:
        self._task = self._ua._spawn(self._refresh_loop())

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _refresh_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self.state.refresh_at is not None:
            await asyncio.sleep(max(0.0, self.state.refresh_at - loop.time()))
            try:
                await self.refresh()
            except SipError as exc:
                self.error = f"refresh failed: {exc}"
                log.warning("publication to %s stopped: %s", self.target, self.error)
                return
            self.refreshes += 1


async def start_publication(
    ua: UserAgent,
    target: str,
    event: str,
    body: bytes | str,
    *,
    content_type: str,
    expires: int,
) -> Publication:
    """The initial PUBLISH of a new publication; raise :class:`PublishFailed` on a non-2xx."""
    if expires <= 0:
        raise ValueError("expires must be > 0 (use Publication.remove to end one)")
    data = body.encode("utf-8") if isinstance(body, str) else body
    if not data:
        raise ValueError("an initial PUBLISH carries the state to publish (RFC 3903 §4.1)")
    publication = Publication(ua, target, PublicationClient(event, data, content_type, expires))
    await publication._operation(PublishKind.INITIAL)
    publication._start()
    return publication


class PublicationServer:
    """An Event State Compositor on a UA: answers PUBLISH from ``store`` (RFC 3903 §6).

    Other requests go to ``fallback`` (the UA's previous ``on_request`` when installed
    with :meth:`install`), else get the endpoint's default answers. ``on_change(state,
    removed)`` is called after every accepted PUBLISH, e.g. to NOTIFY watchers. With
    ``digest`` (a :class:`~sipwright.auth.DigestServer`) PUBLISH must be authenticated.
    """

    def __init__(
        self,
        store: PublicationStore,
        *,
        fallback: RequestHandler | None = None,
        on_change: Callable[[EventState | None, EventState | None], None] | None = None,
        digest: DigestServer | None = None,
    ) -> None:
        self.store = store
        self.fallback = fallback
        self.on_change = on_change
        #: When set, every PUBLISH must carry valid credentials (RFC 3903 §6 step 1
        #: leaves authentication to the ESC; RFC 3261 §22: 401 with a challenge).
        self.digest = digest
        self._ua: UserAgent | None = None

    def install(self, ua: UserAgent) -> PublicationServer:
        """Serve PUBLISH for ``ua`` (as its ``on_request``, chaining the previous one)."""
        self._ua = ua
        if self.fallback is None:
            self.fallback = ua.on_request
        ua.on_request = self
        return self

    async def __call__(self, sreq: ServerRequest) -> None:
        if sreq.request.method != "PUBLISH":
            if self.fallback is not None:
                await self.fallback(sreq)
            elif self._ua is not None:
                self._ua.endpoint._default_answer(sreq)
            else:
                await sreq.respond(501)
            return
        if self.digest is not None:
            verdict = self.digest.verify(sreq.request, time.time())
            if not verdict.accepted and verdict.response is not None:
                challenge = verdict.response
                names = ("WWW-Authenticate", "Proxy-Authenticate")
                headers = [(n, v) for n in names for v in challenge.headers.getall(n)]
                await sreq.respond(challenge.status_code, challenge.reason, headers)
                return
        reply = self.store.handle(sreq.request, asyncio.get_running_loop().time())
        await sreq.respond(reply.status_code, reply.reason, reply.headers)
        if reply.status_code < 300 and self.on_change is not None:
            self.on_change(reply.state, reply.removed)
