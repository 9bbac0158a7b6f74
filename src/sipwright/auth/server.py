"""Challenging and verifying Digest credentials: the UAS / proxy side of RFC 3261 §22.

A :class:`DigestServer` issues *stateless* nonces — a timestamp and a serial
number signed with HMAC-SHA256 under a server secret (RFC 7616 §3.3 and §5.4
suggest a time stamp and a private key) — so a 401/407 costs no memory. It
verifies credentials (RFC 7616 §3.4, RFC 8760 algorithms) against a stored
HA1 = ``H(username:realm:password)``, looked up through
``lookup_ha1(username, realm, algorithm)``: the server never sees a plaintext
password (:func:`~sipwright.auth.digest.ha1` makes the stored value when a
user is created). A correct answer to an expired nonce is refused with
``stale=true`` (RFC 7616 §3.3) so the client retries silently. The ``uri``
parameter must match the Request-URI (RFC 3261 §22.4, RFC 2617 §3.2.2.5).
Nonce-count replay protection is optional and bounded in memory.

Sans-I/O: every time-dependent call takes ``now`` (seconds, any epoch, as
long as it is consistent).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from ..errors import ParseError
from ..headers.auth import AuthHeader
from ..ids import new_tag
from ..message import Request, Response, make_response
from ..uri import parse_uri
from .digest import (
    QOP_AUTH,
    QOP_AUTH_INT,
    algorithm_strength,
    base_algorithm,
    compute_response,
    normalize_algorithm,
)

__all__ = ["DigestServer", "HA1Lookup", "NonceState", "Verdict"]

#: ``(username, realm, algorithm) -> stored HA1 hex`` or None for an unknown user.
#: ``algorithm`` is the base one (``SHA-256`` for ``SHA-256-sess``).
HA1Lookup = Callable[[str, str, str], str | None]

NonceState = Literal["valid", "stale", "invalid"]

_NC_LEN = 8
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of :meth:`DigestServer.verify`.

    ``accepted`` is True only for valid credentials; then ``response`` is None
    and the request proceeds. Otherwise ``response`` is what to send: a 401
    (407 for a proxy) with fresh challenges, ``stale=true`` when only the
    nonce was out of date, or a 400 for malformed credentials or a ``uri``
    that does not match the Request-URI. ``reason`` is a short machine-readable
    cause: ``ok``, ``missing``, ``malformed``, ``uri-mismatch``, ``algorithm``,
    ``qop``, ``opaque``, ``invalid-nonce``, ``unknown-user``, ``bad-response``,
    ``stale``, ``replay``.
    """

    accepted: bool
    reason: str
    username: str | None = None
    stale: bool = False
    response: Response | None = None


class DigestServer:
    """Issue Digest challenges and check credentials for one realm.

    ``secret`` signs nonces (at least 16 bytes; keep it private and share it
    between the nodes of a cluster). ``algorithms`` are offered strongest
    first (RFC 8760 §2.4), ``qop`` the quality-of-protection values offered.
    ``proxy=True`` uses 407 / Proxy-Authenticate / Proxy-Authorization
    (RFC 3261 §22.3). ``replay_cache`` is how many nonces have their highest
    ``nc`` remembered (0 disables replay protection); when a nonce is evicted,
    every untracked nonce issued no later than it is treated as stale, so
    the memory stays bounded without opening a replay window.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        lookup_ha1: HA1Lookup,
        *,
        algorithms: Iterable[str] = ("SHA-256", "MD5"),
        qop: Iterable[str] = (QOP_AUTH,),
        nonce_lifetime: float = 300.0,
        proxy: bool = False,
        opaque: str | None = None,
        allow_no_qop: bool = False,
        replay_cache: int = 1024,
        max_clock_skew: float = 5.0,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        canon: list[str] = []
        for name in algorithms:
            canonical = normalize_algorithm(name)
            if canonical is None:
                raise ValueError(f"unsupported digest algorithm {name!r}")
            canon.append(canonical)
        if not canon:
            raise ValueError("offer at least one algorithm")
        qops = tuple(q.lower() for q in qop)
        if any(q not in (QOP_AUTH, QOP_AUTH_INT) for q in qops):
            raise ValueError(f"unsupported qop in {qops!r}")
        if replay_cache < 0:
            raise ValueError("replay_cache must be >= 0")
        self.realm = realm
        self.algorithms: tuple[str, ...] = tuple(
            sorted(canon, key=algorithm_strength, reverse=True)
        )
        self.qop = qops
        self.nonce_lifetime = nonce_lifetime
        self.proxy = proxy
        self.opaque = opaque
        self.allow_no_qop = allow_no_qop or not qops
        self.max_clock_skew = max_clock_skew
        self._secret = secret
        self._lookup = lookup_ha1
        self._serial = 0
        self._replay_cache = replay_cache
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._floor_ms = -1

    # -- nonces ---------------------------------------------------------------------

    def _mac(self, stamp: str, serial: str, context: str) -> str:
        data = f"{stamp}|{serial}|{self.realm}|{self.opaque or ''}|{context}".encode()
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()

    def new_nonce(self, now: float, context: str = "") -> str:
        """A signed nonce ``<ms hex>.<serial hex>.<HMAC-SHA256 hex>``.

        ``context`` (e.g. the client's address) is bound into the signature;
        give the same value to :meth:`verify`.
        """
        self._serial += 1
        stamp, serial = f"{int(now * 1000):x}", f"{self._serial:x}"
        return f"{stamp}.{serial}.{self._mac(stamp, serial, context)}"

    def _nonce_time(self, nonce: str, context: str) -> int | None:
        """Issue time in ms when the signature is ours, else None."""
        parts = nonce.split(".")
        if len(parts) != 3 or not all(parts) or not all(set(p) <= _HEX for p in parts):
            return None
        stamp, serial, mac = parts
        if not hmac.compare_digest(mac.lower(), self._mac(stamp, serial, context)):
            return None
        return int(stamp, 16)

    def check_nonce(self, nonce: str, now: float, context: str = "") -> NonceState:
        """``valid``, ``stale`` (ours but expired) or ``invalid`` (forged or from the future)."""
        issued = self._nonce_time(nonce, context)
        if issued is None:
            return "invalid"
        now_ms = now * 1000
        if issued > now_ms + self.max_clock_skew * 1000:
            return "invalid"
        if now_ms - issued > self.nonce_lifetime * 1000:
            return "stale"
        return "valid"

    # -- challenges -------------------------------------------------------------------

    @property
    def challenge_header(self) -> str:
        return "Proxy-Authenticate" if self.proxy else "WWW-Authenticate"

    @property
    def credentials_header(self) -> str:
        return "Proxy-Authorization" if self.proxy else "Authorization"

    def challenges(self, now: float, *, stale: bool = False, context: str = "") -> list[AuthHeader]:
        """One Digest challenge per offered algorithm, strongest first (RFC 8760 §2.4)."""
        out = []
        for algorithm in self.algorithms:
            params = {"realm": self.realm, "nonce": self.new_nonce(now, context)}
            if self.opaque is not None:
                params["opaque"] = self.opaque
            params["algorithm"] = algorithm
            if self.qop:
                params["qop"] = ",".join(self.qop)
            if stale:
                params["stale"] = "true"
            out.append(AuthHeader("Digest", params))
        return out

    def challenge(
        self,
        request: Request,
        now: float,
        *,
        stale: bool = False,
        context: str = "",
        to_tag: str | None = None,
    ) -> Response:
        """The 401 (or 407) to send (RFC 3261 §22.1, §22.3).

        The To tag (§8.2.6.2) is ``to_tag`` or a fresh one from
        :mod:`sipwright.ids`; a request that already has one keeps it.
        """
        code = 407 if self.proxy else 401
        headers = [
            (self.challenge_header, str(c))
            for c in self.challenges(now, stale=stale, context=context)
        ]
        return make_response(request, code, to_tag=to_tag or new_tag(), headers=headers)

    # -- verification -----------------------------------------------------------------

    def verify(
        self,
        request: Request,
        now: float,
        *,
        context: str = "",
        to_tag: str | None = None,
    ) -> Verdict:
        """Check the request's credentials for this realm; see :class:`Verdict`."""

        def deny(reason: str, *, stale: bool = False, username: str | None = None) -> Verdict:
            resp = self.challenge(request, now, stale=stale, context=context, to_tag=to_tag)
            return Verdict(False, reason, username, stale, resp)

        def bad(reason: str, detail: str) -> Verdict:
            resp = make_response(
                request, 400, f"Bad Request ({detail})", to_tag=to_tag or new_tag()
            )
            return Verdict(False, reason, None, False, resp)

        try:
            offered = request.proxy_authorization if self.proxy else request.authorization
        except ParseError:
            return bad("malformed", "malformed credentials")
        mine = [c for c in offered if c.is_digest and c.realm == self.realm]
        if not mine:
            return deny("missing")
        creds = mine[0]
        username, nonce, uri, answer = creds.username, creds.nonce, creds.uri, creds.response
        if username is None or nonce is None or uri is None or answer is None:
            return bad("malformed", "incomplete credentials")
        qop = creds.qop.lower() if creds.qop is not None else None
        nc, cnonce = creds.nc, creds.cnonce
        if qop is not None and (
            cnonce is None or nc is None or len(nc) != _NC_LEN or not set(nc) <= _HEX
        ):
            return bad("malformed", "qop needs cnonce and an 8-digit nc")
        if not self._uri_matches(uri, request):
            return bad("uri-mismatch", "uri does not match Request-URI")
        algorithm = normalize_algorithm(creds.algorithm)
        if algorithm is None or algorithm not in self.algorithms:
            return deny("algorithm")
        if (qop is None and not self.allow_no_qop) or (qop is not None and qop not in self.qop):
            return deny("qop")
        if algorithm.endswith("-sess") and cnonce is None:
            return bad("malformed", "-sess needs a cnonce")
        if self.opaque is not None and creds.opaque != self.opaque:
            return deny("opaque")
        state = self.check_nonce(nonce, now, context)
        if state == "invalid":
            return deny("invalid-nonce")  # forged or tampered: never stale
        stored = self._lookup(username, self.realm, base_algorithm(algorithm))
        if stored is None:
            return deny("unknown-user")
        expected = compute_response(
            stored_ha1=stored.lower(),
            algorithm=algorithm,
            method=request.method,
            uri=uri,
            nonce=nonce,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            body=request.body,
        )
        if not hmac.compare_digest(expected, answer.lower()):
            return deny("bad-response", username=username)
        if state == "stale":
            # The password was right, the nonce old: RFC 7616 §3.3 stale=true.
            return deny("stale", stale=True, username=username)
        if qop is not None and nc is not None and self._replay_cache:
            verdict = self._count(nonce, int(nc, 16), context)
            if verdict is not None:
                return deny(verdict, stale=verdict == "stale", username=username)
        return Verdict(True, "ok", username)

    def _count(self, nonce: str, nc: int, context: str) -> str | None:
        """Track the highest nc per nonce; ``replay``/``stale`` or None when fresh."""
        last = self._seen.get(nonce)
        if last is None:
            issued = self._nonce_time(nonce, context)
            if issued is not None and issued <= self._floor_ms:
                return "stale"  # its counter may have been forgotten: demand a new nonce
        elif nc <= last:
            return "replay"
        self._seen[nonce] = nc
        self._seen.move_to_end(nonce)
        while len(self._seen) > self._replay_cache:
            evicted, _ = self._seen.popitem(last=False)
            issued = int(evicted.split(".", 1)[0], 16)
            self._floor_ms = max(self._floor_ms, issued)
        return None

    @staticmethod
    def _uri_matches(uri: str, request: Request) -> bool:
        if uri == request.uri_text:
            return True
        try:
            return parse_uri(uri) == request.uri
        except ParseError:
            return False
