"""Locating SIP servers (RFC 3263 §4): where a request for a SIP URI goes.

Sans-I/O: :class:`ServerLocator` decides which DNS records it needs, one query at a
time (:meth:`~ServerLocator.next_query`), is given the answers
(:meth:`~ServerLocator.give`), and ends with an ordered list of
:class:`~sipwright.transaction.Destination` — the first to try, then the ones to fail
over to (§4.3). It never resolves anything itself and reads no clock; the I/O shell
(:mod:`sipwright.aio.dns`) asks a real resolver.

The procedure, for a URI's host (its ``maddr`` when present, §4):

1. **Transport** (§4.1): the URI's ``transport`` parameter; else UDP (TLS for ``sips:``)
   when the host is an IP address or a port is given; else the host's NAPTR records
   with a SIP service we support (``SIP+D2U``, ``SIP+D2T``, ``SIPS+D2T``; only ``SIPS+``
   for ``sips:``), in order and preference; else the first of the SRV names
   ``_sip._udp``, ``_sip._tcp``, ``_sips._tcp`` (only the last for ``sips:``) that exists;
   else UDP (TLS for ``sips:``). The UDP defaults become TCP for an element that cannot
   send UDP (every SIP element implements both, RFC 3261 §18).
2. **Address and port** (§4.2): an IP address as it is (the URI's port or the
   transport's default); a host with a port: its A/AAAA records; else the SRV records of
   the transport's service name, ordered by priority and, within one, by a weighted
   random draw (RFC 2782), each target's A/AAAA; without SRV records, the host's A/AAAA
   with the default port. A single SRV record whose target is ``.`` says the service is
   not offered there: no destination at all.

A name that has no record (or whose lookup failed) is given as ``None`` or ``()``: the
procedure goes on with the next step, as §4.1 asks of a NAPTR or SRV query that finds
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Generator, Sequence
from dataclasses import dataclass

from ._netaddr import ip_of
from .server_transport import default_port
from .transaction import Destination
from .uri import SipUri

__all__ = [
    "DnsQuery",
    "NaptrRecord",
    "ServerLocator",
    "SrvRecord",
    "order_srv",
]

#: NAPTR services (RFC 3263 §4.1, RFC 3261 §26.4) -> (transport, secure).
SERVICES: dict[str, tuple[str, bool]] = {
    "SIP+D2U": ("UDP", False),
    "SIP+D2T": ("TCP", False),
    "SIPS+D2T": ("TLS", True),
}
#: SRV service names per transport (RFC 3263 §4.1, RFC 2782).
SRV_PREFIX = {"UDP": "_sip._udp", "TCP": "_sip._tcp", "TLS": "_sips._tcp"}


@dataclass(frozen=True, slots=True)
class NaptrRecord:
    """One NAPTR record (RFC 3403): only terminal ``s`` records are followed here."""

    order: int
    preference: int
    flags: str
    service: str
    replacement: str


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """One SRV record (RFC 2782)."""

    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True)
class DnsQuery:
    """A DNS question the locator needs answered: ``rdtype`` is NAPTR, SRV, A or AAAA."""

    name: str
    rdtype: str


Answer = Sequence[NaptrRecord] | Sequence[SrvRecord] | Sequence[str] | None


def order_srv(records: Sequence[SrvRecord], draw: Callable[[int], int]) -> list[SrvRecord]:
    """RFC 2782's order: by priority; within one priority, a weighted random draw
    without replacement (weight-0 records first in the list, so they are chosen only
    with a small chance when others have weight). ``draw(n)`` returns an integer in
    ``[0, n]`` (``random.randint(0, n)``), injected so that tests choose it."""
    out: list[SrvRecord] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        group.sort(key=lambda r: r.weight != 0)  # stable: zero weights first
        while group:
            total = sum(r.weight for r in group)
            pick = draw(total)
            running = 0
            for index, record in enumerate(group):
                running += record.weight
                if running >= pick:
                    out.append(group.pop(index))
                    break
    return out


def _name(text: str) -> str:
    return text.rstrip(".").lower()


class ServerLocator:
    """RFC 3263 §4 for one URI (see the module docstring).

    ``transports``: what this element can send over (those NAPTR/SRV choices that name
    another are skipped). ``families``: ``"A"`` and/or ``"AAAA"``, the address records
    worth asking for (an element with IPv4 sockets only asks for A). ``draw``: the
    random integer source for SRV weights: ``draw(n)`` in ``[0, n]`` (the shell's
    ``random.randint(0, n)``; the core has no random source of its own).

    Use: ``while (q := loc.next_query()) is not None: loc.give(q, answer)``, then
    ``loc.destinations``.
    """

    def __init__(
        self,
        uri: SipUri,
        transports: Collection[str] = ("UDP", "TCP", "TLS"),
        families: Sequence[str] = ("A", "AAAA"),
        *,
        draw: Callable[[int], int],
    ) -> None:
        self.uri = uri
        self.transports = {t.upper() for t in transports}
        self.families = tuple(families)
        self._draw = draw
        self.destinations: list[Destination] = []
        self._pending: DnsQuery | None = None
        self._plan = self._run()
        self._advance(None)

    # -- the shell's side ---------------------------------------------------------

    def next_query(self) -> DnsQuery | None:
        """The question to answer next, or None when :attr:`destinations` is final."""
        return self._pending

    def give(self, query: DnsQuery, answer: Answer) -> None:
        """The records for ``query`` (``None`` or empty: none, or the lookup failed)."""
        if query != self._pending:
            raise ValueError(f"not the pending question: {query} (pending: {self._pending})")
        self._advance(answer)

    # -- the procedure --------------------------------------------------------------

    def _advance(self, answer: Answer) -> None:
        try:
            self._pending = self._plan.send(answer) if self._pending else next(self._plan)
        except StopIteration:
            self._pending = None

    def _run(self) -> Generator[DnsQuery, Answer, None]:
        uri = self.uri
        secure = uri.scheme == "sips"
        host = _name(uri.maddr or uri.bare_host)
        port = uri.port
        numeric = ip_of(host) is not None
        transport = self._uri_transport(uri, secure)
        if transport is None and not numeric and port is None:
            # §4.1: NAPTR, then SRV per supported transport, then the default.
            naptr = yield DnsQuery(host, "NAPTR")
            for record in self._usable_naptr(naptr, secure):
                kind = SERVICES[record.service.upper()][0]
                yield from self._srv_targets(_name(record.replacement), kind, host, fallback=False)
            if self.destinations:
                return
            for kind in ("TLS",) if secure else ("UDP", "TCP", "TLS"):
                if kind not in self.transports:
                    continue
                srv = yield DnsQuery(f"{SRV_PREFIX[kind]}.{host}", "SRV")
                records = [r for r in srv or () if isinstance(r, SrvRecord)]
                if records:
                    yield from self._from_srv(records, kind)
                    return
            transport = self._default_transport(secure)
            if transport is not None:
                yield from self._addresses(host, default_port(transport), transport)
            return
        if transport is None:
            transport = self._default_transport(secure)
        if transport is None or transport not in self.transports:
            return
        if numeric:
            self.destinations.append(Destination(host, port or default_port(transport), transport))
        elif port is not None:
            yield from self._addresses(host, port, transport)
        else:
            yield from self._srv_targets(
                f"{SRV_PREFIX[transport]}.{host}", transport, host, fallback=True
            )

    def _default_transport(self, secure: bool) -> str | None:
        """§4.1's default: TLS for SIPS, UDP for SIP — or TCP when we cannot send UDP
        (every SIP element implements both, RFC 3261 §18)."""
        for kind in ("TLS",) if secure else ("UDP", "TCP"):
            if kind in self.transports:
                return kind
        return None

    @staticmethod
    def _uri_transport(uri: SipUri, secure: bool) -> str | None:
        param = uri.transport
        if param is None:
            return None
        kind = param.upper()
        if secure and kind == "TCP":
            return "TLS"  # §4.1: sips with transport=tcp means TLS over TCP
        return kind

    def _usable_naptr(self, answer: Answer, secure: bool) -> list[NaptrRecord]:
        usable = []
        for record in answer or ():
            if not isinstance(record, NaptrRecord) or record.flags.lower() != "s":
                continue
            service = SERVICES.get(record.service.upper())
            if service is None or service[0] not in self.transports:
                continue
            if secure and not service[1]:
                continue  # §4.1: a SIPS URI only takes the SIPS+ services
            usable.append(record)
        return sorted(usable, key=lambda r: (r.order, r.preference))

    def _srv_targets(
        self, name: str, transport: str, host: str, *, fallback: bool
    ) -> Generator[DnsQuery, Answer, None]:
        srv = yield DnsQuery(name, "SRV")
        records = [r for r in srv or () if isinstance(r, SrvRecord)]
        if records:
            yield from self._from_srv(records, transport)
        elif fallback:
            # §4.2: no SRV records: the host's addresses, the transport's default port.
            yield from self._addresses(host, default_port(transport), transport)

    def _from_srv(
        self, records: list[SrvRecord], transport: str
    ) -> Generator[DnsQuery, Answer, None]:
        if len(records) == 1 and _name(records[0].target) == "":
            return  # RFC 2782: "." — the service is decidedly not available
        for record in order_srv(records, self._draw):
            yield from self._addresses(_name(record.target), record.port, transport)

    def _addresses(self, host: str, port: int, transport: str) -> Generator[DnsQuery, Answer, None]:
        if ip_of(host) is not None:
            self._add(Destination(host, port, transport))
            return
        for family in self.families:
            answer = yield DnsQuery(host, family)
            for address in answer or ():
                if isinstance(address, str) and ip_of(address) is not None:
                    self._add(Destination(address, port, transport))

    def _add(self, dest: Destination) -> None:
        if dest not in self.destinations:
            self.destinations.append(dest)
