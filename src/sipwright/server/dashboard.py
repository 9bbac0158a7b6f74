"""The web dashboard of ``sipwright serve``: pages, JSON APIs and live updates (aiohttp).

Routes, added to the HTTP app that also serves ``/metrics`` (:class:`Dashboard.install`):

* ``GET /`` — registrations, calls, counters and, for a chosen call, its ladder;
* ``GET /validator`` — paste a message, see its parse tree and lint findings;
* ``GET /api/registrations``, ``/api/calls``, ``/api/calls/{call_id}`` (messages),
  ``/api/calls/{call_id}/ladder.svg``, ``/api/stats``, ``POST /api/validate``;
* ``GET /api/events`` — server-sent events (``registrations``, ``calls``, ``stats``),
  each a JSON snapshot sent only when it changed. SSE, not a WebSocket: the updates only
  flow one way, the browser reconnects by itself, and ``/ws`` is SIP (RFC 7118).

One pusher task runs while at least one page listens: it reads the location store every
250 ms (longer when the read is slow, so a big store does not eat the worker), the call
tracer when it changed (:class:`~sipwright.server.trace.CallTracer` wakes it on the first
message after a push) and the counters every second. Nothing runs for the dashboard on
the SIP path beyond the tracer's tap, and nothing at all when no page is open.

Bad input from a browser or a script (unknown call, malformed JSON, a message that does
not parse, a huge body) gets a 4xx JSON answer ``{"error": ...}``; a message that does not
parse is not an error of the request: the validator answers 200 with the parse error as a
finding (what ``sipwright lint`` prints). The pages send a Content-Security-Policy that
allows only this origin, so a message's text shown in a page can never run as script.

With ``--workers N`` each worker serves its own dashboard on ``http port + index``:
registrations come from the shared store (every worker lists all of them), calls and
counters are the worker's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web

from ..errors import SipError
from ..headers.params import Params
from ..ladder import render_svg
from ..message import Message, Request, Response
from ..registrar import Binding
from ..uri import SipUri, parse_uri
from ..validate import validate
from .location import LocationStore
from .trace import CallTracer, TracedCall

if TYPE_CHECKING:
    from .app import Server

__all__ = [
    "Dashboard",
    "binding_json",
    "call_detail",
    "call_summary",
    "crlf",
    "describe",
    "first_bindings",
    "parse_tree",
    "validate_json",
]

log = logging.getLogger("sipwright.server.dashboard")

#: Largest message the validator takes (a SIP message over UDP is far smaller).
MAX_VALIDATE_BYTES = 256 * 1024
#: Registrations sent to a page (the total is always given).
MAX_REGISTRATIONS = 1000
#: Calls sent to a page in one push (most recent first); the API has ``?limit=``.
PUSH_CALLS = 100
#: Seconds a push may spend parsing and linting calls that changed (see ``calls``).
CALLS_BUDGET = 0.02
#: Call-list pushes wait 50 times what the last one took (at most ~2% of the worker).
CALLS_COST_FACTOR = 50
API_CALLS_BUDGET = 0.05
REGISTRATION_POLL = 0.25
STATS_INTERVAL = 1.0
#: At most this often a page gets a push, however busy the server is.
MIN_PUSH_GAP = 0.1
#: Pending pushes a slow page may have; beyond, it is disconnected (it reconnects and
#: gets a fresh snapshot: nothing is lost, only skipped).
QUEUE_SIZE = 32

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_STATIC = {
    "dashboard.js": "text/javascript",
    "validator.js": "text/javascript",
    "style.css": "text/css",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _json(data: object) -> web.Response:
    return web.json_response(data, dumps=_dumps)


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def _api(handler: Handler) -> Handler:
    """JSON errors for an API handler: HTTP errors as ``{"error"}``, and a bug logged and
    answered 500 (the server keeps running)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return _error(exc.status, exc.reason)
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("dashboard handler failed", extra={"fields": {"path": request.path}})
            return _error(500, "internal error (logged)")

    return wrapped


# -- JSON views ------------------------------------------------------------------------


def binding_json(binding: Binding) -> dict[str, object]:
    """One registration as the dashboard shows it (§10.3: AOR, contact, expiry). The
    countdown is the page's (``expires_at`` against the server's ``now``), so an unchanged
    binding gives the same JSON and is not pushed again."""
    flow = binding.flow
    transport = flow.transport if flow is not None else _uri_transport(binding.contact)
    return {
        "aor": binding.aor,
        "contact": binding.contact,
        "expires_at": binding.expires_at,
        "q": binding.q,
        "transport": transport,
        "source": f"{flow.host}:{flow.port}" if flow is not None else None,
        "instance": binding.instance,
        "reg_id": binding.reg_id,
        "path": list(binding.path),
        "user_agent": binding.user_agent,
        "updated_at": binding.updated_at,
    }


async def first_bindings(store: LocationStore, now: float, limit: int) -> tuple[list[Binding], int]:
    """The first ``limit`` unexpired bindings by AOR, and how many there are in all.

    Read with a limit: reading and decoding every binding of a big registrar would block
    the worker (about 9 ms per thousand here) several times a second while a page is open.
    """
    return await store.all_bindings(now, limit), await store.count(now)


def _uri_transport(contact: str) -> str:
    """The transport a Contact names: its ``transport`` parameter, ``sips:`` → TLS, else
    UDP (§19.1.2), read by the URI parser (memoised) rather than by hand."""
    try:
        uri = parse_uri(contact)
    except SipError:
        return "UDP"
    if not isinstance(uri, SipUri):
        return "UDP"
    return (uri.transport or ("TLS" if uri.scheme == "sips" else "UDP")).upper()


def call_summary(
    tracer: CallTracer, call: TracedCall, *, compute: bool = True
) -> dict[str, object]:
    """A call's row in the list: what the ladder module makes of its messages.

    ``compute=False``: use the last computed flow even when the call got messages since
    (``stale`` is then true): parsing and linting a busy server's calls is what a push
    must not spend unbounded time on."""
    if compute:
        flow, current = tracer.flow(call), True
    else:
        flow, current = tracer.cached_flow(call)
    row: dict[str, object] = {
        "call_id": call.call_id,
        "count": len(call),
        "dropped": call.dropped,
        "first": call.first_time,
        "last": call.last_time,
        "stale": not current,
    }
    if flow is None:
        row.update(method=None, state="unparsed" if current else "pending")
        return row
    row.update(
        method=flow.method,
        final_status=flow.final_status,
        state=flow.state,
        start=flow.start,
        end=flow.end,
        duration=flow.duration,
        setup_time=flow.setup_time,
        retransmissions=flow.retransmissions,
        columns=[str(c) for c in flow.columns],
    )
    first = flow.messages[0].message if flow.messages else None
    if first is not None:
        row["from"] = _safe(lambda: str(first.from_.uri) if first.from_ else None)
        row["to"] = _safe(lambda: str(first.to.uri) if first.to else None)
    return row


def _safe(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except SipError:
        return None


def call_detail(tracer: CallTracer, call: TracedCall) -> dict[str, object]:
    """One call with every message, in the ladder's order (``index`` is the arrow's
    ``data-index``); the text is what was on the wire, maybe truncated."""
    out = call_summary(tracer, call)
    flow = tracer.flow(call)
    entries = {id(e.message): e for e in call.entries}
    rows: list[dict[str, object]] = []
    for m in flow.messages if flow is not None else ():
        entry = entries.get(id(m.traced))
        rows.append(
            {
                "index": m.index,
                "time": m.traced.time,
                "offset": m.offset,
                "label": m.label,
                "outbound": entry.outbound if entry is not None else None,
                "transport": m.traced.source.transport,
                "source": m.source_column,
                "destination": m.destination_column,
                "retransmission": m.retransmission,
                "size": entry.size if entry is not None else len(m.traced.data),
                "truncated": entry.truncated if entry is not None else False,
                "error": m.error,
                "findings": [{"severity": f.severity, **f.as_dict()} for f in m.findings],
                "first_line": _first_line(m.traced.data),
                "text": m.text,
            }
        )
    out["messages"] = rows
    return out


def _first_line(data: bytes) -> str:
    end = data.find(b"\n")
    line = data if end < 0 else data[:end]
    return line.rstrip(b"\r").decode("utf-8", "replace")[:200]


# -- the validator's parse tree --------------------------------------------------------

#: Header key -> the Message property that parses it (the typed headers, §20).
_TYPED: dict[str, str] = {
    "via": "via",
    "from": "from_",
    "to": "to",
    "call-id": "call_id",
    "cseq": "cseq",
    "contact": "contact",
    "route": "route",
    "record-route": "record_route",
    "max-forwards": "max_forwards",
    "content-length": "content_length",
    "content-type": "media_type",
    "expires": "expires",
    "min-expires": "min_expires",
    "authorization": "authorization",
    "proxy-authorization": "proxy_authorization",
    "www-authenticate": "www_authenticate",
    "proxy-authenticate": "proxy_authenticate",
    "allow": "allow",
    "supported": "supported",
    "require": "require",
    "proxy-require": "proxy_require",
    "unsupported": "unsupported",
    "event": "event",
}
_EXTRA_PROPS = ("params", "tag", "branch", "received", "rport", "is_wildcard")


def describe(value: object, depth: int = 0) -> object:
    """A JSON view of a typed header value (URIs, Via, name-addr, CSeq, SDP…): public
    fields and slots, recursively, with the text as written."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth > 8:
        return str(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(k): describe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if value and all(isinstance(p, tuple) and len(p) == 2 for p in value):
            return {str(k): describe(v, depth + 1) for k, v in value}
        return [describe(v, depth + 1) for v in value]
    if isinstance(value, Params):
        return {str(k): v for k, v in value.items()}
    out: dict[str, object] = {"text": str(value)}
    names: list[str] = []
    if dataclasses.is_dataclass(value):
        names = [f.name for f in dataclasses.fields(value)]
    for cls in type(value).__mro__:
        names.extend(getattr(cls, "__slots__", ()))
    for name in [*names, *_EXTRA_PROPS]:
        if name.startswith("_") or name in out:
            continue
        try:
            attr = getattr(value, name)
        except AttributeError:
            continue
        except (SipError, ValueError) as exc:  # a lazily parsed part that does not parse
            out[name] = {"error": str(exc)}
            continue
        if callable(attr):
            continue
        out[name] = describe(attr, depth + 1)
    return out


def _start_line(msg: Message) -> dict[str, object]:
    if isinstance(msg, Request):
        line: dict[str, object] = {
            "kind": "request",
            "method": msg.method,
            "uri_text": msg.uri_text,
            "version": msg.version,
        }
        try:
            line["uri"] = describe(msg.uri)
        except SipError as exc:
            line["uri"] = {"error": str(exc)}
        return line
    assert isinstance(msg, Response)
    return {
        "kind": "response",
        "version": msg.version,
        "status": msg.status_code,
        "reason": msg.reason,
    }


def parse_tree(msg: Message) -> dict[str, object]:
    """The message as a tree: start line, header lines (each typed header's parsed value
    on its first line), body (with the SDP, RFC 8866, when there is one)."""
    headers: list[dict[str, object]] = []
    seen: set[str] = set()
    for field in msg.headers.lines():
        row: dict[str, object] = {"name": field.name.strip(), "value": field.value.strip()}
        prop = _TYPED.get(field.key)
        if prop is not None and field.key not in seen:
            seen.add(field.key)
            try:
                row["parsed"] = describe(getattr(msg, prop))
            except SipError as exc:
                row["parsed"] = {"error": str(exc)}
        headers.append(row)
    body = msg.body
    tree_body: dict[str, object] = {
        "length": len(body),
        "text": body.decode("utf-8", "replace"),
    }
    try:
        sdp = msg.sdp
        if sdp is not None:
            tree_body["sdp"] = describe(sdp)
    except SipError as exc:
        tree_body["sdp"] = {"error": str(exc)}
    return {"start_line": _start_line(msg), "headers": headers, "body": tree_body}


def validate_json(data: bytes) -> dict[str, object]:
    """What ``POST /api/validate`` answers: verdict, findings (RFC sections), tree."""
    report = validate(data)
    tree: dict[str, object] | None = None
    if report.message is not None:
        tree = parse_tree(report.message)
    return {
        "valid": report.valid,
        "kind": report.kind,
        "size": len(data),
        "findings": [
            {
                "severity": f.severity,
                "line": f.line,
                "code": f.code,
                "message": f.message,
                "rfc": f.rfc,
            }
            for f in report.findings
        ],
        "tree": tree,
    }


def crlf(data: bytes) -> bytes:
    """Bare LF line ends as CRLF (a browser's textarea always gives LF, §7 wants CRLF)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# -- the dashboard ---------------------------------------------------------------------


class _Subscriber:
    __slots__ = ("fresh", "queue")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_SIZE)
        self.fresh = True


class Dashboard:
    """The pages and APIs of one worker; :meth:`install` before the HTTP server starts,
    :meth:`close` before it stops (ends the event streams, which would hold it open)."""

    def __init__(self, server: Server, tracer: CallTracer | None) -> None:
        self.server = server
        self.tracer = tracer
        self._subscribers: set[_Subscriber] = set()
        self._pusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False
        self._files: dict[str, bytes] = {}
        self._last: dict[str, bytes] = {}
        self._prev_stats: tuple[float, dict[str, int], dict[str, int]] | None = None
        #: Seconds the pusher has spent working (reads, JSON, queueing): its whole cost.
        self.busy = 0.0
        if tracer is not None:
            tracer.on_change = self._wake.set

    # -- wiring ------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        static = resources.files("sipwright.server") / "static"
        for name in ("dashboard.html", "validator.html", *_STATIC):
            self._files[name] = (static / name).read_bytes()
        router = app.router
        router.add_get("/", self._page("dashboard.html"))
        router.add_get("/validator", self._page("validator.html"))
        for name, kind in _STATIC.items():
            router.add_get(f"/static/{name}", self._asset(name, kind))
        router.add_get("/api/registrations", _api(self._registrations))
        router.add_get("/api/stats", _api(self._stats))
        router.add_get("/api/calls", _api(self._calls))
        router.add_get(r"/api/calls/{call_id:.+}/ladder.svg", _api(self._ladder))
        router.add_get(r"/api/calls/{call_id:.+}", _api(self._call))
        router.add_post("/api/validate", _api(self._validate))
        router.add_get("/api/events", self._events)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.close()

    async def close(self) -> None:
        """End every event stream and the pusher."""
        self._closed = True
        for sub in list(self._subscribers):
            self._drop(sub)
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None
        if self.tracer is not None:
            self.tracer.on_change = None

    def _page(self, name: str) -> Handler:
        async def page(request: web.Request) -> web.StreamResponse:
            return web.Response(
                body=self._files[name],
                content_type="text/html",
                charset="utf-8",
                headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
            )

        return page

    def _asset(self, name: str, kind: str) -> Handler:
        async def asset(request: web.Request) -> web.StreamResponse:
            return web.Response(
                body=self._files[name],
                content_type=kind,
                charset="utf-8",
                headers={"Cache-Control": "no-cache"},
            )

        return asset

    # -- data --------------------------------------------------------------------------

    async def registrations(self) -> dict[str, object]:
        store = self.server.store
        if store is None:
            return {"total": 0, "bindings": []}
        bindings, total = await first_bindings(store, self.server.clock(), MAX_REGISTRATIONS)
        return {"total": total, "bindings": [binding_json(b) for b in bindings]}

    def calls(
        self, limit: int | None = PUSH_CALLS, budget: float | None = None
    ) -> dict[str, object]:
        """The call list. ``budget``: seconds this may spend parsing calls that changed
        (most recent first); the rest keep their last summary, marked ``stale``."""
        tracer = self.tracer
        if tracer is None:
            return {"enabled": False, "total": 0, "calls": [], "stale": 0}
        deadline = None if budget is None else time.monotonic() + budget
        rows = []
        for call in tracer.recent(limit):
            compute = deadline is None or time.monotonic() < deadline
            rows.append(call_summary(tracer, call, compute=compute))
        return {
            "enabled": True,
            "total": len(tracer),
            "max_calls": tracer.max_calls,
            "evicted": tracer.evicted,
            "dropped": tracer.dropped,
            "truncated": tracer.truncated,
            "unattributed": tracer.unattributed,
            "stale": sum(1 for r in rows if r["stale"]),
            "calls": rows,
        }

    async def stats(self) -> dict[str, object]:
        snap = await self.server.snapshot()
        now = time.monotonic()
        requests = dict(snap.requests_by_method)
        responses = dict(snap.responses_by_class)
        rates: dict[str, float] = {}
        prev = self._prev_stats
        if prev is not None and now > prev[0]:
            span = now - prev[0]
            rates["requests"] = (sum(requests.values()) - sum(prev[1].values())) / span
            rates["responses"] = (sum(responses.values()) - sum(prev[2].values())) / span
            for method, count in requests.items():
                rates[method] = (count - prev[1].get(method, 0)) / span
        self._prev_stats = (now, requests, responses)
        return {
            "now": self.server.clock(),
            "worker": snap.worker,
            "uptime": snap.uptime,
            "requests": requests,
            "responses": responses,
            "forwarded": snap.forwarded,
            "stateless_forwards": snap.stateless_forwards,
            "dropped": snap.dropped,
            "errors": snap.errors,
            "active_transactions": snap.active_transactions,
            "active_contexts": snap.active_contexts,
            "bindings": snap.bindings,
            "registrar": dict(snap.registrar_outcomes),
            "auth": dict(snap.auth_outcomes),
            "rates": rates,
            "dashboard_busy_seconds": round(self.busy, 3),
        }

    # -- API handlers ------------------------------------------------------------------

    async def _registrations(self, request: web.Request) -> web.StreamResponse:
        return _json({"now": self.server.clock(), **await self.registrations()})

    async def _stats(self, request: web.Request) -> web.StreamResponse:
        return _json(await self.stats())

    async def _calls(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("limit", "")
        limit = PUSH_CALLS
        if raw:
            if not raw.isdigit() or not 0 < int(raw) <= 100_000:
                return _error(400, "limit: a positive integer")
            limit = int(raw)
        # Bounded like a push: a request for 500 busy calls must not stall the proxy.
        return _json(self.calls(limit, budget=API_CALLS_BUDGET))

    def _find(self, request: web.Request) -> TracedCall:
        if self.tracer is None:
            raise web.HTTPNotFound(reason="call tracing is off ([http] trace = false)")
        call = self.tracer.get(request.match_info["call_id"])
        if call is None:
            raise web.HTTPNotFound(reason="no such call (evicted, or never seen)")
        return call

    async def _call(self, request: web.Request) -> web.StreamResponse:
        call = self._find(request)
        assert self.tracer is not None
        return _json(call_detail(self.tracer, call))

    async def _ladder(self, request: web.Request) -> web.StreamResponse:
        call = self._find(request)
        assert self.tracer is not None
        flow = self.tracer.flow(call)
        if flow is None:
            return _error(422, "no message of this call parses as SIP")
        return web.Response(
            text=render_svg(flow),
            content_type="image/svg+xml",
            headers={"Content-Security-Policy": _CSP},
        )

    async def _validate(self, request: web.Request) -> web.StreamResponse:
        too_big = _error(413, f"a message of at most {MAX_VALIDATE_BYTES} bytes")
        if (request.content_length or 0) > MAX_VALIDATE_BYTES:
            return too_big
        raw = b""
        while len(raw) <= MAX_VALIDATE_BYTES:  # bounded: at most one read past the limit
            chunk = await request.content.read(MAX_VALIDATE_BYTES + 1 - len(raw))
            if not chunk:
                break
            raw += chunk
        if len(raw) > MAX_VALIDATE_BYTES:
            return too_big
        if request.content_type == "application/json":
            try:
                doc = json.loads(raw)
            except ValueError:
                return _error(400, "the body is not valid JSON")
            if not isinstance(doc, dict) or not isinstance(doc.get("message"), str):
                return _error(400, 'expected {"message": "...", "crlf": true}')
            normalise = doc.get("crlf", True)
            if not isinstance(normalise, bool):
                return _error(400, "crlf: true or false")
            data = doc["message"].encode("utf-8", "surrogatepass")
        else:
            data = raw
            normalise = request.query.get("crlf", "0") in ("1", "true", "yes")
        if normalise:
            data = crlf(data)
        if not data:
            return _error(400, "an empty message")
        return _json(validate_json(data))

    # -- live updates ------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self._closed:
            return _error(503, "shutting down")
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        sub = _Subscriber()
        self._subscribers.add(sub)
        self._wake.set()
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.get_running_loop().create_task(self._push_loop())
        try:
            await resp.write(b"retry: 1000\n\n")
            while True:
                item = await sub.queue.get()
                if item is None:
                    break
                await resp.write(item)
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self._subscribers.discard(sub)
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp

    def _drop(self, sub: _Subscriber) -> None:
        self._subscribers.discard(sub)
        with contextlib.suppress(asyncio.QueueFull):
            sub.queue.put_nowait(None)

    async def _push_loop(self) -> None:
        """Push what changed to every page. Each kind of update is spaced by its cost:
        a read that took ``t`` waits ``20 t`` before the next one (``50 t`` for the call
        list), so a big store or a busy tracer gets a few percent of the worker at most,
        and never more often than the base interval."""
        next_regs = soonest_regs = next_calls = next_stats = 0.0
        calls_version = regs_version = -1
        while self._subscribers and not self._closed:
            self._wake.clear()
            tracer = self.tracer
            if tracer is not None:
                tracer.rearm()
            version = tracer.version if tracer is not None else 0
            fresh = any(s.fresh for s in self._subscribers)
            updates: dict[str, bytes] = {}
            began = time.monotonic()
            try:
                now = began
                # A traced message may be a REGISTER: read the store now (its 200 is sent
                # after the binding is committed), not at the next poll.
                if fresh or now >= next_regs or (version != regs_version and now >= soonest_regs):
                    regs_version = version
                    updates["registrations"] = _event("registrations", await self.registrations())
                    soonest_regs = _after(now, MIN_PUSH_GAP)
                    next_regs = max(soonest_regs, now + REGISTRATION_POLL)
                now = time.monotonic()
                if fresh or (version != calls_version and now >= next_calls):
                    calls = self.calls(budget=CALLS_BUDGET)
                    # Rows left stale (out of budget): come back for them even if no
                    # message arrives in the meantime.
                    calls_version = -1 if calls["stale"] else version
                    updates["calls"] = _event("calls", calls)
                    next_calls = _after(now, MIN_PUSH_GAP, CALLS_COST_FACTOR)
                now = time.monotonic()
                if fresh or now >= next_stats:
                    updates["stats"] = _event("stats", await self.stats())
                    next_stats = _after(now, STATS_INTERVAL)
            except Exception:
                log.exception("dashboard push failed")
                next_regs = next_stats = time.monotonic() + STATS_INTERVAL
            self._broadcast(updates)
            self.busy += time.monotonic() - began
            await asyncio.sleep(MIN_PUSH_GAP)
            due = min(next_regs, next_stats)
            if tracer is not None and tracer.version != calls_version:
                due = min(due, next_calls, soonest_regs)
            timeout = max(0.0, due - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        self._pusher = None

    def _broadcast(self, updates: dict[str, bytes]) -> None:
        for sub in list(self._subscribers):
            for name in ("registrations", "calls", "stats"):
                data = updates.get(name)
                if data is None:
                    continue
                if not sub.fresh and self._last.get(name) == data:
                    continue
                try:
                    sub.queue.put_nowait(data)
                except asyncio.QueueFull:
                    self._drop(sub)
                    break
            sub.fresh = False
        for name, data in updates.items():
            self._last[name] = data


def _after(started: float, base: float, factor: float = 20) -> float:
    """When the next read may run: ``base`` later, or ``factor`` times what this one took."""
    now = time.monotonic()
    return now + max(base, (now - started) * factor)


def _event(name: str, payload: object) -> bytes:
    return f"event: {name}\ndata: {_dumps(payload)}\n\n".encode()
