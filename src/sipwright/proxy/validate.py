"""Request validation of a proxy (RFC 3261 §16.3), as pure functions.

:func:`validate_request` runs steps 1, 2, 3 and 5 and returns the error response to
send, or None: step 1 reasonable syntax (the headers every proxy reads parse: Via, To,
From, Call-ID, CSeq, Max-Forwards, and the single-value ones appear once → 400 naming
the fault), step 2 URI scheme (only ``sip``/``sips`` can be routed here → 416), step 3
Max-Forwards (0 → 483, except an OPTIONS addressed to us, which §11 lets us answer
200), step 5 Proxy-Require (any option tag we do not support → 420 listing them in
Unsupported). Step 4, loop
detection, needs our addresses and the branch hash of :mod:`.forward`:
:func:`detect_loop`. Step 6 (Proxy-Authorization) belongs to the shell's hook.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ParseError
from ..headers import Via
from ..message import Request, Response
from ..uri import SipUri
from .forward import BRANCH_PREFIX, loop_hash

__all__ = ["PROXY_SUPPORTED", "detect_loop", "validate_request"]

#: Headers a request carries at most once (§7.3.1: only list headers may repeat);
#: two Call-IDs or CSeqs leave the request ambiguous (torture test multi01, RFC 4475).
_SINGLE = (
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
    ("from", "From"),
    ("to", "To"),
    ("max-forwards", "Max-Forwards"),
    ("content-length", "Content-Length"),
    ("content-type", "Content-Type"),
)

#: Proxy-Require option tags this proxy supports (§16.3 step 5): none.
PROXY_SUPPORTED: frozenset[str] = frozenset()


def validate_request(
    request: Request,
    *,
    options_to_us: bool = False,
    supported: frozenset[str] = PROXY_SUPPORTED,
) -> Response | None:
    """The error response §16.3 steps 1, 2, 3, 5 call for, or None when the request passes.

    ``options_to_us``: the request is an OPTIONS whose Request-URI is this proxy; then
    Max-Forwards 0 is no error (§16.3 step 3 / §11: the proxy answers it itself).
    """
    # Step 1: reasonable syntax of what a proxy must read.
    try:
        if not request.via:
            return request.make_response(400, "Missing Via")
        if request.from_ is None or request.to is None:
            return request.make_response(400, "Missing From or To")
        if request.call_id is None:
            return request.make_response(400, "Missing Call-ID")
        cseq = request.cseq
        if cseq is None:
            return request.make_response(400, "Missing CSeq")
        headers = request.headers
        for key, name in _SINGLE:
            if headers.count(key) > 1:
                return request.make_response(400, f"Duplicate {name} header")
        if cseq.method != request.method:
            return request.make_response(400, "CSeq method does not match the request")
        max_forwards = request.max_forwards
        proxy_require = request.proxy_require
        uri = request.uri
    except ParseError as exc:
        return request.make_response(400, _reason(exc))
    # Step 2: URI scheme.
    if not isinstance(uri, SipUri):
        return request.make_response(416)
    # Step 3: Max-Forwards.
    if max_forwards == 0 and not options_to_us and request.method != "ACK":
        return request.make_response(483)
    # Step 5: Proxy-Require.
    unknown = [tag for tag in proxy_require if tag not in supported]
    if unknown and request.method not in ("ACK", "CANCEL"):
        return request.make_response(420, headers=[("Unsupported", ", ".join(unknown))])
    return None


def _reason(exc: ParseError) -> str:
    text = f"Bad Request ({exc.reason})"
    return text.replace("\r", " ").replace("\n", " ")[:120]


def detect_loop(request: Request, is_ours: Callable[[Via], bool]) -> bool:
    """§16.3 step 4: whether ``request`` already passed here unchanged (a loop → 482).

    A Via of ours whose branch carries the hash this request computes now (see
    :func:`~sipwright.proxy.forward.loop_hash`) means the same request came back; a
    different hash means it came back changed — a spiral, which is legal.
    """
    vias = request.via
    current: str | None = None
    for via in vias:
        branch = via.branch
        if branch is None or not branch.startswith(BRANCH_PREFIX) or not is_ours(via):
            continue
        if current is None:
            current = loop_hash(request)
        if branch[len(BRANCH_PREFIX) :].split(".", 1)[0] == current:
            return True
    return False
