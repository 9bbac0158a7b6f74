"""sipwright: a correct, fast, typed SIP stack (RFC 3261).

This package re-exports the sans-I/O message layer; it has no logic of its own.
``sipwright.UserAgent`` (and its call classes) live in the asyncio shell,
:mod:`sipwright.aio.ua`; they are resolved on first access (PEP 562) so that importing
the sans-I/O core never imports asyncio.
"""

import importlib
from typing import Any

from ._version import __version__
from .errors import ParseError, SipError
from .headers import (
    AuthHeader,
    Contact,
    CSeq,
    Headers,
    MediaType,
    NameAddr,
    ParamHeader,
    Params,
    Via,
)
from .ids import IdFactory, SecretsIdFactory, SequentialIdFactory, new_branch, new_call_id, new_tag
from .limits import DEFAULT_LIMITS, ParseLimits
from .message import BuildError, Message, Request, Response, make_response
from .parser import KeepAlive, StreamParser, parse
from .server_transport import ResponseTarget, response_target, stamp_received
from .uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri
from .validate import Finding, Report, validate, validate_message, validate_stream

#: Names served lazily from the asyncio shell: name -> module.
_IO_SHELL_EXPORTS = {
    "UserAgent": "sipwright.aio.ua",
    "Call": "sipwright.aio.call",
    "CallFailed": "sipwright.aio.call",
    "CallState": "sipwright.aio.call",
    "IncomingCall": "sipwright.aio.call",
    "OutgoingCall": "sipwright.aio.call",
}


def __getattr__(name: str) -> Any:
    module = _IO_SHELL_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sipwright' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_LIMITS",
    "AbsoluteUri",
    "AuthHeader",
    "BuildError",
    "CSeq",
    "Contact",
    "Finding",
    "Headers",
    "IdFactory",
    "KeepAlive",
    "MediaType",
    "Message",
    "NameAddr",
    "ParamHeader",
    "Params",
    "ParseError",
    "ParseLimits",
    "Report",
    "Request",
    "Response",
    "ResponseTarget",
    "SecretsIdFactory",
    "SequentialIdFactory",
    "SipError",
    "SipUri",
    "StreamParser",
    "TelUri",
    "Uri",
    "Via",
    "__version__",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse",
    "parse_uri",
    "response_target",
    "stamp_received",
    "validate",
    "validate_message",
    "validate_stream",
]
