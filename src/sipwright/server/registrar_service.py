"""The registrar as an async service: REGISTER in, response out (RFC 3261 §10.3).

The rules are the sans-I/O :func:`~sipwright.registrar.process_register`; this module adds
what needs I/O and state, in the order of §10.3:

* step 2: a ``Require`` naming an extension we do not support → 420 with ``Unsupported``
  (§8.2.2.3; we support ``path`` and ``outbound``);
* step 3: digest authentication when enabled (401 challenge, §22.1), users from the
  HA1-only users table;
* step 4: authorisation — the authenticated user may only register its own AOR
  (403 otherwise); an AOR of a user we do not know → 404 (§10.3 step 5);
* steps 5–8: the AOR's bindings are updated atomically through
  :meth:`LocationStore.update`, which runs the pure registrar function inside the store's
  transaction (several worker processes share one store).

The response gets a To tag (§8.2.6.2) and, when configured, a ``Server`` header naming the
worker (handy to see which process answered). A store failure is answered 500 with
``Retry-After`` rather than raised: a REGISTER is never dropped silently.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

from ..errors import ParseError
from ..ids import IdFactory, SecretsIdFactory
from ..message import Request, Response, make_response
from ..registrar import (
    Binding,
    Flow,
    RegisterOutcome,
    RegistrarPolicy,
    aor_of,
    process_register,
)
from ..uri import SipUri
from .auth import Realms
from .location import LocationStore

__all__ = ["SUPPORTED_EXTENSIONS", "RegistrarService"]

log = logging.getLogger("sipwright.server.registrar")

#: Option tags the registrar understands (RFC 3327 Path, RFC 5626 outbound).
SUPPORTED_EXTENSIONS = frozenset({"path", "outbound"})


class RegistrarService:
    """``await registrar(request, flow)`` → the final response to a REGISTER.

    ``realms``: digest authentication (None: open registrar). ``clock``: wall-clock
    seconds (bindings are stored with absolute expiry times); tests inject a fake one.
    ``stats`` counts outcomes by status code (``"200"``, ``"401"``...) plus
    ``registered`` (a REGISTER changed an AOR's bindings and some remain) and
    ``unregistered`` (it removed the AOR's last binding).
    """

    def __init__(
        self,
        location: LocationStore,
        policy: RegistrarPolicy,
        *,
        realms: Realms | None = None,
        clock: Callable[[], float] = time.time,
        ids: IdFactory | None = None,
        server_header: str | None = None,
    ) -> None:
        self.location = location
        self.policy = policy
        self.realms = realms
        self.clock = clock
        self.ids: IdFactory = ids or SecretsIdFactory()
        self.server_header = server_header
        self.stats: Counter[str] = Counter()

    async def __call__(self, request: Request, flow: Flow) -> Response:
        return await self.handle(request, flow)

    async def handle(self, request: Request, flow: Flow) -> Response:
        response = await self._handle(request, flow)
        to = response.to
        if to is not None and to.tag is None and response.status_code != 100:
            response.headers.replace_first_value("To", str(to.with_param("tag", self.ids.tag())))
        if self.server_header is not None:
            response.headers.add("Server", self.server_header)
        status = response.status_code
        self.stats[str(status)] += 1
        if status != 401 or log.isEnabledFor(logging.DEBUG):
            # One line per REGISTER outcome; challenges only at DEBUG (every phone's
            # first REGISTER gets one: noise, not an event).
            fields: dict[str, object] = {"aor": _aor_text(request), "status": status}
            if status < 300:
                fields["bindings"] = len(response.headers.getall("Contact"))
            else:
                fields["reason"] = response.reason
            fields["source"] = f"{flow.transport.lower()}:{flow.host}:{flow.port}"
            level = logging.DEBUG if status == 401 else logging.INFO
            log.log(level, "register", extra={"fields": fields})
        return response

    def _reply(
        self, request: Request, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()
    ) -> Response:
        return make_response(request, status, reason, headers=headers)

    async def _handle(self, request: Request, flow: Flow) -> Response:
        now = self.clock()
        try:
            to = request.to
            required = request.require
            # Parsed (and cached) now so that a malformed value is a 400 here rather
            # than an error inside the store's transaction.
            request.cseq  # noqa: B018
            request.contact  # noqa: B018
            request.expires  # noqa: B018
        except ParseError as exc:
            return self._reply(request, 400, f"Bad Request ({exc.reason})"[:120])
        unsupported = [t for t in required if t.lower() not in SUPPORTED_EXTENSIONS]
        if unsupported:
            return self._reply(
                request, 420, "Bad Extension", [("Unsupported", ", ".join(unsupported))]
            )
        if to is None:
            return self._reply(request, 400, "Bad Request (missing To)")
        uri = to.uri
        if not isinstance(uri, SipUri):
            # An AOR is a SIP or SIPS URI (§10.2); RFC 4475 §3.3.4 expects 400 here.
            return self._reply(request, 400, "Bad Request (To must be a sip or sips URI)")
        if self.realms is not None:
            host = uri.host.lower()
            if self.policy.domains and host not in self.policy.domains:
                return self._reply(request, 404, "Not Found (domain not served here)")
            verdict = self.realms.server(host).verify(request, now)
            if not verdict.accepted:
                assert verdict.response is not None
                return verdict.response
            user = uri.user or ""
            if not self.realms.user_exists(user, host):
                return self._reply(request, 404, "Not Found (no such user)")
            if verdict.username != user:
                # §10.3 step 4: only the owner of an AOR may change its bindings.
                return self._reply(request, 403, "Forbidden (not your address-of-record)")
        aor = aor_of(uri)
        assert aor is not None  # a SipUri always has one
        try:
            outcome = await self.location.update(aor, now, self._mutation(request, now, flow))
        except Exception:
            log.exception("location store failed for REGISTER aor=%s", aor)
            return self._reply(request, 500, "Server Internal Error", [("Retry-After", "5")])
        if outcome.changed and 200 <= outcome.response.status_code < 300:
            self.stats["registered" if outcome.bindings else "unregistered"] += 1
        return outcome.response

    def _mutation(
        self, request: Request, now: float, flow: Flow
    ) -> Callable[[list[Binding]], tuple[Sequence[Binding], bool, RegisterOutcome]]:
        policy = self.policy

        def mutation(current: list[Binding]) -> tuple[Sequence[Binding], bool, RegisterOutcome]:
            outcome = process_register(request, current, now, policy, flow=flow)
            return outcome.bindings, outcome.changed, outcome

        return mutation


def _aor_text(request: Request) -> str | None:
    try:
        to = request.to
    except ParseError:
        return None
    return aor_of(to.uri) if to is not None else None
