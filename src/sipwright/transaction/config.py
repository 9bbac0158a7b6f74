"""Timer values of RFC 3261 §17 (Table 4, Appendix A), one frozen value per layer.

Only T1, T2 and T4 are base values; every named timer (A…K of RFC 3261 and L, M of
RFC 6026) is derived from them exactly as the timer table says, so an endpoint that
raises T1 on a high-latency link (§17.1.1.1 allows it) gets consistent A, B, E, F, G,
H, J, L and M. The values live in a per-layer object, never in module globals: PJSIP's
process-wide ``pjsip_tsx_set_timers`` is the wart this avoids.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_TIMERS", "TimerConfig"]


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2, T4 and the timers derived from them (seconds).

    ``t1`` is the RTT estimate (500 ms default), ``t2`` the maximum retransmit
    interval for non-INVITE requests and INVITE responses (4 s), ``t4`` the maximum
    time a message stays in the network (5 s). ``timer_d_unreliable`` is fixed at
    32 s by §17.1.1.2 ("at least 32 seconds"), independent of T1. ``trying_delay``
    is the 200 ms after which an INVITE server transaction sends 100 Trying on its
    own (§17.2.1).
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d_unreliable: float = 32.0
    trying_delay: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2:
            raise ValueError("timers need 0 < T1 <= T2 (RFC 3261 §17.1.2.2)")
        if self.t4 < 0 or self.timer_d_unreliable < 0 or self.trying_delay < 0:
            raise ValueError("timer values cannot be negative")

    # -- INVITE client (§17.1.1.2) ------------------------------------------
    @property
    def timer_a(self) -> float:
        """Initial INVITE retransmit interval (UDP only); doubles with no cap."""
        return self.t1

    @property
    def timer_b(self) -> float:
        """INVITE transaction timeout: 64·T1."""
        return 64 * self.t1

    def timer_d(self, reliable: bool) -> float:
        """Wait time for response retransmits: ≥32 s over UDP, 0 over TCP/SCTP."""
        return 0.0 if reliable else self.timer_d_unreliable

    # -- non-INVITE client (§17.1.2.2) --------------------------------------
    @property
    def timer_e(self) -> float:
        """Initial non-INVITE retransmit interval (UDP only); doubles up to T2."""
        return self.t1

    @property
    def timer_f(self) -> float:
        """Non-INVITE transaction timeout: 64·T1."""
        return 64 * self.t1

    def timer_k(self, reliable: bool) -> float:
        """Wait time for response retransmits: T4 over UDP, 0 reliable."""
        return 0.0 if reliable else self.t4

    # -- INVITE server (§17.2.1) --------------------------------------------
    @property
    def timer_g(self) -> float:
        """Initial INVITE response retransmit interval (UDP only); doubles up to T2."""
        return self.t1

    @property
    def timer_h(self) -> float:
        """Wait time for ACK receipt: 64·T1."""
        return 64 * self.t1

    def timer_i(self, reliable: bool) -> float:
        """Wait time for ACK retransmits: T4 over UDP, 0 reliable."""
        return 0.0 if reliable else self.t4

    # -- non-INVITE server (§17.2.2) ----------------------------------------
    def timer_j(self, reliable: bool) -> float:
        """Wait time for request retransmits: 64·T1 over UDP, 0 reliable."""
        return 0.0 if reliable else 64 * self.t1

    # -- RFC 6026 Accepted state --------------------------------------------
    @property
    def timer_l(self) -> float:
        """INVITE server Accepted lifetime (absorbs INVITE retransmits): 64·T1."""
        return 64 * self.t1

    @property
    def timer_m(self) -> float:
        """INVITE client Accepted lifetime (passes 2xx retransmits to TU): 64·T1."""
        return 64 * self.t1


DEFAULT_TIMERS = TimerConfig()
