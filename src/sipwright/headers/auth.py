"""Authentication headers: WWW-Authenticate, Authorization and the Proxy- forms.

RFC 3261 §20.7, §20.27, §20.28, §20.44 and §25.1 (``challenge``,
``credentials``), RFC 7616 / RFC 8760 for the digest parameters. These
headers are *not* comma lists: the commas separate ``auth-param`` pairs of
one value, and quoted values may themselves contain commas.
"""

from __future__ import annotations

from .._abnf import TOKEN_RE
from ..errors import ParseError
from .params import find_quote_end, quote, unquote

__all__ = ["AuthHeader", "parse_auth"]

_WS = " \t"


class AuthHeader:
    """A challenge or credentials: a scheme and its ``name=value`` parameters.

    ``params`` maps lower-cased names to *unquoted* values. Digest fields are
    offered as properties; other schemes keep their parameters verbatim.
    """

    __slots__ = ("params", "scheme")

    def __init__(self, scheme: str, params: dict[str, str]) -> None:
        self.scheme = scheme
        self.params = params

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    def _get(self, name: str) -> str | None:
        return self.params.get(name)

    @property
    def realm(self) -> str | None:
        return self._get("realm")

    @property
    def nonce(self) -> str | None:
        return self._get("nonce")

    @property
    def opaque(self) -> str | None:
        return self._get("opaque")

    @property
    def algorithm(self) -> str | None:
        return self._get("algorithm")

    @property
    def qop(self) -> str | None:
        """``qop`` as sent: a list (``auth,auth-int``) in a challenge, one token in credentials."""
        return self._get("qop")

    @property
    def stale(self) -> bool:
        return (self._get("stale") or "").lower() == "true"

    @property
    def domain(self) -> str | None:
        return self._get("domain")

    @property
    def username(self) -> str | None:
        return self._get("username")

    @property
    def uri(self) -> str | None:
        return self._get("uri")

    @property
    def response(self) -> str | None:
        return self._get("response")

    @property
    def cnonce(self) -> str | None:
        return self._get("cnonce")

    @property
    def nc(self) -> str | None:
        return self._get("nc")

    def __str__(self) -> str:
        # Token-valued parameters are written bare (RFC 7616 §3.4: algorithm,
        # qop in credentials, nc, stale); everything else is quoted.
        bare = {"algorithm", "nc", "stale"}
        if "cnonce" in self.params:  # credentials: qop is a single token
            bare.add("qop")
        parts = []
        for name, value in self.params.items():
            shown = value if name in bare and TOKEN_RE.fullmatch(value) else quote(value)
            parts.append(f"{name}={shown}")
        return f"{self.scheme} " + ", ".join(parts)

    def __repr__(self) -> str:
        return f"AuthHeader({str(self)!r})"


def parse_auth(text: str) -> AuthHeader:
    """Parse ``scheme LWS auth-param *(COMMA auth-param)``."""
    s = text.strip(_WS)
    scheme, _, rest = s.partition(" ")
    if "\t" in scheme:
        scheme, _, more = scheme.partition("\t")
        rest = more + " " + rest
    if not scheme or TOKEN_RE.fullmatch(scheme) is None:
        raise ParseError("invalid authentication scheme", header="Authorization")
    params: dict[str, str] = {}
    i = 0
    rest = rest.strip(_WS)
    n = len(rest)
    while i < n:
        eq = rest.find("=", i)
        if eq < 0:
            raise ParseError("auth-param without '='", header="Authorization")
        name = rest[i:eq].strip(_WS)
        if TOKEN_RE.fullmatch(name) is None:
            raise ParseError(f"invalid auth-param name {name[:30]!r}", header="Authorization")
        j = eq + 1
        while j < n and rest[j] in _WS:
            j += 1
        if j < n and rest[j] == '"':
            end = find_quote_end(rest, j)
            value = unquote(rest[j : end + 1])
            j = end + 1
        else:
            k = rest.find(",", j)
            k = n if k < 0 else k
            value = rest[j:k].strip(_WS)
            if not value:
                raise ParseError(f"auth-param {name!r} has no value", header="Authorization")
            if TOKEN_RE.fullmatch(value) is None:
                # auth-param = token EQUAL (token / quoted-string), RFC 3261 §25.1
                raise ParseError(
                    f"auth-param {name!r} value is neither token nor quoted", header="Authorization"
                )
            j = k
        params[name.lower()] = value
        while j < n and rest[j] in _WS:
            j += 1
        if j < n:
            if rest[j] != ",":
                raise ParseError("expected ',' between auth-params", header="Authorization")
            j += 1
            while j < n and rest[j] in _WS:
                j += 1
            if j >= n:
                raise ParseError("trailing ',' in auth-params", header="Authorization")
        i = j
    return AuthHeader(scheme, params)
