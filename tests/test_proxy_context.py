"""The proxy response context (RFC 3261 §16.7, §16.8, §16.10) with a fake ``now``."""

from __future__ import annotations

from sipwright import Request, Response, make_response, parse
from sipwright.proxy import (
    Branch,
    CancelBranch,
    ContextAction,
    ForwardResponse,
    ResponseContext,
    StartBranch,
    Target,
    choose_best,
)
from sipwright.transaction import Destination
from sipwright.uri import parse_uri


def request(method: str = "INVITE") -> Request:
    text = (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcaller\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\n"
        f"To: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n\r\n"
    )
    msg = parse(text.encode())
    assert isinstance(msg, Request)
    return msg


def targets(*qs: float) -> list[Target]:
    return [Target(parse_uri(f"sip:bob@192.0.2.{10 + i}"), q) for i, q in enumerate(qs)]


def answer(req: Request, status: int, *headers: tuple[str, str]) -> Response:
    """A response from downstream: our Via on top of the upstream one."""
    resp = make_response(req, status, to_tag=None if status == 100 else "b", headers=headers)
    resp.headers.prepend("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKswxx.1")
    return resp


def drain(ctx: ResponseContext) -> list[ContextAction]:
    out = []
    while (a := ctx.next_action()) is not None:
        out.append(a)
    return out


def started(actions: list[ContextAction]) -> list[Branch]:
    return [a.branch for a in actions if isinstance(a, StartBranch)]


def cancelled(actions: list[ContextAction]) -> list[Branch]:
    return [a.branch for a in actions if isinstance(a, CancelBranch)]


def forwarded(actions: list[ContextAction]) -> list[tuple[int, bool]]:
    return [(a.response.status_code, a.final) for a in actions if isinstance(a, ForwardResponse)]


def new(qs: tuple[float, ...] = (1.0,), method: str = "INVITE", **kw: float) -> ResponseContext:
    req = request(method)
    ctx = ResponseContext(req, targets(*qs), **kw)
    ctx.start(0.0)
    return ctx


def test_parallel_fork_first_2xx_wins_and_cancels_the_other() -> None:
    ctx = new((1.0, 1.0))
    b1, b2 = started(drain(ctx))
    ctx.receive(b1, answer(ctx.request, 180), 1.0)
    ctx.receive(b2, answer(ctx.request, 180), 1.0)
    assert forwarded(drain(ctx)) == [(180, False), (180, False)]
    ok = answer(ctx.request, 200)
    ctx.receive(b1, ok, 2.0)
    actions = drain(ctx)
    assert forwarded(actions) == [(200, True)]
    assert cancelled(actions) == [b2]
    # §16.7 step 3: our Via is gone from what goes upstream.
    assert [v.branch for v in ok.via] == ["z9hG4bKcaller"]
    assert not ctx.done
    ctx.receive(b2, answer(ctx.request, 487), 2.1)
    assert forwarded(drain(ctx)) == []  # the 487 of the cancelled fork is absorbed
    assert ctx.done


def test_every_2xx_of_a_forked_invite_is_forwarded() -> None:
    ctx = new((1.0, 1.0))
    b1, b2 = started(drain(ctx))
    ctx.receive(b1, answer(ctx.request, 200), 1.0)
    ctx.receive(b2, answer(ctx.request, 200), 1.0)
    assert forwarded(drain(ctx)) == [(200, True), (200, True)]
    assert ctx.done


def test_100_is_not_forwarded() -> None:
    ctx = new()
    (b,) = started(drain(ctx))
    ctx.receive(b, answer(ctx.request, 100), 0.1)
    assert forwarded(drain(ctx)) == []


def test_cancel_waits_for_a_provisional() -> None:
    ctx = new((1.0, 1.0))
    b1, b2 = started(drain(ctx))
    ctx.receive(b1, answer(ctx.request, 200), 1.0)
    assert cancelled(drain(ctx)) == []  # b2 has sent nothing yet: no CANCEL (§9.1)
    ctx.receive(b2, answer(ctx.request, 180), 1.5)
    actions = drain(ctx)
    assert cancelled(actions) == [b2]
    assert forwarded(actions) == []  # no 1xx after the final


def test_all_fail_best_response_is_lowest_class() -> None:
    ctx = new((1.0, 1.0, 1.0))
    b1, b2, b3 = started(drain(ctx))
    ctx.receive(b1, answer(ctx.request, 503), 1.0)
    ctx.receive(b2, answer(ctx.request, 486), 1.0)
    assert forwarded(drain(ctx)) == []
    ctx.receive(b3, answer(ctx.request, 302), 1.0)
    assert forwarded(drain(ctx)) == [(302, True)]
    assert ctx.done


def test_6xx_wins_and_cancels_pending() -> None:
    ctx = new((1.0, 1.0))
    b1, b2 = started(drain(ctx))
    ctx.receive(b2, answer(ctx.request, 183), 0.5)
    drain(ctx)
    ctx.receive(b1, answer(ctx.request, 603), 1.0)
    actions = drain(ctx)
    assert cancelled(actions) == [b2]
    assert forwarded(actions) == []
    ctx.receive(b2, answer(ctx.request, 487), 1.1)
    assert forwarded(drain(ctx)) == [(603, True)]


def test_503_goes_upstream_as_500() -> None:
    ctx = new()
    (b,) = started(drain(ctx))
    ctx.receive(b, answer(ctx.request, 503), 1.0)
    assert forwarded(drain(ctx)) == [(500, True)]


def test_challenges_are_aggregated() -> None:
    ctx = new((1.0, 1.0))
    b1, b2 = started(drain(ctx))
    ctx.receive(b1, answer(ctx.request, 401, ("WWW-Authenticate", 'Digest realm="a"')), 1.0)
    ctx.receive(b2, answer(ctx.request, 407, ("Proxy-Authenticate", 'Digest realm="b"')), 1.0)
    (action,) = drain(ctx)
    assert isinstance(action, ForwardResponse)
    assert action.response.status_code == 401
    assert action.response.headers.getall("WWW-Authenticate") == ['Digest realm="a"']
    assert action.response.headers.getall("Proxy-Authenticate") == ['Digest realm="b"']


def test_choose_best_prefers_specific_over_vague() -> None:
    req = request()
    best = choose_best(req, [make_response(req, 408), make_response(req, 486)])
    assert best.status_code == 486
    assert choose_best(req, []).status_code == 408


def test_sequential_forking_by_q() -> None:
    ctx = new((0.5, 1.0, 1.0))
    first = started(drain(ctx))
    assert [b.target.q for b in first] == [1.0, 1.0]
    ctx.receive(first[0], answer(ctx.request, 486), 1.0)
    assert started(drain(ctx)) == []
    ctx.receive(first[1], answer(ctx.request, 480), 1.0)
    (last,) = started(drain(ctx))
    assert last.target.q == 0.5
    assert not ctx.done
    ctx.receive(last, answer(ctx.request, 200), 2.0)
    assert forwarded(drain(ctx)) == [(200, True)]
    assert ctx.done


def test_6xx_stops_the_next_group() -> None:
    ctx = new((1.0, 0.5))
    (b,) = started(drain(ctx))
    ctx.receive(b, answer(ctx.request, 600), 1.0)
    actions = drain(ctx)
    assert started(actions) == []
    assert forwarded(actions) == [(600, True)]


def test_timer_c_with_a_provisional_cancels_the_branch() -> None:
    ctx = new(timer_c=180.0, cancel_wait=32.0)
    (b,) = started(drain(ctx))
    assert ctx.get_timer() == 180.0
    ctx.receive(b, answer(ctx.request, 180), 100.0)
    drain(ctx)
    assert ctx.get_timer() == 280.0  # restarted by the provisional (§16.8)
    ctx.handle_timer(279.0)
    assert drain(ctx) == []
    ctx.handle_timer(280.0)
    assert cancelled(drain(ctx)) == [b]
    assert ctx.get_timer() == 312.0  # now waiting for the 487
    ctx.receive(b, answer(ctx.request, 487), 281.0)
    assert forwarded(drain(ctx)) == [(487, True)]
    assert ctx.done and ctx.get_timer() is None


def test_timer_c_without_a_provisional_is_a_408() -> None:
    ctx = new(timer_c=180.0)
    (b,) = started(drain(ctx))
    ctx.handle_timer(180.0)
    actions = drain(ctx)
    assert cancelled(actions) == []
    assert forwarded(actions) == [(408, True)]
    assert ctx.done
    # A late provisional on the abandoned branch gets it cancelled; a late 2xx goes up.
    ctx.receive(b, answer(ctx.request, 180), 181.0)
    assert cancelled(drain(ctx)) == [b]
    ctx.receive(b, answer(ctx.request, 200), 182.0)
    assert forwarded(drain(ctx)) == [(200, True)]


def test_no_answer_after_cancel_ends_as_408() -> None:
    ctx = new(timer_c=180.0, cancel_wait=32.0)
    (b,) = started(drain(ctx))
    ctx.receive(b, answer(ctx.request, 180), 1.0)
    drain(ctx)
    ctx.cancel(2.0)
    assert cancelled(drain(ctx)) == [b]
    ctx.handle_timer(34.0)
    assert forwarded(drain(ctx)) == [(408, True)]


def test_cancel_from_upstream_cancels_every_pending_branch() -> None:
    ctx = new((1.0, 1.0, 0.5))
    b1, b2 = started(drain(ctx))
    ctx.receive(b1, answer(ctx.request, 180), 1.0)
    drain(ctx)
    ctx.cancel(2.0)
    assert cancelled(drain(ctx)) == [b1]
    ctx.receive(b2, answer(ctx.request, 100), 2.5)
    assert cancelled(drain(ctx)) == [b2]
    ctx.receive(b1, answer(ctx.request, 487), 3.0)
    ctx.receive(b2, answer(ctx.request, 487), 3.0)
    actions = drain(ctx)
    assert started(actions) == []  # the q=0.5 group never starts
    assert forwarded(actions) == [(487, True)]


def test_non_invite_has_no_timer_c_and_one_final() -> None:
    ctx = new((1.0, 1.0), method="MESSAGE")
    b1, b2 = started(drain(ctx))
    assert ctx.get_timer() is None
    ctx.receive(b1, answer(ctx.request, 200), 1.0)
    actions = drain(ctx)
    assert forwarded(actions) == [(200, True)]
    assert cancelled(actions) == []  # only INVITE is cancelled
    ctx.receive(b2, answer(ctx.request, 200), 1.0)
    assert forwarded(drain(ctx)) == []
    assert ctx.done


def test_failed_branch_gives_a_local_response() -> None:
    ctx = new()
    (b,) = started(drain(ctx))
    ctx.fail(b, 480, 0.5)
    (action,) = drain(ctx)
    assert isinstance(action, ForwardResponse)
    assert action.response.status_code == 480
    assert [v.branch for v in action.response.via] == ["z9hG4bKcaller"]


# -- RFC 3263 §4.3 failover ------------------------------------------------------------


def located(method: str = "INVITE", n: int = 3) -> tuple[ResponseContext, list[Destination]]:
    """A context for one target that DNS resolved to ``n`` addresses."""
    dests = [Destination(f"192.0.2.{20 + i}", 5060, "UDP") for i in range(n)]
    target = Target(
        parse_uri("sip:bob@example.net"), destination=dests[0], alternatives=tuple(dests[1:])
    )
    ctx = ResponseContext(request(method), [target])
    ctx.start(0.0)
    return ctx, dests


def test_failover_to_the_next_address_on_503_and_on_timeout() -> None:
    ctx, dests = located()
    (b0,) = started(drain(ctx))
    assert b0.target.destination == dests[0]
    ctx.receive(b0, answer(ctx.request, 100), 0.1)  # a 100 does not prevent failover
    ctx.receive(b0, answer(ctx.request, 503), 0.5)
    actions = drain(ctx)
    (b1,) = started(actions)
    assert forwarded(actions) == []  # nothing upstream yet
    assert b1.target.destination == dests[1] and b1.target.alternatives == (dests[2],)
    assert b1.timer_c is not None
    ctx.fail(b1, 408, 32.0)  # the transaction layer's timeout (Timer B)
    (b2,) = started(drain(ctx))
    assert b2.target.destination == dests[2] and b2.target.alternatives == ()
    ctx.receive(b2, answer(ctx.request, 200), 33.0)
    assert forwarded(drain(ctx)) == [(200, True)]
    assert ctx.done


def test_every_address_failing_forwards_the_best_answer() -> None:
    ctx, _ = located("OPTIONS", n=2)
    (b0,) = started(drain(ctx))
    ctx.receive(b0, answer(ctx.request, 503), 1.0)
    (b1,) = started(drain(ctx))
    ctx.receive(b1, answer(ctx.request, 408), 2.0)
    # §16.7 step 6 over both finals: the lowest class, 408 before the 503.
    assert forwarded(drain(ctx)) == [(408, True)]
    assert ctx.done


def test_no_failover_after_ringing_on_other_answers_or_when_cancelled() -> None:
    ctx, _ = located()
    (b0,) = started(drain(ctx))
    ctx.receive(b0, answer(ctx.request, 180), 0.1)
    drain(ctx)
    ctx.receive(b0, answer(ctx.request, 503), 0.5)  # the caller has heard this server
    assert started(drain(ctx)) == [] and ctx.done
    ctx, _ = located()
    (b0,) = started(drain(ctx))
    ctx.receive(b0, answer(ctx.request, 486), 0.5)  # a real answer: busy
    assert forwarded(drain(ctx)) == [(486, True)]
    ctx, _ = located()
    (b0,) = started(drain(ctx))
    ctx.cancel(0.2)
    ctx.receive(b0, answer(ctx.request, 503), 0.5)
    actions = drain(ctx)
    assert started(actions) == [] and forwarded(actions) == [(500, True)]
