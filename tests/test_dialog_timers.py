"""Glare waits (§14.1), Retry-After (§14.2) and the UAS 2xx retransmitter (§13.3.1.4)."""

from __future__ import annotations

import pytest

from sipwright import Response
from sipwright.dialog import TwoXxRetransmitter, glare_retry_delay, retry_after


@pytest.mark.parametrize("r", [0.0, 0.1, 0.5, 0.999999, 1.0])
def test_glare_delay_ranges(r: float) -> None:
    owner = glare_retry_delay(True, lambda: r)
    other = glare_retry_delay(False, lambda: r)
    assert 2.1 <= owner <= 4.0
    assert 0.0 <= other <= 2.0
    # units of 10 ms
    assert round(owner * 100) == pytest.approx(owner * 100)
    assert round(other * 100) == pytest.approx(other * 100)


def test_glare_delay_extremes() -> None:
    assert glare_retry_delay(True, lambda: 0.0) == 2.1
    assert glare_retry_delay(True, lambda: 0.999999) == 4.0
    assert glare_retry_delay(False, lambda: 0.0) == 0.0
    assert glare_retry_delay(False, lambda: 0.999999) == 2.0


def test_retry_after_range() -> None:
    assert retry_after(lambda: 0.0) == 0
    assert retry_after(lambda: 0.999999) == 10
    assert retry_after(lambda: 0.5) == 5


def ok() -> Response:
    return Response(200)


def test_2xx_retransmission_schedule() -> None:
    rt = TwoXxRetransmitter(ok(), now=100.0)
    times: list[float] = []
    while (deadline := rt.get_timer()) is not None:
        if rt.handle_timer(deadline):
            times.append(deadline - 100.0)
    intervals = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert intervals == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert times[-1] == 31.5
    assert rt.timed_out and not rt.acked
    assert rt.retransmissions == 10


def test_2xx_retransmission_gives_up_at_64_t1() -> None:
    rt = TwoXxRetransmitter(ok(), now=0.0)
    assert rt.handle_timer(0.4) == []
    assert rt.get_timer() == 0.5
    assert rt.handle_timer(32.0) == []
    assert rt.timed_out
    assert rt.get_timer() is None


def test_ack_stops_retransmission() -> None:
    rt = TwoXxRetransmitter(ok(), now=0.0)
    assert len(rt.handle_timer(0.5)) == 1
    assert rt.get_timer() == 1.5
    rt.ack_received()
    assert rt.get_timer() is None
    assert rt.handle_timer(1.5) == []
    assert not rt.timed_out


def test_only_2xx() -> None:
    with pytest.raises(ValueError):
        TwoXxRetransmitter(Response(180), now=0.0)
