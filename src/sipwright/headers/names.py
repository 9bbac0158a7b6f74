"""Header names: compact forms, canonical spelling, and which headers are lists.

SIP header names are case-insensitive (RFC 3261 §7.3.1) and many have a
one-letter compact form (§7.3.3 and the IANA "Header Fields" registry). Inside
sipwright a header is identified by its *key*: the lower-cased long name.
"""

from __future__ import annotations

import sys

from .._abnf import HEADER_NAME_RE
from ..errors import ParseError

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "SINGLETON_HEADERS",
    "canonical_name",
    "header_key",
]

#: Compact form -> key (RFC 3261 §7.3.3 and the IANA registry).
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

_CANONICAL: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
    "p-asserted-identity": "P-Asserted-Identity",
    "p-preferred-identity": "P-Preferred-Identity",
}

#: Headers whose value is a comma-separated list (RFC 3261 §7.3.1: only these
#: may be written as several values on one line, or split over several lines).
LIST_HEADERS: frozenset[str] = frozenset(
    {
        "accept",
        "accept-contact",
        "accept-encoding",
        "accept-language",
        "accept-resource-priority",
        "alert-info",
        "allow",
        "allow-events",
        "call-info",
        "contact",
        "content-encoding",
        "content-language",
        "diversion",
        "error-info",
        "history-info",
        "in-reply-to",
        "p-associated-uri",
        "p-asserted-identity",
        "p-preferred-identity",
        "p-visited-network-id",
        "path",
        "permission-missing",
        "proxy-require",
        "reason",
        "record-route",
        "recv-info",
        "reject-contact",
        "request-disposition",
        "require",
        "resource-priority",
        "route",
        "security-client",
        "security-server",
        "security-verify",
        "service-route",
        "supported",
        "trigger-consent",
        "unsupported",
        "via",
        "warning",
    }
)

#: Headers that may appear at most once (their grammar has a single value).
SINGLETON_HEADERS: frozenset[str] = frozenset(
    {
        "call-id",
        "content-disposition",
        "content-length",
        "content-type",
        "cseq",
        "date",
        "expires",
        "from",
        "max-forwards",
        "min-expires",
        "mime-version",
        "priority",
        "rack",
        "reply-to",
        "retry-after",
        "rseq",
        "session-expires",
        "subject",
        "timestamp",
        "to",
    }
)

# Raw spelling (as it appears on the wire) -> key. Filled as names are seen so
# the hot path is one dict lookup; bounded so hostile input cannot grow it.
_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_MAX = 2048


def header_key(name: str) -> str:
    """Key (lower-cased long name) for a header name as written.

    Accepts trailing spaces/tabs (HCOLON allows them before the colon) and
    raises :class:`ParseError` for a name that is not a ``token`` (§7.3.1).
    """
    key = _KEY_CACHE.get(name)
    if key is not None:
        return key
    stripped = name.rstrip(" \t")
    if not stripped or HEADER_NAME_RE.fullmatch(stripped) is None:
        raise ParseError(f"invalid header name {stripped[:40]!r}")
    lowered = stripped.lower()
    # Interned so the parser can test a key by identity on its hot path.
    key = sys.intern(COMPACT_FORMS.get(lowered, lowered))
    if len(_KEY_CACHE) < _KEY_CACHE_MAX:
        _KEY_CACHE[name] = key
    return key


def canonical_name(key: str) -> str:
    """The conventional spelling of a header key, e.g. ``call-id`` -> ``Call-ID``."""
    name = _CANONICAL.get(key)
    if name is None:
        name = "-".join(part.capitalize() for part in key.split("-"))
    return name
