"""SIP Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760), sans-I/O.

:mod:`~sipwright.auth.digest` computes HA1 / HA2 / response for MD5, SHA-256
and SHA-512-256 and their ``-sess`` forms, with ``qop=auth``, ``auth-int`` or
none (RFC 2617 compatibility). :class:`DigestClient` answers 401/407
challenges; :class:`DigestServer` issues signed stateless nonces and verifies
credentials against stored HA1 values.
"""

from .client import CredentialLookup, DigestClient, select_challenges
from .digest import (
    ALGORITHMS,
    BASE_ALGORITHMS,
    algorithm_strength,
    compute_response,
    ha1,
    ha2,
    normalize_algorithm,
    session_ha1,
)
from .server import DigestServer, HA1Lookup, NonceState, Verdict

__all__ = [
    "ALGORITHMS",
    "BASE_ALGORITHMS",
    "CredentialLookup",
    "DigestClient",
    "DigestServer",
    "HA1Lookup",
    "NonceState",
    "Verdict",
    "algorithm_strength",
    "compute_response",
    "ha1",
    "ha2",
    "normalize_algorithm",
    "select_challenges",
    "session_ha1",
]
