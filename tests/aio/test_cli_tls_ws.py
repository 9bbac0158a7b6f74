"""``sipwright options`` over UDP, TCP, TLS, WS and WSS against one real Endpoint.

The Endpoint runs on its own event loop in a background thread (the CLI calls
``asyncio.run`` itself, in process through click's CliRunner, and once as a real
subprocess). Its TLS and WSS listeners use a trustme certificate for 127.0.0.1 and
localhost: ``Endpoint(listen=...)`` cannot pass a server ``ssl_context``, so the test
builds the TransportManager in a ``transport_factory`` and calls ``listen`` itself.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from click.testing import CliRunner

from sipwright.aio.endpoint import Endpoint, TransportLike
from sipwright.aio.transports import Inbound, TransportManager
from sipwright.cli import main
from sipwright.transaction import Destination

trustme = pytest.importorskip("trustme")

ALL = ("UDP", "TCP", "TLS", "WS", "WSS")
TIMEOUT = 10.0


class Certs:
    """A trustme CA, a server context for 127.0.0.1/::1/localhost, and the CA as a PEM file."""

    def __init__(self, tmp: Path) -> None:
        self.ca = trustme.CA()
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "::1", "localhost").configure_cert(self.server)
        self.ca_file = tmp / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def client(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


async def start_server(
    server_ctx: ssl.SSLContext,
    transports: tuple[str, ...] = ALL,
    **manager_kwargs: Any,
) -> tuple[Endpoint, TransportManager, dict[str, Destination]]:
    """An Endpoint listening on 127.0.0.1 (ephemeral ports) on each of ``transports``."""
    managers: list[TransportManager] = []

    def factory(on_message: Callable[[Inbound], None]) -> TransportLike:
        manager = TransportManager(on_message, **manager_kwargs)
        managers.append(manager)
        return manager

    ep = Endpoint(transport_factory=factory)
    await ep.start()
    manager = managers[0]
    bound: dict[str, Destination] = {}
    try:
        for name in transports:
            ctx = server_ctx if name in ("TLS", "WSS") else None
            bound[name] = await manager.listen(name, "127.0.0.1", 0, ssl_context=ctx)
    except BaseException:
        await ep.close()
        raise
    return ep, manager, bound


class ServerThread:
    """``with ServerThread(ctx) as srv``: an Endpoint on its own loop in a daemon thread."""

    def __init__(self, server_ctx: ssl.SSLContext, **manager_kwargs: Any) -> None:
        self._ctx = server_ctx
        self._kwargs = manager_kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.ports: dict[str, int] = {}
        self.endpoint: Endpoint | None = None

    def call(self, coro: Any, timeout: float = TIMEOUT) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        ep, _, bound = self.call(start_server(self._ctx, **self._kwargs))
        self.endpoint = ep
        self.ports = {name: dest.port for name, dest in bound.items()}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.endpoint is not None:
                self.call(self.endpoint.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(TIMEOUT)
            self._loop.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def server(certs: Certs) -> Iterator[ServerThread]:
    with ServerThread(certs.server) as srv:
        yield srv


def uri_for(transport: str, port: int, *, sips: bool = False) -> str:
    if sips:
        return f"sips:127.0.0.1:{port}"
    suffix = "" if transport == "UDP" else f";transport={transport.lower()}"
    return f"sip:127.0.0.1:{port}{suffix}"


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("transport", ALL)
def test_options_each_transport_with_ca_file(
    server: ServerThread, certs: Certs, transport: str
) -> None:
    uri = uri_for(transport, server.ports[transport])
    code, out, err = invoke(["options", uri, "--ca-file", str(certs.ca_file), "--timeout", "10"])
    assert code == 0, (out, err)
    assert out.startswith("SIP/2.0 200 OK"), out
    assert "200" in out


def test_options_sips_uri_is_tls(server: ServerThread, certs: Certs) -> None:
    uri = uri_for("TLS", server.ports["TLS"], sips=True)
    code, out, err = invoke(["options", uri, "--ca-file", str(certs.ca_file), "--timeout", "10"])
    assert code == 0, (out, err)
    assert "SIP/2.0 200 OK" in out


def test_options_sips_transport_ws_is_wss(server: ServerThread, certs: Certs) -> None:
    uri = f"sips:127.0.0.1:{server.ports['WSS']};transport=ws"
    code, out, err = invoke(["options", uri, "--ca-file", str(certs.ca_file), "--timeout", "10"])
    assert code == 0, (out, err)
    assert "SIP/2.0 200 OK" in out


@pytest.mark.parametrize("transport", ["TLS", "WSS"])
def test_options_insecure_skips_verification(server: ServerThread, transport: str) -> None:
    uri = uri_for(transport, server.ports[transport])
    code, out, err = invoke(["options", uri, "--insecure", "--timeout", "10"])
    assert code == 0, (out, err)
    assert "SIP/2.0 200 OK" in out


@pytest.mark.parametrize("transport", ["TLS", "WSS"])
def test_options_untrusted_certificate_fails_clearly(server: ServerThread, transport: str) -> None:
    # Default trust store: the system's, which does not know the trustme CA.
    uri = uri_for(transport, server.ports[transport])
    code, out, err = invoke(["options", uri, "--timeout", "10", "--t1", "0.1"])
    assert code != 0, (out, err)
    assert "certificate verification failed" in err, (out, err)
    assert "--ca-file" in err
    assert "SIP/2.0 200" not in out


def test_options_wrong_ca_file_fails(server: ServerThread, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    uri = uri_for("TLS", server.ports["TLS"])
    code, out, err = invoke(["options", uri, "--ca-file", str(other), "--timeout", "10"])
    assert code == 1, (out, err)
    assert "certificate verification failed" in err


def test_options_missing_ca_file_is_usage_error(server: ServerThread, tmp_path: Path) -> None:
    uri = uri_for("TLS", server.ports["TLS"])
    code, _, err = invoke(["options", uri, "--ca-file", str(tmp_path / "nope.pem")])
    assert code == 2, err


@pytest.mark.parametrize("bad", ["sips:127.0.0.1;transport=udp", "sip:127.0.0.1;transport=sctp"])
def test_options_impossible_transport_is_usage_error(bad: str) -> None:
    code, _, err = invoke(["options", bad])
    assert code == 2, err


@pytest.mark.parametrize("transport", ["TLS", "WSS"])
def test_options_subprocess(server: ServerThread, certs: Certs, transport: str) -> None:
    uri = uri_for(transport, server.ports[transport])
    proc = subprocess.run(
        [sys.executable, "-m", "sipwright", "options", uri, "--ca-file", str(certs.ca_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stdout.startswith("SIP/2.0 200 OK")


def test_send_over_wss_with_ca_file(server: ServerThread, certs: Certs, tmp_path: Path) -> None:
    msg = (
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/WSS placeholder.invalid;branch=z9hG4bKx\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:a@example.com>;tag=1\r\n"
        "To: <sip:127.0.0.1>\r\n"
        "Call-ID: cli-wss-send\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    path = tmp_path / "o.sip"
    path.write_text(msg)
    to = f"127.0.0.1:{server.ports['WSS']}"
    args = ["send", str(path), "--to", to, "--transport", "wss", "--ca-file", str(certs.ca_file)]
    code, out, err = invoke([*args, "--timeout", "10"])
    assert code == 0, (out, err)
    assert "SIP/2.0 200 OK" in out
