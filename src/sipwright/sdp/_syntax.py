"""Character classes and small checks of the RFC 8866 §9 grammar.

Shared by the parser (which must reject what the grammar forbids) and by the model's
constructors (which must refuse values that would serialise to something else, e.g. a CRLF
smuggled into an attribute value).
"""

from __future__ import annotations

import ipaddress
import re

from .errors import SdpError

__all__ = [
    "MAX_DIGITS",
    "check_byte_string",
    "check_non_ws",
    "check_token",
    "check_unicast_address",
    "is_digits",
    "is_fqdn",
    "parse_uint",
]

# token-char = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#              "^" / "_" / "`" / "{" / "|" / "}" / "~"
_TOKEN_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+\Z")
# non-ws-string = 1*(VCHAR / %x80-FF); beyond ASCII we take any non-space, non-control char.
_NON_WS_RE = re.compile(r"[^\x00-\x20\x7f]+\Z")
# byte-string = 1*(%x01-09 / %x0B-0C / %x0E-FF): anything but NUL, CR and LF.
_BAD_BYTE_RE = re.compile(r"[\x00\r\n]")
#: Longest decimal number accepted anywhere (a 64-bit value has 20 digits).
MAX_DIGITS = 40
_DIGITS_RE = re.compile(r"[0-9]+\Z")
# FQDN = 4*(alpha-numeric / "-" / ".") (we accept shorter names: "localhost" is not the point)
_FQDN_RE = re.compile(r"[A-Za-z0-9\-.]+\Z")


def check_token(value: str, what: str) -> str:
    """Return ``value`` if it is an RFC 8866 ``token``, else raise :class:`SdpError`."""
    if not _TOKEN_RE.match(value):
        raise SdpError(f"{what} must be a token, got {value!r}")
    return value


def check_non_ws(value: str, what: str) -> str:
    """Return ``value`` if it is a ``non-ws-string`` (visible characters only)."""
    if not _NON_WS_RE.match(value):
        raise SdpError(f"{what} must be a non-empty string without whitespace, got {value!r}")
    return value


def check_byte_string(value: str, what: str, *, allow_empty: bool = False) -> str:
    """Return ``value`` if it is a ``byte-string`` (no NUL, CR or LF; non-empty)."""
    if not value and not allow_empty:
        raise SdpError(f"{what} must not be empty")
    if _BAD_BYTE_RE.search(value):
        raise SdpError(f"{what} must not contain NUL, CR or LF")
    return value


def parse_uint(text: str, what: str, *, maximum: int | None = None) -> int:
    """Parse ``1*DIGIT`` (leading zeros allowed, as the grammar does) into an int.

    Longer than :data:`MAX_DIGITS` is refused: no SDP number needs it, and Python's int()
    would raise ValueError past 4300 digits.
    """
    if len(text) > MAX_DIGITS:
        raise SdpError(f"{what} has too many digits ({len(text)} > {MAX_DIGITS})")
    if not _DIGITS_RE.match(text):
        raise SdpError(f"{what} must be decimal digits, got {text!r}")
    value = int(text)
    if maximum is not None and value > maximum:
        raise SdpError(f"{what} out of range (0-{maximum}): {text}")
    return value


def is_digits(text: str) -> bool:
    """True for a non-empty string of ASCII decimal digits."""
    return bool(_DIGITS_RE.match(text))


def is_fqdn(text: str) -> bool:
    """True if ``text`` has only the characters of the grammar's ``FQDN``."""
    return bool(_FQDN_RE.match(text))


def check_unicast_address(addrtype: str, address: str, what: str) -> str:
    """Check ``address`` against the grammar for ``addrtype`` (RFC 8866 §5.7, §9).

    For ``IP4``: a dotted quad or a domain name (an all-numeric dotted string must be a valid
    IPv4 address: ``300.1.1.1`` is neither); for ``IP6``: an IPv6 address (possibly with an
    embedded IPv4 part, RFC 5118 §4.9) or a domain name; any other address type: a
    ``non-ws-string`` (``extn-addr``).
    """
    check_non_ws(address, what)
    if addrtype == "IP4":
        if not is_fqdn(address):
            raise SdpError(f"{what} is not an IPv4 address or domain name: {address!r}")
        if all(part.isdigit() for part in address.split(".") if part) and "." in address:
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise SdpError(f"{what} is not a valid IPv4 address: {address!r}") from None
    elif addrtype == "IP6":
        if ":" in address:
            try:
                ipaddress.IPv6Address(address)
            except ValueError:
                raise SdpError(f"{what} is not a valid IPv6 address: {address!r}") from None
            if "%" in address:
                raise SdpError(f"{what} must not carry an IPv6 zone index: {address!r}")
        elif not is_fqdn(address):
            raise SdpError(f"{what} is not an IPv6 address or domain name: {address!r}")
    return address
