"""TLS (§18, §26.2.1) and WebSocket (RFC 7118) transports with a test-made certificate."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from sipwright import Request, Response, make_response
from sipwright.aio.transports import TransportError
from sipwright.transaction import Destination

from .test_transports_helpers import TIMEOUT, Collector, options, run

WS_VIA = "SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-w{n}"


def _contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts for 127.0.0.1 / ::1 / localhost, from trustme or openssl."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    client = ssl.create_default_context()
    try:
        import trustme
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("needs trustme (PyPI) or the openssl command")
        key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-keyout", str(key), "-out", str(crt), "-subj", "/CN=localhost",
             "-addext", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        server.load_cert_chain(crt, key)
        client.load_verify_locations(crt)
    else:
        ca = trustme.CA()
        ca.issue_cert("127.0.0.1", "::1", "localhost").configure_cert(server)
        ca.configure_trust(client)
    return server, client


def test_tls_round_trip(tmp_path: Path) -> None:
    server_ctx, client_ctx = _contexts(tmp_path)

    async def main() -> None:
        async with Collector() as server, Collector(client_ssl_context=client_ctx) as client:
            local = await server.manager.listen("TLS", "127.0.0.1", 0, ssl_context=server_ctx)
            assert local.transport == "TLS"
            dest = Destination("127.0.0.1", local.port, "TLS")
            via = "SIP/2.0/TLS client.invalid;branch=z9hG4bK-tls"
            cid = await client.manager.send(options(via=via), dest)
            inbound = await server.next()
            assert isinstance(inbound.message, Request)
            assert inbound.source.transport == "TLS"
            assert inbound.message.via[0].received == "127.0.0.1"
            await server.manager.send(
                bytes(make_response(inbound.message, 200)),
                inbound.source,
                connection_id=inbound.connection_id,
            )
            reply = await client.next()
            assert isinstance(reply.message, Response) and reply.message.status_code == 200
            assert reply.connection_id == cid

    run(main())


def test_tls_untrusted_certificate_fails(tmp_path: Path) -> None:
    server_ctx, _ = _contexts(tmp_path)

    async def main() -> None:
        strict = ssl.create_default_context()  # system trust store: does not know our CA
        async with Collector() as server, Collector(client_ssl_context=strict) as client:
            local = await server.manager.listen("TLS", "127.0.0.1", 0, ssl_context=server_ctx)
            with pytest.raises(TransportError):
                await client.manager.send(options(), Destination("127.0.0.1", local.port, "TLS"))
            await asyncio.sleep(0.05)
            assert server.queue.empty()

    run(main())


def test_ws_round_trip_with_sip_subprotocol() -> None:
    async def main() -> None:
        async with Collector() as server, Collector() as client:
            local = await server.manager.listen("WS", "127.0.0.1", 0)
            dest = Destination("127.0.0.1", local.port, "WS")
            cid = await client.manager.send(options(via=WS_VIA.format(n=1)), dest)
            assert cid is not None
            assert await client.manager.send(options(via=WS_VIA.format(n=2), cseq=2), dest) == cid
            a, b = await server.next(), await server.next()
            assert a.connection_id == b.connection_id
            assert a.source.transport == "WS" and a.local == local
            assert isinstance(a.message, Request)
            assert a.message.via[0].received == "127.0.0.1"
            await server.manager.send(
                bytes(make_response(a.message, 200)), a.source, connection_id=a.connection_id
            )
            reply = await client.next()
            assert isinstance(reply.message, Response)
            assert reply.connection_id == cid

    run(main())


def test_ws_malformed_frame_answered_connection_kept() -> None:
    async def main() -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        async with Collector() as server:
            local = await server.manager.listen("WS", "127.0.0.1", 0)
            async with connect(
                f"ws://127.0.0.1:{local.port}/", subprotocols=[Subprotocol("sip")]
            ) as ws:
                assert ws.subprotocol == "sip"
                await ws.send(options(via=WS_VIA.format(n=3), content_length="9").decode())
                answer = await asyncio.wait_for(ws.recv(), TIMEOUT)
                assert isinstance(answer, str) and answer.startswith("SIP/2.0 400 ")
                await ws.send(options(via=WS_VIA.format(n=4)))  # binary frame
                inbound = await server.next()
                assert isinstance(inbound.message, Request)

    run(main())


def test_ws_refused_without_sip_subprotocol() -> None:
    async def main() -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        async with Collector() as server:
            local = await server.manager.listen("WS", "127.0.0.1", 0)
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"ws://127.0.0.1:{local.port}/", open_timeout=TIMEOUT):
                    pass
            assert info.value.response.status_code == 400
            assert server.manager.connection_count == 0

    run(main())


def test_wss_round_trip_ipv6(tmp_path: Path) -> None:
    server_ctx, client_ctx = _contexts(tmp_path)

    async def main() -> None:
        async with Collector() as server, Collector(client_ssl_context=client_ctx) as client:
            local = await server.manager.listen("WSS", "::1", 0, ssl_context=server_ctx)
            assert local.host == "::1"
            dest = Destination("::1", local.port, "WSS")
            await client.manager.send(options(via=WS_VIA.format(n=5).replace("/WS", "/WSS")), dest)
            inbound = await server.next()
            assert inbound.source.transport == "WSS"
            assert inbound.source.host == "::1"

    run(main())


def test_listen_tls_needs_context() -> None:
    async def main() -> None:
        async with Collector() as c:
            with pytest.raises(ValueError):
                await c.manager.listen("TLS", "127.0.0.1", 0)
            with pytest.raises(ValueError):
                await c.manager.listen("SCTP", "127.0.0.1", 0)

    run(main())
