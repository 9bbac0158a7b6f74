"""Interop with SIPp, the real peer: the CLI against a SIPp UAS, SIPp's UAC against an Endpoint.

A missing ``sipp`` skips on a developer machine and fails under CI (``require_peer``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peers import REPO_DIR, free_port, require_peer

from sipwright.aio.endpoint import Endpoint

pytestmark = pytest.mark.peer

SCENARIOS = REPO_DIR / "tests" / "sipp"
SIPWRIGHT = [sys.executable, "-m", "sipwright"]


def stop(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Terminate a process this test started (by its PID) and collect its output."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            return proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
    return proc.communicate(timeout=5)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_cli_options_against_sipp_uas(transport: str, tmp_path: Path) -> None:
    sipp = require_peer("sipp")
    port = free_port()
    args = [
        sipp, "-sf", str(SCENARIOS / "uas_options.xml"), "-i", "127.0.0.1", "-p", str(port),
        "-m", "1", "-timeout", "20s", "-nostdin", "-buff_size", "4194304",
    ]  # fmt: skip
    if transport == "tcp":
        args += ["-t", "t1"]
    uas = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        uri = f"sip:127.0.0.1:{port}" + (";transport=tcp" if transport == "tcp" else "")
        result = None
        # SIPp needs a moment to bind; over UDP the transaction retransmits anyway.
        for _ in range(20):
            result = subprocess.run(
                [*SIPWRIGHT, "options", uri, "--timeout", "10"],
                capture_output=True,
                timeout=30,
                cwd=tmp_path,
            )
            if result.returncode == 0 or transport == "udp":
                break
            if uas.poll() is not None:
                break
            asyncio.run(asyncio.sleep(0.2))
        assert result is not None
        out = result.stdout.decode()
        assert result.returncode == 0, (out, result.stderr.decode())
        assert "SIP/2.0 200 OK" in out
        assert "Server: SIPp-uas-options" in out
        assert " ms)" in out
        rc = uas.wait(timeout=20)
        assert rc == 0
    finally:
        stop(uas)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_uac_options_to_endpoint(transport: str, tmp_path: Path) -> None:
    sipp = require_peer("sipp")
    port = free_port()
    sipp_port = free_port()

    async def main() -> tuple[int, str, dict[str, int]]:
        async with Endpoint([(transport.upper(), "127.0.0.1", port)]) as ep:
            args = [
                sipp, "-sf", str(SCENARIOS / "uac_options.xml"), f"127.0.0.1:{port}",
                "-i", "127.0.0.1", "-p", str(sipp_port), "-m", "20", "-r", "50",
                "-timeout", "20s", "-nostdin", "-buff_size", "4194304", "-s", "options",
            ]  # fmt: skip
            if transport == "tcp":
                args += ["-t", "t1"]
            proc = await asyncio.create_subprocess_exec(
                *args, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            try:
                out, err = await asyncio.wait_for(proc.communicate(), 30)
            finally:
                if proc.returncode is None:
                    proc.kill()  # our own child, by its handle
                    await proc.wait()
            assert proc.returncode is not None
            return (
                proc.returncode,
                (out + err).decode(errors="replace")[-2000:],
                dict(ep.stats.messages_in),
            )

    rc, output, seen = asyncio.run(main())
    assert rc == 0, output
    assert seen.get("OPTIONS", 0) >= 20
