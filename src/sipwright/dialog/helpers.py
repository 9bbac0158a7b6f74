"""Dialog-side helpers that hold no dialog state: CANCEL, glare timing, 2xx retransmission.

* :func:`build_cancel` — the CANCEL of a pending INVITE (RFC 3261 §9.1).
* :func:`glare_retry_delay` and :func:`retry_after` — the random waits of §14.1 and
  §14.2, drawn from a ``rand`` the caller injects (the core has no random source).
* :class:`TwoXxRetransmitter` — the UAS core's 2xx retransmission until the ACK
  (§13.3.1.4), as a sans-I/O object with ``get_timer()`` / ``handle_timer(now)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..message import Request, Response

__all__ = [
    "TwoXxRetransmitter",
    "build_cancel",
    "glare_retry_delay",
    "retry_after",
]


def build_cancel(invite: Request) -> Request:
    """The CANCEL of the pending ``invite`` (RFC 3261 §9.1).

    Same Request-URI, Call-ID, To, From and CSeq number (method CANCEL) as the
    INVITE; a single Via, the INVITE's top one (same branch, so it matches the
    server transaction, §9.2); the INVITE's Route headers, so it takes the same path;
    Max-Forwards 70. No body and no Require / Proxy-Require (§9.1).
    """
    cseq = invite.cseq
    vias = invite.headers.getall("Via")
    if invite.method != "INVITE" or cseq is None or not vias:
        raise ValueError("only an INVITE with a Via and a CSeq can be cancelled (§9.1)")
    top_via = str(invite.via[0])
    fields: list[tuple[str, str]] = [("Via", top_via), ("Max-Forwards", "70")]
    fields.extend(("Route", r) for r in invite.headers.getall("Route"))
    for name in ("To", "From", "Call-ID"):
        value = invite.headers.get(name)
        if value is None:
            raise ValueError(f"the INVITE has no {name}")
        fields.append((name, value))
    fields.append(("CSeq", f"{cseq.number} CANCEL"))
    return Request("CANCEL", invite.uri_text, fields)


def _centiseconds(low: int, high: int, rand: Callable[[], float]) -> float:
    """A value in [low, high] centiseconds, in steps of 10 ms, from ``rand()`` in [0, 1)."""
    r = min(max(rand(), 0.0), math.nextafter(1.0, 0.0))
    return (low + math.floor(r * (high - low + 1))) / 100


def glare_retry_delay(is_call_id_owner: bool, rand: Callable[[], float]) -> float:
    """Seconds to wait before re-sending a request that got 491 Request Pending (§14.1).

    The owner of the dialog's Call-ID (the UA that sent the dialog-creating request)
    waits 2.1 to 4 s, the other UA 0 to 2 s, both in units of 10 ms. ``rand`` returns a
    float in [0, 1) (``random.random`` in the I/O shell, a constant in tests).
    """
    if is_call_id_owner:
        return _centiseconds(210, 400, rand)
    return _centiseconds(0, 200, rand)


def retry_after(rand: Callable[[], float]) -> int:
    """The Retry-After of a 500 to an overlapping INVITE: 0 to 10 s (§14.2)."""
    r = min(max(rand(), 0.0), math.nextafter(1.0, 0.0))
    return math.floor(r * 11)


class TwoXxRetransmitter:
    """The UAS core's retransmission of a 2xx to INVITE until its ACK (§13.3.1.4).

    The 2xx is re-sent after T1, then at intervals doubling up to T2 (0.5, 1, 2, 4, 4…
    seconds with the defaults); when no ACK came 64·T1 after the first send, the
    retransmitter gives up and :attr:`timed_out` becomes True — the UAS should then
    end the dialog with a BYE. Sans-I/O (the aioquic pattern): :meth:`get_timer` gives
    the next absolute deadline, :meth:`handle_timer` returns the 2xx to re-send.
    """

    def __init__(self, response: Response, now: float, *, t1: float = 0.5, t2: float = 4.0) -> None:
        if not 200 <= response.status_code < 300:
            raise ValueError("only a 2xx is retransmitted by the UAS core (§13.3.1.4)")
        if not 0 < t1 <= t2:
            raise ValueError("timers need 0 < T1 <= T2")
        self.response = response
        self._t2 = t2
        self._interval = t1
        self._next: float | None = now + t1
        self._give_up = now + 64 * t1
        #: The ACK arrived: no more retransmissions.
        self.acked = False
        #: 64·T1 passed without an ACK (§13.3.1.4: the dialog should be ended with BYE).
        self.timed_out = False
        #: Retransmissions sent so far (the first send is not counted).
        self.retransmissions = 0

    @property
    def done(self) -> bool:
        return self.acked or self.timed_out

    def get_timer(self) -> float | None:
        """The next absolute deadline (retransmission or give-up), or None when done."""
        if self.done or self._next is None:
            return None
        return min(self._next, self._give_up)

    def handle_timer(self, now: float) -> list[Response]:
        """Run the deadlines due at ``now``; return the 2xx to re-send (zero or one).

        :param now: The current time.
        """
        if self.done or self._next is None:
            return []
        if now >= self._give_up:
            self.timed_out = True
            self._next = None
            return []
        if now < self._next:
            return []
        # Catch up on missed deadlines without bursting: one send, schedule from now.
        while self._next <= now:
            self._interval = min(self._interval * 2, self._t2)
            self._next += self._interval
        self.retransmissions += 1
        return [self.response]

    def ack_received(self) -> None:
        """The ACK for the 2xx arrived (§13.3.1.4): stop retransmitting."""
        self.acked = True
        self._next = None
