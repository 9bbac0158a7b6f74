"""The networked CLI commands: ``sipwright options`` and ``sipwright send``.

``cli.py`` owns the click group; :func:`register_commands` adds these commands to it,
so asyncio stays inside ``sipwright.aio``. Exit status: 0 on a final 2xx, 1 on any
other final response (including a local 408/503), 2 on usage errors.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from ..errors import ParseError
from ..message import Request, Response
from ..server_transport import default_port
from ..transaction import Destination, TimerConfig
from ..uri import SipUri, parse_uri
from ..validate import validate
from .endpoint import Endpoint, TransportLike, _host_for_via
from .transports import Inbound, TransportManager

__all__ = ["parse_hostport", "register_commands"]

_KEY_HEADERS = ("Server", "User-Agent", "Allow", "Accept", "Supported", "Contact", "Warning")
_TRANSPORTS = ("udp", "tcp", "tls", "ws")


def parse_hostport(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("unterminated IPv6 reference")
        host, rest = text[1:end], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError("junk after IPv6 reference")
        return host, int(rest[1:])
    if text.count(":") > 1:
        return text, None  # bare IPv6 address
    host, sep, port = text.partition(":")
    if not host:
        raise ValueError("empty host")
    return host, (int(port) if sep else None)


async def _resolve(host: str, port: int, transport: str) -> Destination:
    try:
        ipaddress.ip_address(host)
        return Destination(host, port, transport)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=0)
    if not infos:
        raise OSError(f"cannot resolve {host}")
    return Destination(str(infos[0][4][0]), port, transport)


def _client_ssl(insecure: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _print_response(resp: Response, rtt_ms: float) -> None:
    click.echo(f"{resp.start_line()}  ({rtt_ms:.1f} ms)")


def _build_options(uri: SipUri, local: Destination | None, call_id: str, tag: str) -> Request:
    me = "127.0.0.1" if local is None else _host_for_via(local.host)
    if local is not None and local.port:
        me += f":{local.port}"
    transport = "" if local is None or local.transport == "UDP" else f";transport={local.transport}"
    target = str(uri)
    return Request(
        "OPTIONS",
        target,
        [
            ("Max-Forwards", "70"),
            ("From", f"<sip:sipwright@{me}>;tag={tag}"),
            ("To", f"<{target}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 OPTIONS"),
            ("Contact", f"<sip:sipwright@{me}{transport}>"),
            ("Accept", "application/sdp"),
            ("User-Agent", "sipwright-cli"),
        ],
    )


async def _options(uri: SipUri, transport: str, timeout: float, t1: float) -> int:
    port = uri.port or default_port(transport)
    dest = await _resolve(uri.bare_host, port, transport)
    endpoint = Endpoint(timers=TimerConfig(t1=t1, t2=max(4.0, t1)))
    async with endpoint as ep:
        local = await ep.local_for(dest)
        msg = _build_options(uri, local, ep.ids.call_id(), ep.ids.tag())
        start = time.perf_counter()
        try:
            resp = await asyncio.wait_for(ep.request(msg, dest), timeout)
        except TimeoutError:
            click.echo(f"no final response within {timeout:g} s", err=True)
            return 1
        rtt = (time.perf_counter() - start) * 1000
        _print_response(resp, rtt)
        for name in _KEY_HEADERS:
            for value in resp.headers.getall(name):
                click.echo(f"  {name}: {value}")
        return 0 if 200 <= resp.status_code < 300 else 1


def _fix_via(msg: Request, local: Destination | None, dest: Destination, branch: str) -> None:
    if local is not None:
        sent_by = _host_for_via(local.host) + (f":{local.port}" if local.port else "")
    else:
        sent_by = "127.0.0.1"
    via = f"SIP/2.0/{dest.transport} {sent_by};branch={branch};rport"
    if msg.headers.get("Via") is None:
        msg.headers.prepend("Via", via)
    else:
        msg.headers.replace_first_value("Via", via)


async def _send(msg: Request, dest: Destination, timeout: float, insecure: bool) -> int:
    ssl_ctx = _client_ssl(insecure) if dest.transport in ("TLS", "WSS") else None

    def factory(on_message: Callable[[Inbound], None]) -> TransportLike:
        return TransportManager(on_message, client_ssl_context=ssl_ctx)

    async with Endpoint(transport_factory=factory) as ep:
        local = await ep.local_for(dest)
        _fix_via(msg, local, dest, ep.ids.branch())
        start = time.perf_counter()
        if msg.method == "ACK":
            ep.send_stateless(msg, dest)
            await asyncio.sleep(0.05)
            click.echo("ACK sent (no response expected)")
            return 0
        final: Response | None = None

        async def run() -> Response | None:
            last = None
            async for resp in ep.request_iter(msg, dest):
                _print_response(resp, (time.perf_counter() - start) * 1000)
                last = resp
            return last

        try:
            final = await asyncio.wait_for(run(), timeout)
        except TimeoutError:
            click.echo(f"no final response within {timeout:g} s", err=True)
            return 1
        return 0 if final is not None and 200 <= final.status_code < 300 else 1


def register_commands(group: click.Group) -> None:
    """Add ``options`` and ``send`` to the CLI group."""

    @group.command()
    @click.argument("uri")
    @click.option("--timeout", default=40.0, show_default=True, help="Overall bound (s).")
    @click.option("--t1", default=0.5, show_default=True, help="RFC 3261 T1 (s).")
    def options(uri: str, timeout: float, t1: float) -> None:
        """Send OPTIONS to URI (sip:host[:port][;transport=tcp]) and print the answer."""
        try:
            parsed = parse_uri(uri)
        except ParseError as exc:
            raise click.BadParameter(f"not a SIP URI: {exc}", param_hint="URI") from None
        if not isinstance(parsed, SipUri):
            raise click.BadParameter("only sip: and sips: URIs", param_hint="URI")
        transport = (parsed.transport or ("tls" if parsed.scheme == "sips" else "udp")).upper()
        if transport not in ("UDP", "TCP"):
            raise click.BadParameter(f"transport {transport} not supported here", param_hint="URI")
        if t1 <= 0 or timeout <= 0:
            raise click.BadParameter("must be positive", param_hint="--t1/--timeout")
        try:
            code = asyncio.run(_options(parsed, transport, timeout, t1))
        except OSError as exc:
            click.echo(f"error: {exc}", err=True)
            code = 1
        sys.exit(code)

    @group.command()
    @click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
    @click.option("--to", "to", required=True, help="HOST:PORT to send to.")
    @click.option(
        "--transport",
        type=click.Choice(_TRANSPORTS, case_sensitive=False),
        default="udp",
        show_default=True,
    )
    @click.option("--timeout", default=40.0, show_default=True, help="Overall bound (s).")
    @click.option("--insecure", is_flag=True, help="TLS: do not verify the peer certificate.")
    def send(file: str, to: str, transport: str, timeout: float, insecure: bool) -> None:
        """Send the request in FILE through a client transaction; print every response."""
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            click.echo(f"{file}: cannot read: {exc.strerror or exc}", err=True)
            sys.exit(2)
        report = validate(data)
        if not report.valid or not isinstance(report.message, Request):
            click.echo(f"{file}: refusing to send an invalid or non-request message", err=True)
            for finding in report.findings:
                click.echo(
                    f"  {finding.severity} {finding.code}: {finding.message} ({finding.rfc})",
                    err=True,
                )
            if report.message is not None and not isinstance(report.message, Request):
                click.echo("  error: only requests can be sent", err=True)
            sys.exit(2)
        try:
            host, port = parse_hostport(to)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--to") from None
        transport = transport.upper()
        try:
            dest = asyncio.run(_resolve(host, port or default_port(transport), transport))
            code = asyncio.run(_send(report.message, dest, timeout, insecure))
        except OSError as exc:
            click.echo(f"error: {exc}", err=True)
            code = 1
        sys.exit(code)
