"""``sipwright options`` and ``sipwright send`` as subprocesses, against a real Endpoint."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sipwright.aio.endpoint import Endpoint, ServerRequest

CLI = [sys.executable, "-m", "sipwright"]

MESSAGE = (
    "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKoldbranch\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@example.com>;tag=abc\r\n"
    "To: <sip:bob@127.0.0.1>\r\n"
    "Call-ID: cli-send-1@example.com\r\n"
    "CSeq: 1 MESSAGE\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "hello"
)

Handler = Callable[[ServerRequest], Awaitable[None]] | None


async def run_cli(
    args: list[str], transport: str = "UDP", handler: Handler = None
) -> tuple[int, str, str, list[ServerRequest]]:
    """Run the CLI against an Endpoint listening on 127.0.0.1; ``{port}`` in args is filled."""
    seen: list[ServerRequest] = []

    async def record(req: ServerRequest) -> None:
        seen.append(req)
        if handler is not None:
            await handler(req)
        else:
            await req.respond(200)

    async with Endpoint([(transport, "127.0.0.1", 0)]) as ep:
        ep.on_request = record if handler is not None or args[0] == "send" else None
        local = ep.local_address(transport)
        assert local is not None
        argv = [a.replace("{port}", str(local.port)) for a in args]
        proc = await asyncio.create_subprocess_exec(
            *CLI, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode(), seen


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_options_ok(transport: str) -> None:
    uri = "sip:127.0.0.1:{port}" + (";transport=tcp" if transport == "TCP" else "")
    rc, out, err, _ = asyncio.run(run_cli(["options", uri], transport))
    assert rc == 0, (out, err)
    assert out.startswith("SIP/2.0 200 OK")
    assert "ms)" in out
    assert "Allow: " in out


def test_options_non_2xx_exits_1() -> None:
    async def busy(req: ServerRequest) -> None:
        assert req.request.method == "OPTIONS"
        assert req.request.headers["Max-Forwards"] == "70"
        assert req.request.from_ is not None and req.request.from_.tag
        assert req.request.contact
        await req.respond(486)

    rc, out, _, seen = asyncio.run(run_cli(["options", "sip:127.0.0.1:{port}"], handler=busy))
    assert rc == 1
    assert "486 Busy Here" in out
    assert len(seen) == 1


def test_options_timeout_exits_1() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        rc, out, _, _ = asyncio.run(run_cli(["options", f"sip:127.0.0.1:{port}", "--t1", "0.01"]))
    assert rc == 1
    assert "408" in out


@pytest.mark.parametrize("bad", ["not-a-uri", "mailto:x@y", "sip:127.0.0.1;transport=sctp"])
def test_options_usage_error_exits_2(bad: str) -> None:
    rc, _, err, _ = asyncio.run(run_cli(["options", bad]))
    assert rc == 2, err


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_send_prints_every_response(transport: str, tmp_path: Path) -> None:
    path = tmp_path / "msg.sip"
    path.write_bytes(MESSAGE.encode())

    async def answer(req: ServerRequest) -> None:
        await req.respond(100)
        await req.respond(180)
        await req.respond(200)

    rc, out, err, seen = asyncio.run(
        run_cli(
            ["send", str(path), "--to", "127.0.0.1:{port}", "--transport", transport.lower()],
            transport,
            answer,
        )
    )
    assert rc == 0, (out, err)
    lines = out.splitlines()
    assert [line.split()[1] for line in lines] == ["100", "180", "200"]
    via = seen[0].request.via[0]
    assert via.transport == transport
    assert via.host == "127.0.0.1"
    assert via.branch != "z9hG4bKoldbranch"
    assert seen[0].request.body == b"hello"


def test_send_non_2xx_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "msg.sip"
    path.write_bytes(MESSAGE.encode())

    async def reject(req: ServerRequest) -> None:
        await req.respond(404)

    rc, out, _, _ = asyncio.run(
        run_cli(["send", str(path), "--to", "127.0.0.1:{port}"], handler=reject)
    )
    assert rc == 1
    assert "404 Not Found" in out


def test_send_refuses_invalid_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.sip"
    path.write_bytes(MESSAGE.replace("CSeq: 1 MESSAGE\r\n", "").encode())
    rc, _, err, seen = asyncio.run(run_cli(["send", str(path), "--to", "127.0.0.1:{port}"]))
    assert rc == 2
    assert "CSeq" in err or "cseq" in err
    assert seen == []
