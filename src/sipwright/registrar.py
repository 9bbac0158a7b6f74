"""The registrar's rules (RFC 3261 §10.3, RFC 3327 Path, RFC 5626 outbound), sans-I/O.

:func:`process_register` is a pure function: given a REGISTER, the address-of-record's
current bindings, the wall-clock ``now`` and a :class:`RegistrarPolicy`, it returns the
bindings to store and the response to send. It reads no clock and touches no store, so
a location store can run it inside its own transaction and simply re-run it when a
concurrent writer (another worker process) changed the same AOR first.

What it checks, in the order of §10.3:

* step 5: the AOR is the To URI in canonical form (:func:`aor_of`: scheme, user, host,
  port; parameters and headers dropped, host lower-cased);
* step 6: ``Contact: *`` only alone and with ``Expires: 0`` (else 400); each binding's
  lifetime from its ``expires`` parameter, else the Expires header, else the default;
  a non-zero lifetime below the minimum is refused with 423 and Min-Expires (§10.3
  step 7, §21.4.17), above the maximum it is shortened;
* step 7: per binding, a different Call-ID replaces it, the same Call-ID replaces it
  only with a higher CSeq, otherwise the whole update is aborted (all or nothing);
* step 8: the 200 lists every current binding with its remaining ``expires``.

A binding is keyed by its contact URI (URI equality of §19.1.4) or, for an RFC 5626
client (``+sip.instance`` and ``reg-id`` with ``Supported: outbound``), by the pair
(instance, reg-id), so a re-registration from a new NAT port replaces the old flow.
The flow the REGISTER came in on (transport, source address, connection id) is stored
with each binding: a proxy must reach a client behind NAT or on a WebSocket through that
flow, whatever host the Contact names (RFC 5626 §5.3, RFC 7118 §5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ParseError
from .headers import Contact
from .message import Request, Response
from .uri import SipUri, Uri, parse_uri

__all__ = [
    "Binding",
    "Flow",
    "RegisterOutcome",
    "RegistrarPolicy",
    "aor_of",
    "binding_contact",
    "process_register",
]


@dataclass(frozen=True, slots=True)
class Flow:
    """Where a REGISTER came from: the way back to a client behind NAT (RFC 5626 §5.2).

    ``connection`` names a stream connection (TCP/TLS/WS) of the server process that
    received it, when there is one; datagram flows are just the source address.
    """

    transport: str
    host: str
    port: int
    connection: str | None = None


@dataclass(frozen=True, slots=True)
class Binding:
    """One contact bound to an address-of-record (§10.3 step 7), as stored.

    Plain values only (strings, numbers), so any store can serialise it. ``expires_at``
    is a wall-clock time (seconds since the epoch): bindings survive a server restart.
    """

    aor: str
    #: The Contact URI as the UA sent it (parameters of the URI kept, header params not).
    contact: str
    expires_at: float
    call_id: str
    cseq: int
    q: float | None = None
    #: RFC 5626 ``+sip.instance`` (without the quotes) and ``reg-id``.
    instance: str | None = None
    reg_id: int | None = None
    #: RFC 3327 Path values, in order, when the UA supports path.
    path: tuple[str, ...] = ()
    flow: Flow | None = None
    user_agent: str | None = None
    #: When the binding was last written (wall clock), for sweeping and display.
    updated_at: float = 0.0

    def remaining(self, now: float) -> int:
        """Whole seconds left (0 once expired)."""
        return max(0, int(self.expires_at - now + 0.5))

    def key(self) -> tuple[str, ...]:
        """What identifies the binding within its AOR: (instance, reg-id) or the URI."""
        if self.instance is not None and self.reg_id is not None:
            return ("outbound", self.instance, str(self.reg_id))
        return ("uri", _uri_key(self.contact))


@dataclass(frozen=True, slots=True)
class RegistrarPolicy:
    """Limits of a registrar. ``domains``: the domains it is responsible for (empty:
    any). ``max_bindings``: contacts per AOR (more are refused with 403)."""

    min_expires: int = 60
    max_expires: int = 86400
    default_expires: int = 3600
    max_bindings: int = 16
    domains: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """What to answer and what to store. ``bindings`` is the AOR's complete new set
    (unchanged when ``changed`` is False); ``response`` is ready to send (To tag left
    to the transaction user)."""

    response: Response
    bindings: tuple[Binding, ...]
    changed: bool
    aor: str | None


def aor_of(uri: Uri) -> str | None:
    """The canonical address-of-record of a To URI (§10.3 step 5), or None if not SIP.

    ``sip:Alice@Example.COM:5060;transport=tcp`` → ``sip:Alice@example.com:5060``: the
    user part is case-sensitive, the host is not (§19.1.4), parameters are dropped.
    """
    if not isinstance(uri, SipUri):
        return None
    user = f"{uri.user}@" if uri.user else ""
    port = f":{uri.port}" if uri.port else ""
    return f"{uri.scheme}:{user}{uri.host.lower()}{port}"


def _uri_key(contact: str) -> str:
    """A comparison key for a contact URI string (§19.1.4-ish: case of scheme/host)."""
    try:
        uri = parse_uri(contact)
    except ParseError:
        return contact
    if isinstance(uri, SipUri):
        params = ";".join(sorted(f"{k.lower()}={v}" for k, v in uri.params))
        user = uri.user or ""
        return f"{uri.scheme}:{user}@{uri.host.lower()}:{uri.port or ''};{params}"
    return str(uri)


def binding_contact(binding: Binding, now: float) -> str:
    """The Contact header value listing ``binding`` in a 200 (§10.3 step 8)."""
    text = f"<{binding.contact}>;expires={binding.remaining(now)}"
    if binding.q is not None:
        text += f";q={binding.q:g}"
    if binding.instance is not None:
        text += f';+sip.instance="{binding.instance}"'
    if binding.reg_id is not None:
        text += f";reg-id={binding.reg_id}"
    return text


def _reply(
    request: Request,
    status: int,
    reason: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> Response:
    return request.make_response(status, reason, headers=headers)


def _fail(
    request: Request,
    current: Sequence[Binding],
    status: int,
    reason: str,
    aor: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> RegisterOutcome:
    return RegisterOutcome(_reply(request, status, reason, headers), tuple(current), False, aor)


def _instance(contact: Contact) -> str | None:
    value = contact.params.get("+sip.instance")
    if value is None:
        return None
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def process_register(
    request: Request,
    current: Sequence[Binding],
    now: float,
    policy: RegistrarPolicy = RegistrarPolicy(),
    *,
    flow: Flow | None = None,
) -> RegisterOutcome:
    """Apply a REGISTER to the AOR's ``current`` (unexpired) bindings: §10.3 steps 5–8.

    Authentication (step 3) and authorisation (step 4) are the caller's: it knows the
    users table. ``current`` must be the bindings of ``aor_of(request.to.uri)``.
    """
    to = request.to
    call_id = request.call_id
    cseq = request.cseq
    if to is None or call_id is None or cseq is None:
        return _fail(request, current, 400, "Missing To, Call-ID or CSeq")
    aor = aor_of(to.uri)
    if aor is None:
        return _fail(request, current, 404, "Not a SIP address-of-record")
    to_uri = to.uri
    assert isinstance(to_uri, SipUri)
    if policy.domains and to_uri.host.lower() not in policy.domains:
        return _fail(request, current, 404, "Not Found (domain not served here)", aor)
    live = [b for b in current if b.expires_at > now]
    try:
        contacts = request.contact
        header_expires = request.expires
    except ParseError as exc:
        return _fail(request, live, 400, f"Bad Contact or Expires: {exc}", aor)
    bindings = {b.key(): b for b in live}
    changed = False

    wildcard = [c for c in contacts if c.is_wildcard]
    if wildcard:
        # §10.3 step 6: "*" only alone and with Expires: 0.
        if len(contacts) != 1 or header_expires != 0:
            reason = "Contact: * needs Expires: 0 and no other Contact"
            return _fail(request, live, 400, reason, aor)
        for key, existing in list(bindings.items()):
            if existing.call_id == call_id and cseq.number <= existing.cseq:
                return _fail(request, live, 500, "CSeq out of order for this Call-ID", aor)
            del bindings[key]
            changed = True
        return RegisterOutcome(_reply(request, 200), (), changed, aor)

    supports_path = "path" in request.supported
    path = tuple(request.headers.getall("Path")) if supports_path else ()
    outbound = "outbound" in request.supported
    user_agent = request.headers.get("User-Agent")
    for contact in contacts:
        expires = contact.expires
        if expires is None and contact.params.get("expires") is not None:
            return _fail(request, live, 400, "Contact expires is not a number of seconds", aor)
        if expires is None:
            expires = header_expires if header_expires is not None else policy.default_expires
        if 0 < expires < policy.min_expires:
            return _fail(
                request,
                live,
                423,
                "Interval Too Brief",
                aor,
                [("Min-Expires", str(policy.min_expires))],
            )
        expires = min(expires, policy.max_expires)
        instance = _instance(contact)
        reg_id_text = contact.params.get("reg-id")
        reg_id = int(reg_id_text) if reg_id_text and reg_id_text.isdigit() else None
        if not outbound or instance is None:
            reg_id = None  # RFC 5626 §6: reg-id means nothing without outbound support
        new = Binding(
            aor=aor,
            contact=str(contact.uri),
            expires_at=now + expires,
            call_id=call_id,
            cseq=cseq.number,
            q=contact.q,
            instance=instance,
            reg_id=reg_id,
            path=path,
            flow=flow,
            user_agent=user_agent,
            updated_at=now,
        )
        key = new.key()
        old = bindings.get(key)
        if old is not None and old.call_id == call_id and cseq.number <= old.cseq:
            # §10.3 step 7: an older or repeated REGISTER of the same Call-ID aborts all.
            return _fail(request, live, 500, "CSeq out of order for this Call-ID", aor)
        if expires == 0:
            if old is not None:
                del bindings[key]
                changed = True
            continue
        bindings[key] = new
        changed = True
    if len(bindings) > policy.max_bindings:
        return _fail(request, live, 403, f"Too many contacts (max {policy.max_bindings})", aor)
    final = tuple(sorted(bindings.values(), key=lambda b: (-(b.q or 0.0), b.contact)))
    headers = [("Contact", binding_contact(b, now)) for b in final]
    if supports_path and path:
        headers.extend(("Path", p) for p in path)  # RFC 3327 §5.3: echo the Path
    if outbound and any(b.reg_id is not None for b in final):
        headers.append(("Require", "outbound"))  # RFC 5626 §6
    return RegisterOutcome(
        _reply(request, 200, headers=headers),
        final if changed else tuple(live),
        changed,
        aor,
    )
