"""``sipwright user add|list|remove``: the password comes from a hidden prompt or
``SIPWRIGHT_PASSWORD`` (never a flag) and only HA1 digests reach the database."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from sipwright.auth.digest import ha1
from sipwright.cli import main
from sipwright.server.sqlite_store import SQLiteUserStore

PASSWORD = "correct-horse-battery-staple"


def db_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_user_add_stores_only_ha1(tmp_path: Path) -> None:
    db = tmp_path / "var" / "s.db"
    conf = tmp_path / "serve.toml"
    conf.write_text('[sip]\ndomains = ["example.com"]\n[store]\ndb = "var/s.db"\n')
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["user", "add", "alice", "--domain", "example.com", "--config", str(conf)],
        env={"SIPWRIGHT_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    # From the hidden prompt (typed twice: confirmation).
    result = runner.invoke(
        main,
        ["user", "add", "bob", "--domain", "example.com", "--config", str(conf)],
        input=f"{PASSWORD}-bob\n{PASSWORD}-bob\n",
        env={"SIPWRIGHT_PASSWORD": None},
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    data = db_bytes(db)
    assert PASSWORD.encode() not in data
    assert b"alice" in data
    store = SQLiteUserStore(db)
    try:
        assert store.lookup_ha1("alice", "example.com", "MD5") == ha1(
            "alice", "example.com", PASSWORD, "MD5"
        )
        assert store.lookup_ha1("bob", "example.com", "SHA-256") == ha1(
            "bob", "example.com", PASSWORD + "-bob", "SHA-256"
        )
    finally:
        store.close()

    result = runner.invoke(main, ["user", "list", "--config", str(conf)])
    assert result.exit_code == 0
    assert result.output.split() == ["alice@example.com", "bob@example.com"]
    result = runner.invoke(
        main, ["user", "remove", "alice", "--domain", "example.com", "--config", str(conf)]
    )
    assert result.exit_code == 0
    result = runner.invoke(
        main, ["user", "remove", "alice", "--domain", "example.com", "--config", str(conf)]
    )
    assert result.exit_code == 1
    result = runner.invoke(main, ["user", "list", "--config", str(conf)])
    assert result.output.split() == ["bob@example.com"]


def test_password_is_not_a_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["user", "add", "alice", "--domain", "x", "--password", "p", "--db", str(tmp_path / "d")],
    )
    assert result.exit_code == 2
    result = CliRunner().invoke(
        main,
        ["user", "add", "a@b", "--domain", "x", "--db", str(tmp_path / "d")],
        env={"SIPWRIGHT_PASSWORD": "p"},
    )
    assert result.exit_code == 2 and "user part only" in result.output
