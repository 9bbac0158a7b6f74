"""The target set of a request for one of our domains, from its bindings (RFC 3261 §16.5).

Each unexpired binding of the address-of-record becomes a :class:`~.context.Target`: its
contact URI (which replaces the Request-URI, §16.6 step 2), its ``q`` (1.0 when absent,
§16.6: the highest ``q`` is tried first), its Path as Route values (RFC 3327 §5.3), and
the flow it registered over as the next hop (RFC 5626 §5.3: a UA behind NAT, or on a
connection, is only reachable the way it came). A flow's connection is named
``"<process>/<connection id>"``: it is used only by the process that holds it (several
workers can share one location store); the others send to the flow's address. A
contact that does not parse is skipped, not fatal.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ParseError
from ..registrar import Binding, Flow
from ..transaction import Destination
from ..uri import parse_uri
from .context import Target

__all__ = ["flow_connection", "targets_of"]


def flow_connection(process: str, connection_id: int | None) -> str | None:
    """How a stream connection is named in a stored :class:`Flow`."""
    return f"{process}/{connection_id}" if connection_id else None


def _connection(flow: Flow, process: str) -> int | None:
    if not flow.connection:
        return None
    owner, _, cid = flow.connection.partition("/")
    return int(cid) if owner == process and cid.isdigit() else None


def targets_of(bindings: Iterable[Binding], *, process: str) -> list[Target]:
    """The targets for ``bindings`` (see the module doc), in the bindings' order."""
    targets: list[Target] = []
    for b in bindings:
        try:
            uri = parse_uri(b.contact)
        except ParseError:
            continue
        flow = b.flow
        dest = Destination(flow.host, flow.port, flow.transport) if flow is not None else None
        conn = _connection(flow, process) if flow is not None else None
        q = b.q if b.q is not None else 1.0
        targets.append(Target(uri, q, tuple(b.path), dest, conn))
    return targets
