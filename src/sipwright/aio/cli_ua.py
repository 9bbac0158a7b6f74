"""The user-agent CLI commands: ``sipwright register``, ``call`` and ``message``.

Each runs one :class:`~sipwright.aio.ua.UserAgent` listening on ``--bind`` (UDP) and
prints the exchange, one line per message sent or received, read from the
``sipwright.wire`` logger the endpoint writes (INFO: a summary line per message; DEBUG:
its full text, shown with ``--verbose``). ``cli.py`` owns the click group;
:func:`register_ua_commands` adds the commands, so asyncio stays inside ``sipwright.aio``.

Exit status: 0 on success (a 2xx; for ``call``: answered and ended cleanly), 1 on any
other outcome, 2 on usage errors. A URI naming a host name is located by RFC 3263
(NAPTR, SRV, A over UDP) with the system's name servers, or ``--dns-server``'s.

Passwords never come from a flag (a flag shows up in ``ps`` and shell history):
``register`` reads ``SIPWRIGHT_PASSWORD`` or prompts without echo; ``call`` and
``message`` answer digest challenges (RFC 3261 §22.2) only when ``SIPWRIGHT_PASSWORD`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from ..errors import ParseError, SipError
from ..message import Response
from ..uri import SipUri, parse_uri
from .call import CallFailed, CallState
from .cli_commands import parse_hostport
from .dns import SipResolver
from .ua import UserAgent

__all__ = ["PASSWORD_ENV", "WirePrinter", "register_ua_commands"]

#: The environment variable holding the digest password.
PASSWORD_ENV = "SIPWRIGHT_PASSWORD"

_WIRE_LOGGER = "sipwright.wire"


class WirePrinter(logging.Handler):
    """Prints each message our endpoint sends or receives, from the ``sipwright.wire`` log.

    Only records emitted by the thread that created the printer are shown: the CLI's
    event loop runs there, and other endpoints in the same process (an embedding
    application, a test peer on another thread) log to the same logger.
    """

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        super().__init__(logging.DEBUG)
        self.console = console
        self.verbose = verbose
        self._thread = threading.get_ident()
        self._full = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._thread:
            return
        args = record.args
        if not isinstance(args, tuple) or not args or args[0] not in ("send", "recv"):
            return
        try:
            if record.levelno == logging.INFO and len(args) == 8:
                self._line(args)
                self._full = self.verbose and not args[5]  # not again for retransmissions
            elif record.levelno == logging.DEBUG and len(args) == 2 and self._full:
                text = str(args[1]).replace("\r\n", "\n").rstrip("\n")
                self.console.print(escape(text), style="dim", soft_wrap=True)
                self.console.print()
        except Exception:  # printing must never break the SIP exchange
            self.handleError(record)

    def _line(self, args: tuple[Any, ...]) -> None:
        direction, transport, host, port, summary, retrans, _call_id, cseq = args
        sent = direction == "send"
        arrow = "[cyan]-->[/cyan]" if sent else "[green]<--[/green]"
        what = str(summary)
        if not sent or not what[:1].isdigit():
            what = f"[bold]{escape(what)}[/bold]"
        else:
            what = escape(what)
        peer = f"{'to' if sent else 'from'} {host}:{port}/{str(transport).lower()}"
        extra = " [yellow](retransmission)[/yellow]" if retrans else ""
        self.console.print(
            f"{arrow} {what}  [dim]CSeq: {escape(str(cseq))}  {escape(peer)}[/dim]{extra}",
            soft_wrap=True,
        )


@contextlib.contextmanager
def _wire_output(console: Console, verbose: bool) -> Iterator[None]:
    logger = logging.getLogger(_WIRE_LOGGER)
    handler = WirePrinter(console, verbose=verbose)
    old = logger.level
    wanted = logging.DEBUG if verbose else logging.INFO
    if old == logging.NOTSET or old > wanted:
        logger.setLevel(wanted)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def _install_stop(stop: asyncio.Event) -> Callable[[], None]:
    """SIGINT/SIGTERM set ``stop``; returns the undo. Outside the main thread (an
    embedding application) signals cannot be caught: then nothing is installed."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (ValueError, RuntimeError, NotImplementedError):
            continue
        installed.append(sig)

    def undo() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return undo


def _sip_uri(text: str, hint: str, *, reach: bool) -> SipUri:
    """Parse ``text`` as a sip:/sips: URI for option ``hint`` (a usage error otherwise);
    ``reach``: the UA sends there, so it must be reachable over UDP."""
    try:
        uri = parse_uri(text.strip().removeprefix("<").removesuffix(">"))
    except ParseError as exc:
        raise click.BadParameter(f"not a SIP URI: {exc}", param_hint=hint) from None
    if not isinstance(uri, SipUri):
        raise click.BadParameter("only sip: and sips: URIs", param_hint=hint)
    if reach:
        if (uri.transport or "udp").lower() != "udp" or uri.scheme == "sips":
            raise click.BadParameter(
                "this UA speaks UDP only (sip:, no transport)", param_hint=hint
            )
    return uri


def _contact(user: str | None, bind: str) -> str:
    """Our contact URI from ``--bind`` (host:port, IP host)."""
    try:
        host, port = parse_hostport(bind)
        ip = ipaddress.ip_address(host)
    except ValueError as exc:
        raise click.BadParameter(f"{bind!r}: {exc} (want IP:PORT)", param_hint="--bind") from None
    hostpart = f"[{ip}]" if ip.version == 6 else str(ip)
    userpart = f"{user}@" if user else ""
    return f"sip:{userpart}{hostpart}:{port or 0}"


def _final(console: Console, what: str, response: Response) -> bool:
    ok = 200 <= response.status_code < 300
    colour = "green" if ok else "red"
    console.print(
        f"{escape(what)}: [{colour}]{response.status_code} {escape(response.reason)}[/{colour}]"
    )
    return ok


def _run(main: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run the command's coroutine; exit with its status (1 on a local network error)."""
    try:
        code = asyncio.run(main())
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        code = 1
    except SipError as exc:
        click.echo(f"error: {exc}", err=True)
        code = 1
    sys.exit(code)


# -- register ------------------------------------------------------------------------


def _print_bindings(console: Console, ua: UserAgent, response: Response) -> None:
    """The registrar's view of the AOR (§10.3 step 8): every Contact of the 2xx."""
    contacts = response.contact
    if not contacts:
        console.print("no bindings returned")
        return
    console.print(f"bindings ({len(contacts)}):")
    for contact in contacts:
        expires = contact.expires if contact.expires is not None else response.expires
        lifetime = f"expires={expires}" if expires is not None else "expires=?"
        ours = "  (this UA)" if not contact.is_wildcard and contact.uri == ua.contact else ""
        console.print(f"  {escape(str(contact.uri))}  {lifetime}{ours}", soft_wrap=True)


async def _register(
    console: Console,
    aor: str,
    registrar: str,
    user: str | None,
    password: str,
    expires: int,
    once: bool,
    bind: str,
    timeout: float,
    dns: tuple[str, ...] = (),
) -> int:
    creds = (user, password) if user and password else None
    ua_ = UserAgent(_contact(user, bind), credentials=creds, aor=aor, resolver=_resolver(dns))
    async with ua_ as ua:
        try:
            response = await asyncio.wait_for(
                ua.register(registrar, expires=expires, aor=aor), timeout
            )
        except TimeoutError:
            console.print(f"[red]no final response to REGISTER within {timeout:g} s[/red]")
            return 1
        if not _final(console, "REGISTER", response):
            return 1
        _print_bindings(console, ua, response)
        if once:
            return 0
        reg = ua.registration
        assert reg is not None
        console.print(f"registered as {escape(aor)}; refreshing until Ctrl-C")
        stop = asyncio.Event()
        undo = _install_stop(stop)
        try:
            # The UA refreshes on its own and offers no "refresh failed" hook: poll.
            while not stop.is_set():
                if reg.error is not None:
                    console.print(f"[red]registration lost: {escape(reg.error)}[/red]")
                    return 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)
        finally:
            undo()
        console.print("unregistering")
        try:
            response = await asyncio.wait_for(ua.unregister(), timeout)
        except TimeoutError:
            console.print(f"[red]no final response to the unREGISTER within {timeout:g} s[/red]")
            return 1
        return 0 if _final(console, "unREGISTER", response) else 1


# -- call ----------------------------------------------------------------------------


async def _first(stop: asyncio.Event, aw: Awaitable[Any], timeout: float) -> asyncio.Future[Any]:
    """Run ``aw`` until it completes, ``stop`` is set or ``timeout`` passes; its future
    (done only when ``aw`` completed; cancelled otherwise)."""
    task = asyncio.ensure_future(aw)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return task


async def _call(
    console: Console,
    target: str,
    from_: str | None,
    user: str | None,
    duration: float,
    bind: str,
    timeout: float,
    dns: tuple[str, ...] = (),
) -> int:
    password = os.environ.get(PASSWORD_ENV)
    creds = (user, password) if user and password else None
    ua_ = UserAgent(_contact(user, bind), credentials=creds, aor=from_, resolver=_resolver(dns))
    async with ua_ as ua:
        stop = asyncio.Event()  # Ctrl-C: CANCEL a pending INVITE, BYE an established call
        undo = _install_stop(stop)
        try:
            return await _call_flow(console, ua, target, stop, duration, timeout)
        finally:
            undo()


async def _call_flow(
    console: Console,
    ua: UserAgent,
    target: str,
    stop: asyncio.Event,
    duration: float,
    timeout: float,
) -> int:
    await asyncio.wait_for(ua.locate(target), timeout)  # dial() needs the hop located
    outgoing = ua.dial(target)
    answered = await _first(stop, outgoing.answered(), timeout)
    if answered.cancelled():
        why = "interrupted" if stop.is_set() else f"not answered within {timeout:g} s"
        console.print(f"[red]{why}; cancelling[/red]")
        # §9.1: the CANCEL waits for a provisional response; bounded here.
        with contextlib.suppress(TimeoutError, SipError):
            await asyncio.wait_for(outgoing.cancel(), min(timeout, 5.0))
        return 1
    try:
        answered.result()
    except CallFailed as exc:
        _final(console, "INVITE", exc.response)
        return 1
    except SipError as exc:
        console.print(f"[red]call failed: {escape(str(exc))}[/red]")
        return 1
    final = outgoing.final_response
    assert final is not None
    _final(console, "INVITE", final)
    console.print(f"call up; hanging up after {duration:g} s (Ctrl-C: now)")
    await _first(stop, outgoing.ended(), duration)
    if outgoing.is_over:
        reason = outgoing.end_reason or "?"
        console.print(f"call ended by the far end ({escape(reason)})")
        return 0 if outgoing.state is CallState.ENDED else 1
    try:
        response = await asyncio.wait_for(outgoing.bye(), timeout)
    except TimeoutError:
        console.print(f"[red]no final response to BYE within {timeout:g} s[/red]")
        return 1
    return 0 if _final(console, "BYE", response) else 1


# -- message -------------------------------------------------------------------------


async def _message(
    console: Console,
    target: str,
    text: str,
    from_: str | None,
    user: str | None,
    bind: str,
    timeout: float,
    dns: tuple[str, ...] = (),
) -> int:
    password = os.environ.get(PASSWORD_ENV)
    creds = (user, password) if user and password else None
    ua_ = UserAgent(_contact(user, bind), credentials=creds, aor=from_, resolver=_resolver(dns))
    async with ua_ as ua:
        try:
            response = await asyncio.wait_for(ua.message(target, text), timeout)
        except TimeoutError:
            console.print(f"[red]no final response to MESSAGE within {timeout:g} s[/red]")
            return 1
        return 0 if _final(console, "MESSAGE", response) else 1


# -- the click commands ----------------------------------------------------------------

_URI_NOTE = "URIs over UDP; a host name is located by RFC 3263 (NAPTR, SRV, A)."


def _resolver(servers: tuple[str, ...]) -> SipResolver | None:
    """The name servers of ``--dns-server`` (none: the UA's default, the system's)."""
    if not servers:
        return None
    pairs = []
    for text in servers:
        try:
            host, port = parse_hostport(text)
        except ValueError as exc:
            raise click.BadParameter(f"{text!r}: {exc}", param_hint="--dns-server") from None
        pairs.append((host, port or 53))
    return SipResolver(pairs)


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--verbose", "-v", is_flag=True, help="Also print every message in full.")(f)
    f = click.option(
        "--timeout",
        default=40.0,
        show_default=True,
        type=click.FloatRange(min=0, min_open=True),
        help="Bound on waiting for each final response (s).",
    )(f)
    f = click.option(
        "--dns-server",
        "dns",
        multiple=True,
        metavar="HOST[:PORT]",
        help="Name server for host names (repeatable; default: the system's).",
    )(f)
    f = click.option(
        "--bind",
        default="127.0.0.1:0",
        show_default=True,
        help="Local contact address IP:PORT (UDP; port 0: any free port).",
    )(f)
    return f


def register_ua_commands(group: click.Group) -> None:
    """Add ``register``, ``call`` and ``message`` to the CLI group."""

    @group.command()
    @click.argument("aor")
    @click.option(
        "--registrar",
        metavar="URI",
        help="Registrar to send the REGISTER to (default: sip:HOST[:PORT] of the AOR).",
    )
    @click.option("--user", metavar="NAME", help="Digest user name (default: the AOR's user).")
    @click.option(
        "--expires",
        default=3600,
        show_default=True,
        type=click.IntRange(min=1),
        help="Binding lifetime to ask for (s).",
    )
    @click.option("--once", is_flag=True, help="Register once, print the bindings and exit.")
    @_common
    def register(
        aor: str,
        registrar: str | None,
        user: str | None,
        expires: int,
        once: bool,
        bind: str,
        timeout: float,
        verbose: bool,
        dns: tuple[str, ...],
    ) -> None:
        """Register AOR (sip:user@host) at a registrar (RFC 3261 §10).

        The password comes from the SIPWRIGHT_PASSWORD environment variable, else a
        prompt. With --once: print the bindings the registrar returned and exit 0 on a
        2xx. Without: stay registered (refreshing) until Ctrl-C, then unregister.
        The registrar is reached over UDP; a host name is located by RFC 3263.
        """
        aor_uri = _sip_uri(aor, "AOR", reach=False)
        if registrar is None:
            registrar_uri = _sip_uri(f"sip:{aor_uri.host_port}", "AOR", reach=True)
        else:
            registrar_uri = _sip_uri(registrar, "--registrar", reach=True)
        name = user or aor_uri.user
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            password = click.prompt(
                f"Password for {name or aor}", hide_input=True, default="", show_default=False
            )
        console = Console(highlight=False)

        async def main() -> int:
            with _wire_output(console, verbose):
                return await _register(
                    console,
                    str(aor_uri),
                    str(registrar_uri),
                    name,
                    password or "",
                    expires,
                    once,
                    bind,
                    timeout,
                    dns,
                )

        _run(main)

    @group.command()
    @click.argument("uri")
    @click.option("--from", "from_", metavar="AOR", help="Our address (From header).")
    @click.option(
        "--user",
        metavar="NAME",
        help=f"Digest user name when {PASSWORD_ENV} is set (default: the From user).",
    )
    @click.option(
        "--duration",
        default=2.0,
        show_default=True,
        type=click.FloatRange(min=0),
        help="Seconds between the answer and our BYE.",
    )
    @_common
    def call(
        uri: str,
        from_: str | None,
        user: str | None,
        duration: float,
        bind: str,
        timeout: float,
        verbose: bool,
        dns: tuple[str, ...],
    ) -> None:
        """Call URI: INVITE with an SDP offer, ACK, then BYE after --duration seconds.

        Exit 0 when the call was answered and ended cleanly (our BYE got a 2xx, or the
        far end hung up first), 1 otherwise. Digest challenges are answered when
        SIPWRIGHT_PASSWORD is set. URI: sip:bob@example.com or sip:bob@192.0.2.1:5060.
        """
        target = _sip_uri(uri, "URI", reach=True)
        aor, name = _from(from_, user)
        console = Console(highlight=False)

        async def main() -> int:
            with _wire_output(console, verbose):
                return await _call(console, str(target), aor, name, duration, bind, timeout, dns)

        _run(main)

    @group.command()
    @click.argument("uri")
    @click.argument("text")
    @click.option("--from", "from_", metavar="AOR", help="Our address (From header).")
    @click.option(
        "--user",
        metavar="NAME",
        help=f"Digest user name when {PASSWORD_ENV} is set (default: the From user).",
    )
    @_common
    def message(
        uri: str,
        text: str,
        from_: str | None,
        user: str | None,
        bind: str,
        timeout: float,
        verbose: bool,
        dns: tuple[str, ...],
    ) -> None:
        """Send TEXT to URI in a MESSAGE request (RFC 3428); exit 0 on a 2xx.

        Digest challenges are answered when SIPWRIGHT_PASSWORD is set. URI:
        sip:bob@example.com or sip:bob@192.0.2.1:5060.
        """
        target = _sip_uri(uri, "URI", reach=True)
        aor, name = _from(from_, user)
        console = Console(highlight=False)

        async def main() -> int:
            with _wire_output(console, verbose):
                return await _message(console, str(target), text, aor, name, bind, timeout, dns)

        _run(main)


def _from(from_: str | None, user: str | None) -> tuple[str | None, str | None]:
    """``--from`` as a URI string (None: the UA's default) and the user name: ``--user``,
    else the From user, else ``sipwright``; it is also our contact's user part."""
    if from_ is None:
        return None, user or "sipwright"
    uri = _sip_uri(from_, "--from", reach=False)
    return str(uri), user or uri.user
