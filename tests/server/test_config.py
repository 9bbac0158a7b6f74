"""``ServerConfig``: defaults, the strict TOML file, and CLI flags over the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipwright.server.config import (
    ConfigError,
    ServerConfig,
    load_config,
    parse_hostport,
    parse_listen,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "serve.example.toml"


def test_defaults_serve_loopback_without_auth() -> None:
    config = ServerConfig()
    assert config.listen == (("UDP", "127.0.0.1", 5060), ("TCP", "127.0.0.1", 5060))
    assert config.domains == ("127.0.0.1", "localhost")
    assert config.db == Path("var/sipwright.db")
    assert config.auth is False and config.record_route is True
    assert config.http == ("127.0.0.1", 8080)
    assert config.workers == 1 and config.worker_count == 1
    assert config.realm_for("localhost") == "127.0.0.1"  # the first domain
    assert (config.min_expires, config.default_expires, config.max_expires) == (60, 3600, 86400)
    assert load_config() == config


def test_toml_file_is_parsed_with_paths_relative_to_it(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "serve.toml"
    conf.parent.mkdir()
    conf.write_text(
        """
[sip]
listen = ["udp:0.0.0.0:5070", "tls:[::1]"]
domains = ["Example.COM"]
record_route = false
workers = 0
[registrar]
min_expires = 30
default_expires = 600
max_expires = 7200
[auth]
enabled = true
realm = "example.com"
[store]
db = "../var/x.db"
[http]
listen = ""
[tls]
cert = "cert.pem"
key = "/abs/key.pem"
[log]
level = "debug"
format = "json"
""",
        encoding="utf-8",
    )
    config = load_config(conf)
    assert config.listen == (("UDP", "0.0.0.0", 5070), ("TLS", "::1", 5061))
    assert config.domains == ("example.com",)
    assert config.record_route is False
    assert config.worker_count >= 1
    assert (config.min_expires, config.default_expires, config.max_expires) == (30, 600, 7200)
    assert config.auth is True and config.realm_for("other.org") == "example.com"
    assert config.db == conf.parent / ".." / "var" / "x.db"
    assert config.http is None
    assert config.tls_cert == conf.parent / "cert.pem"
    assert config.tls_key == Path("/abs/key.pem")
    assert (config.log_level, config.log_format) == ("DEBUG", "json")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[sip]\nlisten_on = []\n", "unknown key sip.listen_on"),
        ("[registrar]\nmin_expire = 5\n", "unknown key registrar.min_expire"),
        ("[sipp]\n", "unknown section [sipp]"),
        ("[sip]\nworkers = '2'\n", "sip.workers: expected an integer"),
        ("[sip]\nrecord_route = 1\n", "sip.record_route: expected true or false"),
        ("[sip]\nlisten = ['sctp:1.2.3.4:5060']\n", "sip.listen"),
        ("[registrar]\nmin_expires = 7200\n", "min_expires <= default_expires"),
        ("[sip]\nlisten = ['tls:127.0.0.1:5061']\n", "needs tls.cert and tls.key"),
        ("[log]\nformat = 'xml'\n", "log.format"),
        ("[sip]\nworkers = 2\nlisten = ['udp:127.0.0.1:0']\n", "need fixed listen ports"),
        ("[sip\n", "invalid TOML"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, text: str, needle: str) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    assert needle in str(info.value)


def test_flags_override_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "serve.toml"
    conf.write_text('[sip]\nworkers = 3\ndomains = ["a.example"]\n[auth]\nenabled = true\n')
    config = load_config(conf, workers=1, auth=False, domains=None, db=tmp_path / "y.db")
    assert config.workers == 1 and config.auth is False
    assert config.domains == ("a.example",)  # None = flag not given: the file's value stays
    assert config.db == tmp_path / "y.db"


def test_cli_reports_config_errors_as_usage_errors(tmp_path: Path) -> None:
    from sipwright.cli import main

    conf = tmp_path / "bad.toml"
    conf.write_text("[sip]\nlisen = []\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(conf)])
    assert result.exit_code == 2
    assert "unknown key sip.lisen" in result.output
    result = CliRunner().invoke(main, ["serve", "--listen", "carrier-pigeon:1.2.3.4"])
    assert result.exit_code == 2 and "TRANSPORT:HOST[:PORT]" in result.output


def test_address_parsing() -> None:
    assert parse_listen("UDP:127.0.0.1") == ("UDP", "127.0.0.1", 5060)
    assert parse_listen("wss:[::1]:8443") == ("WSS", "::1", 8443)
    assert parse_hostport("localhost:8080") == ("localhost", 8080)
    assert parse_hostport("[::1]:9") == ("::1", 9)
    with pytest.raises(ConfigError):
        parse_hostport("localhost")
    with pytest.raises(ConfigError):
        parse_hostport("host:99999")


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.listen and config.domains


def test_dns_section_and_flags(tmp_path: Path) -> None:
    conf = tmp_path / "dns.toml"
    conf.write_text('[dns]\nenabled = true\nservers = ["127.0.0.1:5353", "[::1]"]\ntimeout = 0.5\n')
    config = load_config(conf)
    assert config.dns is True
    assert config.dns_servers == (("127.0.0.1", 5353), ("::1", 53))
    assert config.dns_timeout == 0.5
    assert ServerConfig().dns is True and ServerConfig().dns_servers == ()
    for bad, fault in (
        ('[dns]\nservers = ["127.0.0.1:notaport"]\n', "dns.servers"),
        ("[dns]\ntimeout = 0\n", "dns.timeout"),
        ("[dns]\nresolver = 1\n", "unknown key dns.resolver"),
    ):
        conf.write_text(bad)
        with pytest.raises(ConfigError, match=re.escape(fault)):
            load_config(conf)
