"""Reliable provisional responses (RFC 3262, "100rel"), sans-I/O.

* :func:`parse_rseq` / :func:`parse_rack` read the RSeq and RAck headers (§7.1, §7.2);
  bad values raise :class:`~sipwright.errors.ParseError` (400 naming the header).
* :func:`wants_100rel` / :func:`requires_100rel`: what an INVITE says about 100rel (§4).
* :class:`ReliableProvisionals` — the UAS side of one INVITE transaction (§3): numbers
  the reliable 1xx (RSeq, +1 each), retransmits the pending one at T1, 2·T1, 4·T1…
  until its PRACK, gives up after 64·T1, and matches PRACKs by RAck.
* :class:`RSeqTracker` — the UAC side, one per early dialog (§4): which reliable 1xx is
  new (PRACK it), a retransmission or out of order (ignore it).
* :func:`build_prack` — the PRACK of a reliable 1xx in its early dialog (§4, §7.2).

No clock, no randomness: the first RSeq (§3: random, 1 to 2**31 - 1) and ``now`` come
from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ParseError
from ..message import Request, Response
from ..uri import Uri
from .dialog import Dialog

__all__ = [
    "OPTION_TAG",
    "RSEQ_MAX_INITIAL",
    "RAck",
    "RSeqTracker",
    "ReliableProvisionals",
    "build_prack",
    "is_reliable",
    "parse_rack",
    "parse_rseq",
    "requires_100rel",
    "wants_100rel",
]

#: The option tag of RFC 3262 (§10).
OPTION_TAG = "100rel"
#: §3: the first RSeq of a transaction is between 1 and 2**31 - 1.
RSEQ_MAX_INITIAL = 2**31 - 1
_RSEQ_MAX = 2**32 - 1  # §7.1: 1*DIGIT, a 32-bit unsigned value


def _number(text: str, header: str) -> int:
    text = text.strip()
    if not text.isdigit() or not text.isascii() or len(text) > 10:
        raise ParseError(f"Bad {header}", header=header)
    value = int(text)
    if not 1 <= value <= _RSEQ_MAX:
        raise ParseError(f"Bad {header}", header=header)
    return value


def parse_rseq(value: str) -> int:
    """The RSeq value (§7.1: ``RSeq: response-num``, 1 to 2**32 - 1)."""
    return _number(value, "RSeq")


@dataclass(frozen=True, slots=True)
class RAck:
    """``RAck: response-num CSeq-num Method`` (§7.2): which reliable 1xx a PRACK acks."""

    rseq: int
    cseq: int
    method: str

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"


def parse_rack(value: str) -> RAck:
    """Parse an RAck value; :class:`ParseError` (400 "Bad RAck") when malformed."""
    parts = value.split()
    if len(parts) != 3:
        raise ParseError("Bad RAck", header="RAck")
    method = parts[2]
    if not method.isascii() or not method.replace("-", "").replace(".", "").isalnum():
        raise ParseError("Bad RAck", header="RAck")
    return RAck(_number(parts[0], "RAck"), _number(parts[1], "RAck"), method)


def _has_tag(message: Request | Response, header: str) -> bool:
    """Whether option tag 100rel is in ``header``; a malformed header counts as absent."""
    try:
        tags = message.supported if header == "Supported" else message.require
    except ParseError:
        return False
    return OPTION_TAG in tags


def wants_100rel(request: Request) -> bool:
    """Whether the INVITE allows reliable provisionals: 100rel in Supported or Require (§3)."""
    return _has_tag(request, "Supported") or _has_tag(request, "Require")


def requires_100rel(request: Request) -> bool:
    """Whether every non-100 provisional to ``request`` must be reliable (§3)."""
    return _has_tag(request, "Require")


def is_reliable(response: Response) -> bool:
    """A 101–199 response with ``Require: 100rel`` and an RSeq (§4)."""
    return (
        100 < response.status_code < 200
        and _has_tag(response, "Require")
        and response.headers.get("RSeq") is not None
    )


def build_prack(dialog: Dialog, response: Response) -> tuple[Request, Uri]:
    """The PRACK of the reliable 1xx ``response`` in its early ``dialog`` (§4, §7.2).

    An ordinary in-dialog request (CSeq = local seq + 1, a new branch) with
    ``RAck: <RSeq> <CSeq number> <method>`` of the 1xx. Returns (request, next-hop URI).
    """
    cseq = response.cseq
    rseq_text = response.headers.get("RSeq")
    if cseq is None or rseq_text is None:
        raise ParseError("not a reliable provisional response")
    rack = RAck(parse_rseq(rseq_text), cseq.number, cseq.method)
    return dialog.create_request("PRACK", headers=[("RAck", str(rack))])


class RSeqTracker:
    """UAC side, one per early dialog: the highest in-order RSeq seen (§4).

    The first reliable 1xx may carry any RSeq; after it, only RSeq = last + 1 is new.
    A repeat (a retransmission: its PRACK is already on its way, retransmitted by its
    own transaction) or a gap (out of order) is neither PRACKed nor processed (§4).
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        #: RSeq of the most recent in-order reliable 1xx, None before the first.
        self.last: int | None = None

    def accept(self, rseq: int) -> bool:
        """True when ``rseq`` is the next one (then it becomes :attr:`last`)."""
        if self.last is not None and rseq != self.last + 1:
            return False
        self.last = rseq
        return True


class ReliableProvisionals:
    """UAS side of RFC 3262 §3 for one INVITE server transaction.

    :meth:`prepare` stamps ``Require: 100rel`` and the next ``RSeq`` on a 1xx and makes
    it pending: only one reliable 1xx may be unacknowledged at a time (§3). The
    pending 1xx is re-sent at T1, then at doubling intervals, until its PRACK
    (:meth:`receive_prack`) or a final response (:meth:`stop`); 64·T1 after its first
    send :attr:`timed_out` becomes True, and the UAS should reject the INVITE with a
    5xx (§3). The aioquic pattern: :meth:`get_timer` / :meth:`handle_timer`.
    """

    def __init__(self, first_rseq: int, *, t1: float = 0.5) -> None:
        if not 1 <= first_rseq <= RSEQ_MAX_INITIAL:
            raise ValueError("the first RSeq must be in 1..2**31-1 (RFC 3262 §3)")
        if t1 <= 0:
            raise ValueError("T1 must be positive")
        self._t1 = t1
        self._next_rseq = first_rseq
        #: The unacknowledged reliable 1xx, None when none is pending.
        self.pending: Response | None = None
        self._pending_rseq = 0
        self._interval = t1
        self._next: float | None = None
        self._give_up = 0.0
        #: The pending 1xx got no PRACK within 64·T1 (§3).
        self.timed_out = False
        #: Retransmissions sent so far (first sends not counted).
        self.retransmissions = 0

    @property
    def next_rseq(self) -> int:
        """The RSeq the next reliable 1xx will carry."""
        return self._next_rseq

    def prepare(self, response: Response, now: float) -> Response:
        """Make ``response`` (101–199) reliable and pending; the caller sends it once."""
        if not 100 < response.status_code < 200:
            raise ValueError("only 101-199 responses are sent reliably (RFC 3262 §3)")
        if self.pending is not None:
            raise ValueError("a reliable 1xx is still unacknowledged (RFC 3262 §3)")
        if OPTION_TAG not in response.require:
            response.headers.add("Require", OPTION_TAG)
        response.headers.set("RSeq", str(self._next_rseq))
        self._pending_rseq = self._next_rseq
        self._next_rseq += 1
        self.pending = response
        self.timed_out = False
        self._interval = self._t1
        self._next = now + self._t1
        self._give_up = now + 64 * self._t1
        return response

    def get_timer(self) -> float | None:
        """The next absolute deadline (retransmission or give-up), None when idle."""
        if self._next is None:
            return None
        return min(self._next, self._give_up)

    def handle_timer(self, now: float) -> list[Response]:
        """Run the deadlines due at ``now``; the 1xx to re-send (zero or one)."""
        if self._next is None or self.pending is None:
            return []
        if now >= self._give_up:
            self.timed_out = True
            self._next = None
            return []
        if now < self._next:
            return []
        while self._next <= now:  # §3: the interval doubles, no T2 cap
            self._interval *= 2
            self._next += self._interval
        self.retransmissions += 1
        return [self.pending]

    def receive_prack(self, prack: Request) -> bool:
        """Match a PRACK (§3): True when its RAck acks the pending 1xx (stop re-sending).

        False (answer 481) when nothing is pending or RAck names another response; a
        malformed or missing RAck raises :class:`ParseError` (answer 400).
        """
        value = prack.headers.get("RAck")
        if value is None:
            raise ParseError("Missing RAck", header="RAck")
        rack = parse_rack(value)
        pending = self.pending
        if pending is None or pending.cseq is None:
            return False
        if (rack.rseq, rack.cseq, rack.method) != (
            self._pending_rseq,
            pending.cseq.number,
            pending.cseq.method,
        ):
            return False
        self.pending = None
        self._next = None
        return True

    def stop(self) -> None:
        """No more retransmissions (a final response was sent, §3); a PRACK for the
        pending 1xx still matches afterwards."""
        self._next = None
