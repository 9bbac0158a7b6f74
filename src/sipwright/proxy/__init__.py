"""A stateful proxy's rules (RFC 3261 §16), sans-I/O.

The I/O shell (:mod:`sipwright.server.proxy`) receives messages and runs transactions;
everything it decides about a request or a response comes from here, as plain functions
and one state machine that take ``now`` and return what to do:

* :mod:`.local` — which URIs name this proxy or the domains it serves;
* :mod:`.validate` — request validation (§16.3): syntax, URI scheme, Max-Forwards,
  loop detection, Proxy-Require;
* :mod:`.route` — route information pre-processing (§16.4), strict routers included;
* :mod:`.targets` — the target set from an AOR's bindings (§16.5, RFC 3327, RFC 5626);
* :mod:`.forward` — building each forwarded request (§16.6) and its next hop;
* :mod:`.context` — the response context of one proxied request (§16.7, §16.8, §16.10):
  parallel and sequential forking, best-response selection, Timer C, CANCEL.
"""

from __future__ import annotations

from .context import (
    Branch,
    BranchState,
    CancelBranch,
    ContextAction,
    ForwardResponse,
    ResponseContext,
    StartBranch,
    Target,
    choose_best,
)
from .forward import (
    destination_of,
    forward_request,
    loop_hash,
    make_branch,
    next_hop_uri,
    record_route_value,
    stateless_branch,
)
from .local import LocalIdentity
from .route import preprocess_routes
from .targets import flow_connection, targets_of
from .validate import PROXY_SUPPORTED, detect_loop, validate_request

__all__ = [
    "PROXY_SUPPORTED",
    "Branch",
    "BranchState",
    "CancelBranch",
    "ContextAction",
    "ForwardResponse",
    "LocalIdentity",
    "ResponseContext",
    "StartBranch",
    "Target",
    "choose_best",
    "destination_of",
    "detect_loop",
    "flow_connection",
    "forward_request",
    "loop_hash",
    "make_branch",
    "next_hop_uri",
    "preprocess_routes",
    "record_route_value",
    "stateless_branch",
    "targets_of",
    "validate_request",
]
