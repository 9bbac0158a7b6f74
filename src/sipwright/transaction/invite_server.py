"""The INVITE server transaction (RFC 3261 §17.2.1, Figure 7; RFC 6026 §7.1).

Theory of operation
-------------------
Created when an INVITE matches no transaction (§17.2.3); the layer passes the
INVITE to the TU and the transaction starts in **Proceeding**. Unless the TU
sends a provisional or final response within 200 ms, the transaction sends a
100 Trying itself (§17.2.1): that quenches the client's Timer A retransmissions
without making every TU answer at once. A retransmitted INVITE gets the most
recent provisional response again.

A 300–699 from the TU moves to **Completed**. The response is retransmitted by
Timer G over UDP (T1 doubling up to T2), because only the ACK tells the server
it arrived; Timer H (64·T1) gives up waiting for that ACK and tells the TU
(§17.2.1: the TU may treat it as a failed session). Retransmitted INVITEs get the
final response again.

The ACK moves to **Confirmed**, which silently absorbs further ACK
retransmissions for Timer I (T4 over UDP, 0 reliable). These ACKs are hop-by-hop
and never reach the TU.

A 2xx from the TU moves to **Accepted** (RFC 6026, replacing RFC 3261's
immediate termination, which let a retransmitted INVITE look like a new
request). The 2xx is retransmitted by the TU, not the transaction
(§13.3.1.4), so there is no Timer G here; each 2xx the TU sends is passed to the
transport. Retransmitted INVITEs are absorbed (the TU's own 2xx retransmits
answer them), and a matching ACK goes to the TU. Timer L (64·T1) ends it.
"""

from __future__ import annotations

from typing import ClassVar

from ..message import Request, make_response
from .config import TimerConfig
from .events import AckReceived, Destination
from .key import LegacyServerKey, ServerKey, server_key
from .machine import Input, Message, ServerTransaction, State, Table

__all__ = ["InviteServerTransaction"]

_P, _CO, _CF, _A, _T = (
    State.PROCEEDING,
    State.COMPLETED,
    State.CONFIRMED,
    State.ACCEPTED,
    State.TERMINATED,
)


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 Figure 7 with RFC 6026's Accepted state. See the module docstring."""

    INITIAL = State.PROCEEDING
    TABLE: ClassVar[Table] = {
        (_P, Input.TIMER_TRYING): (_P, ("_send_trying",)),
        (_P, Input.REQUEST): (_P, ("_resend_last_response",)),
        (_P, Input.TU_PROVISIONAL): (_P, ("_cancel_trying", "_send_response")),
        (_P, Input.TU_SUCCESS): (
            _A,
            ("_cancel_trying", "_send_response", "_start_timer_l", "_release_all"),
        ),
        (_P, Input.TU_FAILURE): (
            _CO,
            ("_cancel_trying", "_send_response", "_start_g_h", "_release"),
        ),
        (_P, Input.TRANSPORT_ERROR): (_T, ("_report_transport_error",)),
        (_CO, Input.REQUEST): (_CO, ("_resend_last_response",)),
        (_CO, Input.TIMER_G): (_CO, ("_retransmit_timer_g",)),
        (_CO, Input.TIMER_H): (_T, ("_report_timeout",)),
        (_CO, Input.ACK): (_CF, ("_stop_g_h", "_start_timer_i", "_release_all")),
        (_CO, Input.TRANSPORT_ERROR): (_T, ("_report_transport_error",)),
        # Confirmed absorbs ACK and INVITE retransmissions (no entries) until I.
        (_CF, Input.TIMER_I): (_T, ()),
        # Accepted (RFC 6026 §7.1): INVITEs absorbed; ACK and 2xx pass through.
        (_A, Input.ACK): (_A, ("_ack_to_tu",)),
        (_A, Input.TU_SUCCESS): (_A, ("_send_response", "_release_all")),
        (_A, Input.TIMER_L): (_T, ()),
    }

    def __init__(
        self,
        request: Request,
        source: Destination,
        now: float,
        *,
        reliable: bool | None = None,
        config: TimerConfig | None = None,
        key: ServerKey | LegacyServerKey | None = None,
    ) -> None:
        """Create the transaction for a received INVITE and arm the 100 Trying timer.

        ``source`` is where the INVITE came from; ``reliable`` defaults to its
        transport.

        :param now: The current time.
        """
        if request.method != "INVITE":
            raise ValueError("an INVITE server transaction needs an INVITE")
        super().__init__(
            key or server_key(request),
            request,
            source,
            source.reliable if reliable is None else reliable,
            config or TimerConfig(),
        )
        self._interval_g = self.config.timer_g
        self._arm(Input.TIMER_TRYING, now, self.config.trying_delay)

    # -- actions ------------------------------------------------------------------

    def _send_trying(self, now: float, message: Message | None) -> None:
        self._send_response(now, make_response(self.request, 100))

    def _cancel_trying(self, now: float, message: Message | None) -> None:
        self._disarm(Input.TIMER_TRYING)

    def _start_g_h(self, now: float, message: Message | None) -> None:
        if not self.reliable:
            self._arm(Input.TIMER_G, now, self._interval_g)
        self._arm(Input.TIMER_H, now, self.config.timer_h)

    def _retransmit_timer_g(self, now: float, message: Message | None) -> None:
        self._resend_last_response(now, message)
        self._interval_g = min(2 * self._interval_g, self.config.t2)
        self._arm(Input.TIMER_G, now, self._interval_g)

    def _stop_g_h(self, now: float, message: Message | None) -> None:
        self._disarm(Input.TIMER_G, Input.TIMER_H)

    def _start_timer_i(self, now: float, message: Message | None) -> None:
        self._arm(Input.TIMER_I, now, self.config.timer_i(self.reliable))

    def _start_timer_l(self, now: float, message: Message | None) -> None:
        self._arm(Input.TIMER_L, now, self.config.timer_l)

    def _ack_to_tu(self, now: float, message: Message | None) -> None:
        assert isinstance(message, Request)
        self._events.append(AckReceived(self.key, message, self.source))
