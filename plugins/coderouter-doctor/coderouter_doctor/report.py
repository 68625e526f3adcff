"""The doctor's report: a table per provider (colour on a terminal, plain text when piped) or
JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO

from coderouter_doctor.probe import ProbeResult
from coderouter_doctor.runner import ProviderReport, exit_code

__all__ = ["render_json", "render_plain", "render_rich", "summary"]

COLOURS = {
    "ok": "green",
    "needs_tuning": "yellow",
    "unsupported": "magenta",
    "auth_fail": "red",
    "transport_error": "red",
    "skip": "dim",
}


def _title(report: ProviderReport) -> str:
    provider = report.provider
    model = provider.model or "(the client's model)"
    paid = ", paid" if provider.paid else ""
    return f"{provider.name} ({provider.kind}{paid}, {model})"


def _notes(result: ProbeResult) -> list[str]:
    notes = []
    if result.patch is not None and result.patch.ops:
        notes.append(f"patch: {result.patch.describe()}")
    if result.advice:
        notes.append(f"advice: {result.advice}")
    return notes


def render_plain(reports: Sequence[ProviderReport]) -> str:
    lines: list[str] = []
    width = max((len(r.probe) for rep in reports for r in rep.results), default=5)
    for report in reports:
        if lines:
            lines.append("")
        lines.append(_title(report))
        for result in report.results:
            lines.append(f"  {result.probe:<{width}}  {result.verdict:<15}  {result.reason}")
            pad = " " * (width + 21)
            lines += [pad + note for note in _notes(result)]
    return "\n".join(lines)


def render_rich(reports: Sequence[ProviderReport], out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, highlight=False)
    for report in reports:
        table = Table(title=_title(report), title_justify="left", expand=False)
        table.add_column("probe", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        table.add_column("reason")
        for result in report.results:
            reason = Text(result.reason)
            for note in _notes(result):
                reason.append("\n" + note, style="cyan")
            table.add_row(result.probe, Text(result.verdict, style=COLOURS[result.verdict]), reason)
        console.print(table)


def render_json(reports: Sequence[ProviderReport]) -> str:
    return json.dumps(
        {
            "providers": {r.provider.name: r.as_json() for r in reports},
            "exit": exit_code(reports),
        },
        indent=2,
    )


def summary(reports: Sequence[ProviderReport]) -> str:
    code = exit_code(reports)
    if code == 1:
        return "some providers failed: see the reasons above"
    if code == 2:
        return (
            "some providers need tuning: `coderouter doctor --dry-run` shows the config "
            "patch, --apply writes it"
        )
    return "every probe passed"
