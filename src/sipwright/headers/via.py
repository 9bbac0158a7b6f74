"""The Via header (RFC 3261 §20.42, §18.2.1, RFC 3581).

``Via: SIP/2.0/UDP host:port;branch=z9hG4bK...;received=...;rport``. LWS is
allowed around the slashes of sent-protocol and before the colon of sent-by
(§25.1: ``SLASH = SWS "/" SWS``, ``COLON = SWS ":" SWS``), which RFC 4475's
wsinv message exercises.
"""

from __future__ import annotations

import re

from .._abnf import ascii_int
from ..errors import ParseError
from ..ids import BRANCH_COOKIE
from .params import HasParams, Params, format_params, parse_params

__all__ = ["BRANCH_COOKIE", "Via", "parse_via"]

_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
# sent-protocol LWS sent-by, then parameters from the first ';'.
_VIA_RE = re.compile(
    rf"[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)"
    r"(?:[ \t]*:[ \t]*([0-9]{1,5}))?[ \t]*"
)


class Via(HasParams):
    """One Via value. Immutable; ``with_param`` returns a changed copy."""

    __slots__ = (
        "_branch",
        "_text",
        "host",
        "port",
        "protocol_name",
        "protocol_version",
        "transport",
    )

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: Params | None = None,
        *,
        protocol_name: str = "SIP",
        protocol_version: str = "2.0",
        text: str | None = None,
    ) -> None:
        self.protocol_name = protocol_name
        self.protocol_version = protocol_version
        #: Upper-cased transport token: UDP, TCP, TLS, SCTP, WS, WSS or an extension.
        self.transport = transport.upper()
        #: sent-by host as written (an IPv6 reference keeps its brackets).
        self.host = host
        self.port = port
        self._params = params if params is not None else Params()
        self._params_text = None
        self._branch: str | None = self._params.get("branch")
        self._text = text

    @property
    def branch(self) -> str | None:
        """The branch parameter (the transaction ID when it has the magic cookie)."""
        return self._branch

    @property
    def received(self) -> str | None:
        """The ``received`` parameter added by the next hop (§18.2.1)."""
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The filled-in ``rport`` value (RFC 3581), or None if absent or empty."""
        value = self.params.get("rport")
        return None if value is None else ascii_int(value)

    @property
    def has_rport(self) -> bool:
        """Whether the rport parameter is present at all (a request asks for it empty)."""
        return "rport" in self.params

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def ttl(self) -> int | None:
        value = self.params.get("ttl")
        return None if value is None else ascii_int(value)

    @property
    def sent_by(self) -> str:
        """``host[:port]`` as it identifies the sender (§18.2.2)."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def has_magic_cookie(self) -> bool:
        """Whether the branch is RFC 3261 style (§8.1.1.7), i.e. usable for §17 matching."""
        branch = self.branch
        return branch is not None and branch.startswith(BRANCH_COOKIE)

    def with_param(self, name: str, value: str | None) -> Via:
        """A copy with a parameter set (e.g. ``received``), keeping the others in order."""
        return Via(
            self.transport,
            self.host,
            self.port,
            self.params.with_param(name, value),
            protocol_name=self.protocol_name,
            protocol_version=self.protocol_version,
        )

    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        sent_by = self.sent_by
        proto = f"{self.protocol_name}/{self.protocol_version}/{self.transport}"
        return f"{proto} {sent_by}{format_params(self.params.items())}"

    def __repr__(self) -> str:
        return f"Via({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Via):
            return NotImplemented
        return (
            self.transport == other.transport
            and self.host.lower() == other.host.lower()
            and self.port == other.port
            and self.params == other.params
        )

    def __hash__(self) -> int:
        return hash((self.transport, self.host.lower(), self.port))


# The usual shape, ``SIP/2.0/UDP host:port;params`` with no blanks around the
# separators, accepted in one pass of a possessive regex that also captures the
# branch (the value a transaction layer reads on every message).
_P_NAME = r"[A-Za-z0-9\-.!%*_+`'~]++"
_P_VALUE = r"[A-Za-z0-9\-.!%*_+`'~:\[\]]++"
_VIA_FAST = re.compile(
    rf"SIP/2\.0/({_P_NAME}) (\[[0-9A-Fa-f:.]++\]|[A-Za-z0-9\-.]++)(?::([0-9]{{1,5}}+))?+"
    rf"((?:;(?:(?i:branch)=({_P_VALUE})|{_P_NAME}(?:={_P_VALUE})?+))*+)"
)


def parse_via(text: str) -> Via:
    """Parse one Via value (one element of the comma list).

    The usual shape takes one regex pass; anything else (LWS around ``/`` and
    ``:``, quoted parameters, errors) takes the careful path, which names the
    fault.
    """
    m = _VIA_FAST.fullmatch(text)
    if m is None:
        return _parse_via_slow(text)
    transport, host, port_text, params_text, branch = m.groups()
    via = _new_via(Via)
    via.protocol_name = "SIP"
    via.protocol_version = "2.0"
    via.transport = transport if transport.isupper() else transport.upper()
    via.host = host
    if port_text is None:
        via.port = None
    else:
        via.port = port = int(port_text)
        if port > 65535:
            raise ParseError("Via port out of range", header="Via")
    via._params_text = params_text
    via._params = None
    via._branch = branch
    via._text = text
    return via


_new_via = Via.__new__


def _parse_via_slow(text: str) -> Via:
    m = _VIA_RE.match(text)
    if m is None:
        raise ParseError(f"malformed Via {text[:60]!r}", header="Via")
    name, version, transport, host, port_text = m.groups()
    end = m.end()
    port: int | None = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise ParseError("Via port out of range", header="Via")
    rest = text[end:]
    if rest:
        try:
            pairs = parse_params(rest)
        except ParseError as exc:
            raise ParseError(f"bad Via parameter: {exc.reason}", header="Via") from None
        params = Params(pairs)
    else:
        params = Params()
    return Via(
        transport,
        host,
        port,
        params,
        protocol_name=name,
        protocol_version=version,
        text=text.strip(" \t"),
    )
