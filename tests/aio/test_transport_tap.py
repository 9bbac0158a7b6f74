"""``TransportManager.tap``: every message in and out, as bytes, on UDP, TCP and WS."""

from __future__ import annotations

import pytest

from sipwright import Request, make_response
from sipwright.transaction import Destination

from .test_transports_helpers import Collector, options, run

Seen = tuple[bool, bytes, Destination, Destination]


@pytest.mark.parametrize("transport", ["UDP", "TCP", "WS"])
def test_tap_sees_each_message_once_with_its_addresses(transport: str) -> None:
    async def main() -> None:
        server_seen: list[Seen] = []
        client_seen: list[Seen] = []
        async with Collector() as server, Collector() as client:
            server.manager.tap = lambda *a: server_seen.append(a)
            client.manager.tap = lambda *a: client_seen.append(a)
            local = await server.manager.listen(transport, "127.0.0.1", 0)
            dest = Destination("127.0.0.1", local.port, transport)
            via = f"SIP/2.0/{transport} client.invalid;branch=z9hG4bK-tap"
            request = options(via=via)
            await client.manager.send(request, dest)
            inbound = await server.next()
            assert isinstance(inbound.message, Request)
            response = bytes(make_response(inbound.message, 200))
            await server.manager.send(response, inbound.source, connection_id=inbound.connection_id)
            await client.next()
            # The client saw its request go out and the response come in; the server the
            # reverse: exactly one entry per message, the bytes as on the wire.
            assert [(out, data) for out, data, _, _ in client_seen] == [
                (True, request),
                (False, response),
            ]
            assert [(out, data) for out, data, _, _ in server_seen] == [
                (False, request),
                (True, response),
            ]
            _, _, src, dst = server_seen[0]
            assert (dst.host, dst.port, dst.transport) == ("127.0.0.1", local.port, transport)
            assert (src.host, src.transport) == ("127.0.0.1", transport)
            _, _, src_out, dst_out = server_seen[1]
            assert (src_out.port, dst_out) == (local.port, src)

    run(main())
