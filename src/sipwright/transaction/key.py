"""Transaction identity: the matching rules of RFC 3261 §17.1.3 and §17.2.3.

Why keys and not comparisons: the layer holds thousands of transactions and must
find the one a message belongs to in O(1), so every rule is expressed as a
hashable value computed from the message, looked up in a dict.

* **Client side (§17.1.3).** A response belongs to the client transaction whose
  request carried the same top Via ``branch`` and whose CSeq method equals the
  response's CSeq method. The method is needed because a CANCEL reuses the
  INVITE's branch (§9.1) yet is a separate transaction.
* **Server side, RFC 3261 peers (§17.2.3).** When the top Via branch starts with
  the magic cookie ``z9hG4bK``, a request matches on branch, top Via sent-by and
  method, where an ACK counts as an INVITE (it belongs to the INVITE
  transaction it acknowledges). sent-by is part of the key because two clients
  could pick the same branch.
* **Server side, RFC 2543 peers (§17.2.3, last paragraphs).** Without the cookie
  the branch is not unique, so the key is the Request-URI, To tag, From tag,
  Call-ID, CSeq and top Via of the request. An ACK matches the INVITE whose
  response carried the ACK's To tag; the layer handles that one case by looking
  the ACK up with the INVITE's To tag (see ``TransactionLayer``).

Deviation, documented: the RFC 2543 fallback compares the Request-URI as written
(``uri_text``) rather than by §19.1.4 equality, since a retransmission repeats
the exact text and §19.1.4 equality is not transitive (so not hashable safely).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ParseError
from ..message import Request, Response

__all__ = [
    "ClientKey",
    "LegacyServerKey",
    "ServerKey",
    "TransactionKey",
    "client_key",
    "server_key",
]


@dataclass(frozen=True, slots=True)
class ClientKey:
    """Identity of a client transaction: top Via branch and CSeq method (§17.1.3)."""

    branch: str
    method: str


@dataclass(frozen=True, slots=True)
class ServerKey:
    """Identity of a server transaction with an RFC 3261 branch (§17.2.3).

    ``sent_by`` is ``host[:port]`` with the host lower-cased (host names compare
    case-insensitively, §19.1.4); ``method`` is the request method, with ACK
    mapped to INVITE.
    """

    branch: str
    sent_by: str
    method: str


@dataclass(frozen=True, slots=True)
class LegacyServerKey:
    """Identity of a server transaction from an RFC 2543 client (§17.2.3 fallback)."""

    request_uri: str
    to_tag: str | None
    from_tag: str | None
    call_id: str
    cseq_number: int
    method: str
    top_via: str


TransactionKey = ClientKey | ServerKey | LegacyServerKey


def _sent_by(host: str, port: int | None) -> str:
    host = host.lower()
    return host if port is None else f"{host}:{port}"


def client_key(message: Request | Response) -> ClientKey:
    """The §17.1.3 key of a request sent, or of a response received.

    Raises :class:`~sipwright.ParseError` when the top Via has no branch or the
    CSeq is missing: such a response cannot match any transaction (it is stray).
    """
    vias = message.via
    cseq = message.cseq
    if not vias or cseq is None:
        raise ParseError("no Via or CSeq to match a transaction by")
    branch = vias[0].branch
    if branch is None:
        raise ParseError("top Via has no branch", header="Via")
    return ClientKey(branch, cseq.method)


def server_key(
    request: Request,
    *,
    method: str | None = None,
    replace_to_tag: bool = False,
    to_tag: str | None = None,
) -> ServerKey | LegacyServerKey:
    """The §17.2.3 key of a received request.

    ``method`` overrides the method matched on (the layer passes ``INVITE`` to
    find the transaction a CANCEL cancels, §9.2); ACK always maps to INVITE.
    With ``replace_to_tag``, ``to_tag`` stands in for the request's To tag in the
    RFC 2543 key (how the layer matches an ACK to its INVITE).
    """
    vias = request.via
    cseq = request.cseq
    if not vias or cseq is None:
        raise ParseError("no Via or CSeq to match a transaction by")
    top = vias[0]
    wanted = method if method is not None else request.method
    if wanted == "ACK":
        wanted = "INVITE"
    if top.has_magic_cookie:
        assert top.branch is not None
        return ServerKey(top.branch, _sent_by(top.host, top.port), wanted)
    call_id = request.call_id
    from_ = request.from_
    to = request.to
    if call_id is None or from_ is None or to is None:
        raise ParseError("an RFC 2543 request needs Call-ID, From and To to be matched")
    via_id = f"{top.transport} {_sent_by(top.host, top.port)};branch={top.branch or ''}"
    return LegacyServerKey(
        request_uri=request.uri_text,
        to_tag=to_tag if replace_to_tag else to.tag,
        from_tag=from_.tag,
        call_id=call_id,
        cseq_number=cseq.number,
        method=wanted,
        top_via=via_id,
    )
