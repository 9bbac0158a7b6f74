"""An Endpoint serves TLS and WSS itself when given a server ssl_context (RFC 3261 §26.2)."""

from __future__ import annotations

import asyncio
import ssl

import trustme

import sipwright
from sipwright.aio.endpoint import Endpoint
from sipwright.aio.transports import TransportManager
from sipwright.transaction import Destination


def _options(uri: str, transport: str) -> sipwright.Request:
    return sipwright.Request(
        "OPTIONS",
        uri,
        [
            ("From", f"<sip:probe@127.0.0.1>;tag={sipwright.new_tag()}"),
            ("To", f"<{uri}>"),
            ("Call-ID", sipwright.new_call_id()),
            ("CSeq", "1 OPTIONS"),
        ],
    )


def test_endpoint_listens_on_tls_and_wss_with_its_ssl_context() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def main() -> None:
        async with Endpoint(
            [("TLS", "127.0.0.1", 0), ("WSS", "127.0.0.1", 0)], ssl_context=server_ctx
        ) as server:
            tls = server.transports.local_address("TLS")
            wss = server.transports.local_address("WSS")
            assert tls is not None and wss is not None

            def factory(on_message):  # type: ignore[no-untyped-def]
                return TransportManager(on_message, client_ssl_context=client_ctx)

            async with Endpoint(transport_factory=factory) as client:
                for bound in (tls, wss):
                    dest = Destination("127.0.0.1", bound.port, bound.transport)
                    uri = f"sip:127.0.0.1:{bound.port};transport={bound.transport.lower()}"
                    resp = await asyncio.wait_for(
                        client.request(_options(uri, bound.transport), dest), 10
                    )
                    assert resp.status_code == 200, (bound.transport, resp)
                    assert resp.via[0].transport == bound.transport

    asyncio.run(asyncio.wait_for(main(), 30))
