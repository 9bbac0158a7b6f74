"""Tests of ``sipwright lint`` (in process with click's CliRunner, and once as a real process).

Exit status: 0 when every file is valid, 1 when any is not, 2 for usage or I/O errors.
``--json`` writes one object per file per line; ``--stream`` frames each file as a TCP
byte stream (RFC 3261 §18.3); ``-`` reads standard input. The seeds come from RFC 3261
§4 (one of them as printed, with a wrong Content-Length) and vendor traces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result
from peers import REPO_DIR, shared_dir

from sipwright.cli import main

SEEDS_DIR = shared_dir() / "seeds" / "examples"
SEEDS = sorted(SEEDS_DIR.glob("*.sip"))
AS_PRINTED = "overview-invite-as-printed.sip"
VALID_SEEDS = [p for p in SEEDS if p.name != AS_PRINTED]
ENV = {"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}


def lint(*args: str, stdin: bytes | None = None) -> Result:
    runner = CliRunner(env=ENV)
    return runner.invoke(main, ["lint", *args], input=stdin, catch_exceptions=False)


def json_lines(text: str) -> list[dict[str, object]]:
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(isinstance(r, dict) for r in records)
    return records


def test_corpus_present() -> None:
    assert len(SEEDS) >= 6
    assert AS_PRINTED in {p.name for p in SEEDS}


def test_seeds_json_only_as_printed_is_invalid() -> None:
    """§20.14: the as-printed seed's Content-Length (142 for 145 octets) is the one error."""
    result = lint("--json", *map(str, SEEDS))
    assert result.exit_code == 1
    records = json_lines(result.stdout)
    assert [r["file"] for r in records] == [str(p) for p in SEEDS]
    invalid = [r for r in records if not r["valid"]]
    assert [Path(str(r["file"])).name for r in invalid] == [AS_PRINTED]
    (bad,) = invalid
    assert bad["kind"] == "request"
    errors = bad["errors"]
    assert isinstance(errors, list)
    assert [(e["code"], e["line"], e["rfc"]) for e in errors] == [
        ("content-length-mismatch", 10, "RFC 3261 §20.14")
    ]


def test_json_record_shape() -> None:
    """Each line is an object with file/valid/kind/errors/warnings; findings with
    code/rfc/line/message."""
    result = lint("--json", *map(str, SEEDS))
    for record in json_lines(result.stdout):
        assert set(record) == {"file", "valid", "kind", "errors", "warnings"}
        assert isinstance(record["valid"], bool)
        assert record["kind"] in ("request", "response")
        for key in ("errors", "warnings"):
            findings = record[key]
            assert isinstance(findings, list)
            for finding in findings:
                assert set(finding) == {"code", "rfc", "line", "message"}
                assert isinstance(finding["message"], str) and finding["message"]
    kinds = {Path(str(r["file"])).name: r["kind"] for r in json_lines(result.stdout)}
    assert kinds["overview-200-ok.sip"] == "response"


def test_seeds_human_output() -> None:
    """Human output names every file with its verdict and the finding's code and section."""
    result = lint(*map(str, SEEDS))
    assert result.exit_code == 1
    out = result.stdout
    for path in SEEDS:
        verdict = "invalid" if path.name == AS_PRINTED else "valid"
        assert f"{path}: {verdict}" in out
    assert out.count("content-length-mismatch") == 1
    assert "RFC 3261 §20.14" in out
    assert "INVITE sip:user@example.com SIP/2.0" in out


def test_all_valid_exit_0() -> None:
    result = lint("--json", *map(str, VALID_SEEDS))
    assert result.exit_code == 0
    assert all(r["valid"] for r in json_lines(result.stdout))
    human = lint(*map(str, VALID_SEEDS))
    assert human.exit_code == 0
    assert "invalid" not in human.stdout


def test_dash_reads_stdin() -> None:
    data = (SEEDS_DIR / AS_PRINTED).read_bytes()
    result = lint("--json", "-", stdin=data)
    assert result.exit_code == 1
    (record,) = json_lines(result.stdout)
    assert record["file"] == "-"
    assert record["valid"] is False
    good = lint("--json", "-", stdin=(SEEDS_DIR / "overview-200-ok.sip").read_bytes())
    assert good.exit_code == 0
    assert json_lines(good.stdout)[0]["kind"] == "response"


def test_stream_with_three_messages(tmp_path: Path) -> None:
    """§18.3: three Content-Length framed messages in one file are three messages."""
    names = ["overview-invite.sip", "overview-200-ok.sip", "format-invite-no-body.sip"]
    stream = tmp_path / "three.sip"
    stream.write_bytes(b"".join((SEEDS_DIR / n).read_bytes() for n in names))
    result = lint("--json", "--stream", str(stream))
    assert result.exit_code == 0
    (record,) = json_lines(result.stdout)
    assert record["messages"] == 3
    assert record["valid"] is True
    assert record["kind"] is None  # requests and a response
    human = lint("--stream", str(stream))
    assert human.exit_code == 0
    assert "message 3:" in human.stdout
    assert "SIP/2.0 200 OK" in human.stdout


def test_stream_truncated_is_invalid(tmp_path: Path) -> None:
    """§18.3: a stream that ends inside a message is reported ``incomplete-message``."""
    stream = tmp_path / "cut.sip"
    data = (SEEDS_DIR / "overview-invite.sip").read_bytes()
    stream.write_bytes(data + data[:-10])
    result = lint("--json", "--stream", str(stream))
    assert result.exit_code == 1
    (record,) = json_lines(result.stdout)
    assert record["messages"] == 1
    errors = record["errors"]
    assert isinstance(errors, list)
    assert [(e["code"], e["message_index"]) for e in errors] == [("incomplete-message", 1)]


def test_missing_file_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sip"
    result = lint(str(missing), str(SEEDS_DIR / "overview-invite.sip"))
    assert result.exit_code == 2
    assert "nope.sip" in result.stderr
    assert "cannot read" in result.stderr
    assert f"{SEEDS_DIR / 'overview-invite.sip'}: valid" in result.stdout


def test_no_arguments_exit_2() -> None:
    result = lint()
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


def test_unknown_option_exit_2() -> None:
    assert lint("--frobnicate", str(SEEDS[0])).exit_code == 2


def test_real_subprocess() -> None:
    """``python -m sipwright lint`` as a separate process: exit code and JSON on stdout."""
    env = {**os.environ, **ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "sipwright", "lint", "--json", *map(str, SEEDS)],
        capture_output=True,
        cwd=REPO_DIR,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    records = json_lines(proc.stdout.decode())
    assert len(records) == len(SEEDS)
    assert [Path(str(r["file"])).name for r in records if not r["valid"]] == [AS_PRINTED]
    human = subprocess.run(
        [sys.executable, "-m", "sipwright", "lint", *map(str, VALID_SEEDS)],
        capture_output=True,
        cwd=REPO_DIR,
        env=env,
        timeout=60,
        check=False,
    )
    assert human.returncode == 0, human.stderr
    assert human.stdout.decode().count(": valid") == len(VALID_SEEDS)
