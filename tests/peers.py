"""Locate external peers (tshark, sipp, ...) and the shared test corpus.

A missing peer skips the test on a developer machine, with a hint on how to install it,
but fails it in CI (``CI`` set in the environment): there ``bash .ci/run`` installs every
peer, so a missing one is a broken CI set-up that must not pass silently as a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["INSTALL_HINTS", "in_ci", "require_peer", "shared_dir", "stop_process"]

REPO_DIR = Path(__file__).resolve().parent.parent

#: Debian package that provides each peer binary (see shared/design/PEERS.md).
INSTALL_HINTS: dict[str, str] = {
    "tshark": "Debian package `tshark`",
    "text2pcap": "Debian package `tshark`",
    "sipp": "Debian package `sip-tester` (there is no package called `sipp`)",
    "kamailio": "Debian package `kamailio`",
    "baresip": "Debian package `baresip`",
    "sngrep": "Debian package `sngrep`",
    "dnsmasq": "Debian package `dnsmasq-base` (the binary, no service)",
}


def in_ci() -> bool:
    """True when running under CI (the ``CI`` variable is set to a non-empty value)."""
    return bool(os.environ.get("CI"))


def require_peer(name: str) -> str:
    """Return the absolute path of the peer binary ``name``.

    When it is not on ``PATH``: ``pytest.fail`` under CI, ``pytest.skip`` elsewhere.
    """
    # Daemons such as dnsmasq live in /usr/sbin, which a non-root PATH may not list.
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    path = shutil.which(name, path=search)
    if path is not None:
        return path
    hint = INSTALL_HINTS.get(name, f"a package providing `{name}`")
    message = f"external peer `{name}` not found on PATH; `bash .ci/run` installs it ({hint})"
    if in_ci():
        pytest.fail(f"{message} [CI is set: a missing peer is a failure, not a skip]")
    pytest.skip(message)


def shared_dir() -> Path:
    """Return the shared corpus directory (seeds, torture messages, design notes).

    Order: ``$SIPWRIGHT_SHARED``; ``<repo>/../shared``; ``/work/shared``. The corpus is
    part of the project's test inputs, so its absence fails (never skips) the test.
    """
    env = os.environ.get("SIPWRIGHT_SHARED")
    if env:
        path = Path(env)
        if path.is_dir():
            return path
        pytest.fail(f"SIPWRIGHT_SHARED={env!r} is not a directory")
    for candidate in (REPO_DIR.parent / "shared", Path("/work/shared")):
        if candidate.is_dir():
            return candidate
    pytest.fail(
        "shared corpus directory not found: set SIPWRIGHT_SHARED, or place it at "
        f"{REPO_DIR.parent / 'shared'} or /work/shared"
    )


def free_port(count: int = 1) -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both at once); with
    ``count``, the ``count - 1`` ports after it are free too (``serve --workers N`` binds
    its HTTP port + i for worker i)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            base = int(u.getsockname()[1])
        if base + count > 65536:
            continue
        if all(_free(port) for port in range(base, base + count)):
            return base
    raise RuntimeError("no free port")


def _free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """Stop a peer this test started, by its handle: SIGTERM, then SIGKILL after
    ``grace`` seconds (bounded either way)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
