"""The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).

Theory of operation
-------------------
Created when a request other than INVITE or ACK matches no transaction; the
layer passes it to the TU and the transaction starts in **Trying**, where a
retransmitted request is absorbed (there is nothing to resend yet; the client
keeps retransmitting until the TU answers).

A provisional response from the TU moves to **Proceeding**, where a
retransmitted request gets the latest provisional again.

A final response (200–699) moves to **Completed**: each retransmitted request
gets the final response again, and further finals from the TU are discarded
(§17.2.2). Timer J (64·T1 over UDP, the longest a client may keep
retransmitting; 0 reliable) ends it. There is no response retransmission timer:
for non-INVITE, the client's retransmissions drive response retransmissions.
"""

from __future__ import annotations

from typing import ClassVar

from ..message import Request
from .config import TimerConfig
from .events import Destination
from .key import LegacyServerKey, ServerKey, server_key
from .machine import Input, Message, ServerTransaction, State, Table

__all__ = ["NonInviteServerTransaction"]

_TR, _P, _CO, _T = State.TRYING, State.PROCEEDING, State.COMPLETED, State.TERMINATED
_TO_COMPLETED = ("_send_response", "_start_timer_j", "_release")


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 Figure 8. See the module docstring."""

    INITIAL = State.TRYING
    TABLE: ClassVar[Table] = {
        (_TR, Input.TU_PROVISIONAL): (_P, ("_send_response",)),
        (_TR, Input.TU_SUCCESS): (_CO, _TO_COMPLETED),
        (_TR, Input.TU_FAILURE): (_CO, _TO_COMPLETED),
        (_P, Input.TU_PROVISIONAL): (_P, ("_send_response",)),
        (_P, Input.TU_SUCCESS): (_CO, _TO_COMPLETED),
        (_P, Input.TU_FAILURE): (_CO, _TO_COMPLETED),
        (_P, Input.REQUEST): (_P, ("_resend_last_response",)),
        (_P, Input.TRANSPORT_ERROR): (_T, ("_report_transport_error",)),
        (_CO, Input.REQUEST): (_CO, ("_resend_last_response",)),
        # §17.2.2: "any other final responses passed by the TU ... MUST be discarded".
        (_CO, Input.TU_SUCCESS): (_CO, ()),
        (_CO, Input.TU_FAILURE): (_CO, ()),
        (_CO, Input.TIMER_J): (_T, ()),
        (_CO, Input.TRANSPORT_ERROR): (_T, ("_report_transport_error",)),
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
        """Create the transaction for a received non-INVITE request.

        ``source`` is where the request came from; ``reliable`` defaults to its
        transport.

        :param now: The current time.
        """
        if request.method in ("INVITE", "ACK"):
            raise ValueError(f"{request.method} does not use a non-INVITE server transaction")
        super().__init__(
            key or server_key(request),
            request,
            source,
            source.reliable if reliable is None else reliable,
            config or TimerConfig(),
        )

    def _start_timer_j(self, now: float, message: Message | None) -> None:
        self._arm(Input.TIMER_J, now, self.config.timer_j(self.reliable))
