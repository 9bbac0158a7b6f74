"""The ``sipwright`` command line.

``sipwright lint`` checks message files (RFC 3261 rules, see ``validate.py``);
``options`` and ``send`` talk to a peer (``aio/cli_commands.py``).
Exit status: 0 when every file is valid, 1 when any is not, 2 for usage or
I/O errors (click's own convention for usage errors).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from ._version import __version__
from .aio.cli_commands import register_commands
from .aio.cli_serve import register_serve_commands
from .aio.cli_ua import register_ua_commands
from .capture.cli_ladder import register_ladder_command
from .validate import Finding, Report, validate, validate_stream

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sipwright")
def main() -> None:
    """sipwright: a correct, fast, typed SIP stack."""


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def _summary(report: Report) -> str:
    msg = report.message
    if msg is None:
        return "unparseable"
    start = msg.start_line()
    return start if len(start) <= 70 else start[:67] + "..."


def _json_record(name: str, reports: list[Report], stream: bool) -> dict[str, object]:
    errors: list[dict[str, object]] = []
    warnings: list[dict[str, object]] = []
    for index, report in enumerate(reports):
        for finding in report.findings:
            item = finding.as_dict()
            if stream:
                item["message_index"] = index
            (errors if finding.severity == "error" else warnings).append(item)
    kinds = {r.kind for r in reports if r.kind is not None}
    kind = kinds.pop() if len(kinds) == 1 else None
    record: dict[str, object] = {
        "file": name,
        "valid": bool(reports) and all(r.valid for r in reports),
        "kind": kind,
        "errors": errors,
        "warnings": warnings,
    }
    if stream:
        record["messages"] = sum(1 for r in reports if r.message is not None)
    return record


def _print_finding(console: Console, finding: Finding) -> None:
    colour = "red" if finding.severity == "error" else "yellow"
    where = f"line {finding.line}" if finding.line is not None else "message"
    console.print(
        f"  [{colour}]{finding.severity:<7}[/{colour}] {where:<9} "
        f"[bold]{finding.code}[/bold]: {escape(finding.message)} "
        f"[dim]({finding.rfc})[/dim]",
        highlight=False,
    )


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file per line.")
@click.option(
    "--stream",
    is_flag=True,
    help="Treat each file as a TCP byte stream: several messages framed by Content-Length.",
)
def lint(files: tuple[str, ...], as_json: bool, stream: bool) -> None:
    """Check SIP messages in FILES ('-' for stdin) against RFC 3261."""
    console = Console(highlight=False)
    err_console = Console(stderr=True, highlight=False)
    any_invalid = False
    io_error = False
    for name in files:
        try:
            data = _read(name)
        except OSError as exc:
            io_error = True
            err_console.print(
                f"[red]{escape(name)}: cannot read: {escape(exc.strerror or str(exc))}"
            )
            continue
        reports = validate_stream(data) if stream else [validate(data)]
        record = _json_record(name, reports, stream)
        valid = bool(record["valid"])
        any_invalid = any_invalid or not valid
        if as_json:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            continue
        verdict = "[green]valid[/green]" if valid else "[red]invalid[/red]"
        console.print(f"[bold]{escape(name)}[/bold]: {verdict}")
        for index, report in enumerate(reports):
            prefix = f"  message {index + 1}: " if stream else "  "
            console.print(f"{prefix}[dim]{escape(_summary(report))}[/dim]")
            for finding in report.findings:
                _print_finding(console, finding)
    if io_error:
        sys.exit(2)
    sys.exit(1 if any_invalid else 0)


# options, send: commands that need the network live in the asyncio shell.
register_commands(main)
# register, call, message: the UserAgent commands (aio/cli_ua.py).
register_ua_commands(main)
# serve, user: the server (aio/cli_serve.py).
register_serve_commands(main)
# ladder: captures and ladder diagrams (capture/cli_ladder.py).
register_ladder_command(main)
