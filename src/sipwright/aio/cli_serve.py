"""``sipwright serve`` and ``sipwright user add|list|remove``.

``cli.py`` owns the click group; :func:`register_serve_commands` adds these commands.
Settings come from the defaults, then ``--config FILE`` (TOML, see
``docs/serve.example.toml``), then the flags. Passwords are never flags (they would
show in ``ps`` and shell history): ``user add`` reads a hidden prompt or the
``SIPWRIGHT_PASSWORD`` environment variable, and stores only HA1 digests.
Exit status: 0 on a clean stop, 1 when the server failed, 2 on usage or config errors.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from .._version import __version__
from ..server.allocator import ALLOCATORS, active_allocator
from ..server.config import ConfigError, ServerConfig, format_listen, load_config, parse_hostport
from ..server.config import parse_listen as _parse_listen

__all__ = ["register_serve_commands"]


def _load(config_file: str | None, **overrides: object) -> ServerConfig:
    try:
        return load_config(config_file, **overrides)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _banner(config: ServerConfig) -> None:
    console = Console(stderr=True, highlight=False)
    workers = config.worker_count
    console.print(
        f"[bold]sipwright {escape(__version__)}[/bold] serve — "
        f"{workers} worker{'s' if workers != 1 else ''}, "
        f"auth {'[green]on[/green]' if config.auth else '[yellow]off[/yellow]'}, "
        f"allocator {escape(active_allocator())}"
    )
    for spec in config.sip_listen:
        console.print(f"  SIP   {escape(format_listen(spec))}")
    if config.http is not None:
        host, port = config.http
        shown = f"http://{host}:{port}/ (dashboard), /metrics"
        if workers > 1:
            shown += f" (worker i: port {port}+i)"
        console.print(f"  HTTP  {escape(shown)}")
        if config.websocket:
            console.print(f"  WS    {escape(f'ws://{host}:{port}/ws')} (SIP over WebSocket)")
    console.print(f"  domains {escape(', '.join(config.domains))}; store {escape(str(config.db))}")


def register_serve_commands(main: click.Group) -> None:
    """Add ``serve`` and the ``user`` group to the main command group."""

    @main.command()
    @click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML file.")
    @click.option(
        "--listen",
        multiple=True,
        metavar="TRANSPORT:HOST:PORT",
        help="SIP listener, e.g. udp:127.0.0.1:5060 (repeatable; replaces the configured ones).",
    )
    @click.option("--domain", "domains", multiple=True, help="Served domain (repeatable).")
    @click.option("--db", type=click.Path(dir_okay=False), help="SQLite file (bindings, users).")
    @click.option("--auth/--no-auth", default=None, help="Digest authentication.")
    @click.option("--realm", default=None, help="Digest realm (default: the first domain).")
    @click.option("--workers", type=int, default=None, help="Worker processes (0 = one per CPU).")
    @click.option("--http", default=None, metavar="HOST:PORT", help='Metrics server ("" = off).')
    @click.option(
        "--websocket/--no-websocket",
        default=None,
        help="SIP over WebSocket at ws://HTTP/ws (RFC 7118; default on).",
    )
    @click.option(
        "--trace/--no-trace",
        default=None,
        help="The dashboard's live call tracer (default on with HTTP; see docs/dashboard.md).",
    )
    @click.option(
        "--tls-cert", type=click.Path(dir_okay=False), default=None, help="PEM certificate chain."
    )
    @click.option("--tls-key", type=click.Path(dir_okay=False), default=None, help="PEM key.")
    @click.option(
        "--drain", type=float, default=None, help="Seconds a graceful stop waits (default 5)."
    )
    @click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR.")
    @click.option("--log-format", type=click.Choice(["kv", "json"]), default=None)
    @click.option(
        "--dns-server",
        "dns_servers",
        multiple=True,
        metavar="HOST[:PORT]",
        help="Name server for RFC 3263 (repeatable; default: /etc/resolv.conf's).",
    )
    @click.option(
        "--dns/--no-dns",
        default=None,
        help="Locate next hops named by host name with DNS (RFC 3263; default on).",
    )
    @click.option(
        "--allocator",
        type=click.Choice(ALLOCATORS),
        default=None,
        help="Memory allocator: malloc (default) gives memory back when idle, "
        "pymalloc is ~5% faster (see docs/serve.md).",
    )
    @click.option(
        "--pcap",
        type=click.Path(dir_okay=False),
        default=None,
        help="Write every SIP message in and out to this pcap file (worker i: FILE.i).",
    )
    def serve(
        config_file: str | None,
        listen: tuple[str, ...],
        domains: tuple[str, ...],
        db: str | None,
        auth: bool | None,
        realm: str | None,
        workers: int | None,
        http: str | None,
        websocket: bool | None,
        trace: bool | None,
        tls_cert: str | None,
        tls_key: str | None,
        drain: float | None,
        log_level: str | None,
        log_format: str | None,
        dns_servers: tuple[str, ...],
        dns: bool | None,
        allocator: str | None,
        pcap: str | None,
    ) -> None:
        """Run the SIP proxy and registrar (stop with SIGTERM or Ctrl-C)."""
        try:
            listeners = tuple(_parse_listen(v) for v in listen) if listen else None
            http_addr: tuple[str, int] | str | None = None
            if http is not None:
                http_addr = parse_hostport(http) if http else "off"
            nameservers = tuple(parse_hostport(v, 53) for v in dns_servers) or None
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        config = _load(
            config_file,
            listen=listeners,
            domains=tuple(d.lower() for d in domains) or None,
            db=Path(db) if db else None,
            auth=auth,
            realm=realm,
            workers=workers,
            websocket=websocket,
            http_trace=trace,
            tls_cert=Path(tls_cert) if tls_cert else None,
            tls_key=Path(tls_key) if tls_key else None,
            drain=drain,
            log_level=log_level.upper() if log_level else None,
            log_format=log_format,
            allocator=allocator,
            dns=dns,
            dns_servers=nameservers,
            pcap=Path(pcap) if pcap else None,
        )
        if http_addr == "off":
            config = dataclasses.replace(config, http=None)
        elif isinstance(http_addr, tuple):
            config = config.replace(http=http_addr)
        from ..server.allocator import use_allocator

        use_allocator(config.allocator)  # may re-execute this process (same PID)
        from ..server.app import serve as run_server

        _banner(config)
        sys.exit(run_server(config))

    @main.group()
    def user() -> None:
        """Manage digest users (only HA1 digests are stored)."""

    def _store_opts(fn: click.decorators.FC) -> click.decorators.FC:
        fn = click.option("--config", "config_file", type=click.Path(dir_okay=False))(fn)
        return click.option("--db", type=click.Path(dir_okay=False))(fn)

    @user.command("add")
    @click.argument("name")
    @click.option("--domain", required=True, help="The user's domain (one of the served ones).")
    @_store_opts
    def user_add(name: str, domain: str, config_file: str | None, db: str | None) -> None:
        """Create or replace user NAME (password: hidden prompt or $SIPWRIGHT_PASSWORD)."""
        from ..server.sqlite_store import SQLiteUserStore

        if not name or any(c in name for c in "@: \t"):
            raise click.UsageError("NAME is the user part only (no '@', ':' or spaces)")
        config = _load(config_file, db=Path(db) if db else None)
        password = os.environ.get("SIPWRIGHT_PASSWORD")
        if password is None:
            password = click.prompt(
                f"Password for {name}@{domain}", hide_input=True, confirmation_prompt=True
            )
        if not password:
            raise click.UsageError("empty password")
        if domain.lower() not in config.domains:
            click.echo(
                f"note: {domain} is not a served domain ({', '.join(config.domains)}); "
                "pass the same --domain to `serve`",
                err=True,
            )
        realm = config.realm_for(domain)
        store = SQLiteUserStore(config.db)
        try:
            store.add(name, realm, password)
        finally:
            store.close()
        click.echo(f"user {name}@{domain} stored (realm {realm!r}, HA1 only) in {config.db}")

    @user.command("list")
    @_store_opts
    def user_list(config_file: str | None, db: str | None) -> None:
        """List users as NAME@REALM."""
        from ..server.sqlite_store import SQLiteUserStore

        config = _load(config_file, db=Path(db) if db else None)
        store = SQLiteUserStore(config.db)
        try:
            for username, realm in store.users():
                click.echo(f"{username}@{realm}")
        finally:
            store.close()

    @user.command("remove")
    @click.argument("name")
    @click.option("--domain", required=True)
    @_store_opts
    def user_remove(name: str, domain: str, config_file: str | None, db: str | None) -> None:
        """Delete user NAME of DOMAIN (exit 1 when there was none)."""
        from ..server.sqlite_store import SQLiteUserStore

        config = _load(config_file, db=Path(db) if db else None)
        store = SQLiteUserStore(config.db)
        try:
            removed = store.remove(name, config.realm_for(domain))
        finally:
            store.close()
        if not removed:
            click.echo(f"no user {name}@{domain}", err=True)
            sys.exit(1)
        click.echo(f"user {name}@{domain} removed")
