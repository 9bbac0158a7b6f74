"""Digest calculation: HA1, HA2 and the ``response`` value (pure functions).

RFC 3261 §22.4 adopts HTTP Digest for SIP; RFC 7616 §3.4.1-§3.4.3 define the
computation for MD5, SHA-256 and their ``-sess`` variants, RFC 8760 §2 adds
SHA-512-256 (SHA-512/256, FIPS 180-4) to SIP and fixes the preference order
SHA-512-256 > SHA-256 > MD5 (§2.4). RFC 2617 §3.2.2.1 compatibility (no
``qop``: ``response = KD(HA1, nonce ":" HA2)``) is kept for old peers.

Nothing here touches a clock or a random source: cnonces and nonces come in
as arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

__all__ = [
    "ALGORITHMS",
    "BASE_ALGORITHMS",
    "QOP_AUTH",
    "QOP_AUTH_INT",
    "algorithm_strength",
    "base_algorithm",
    "compute_response",
    "ha1",
    "ha2",
    "hash_hex",
    "is_sess",
    "kd",
    "normalize_algorithm",
    "session_ha1",
]

QOP_AUTH = "auth"
QOP_AUTH_INT = "auth-int"

#: Base algorithms, strongest first (RFC 8760 §2.4).
BASE_ALGORITHMS: tuple[str, ...] = ("SHA-512-256", "SHA-256", "MD5")
#: Every algorithm token understood, canonical spelling.
ALGORITHMS: tuple[str, ...] = tuple(
    name for base in BASE_ALGORITHMS for name in (base, base + "-sess")
)

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
}
_CANONICAL = {name.lower(): name for name in ALGORITHMS}


def normalize_algorithm(name: str | None) -> str | None:
    """Canonical spelling of an ``algorithm`` token, or None when unsupported.

    An absent algorithm means MD5 (RFC 7616 §3.3, RFC 2617 §3.2.1). Tokens are
    case-insensitive.
    """
    if name is None:
        return "MD5"
    return _CANONICAL.get(name.strip().lower())


def base_algorithm(algorithm: str) -> str:
    """``SHA-256-sess`` → ``SHA-256``; the hash a stored HA1 was made with."""
    canonical = normalize_algorithm(algorithm)
    if canonical is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return canonical.removesuffix("-sess")


def is_sess(algorithm: str) -> bool:
    """Whether the algorithm is a ``-sess`` variant (RFC 7616 §3.4.2)."""
    return (normalize_algorithm(algorithm) or "").endswith("-sess")


def algorithm_strength(algorithm: str | None) -> int:
    """Rank for RFC 8760 §2.4 (higher is stronger); -1 when unsupported."""
    canonical = normalize_algorithm(algorithm)
    if canonical is None:
        return -1
    return len(BASE_ALGORITHMS) - BASE_ALGORITHMS.index(canonical.removesuffix("-sess"))


def _bytes(data: str | bytes) -> bytes:
    # RFC 7616 §4: strings are UTF-8 (charset=UTF-8 is the only charset defined).
    return data.encode("utf-8") if isinstance(data, str) else data


def hash_hex(algorithm: str, data: str | bytes) -> str:
    """``H(data)``: the lower-case hex digest with the algorithm's hash."""
    return _HASHES[base_algorithm(algorithm)](_bytes(data))


def kd(algorithm: str, secret: str, data: str) -> str:
    """``KD(secret, data) = H(secret ":" data)`` (RFC 7616 §3.4)."""
    return hash_hex(algorithm, f"{secret}:{data}")


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """``H(username ":" realm ":" password)``, the value a registrar stores.

    This is the only function in the auth package that takes a plaintext
    password: use it when a user is created and keep only the result. For a
    ``-sess`` algorithm the stored value is the same (the base hash); the
    session key is derived per nonce by :func:`session_ha1`.
    """
    return hash_hex(algorithm, f"{username}:{realm}:{password}")


def session_ha1(stored_ha1: str, algorithm: str, nonce: str, cnonce: str | None) -> str:
    """HA1 for the exchange: ``H(HA1 ":" nonce ":" cnonce)`` for ``-sess`` (RFC 7616 §3.4.2)."""
    if not is_sess(algorithm):
        return stored_ha1
    if cnonce is None:
        raise ValueError(f"{algorithm} needs a cnonce")
    return hash_hex(algorithm, f"{stored_ha1}:{nonce}:{cnonce}")


def ha2(algorithm: str, method: str, uri: str, qop: str | None = None, body: bytes = b"") -> str:
    """``H(method ":" uri)``, or with ``qop=auth-int`` ``H(method ":" uri ":" H(body))``.

    RFC 7616 §3.4.3; in SIP the method is the request method and ``uri`` the
    ``uri`` parameter, a copy of the Request-URI (RFC 3261 §22.4).
    """
    if qop == QOP_AUTH_INT:
        return hash_hex(algorithm, f"{method}:{uri}:{hash_hex(algorithm, body)}")
    return hash_hex(algorithm, f"{method}:{uri}")


def compute_response(
    *,
    stored_ha1: str,
    algorithm: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` parameter (request-digest), RFC 7616 §3.4.1.

    With ``qop`` (``auth`` or ``auth-int``):
    ``KD(HA1, nonce ":" nc ":" cnonce ":" qop ":" HA2)``; without it, the
    RFC 2617 §3.2.2.1 / RFC 2069 form ``KD(HA1, nonce ":" HA2)``.
    ``stored_ha1`` is ``H(username:realm:password)`` made with the base hash;
    the ``-sess`` derivation is applied here.
    """
    if normalize_algorithm(algorithm) is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    if qop is not None and qop not in (QOP_AUTH, QOP_AUTH_INT):
        raise ValueError(f"unsupported qop {qop!r}")
    key = session_ha1(stored_ha1, algorithm, nonce, cnonce)
    h2 = ha2(algorithm, method, uri, qop, body)
    if qop is None:
        return kd(algorithm, key, f"{nonce}:{h2}")
    if nc is None or cnonce is None:
        raise ValueError("qop needs nc and cnonce")
    return kd(algorithm, key, f"{nonce}:{nc}:{cnonce}:{qop}:{h2}")
