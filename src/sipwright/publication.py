"""Event state publication (RFC 3903) without I/O: the publisher's state and the ESC's store.

:class:`PublicationClient` is one publication as its publisher (the EPA) sees it: the
entity-tag the compositor gave it (``SIP-ETag``), what each PUBLISH of it must carry
(initial: the full body, no ``SIP-If-Match``; refresh: ``SIP-If-Match`` and no body,
§4.4; modify: ``SIP-If-Match`` and the new body, §4.5; remove: ``SIP-If-Match`` and
``Expires: 0``, §4.6) and when to refresh. :class:`PublicationStore` is the Event State
Compositor's side (§6): it decides the answer to each PUBLISH and keeps the published
state, expiring it with the ``now`` it is given.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .errors import ParseError
from .event import event_of
from .ids import new_tag
from .message import Request, Response
from .status import reason_phrase
from .uri import SipUri, Uri

__all__ = [
    "EventState",
    "PublicationClient",
    "PublicationStore",
    "PublishKind",
    "PublishReply",
    "publish_refresh_delay",
]


def publish_refresh_delay(expires: float) -> float:
    """Seconds after a 2xx to refresh a publication granted ``expires`` s.

    §4.1 leaves the margin to the EPA; like a registration, refresh at half the lifetime
    or 30 s before the end, whichever is later, so a short lifetime still gets refreshed.
    """
    return max(expires / 2, expires - 30)


class PublishKind(enum.Enum):
    """Which of the four PUBLISH operations of RFC 3903 §4 a request is."""

    INITIAL = "initial"
    REFRESH = "refresh"
    MODIFY = "modify"
    REMOVE = "remove"


@dataclass(slots=True)
class PublicationClient:
    """One publication of ``event`` state, seen by its publisher (RFC 3903 §4).

    ``body`` / ``content_type`` are the current full state: re-sent as an initial
    PUBLISH when the compositor lost the entity-tag (412, §4.3). ``expires`` is what we
    ask for; ``granted`` what the last 2xx gave; ``etag`` its SIP-ETag.
    """

    event: str
    body: bytes
    content_type: str
    expires: int
    etag: str | None = None
    granted: int | None = None
    #: When (in the caller's clock) to refresh, None when nothing is published.
    refresh_at: float | None = None

    def kind_for_refresh(self) -> PublishKind:
        """What a timer-driven refresh is: a refresh if we hold an etag, else initial."""
        return PublishKind.REFRESH if self.etag is not None else PublishKind.INITIAL

    def headers(self, kind: PublishKind) -> list[tuple[str, str]]:
        """Event, Expires and SIP-If-Match of a PUBLISH of ``kind`` (§4.1–§4.6)."""
        if kind is not PublishKind.INITIAL and self.etag is None:
            raise ValueError(f"a {kind.value} PUBLISH needs the SIP-ETag of an earlier 2xx")
        headers = [("Event", self.event)]
        if kind is not PublishKind.INITIAL:
            assert self.etag is not None
            headers.append(("SIP-If-Match", self.etag))
        headers.append(("Expires", "0" if kind is PublishKind.REMOVE else str(self.expires)))
        return headers

    def body_for(self, kind: PublishKind) -> tuple[bytes, str | None]:
        """The body of a PUBLISH of ``kind``: none for a refresh or remove (§4.4, §4.6)."""
        if kind in (PublishKind.INITIAL, PublishKind.MODIFY):
            return self.body, self.content_type
        return b"", None

    def on_response(self, kind: PublishKind, response: Response, now: float) -> None:
        """Apply the final response to a PUBLISH of ``kind`` received at ``now``.

        A 2xx stores the new SIP-ETag (§4.1: each 2xx carries a fresh one) and the
        granted Expires and schedules the refresh; a 2xx to a remove, or a 412 (the
        compositor no longer knows our etag, §4.3), forgets the etag.
        """
        code = response.status_code
        if 200 <= code < 300:
            if kind is PublishKind.REMOVE:
                self.etag = self.granted = self.refresh_at = None
                return
            etag = response.headers.get("SIP-ETag")
            self.etag = etag.strip() if etag else None
            granted = self.expires
            try:
                if response.expires is not None:
                    granted = response.expires
            except ParseError:
                pass
            self.granted = granted
            self.refresh_at = now + publish_refresh_delay(granted) if granted > 0 else None
        elif code == 412:
            self.etag = self.granted = self.refresh_at = None


@dataclass(slots=True)
class EventState:
    """One piece of published state held by the compositor (§6)."""

    resource: str
    event: str
    etag: str
    body: bytes
    content_type: str | None
    expires_at: float


@dataclass(slots=True)
class PublishReply:
    """The compositor's answer to a PUBLISH: status, reason and extra headers to send.

    ``state`` is the publication the request created, refreshed or modified (None for
    a failure or a removal); ``removed`` the one it removed.
    """

    status_code: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    state: EventState | None = None
    removed: EventState | None = None


def resource_key(uri: Uri) -> str:
    """The resource a PUBLISH is about: its Request-URI without parameters or headers."""
    if isinstance(uri, SipUri):
        user = f"{uri.user}@" if uri.user else ""
        return f"{uri.scheme}:{user}{uri.host_port}".lower()
    return str(uri)


class PublicationStore:
    """The event state compositor of RFC 3903 §6, for the packages in ``events``.

    Lifetimes asked for below ``min_expires`` get 423 (§6 step 5); above ``max_expires``
    they are cut down; a PUBLISH without Expires gets ``default_expires``. At most
    ``max_publications`` are held: a new one beyond that gets 503 with Retry-After. Every call
    takes the current time ``now`` (seconds, any monotonic clock); state whose time is
    up is dropped before each decision, so an expired etag gets 412 like an unknown one.
    """

    def __init__(
        self,
        events: Iterable[str],
        *,
        min_expires: int = 60,
        max_expires: int = 3600,
        default_expires: int = 3600,
        etag_factory: Callable[[], str] | None = None,
        max_publications: int = 10_000,
    ) -> None:
        if not 0 < min_expires <= default_expires <= max_expires:
            raise ValueError("need 0 < min_expires <= default_expires <= max_expires")
        self.events = frozenset(e.lower() for e in events)
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self._etag = etag_factory or new_tag
        self.max_publications = max_publications
        self._by_etag: dict[str, EventState] = {}

    def __len__(self) -> int:
        return len(self._by_etag)

    def expire(self, now: float) -> list[EventState]:
        """Drop and return every publication whose lifetime is over at ``now`` (§6)."""
        gone = [s for s in self._by_etag.values() if s.expires_at <= now]
        for state in gone:
            del self._by_etag[state.etag]
        return gone

    def next_expiry(self) -> float | None:
        """When the earliest publication runs out, None when there is none."""
        return min((s.expires_at for s in self._by_etag.values()), default=None)

    def states(self, resource: str, event: str, now: float) -> list[EventState]:
        """The live publications of ``event`` state for ``resource`` (a resource key)."""
        self.expire(now)
        key, ev = resource.lower(), event.lower()
        return [s for s in self._by_etag.values() if s.resource == key and s.event == ev]

    def get(self, etag: str, now: float) -> EventState | None:
        """The live publication with entity-tag ``etag``."""
        self.expire(now)
        return self._by_etag.get(etag)

    @staticmethod
    def _reply(
        code: int,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        state: EventState | None = None,
        removed: EventState | None = None,
    ) -> PublishReply:
        return PublishReply(code, reason or reason_phrase(code), headers or [], state, removed)

    def handle(self, request: Request, now: float) -> PublishReply:
        """Decide the answer to ``request`` (a PUBLISH) received at ``now`` (§6 steps 1–8)."""
        if request.method != "PUBLISH":
            raise ValueError("PublicationStore handles PUBLISH only")
        self.expire(now)
        allow = [("Allow-Events", ", ".join(sorted(self.events)))]
        try:
            event = event_of(request)
            expires = request.expires
        except ParseError as exc:
            return self._reply(400, exc.reason)
        # Step 2: an event package we do not compose gets 489 (RFC 6665 §8.3.2 too).
        if event is None or event.type.lower() not in self.events:
            return self._reply(489, headers=allow)
        package = event.type.lower()
        match_values = request.headers.getall("SIP-If-Match")
        if len(match_values) > 1:
            return self._reply(400, "More than one SIP-If-Match")
        etag = match_values[0].strip() if match_values else None
        resource = resource_key(request.uri)
        # Step 3: a conditional request names state we must hold, for this resource.
        current: EventState | None = None
        if etag is not None:
            current = self._by_etag.get(etag)
            if current is None or current.resource != resource or current.event != package:
                return self._reply(412)
        elif not request.body:
            # Step 4: an initial PUBLISH carries the state it publishes.
            return self._reply(400, "Initial PUBLISH without a body")
        # Step 5: lifetime.
        if expires is None:
            expires = self.default_expires
        if 0 < expires < self.min_expires:
            return self._reply(423, headers=[("Min-Expires", str(self.min_expires))])
        expires = min(expires, self.max_expires)
        if expires == 0:
            # Step 6 (§4.6): removal; an unconditional one has nothing to remove.
            removed = self._by_etag.pop(current.etag) if current is not None else None
            return self._reply(200, headers=[("Expires", "0")], removed=removed)
        if current is None and len(self._by_etag) >= self.max_publications:
            # Memory is bounded whatever the network sends; try again later (§21.5.4).
            return self._reply(503, "Too Many Publications", [("Retry-After", "60")])
        # Steps 7–8: store the state under a fresh entity-tag (§6: new one per 2xx).
        new_etag = self._etag()
        if current is not None:
            del self._by_etag[current.etag]
            body = request.body or current.body
            content_type = (
                request.headers.get("Content-Type") if request.body else current.content_type
            )
        else:
            body, content_type = request.body, request.headers.get("Content-Type")
        state = EventState(resource, package, new_etag, body, content_type, now + expires)
        self._by_etag[new_etag] = state
        return self._reply(
            200, headers=[("SIP-ETag", new_etag), ("Expires", str(expires))], state=state
        )
