"""``sipwright register``, ``call`` and ``message`` against SIPp and sipwright UserAgents.

In process with click's CliRunner where possible: when the far end is a sipwright
UserAgent, it runs on this thread's event loop and the command on a worker thread
(``asyncio.to_thread``); the command prints only its own endpoint's messages. ``call``
and the long-running ``register`` (refresh, then SIGINT, then unregister) run as real
``python -m sipwright`` processes. Every run is bounded; only processes started here are
stopped, by their handle. A missing ``sipp`` skips locally and fails under CI.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sipwright.aio.endpoint import Endpoint, ServerRequest
from sipwright.aio.ua import CallState, IncomingCall, UserAgent
from sipwright.cli import main

from .test_ua_sipp import SCENARIOS, Registrar, Sipp, sipp_uas
from .ua_wire import ANSWER, TIMERS

CLI = [sys.executable, "-m", "sipwright"]


def run(coro: object, bound: float = 30.0) -> object:
    async def bounded() -> object:
        return await asyncio.wait_for(coro, bound)  # type: ignore[arg-type]

    return asyncio.run(bounded())


def invoke(args: list[str], password: str | None = None, prompt: str | None = None) -> Result:
    """The CLI in process; ``password`` through the environment, ``prompt`` typed in."""
    env = {"SIPWRIGHT_PASSWORD": password}  # None removes it from the environment
    return CliRunner().invoke(main, args, env=env, input=prompt)


async def invoke_in_thread(args: list[str]) -> Result:
    """The CLI on a worker thread, while this loop serves the far end."""
    return await asyncio.wait_for(asyncio.to_thread(invoke, args), 20)


async def run_process(args: list[str], password: str | None = None) -> tuple[int, str, str]:
    env = dict(os.environ)
    env.pop("SIPWRIGHT_PASSWORD", None)
    if password is not None:
        env["SIPWRIGHT_PASSWORD"] = password
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# -- register --once against a SIPp registrar with digest ---------------------------------------


def register_once_with_sipp(tmp_path: Path, **creds: str) -> tuple[Result, Sipp, int]:
    async def main_() -> tuple[Result, Sipp, int]:
        scenario = ["-sf", str(SCENARIOS / "uas_register_auth.xml")]
        sipp, port = await sipp_uas(tmp_path, scenario, 1)
        args = ["register", f"sip:alice@127.0.0.1:{port}", "--once", "--expires", "120",
                "--timeout", "5"]  # fmt: skip
        result = await asyncio.wait_for(asyncio.to_thread(invoke, args, **creds), 20)
        return result, sipp, await sipp.wait()

    return run(main_())  # type: ignore[return-value]


@pytest.mark.peer
def test_register_once_digest_prints_bindings(tmp_path: Path) -> None:
    result, sipp, rc = register_once_with_sipp(tmp_path, password="secret")
    assert result.exit_code == 0, result.output
    sipp.check(rc, 1)  # SIPp's verifyauth accepted our credentials
    out = result.output
    assert "<-- 401 Unauthorized  CSeq: 1 REGISTER" in out
    assert "--> REGISTER" in out and "CSeq: 2 REGISTER" in out
    assert "REGISTER: 200 OK" in out
    assert "bindings (1):" in out
    binding = [line for line in out.splitlines() if "expires=" in line]
    assert len(binding) == 1 and "sip:alice@127.0.0.1:" in binding[0], out
    assert "expires=120" in binding[0] and "(this UA)" in binding[0]


@pytest.mark.peer
def test_register_once_wrong_password_exits_1(tmp_path: Path) -> None:
    result, sipp, rc = register_once_with_sipp(tmp_path, prompt="wrong\n")
    assert result.exit_code == 1, result.output
    assert "Password for alice" in result.output
    assert "wrong" not in result.output  # hide_input: never echoed
    assert "REGISTER: 403 Forbidden" in result.output
    assert "bindings" not in result.output
    assert rc != 0  # SIPp's verifyauth refused the credentials
    assert int(sipp.totals()["FailedCall(C)"]) == 1


# -- register until SIGINT: refresh, then unregister -------------------------------------------


def test_register_refreshes_until_sigint_then_unregisters() -> None:
    registrar = Registrar()

    async def main_() -> tuple[int, str, str]:
        async with Endpoint([("UDP", "127.0.0.1", 0)], timers=TIMERS) as ep:
            ep.on_request = registrar.handle
            local = ep.local_address("UDP")
            assert local is not None
            env = dict(os.environ, SIPWRIGHT_PASSWORD="secret")
            proc = await asyncio.create_subprocess_exec(
                *CLI, "register", f"sip:alice@127.0.0.1:{local.port}", "--expires", "2",
                "--timeout", "5",
                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:

                async def refreshed() -> None:
                    while len(registrar.registered) < 2:  # the first REGISTER + one refresh
                        await asyncio.sleep(0.02)

                await asyncio.wait_for(refreshed(), 10)
                proc.send_signal(signal.SIGINT)
                out, err = await asyncio.wait_for(proc.communicate(), 10)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            assert proc.returncode is not None
            return proc.returncode, out.decode(), err.decode()

    rc, out, err = run(main_())  # type: ignore[misc]
    assert rc == 0, (out, err)
    regs = registrar.registered
    assert len(regs) >= 3, out
    assert [r.expires for r in regs[:-1]] == [2] * (len(regs) - 1)
    assert regs[-1].expires == 0  # the unREGISTER
    assert regs[-1].contact and regs[-1].contact[0].expires == 0
    assert len({r.call_id for r in regs}) == 1  # one registration (§10.2.4)
    numbers = [r.cseq.number for r in regs if r.cseq is not None]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert "refreshing until Ctrl-C" in out
    assert "unREGISTER: 200 OK" in out


# -- call -----------------------------------------------------------------------------------


@pytest.mark.peer
def test_call_to_sipp_uas_as_a_process(tmp_path: Path) -> None:
    async def main_() -> tuple[int, str, str, Sipp, int]:
        sipp, port = await sipp_uas(tmp_path, ["-sn", "uas"], 1)
        rc, out, err = await run_process(
            ["call", f"sip:service@127.0.0.1:{port}", "--duration", "0.2", "--timeout", "5"]
        )
        return rc, out, err, sipp, await sipp.wait()

    rc, out, err, sipp, sipp_rc = run(main_())  # type: ignore[misc]
    assert rc == 0, (out, err)
    sipp.check(sipp_rc, 1)
    lines = [line for line in out.splitlines() if line[:3] in ("-->", "<--")]
    assert lines[0].startswith("--> INVITE sip:service@127.0.0.1:")
    firsts = [" ".join(line.split()[:2]) for line in lines if "(retransmission)" not in line]
    assert firsts == ["--> INVITE", "<-- 180", "<-- 200", "--> ACK", "--> BYE", "<-- 200"], out
    assert "INVITE: 200 OK" in out and "BYE: 200 OK" in out


def test_call_rejected_486_exits_1() -> None:
    async def main_() -> tuple[Result, list[str]]:
        seen: list[str] = []
        async with UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob:

            async def busy(call: IncomingCall) -> None:
                seen.append(call.from_)
                await call.reject(486)

            bob.on_call = busy
            uri = f"sip:bob@127.0.0.1:{bob.contact.port}"
            result = await invoke_in_thread(["call", uri, "--from", "sip:carol@127.0.0.1"])
        return result, seen

    result, seen = run(main_())  # type: ignore[misc]
    assert result.exit_code == 1, result.output
    assert "INVITE: 486 Busy Here" in result.output
    assert "<-- 486 Busy Here  CSeq: 1 INVITE" in result.output
    assert "--> ACK" in result.output  # the non-2xx ACK of the INVITE transaction
    assert "BYE" not in result.output
    assert len(seen) == 1 and "sip:carol@127.0.0.1" in seen[0]
    # only the command's own endpoint is printed, never the far end's messages
    assert "--> 486" not in result.output and "<-- INVITE" not in result.output


def test_call_far_end_hangs_up_first_exits_0() -> None:
    async def main_() -> tuple[Result, list[int]]:
        byes: list[int] = []
        async with UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob:

            async def answer_and_hang_up(call: IncomingCall) -> None:
                await call.answer(ANSWER)
                await asyncio.wait_for(call.confirmed(), 5)
                byes.append((await call.bye()).status_code)

            bob.on_call = answer_and_hang_up
            uri = f"sip:bob@127.0.0.1:{bob.contact.port}"
            result = await invoke_in_thread(["call", uri, "--duration", "10"])
        return result, byes

    result, byes = run(main_())  # type: ignore[misc]
    assert result.exit_code == 0, result.output
    assert byes == [200]
    assert "<-- BYE" in result.output and "--> 200 OK  CSeq: 1 BYE" in result.output
    assert "call ended by the far end (remote BYE)" in result.output
    assert "--> BYE" not in result.output


def test_call_sigint_hangs_up_at_once() -> None:
    async def main_() -> tuple[int, str, str, list[str]]:
        reasons: list[str] = []
        async with UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob:
            up = asyncio.Event()

            async def answer(call: IncomingCall) -> None:
                await call.answer(ANSWER)
                await asyncio.wait_for(call.confirmed(), 5)
                up.set()
                reasons.append(await asyncio.wait_for(call.ended(), 10))

            bob.on_call = answer
            uri = f"sip:bob@127.0.0.1:{bob.contact.port}"
            proc = await asyncio.create_subprocess_exec(
                *CLI, "call", uri, "--duration", "60",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                await asyncio.wait_for(up.wait(), 10)
                await asyncio.sleep(0.2)  # the ACK is out; the command now waits
                proc.send_signal(signal.SIGINT)
                out, err = await asyncio.wait_for(proc.communicate(), 10)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            assert proc.returncode is not None

            async def ended() -> None:
                while not reasons:
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(ended(), 5)
        return proc.returncode, out.decode(), err.decode(), reasons

    rc, out, err, reasons = run(main_())  # type: ignore[misc]
    assert rc == 0, (out, err)
    assert reasons == ["remote BYE"]
    assert "BYE: 200 OK" in out


def test_call_sigint_before_the_answer_cancels() -> None:
    async def main_() -> tuple[int, str, str, list[bool]]:
        cancelled: list[bool] = []
        async with UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob:
            ringing = asyncio.Event()

            async def ring(call: IncomingCall) -> None:
                await call.ringing()
                ringing.set()
                await asyncio.wait_for(call.cancelled.wait(), 10)
                cancelled.append(call.state is CallState.FAILED)

            bob.on_call = ring
            uri = f"sip:bob@127.0.0.1:{bob.contact.port}"
            proc = await asyncio.create_subprocess_exec(
                *CLI, "call", uri, "--timeout", "60",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                await asyncio.wait_for(ringing.wait(), 10)
                await asyncio.sleep(0.2)  # the 180 reached the command
                proc.send_signal(signal.SIGINT)
                out, err = await asyncio.wait_for(proc.communicate(), 10)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode(), cancelled

    rc, out, err, cancelled = run(main_())  # type: ignore[misc]
    assert rc == 1, (out, err)
    assert cancelled == [True]
    assert "interrupted; cancelling" in out
    assert "--> CANCEL" in out and "<-- 487 Request Terminated  CSeq: 1 INVITE" in out


# -- message --------------------------------------------------------------------------------


def message_to_ua(
    status: int, text: str = "hello there", *extra: str
) -> tuple[Result, list[bytes]]:
    async def main_() -> tuple[Result, list[bytes]]:
        bodies: list[bytes] = []
        async with UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob:

            async def on_request(sreq: ServerRequest) -> None:
                if sreq.request.method == "MESSAGE":
                    bodies.append(sreq.request.body)
                await sreq.respond(status)

            bob.on_request = on_request
            uri = f"sip:bob@127.0.0.1:{bob.contact.port}"
            result = await invoke_in_thread(["message", uri, text, "--timeout", "5", *extra])
        return result, bodies

    return run(main_())  # type: ignore[return-value]


def test_message_200_exits_0() -> None:
    result, bodies = message_to_ua(200)
    assert result.exit_code == 0, result.output
    assert bodies == [b"hello there"]
    assert "--> MESSAGE sip:bob@127.0.0.1:" in result.output
    assert "<-- 200 OK  CSeq: 1 MESSAGE" in result.output
    assert "MESSAGE: 200 OK" in result.output
    assert "hello there" not in result.output  # full messages only with --verbose


def test_message_403_exits_1() -> None:
    result, bodies = message_to_ua(403)
    assert result.exit_code == 1, result.output
    assert bodies == [b"hello there"]
    assert "MESSAGE: 403 Forbidden" in result.output


def test_message_verbose_prints_full_messages() -> None:
    result, _ = message_to_ua(200, "verbose text", "--verbose")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("verbose text") == 1  # the MESSAGE body, once
    assert "Content-Type: text/plain" in out
    assert "\nSIP/2.0 200 OK\n" in out  # the response in full
    assert "CSeq: 1 MESSAGE\n" in out


# -- usage errors ----------------------------------------------------------------------------


def test_usage_errors_bind_and_dns_server() -> None:
    result = invoke(["call", "sip:bob@127.0.0.1", "--bind", "localhost:0"])
    assert result.exit_code == 2
    assert "--bind" in result.output
    result = invoke(["message", "sip:bob@127.0.0.1", "hi", "--dns-server", "[::1"])
    assert result.exit_code == 2
    assert "--dns-server" in result.output


def test_host_names_are_located_with_the_given_name_server() -> None:
    """``message`` and ``call`` to ``sip:bob@example.test`` reach the UA that dnsmasq's SRV
    record names; a name with no address exits 1 naming it."""
    from dns_peer import dnsmasq
    from peers import free_port

    bob_port = free_port()
    records = (
        f"--srv-host=_sip._udp.example.test,bob.example.test,{bob_port},10,0",
        "--host-record=bob.example.test,127.0.0.1",
    )

    async def main_() -> list[Result]:
        async with UserAgent(f"sip:bob@127.0.0.1:{bob_port}", timers=TIMERS) as bob:
            got: list[bytes] = []

            async def on_message(sreq: ServerRequest) -> None:
                got.append(sreq.request.body)
                await sreq.respond(200)

            async def answer(call: IncomingCall) -> None:
                await call.answer(ANSWER)

            bob.on_request = on_message
            bob.on_call = answer
            results = [
                await invoke_in_thread(["message", "sip:bob@example.test", "hi", *dns_args]),
                await invoke_in_thread(
                    ["call", "sip:bob@example.test", "--duration", "0", *dns_args]
                ),
                await invoke_in_thread(["message", "sip:bob@nowhere.test", "hi", *dns_args]),
            ]
            assert got == [b"hi"]
            return results

    with dnsmasq(*records) as (dns_port, queries):
        dns_args = ["--dns-server", f"127.0.0.1:{dns_port}"]
        sent, called, lost = run(main_())  # type: ignore[misc]
        assert "SRV _sip._udp.example.test" in queries()
    assert sent.exit_code == 0, sent.output
    assert "--> MESSAGE sip:bob@example.test" in sent.output
    assert called.exit_code == 0, called.output
    assert lost.exit_code == 1 and "nowhere.test" in lost.output


# -- register --registrar / --user, and --verbose ----------------------------------------------


def register_once_at_registrar(*extra: str) -> tuple[Result, Registrar, int]:
    """``register --once`` for an AOR on another host, sent to an in-process registrar
    (an Endpoint challenging with DigestServer; user ``alice``, password ``secret``)."""
    registrar = Registrar()

    async def main_() -> tuple[Result, int]:
        async with Endpoint([("UDP", "127.0.0.1", 0)], timers=TIMERS) as ep:
            ep.on_request = registrar.handle
            local = ep.local_address("UDP")
            assert local is not None
            args = ["register", "sip:carol@192.0.2.9:5070", "--once", "--timeout", "5",
                    "--registrar", f"sip:127.0.0.1:{local.port}", "--user", "alice",
                    *extra]  # fmt: skip
            result = await asyncio.wait_for(asyncio.to_thread(invoke, args, "secret"), 20)
            return result, local.port

    result, port = run(main_())  # type: ignore[misc]
    return result, registrar, port


def test_register_once_at_a_registrar_other_than_the_aor_host() -> None:
    result, registrar, port = register_once_at_registrar()
    assert result.exit_code == 0, result.output
    assert registrar.verdicts == ["missing", "ok"]
    [request] = registrar.registered
    # §10.2: Request-URI = the registrar; To = the AOR being registered.
    assert request.uri_text == f"sip:127.0.0.1:{port}"
    assert request.to is not None and str(request.to.uri) == "sip:carol@192.0.2.9:5070"
    creds = request.authorization
    assert len(creds) == 1 and creds[0].username == "alice"
    assert creds[0].uri == f"sip:127.0.0.1:{port}"
    out = result.output
    assert f"--> REGISTER sip:127.0.0.1:{port}" in out
    assert "REGISTER: 200 OK" in out
    assert "Authorization:" not in out  # full messages only with --verbose


def test_register_verbose_prints_full_messages() -> None:
    result, registrar, port = register_once_at_registrar("--verbose")
    assert result.exit_code == 0, result.output
    assert registrar.verdicts == ["missing", "ok"]
    out = result.output
    assert out.count(f"\nREGISTER sip:127.0.0.1:{port} SIP/2.0\n") == 2  # both, in full
    assert "\nSIP/2.0 401 Unauthorized\n" in out
    assert "WWW-Authenticate: Digest " in out
    assert 'Authorization: Digest username="alice"' in out
    assert "\nSIP/2.0 200 OK\n" in out and "CSeq: 2 REGISTER\n" in out


def test_call_verbose_prints_full_messages() -> None:
    async def main_() -> Result:
        async with UserAgent("sip:bob@127.0.0.1:0", timers=TIMERS) as bob:

            async def answer(call: IncomingCall) -> None:
                await call.answer(ANSWER)

            bob.on_call = answer
            uri = f"sip:bob@127.0.0.1:{bob.contact.port}"
            return await invoke_in_thread(
                ["call", uri, "--duration", "0", "--timeout", "5", "--verbose"]
            )

    result = run(main_())
    assert isinstance(result, Result)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "\nINVITE sip:bob@127.0.0.1:" in out and "Content-Type: application/sdp" in out
    assert "\nm=audio " in out  # the offer's body, and the answer's
    assert "\nSIP/2.0 200 OK\n" in out and "CSeq: 1 INVITE\n" in out
    assert "\nACK sip:" in out and "\nBYE sip:" in out and "CSeq: 2 BYE\n" in out


def test_register_has_no_password_option() -> None:
    # The password comes only from the environment or a hidden prompt, never argv.
    result = invoke(["register", "sip:alice@127.0.0.1:5060", "--once", "--password", "x"])
    assert result.exit_code == 2
    assert "No such option" in result.output and "--password" in result.output
    assert "Password for" not in result.output  # refused before any prompt
