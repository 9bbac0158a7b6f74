"""A stateless forking proxy: a test peer for forked INVITEs (RFC 3261 §16.11).

Not part of the library: a small but real proxy on one UDP socket (sipwright's
:class:`TransportManager`, parser and message builder), so that forking tests run
between real sipwright user agents.

* A request whose Request-URI is this proxy (the INVITE, its CANCEL, the ACK of a
  non-2xx) goes to every target (the "location service" is the ``targets`` list):
  Request-URI = the target, and our Via on top, whose branch is derived from the
  incoming top branch and the target index (§16.11: the same request always gets the
  same branch, so the forked CANCEL and ACK match each forked INVITE's transaction).
* Any other request (ACK of a 2xx, BYE, PRACK...) goes to its Request-URI.
* Either way our own Route is removed first (§16.4) and Max-Forwards decremented
  (483 answered at 0, §16.3).
* Responses: our top Via is removed and the response goes to the next Via
  (``received``/``rport``, §18.2.2); a response whose top Via is not ours is dropped.

``drop(message)`` returning True loses a received message (a lossy network);
:attr:`sent` records every message forwarded, as (destination port, message).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

from sipwright import Request, Response
from sipwright.aio.transports import Inbound, TransportManager
from sipwright.message import make_response
from sipwright.server_transport import response_target
from sipwright.transaction import Destination
from sipwright.uri import SipUri, parse_uri


class ForkingProxy:
    """Use as ``async with ForkingProxy([bob1_contact, bob2_contact]) as proxy``."""

    def __init__(
        self,
        targets: list[str],
        *,
        drop: Callable[[Request | Response], bool] | None = None,
    ) -> None:
        self.targets = list(targets)
        self.drop = drop
        self.sent: list[tuple[int, Request | Response]] = []
        self.dropped: list[Request | Response] = []
        self._tm = TransportManager(self._on_message)
        self._tasks: set[asyncio.Task[int | None]] = set()
        self.address = Destination("127.0.0.1", 0, "UDP")

    async def __aenter__(self) -> ForkingProxy:
        self.address = await self._tm.listen("UDP", "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)
        await self._tm.close()

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.address.port}"

    def _is_us(self, host: str, port: int | None) -> bool:
        return host == self.address.host and port == self.address.port

    def _send(self, message: Request | Response, dest: Destination) -> None:
        self.sent.append((dest.port, message))
        task = asyncio.get_running_loop().create_task(self._tm.send(bytes(message), dest))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_message(self, inbound: Inbound) -> None:
        message = inbound.message
        if self.drop is not None and self.drop(message):
            self.dropped.append(message)
        elif isinstance(message, Request):
            self._request(message)
        else:
            self._response(message)

    def _request(self, request: Request) -> None:
        routes = request.route
        if routes and isinstance(routes[0].uri, SipUri):
            first = routes[0].uri
            if self._is_us(first.bare_host, first.port):
                request.headers.pop_first_value("Route")  # §16.4
        hops = request.max_forwards
        if hops is not None and hops <= 0:
            reply = make_response(request, 483)
            t = response_target(reply)
            self._send(reply, Destination(t.host, t.port, t.transport))
            return
        request.headers.set("Max-Forwards", str(69 if hops is None else hops - 1))
        ruri = request.uri
        ours = isinstance(ruri, SipUri) and self._is_us(ruri.bare_host, ruri.port)
        targets = self.targets if ours else [request.uri_text]
        for index, target in enumerate(targets):
            copy = Request(request.method, target, request.headers.copy(), request.body)
            copy.headers.prepend("Via", self._via(request, index))
            uri = parse_uri(target)
            assert isinstance(uri, SipUri) and uri.port is not None
            self._send(copy, Destination(uri.bare_host, uri.port, "UDP"))

    def _via(self, request: Request, index: int) -> str:
        """Our Via; its branch a function of the incoming branch and the target (§16.11)."""
        incoming = request.via[0].branch or ""
        digest = hashlib.sha256(f"{incoming}/{index}".encode()).hexdigest()[:20]
        return f"SIP/2.0/UDP 127.0.0.1:{self.address.port};branch=z9hG4bK{digest}"

    def _response(self, response: Response) -> None:
        vias = response.via
        if len(vias) < 2 or not self._is_us(vias[0].host, vias[0].port):
            return
        response.headers.pop_first_value("Via")
        t = response_target(response)
        self._send(response, Destination(t.host, t.port, t.transport))
