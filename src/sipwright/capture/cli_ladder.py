"""``sipwright ladder FILE [-o out.html|out.svg] [--call CALL_ID] [--json]``.

Reads a pcap, pcapng or SIPp ``-trace_msg`` log (see :mod:`sipwright.capture.pcap` and
:mod:`sipwright.capture.log`), groups the SIP messages into calls by Call-ID and prints the
text summary (calls, final status, duration, setup time, per-message lint findings), always
with the number of SIP messages read. ``-o X.html`` writes every call into one
self-contained page; ``-o X.svg`` writes one SVG per call, ``X-1.svg``, ``X-2.svg``… (just
``X.svg`` when there is one call, or with ``--call``). ``--json`` prints the summary as one
JSON object instead. Exit status 0; 1 when the file holds no SIP message (or ``--call``
matches none); 2 when it cannot be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from ..ladder import CallFlow, flow_as_dict, render_html, render_svg, split_flows, summary_text
from . import CaptureError
from .pcap import read_capture

__all__ = ["register_ladder_command"]


def register_ladder_command(main: click.Group) -> None:
    """Add ``ladder`` to the main command group."""

    @main.command()
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False),
        default=None,
        help="Write a ladder: .html (all calls, one page) or .svg (one file per call).",
    )
    @click.option("--call", "call_id", default=None, help="Only the call with this Call-ID.")
    @click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
    def ladder(file: str, output: str | None, call_id: str | None, as_json: bool) -> None:
        """Ladder diagrams of the SIP calls in a pcap, pcapng or SIPp message log."""
        err = Console(stderr=True, highlight=False)
        out = Console(highlight=False, soft_wrap=True)
        try:
            cap = read_capture(file)
        except OSError as exc:
            err.print(f"[red]{escape(file)}: cannot read: {escape(exc.strerror or str(exc))}")
            sys.exit(2)
        except CaptureError as exc:
            err.print(f"[red]{escape(file)}: {escape(str(exc))}")
            sys.exit(2)
        flows, orphans = split_flows(cap.messages)
        if call_id is not None:
            flows = [f for f in flows if f.call_id == call_id]
            orphans = []
            if not flows:
                err.print(f"[red]no call with Call-ID {escape(call_id)}")
                sys.exit(1)
        written: list[str] = []
        if output is not None and flows:
            try:
                written = _write(Path(output), flows, file)
            except OSError as exc:
                err.print(f"[red]{escape(output)}: {escape(exc.strerror or str(exc))}")
                sys.exit(2)
        count = sum(len(f.messages) for f in flows) + len(orphans)
        if as_json:
            record = {
                "file": file,
                "format": cap.format,
                "sip_messages": count,
                "packets": cap.packets,
                "warnings": cap.warnings,
                "without_call_id": len(orphans),
                "written": written,
                "calls": [flow_as_dict(f) for f in flows],
            }
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            out.print(
                f"[bold]{escape(file)}[/bold]: {cap.format}, {cap.packets} packet(s), "
                f"[bold]{count} SIP message(s)[/bold], {len(flows)} call(s)"
            )
            for warning in cap.warnings:
                out.print(f"[yellow]warning:[/yellow] {escape(warning)}")
            out.print(escape(summary_text(flows, orphans=orphans)))
            for name in written:
                out.print(f"wrote {escape(name)}")
        sys.exit(0 if count else 1)


def _write(output: Path, flows: list[CallFlow], source: str) -> list[str]:
    if output.suffix.lower() == ".svg":
        if len(flows) == 1:
            output.write_text(render_svg(flows[0]), encoding="utf-8")
            return [str(output)]
        names = []
        for n, flow in enumerate(flows, 1):
            path = output.with_name(f"{output.stem}-{n}{output.suffix}")
            path.write_text(render_svg(flow), encoding="utf-8")
            names.append(str(path))
        return names
    output.write_text(render_html(flows, title=f"SIP ladder: {source}"), encoding="utf-8")
    return [str(output)]
