"""The response context of one proxied request (RFC 3261 §16.7, §16.8, §16.10), sans-I/O.

A :class:`ResponseContext` is created for each request the proxy forwards statefully,
with its target set (§16.5). It decides which branches to start, which responses go
upstream, and when to CANCEL; the I/O shell carries the decisions out (creates client
transactions, sends CANCELs, sends responses through the server transaction). Like the
transaction layer it takes ``now`` and is driven by calls — :meth:`~ResponseContext.start`,
:meth:`~ResponseContext.receive`, :meth:`~ResponseContext.cancel`,
:meth:`~ResponseContext.handle_timer` — after each of which the shell drains
:meth:`~ResponseContext.next_action` and re-arms its timer at
:meth:`~ResponseContext.get_timer`.

Forking (§16.6, §16.7). Targets are ordered by ``q`` (highest first) and grouped by
equal ``q``: the branches of one group run in parallel; the next group starts only when
every branch of the previous one ended without a 2xx or 6xx (sequential forking).

Responses (§16.7 steps 3–10). Our Via is removed from each response (step 3). A 1xx
other than 100 and every 2xx are forwarded at once (step 5) — all the 2xx of a forked
INVITE, since each may create a dialog. Other finals are kept; when no branch is left
and no group remains, the best one is forwarded (step 6): a 6xx if any, else the lowest
class; a 503 becomes a 500 (the caller must not think *we* are overloaded, step 6); the
challenges of every 401/407 are gathered into the one forwarded (step 7, §22.3). A 2xx
or a 6xx to an INVITE cancels every other pending branch and starts no new group (step
10, §16.7 "6xx"). A branch is only cancelled once it has had a provisional response
(§9.1); until then the CANCEL is deferred.

Timer C (§16.8). Each INVITE branch has a Timer C (default 180 s; §16.8 asks for more
than 3 minutes, the shell makes it configurable), restarted by each provisional. When
it fires on a branch that has had a provisional the branch is cancelled; without one
the branch ends as if a 408 came.
A cancelled branch that gets no final answer within ``cancel_wait`` (64·T1, §9.1) also
ends as a 408, so a silent callee cannot hold the context forever.

CANCEL (§16.10). :meth:`ResponseContext.cancel` (a CANCEL matched the server
transaction; the shell answers it 200) cancels every pending branch and starts no new
group; the callees' 487s then make the final response.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..message import Request, Response, make_response
from ..transaction import Destination
from ..uri import Uri

__all__ = [
    "Branch",
    "BranchState",
    "CancelBranch",
    "ContextAction",
    "ForwardResponse",
    "ResponseContext",
    "StartBranch",
    "Target",
    "choose_best",
]

#: §16.8: Timer C "MUST be set for each client transaction ... greater than 3 minutes".
DEFAULT_TIMER_C = 180.0


@dataclass(frozen=True, slots=True)
class Target:
    """One place to try (§16.5): a URI, its ``q``, and how to reach it.

    ``path``: Route values to add (a binding's Path, RFC 3327). ``destination``: the
    flow the binding was registered over (RFC 5626 §5.3), which overrides the address
    of the URI; ``connection`` the stream connection of that flow, when known.
    """

    uri: Uri
    q: float = 1.0
    path: tuple[str, ...] = ()
    destination: Destination | None = None
    connection: int | None = None


class BranchState(Enum):
    """Where a branch is: sent, got a provisional, got (or was given) a final."""

    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"


@dataclass(eq=False, slots=True)
class Branch:
    """One forwarded copy of the request (a client transaction, §16.6)."""

    index: int
    target: Target
    state: BranchState = BranchState.TRYING
    final: Response | None = None
    #: A CANCEL is wanted but no provisional came yet (§9.1: wait for one).
    cancel_wanted: bool = False
    #: The CANCEL was sent.
    cancelled: bool = False
    timer_c: float | None = None
    cancel_deadline: float | None = None
    #: The shell's: the forwarded request, its next hop and client transaction key.
    request: Request | None = None
    destination: Destination | None = None
    key: Any = None

    @property
    def active(self) -> bool:
        return self.state is not BranchState.COMPLETED


@dataclass(frozen=True, slots=True)
class ContextAction:
    """Base of what a context asks the shell to do."""


@dataclass(frozen=True, slots=True)
class StartBranch(ContextAction):
    """Forward the request to ``branch.target`` (build it, create a client transaction)."""

    branch: Branch


@dataclass(frozen=True, slots=True)
class CancelBranch(ContextAction):
    """Send a CANCEL for ``branch``'s INVITE (§9.1, built from ``branch.request``)."""

    branch: Branch


@dataclass(frozen=True, slots=True)
class ForwardResponse(ContextAction):
    """Send ``response`` upstream through the server transaction (our Via removed)."""

    response: Response
    final: bool


def _class_rank(status: int) -> tuple[int, int]:
    klass = status // 100
    # Within a class, the generic "timed out"/"unavailable" answers lose to specific ones.
    vague = 1 if status in (408, 480, 500, 503) else 0
    return (0 if klass == 6 else klass, vague)


def choose_best(request: Request, responses: Sequence[Response]) -> Response:
    """The response to forward when every branch ended without a 2xx (§16.7 step 6–7).

    A 6xx wins; otherwise the lowest class (3xx before 4xx before 5xx), a specific
    status before a vague one (408, 480, 500, 503), the earliest first. A 503 is
    forwarded as 500 (step 6). A 401 or 407 carries the WWW-Authenticate and
    Proxy-Authenticate values of *every* 401/407 received (step 7). With no response
    at all (cannot happen once a branch ran), a 408.
    """
    if not responses:
        return make_response(request, 408)
    best = min(responses, key=lambda r: _class_rank(r.status_code))
    if best.status_code == 503:
        to = best.to
        tag = to.tag if to is not None else None
        best = make_response(request, 500, to_tag=tag)
    if best.status_code in (401, 407):
        for other in responses:
            if other is best or other.status_code not in (401, 407):
                continue
            for name in ("WWW-Authenticate", "Proxy-Authenticate"):
                for value in other.headers.getall(name):
                    best.headers.add(name, value)
    return best


@dataclass(eq=False, slots=True)
class ResponseContext:
    """See the module doc. ``request`` is the request as received (after §16.4)."""

    request: Request
    targets: Sequence[Target]
    timer_c: float = DEFAULT_TIMER_C
    cancel_wait: float = 32.0
    branches: list[Branch] = field(default_factory=list)
    #: A final response went upstream (for an INVITE: the first 2xx, or the best).
    final_sent: bool = False
    #: A CANCEL arrived, or a 2xx/6xx ended the search: no new groups.
    stopped: bool = False
    _groups: deque[list[Target]] = field(default_factory=deque)
    _actions: deque[ContextAction] = field(default_factory=deque)
    _invite: bool = False
    #: Branches not yet completed (kept as a count: checked after every response).
    _active: int = 0

    def __post_init__(self) -> None:
        self._invite = self.request.method == "INVITE"
        targets = self.targets
        if len(targets) == 1:
            self._groups.append([targets[0]])  # the usual case: nothing to order
            return
        ordered = sorted(targets, key=lambda t: -t.q)  # stable: equal q keep order
        for target in ordered:
            if self._groups and self._groups[-1][0].q == target.q:
                self._groups[-1].append(target)
            else:
                self._groups.append([target])

    # -- inputs --------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Start the first group of branches."""
        self._next_group(now)
        self._settle(now)

    def receive(self, branch: Branch, response: Response, now: float) -> None:
        """A response (received, or a 408/503 from the transaction layer) for ``branch``."""
        if response.headers.has_key("via"):
            response.headers.pop_first_value("Via")  # §16.7 step 3
        status = response.status_code
        if branch.state is BranchState.COMPLETED:
            # A late answer on a branch we gave up on (Timer C) or a 2xx retransmission
            # passed up by the INVITE client transaction (RFC 6026).
            if status < 200 and self._invite and not branch.cancelled:
                branch.cancelled = True
                self._actions.append(CancelBranch(branch))
            elif 200 <= status < 300 and self._invite:
                self._actions.append(ForwardResponse(response, True))
            return
        if status < 200:
            branch.state = BranchState.PROCEEDING
            if self._invite:
                branch.timer_c = now + self.timer_c if not branch.cancelled else None
                if branch.cancel_wanted and not branch.cancelled:
                    self._send_cancel(branch, now)
            if status != 100 and not self.final_sent:
                self._actions.append(ForwardResponse(response, False))
            return
        self._complete(branch, response)
        if status < 300:
            if self._invite or not self.final_sent:
                self.final_sent = True
                self._actions.append(ForwardResponse(response, True))
            self._stop(now)
        elif status >= 600:
            self._stop(now)
        self._settle(now)

    def fail(self, branch: Branch, status: int, now: float) -> None:
        """End ``branch`` with a locally generated ``status`` (no route to it, a send
        refused): the response is built from the request as received, so it carries
        the upstream Via values already."""
        if branch.state is BranchState.COMPLETED:
            return
        self._complete(branch, make_response(self.request, status))
        self._settle(now)

    def cancel(self, now: float) -> None:
        """A CANCEL for the request arrived (§16.10): cancel every pending branch."""
        self._stop(now)

    def handle_timer(self, now: float) -> None:
        """Fire Timer C and the post-CANCEL waits that are due."""
        for branch in self.branches:
            if branch.state is BranchState.COMPLETED:
                continue
            if branch.timer_c is not None and branch.timer_c <= now:
                branch.timer_c = None
                if branch.state is BranchState.PROCEEDING:
                    self._send_cancel(branch, now)  # §16.8: a provisional came
                else:
                    self._complete(branch, make_response(self.request, 408))
            elif branch.cancel_deadline is not None and branch.cancel_deadline <= now:
                self._complete(branch, make_response(self.request, 408))
        self._settle(now)

    # -- outputs -------------------------------------------------------------------

    def next_action(self) -> ContextAction | None:
        """Pop the next thing for the shell to do, or None."""
        return self._actions.popleft() if self._actions else None

    def get_timer(self) -> float | None:
        """The earliest Timer C or post-CANCEL deadline, or None."""
        deadline: float | None = None
        for branch in self.branches:
            if branch.state is BranchState.COMPLETED:
                continue
            for t in (branch.timer_c, branch.cancel_deadline):
                if t is not None and (deadline is None or t < deadline):
                    deadline = t
        return deadline

    @property
    def done(self) -> bool:
        """Every branch ended and the final answer went upstream: forget the context."""
        # Written out (not via _groups_pending/_any_active): read after every response.
        return self.final_sent and self._active <= 0 and (self.stopped or not self._groups)

    # -- internals -----------------------------------------------------------------

    @property
    def _groups_pending(self) -> bool:
        return bool(self._groups) and not self.stopped

    def _any_active(self) -> bool:
        return self._active > 0

    def _complete(self, branch: Branch, response: Response) -> None:
        if branch.state is not BranchState.COMPLETED:
            self._active -= 1
        branch.state = BranchState.COMPLETED
        branch.final = response
        branch.timer_c = None
        branch.cancel_deadline = None

    def _next_group(self, now: float) -> None:
        if not self._groups:
            return
        for target in self._groups.popleft():
            branch = Branch(len(self.branches), target)
            if self._invite:
                branch.timer_c = now + self.timer_c
            self.branches.append(branch)
            self._active += 1
            self._actions.append(StartBranch(branch))

    def _send_cancel(self, branch: Branch, now: float) -> None:
        branch.cancelled = True
        branch.cancel_wanted = False
        branch.timer_c = None
        branch.cancel_deadline = now + self.cancel_wait
        self._actions.append(CancelBranch(branch))

    def _stop(self, now: float) -> None:
        """No new groups; CANCEL the pending INVITE branches (§16.7 step 10, §16.10)."""
        self.stopped = True
        if not self._invite:
            return
        for branch in self.branches:
            if branch.state is BranchState.PROCEEDING and not branch.cancelled:
                self._send_cancel(branch, now)
            elif branch.state is BranchState.TRYING and not branch.cancelled:
                branch.cancel_wanted = True

    def _settle(self, now: float) -> None:
        """When no branch is left: the next group, or the best final response."""
        if self._any_active():
            return
        if not self.stopped and self._groups:
            self._next_group(now)
            if self.branches and self._any_active():
                return
        if self.final_sent:
            return
        finals = [b.final for b in self.branches if b.final is not None]
        self.final_sent = True
        self._actions.append(ForwardResponse(choose_best(self.request, finals), True))
