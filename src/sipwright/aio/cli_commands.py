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
from .transports import Inbound, TransportError, TransportManager

__all__ = ["parse_hostport", "register_commands", "uri_transport"]

_KEY_HEADERS = ("Server", "User-Agent", "Allow", "Accept", "Supported", "Contact", "Warning")
_TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
_SECURE = ("TLS", "WSS")


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


def _client_ssl(insecure: bool, ca_file: str | None = None) -> ssl.SSLContext:
    """The client context for TLS/WSS: ``ca_file`` only (when given), else the system store;
    ``insecure``: no certificate or host name check at all."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def uri_transport(uri: SipUri) -> str:
    """The transport an OPTIONS to ``uri`` goes over: UDP, TCP, TLS, WS or WSS.

    ``sip:`` defaults to UDP, ``sips:`` to TLS (§19.1.2, §26.2.1); ``sips:`` with
    ``transport=ws`` is WSS (RFC 7118 §5.2). ``transport=wss`` is accepted too.
    Raises ValueError for anything else.
    """
    param = (uri.transport or "").lower()
    if uri.scheme == "sips":
        if param in ("", "tcp", "tls"):
            return "TLS"
        if param in ("ws", "wss"):
            return "WSS"
        raise ValueError(f"transport {param.upper()} not possible with sips:")
    if param == "":
        return "UDP"
    if param.upper() in ("UDP", "TCP", "TLS", "WS", "WSS"):
        return param.upper()
    raise ValueError(f"transport {param.upper()} not supported here")


class _RecordingManager(TransportManager):
    """A TransportManager that remembers why its last send failed, for the error message."""

    last_error: TransportError | None = None

    async def send(
        self, data: bytes, dest: Destination, *, connection_id: int | None = None
    ) -> int | None:
        try:
            return await super().send(data, dest, connection_id=connection_id)
        except TransportError as exc:
            self.last_error = exc
            raise


def _explain(manager: _RecordingManager, dest: Destination) -> None:
    """After a local 503/408: say on stderr what the transport saw, with a TLS hint."""
    exc = manager.last_error
    if exc is None:
        return
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        detail = cause.verify_message if isinstance(cause, ssl.SSLCertVerificationError) else exc
        click.echo(
            f"error: TLS certificate verification failed for {dest.host}:{dest.port}: "
            f"{detail}; trust its CA with --ca-file PATH (or skip checks with --insecure)",
            err=True,
        )
    elif cause is not None:
        click.echo(f"error: TLS handshake with {dest.host}:{dest.port} failed: {cause}", err=True)
    else:
        click.echo(f"error: {exc}", err=True)


def _manager_factory(
    ssl_ctx: ssl.SSLContext | None, holder: list[_RecordingManager]
) -> Callable[[Callable[[Inbound], None]], TransportLike]:
    def factory(on_message: Callable[[Inbound], None]) -> TransportLike:
        manager = _RecordingManager(on_message, client_ssl_context=ssl_ctx)
        holder.append(manager)
        return manager

    return factory


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


async def _options(
    uri: SipUri,
    transport: str,
    timeout: float,
    t1: float,
    ssl_ctx: ssl.SSLContext | None = None,
) -> int:
    port = uri.port or default_port(transport)
    dest = await _resolve(uri.bare_host, port, transport)
    managers: list[_RecordingManager] = []
    endpoint = Endpoint(
        timers=TimerConfig(t1=t1, t2=max(4.0, t1)),
        transport_factory=_manager_factory(ssl_ctx, managers),
    )
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
        if resp.status_code in (408, 503) and managers:
            _explain(managers[0], dest)
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


async def _send(
    msg: Request, dest: Destination, timeout: float, insecure: bool, ca_file: str | None = None
) -> int:
    ssl_ctx = _client_ssl(insecure, ca_file) if dest.transport in _SECURE else None
    managers: list[_RecordingManager] = []

    async with Endpoint(transport_factory=_manager_factory(ssl_ctx, managers)) as ep:
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
        if final is not None and final.status_code in (408, 503) and managers:
            _explain(managers[0], dest)
        return 0 if final is not None and 200 <= final.status_code < 300 else 1


def register_commands(group: click.Group) -> None:
    """Add ``options`` and ``send`` to the CLI group."""

    ca_file_option = click.option(
        "--ca-file",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="TLS/WSS: trust only the CA certificates in this PEM file "
        "(default: the system trust store).",
    )
    insecure_option = click.option(
        "--insecure",
        is_flag=True,
        help="TLS/WSS: do not verify the peer certificate (tests and lab use only).",
    )

    @group.command()
    @click.argument("uri")
    @click.option("--timeout", default=40.0, show_default=True, help="Overall bound (s).")
    @click.option("--t1", default=0.5, show_default=True, help="RFC 3261 T1 (s).")
    @ca_file_option
    @insecure_option
    def options(uri: str, timeout: float, t1: float, ca_file: str | None, insecure: bool) -> None:
        """Send OPTIONS to URI and print the answer.

        URI: sip:host[:port][;transport=udp|tcp|tls|ws|wss] or sips:host[:port]
        (TLS; with ;transport=ws, WSS). WebSocket connections use the path /.
        """
        try:
            parsed = parse_uri(uri)
        except ParseError as exc:
            raise click.BadParameter(f"not a SIP URI: {exc}", param_hint="URI") from None
        if not isinstance(parsed, SipUri):
            raise click.BadParameter("only sip: and sips: URIs", param_hint="URI")
        try:
            transport = uri_transport(parsed)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="URI") from None
        if t1 <= 0 or timeout <= 0:
            raise click.BadParameter("must be positive", param_hint="--t1/--timeout")
        if (insecure or ca_file) and transport not in _SECURE:
            click.echo(f"note: --ca-file/--insecure have no effect over {transport}", err=True)
        try:
            ssl_ctx = _client_ssl(insecure, ca_file) if transport in _SECURE else None
        except (ssl.SSLError, OSError) as exc:
            raise click.BadParameter(
                f"cannot load CA file: {exc}", param_hint="--ca-file"
            ) from None
        try:
            code = asyncio.run(_options(parsed, transport, timeout, t1, ssl_ctx))
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
    @ca_file_option
    @insecure_option
    def send(
        file: str, to: str, transport: str, timeout: float, ca_file: str | None, insecure: bool
    ) -> None:
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
            code = asyncio.run(_send(report.message, dest, timeout, insecure, ca_file))
        except OSError as exc:
            click.echo(f"error: {exc}", err=True)
            code = 1
        sys.exit(code)
