"""The :class:`UserAgent` and the digest code against SIPp, both ways.

* ``UserAgent.call()`` + ``bye()`` against SIPp's built-in ``uas`` (calls in sequence);
* SIPp's built-in ``uac`` against a ``UserAgent`` UAS (``on_call``: 180, then 200);
* ``tests/sipp/uas_invite_auth.xml``: SIPp challenges the INVITE with a 401 and checks
  the answer itself (``verifyauth``); the UAC retries with Authorization, same Call-ID,
  CSeq + 1 (RFC 3261 §22.2), and a wrong password ends in SIPp's 403;
* ``tests/sipp/uac_register_auth.xml``: SIPp registers with its own digest code against
  an :class:`Endpoint` that challenges and verifies with :class:`DigestServer`.

Pass/fail: SIPp's exit status and the totals row of its ``-trace_stat`` CSV, plus what
sipwright saw. Every SIPp run is bounded (``-m``, ``-timeout``, ``asyncio.wait_for``) and
only processes started here are stopped, by their handle. A missing ``sipp`` skips
locally and fails under CI (``require_peer``).
"""

from __future__ import annotations

import asyncio
import csv
import logging
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peers import REPO_DIR, free_port, require_peer

from sipwright import Request, Response
from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.aio.ua import CallFailed, CallState, IncomingCall, UserAgent
from sipwright.auth import DigestServer, ha1
from sipwright.parser import parse

from .ua_wire import ANSWER, TIMERS, Wire, cseq, label

pytestmark = pytest.mark.peer

SCENARIOS = REPO_DIR / "tests" / "sipp"
COMMON = ["-i", "127.0.0.1", "-nostdin", "-buff_size", "4194304", "-timeout", "20s"]


def sipp_totals(stat_file: Path) -> dict[str, str]:
    """The last (cumulative) row of a SIPp ``-trace_stat`` CSV, by column name."""
    with stat_file.open(newline="", encoding="latin-1") as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    assert len(rows) >= 2, f"no statistics rows in {stat_file}"
    return dict(zip(rows[0], rows[-1], strict=False))


class Sipp:
    """One SIPp process started here, with its statistics file in ``cwd``."""

    def __init__(self, cwd: Path, args: list[str]) -> None:
        self.cwd = cwd
        self.stat = cwd / "stat.csv"
        self.args = [
            require_peer("sipp"), *args, *COMMON,
            "-trace_stat", "-stf", str(self.stat), "-fd", "1", "-trace_err",
        ]  # fmt: skip
        self.proc: asyncio.subprocess.Process | None = None
        self.output = ""

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args,
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def wait(self, bound: float = 25.0) -> int:
        proc = self.proc
        assert proc is not None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), bound)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        self.output = (out + err).decode(errors="replace")[-3000:]
        assert proc.returncode is not None
        return proc.returncode

    def errors(self) -> str:
        logs = sorted(self.cwd.glob("*_errors.log"))
        return logs[0].read_text(errors="replace")[-3000:] if logs else ""

    def totals(self) -> dict[str, str]:
        return sipp_totals(self.stat)

    def check(self, rc: int, calls: int) -> None:
        """SIPp's verdict: exit status 0 and ``calls`` successful calls, none failed."""
        totals = self.totals()
        detail = (rc, totals, self.output, self.errors())
        assert rc == 0, detail
        assert int(totals["SuccessfulCall(C)"]) == calls, detail
        assert int(totals["FailedCall(C)"]) == 0, detail


async def sipp_uas(tmp_path: Path, scenario: list[str], calls: int) -> tuple[Sipp, int]:
    port = free_port()
    sipp = Sipp(tmp_path, [*scenario, "-p", str(port), "-m", str(calls)])
    await sipp.start()
    await asyncio.sleep(0.3)  # let SIPp bind its port
    return sipp, port


def run(coro: object, bound: float = 30.0) -> object:
    async def bounded() -> object:
        return await asyncio.wait_for(coro, bound)  # type: ignore[arg-type]

    return asyncio.run(bounded())


# -- UserAgent UAC -> SIPp uas ------------------------------------------------------------


def test_ua_calls_and_byes_to_sipp_uas(tmp_path: Path) -> None:
    calls = 5

    async def main() -> tuple[list[CallState], list[int], int, Sipp, int]:
        sipp, port = await sipp_uas(tmp_path, ["-sn", "uas"], calls)
        states: list[CallState] = []
        byes: list[int] = []
        async with UserAgent("sip:alice@127.0.0.1:0", timers=TIMERS) as ua:
            for _ in range(calls):
                call = await asyncio.wait_for(ua.call(f"sip:service@127.0.0.1:{port}"), 5)
                assert call.remote_sdp is not None and b"m=audio" in call.remote_sdp
                response = await asyncio.wait_for(call.bye(), 5)
                byes.append(response.status_code)
                states.append(call.state)
            acks = ua.endpoint.stats.acks_sent
        return states, byes, acks, sipp, await sipp.wait()

    states, byes, acks, sipp, rc = run(main())  # type: ignore[misc]
    sipp.check(rc, calls)
    assert states == [CallState.ENDED] * calls
    assert byes == [200] * calls
    assert acks >= calls


# -- SIPp uac -> UserAgent UAS -----------------------------------------------------------


def test_sipp_uac_calls_to_ua(tmp_path: Path) -> None:
    calls = 10

    async def main() -> tuple[list[IncomingCall], list[str], Sipp, int]:
        offered: list[IncomingCall] = []
        ended: list[str] = []

        async with UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as ua:

            async def on_call(call: IncomingCall) -> None:
                offered.append(call)
                await call.ringing()
                await call.answer(ANSWER)
                ended.append(await asyncio.wait_for(call.ended(), 10))

            ua.on_call = on_call
            sipp = Sipp(
                tmp_path,
                ["-sn", "uac", f"127.0.0.1:{ua.contact.port}", "-p", str(free_port()),
                 "-r", "10", "-m", str(calls)],
            )  # fmt: skip
            await sipp.start()
            rc = await sipp.wait()

            async def all_ended() -> None:
                while len(ended) < len(offered):
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(all_ended(), 5)
        return offered, ended, sipp, rc

    offered, ended, sipp, rc = run(main())  # type: ignore[misc]
    sipp.check(rc, calls)
    assert len(offered) == calls
    assert ended == ["remote BYE"] * calls
    assert all(c.state is CallState.ENDED for c in offered)
    assert all(c.remote_sdp and b"m=audio" in c.remote_sdp for c in offered)


# -- digest: SIPp challenges the INVITE --------------------------------------------------


def test_invite_digest_challenge_from_sipp(tmp_path: Path, wire: Wire) -> None:
    async def main() -> tuple[int, int, Sipp, int]:
        sipp, port = await sipp_uas(tmp_path, ["-sf", str(SCENARIOS / "uas_invite_auth.xml")], 1)
        async with UserAgent(
            "sip:alice@127.0.0.1:0", credentials=("alice", "secret"), timers=TIMERS
        ) as ua:
            call = await asyncio.wait_for(ua.call(f"sip:service@127.0.0.1:{port}"), 5)
            assert call.state is CallState.CONFIRMED
            bye = await asyncio.wait_for(call.bye(), 5)
        return port, bye.status_code, sipp, await sipp.wait()

    received = Received()
    logging.getLogger("sipwright.wire").addHandler(received)  # level set by ``wire``
    try:
        port, bye, sipp, rc = run(main())  # type: ignore[misc]
    finally:
        logging.getLogger("sipwright.wire").removeHandler(received)
    sipp.check(rc, 1)
    assert bye == 200
    sent = wire.to(port)
    assert [label(m) for m in sent] == ["INVITE", "ACK", "INVITE", "ACK", "BYE"]
    first, ack401, second, ack200, bye_req = sent
    assert bye_req.call_id == first.call_id
    assert isinstance(first, Request) and isinstance(second, Request)
    assert first.call_id == second.call_id == ack401.call_id == ack200.call_id
    assert [cseq(m) for m in sent] == [
        (1, "INVITE"), (1, "ACK"), (2, "INVITE"), (2, "ACK"), (3, "BYE")
    ]  # fmt: skip
    assert first.headers.get("Authorization") is None
    creds = second.authorization
    assert len(creds) == 1 and creds[0].username == "alice" and creds[0].realm == "sipp.test"
    assert first.via[0].branch != second.via[0].branch  # a new transaction (§22.2)
    assert first.from_ is not None and second.from_ is not None
    assert first.from_.tag == second.from_.tag
    # The ACK of the 401 belongs to the first INVITE's client transaction (§17.1.1.3):
    # same branch, and the To (tag) of the 401 it acknowledges.
    unauthorized = received.response(401)
    ok = received.response(200, "INVITE")
    assert ack401.via[0].branch is not None
    assert ack401.via[0].branch == first.via[0].branch
    assert unauthorized.to is not None and ack401.to is not None
    assert unauthorized.to.tag is not None and "SIPpTag01" in unauthorized.to.tag
    assert ack401.to.tag == unauthorized.to.tag
    # The ACK of the 2xx is a transaction of its own (§13.2.2.4): a new branch, and the
    # To tag of the dialog the 200 established.
    assert ack200.via[0].branch is not None
    assert ack200.via[0].branch not in (second.via[0].branch, first.via[0].branch)
    assert ok.to is not None and ack200.to is not None
    assert ok.to.tag is not None and ack200.to.tag == ok.to.tag != unauthorized.to.tag


class Received(logging.Handler):
    """Every message the endpoint receives, parsed (the ``recv`` DEBUG record of the
    ``sipwright.wire`` logger carries its full text); :class:`Wire` only keeps sends."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[Request | Response] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if record.levelno == logging.DEBUG and isinstance(args, tuple) and args[0] == "recv":
            self.messages.append(parse(str(args[1]).encode()))

    def response(self, status: int, method: str = "INVITE") -> Response:
        found = [
            m
            for m in self.messages
            if isinstance(m, Response) and m.status_code == status and cseq(m)[1] == method
        ]
        assert found, f"no {status} {method} received"
        return found[0]


def test_invite_digest_wrong_password_gets_sipp_403(tmp_path: Path) -> None:
    async def main() -> tuple[int | None, Sipp, int]:
        sipp, port = await sipp_uas(tmp_path, ["-sf", str(SCENARIOS / "uas_invite_auth.xml")], 1)
        async with UserAgent(
            "sip:alice@127.0.0.1:0", credentials=("alice", "wrong"), timers=TIMERS
        ) as ua:
            status = None
            try:
                await asyncio.wait_for(ua.call(f"sip:service@127.0.0.1:{port}"), 5)
            except CallFailed as exc:
                status = exc.status_code
        return status, sipp, await sipp.wait()

    status, sipp, rc = run(main())  # type: ignore[misc]
    assert status == 403
    totals = sipp.totals()
    assert rc != 0, (totals, sipp.output)
    assert int(totals["FailedCall(C)"]) == 1
    assert int(totals["SuccessfulCall(C)"]) == 0


# -- digest: SIPp registers with our DigestServer -------------------------------------------

REALM = "sipwright.test"


class Registrar:
    """An Endpoint registrar that challenges with :class:`DigestServer` (HA1-only store)."""

    def __init__(self, password: str = "secret") -> None:
        store = {("alice", REALM, "MD5"): ha1("alice", REALM, password, "MD5")}
        # MD5 only: SIPp 3.6.1 answers the first challenge and knows no SHA-256 (with the
        # default SHA-256 + MD5 offer its REGISTER carries no usable credentials).
        self.digest = DigestServer(
            REALM,
            b"sipwright-test-nonce-secret-0123",
            lambda user, realm, alg: store.get((user, realm, alg)),
            algorithms=("MD5",),
        )
        self.verdicts: list[str] = []
        self.registered: list[Request] = []

    async def handle(self, sreq: ServerRequest) -> None:
        request = sreq.request
        if request.method != "REGISTER":
            await sreq.respond(501)
            return
        verdict = self.digest.verify(request, time.time())
        self.verdicts.append(verdict.reason)
        if not verdict.accepted:
            answer = verdict.response
            assert isinstance(answer, Response)
            header = self.digest.challenge_header
            await sreq.respond(
                answer.status_code,
                answer.reason,
                headers=[(header, v) for v in answer.headers.getall(header)],
            )
            return
        self.registered.append(request)
        expires = request.expires if request.expires is not None else 3600
        # §10.3: the 200 lists the bindings now held; a removal (Expires: 0) leaves none.
        contacts = [("Contact", f"<{c.uri}>;expires={expires}") for c in request.contact]
        await sreq.respond(200, headers=contacts if expires else [])


@pytest.mark.parametrize(("password", "ok"), [("secret", True), ("wrong", False)])
def test_sipp_register_digest_to_digest_server(tmp_path: Path, password: str, ok: bool) -> None:
    registrar = Registrar()

    async def main() -> tuple[Sipp, int]:
        async with Endpoint([("UDP", "127.0.0.1", 0)], timers=TIMERS) as ep:
            ep.on_request = registrar.handle
            local = ep.local_address("UDP")
            assert local is not None
            sipp = Sipp(
                tmp_path,
                ["-sf", str(SCENARIOS / "uac_register_auth.xml"), f"127.0.0.1:{local.port}",
                 "-p", str(free_port()), "-s", "alice", "-au", "alice", "-ap", password,
                 "-m", "1", "-recv_timeout", "5s"],
            )  # fmt: skip
            await sipp.start()
            return sipp, await sipp.wait()

    sipp, rc = run(main())  # type: ignore[misc]
    if ok:
        sipp.check(rc, 1)
        assert registrar.verdicts == ["missing", "ok"]
        assert len(registrar.registered) == 1
        reg = registrar.registered[0]
        assert reg.authorization[0].username == "alice"
        assert cseq(reg) == (2, "REGISTER")
    else:
        totals = sipp.totals()
        assert rc != 0, (totals, sipp.output)
        assert int(totals["FailedCall(C)"]) == 1, totals
        assert registrar.verdicts == ["missing", "bad-response"]
        assert registrar.registered == []
