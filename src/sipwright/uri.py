"""SIP, SIPS, tel and other URIs: parse, build, compare.

Grammar: RFC 3261 §19.1.1 and §25.1 (SIP and SIPS URIs, ``absoluteURI``),
RFC 3966 (tel URIs), RFC 5118 (IPv6 references). Comparison: RFC 3261
§19.1.4 and RFC 3966 §4.

Design:

* :func:`parse_uri` returns one of three frozen, slotted classes:
  :class:`SipUri`, :class:`TelUri` or :class:`AbsoluteUri` (any other scheme,
  kept opaque). Every component is kept *as written* (escapes included) so a
  parsed URI gives back the exact input from ``str()``; unescaped values and
  typed views (``port``, ``transport``, ``ttl``...) are derived on demand.
* Parsing runs on the proxy hot path (Request-URI, From, To, Contact, Route of
  every message). A valid SIP URI is accepted by one precompiled regex that
  encodes the whole §25.1 character grammar, followed by a few cheap semantic
  checks (escapes, port range, IPv6 text). Only when that regex fails does a
  slower step-by-step pass run, whose sole job is to name the fault.
* Objects are immutable, so :func:`parse_uri` keeps a bounded LRU cache of
  short URIs: the same From/To/Contact/Route text recurs on every message of a
  dialog.
* Malformed input only ever raises :class:`~sipwright.errors.ParseError`.
* Objects built by code (``SipUri(host=...)``, :meth:`SipUri.build`,
  ``replace()``) are validated with the same character grammar, so ``str()``
  of any instance is a well-formed URI.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn, TypeAlias

from sipwright.errors import ParseError

__all__ = [
    "HEADER_SAFE",
    "PARAM_SAFE",
    "PASSWORD_SAFE",
    "USER_SAFE",
    "AbsoluteUri",
    "SipUri",
    "TelUri",
    "Uri",
    "escape",
    "parse_uri",
    "unescape",
]

# ---------------------------------------------------------------------------
# Character sets (RFC 3261 §25.1)
# ---------------------------------------------------------------------------
#
#   unreserved      = alphanum / mark
#   mark            = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
#   escaped         = "%" HEXDIG HEXDIG
#   user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
#   password        = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
#   param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
#   hnv-unreserved  = "[" / "]" / "/" / "?" / ":" / "+" / "$"
#
# The safe sets below are the characters, beyond ``unreserved``, that may appear
# unescaped in each component; pass them to :func:`escape` when building.

USER_SAFE: Final = "&=+$,;?/"
PASSWORD_SAFE: Final = "&=+$,"
PARAM_SAFE: Final = "[]/:&+$"
HEADER_SAFE: Final = "[]/?:+$"

_MARK = "-_.!~*'()"
_RESERVED: Final = frozenset(";/?:@&=+$,")

# Regex character-class bodies. '%' is admitted as a plain character here; the
# "%" HEXDIG HEXDIG shape is checked once over the whole text (see _BAD_ESCAPE),
# which keeps the big regex free of alternations.
_C_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_C_USER = _C_UNRESERVED + r"%&=+$,;?/"
_C_PASSWORD = _C_UNRESERVED + r"%&=+$,"
_C_PARAM = _C_UNRESERVED + r"%\[\]/:&+$"
_C_HEADER = _C_UNRESERVED + r"%\[\]/?:+$"

# hostname    = *( domainlabel "." ) toplabel [ "." ]
# domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
# The toplabel's "starts with ALPHA" rule is not enforced, so any dotted-decimal
# text (IPv4address = 1*3DIGIT "." ...) is accepted by the same expression.
#
# Possessive quantifiers (``*+``, ``++``, ``?+``; Python 3.11) are used wherever
# the next character cannot belong to the repeated set: they never change what
# matches, and they halve the regex time by dropping backtracking bookkeeping.
_LABEL = r"[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+"
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*+\.?+"
# IPv6reference = "[" IPv6address "]": the characters only; the address itself
# is checked by _ipv6_ok (rare, so it may be slower).
_IPV6REF = r"\[[0-9A-Fa-f:.]++\]"
_HOST = rf"(?:{_IPV6REF}|{_HOSTNAME})"

# hostport [ uri-parameters ] [ headers ]
#   uri-parameters = *( ";" uri-parameter ); other-param = pname [ "=" pvalue ]
#   pname = 1*paramchar; pvalue = 1*paramchar
#   headers = "?" header *( "&" header ); header = hname "=" hvalue
#   hname = 1*( hnv-unreserved / unreserved / escaped ); hvalue = *( ... )
_TAIL = (
    rf"({_HOST})(?::([0-9]{{1,5}}+))?+"
    rf"((?:;[{_C_PARAM}]++(?:=[{_C_PARAM}]++)?+)*+)"
    rf"(?:\?([{_C_HEADER}]++=[{_C_HEADER}]*+(?:&[{_C_HEADER}]++=[{_C_HEADER}]*+)*+))?+"
)
# userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
# '@' appears nowhere else in a SIP URI (it is not in any other component's
# character set), so the caller picks the variant by looking for it.
_SIP_WITH_USER_RE: Final = re.compile(rf"([{_C_USER}]++)(?::([{_C_PASSWORD}]*+))?+@{_TAIL}")
_SIP_NO_USER_RE: Final = re.compile(_TAIL)

_USER_RE: Final = re.compile(rf"[{_C_USER}]+")
_PASSWORD_RE: Final = re.compile(rf"[{_C_PASSWORD}]*")
_PARAM_RE: Final = re.compile(rf"[{_C_PARAM}]+")
_HNAME_RE: Final = re.compile(rf"[{_C_HEADER}]+")
_HVALUE_RE: Final = re.compile(rf"[{_C_HEADER}]*")
_HOST_RE: Final = re.compile(_HOST)
_HOSTNAME_RE: Final = re.compile(_HOSTNAME)
_HOSTNAME_CHARS_RE: Final = re.compile(r"[A-Za-z0-9.\-]+")

_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_CTL_OR_SPACE: Final = re.compile(r"[\x00-\x20\x7f]")
# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
# absoluteURI = scheme ":" ( hier-part / opaque-part ), built from uric =
# reserved / unreserved / escaped. '[', ']' (RFC 2732/3986 IPv6 literals) and
# '#' (fragments) are tolerated as well: such URIs are only carried, never routed.
_ABSOLUTE_REST_RE: Final = re.compile(rf"[{_C_UNRESERVED}%;/?:@&=+$,\[\]#]+")
_TTL_RE: Final = re.compile(r"[0-9]{1,3}")

_DEFAULT_CACHE_SIZE: Final = 4096
# Longer texts are parsed without caching so that the cache's memory stays
# bounded (4096 entries of at most this many characters).
_CACHE_MAX_LEN: Final = 512


# ---------------------------------------------------------------------------
# Escapes (RFC 3261 §19.1.2)
# ---------------------------------------------------------------------------


def _check_escapes(text: str) -> None:
    if "%" in text and _BAD_ESCAPE.search(text) is not None:
        raise ParseError("bad % escape in URI")


def unescape(text: str) -> str:
    """Decode ``%HH`` escapes (RFC 3261 §19.1.2).

    The octets are decoded as UTF-8; octets that are not valid UTF-8 map to lone
    surrogates (``errors="surrogateescape"``) so that nothing is lost and
    :func:`escape` gives them back. A ``%`` not followed by two hex digits
    raises :class:`ParseError`.
    """
    if "%" not in text:
        return text
    if _BAD_ESCAPE.search(text) is not None:
        raise ParseError("bad % escape")
    return urllib.parse.unquote(text, errors="surrogateescape")


def escape(text: str, safe: str = "") -> str:
    """Percent-encode ``text`` for one URI component (the inverse of :func:`unescape`).

    Characters of ``unreserved`` (RFC 3261 §25.1) and of ``safe`` are kept; every
    other character is written as ``%HH`` of its UTF-8 octets. Use the
    component's safe set: :data:`USER_SAFE`, :data:`PASSWORD_SAFE`,
    :data:`PARAM_SAFE` or :data:`HEADER_SAFE`.
    """
    try:
        return urllib.parse.quote(text, safe=_MARK + safe, errors="surrogateescape")
    except UnicodeEncodeError:
        raise ParseError("character cannot be escaped") from None


def _norm_one_escape(m: re.Match[str]) -> str:
    hh = m.group(1)
    octet = int(hh, 16)
    ch = chr(octet)
    # '%' stays escaped so that the normal form cannot be confused with an escape;
    # non-ASCII octets stay escaped so that lower-casing the normal form (for
    # case-insensitive components) only ever folds ASCII letters.
    if octet >= 0x80 or ch in _RESERVED or ch == "%":
        return "%" + hh.upper()
    return ch


def _norm_escapes(text: str) -> str:
    """Comparison form of an escaped component (RFC 3261 §19.1.4).

    "Characters other than those in the 'reserved' set are equivalent to their
    '%' HEX HEX encoding": escapes of non-reserved ASCII characters are decoded;
    escapes of reserved characters are kept, with the hex digits upper-cased, so
    ``%3B`` and ``;`` stay different (octets >= 0x80 are also kept escaped: they
    cannot appear unescaped, so either way compares the same).
    """
    if "%" not in text:
        return text
    return _ESCAPE.sub(_norm_one_escape, text)


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _check_text(text: str) -> None:
    """Name the fault for characters no URI may contain (RFC 3261 §25.1)."""
    if _CTL_OR_SPACE.search(text) is not None:
        raise ParseError("whitespace or control character in URI")
    if not text.isascii():
        raise ParseError("non-ASCII character in URI")


@functools.lru_cache(maxsize=1024)  # ipaddress is slow; IPv6 hosts recur
def _ipv6_ok(ref: str) -> bool:
    """Check the text of an IPv6 reference, brackets included."""
    addr = ref[1:-1]
    if ":::" in addr:
        # RFC 5118 §4.10: RFC 3261's ABNF admits "hexseq '::' ':' IPv4address"
        # (three colons, e.g. 2001:db8:::192.0.2.1), which RFC 4291 does not.
        # Robust parsers accept it; read it as the two-colon form.
        head, _, tail = addr.partition(":::")
        if ":" in tail or "." not in tail:
            return False
        addr = head + "::" + tail
    try:
        ipaddress.IPv6Address(addr)
    except ValueError:
        return False
    return True


def _ipv6_canonical(ref: str) -> str:
    addr = ref[1:-1]
    if ":::" in addr:
        addr = addr.replace(":::", "::", 1)
    return "[" + ipaddress.IPv6Address(addr).compressed + "]"


def _split_params(text: str) -> tuple[tuple[str, str | None], ...]:
    """Split validated ``;name[=value]...`` text (leading ';' included)."""
    out: list[tuple[str, str | None]] = []
    for seg in text[1:].split(";"):
        name, eq, value = seg.partition("=")
        out.append((name, value if eq else None))
    return tuple(out)


def _split_headers(text: str) -> tuple[tuple[str, str], ...]:
    """Split validated ``name=value&...`` text (the '?' excluded)."""
    out: list[tuple[str, str]] = []
    for seg in text.split("&"):
        name, _, value = seg.partition("=")
        out.append((name, value))
    return tuple(out)


def _find_param(params: tuple[tuple[str, str | None], ...], name: str) -> int:
    """Index of the first parameter called ``name`` (case-insensitive), or -1."""
    lname = name.lower()
    for i, (n, _) in enumerate(params):
        if n == lname or n.lower() == lname:
            return i
    return -1


def _check_special_params(params: tuple[tuple[str, str | None], ...]) -> None:
    """Check the params with a typed accessor: ``ttl`` and ``maddr`` (RFC 3261 §25.1).

    ttl-param = "ttl=" ttl; ttl = 1*3DIGIT ; 0 to 255
    maddr-param = "maddr=" host
    """
    for n, v in params:
        ln = n.lower()
        if ln == "ttl":
            if v is None or _TTL_RE.fullmatch(v) is None or int(v) > 255:
                raise ParseError("bad ttl parameter")
        elif ln == "maddr":
            if v is None or _HOST_RE.fullmatch(v) is None or (v[0] == "[" and not _ipv6_ok(v)):
                raise ParseError("bad maddr parameter")


_new = object.__new__
_set = object.__setattr__


# ---------------------------------------------------------------------------
# SIP and SIPS URIs
# ---------------------------------------------------------------------------

# uri-parameters whose presence alone changes a URI's meaning: one that appears
# in only one of two URIs makes them unequal (RFC 3261 §19.1.4, see SipUri).
_SIGNIFICANT_PARAMS: Final = frozenset(("user", "ttl", "method", "maddr", "transport"))

_SipKey: TypeAlias = tuple[tuple[object, ...], dict[str, str | None]]


@dataclass(frozen=True, slots=True, eq=False, repr=False, kw_only=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1).

    Components are kept as written: ``user`` and ``password`` with their
    escapes, ``host`` with its original case (and brackets for IPv6), params and
    headers in order. ``str()`` of a parsed URI is the exact input text; a URI
    built or changed by code is written in canonical order.

    Equality and hashing follow RFC 3261 §19.1.4 (see :meth:`__eq__`); note
    that this equality is not transitive, because a parameter present in only
    one URI is usually ignored.

    Build one with keyword arguments holding the *escaped* forms
    (``SipUri(host="example.com", user="alice", params=(("lr", None),))``, which
    validates them) or with :meth:`build`, which escapes plain values for you.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    _text: str | None = field(default=None, init=False, repr=False)
    _key: _SipKey | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # Only objects built by code come through here; the parser validates
        # the whole text and constructs instances directly.
        scheme = self.scheme.lower()
        if scheme not in ("sip", "sips"):
            raise ParseError("bad SIP URI scheme")
        _set(self, "scheme", scheme)
        user, password = self.user, self.password
        if user is not None:
            if _USER_RE.fullmatch(user) is None:
                raise ParseError("bad URI user")
            _check_escapes(user)
        if password is not None:
            if user is None:
                raise ParseError("URI password without user")
            if _PASSWORD_RE.fullmatch(password) is None:
                raise ParseError("bad URI password")
            _check_escapes(password)
        host = self.host
        if not host:
            raise ParseError("missing URI host")
        if _HOST_RE.fullmatch(host) is None or (host[0] == "[" and not _ipv6_ok(host)):
            raise ParseError("bad URI host")
        port = self.port
        if port is not None and (
            type(port) is not int or not 0 <= port <= 65535  # bool is not a port
        ):
            raise ParseError("bad URI port")
        params = tuple((n, v) for n, v in self.params)
        for n, v in params:
            if _PARAM_RE.fullmatch(n) is None or (v is not None and _PARAM_RE.fullmatch(v) is None):
                raise ParseError("bad URI parameter")
            _check_escapes(n)
            if v is not None:
                _check_escapes(v)
        _check_special_params(params)
        _set(self, "params", params)
        headers = tuple((n, v) for n, v in self.headers)
        for n, v in headers:
            if _HNAME_RE.fullmatch(n) is None or _HVALUE_RE.fullmatch(v) is None:
                raise ParseError("bad URI header")
            _check_escapes(n)
            _check_escapes(v)
        _set(self, "headers", headers)

    @classmethod
    def build(
        cls,
        host: str,
        *,
        user: str | None = None,
        password: str | None = None,
        port: int | None = None,
        scheme: str = "sip",
        params: Mapping[str, str | None] | Iterable[tuple[str, str | None]] = (),
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    ) -> SipUri:
        """Build a URI from *plain* (unescaped) values.

        ``user``, ``password``, parameter and header names and values are
        escaped with :func:`escape` and their component's safe set; an IPv6
        address given without brackets gets them. Raises :class:`ParseError`
        if the result would not be a valid URI (e.g. a bad host).
        """
        if ":" in host and not host.startswith("["):
            host = "[" + host + "]"
        param_items = params.items() if isinstance(params, Mapping) else params
        header_items = headers.items() if isinstance(headers, Mapping) else headers
        return cls(
            scheme=scheme,
            user=None if user is None else escape(user, USER_SAFE),
            password=None if password is None else escape(password, PASSWORD_SAFE),
            host=host,
            port=port,
            params=tuple(
                (escape(n, PARAM_SAFE), None if v is None else escape(v, PARAM_SAFE))
                for n, v in param_items
            ),
            headers=tuple(
                (escape(n, HEADER_SAFE), escape(v, HEADER_SAFE)) for n, v in header_items
            ),
        )

    # -- text ---------------------------------------------------------------

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = self._compose()
            _set(self, "_text", text)
        return text

    def __repr__(self) -> str:
        return f"SipUri({str(self)!r})"

    def _compose(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts.append(":")
                parts.append(self.password)
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts.append(f":{self.port}")
        for n, v in self.params:
            parts.append(f";{n}" if v is None else f";{n}={v}")
        if self.headers:
            parts.append("?")
            parts.append("&".join(f"{n}={v}" for n, v in self.headers))
        return "".join(parts)

    # -- derived views ------------------------------------------------------

    @property
    def user_unescaped(self) -> str | None:
        """The user part with ``%HH`` escapes decoded (RFC 3261 §19.1.2)."""
        return None if self.user is None else unescape(self.user)

    @property
    def password_unescaped(self) -> str | None:
        """The password with ``%HH`` escapes decoded."""
        return None if self.password is None else unescape(self.password)

    @property
    def is_ipv6(self) -> bool:
        """True if the host is an IPv6 reference (``[...]``, RFC 5118)."""
        return self.host.startswith("[")

    @property
    def bare_host(self) -> str:
        """The host without the brackets of an IPv6 reference (for resolvers and sockets)."""
        host = self.host
        return host[1:-1] if host.startswith("[") else host

    @property
    def host_port(self) -> str:
        """``host:port``, or ``host`` when the URI has no port (IPv6 keeps its brackets)."""
        if self.port is None:
            return self.host
        return f"{self.host}:{self.port}"

    def get_param(self, name: str, default: str | None = None) -> str | None:
        """The value of the first URI parameter called ``name`` (case-insensitive).

        A flag parameter (``;lr``) has the value ``None``, so use
        :meth:`has_param` to test presence. Values are as written (escaped).
        """
        i = _find_param(self.params, name)
        return default if i < 0 else self.params[i][1]

    def has_param(self, name: str) -> bool:
        """True if a URI parameter called ``name`` is present (case-insensitive)."""
        return _find_param(self.params, name) >= 0

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased (``"udp"``, ``"tcp"``, ``"tls"``...)."""
        value = self.get_param("transport")
        return None if value is None else value.lower()

    @property
    def lr(self) -> bool:
        """True if the ``lr`` (loose routing) parameter is present (RFC 3261 §19.1.1)."""
        return self.has_param("lr")

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter (a host), as written."""
        return self.get_param("maddr")

    @property
    def ttl(self) -> int | None:
        """The ``ttl`` parameter (0 to 255; checked when parsed or built)."""
        value = self.get_param("ttl")
        return None if value is None else int(value)

    @property
    def method(self) -> str | None:
        """The ``method`` parameter, as written (methods are case-sensitive)."""
        return self.get_param("method")

    @property
    def user_param(self) -> str | None:
        """The ``user`` parameter lower-cased (``"phone"``, ``"ip"``...)."""
        value = self.get_param("user")
        return None if value is None else value.lower()

    # -- changing -----------------------------------------------------------

    def replace(self, **changes: Any) -> SipUri:
        """A copy with some fields changed (``dataclasses.replace``); validated and re-written."""
        return dataclasses.replace(self, **changes)

    def with_param(self, name: str, value: str | None = None) -> SipUri:
        """A copy where parameter ``name`` (escaped form) is set to ``value``.

        An existing parameter of that name (case-insensitive) is replaced in
        place; otherwise the parameter is appended.
        """
        lname = name.lower()
        params: list[tuple[str, str | None]] = []
        done = False
        for n, v in self.params:
            if n.lower() != lname:
                params.append((n, v))
            elif not done:
                params.append((name, value))
                done = True
        if not done:
            params.append((name, value))
        return dataclasses.replace(self, params=tuple(params))

    def without_param(self, name: str) -> SipUri:
        """A copy with every parameter called ``name`` (case-insensitive) removed."""
        lname = name.lower()
        return dataclasses.replace(
            self, params=tuple(p for p in self.params if p[0].lower() != lname)
        )

    # -- comparison (RFC 3261 §19.1.4) --------------------------------------

    def _cmp_key(self) -> _SipKey:
        key = self._key
        if key is not None:
            return key
        params: dict[str, str | None] = {}
        for n, v in self.params:
            ln = _norm_escapes(n).lower()
            if ln not in params:  # a repeated parameter: the first one counts
                params[ln] = None if v is None else _norm_escapes(v).lower()
        host = self.host.lower()
        if host.startswith("["):
            host = _ipv6_canonical(host)
        base = (
            self.scheme,
            None if self.user is None else _norm_escapes(self.user),
            None if self.password is None else _norm_escapes(self.password),
            host,
            self.port,
            # Names are unique here, so sorting never compares a None value.
            tuple(sorted((n, v) for n, v in params.items() if n in _SIGNIFICANT_PARAMS)),
            tuple(sorted((_norm_escapes(n).lower(), _norm_escapes(v)) for n, v in self.headers)),
        )
        key = (base, params)
        _set(self, "_key", key)
        return key

    def __eq__(self, other: object) -> bool:
        """URI equivalence of RFC 3261 §19.1.4.

        * sip and sips never match; user and password compare case-sensitively,
          host case-insensitively, all after decoding escapes of non-reserved
          characters; a missing port does not match any explicit port.
        * Parameters present in both URIs must match (names and values
          case-insensitive). ``user``, ``ttl``, ``method``, ``maddr`` and
          ``transport`` present in only one never match (the "default value"
          rule of §19.1.4 and its examples); any other parameter present in
          only one is ignored.
        * Headers are never ignored: both URIs carry the same multiset (names
          case-insensitive; values compared exactly after decoding escapes).
        """
        if not isinstance(other, SipUri):
            return NotImplemented
        if other is self:
            return True
        base_a, params_a = self._cmp_key()
        base_b, params_b = other._cmp_key()
        if base_a != base_b:
            return False
        if len(params_a) > len(params_b):
            params_a, params_b = params_b, params_a
        for name, value in params_a.items():
            if name in params_b and params_b[name] != value:
                return False
        return True

    def __hash__(self) -> int:
        # Only the components that equality never ignores (params outside
        # _SIGNIFICANT_PARAMS may be missing from an equal URI).
        return hash(self._cmp_key()[0])


# ---------------------------------------------------------------------------
# tel URIs (RFC 3966)
# ---------------------------------------------------------------------------
#
#   telephone-subscriber = global-number / local-number
#   global-number        = global-number-digits *par
#   local-number         = local-number-digits *par context *par
#   global-number-digits = "+" *phonedigit DIGIT *phonedigit
#   local-number-digits  = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex
#   phonedigit           = DIGIT / [ visual-separator ]
#   phonedigit-hex       = HEXDIG / "*" / "#" / [ visual-separator ]
#   visual-separator     = "-" / "." / "(" / ")"
#   par       = parameter / extension / isdn-subaddress
#   extension = ";ext=" 1*phonedigit
#   isdn-subaddress = ";isub=" 1*uric
#   context   = ";phone-context=" descriptor
#   descriptor = domainname / global-number-digits
#   parameter = ";" pname ["=" pvalue ]; pname = 1*( alphanum / "-" )
#   pvalue    = 1*paramchar  (paramchar as in RFC 3261)

_TEL_GLOBAL_RE: Final = re.compile(r"\+[0-9().\-]*[0-9][0-9().\-]*")
_TEL_LOCAL_RE: Final = re.compile(r"[0-9A-Fa-f*#().\-]*[0-9A-Fa-f*#][0-9A-Fa-f*#().\-]*")
_TEL_PNAME_RE: Final = re.compile(r"[A-Za-z0-9\-]+")
_TEL_EXT_RE: Final = re.compile(r"[0-9().\-]*[0-9][0-9().\-]*")
# isub takes any uric but ';' (which separates parameters).
_TEL_ISUB_RE: Final = re.compile(rf"[{_C_UNRESERVED}%/?:@&=+$,]+")
_TEL_RE: Final = re.compile(
    rf"([0-9A-Fa-f*#().+\-]++)((?:;[A-Za-z0-9\-]++(?:=[{_C_UNRESERVED}%\[\]/?:@&=+$,]++)?+)*+)"
)
_VISUAL_SEPARATORS: Final = str.maketrans("", "", "-.()")

_TelKey: TypeAlias = tuple[bool, str, frozenset[tuple[str, str | None]]]


def _check_tel_params(params: tuple[tuple[str, str | None], ...], number: str) -> None:
    has_context = False
    for n, v in params:
        if _TEL_PNAME_RE.fullmatch(n) is None:
            raise ParseError("bad tel parameter")
        ln = n.lower()
        if ln == "isub":
            if v is None or _TEL_ISUB_RE.fullmatch(v) is None:
                raise ParseError("bad isub parameter")
        elif v is not None and _PARAM_RE.fullmatch(v) is None:
            raise ParseError("bad tel parameter")
        elif ln == "ext":
            if v is None or _TEL_EXT_RE.fullmatch(v) is None:
                raise ParseError("bad ext parameter")
        elif ln == "phone-context":
            if v is None or (
                _TEL_GLOBAL_RE.fullmatch(v) is None and _HOSTNAME_RE.fullmatch(v) is None
            ):
                raise ParseError("bad phone-context parameter")
            has_context = True
        if v is not None:
            _check_escapes(v)
    if not number.startswith("+"):
        # RFC 3966 §5.1.5: a local number MUST carry phone-context.
        if _TEL_LOCAL_RE.fullmatch(number) is None:
            raise ParseError("bad tel number")
        if not has_context:
            raise ParseError("local tel number without phone-context")
    elif _TEL_GLOBAL_RE.fullmatch(number) is None:
        raise ParseError("bad tel number")


@dataclass(frozen=True, slots=True, eq=False, repr=False, kw_only=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966).

    ``number`` is as written, visual separators included (``+1-201-555-0123``);
    ``params`` in order as written. A local number (no leading ``+``) must
    carry ``phone-context``. Equality follows RFC 3966 §4.
    """

    number: str
    params: tuple[tuple[str, str | None], ...] = ()
    _text: str | None = field(default=None, init=False, repr=False)
    _key: _TelKey | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        params = tuple((n, v) for n, v in self.params)
        _check_tel_params(params, self.number)
        _set(self, "params", params)

    @property
    def scheme(self) -> str:
        """Always ``"tel"``."""
        return "tel"

    @property
    def is_global(self) -> bool:
        """True for a global number (``+`` and an E.164 number, RFC 3966 §5.1.4)."""
        return self.number.startswith("+")

    @property
    def digits(self) -> str:
        """The number without visual separators (``-.()``), e.g. ``+12015550123``."""
        return self.number.translate(_VISUAL_SEPARATORS)

    def get_param(self, name: str, default: str | None = None) -> str | None:
        """The value of parameter ``name`` (case-insensitive), as written; see SipUri.get_param."""
        i = _find_param(self.params, name)
        return default if i < 0 else self.params[i][1]

    def has_param(self, name: str) -> bool:
        """True if parameter ``name`` (case-insensitive) is present."""
        return _find_param(self.params, name) >= 0

    @property
    def ext(self) -> str | None:
        """The ``ext`` (extension) parameter, as written."""
        return self.get_param("ext")

    @property
    def isub(self) -> str | None:
        """The ``isub`` (ISDN subaddress) parameter, as written."""
        return self.get_param("isub")

    @property
    def phone_context(self) -> str | None:
        """The ``phone-context`` parameter, as written."""
        return self.get_param("phone-context")

    def replace(self, **changes: Any) -> TelUri:
        """A copy with some fields changed; validated and re-written."""
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        text = self._text
        if text is None:
            parts = ["tel:", self.number]
            for n, v in self.params:
                parts.append(f";{n}" if v is None else f";{n}={v}")
            text = "".join(parts)
            _set(self, "_text", text)
        return text

    def __repr__(self) -> str:
        return f"TelUri({str(self)!r})"

    def _cmp_key(self) -> _TelKey:
        key = self._key
        if key is not None:
            return key
        params: dict[str, str | None] = {}
        for n, v in self.params:
            ln = n.lower()
            if ln in params:
                continue
            if v is None:
                params[ln] = None
            elif ln == "ext" or (ln == "phone-context" and v.startswith("+")):
                # Numbers compare without visual separators (RFC 3966 §4).
                params[ln] = v.translate(_VISUAL_SEPARATORS)
            else:
                params[ln] = unescape(v).lower()
        key = (self.is_global, self.digits.lower(), frozenset(params.items()))
        _set(self, "_key", key)
        return key

    def __eq__(self, other: object) -> bool:
        """tel URI equivalence of RFC 3966 §4.

        Both global or both local; numbers equal once visual separators are
        removed; the same set of parameters, in any order, with names and
        values compared case-insensitively after decoding escapes (numeric
        ``ext`` and ``phone-context`` values without visual separators).
        """
        if not isinstance(other, TelUri):
            return NotImplemented
        return self._cmp_key() == other._cmp_key()

    def __hash__(self) -> int:
        return hash(self._cmp_key())


# ---------------------------------------------------------------------------
# Other schemes
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False, repr=False, kw_only=True)
class AbsoluteUri:
    """A URI of any other scheme (RFC 3261 ``absoluteURI``), kept opaque.

    ``scheme`` is lower-cased; ``rest`` is everything after the first ``:`` as
    written. Two such URIs are equal when the schemes match case-insensitively
    and the rest matches exactly.
    """

    scheme: str
    rest: str
    _text: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if _SCHEME_RE.fullmatch(self.scheme) is None:
            raise ParseError("bad URI scheme")
        if _ABSOLUTE_REST_RE.fullmatch(self.rest) is None:
            raise ParseError("bad URI")
        _check_escapes(self.rest)
        _set(self, "scheme", self.scheme.lower())

    def replace(self, **changes: Any) -> AbsoluteUri:
        """A copy with some fields changed; validated and re-written."""
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = f"{self.scheme}:{self.rest}"
            _set(self, "_text", text)
        return text

    def __repr__(self) -> str:
        return f"AbsoluteUri({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbsoluteUri):
            return NotImplemented
        return self.scheme == other.scheme and self.rest == other.rest

    def __hash__(self) -> int:
        return hash((self.scheme, self.rest))


Uri: TypeAlias = SipUri | TelUri | AbsoluteUri


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


# The parser fills the slots of a new instance directly (bypassing __init__ and
# its validation, already done on the whole text). The slot descriptors' own
# setters are used: they skip the frozen dataclass's __setattr__ and the
# attribute lookup of object.__setattr__, which is a third of the parse time.
_sip_setters: Any = tuple(
    SipUri.__dict__[name].__set__
    for name in ("scheme", "user", "password", "host", "port", "params", "headers", "_text", "_key")
)


def _parse_sip(text: str, scheme: str, start: int) -> SipUri:
    if text.find("@", start) >= 0:
        m = _SIP_WITH_USER_RE.fullmatch(text, start)
        if m is None:
            _diagnose_sip(text, start)
        user, password, host, port_s, params_s, headers_s = m.groups()
    else:
        m = _SIP_NO_USER_RE.fullmatch(text, start)
        if m is None:
            _diagnose_sip(text, start)
        host, port_s, params_s, headers_s = m.groups()
        user = password = None
    if "%" in text and _BAD_ESCAPE.search(text, start) is not None:
        raise ParseError("bad % escape in URI")
    if port_s is None:
        port = None
    else:
        port = int(port_s)
        if port > 65535:
            raise ParseError("bad URI port")
    if host[0] == "[" and not _ipv6_ok(host):
        raise ParseError("bad IPv6 address")
    params: tuple[tuple[str, str | None], ...]
    if not params_s:
        params = ()
    else:
        if params_s.find(";", 1) < 0:  # one parameter: the common case
            name, eq, value = params_s[1:].partition("=")
            params = ((name, value if eq else None),)
        else:
            params = _split_params(params_s)
        lowered = params_s.lower()
        if "ttl" in lowered or "maddr" in lowered:
            _check_special_params(params)
    uri: SipUri = _new(SipUri)
    s_scheme, s_user, s_password, s_host, s_port, s_params, s_headers, s_text, s_key = _sip_setters
    s_scheme(uri, scheme)
    s_user(uri, user)
    s_password(uri, password)
    s_host(uri, host)
    s_port(uri, port)
    s_params(uri, params)
    s_headers(uri, () if headers_s is None else _split_headers(headers_s))
    s_text(uri, text)
    s_key(uri, None)
    return uri


def _diagnose_sip(text: str, start: int) -> NoReturn:
    """Name the fault of a SIP URI the full regex rejected (always raises)."""
    _check_text(text)
    rest = text[start:]
    if not rest:
        raise ParseError("missing URI host")
    at = rest.find("@")
    if at >= 0:
        if rest.find("@", at + 1) >= 0:
            raise ParseError("unescaped '@' in URI")
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, password = userinfo.partition(":")
        if not user:
            raise ParseError("empty URI user")
        if _USER_RE.fullmatch(user) is None:
            raise ParseError("bad character in URI user")
        if colon and _PASSWORD_RE.fullmatch(password) is None:
            raise ParseError("bad character in URI password")
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise ParseError("unterminated IPv6 reference")
        host, rest = rest[: end + 1], rest[end + 1 :]
        if _HOST_RE.fullmatch(host) is None:
            raise ParseError("bad IPv6 address")
    else:
        hostport = re.split(r"[;?]", rest, maxsplit=1)[0]
        if hostport.count(":") >= 2 and _ipv6_ok(f"[{hostport}]"):
            # RFC 5118 §4.2: an IPv6 address in a SIP URI must be bracketed.
            raise ParseError("IPv6 address must be in brackets")
        host = hostport.partition(":")[0]
        if not host:
            raise ParseError("missing URI host")
        if _HOSTNAME_CHARS_RE.fullmatch(host) is None:
            raise ParseError("bad character in URI host")
        if _HOSTNAME_RE.fullmatch(host) is None:
            raise ParseError("bad URI host")
        rest = rest[len(host) :]
    if rest.startswith(":"):
        port_s = re.split(r"[;?]", rest[1:], maxsplit=1)[0]
        if not port_s.isdigit() or len(port_s) > 5:
            raise ParseError("bad URI port")
        rest = rest[1 + len(port_s) :]
    params_s, qmark, headers_s = rest.partition("?")
    if params_s:
        if params_s[0] != ";":
            raise ParseError("bad character after URI host")
        for seg in params_s[1:].split(";"):
            name, eq, value = seg.partition("=")
            if not name:
                raise ParseError("empty URI parameter")
            if _PARAM_RE.fullmatch(name) is None or (eq and _PARAM_RE.fullmatch(value) is None):
                raise ParseError("bad URI parameter")
    if qmark:
        for seg in headers_s.split("&"):
            name, eq, value = seg.partition("=")
            if not eq or _HNAME_RE.fullmatch(name) is None or _HVALUE_RE.fullmatch(value) is None:
                raise ParseError("bad URI header")
    raise ParseError("malformed SIP URI")  # pragma: no cover - a rule above names it


def _parse_tel(text: str, start: int) -> TelUri:
    m = _TEL_RE.fullmatch(text, start)
    if m is None:
        _check_text(text)
        if start == len(text):
            raise ParseError("missing tel number")
        number = text[start:].partition(";")[0]
        if not number or _TEL_RE.fullmatch(number) is None:
            raise ParseError("bad tel number")
        raise ParseError("bad tel parameter")
    number, params_s = m.groups()
    params = _split_params(params_s) if params_s else ()
    _check_tel_params(params, number)
    uri: TelUri = _new(TelUri)
    _set(uri, "number", number)
    _set(uri, "params", params)
    _set(uri, "_text", text)
    _set(uri, "_key", None)
    return uri


def _parse_absolute(text: str, scheme: str, start: int) -> AbsoluteUri:
    rest = text[start:]
    if _SCHEME_RE.fullmatch(scheme) is None:
        _check_text(text)
        raise ParseError("bad URI scheme")
    if _ABSOLUTE_REST_RE.fullmatch(rest) is None:
        _check_text(text)
        if not rest:
            raise ParseError("empty URI after scheme")
        raise ParseError("bad character in URI")
    _check_escapes(rest)
    uri: AbsoluteUri = _new(AbsoluteUri)
    _set(uri, "scheme", scheme.lower())
    _set(uri, "rest", rest)
    _set(uri, "_text", text)
    return uri


def _parse(text: str) -> Uri:
    colon = text.find(":")
    if colon <= 0:
        _check_text(text)
        raise ParseError("missing URI scheme")
    scheme = text[:colon]
    if scheme == "sip" or scheme == "sips":
        return _parse_sip(text, scheme, colon + 1)
    lscheme = scheme.lower()
    if lscheme == "sip" or lscheme == "sips":
        return _parse_sip(text, lscheme, colon + 1)
    if lscheme == "tel":
        return _parse_tel(text, colon + 1)
    return _parse_absolute(text, scheme, colon + 1)


_parse_cached = functools.lru_cache(maxsize=_DEFAULT_CACHE_SIZE)(_parse)


def parse_uri(text: str) -> Uri:
    """Parse a URI: ``sip:``/``sips:`` → :class:`SipUri`, ``tel:`` → :class:`TelUri`,
    any other scheme → :class:`AbsoluteUri`.

    ``text`` is the bare URI (no ``<>``, no surrounding whitespace). Raises
    :class:`ParseError`, and only that, if it is malformed. Results for short
    texts are cached; they are immutable, so sharing them is safe.
    """
    if len(text) <= _CACHE_MAX_LEN:
        return _parse_cached(text)
    return _parse(text)
