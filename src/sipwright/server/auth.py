"""Digest authentication for ``sipwright serve``: realms, and the proxy's ``authenticate`` hook.

:class:`Realms` holds one :class:`~sipwright.auth.DigestServer` per realm, all signing
nonces with one secret, so every worker process (they share the secret) accepts the
nonces of the others. ``sipwright serve`` maps every served domain to one realm (the
configured one, else the first domain): the domains are names of one server.

:class:`Authenticator` is the proxy's ``authenticate`` hook (RFC 3261 §22.3): a request
whose From is a user of a domain we serve must carry valid ``Proxy-Authorization`` for
that user, else it gets a 407 challenge, or a 403 when the credentials belong to someone
else (a user may not send as another). Requests from foreign domains pass: they are
calls *to* our users, authenticated (if at all) by their own home proxy. Not challenged:

* ACK and CANCEL, which cannot be resubmitted with credentials (§22.1, §22.3 —
  a CANCEL must match its INVITE hop by hop);
* REGISTER, which the registrar authenticates itself with a 401 (§10.3 step 3);
* requests inside a dialog (To tag present): they follow a route set that an
  authenticated dialog-creating request established, as in Kamailio's default
  configuration; challenging every BYE costs a round trip and buys little.

Credentials for our realm are removed before forwarding: the next hop has no use for
them (§22.3 allows a proxy to consume the credentials addressed to it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable

from ..auth import DigestServer
from ..auth.server import HA1Lookup
from ..errors import ParseError
from ..message import Request, Response
from ..uri import SipUri

__all__ = ["NO_CHALLENGE", "Authenticator", "Realms"]

#: Methods never challenged by the proxy (see the module docstring).
NO_CHALLENGE = frozenset({"ACK", "CANCEL", "REGISTER"})


class Realms:
    """The DigestServers of a server: one per realm, created on first use.

    ``realm_of(domain)`` maps a served domain to its realm; ``lookup_ha1`` reads the
    users table (HA1 only). ``proxy`` selects 407/Proxy-Authenticate (§22.3) rather
    than 401/WWW-Authenticate (§22.1).
    """

    def __init__(
        self,
        secret: bytes,
        lookup_ha1: HA1Lookup,
        realm_of: Callable[[str], str],
        *,
        proxy: bool = False,
    ) -> None:
        self._secret = secret
        self._lookup = lookup_ha1
        self._realm_of = realm_of
        self._proxy = proxy
        self._servers: dict[str, DigestServer] = {}

    def realm(self, domain: str) -> str:
        return self._realm_of(domain.lower())

    def server(self, domain: str) -> DigestServer:
        realm = self.realm(domain)
        server = self._servers.get(realm)
        if server is None:
            server = DigestServer(realm, self._secret, self._lookup, proxy=self._proxy)
            self._servers[realm] = server
        return server

    def user_exists(self, username: str, domain: str) -> bool:
        """Whether ``username`` has a stored HA1 in ``domain``'s realm."""
        realm = self.realm(domain)
        return any(self._lookup(username, realm, alg) is not None for alg in ("SHA-256", "MD5"))


class Authenticator:
    """The ``authenticate`` hook: ``await auth(request)`` → a response to send, or None.

    ``stats`` counts outcomes: ``passed-foreign``, ``passed-exempt``, ``accepted``,
    ``challenged`` (407, including stale nonces), ``forbidden`` (403), ``bad`` (400).
    """

    def __init__(
        self,
        realms: Realms,
        domains: Iterable[str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.realms = realms
        self.domains = frozenset(d.lower() for d in domains)
        self.clock = clock
        self.stats: Counter[str] = Counter()

    async def __call__(self, request: Request) -> Response | None:
        return self.check(request)

    def check(self, request: Request) -> Response | None:
        """The synchronous work of the hook (no I/O: HA1 lookups are local SQLite reads)."""
        if request.method in NO_CHALLENGE:
            self.stats["passed-exempt"] += 1
            return None
        try:
            from_ = request.from_
            to = request.to
        except ParseError:
            return None  # the proxy's validation answers malformed requests
        if to is not None and to.tag is not None:
            self.stats["passed-exempt"] += 1
            return None
        uri = from_.uri if from_ is not None else None
        if not isinstance(uri, SipUri) or uri.host.lower() not in self.domains:
            self.stats["passed-foreign"] += 1
            return None
        server = self.realms.server(uri.host)
        verdict = server.verify(request, self.clock())
        if not verdict.accepted:
            bad = verdict.reason in ("malformed", "uri-mismatch")
            self.stats["bad" if bad else "challenged"] += 1
            return verdict.response
        if verdict.username != uri.user:
            # §22.3 / §26.3.2.2: authenticated, but as somebody else than the From user.
            self.stats["forbidden"] += 1
            return request.make_response(
                403, "Forbidden (From does not match the authenticated user)"
            )
        self._consume(request, server.realm)
        self.stats["accepted"] += 1
        return None

    @staticmethod
    def _consume(request: Request, realm: str) -> None:
        """Remove the Proxy-Authorization values addressed to ``realm`` (§22.3)."""
        try:
            creds = request.proxy_authorization
        except ParseError:
            return
        if not any(c.realm == realm for c in creds):
            return
        keep = [str(c) for c in creds if c.realm != realm]
        request.headers.remove("Proxy-Authorization")
        for value in keep:
            request.headers.add("Proxy-Authorization", value)
