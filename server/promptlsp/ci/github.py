"""GitHub Actions annotations: ``::error file=…,line=…,col=…::message`` lines that the runner
turns into notes on the pull request's diff (only when ``GITHUB_ACTIONS=true``): errors and
warnings of ``check``, an error per failing example of ``eval``.

Escaping follows the runner's rules: in the message ``%``, CR and LF are percent-encoded; in
property values ``:`` and ``,`` are too. Columns are 1-based characters (code points), as in
the text output's ``path:line:col``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping

from ..document import Analysis
from .places import Place, diagnostic_place, example_place, failure_reason
from .targets import display_name

if TYPE_CHECKING:  # the batch (asyncio) is eval's; check annotates without it
    from .batch import FileEval

COMMANDS = {"error": "error", "warning": "warning"}  # notes and hints stay in the log: they would crowd the diff


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    return (environ if environ is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, name: str, place: Place, message: str, title: str | None = None) -> str:
    first, last = place.lines()
    props = {"file": name, "line": str(first), "endLine": str(last)}
    columns = place.columns("utf-32")
    if columns is not None and first == last:  # GitHub takes columns on one-line ranges only
        props |= {"col": str(columns[0]), "endColumn": str(columns[1])}
    if title:
        props["title"] = title
    joined = ",".join(f"{k}={escape_property(v)}" for k, v in props.items())
    return f"::{COMMANDS[level]} {joined}::{escape_data(message)}"


def diagnostic_lines(name: str, analysis: Analysis) -> Iterator[str]:
    for d in sorted(analysis.diagnostics, key=lambda d: d.span.start):
        if d.severity in COMMANDS:
            yield annotation(d.severity, name, diagnostic_place(analysis, d), d.message, f"promptlsp {d.code}")


def eval_lines(items: Iterable["FileEval"]) -> Iterator[str]:
    """An error per failing example (and per diagnostic of a file that could not run)."""
    for item in items:
        if item.analysis is None:
            yield f"::error file={escape_property(item.name)}::{escape_data(f'cannot read: {item.error}')}"
        elif not item.runnable:
            yield from diagnostic_lines(item.name, item.analysis)
        else:
            for result in item.results:
                if not result.passed:
                    place = example_place(item.analysis, result)
                    name = item.name if place.path == item.path else display_name(place.path)
                    yield annotation("error", name, place, f"example '{result.example_id}' failed: "
                                     f"{failure_reason(result)}", "promptlsp eval")
