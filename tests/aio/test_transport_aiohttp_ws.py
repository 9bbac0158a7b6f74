"""SIP over WebSocket on the HTTP port (``GET /ws``, RFC 7118) of an in-process ``Server``.

The client is the ``websockets`` library speaking RFC 7118 (one SIP message per frame,
subprotocol ``sip``); the server side is the real ``sipwright serve`` stack (aiohttp
route, transport manager, proxy, registrar), and the other far end a real UserAgent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from server.serve_proc import ServeProcess
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from sipwright import Request, Response, make_response, parse
from sipwright.aio.ua import UserAgent
from sipwright.server.app import Server
from sipwright.server.config import ServerConfig, load_config
from sipwright.transaction import Destination, TimerConfig

from .test_transports_helpers import Collector, options, run

TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
SIP = [Subprotocol("sip")]
Seen = tuple[bool, bytes, Destination, Destination]


@asynccontextmanager
async def serving(tmp_path: Path, **kw: object) -> AsyncIterator[Server]:
    config = ServerConfig(
        listen=(("UDP", "127.0.0.1", 0),),
        domains=("127.0.0.1",),
        db=tmp_path / "ws.db",
        http=("127.0.0.1", 0),
        drain=0.2,
        **kw,  # type: ignore[arg-type]
    )
    server = Server(config, timers=TIMERS)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def ws_url(server: Server) -> str:
    assert server.http_address is not None
    host, port = server.http_address
    return f"ws://{host}:{port}/ws"


def request(method: str, uri: str, *, cseq: int = 1, extra: str = "", branch: str = "b1") -> str:
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK{branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:bob@127.0.0.1>;tag=ws1\r\n"
        "To: <sip:bob@127.0.0.1>\r\n"
        f"Call-ID: ws-{method.lower()}-1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    )


async def receive(ws: ClientConnection) -> Request | Response:
    frame = await asyncio.wait_for(ws.recv(), 5)
    data = frame.encode() if isinstance(frame, str) else frame
    return parse(data)


def test_options_round_trip_keepalive_and_tap(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as server:
            seen: list[Seen] = []
            server.add_tap(lambda *a: seen.append(a))
            assert server.http_address is not None
            http_port = server.http_address[1]
            # The proxy reports the HTTP port as its WS listener (Via / Record-Route).
            assert server.local_address("WS") == Destination("127.0.0.1", http_port, "WS")
            async with connect(ws_url(server), subprotocols=SIP) as ws:
                assert ws.subprotocol == "sip"
                options = request("OPTIONS", "sip:127.0.0.1")
                await ws.send(options)
                answer = await receive(ws)
                assert isinstance(answer, Response) and answer.status_code == 200
                assert answer.cseq.method == "OPTIONS" and answer.call_id == "ws-options-1"
                # Bad input: answered (400) when it can be, dropped otherwise; the
                # connection stays up (one message per frame: nothing to re-frame).
                await ws.send(bytes(range(256)))
                bad = options.replace("CSeq: 1 OPTIONS\r\n", "CSeq: one OPTIONS\r\n")
                await ws.send(bad)
                rejected = await receive(ws)
                assert isinstance(rejected, Response) and rejected.status_code == 400
                # RFC 5626 §4.4.1 CRLF ping in a frame: a CRLF pong, no SIP.
                await ws.send(b"\r\n\r\n")
                assert await asyncio.wait_for(ws.recv(), 5) == b"\r\n"
            # The tap saw the request in and the answer out, on the HTTP port, as WS
            # (then the two bad messages in and the 400 out).
            assert [out for out, *_ in seen] == [False, True, False, False, True]
            (_, data_in, src, dst), (_, data_out, src_out, dst_out) = seen[:2]
            assert data_in == options.encode()
            assert parse(data_out).status_code == 200  # type: ignore[union-attr]
            assert (dst.host, dst.port, dst.transport) == ("127.0.0.1", http_port, "WS")
            assert src.transport == "WS" and dst_out == src and src_out == dst

    run(main())


def test_handshake_without_sip_subprotocol_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as server:
            with pytest.raises(InvalidStatus) as refused:
                await connect(ws_url(server), open_timeout=5)
            assert refused.value.response.status_code == 400
            other = [Subprotocol("chat")]
            with pytest.raises(InvalidStatus) as refused:
                await connect(ws_url(server), subprotocols=other, open_timeout=5)
            assert refused.value.response.status_code == 400
            http_url = ws_url(server).replace("ws://", "http://")
            headers = {"Sec-WebSocket-Protocol": "sip"}
            async with (
                aiohttp.ClientSession() as session,
                session.get(http_url, headers=headers) as r,
            ):
                assert r.status == 400  # not a WebSocket handshake at all
            # The endpoint still works after the refusals.
            async with connect(ws_url(server), subprotocols=SIP) as ws:
                await ws.send(request("OPTIONS", "sip:127.0.0.1"))
                assert (await receive(ws)).status_code == 200  # type: ignore[union-attr]

    run(main())


def test_websocket_off_means_no_route(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path, websocket=False) as server:
            assert server.local_address("WS") is None
            with pytest.raises(InvalidStatus) as refused:
                await connect(ws_url(server), subprotocols=SIP, open_timeout=5)
            assert refused.value.response.status_code == 404

    run(main())


def test_oversized_frame_is_closed_with_1009(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as server:
            assert server.proxy is not None and server.proxy._tm is not None
            limit = server.proxy._tm.limits.max_message_size
            async with connect(ws_url(server), subprotocols=SIP, max_size=None) as ws:
                big = request("OPTIONS", "sip:127.0.0.1", extra=f"X-Pad: {'a' * limit}\r\n")
                await ws.send(big)
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1009
            await asyncio.sleep(0)
            assert server.proxy._tm.connection_count == 0  # unregistered
            async with connect(ws_url(server), subprotocols=SIP) as ws:
                await ws.send(request("OPTIONS", "sip:127.0.0.1"))
                assert (await receive(ws)).status_code == 200  # type: ignore[union-attr]

    run(main())


def test_ws_registered_user_is_reached_over_its_connection(tmp_path: Path) -> None:
    """A REGISTER over /ws with an unreachable ``.invalid`` Contact (RFC 7118 §5): a
    MESSAGE from a UDP UserAgent to the AOR, and one to the Contact itself (as an
    in-dialog request would be addressed), both arrive over the WebSocket."""

    async def main() -> None:
        async with serving(tmp_path) as server:
            udp = server.local_address("UDP")
            assert udp is not None and server.http_address is not None
            http_port = server.http_address[1]
            proxy = f"sip:{udp.host}:{udp.port}"
            contact = "sip:bob@df7jal23ls0d.invalid;transport=ws"
            async with connect(ws_url(server), subprotocols=SIP) as ws:
                await ws.send(
                    request(
                        "REGISTER",
                        "sip:127.0.0.1",
                        extra=f"Contact: <{contact}>;expires=300\r\n",
                    )
                )
                ok = await receive(ws)
                assert isinstance(ok, Response) and ok.status_code == 200, ok
                async with UserAgent(
                    "sip:alice@127.0.0.1:0",
                    outbound_proxy=proxy,
                    aor="sip:alice@127.0.0.1",
                    timers=TIMERS,
                ) as alice:
                    for target, body in (
                        ("sip:bob@127.0.0.1", "to the AOR"),
                        (contact, "to the contact"),
                    ):
                        sending = asyncio.create_task(alice.message(target, body))
                        incoming = await receive(ws)
                        assert isinstance(incoming, Request) and incoming.method == "MESSAGE"
                        assert incoming.body == body.encode()
                        assert str(incoming.uri) == contact
                        top = incoming.via[0]
                        assert (top.transport, top.port) == ("WS", http_port)
                        await ws.send(bytes(make_response(incoming, 200, to_tag="b0b")).decode())
                        answer = await asyncio.wait_for(sending, 5)
                        assert answer.status_code == 200
            # The connection is gone: its name no longer routes (404, not a hang).
            async with UserAgent(
                "sip:carol@127.0.0.1:0", outbound_proxy=proxy, timers=TIMERS
            ) as carol:
                answer = await asyncio.wait_for(carol.message(contact, "late"), 5)
                assert answer.status_code == 404

    run(main())


def test_websocket_setting_in_toml_and_the_no_websocket_flag(tmp_path: Path) -> None:
    toml = tmp_path / "serve.toml"
    toml.write_text('[http]\nlisten = "127.0.0.1:0"\nwebsocket = false\n')
    assert load_config(toml).websocket is False
    assert load_config().websocket is True  # on by default
    serve = ServeProcess(tmp_path, "--no-websocket")
    try:
        serve.wait_ready()

        async def main() -> int:
            url = f"ws://127.0.0.1:{serve.http_port}/ws"
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, subprotocols=SIP, open_timeout=5)
            return refused.value.response.status_code

        assert run(main()) == 404
    finally:
        assert serve.stop() == 0


def test_pings_keep_a_quiet_connection_and_silence_closes_it() -> None:
    """WebSocket pings (``heartbeat``) answered by the client count as activity for the
    idle sweep; without them a quiet connection is closed after ``idle_timeout``."""

    async def main() -> None:
        async with Collector(idle_timeout=0.6) as server:
            tm = server.manager
            app = web.Application()
            heartbeats: dict[str, float | None] = {"/ping": 0.1, "/quiet": None}
            local: list[Destination] = []

            async def handler(request: web.Request) -> web.StreamResponse:
                beat = heartbeats[request.path]
                return await tm.adopt_websocket(request, local[0], heartbeat=beat)

            app.router.add_get("/ping", handler)
            app.router.add_get("/quiet", handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            port = int(runner.addresses[0][1])
            local.append(Destination("127.0.0.1", port, "WS"))
            tm.add_websocket_endpoint(local[0])
            assert tm.local_address("WS") == local[0] and local[0] in tm.listeners
            try:
                url = f"ws://127.0.0.1:{port}"
                async with connect(f"{url}/ping", subprotocols=SIP) as pinged:
                    await asyncio.sleep(1.5)  # well past idle_timeout
                    assert tm.connection_count == 1
                    assert "connections_idle_closed" not in tm.stats
                    await pinged.send(options())  # and it still carries SIP
                    assert (await server.next()).message.method == "OPTIONS"  # type: ignore[union-attr]
                async with connect(f"{url}/quiet", subprotocols=SIP) as quiet:
                    with pytest.raises(ConnectionClosed):
                        await asyncio.wait_for(quiet.recv(), 5)
                    assert tm.stats.get("connections_idle_closed") == 1
            finally:
                await runner.cleanup()

    run(main())
