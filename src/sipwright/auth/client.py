"""Answering a 401/407 challenge: the UAC side of RFC 3261 §22.2 and §22.3.

A :class:`DigestClient` picks, per realm, the strongest challenge it supports
(RFC 8760 §2.4: SHA-512-256 > SHA-256 > MD5), computes the credentials
(RFC 7616 §3.4) with a per-nonce ``nc`` counter (eight hex digits, §3.4) and a
fresh ``cnonce`` from an injected source, and builds the retried request: same
Call-ID, From tag and To, CSeq + 1 and a new Via branch (RFC 3261 §8.1.3.5,
§22.2). Sans-I/O: no clock, no random module; the cnonce comes from
``cnonce_factory`` and the branch from an :class:`~sipwright.ids.IdFactory`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from ..headers.auth import AuthHeader, parse_auth
from ..ids import IdFactory, new_branch, new_tag
from ..message import Request, Response
from .digest import (
    QOP_AUTH,
    QOP_AUTH_INT,
    algorithm_strength,
    compute_response,
    ha1,
    normalize_algorithm,
)

__all__ = ["CredentialLookup", "DigestClient", "select_challenges"]

#: realm → (username, password), or None when the UAC has nothing for the realm.
CredentialLookup = Callable[[str], tuple[str, str] | None]

_NC_CACHE = 256  # nonces whose counters are remembered (oldest forgotten first)


def _default_cnonce() -> str:
    # 128 bits from the one module allowed a random source (sipwright.ids).
    return new_tag() + new_tag()


def _qop_choice(challenge: AuthHeader, body: bytes) -> str | None:
    """The qop to answer with: ``auth`` when offered, ``auth-int`` when it is the only one.

    Returns ``""`` when the challenge offers qop values but none we know.
    """
    offered = challenge.qop
    if offered is None:
        return None  # RFC 2617 compatibility: no qop, no nc/cnonce
    tokens = [t.strip().lower() for t in offered.split(",") if t.strip()]
    if QOP_AUTH in tokens:
        return QOP_AUTH
    if QOP_AUTH_INT in tokens:
        return QOP_AUTH_INT
    return ""


def _usable(challenge: AuthHeader) -> bool:
    return (
        challenge.is_digest
        and challenge.realm is not None
        and challenge.nonce is not None
        and normalize_algorithm(challenge.algorithm) is not None
        and _qop_choice(challenge, b"") != ""
    )


def select_challenges(challenges: list[AuthHeader]) -> list[AuthHeader]:
    """One challenge per realm: the strongest supported one (RFC 8760 §2.4).

    Among equally strong challenges the first listed wins (the server's order
    of preference, RFC 7616 §3.7). Non-Digest schemes, unknown algorithms and
    challenges offering only unknown qop values are skipped. Realms keep the
    order of their first usable challenge.
    """
    best: dict[str, AuthHeader] = {}
    for challenge in challenges:
        if not _usable(challenge):
            continue
        realm = challenge.realm or ""
        current = best.get(realm)
        if current is None or algorithm_strength(challenge.algorithm) > algorithm_strength(
            current.algorithm
        ):
            best[realm] = challenge
    return list(best.values())


class DigestClient:
    """Credentials for 401/407 responses, with nonce-count bookkeeping.

    ``credentials(realm)`` returns ``(username, password)`` for a realm or None.
    ``cnonce_factory`` returns a fresh client nonce (default: 128 random bits
    via :mod:`sipwright.ids`); ``ids`` supplies the new Via branch of a retry.
    """

    def __init__(
        self,
        credentials: CredentialLookup,
        *,
        cnonce_factory: Callable[[], str] | None = None,
        ids: IdFactory | None = None,
    ) -> None:
        self._credentials = credentials
        self._cnonce = cnonce_factory or _default_cnonce
        self._ids = ids
        self._nc: OrderedDict[str, int] = OrderedDict()

    @classmethod
    def for_user(
        cls,
        username: str,
        password: str,
        *,
        cnonce_factory: Callable[[], str] | None = None,
        ids: IdFactory | None = None,
    ) -> DigestClient:
        """A client with one identity for every realm."""
        return cls(lambda _realm: (username, password), cnonce_factory=cnonce_factory, ids=ids)

    def next_nc(self, nonce: str) -> str:
        """Count one more use of ``nonce``: ``00000001``, ``00000002``… (RFC 7616 §3.4)."""
        count = self._nc.pop(nonce, 0) + 1
        self._nc[nonce] = count
        while len(self._nc) > _NC_CACHE:
            self._nc.popitem(last=False)
        return f"{count:08x}"

    def answer(
        self,
        challenge: AuthHeader,
        method: str,
        uri: str,
        body: bytes = b"",
    ) -> AuthHeader | None:
        """Credentials answering ``challenge`` for ``method uri``, or None.

        None when the challenge is not usable or no credentials are known for
        its realm. Each call consumes one ``nc`` for the challenge's nonce, so
        it can also authorize later requests with a cached challenge.
        """
        if not _usable(challenge):
            return None
        realm = challenge.realm or ""
        nonce = challenge.nonce or ""
        found = self._credentials(realm)
        if found is None:
            return None
        username, password = found
        algorithm = normalize_algorithm(challenge.algorithm) or "MD5"
        qop = _qop_choice(challenge, body)
        nc = cnonce = None
        if qop is not None or algorithm.endswith("-sess"):
            cnonce = self._cnonce()
        if qop is not None:
            nc = self.next_nc(nonce)
        response = compute_response(
            stored_ha1=ha1(username, realm, password, algorithm),
            algorithm=algorithm,
            method=method,
            uri=uri,
            nonce=nonce,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            body=body,
        )
        params: dict[str, str] = {
            "username": username,
            "realm": realm,
            "nonce": nonce,
            "uri": uri,
            "response": response,
        }
        if challenge.algorithm is not None:
            params["algorithm"] = algorithm
        if cnonce is not None:
            params["cnonce"] = cnonce
        if challenge.opaque is not None:
            params["opaque"] = challenge.opaque  # returned unchanged, RFC 7616 §3.4
        if qop is not None and nc is not None:
            params["qop"] = qop
            params["nc"] = nc
        return AuthHeader(challenge.scheme, params)

    def retry(self, request: Request, response: Response) -> Request | None:
        """The request to send after ``response`` (401 or 407), or None to give up.

        401 is answered with Authorization (WWW-Authenticate challenges), 407
        with Proxy-Authorization (Proxy-Authenticate), one per challenged
        realm (RFC 3261 §22.2, §22.3); earlier credentials for those realms
        are replaced, others kept. Gives up when no challenge is usable or
        when the request already carried credentials for a challenged realm
        and the server did not say ``stale=true`` (the credentials were
        wrong; RFC 3261 §22.2 asks not to retry them). The retry keeps
        Call-ID, From and To, increments CSeq (§8.1.3.5) and gets a new Via
        branch (it is a new transaction, §8.1.1.7).
        """
        if response.status_code == 401:
            challenges, header = response.www_authenticate, "Authorization"
            previous = request.authorization
        elif response.status_code == 407:
            challenges, header = response.proxy_authenticate, "Proxy-Authorization"
            previous = request.proxy_authorization
        else:
            return None
        chosen = select_challenges(challenges)
        if not chosen:
            return None
        answered = {c.realm for c in previous if c.is_digest}
        if any(c.realm in answered and not c.stale for c in chosen):
            return None
        answers: list[AuthHeader] = []
        for challenge in chosen:
            creds = self.answer(challenge, request.method, request.uri_text, request.body)
            if creds is not None:
                answers.append(creds)
        if not answers:
            return None
        return self._rebuild(request, header, {c.realm for c in chosen}, answers)

    def _rebuild(
        self, request: Request, header: str, realms: set[str | None], answers: list[AuthHeader]
    ) -> Request:
        headers = request.headers.copy()
        kept = [
            value
            for value in headers.getall(header)
            if not ((parsed := parse_auth(value)).is_digest and parsed.realm in realms)
        ]
        headers.remove(header)
        for value in kept:
            headers.add(header, value)
        for creds in answers:
            headers.add(header, str(creds))
        cseq = request.cseq
        if cseq is not None:
            headers.set("CSeq", f"{cseq.number + 1} {cseq.method}")
        vias = request.via
        if vias:
            branch = self._ids.branch() if self._ids is not None else new_branch()
            headers.replace_first_value("Via", str(vias[0].with_param("branch", branch)))
        retry = Request(request.method, request.uri, headers)
        if request.body:
            retry.set_body(request.body)
        return retry
