"""The dashboard's APIs over HTTP (aiohttp client) on an in-process :class:`Server`.

Far ends are real sipwright UserAgents using the server as outbound proxy; every message
any endpoint (the proxy included) puts on the wire is recorded from the ``sipwright.wire``
log (:class:`Wire`), which is how the tracer's message counts are checked independently.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aio.ua_wire import Wire
from click.testing import CliRunner
from peers import shared_dir

from sipwright.aio.call import IncomingCall
from sipwright.aio.ua import UserAgent
from sipwright.cli import main
from sipwright.registrar import Binding
from sipwright.server.app import Server
from sipwright.server.config import ConfigError, ServerConfig, load_config
from sipwright.server.dashboard import first_bindings
from sipwright.server.location import MemoryLocationStore
from sipwright.server.sqlite_store import SQLiteLocationStore
from sipwright.server.trace import CallTracer
from sipwright.transaction import Destination, TimerConfig

from .serve_proc import ServeProcess

TIMERS = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
DOMAIN = "127.0.0.1"


def seed_bytes() -> bytes:
    """The RFC 3261 §4 INVITE as printed: Content-Length 142, but 145 bytes of body."""
    return (shared_dir() / "seeds" / "examples" / "overview-invite-as-printed.sip").read_bytes()


def run(coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def config(tmp_path: Path, **kw: Any) -> ServerConfig:
    return ServerConfig(
        listen=(("UDP", "127.0.0.1", 0),),
        domains=(DOMAIN,),
        db=tmp_path / "dash.db",
        http=("127.0.0.1", 0),
        drain=0.2,
        **kw,
    )


@asynccontextmanager
async def running(tmp_path: Path, **kw: Any) -> AsyncIterator[tuple[Server, str, str]]:
    """A started server, its SIP proxy URI and its HTTP base URL."""
    server = Server(config(tmp_path, **kw), timers=TIMERS)
    await server.start()
    try:
        udp = server.local_address("UDP")
        assert udp is not None and server.http_address is not None
        host, port = server.http_address
        yield server, f"sip:127.0.0.1:{udp.port}", f"http://{host}:{port}"
    finally:
        await server.close(drain=0.1)


def agent(user: str, proxy: str) -> UserAgent:
    return UserAgent(
        f"sip:{user}@127.0.0.1:0", outbound_proxy=proxy, aor=f"sip:{user}@{DOMAIN}", timers=TIMERS
    )


async def ring_then_answer(call: IncomingCall) -> None:
    await call.ringing()
    await call.answer()


async def get_json(http: aiohttp.ClientSession, url: str, status: int = 200) -> Any:
    async with http.get(url) as resp:
        assert resp.status == status, await resp.text()
        assert resp.content_type == "application/json"
        return await resp.json()


def call_url(base: str, call_id: str) -> str:
    return f"{base}/api/calls/{quote(call_id, safe='')}"


async def read_events(resp: aiohttp.ClientResponse, until: Any, limit: float = 5.0) -> list[Any]:
    """Server-sent events ``(name, data)`` until ``until(events)`` holds (bounded)."""
    events: list[Any] = []
    buffer = b""

    async def loop() -> None:
        nonlocal buffer
        while not until(events):
            chunk = await resp.content.readany()
            assert chunk, "the event stream ended"
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                fields = dict(
                    line.split(": ", 1) for line in block.decode().splitlines() if ": " in line
                )
                if "event" in fields:
                    events.append((fields["event"], json.loads(fields["data"])))

    await asyncio.wait_for(loop(), limit)
    return events


def test_registrations_calls_and_ladder_through_the_api(tmp_path: Path, wire: Wire) -> None:
    async def main() -> None:
        async with (
            running(tmp_path) as (_, proxy, base),
            aiohttp.ClientSession() as http,
            http.get(f"{base}/api/events") as stream,
        ):
            assert stream.headers["Content-Type"] == "text/event-stream"
            first = await read_events(stream, lambda ev: len(ev) >= 3)
            assert {name for name, _ in first} == {"registrations", "calls", "stats"}
            assert dict(first)["registrations"] == {"total": 0, "bindings": []}
            async with agent("alice", proxy) as alice, agent("bob", proxy) as bob:
                before = time.time()
                assert (await alice.register(proxy, expires=300)).status_code == 200
                pushed = await read_events(
                    stream,
                    lambda ev: any(n == "registrations" and d["total"] == 1 for n, d in ev),
                )
                regs = [d for n, d in pushed if n == "registrations"][-1]
                assert regs["bindings"][0]["aor"] == "sip:alice@127.0.0.1"
                assert (await bob.register(proxy, expires=300)).status_code == 200
                bob.on_call = ring_then_answer
                call = await alice.call(f"sip:bob@{DOMAIN}")
                call_id = call.call_id
                assert call_id is not None
                await call.bye()
                await asyncio.sleep(0.3)  # a retransmission, if any, is in both counts

            data = await get_json(http, f"{base}/api/registrations")
            by_aor = {b["aor"]: b for b in data["bindings"]}
            assert set(by_aor) == {"sip:alice@127.0.0.1", "sip:bob@127.0.0.1"}
            assert data["total"] == 2
            alice_b = by_aor["sip:alice@127.0.0.1"]
            assert alice_b["transport"] == "UDP"
            assert before + 299 <= alice_b["expires_at"] <= time.time() + 301
            assert alice_b["contact"].startswith("sip:alice@127.0.0.1:")

            wired = [s for s in wire.sent if s.message.call_id == call_id]
            calls = await get_json(http, f"{base}/api/calls")
            row = next(c for c in calls["calls"] if c["call_id"] == call_id)
            assert row["method"] == "INVITE" and row["final_status"] == 200
            assert row["state"] == "ended"
            assert row["count"] == len(wired)
            assert row["from"] == "sip:alice@127.0.0.1" and row["to"] == "sip:bob@127.0.0.1"

            detail = await get_json(http, call_url(base, call_id))
            labels = [m["label"] for m in detail["messages"]]
            assert len(labels) == len(wired)
            for expected in ("INVITE", "180 Ringing", "200 OK", "ACK", "BYE"):
                assert expected in labels
            assert sorted(labels) == sorted(
                m.method if hasattr(m, "method") else f"{m.status_code} {m.reason}"
                for m in (s.message for s in wired)
            )
            assert detail["messages"][0]["text"].startswith("INVITE sip:bob@127.0.0.1")
            assert [m["index"] for m in detail["messages"]] == list(range(len(wired)))

            async with http.get(call_url(base, call_id) + "/ladder.svg") as resp:
                assert resp.status == 200 and resp.content_type == "image/svg+xml"
                svg = await resp.text()
            assert svg.count('<g class="arrow"') == len(wired)

            for line in ("/", "/validator", "/static/dashboard.js", "/static/style.css"):
                async with http.get(base + line) as resp:
                    assert resp.status == 200
                    if line in ("/", "/validator"):
                        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
                        page = await resp.text()
                        assert "http://" not in page and "https://" not in page  # no CDN
            stats = await get_json(http, f"{base}/api/stats")
            assert stats["requests"]["INVITE"] >= 1 and stats["requests"]["REGISTER"] == 2

    run(main())


def test_tracer_bounds_are_kept_and_counted() -> None:
    """Last ``max_calls`` calls, ``max_messages`` each, ``max_bytes`` per message; every
    cut is counted, nothing vanishes silently."""
    src, dst = Destination("127.0.0.1", 5070, "UDP"), Destination("127.0.0.1", 5060, "UDP")
    clock = iter(range(1000))
    tracer = CallTracer(max_calls=3, max_messages=2, max_bytes=150, clock=lambda: next(clock))

    def msg(call_id: str, extra: str = "") -> bytes:
        return (
            f"OPTIONS sip:x@{DOMAIN} SIP/2.0\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n"
            f"X: {extra}\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    for i in range(5):
        tracer.tap(False, msg(f"c{i}"), src, dst)
    assert [c.call_id for c in tracer.recent()] == ["c4", "c3", "c2"]
    assert tracer.evicted == 2 and len(tracer) == 3
    tracer.tap(False, msg("c2"), src, dst)  # activity moves c2 to the front
    tracer.tap(True, msg("c2", "x" * 200), dst, src)  # the third message of c2: not kept
    assert [c.call_id for c in tracer.recent(2)] == ["c2", "c4"]
    c2 = tracer.get("c2")
    assert c2 is not None and len(c2.entries) == 2 and c2.dropped == 1 and tracer.dropped == 1
    tracer.tap(True, msg("c3", "y" * 200), dst, src)
    c3 = tracer.get("c3")
    assert c3 is not None
    last = c3.entries[-1]
    assert last.truncated and last.size > 150 and len(last.message.data) == 150
    assert last.outbound and last.transport == "UDP" and tracer.truncated == 1
    for junk in (b"", b"\x00\xff", b"garbage\r\n\r\n", b"INVITE sip:a SIP/2.0\r\nCall-ID:\r\n"):
        tracer.tap(False, junk, src, dst)
    assert tracer.unattributed == 4
    assert tracer.version == 5 + 2 + 1 + 4
    fired: list[int] = []
    tracer.on_change = lambda: fired.append(tracer.version)
    tracer.tap(False, msg("c9"), src, dst)
    assert fired == []  # not armed: nobody is waiting
    tracer.rearm()
    tracer.tap(False, msg("c9"), src, dst)
    tracer.tap(False, msg("c9"), src, dst)
    assert len(fired) == 1  # once per rearm, however many messages follow
    flow = tracer.flow(c2)
    assert flow is not None and flow.call_id == "c2" and len(flow.messages) == 2


def test_validator_flags_the_seeds_wrong_content_length(tmp_path: Path) -> None:
    data = seed_bytes()

    async def main() -> None:
        async with running(tmp_path) as (_, _, base), aiohttp.ClientSession() as http:
            # As a browser's text box sends it: LF line ends, converted back to CRLF.
            pasted = data.decode().replace("\r\n", "\n")
            async with http.post(f"{base}/api/validate", json={"message": pasted}) as resp:
                assert resp.status == 200
                result = await resp.json()
            # Byte for byte (a file): the same verdict.
            async with http.post(f"{base}/api/validate", data=data) as resp:
                assert resp.status == 200
                raw = await resp.json()
        for verdict in (result, raw):
            assert verdict["valid"] is False and verdict["kind"] == "request"
            errors = [f for f in verdict["findings"] if f["severity"] == "error"]
            assert [(f["code"], f["rfc"], f["line"]) for f in errors] == [
                ("content-length-mismatch", "RFC 3261 §20.14", 10)
            ]
            assert "142" in errors[0]["message"] and "145" in errors[0]["message"]
        tree = result["tree"]
        assert tree["start_line"]["method"] == "INVITE"
        assert tree["start_line"]["uri"]["host"] == "example.com"
        headers = {h["name"]: h for h in tree["headers"]}
        assert headers["CSeq"]["parsed"]["number"] == 314159
        assert headers["Via"]["parsed"][0]["branch"] == "z9hG4bKnashds8"
        assert headers["Via"]["parsed"][0]["params"] == {"branch": "z9hG4bKnashds8"}
        assert tree["body"]["sdp"]["origin"]["username"] == "Alice"  # RFC 8866 §5.2
        assert headers["From"]["parsed"]["tag"] == "1928301774"
        assert headers["Content-Length"]["parsed"] == 142
        assert tree["body"]["length"] == 142  # what the header claims is what was framed
        assert tree["body"]["text"].startswith("v=0\r\n")

    run(main())


def test_bad_input_gets_a_4xx_json_answer_never_a_500(tmp_path: Path) -> None:
    seed = seed_bytes()
    rng = random.Random(7)
    mutants = []
    for _ in range(150):  # bounded, reproducible mutations of a real message
        data = bytearray(seed)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(data))
            data[at : at + rng.randint(0, 4)] = bytes(rng.randrange(256) for _ in range(3))
        mutants.append(bytes(data))

    async def main() -> None:
        async with running(tmp_path) as (server, _, base), aiohttp.ClientSession() as http:
            url = f"{base}/api/validate"
            json_type = {"Content-Type": "application/json"}
            for body, status in [
                (b"", 400),
                (b"{", 400),
                (b"\xff\xfe", 400),
                (b"[1, 2]", 400),
                (b'{"message": 3}', 400),
                (b'{"message": "OPTIONS sip:a SIP/2.0", "crlf": "yes"}', 400),
                (b'{"message": ""}', 400),
            ]:
                async with http.post(url, data=body, headers=json_type) as resp:
                    assert resp.status == status, body
                    assert "error" in await resp.json()
            async with http.post(url, data=b"x" * (300 * 1024)) as resp:
                assert resp.status == 413 and "error" in await resp.json()
            for bad in (b"\x00\xff\xfe", b"SIP/2.0 999999 x\r\n\r\n", b"INVITE\r\n\r\n", *mutants):
                async with http.post(url, data=bad) as resp:
                    assert resp.status == 200, bad
                    verdict = await resp.json()
                    assert verdict["findings"] or verdict["valid"], bad
            for path, status in [
                ("/api/calls/nope", 404),
                ("/api/calls/no%2Fsuch%25call/ladder.svg", 404),
                ("/api/calls?limit=abc", 400),
                ("/api/calls?limit=0", 400),
            ]:
                async with http.get(base + path) as resp:
                    assert resp.status == status, path
                    assert "error" in await resp.json()
            # A Call-ID with '/', '%' and '@' is reachable (quoted in the path).
            tracer = server.tracer
            assert tracer is not None
            weird = "a/b%c@host"
            text = f"OPTIONS sip:x@{DOMAIN} SIP/2.0\r\nCall-ID: {weird}\r\n\r\n".encode()
            here = Destination("127.0.0.1", 1, "UDP")
            tracer.tap(False, text, here, here)
            detail = await get_json(http, call_url(base, weird))
            assert detail["call_id"] == weird and len(detail["messages"]) == 1
            async with http.get(call_url(base, weird) + "/ladder.svg") as resp:
                assert resp.status == 200
            # Out of parse budget, a changed call keeps its last summary, marked stale.
            tracer.tap(True, text, here, here)
            dashboard = server.dashboard
            assert dashboard is not None
            rows = dashboard.calls(budget=0.0)
            row = next(r for r in rows["calls"] if r["call_id"] == weird)  # type: ignore[union-attr]
            assert row["stale"] is True and row["count"] == 2 and rows["stale"] >= 1
            rows = dashboard.calls()
            row = next(r for r in rows["calls"] if r["call_id"] == weird)  # type: ignore[union-attr]
            assert row["stale"] is False and row["method"] == "OPTIONS" and rows["stale"] == 0
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200  # still serving

    run(main(), 60)


def test_trace_off_and_close_with_an_open_event_stream(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, http_trace=False) as (server, _, base):
            assert server.tracer is None and server._taps == []
            async with aiohttp.ClientSession() as http:
                calls = await get_json(http, f"{base}/api/calls")
                assert calls == {"enabled": False, "total": 0, "calls": [], "stale": 0}
                error = await get_json(http, call_url(base, "x"), 404)
                assert "trace" in error["error"]
        # With tracing on, a page still listening must not hold the stop up.
        server = Server(config(tmp_path), timers=TIMERS)
        await server.start()
        assert server.http_address is not None
        host, port = server.http_address
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://{host}:{port}/api/events") as s,
        ):
            await read_events(s, lambda ev: len(ev) >= 3)
            started = time.monotonic()
            await asyncio.wait_for(server.close(drain=0.1), 5)
            assert time.monotonic() - started < 5
            rest = await asyncio.wait_for(s.content.read(), 5)  # the stream ended
            assert b"event:" not in rest

    run(main())


def test_trace_can_be_disabled_in_the_config_file_and_on_the_command_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "serve.toml"
    path.write_text('[http]\nlisten = "127.0.0.1:0"\ntrace = false\n')
    assert load_config(path).http_trace is False
    assert load_config(None).http_trace is True
    path.write_text("[http]\ntrace = 1\n")
    with pytest.raises(ConfigError, match="trace"):
        load_config(path)
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "--no-trace" in result.output


def test_every_worker_lists_every_registration_and_stops_with_a_page_open(
    tmp_path: Path,
) -> None:
    """``sipwright serve --workers 2``: worker i serves its dashboard on http port + i; the
    bindings come from the shared store, so both list the registration, whichever worker
    took it. SIGTERM with an event stream open still stops cleanly (exit 0)."""
    server = ServeProcess(tmp_path, workers=2)
    try:
        server.wait_ready()

        async def main() -> None:
            async with agent("alice", f"sip:127.0.0.1:{server.sip_port}") as alice:
                registrar = f"sip:127.0.0.1:{server.sip_port}"
                assert (await alice.register(registrar, expires=300)).status_code == 200
            async with aiohttp.ClientSession() as http:
                for worker in (0, 1):
                    base = f"http://127.0.0.1:{server.http_port + worker}"
                    data = await get_json(http, f"{base}/api/registrations")
                    assert [b["aor"] for b in data["bindings"]] == ["sip:alice@127.0.0.1"]
                    stats = await get_json(http, f"{base}/api/stats")
                    assert stats["worker"] == worker
                base = f"http://127.0.0.1:{server.http_port}"
                async with http.get(f"{base}/api/events") as stream:
                    await read_events(stream, lambda ev: len(ev) >= 3)
                    server.proc.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(stream.content.read(), 10)  # the stream ends

        run(main())
    finally:
        code = server.stop()
    assert code == 0, "\n".join(server.lines)


def test_registrations_are_read_with_a_limit_and_a_total(tmp_path: Path) -> None:
    """A big registrar is not read whole several times a second: the first bindings by
    AOR (what the page shows) and the count, from the SQLite store and the memory one."""

    async def main() -> None:
        now = time.time()
        stores = [SQLiteLocationStore(tmp_path / "many.db"), MemoryLocationStore()]
        for store in stores:
            for i in (3, 1, 2, 0):
                b = Binding(f"sip:u{i}@x", f"sip:u{i}@192.0.2.1", now + 60, "c", 1)
                await store.update(b.aor, now, lambda cur, b=b: ((b,), True, None))
            gone = Binding("sip:old@x", "sip:old@192.0.2.1", now - 1, "c", 1)
            await store.update(gone.aor, now - 10, lambda cur, gone=gone: ((gone,), True, None))
            first, total = await first_bindings(store, now, 2)
            assert total == 4 and [b.aor for b in first] == ["sip:u0@x", "sip:u1@x"]
            await store.close()

    run(main())
