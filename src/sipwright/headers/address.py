"""Address headers: From, To, Contact, Route, Record-Route, Reply-To… (RFC 3261 §20).

``name-addr = [display-name] LAQUOT addr-spec RAQUOT`` or a bare ``addr-spec``.
In the bare form every ``;param`` belongs to the header, not the URI, and so
§20 forbids a bare URI that contains a comma, question mark or semicolon
(RFC 4475 regbadct): it must be enclosed in ``<>``.
"""

from __future__ import annotations

import re
from typing import TypeVar

from .._abnf import TOKEN_RE, UINT32_MAX, ascii_int
from ..errors import ParseError
from ..uri import AbsoluteUri, Uri, parse_uri
from .params import (
    HasParams,
    Params,
    find_quote_end,
    format_params,
    parse_params,
    quote,
    unquote,
)

__all__ = ["WILDCARD_URI", "Contact", "NameAddr", "parse_contact", "parse_name_addr"]

_WS = " \t"
#: Placeholder URI of the ``Contact: *`` wildcard; test ``is_wildcard`` first.
WILDCARD_URI = AbsoluteUri(scheme="x-wildcard", rest="*")

_TOKENS_LWS_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*")


class NameAddr(HasParams):
    """A display name, a URI and header parameters (``tag``, ``expires``, ``q``…).

    Immutable: ``with_param`` returns a changed copy. ``str()`` gives back the
    parsed text unchanged, or a canonical rendering for a built value.
    """

    __slots__ = ("_tag", "_text", "display_name", "uri")

    def __init__(
        self,
        uri: Uri,
        display_name: str | None = None,
        params: Params | None = None,
        *,
        text: str | None = None,
    ) -> None:
        self.uri = uri
        #: The display name with quotes and escapes removed, or None.
        self.display_name = display_name
        self._params = params if params is not None else Params()
        self._params_text = None
        self._tag: str | None = self._params.get("tag")
        self._text = text

    @property
    def tag(self) -> str | None:
        """The dialog tag (§19.3), on From and To."""
        return self._tag

    def with_param(self, name: str, value: str | None) -> NameAddr:
        """A copy with a header parameter set (e.g. adding the To tag, §8.2.6.2)."""
        return type(self)(self.uri, self.display_name, self.params.with_param(name, value))

    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        name = self.display_name
        shown = "" if name is None else f"{_render_display_name(name)} "
        return f"{shown}<{self.uri}>{format_params(self.params.items())}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return self.uri == other.uri and self.params == other.params

    def __hash__(self) -> int:
        return hash(self.uri)


class Contact(NameAddr):
    """A Contact value: a NameAddr, or the ``*`` wildcard of a REGISTER (§10.2.2)."""

    __slots__ = ("is_wildcard",)

    def __init__(
        self,
        uri: Uri,
        display_name: str | None = None,
        params: Params | None = None,
        *,
        text: str | None = None,
        is_wildcard: bool = False,
    ) -> None:
        super().__init__(uri, display_name, params, text=text)
        self.is_wildcard = is_wildcard

    @property
    def expires(self) -> int | None:
        """The ``expires`` contact parameter in seconds (§20.10), capped at 2**32-1."""
        value = self.params.get("expires")
        number = None if value is None else ascii_int(value)
        return None if number is None else min(number, UINT32_MAX)

    @property
    def q(self) -> float | None:
        """The ``q`` preference (0 to 1, §20.10), or None."""
        value = self.params.get("q")
        if value is None:
            return None
        try:
            q = float(value)
        except ValueError:
            return None
        return q if 0.0 <= q <= 1.0 else None

    def __str__(self) -> str:
        if self.is_wildcard:
            return "*"
        return super().__str__()


_A = TypeVar("_A", bound=NameAddr)


def _render_display_name(name: str) -> str:
    if TOKEN_RE.fullmatch(name.replace(" ", "x")) and "  " not in name:
        return name
    return quote(name)


def _split_name_addr(text: str) -> tuple[str | None, Uri, str]:
    """Return (display name, URI, text after the address) for a name-addr or addr-spec."""
    s = text.strip(_WS)
    if not s:
        raise ParseError("empty address")
    display: str | None = None
    if s[0] == '"':
        end = find_quote_end(s, 0)
        display = unquote(s[: end + 1])
        rest = s[end + 1 :].lstrip(_WS)
        if not rest.startswith("<"):
            raise ParseError("quoted display name not followed by <URI>")
        lt = 0
        s = rest
    else:
        # name-addr only if '<' comes before any ';' or '"': otherwise the '<'
        # is inside a parameter of a bare addr-spec.
        lt = s.find("<")
        semi = s.find(";")
        quote_at = s.find('"')
        if lt >= 0 and (0 <= semi < lt or 0 <= quote_at < lt):
            lt = -1
    if lt >= 0:
        if lt > 0:
            name = s[:lt].rstrip(_WS)
            if _TOKENS_LWS_RE.fullmatch(name) is None:
                raise ParseError(f"display name must be tokens or quoted: {name[:40]!r}")
            display = name
        gt = s.find(">", lt)
        if gt < 0:
            raise ParseError("missing '>' in address")
        inner = s[lt + 1 : gt]
        if not inner or inner[0] in _WS or inner[-1] in _WS:
            raise ParseError("whitespace inside <> around the URI")
        return display, parse_uri(inner), s[gt + 1 :]
    # addr-spec: the URI runs to the first ';' (which starts header parameters).
    semi = s.find(";")
    uri_text = s if semi < 0 else s[:semi]
    uri_text = uri_text.rstrip(_WS)
    if any(c in uri_text for c in ",?") or any(c in uri_text for c in _WS):
        raise ParseError("URI with ',', '?' or whitespace must be enclosed in <>")
    return None, parse_uri(uri_text), "" if semi < 0 else s[semi:]


_P_NAME = r"[A-Za-z0-9\-.!%*_+`'~]++"
_P_VALUE = r"[A-Za-z0-9\-.!%*_+`'~:\[\]]++"
_PARAMS_WITH_TAG = rf"((?:;(?:(?i:tag)=({_P_VALUE})|{_P_NAME}(?:={_P_VALUE})?+))*+)"
# The usual shapes in one possessive regex pass: ``"Name" <uri>;p=v``,
# ``Name Name <uri>``, ``<uri>;p`` and a bare ``uri;p`` (which may not hold
# , ? or ;, §20). The tag is captured on the way: it is what dialog matching
# reads. Anything else (escapes, quoted values, odd blanks) takes the full grammar.
_NAME_ADDR_FAST = re.compile(
    rf'(?:"([^"\\\x00-\x1f]*+)" ?+|({_P_NAME}(?: {_P_NAME})*+) ++)?+'
    rf'<([^\x00-\x20<>"]++)>{_PARAMS_WITH_TAG}'
    rf'|([^\x00-\x20<>",;?]++){_PARAMS_WITH_TAG}'
)


def _fast(cls: type[_A], text: str) -> _A | None:
    m = _NAME_ADDR_FAST.fullmatch(text)
    if m is None:
        return None
    quoted, tokens, uri_text, params_text, tag, bare_uri, bare_params, bare_tag = m.groups()
    value = cls.__new__(cls)
    if uri_text is None:
        value.uri = parse_uri(bare_uri)
        value._params_text = bare_params
        value._tag = bare_tag
    else:
        value.uri = parse_uri(uri_text)
        value._params_text = params_text
        value._tag = tag
    value.display_name = quoted if tokens is None else tokens
    value._params = None
    value._text = text
    return value


def parse_name_addr(text: str) -> NameAddr:
    """Parse a From/To/Route/Record-Route style value."""
    fast = _fast(NameAddr, text)
    if fast is not None:
        return fast
    display, uri, rest = _split_name_addr(text)
    params = Params(parse_params(rest)) if rest.strip(_WS) else Params()
    return NameAddr(uri, display, params, text=text.strip(_WS))


def parse_contact(text: str) -> Contact:
    """Parse one Contact value, including ``*``."""
    s = text.strip(_WS)
    if s == "*":
        return Contact(WILDCARD_URI, None, Params(), text="*", is_wildcard=True)
    fast = _fast(Contact, text)
    if fast is not None:
        fast.is_wildcard = False
        return fast
    display, uri, rest = _split_name_addr(s)
    params = Params(parse_params(rest)) if rest.strip(_WS) else Params()
    return Contact(uri, display, params, text=s)
