"""The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).

Theory of operation
-------------------
Created by the TU sending any request but INVITE and ACK; the request goes out at
once and the transaction enters **Trying**. Over an unreliable transport Timer E
retransmits at T1, then doubles the interval up to T2 (0.5, 1, 2, 4, 4, 4… s):
non-INVITE requests are answered promptly (§17.1.2.1), so the cap keeps
retransmitting often enough to finish within Timer F (64·T1), after which the
transaction times out and the TU sees a 408.

A provisional response moves to **Proceeding**, where Timer E keeps running but,
each time it fires, is reset to T2 (§17.1.2.2): the server is alive, so the
client slows to the cap. Timer F still bounds the whole transaction.

A final response (200–699) goes to the TU and moves to **Completed**, which only
exists to absorb retransmissions of that final response for Timer K (T4 over UDP,
the time a message can linger in the network; 0 over reliable transports).
"""

from __future__ import annotations

from typing import ClassVar

from ..message import Request
from .config import TimerConfig
from .events import Destination
from .key import ClientKey, client_key
from .machine import ClientTransaction, Input, Message, State, Table

__all__ = ["NonInviteClientTransaction"]

_TR, _P, _CO, _T = State.TRYING, State.PROCEEDING, State.COMPLETED, State.TERMINATED
_TO_COMPLETED = ("_stop_timers", "_to_tu", "_start_timer_k", "_release")


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 Figure 6. See the module docstring."""

    INITIAL = State.TRYING
    TABLE: ClassVar[Table] = {
        (_TR, Input.TIMER_E): (_TR, ("_retransmit_timer_e",)),
        (_TR, Input.TIMER_F): (_T, ("_report_timeout",)),
        (_TR, Input.TRANSPORT_ERROR): (_T, ("_report_transport_error",)),
        (_TR, Input.PROVISIONAL): (_P, ("_to_tu",)),
        (_TR, Input.SUCCESS): (_CO, _TO_COMPLETED),
        (_TR, Input.FAILURE): (_CO, _TO_COMPLETED),
        (_P, Input.TIMER_E): (_P, ("_retransmit_timer_e_proceeding",)),
        (_P, Input.TIMER_F): (_T, ("_report_timeout",)),
        (_P, Input.TRANSPORT_ERROR): (_T, ("_report_transport_error",)),
        (_P, Input.PROVISIONAL): (_P, ("_to_tu",)),
        (_P, Input.SUCCESS): (_CO, _TO_COMPLETED),
        (_P, Input.FAILURE): (_CO, _TO_COMPLETED),
        # Completed absorbs retransmitted responses (no table entry) until K.
        (_CO, Input.TIMER_K): (_T, ()),
    }

    def __init__(
        self,
        request: Request,
        destination: Destination,
        now: float,
        *,
        reliable: bool | None = None,
        config: TimerConfig | None = None,
        key: ClientKey | None = None,
    ) -> None:
        """Create the transaction and queue the request for sending (§17.1.2.2).

        ``reliable`` defaults to the destination's transport.

        :param now: The current time.
        """
        if request.method in ("INVITE", "ACK"):
            raise ValueError(f"{request.method} does not use a non-INVITE client transaction")
        super().__init__(
            key or client_key(request),
            request,
            destination,
            destination.reliable if reliable is None else reliable,
            config or TimerConfig(),
        )
        self._interval_e = self.config.timer_e
        self._send(request)
        if not self.reliable:
            self._arm(Input.TIMER_E, now, self._interval_e)
        self._arm(Input.TIMER_F, now, self.config.timer_f)

    # -- actions ------------------------------------------------------------------

    def _retransmit_timer_e(self, now: float, message: Message | None) -> None:
        self._retransmit_request(now, message)
        self._interval_e = min(2 * self._interval_e, self.config.t2)
        self._arm(Input.TIMER_E, now, self._interval_e)

    def _retransmit_timer_e_proceeding(self, now: float, message: Message | None) -> None:
        self._retransmit_request(now, message)
        self._interval_e = self.config.t2
        self._arm(Input.TIMER_E, now, self._interval_e)

    def _stop_timers(self, now: float, message: Message | None) -> None:
        self._disarm(Input.TIMER_E, Input.TIMER_F)

    def _start_timer_k(self, now: float, message: Message | None) -> None:
        self._arm(Input.TIMER_K, now, self.config.timer_k(self.reliable))
