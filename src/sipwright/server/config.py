"""``sipwright serve`` configuration: one typed dataclass, a TOML file, CLI overrides.

Every setting has a default that runs a working loopback server (``make run``), so a
config file is optional. The file is strict: an unknown section or key is an error that
names it (a typo such as ``min_expire`` must not silently fall back to a default), and
every value is type-checked. Relative paths in a file are relative to the file's
directory, so a config can be started from anywhere; paths given as flags are relative
to the working directory, as usual for a command line.

TOML layout (see ``docs/serve.example.toml``)::

    [sip]        listen, domains, record_route, workers, drain, allocator
    [registrar]  min_expires, max_expires, default_expires, max_bindings
    [auth]       enabled, realm
    [store]      db
    [http]       listen ("" disables the metrics server), websocket (SIP at /ws),
                 trace (the dashboard's call tracer)
    [tls]        cert, key
    [log]        level, format ("kv" or "json")
    [capture]    pcap (write every SIP message in and out to this pcap file)
    [dns]        enabled, servers (["host:port", ...]; default: /etc/resolv.conf's),
                 timeout (RFC 3263 location of next hops named by host name)
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .allocator import ALLOCATORS

__all__ = [
    "ConfigError",
    "Listen",
    "ServerConfig",
    "load_config",
    "parse_hostport",
    "parse_listen",
]

#: ``(transport, host, port)``, transport upper-case: what ProxyServer listens on.
Listen = tuple[str, str, int]

TRANSPORTS = ("UDP", "TCP", "TLS", "WS", "WSS")
_DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061, "WS": 80, "WSS": 443}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOG_FORMATS = ("kv", "json")


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and the fault."""


def parse_hostport(text: str, default_port: int | None = None) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` (the port may be omitted when there is a default)."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError(f"{text!r}: unterminated IPv6 reference")
        host, rest = text[1:end], text[end + 1 :]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            host, rest = text, ""
        else:
            rest = ":" + port_text
    if not host:
        raise ConfigError(f"{text!r}: no host")
    if not rest:
        if default_port is None:
            raise ConfigError(f"{text!r}: no port")
        return host, default_port
    if not rest.startswith(":") or not rest[1:].isdigit() or not 0 <= int(rest[1:]) <= 65535:
        raise ConfigError(f"{text!r}: the port must be a number 0-65535")
    return host, int(rest[1:])


def parse_listen(text: str) -> Listen:
    """``udp:127.0.0.1:5060``, ``tls:[::1]:5061``, ``tcp:0.0.0.0`` (default port)."""
    transport, sep, rest = text.partition(":")
    name = transport.strip().upper()
    if not sep or name not in TRANSPORTS:
        raise ConfigError(
            f"listen {text!r}: expected TRANSPORT:HOST[:PORT] with TRANSPORT one of "
            + ", ".join(t.lower() for t in TRANSPORTS)
        )
    host, port = parse_hostport(rest, _DEFAULT_PORTS[name])
    return name, host, port


def format_listen(spec: Listen) -> str:
    transport, host, port = spec
    shown = f"[{host}]" if ":" in host else host
    return f"{transport.lower()}:{shown}:{port}"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything ``sipwright serve`` needs; the defaults serve loopback without auth."""

    listen: tuple[Listen, ...] = (("UDP", "127.0.0.1", 5060), ("TCP", "127.0.0.1", 5060))
    #: Domains this server is the registrar and home proxy for (RFC 3261 §10.3 step 1).
    domains: tuple[str, ...] = ("127.0.0.1", "localhost")
    db: Path = Path("var/sipwright.db")
    auth: bool = False
    #: The digest realm of every served domain (they are names of one server, so one
    #: protection space, RFC 3261 §22.1); None: the first domain.
    realm: str | None = None
    min_expires: int = 60
    max_expires: int = 86400
    default_expires: int = 3600
    max_bindings: int = 16
    record_route: bool = True
    #: Worker processes sharing the SIP ports (SO_REUSEPORT); 0 = one per CPU.
    workers: int = 1
    #: Seconds a graceful stop waits for in-flight transactions.
    drain: float = 5.0
    #: The interpreter's memory allocator (see :mod:`sipwright.server.allocator`):
    #: ``malloc`` gives memory back after a burst, ``pymalloc`` is ~5 % faster.
    allocator: str = "malloc"
    #: Metrics/health HTTP server (host, port); None disables it. Worker i uses port + i.
    http: tuple[str, int] | None = ("127.0.0.1", 8080)
    #: SIP over WebSocket (RFC 7118) at ``ws://<http>/ws`` whenever HTTP is on.
    websocket: bool = True
    #: The dashboard's live call tracer (a tap on every SIP message) whenever HTTP is on.
    http_trace: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_level: str = "INFO"
    log_format: str = "kv"
    #: Seconds between sweeps of expired bindings.
    sweep_interval: float = 30.0
    #: Write every SIP message received and sent to this pcap file (``--pcap``); with
    #: several workers, worker i writes ``<pcap>.<i>``. See docs/ladder.md.
    pcap: Path | None = None
    #: Locate next hops named by host name with DNS (RFC 3263: NAPTR, SRV, A/AAAA).
    dns: bool = True
    #: Name servers ``(host, port)`` to ask; empty: the system's (``/etc/resolv.conf``).
    dns_servers: tuple[tuple[str, int], ...] = ()
    #: Seconds one DNS lookup may take, retries included.
    dns_timeout: float = 2.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values that cannot work together."""
        if not self.listen:
            raise ConfigError("listen: at least one listener is needed")
        for transport, host, port in self.listen:
            if transport not in TRANSPORTS:
                raise ConfigError(f"listen: unknown transport {transport!r}")
            if not host or not 0 <= port <= 65535:
                raise ConfigError(f"listen: bad address {host!r}:{port}")
        if not self.domains or any(not d for d in self.domains):
            raise ConfigError("domains: at least one non-empty domain is needed")
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise ConfigError(
                "registrar: need 0 < min_expires <= default_expires <= max_expires, got "
                f"{self.min_expires}, {self.default_expires}, {self.max_expires}"
            )
        if self.max_bindings < 1:
            raise ConfigError("registrar.max_bindings: must be at least 1")
        if self.workers < 0:
            raise ConfigError("workers: must be >= 0 (0 = one per CPU)")
        if self.workers != 1 and any(port == 0 for _, _, port in self.listen):
            # Workers share a port through SO_REUSEPORT; port 0 would give each its own.
            raise ConfigError("workers: several workers need fixed listen ports (not 0)")
        if self.allocator not in ALLOCATORS:
            raise ConfigError(f"sip.allocator: one of {', '.join(ALLOCATORS)}")
        if self.drain < 0 or self.sweep_interval <= 0:
            raise ConfigError("drain must be >= 0 and sweep_interval > 0")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls: cert and key go together")
        secure = [s for s in self.listen if s[0] in ("TLS", "WSS")]
        if secure and self.tls_cert is None:
            raise ConfigError(
                f"listen {format_listen(secure[0])}: a TLS listener needs tls.cert and tls.key"
            )
        if self.log_level.upper() not in _LOG_LEVELS:
            raise ConfigError(f"log.level: one of {', '.join(_LOG_LEVELS)}")
        if self.log_format not in _LOG_FORMATS:
            raise ConfigError(f"log.format: one of {', '.join(_LOG_FORMATS)}")
        if self.realm is not None and not self.realm:
            raise ConfigError("auth.realm: empty (leave it out to use the first domain)")
        if not 0 < self.dns_timeout <= 60:
            raise ConfigError("dns.timeout: seconds, more than 0 and at most 60")
        if self.pcap is not None and (not self.pcap.name or self.pcap.is_dir()):
            raise ConfigError(f"capture.pcap: {str(self.pcap)!r} must name a file")

    def realm_for(self, domain: str) -> str:
        """The digest realm of a domain's users: ``realm``, else the first domain."""
        return self.realm if self.realm is not None else self.domains[0]

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)

    @property
    def sip_listen(self) -> tuple[Listen, ...]:
        """The listeners, plus ``tls:<first host>:5061`` when a certificate is configured
        and no TLS listener is named."""
        if self.tls_cert is not None and not any(s[0] == "TLS" for s in self.listen):
            return (*self.listen, ("TLS", self.listen[0][1], _DEFAULT_PORTS["TLS"]))
        return self.listen

    def replace(self, **changes: Any) -> ServerConfig:
        """A copy with ``changes`` applied (``None`` values are ignored: unset flags)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


# -- the TOML file ---------------------------------------------------------------------

Convert = Callable[[Any, str, Path], Any]


def _expect(kind: type | tuple[type, ...], what: str) -> Convert:
    def convert(value: Any, key: str, base: Path) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{key}: expected {what}, got {value!r}")
        return value

    return convert


def _number(value: Any, key: str, base: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    return float(value)


def _path(value: Any, key: str, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a path string, got {value!r}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _strings(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
    return list(value)


def _listen(value: Any, key: str, base: Path) -> tuple[Listen, ...]:
    try:
        return tuple(parse_listen(v) for v in _strings(value, key))
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _domains(value: Any, key: str, base: Path) -> tuple[str, ...]:
    return tuple(d.lower() for d in _strings(value, key))


def _nameservers(value: Any, key: str, base: Path) -> tuple[tuple[str, int], ...]:
    try:
        return tuple(parse_hostport(v, 53) for v in _strings(value, key))
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _http(value: Any, key: str, base: Path) -> tuple[str, int] | None:
    if not isinstance(value, str):
        raise ConfigError(f'{key}: expected "host:port" or "" (off), got {value!r}')
    if not value:
        return None
    try:
        return parse_hostport(value)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _level(value: Any, key: str, base: Path) -> str:
    return str(_expect(str, "a log level")(value, key, base)).upper()


_STR = _expect(str, "a string")
_INT = _expect(int, "an integer")
_BOOL = _expect(bool, "true or false")

#: section -> key -> (ServerConfig field, converter)
_SCHEMA: dict[str, dict[str, tuple[str, Convert]]] = {
    "sip": {
        "listen": ("listen", _listen),
        "domains": ("domains", _domains),
        "record_route": ("record_route", _BOOL),
        "workers": ("workers", _INT),
        "drain": ("drain", _number),
        "allocator": ("allocator", _STR),
    },
    "registrar": {
        "min_expires": ("min_expires", _INT),
        "max_expires": ("max_expires", _INT),
        "default_expires": ("default_expires", _INT),
        "max_bindings": ("max_bindings", _INT),
        "sweep_interval": ("sweep_interval", _number),
    },
    "auth": {"enabled": ("auth", _BOOL), "realm": ("realm", _STR)},
    "store": {"db": ("db", _path)},
    "http": {
        "listen": ("http", _http),
        "websocket": ("websocket", _BOOL),
        "trace": ("http_trace", _BOOL),
    },
    "tls": {"cert": ("tls_cert", _path), "key": ("tls_key", _path)},
    "log": {"level": ("log_level", _level), "format": ("log_format", _STR)},
    "capture": {"pcap": ("pcap", _path)},
    "dns": {
        "enabled": ("dns", _BOOL),
        "servers": ("dns_servers", _nameservers),
        "timeout": ("dns_timeout", _number),
    },
}


def config_from_mapping(data: Mapping[str, Any], base: Path, source: str) -> dict[str, Any]:
    """The ServerConfig fields a parsed TOML document sets (strictly checked)."""
    fields: dict[str, Any] = {}
    for section, table in data.items():
        schema = _SCHEMA.get(section)
        if schema is None:
            raise ConfigError(
                f"{source}: unknown section [{section}] (known: {', '.join(sorted(_SCHEMA))})"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        for key, value in table.items():
            entry = schema.get(key)
            if entry is None:
                raise ConfigError(
                    f"{source}: unknown key {section}.{key} "
                    f"(known in [{section}]: {', '.join(sorted(schema))})"
                )
            name, convert = entry
            fields[name] = convert(value, f"{source}: {section}.{key}", base)
    return fields


def load_config(path: str | Path | None = None, **overrides: Any) -> ServerConfig:
    """Defaults, then the TOML file at ``path`` (if any), then non-None ``overrides``."""
    fields: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        try:
            with file.open("rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: invalid TOML: {exc}") from None
        fields = config_from_mapping(data, file.resolve().parent, str(file))
    fields.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ServerConfig(**fields)
    except TypeError as exc:  # an unknown override name: a programming error upstream
        raise ConfigError(str(exc)) from None


def listen_from_flags(values: Sequence[str]) -> tuple[Listen, ...] | None:
    """``--listen`` values, or None when none were given (keep the file/default)."""
    return tuple(parse_listen(v) for v in values) if values else None
