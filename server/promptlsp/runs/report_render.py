"""A :class:`~promptlsp.runs.report.RunReport` as a self-contained HTML page or as text.

The page (``templates/report.html.j2``) needs no network: inline CSS, the chart as inline SVG
(:mod:`promptlsp.runs.chart`, ``templates/chart.svg.j2``), no script, and a Content-Security-
Policy that allows nothing but its own inline styles. Every recorded string (prompts, model
output, critiques, ids) goes through jinja2's autoescaping, so a hostile prompt or answer shows
as text and never becomes markup. The text form (``templates/report.txt.j2``) drops control
characters, so a recorded answer cannot drive the terminal either.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path

import jinja2

from .chart import chart
from .report import RunReport

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@functools.cache
def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=autoescape, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        finalize=None if autoescape else _printable,
    )


def _printable(value):
    return _CONTROL.sub("", value) if isinstance(value, str) else value


def score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f}s"
    minutes, rest = divmod(int(round(value)), 60)
    return f"{minutes}m {rest}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60}m"


def diff_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    return {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")


def _context(report: RunReport) -> dict:
    run = report.run
    return {
        "report": report, "run": run, "score": score, "usd": usd, "seconds": seconds, "diff_class": diff_class,
        "started": dt.datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M:%S"),
        "elapsed": seconds(report.elapsed_s) if report.elapsed_s is not None else "",
        "generated": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
    }


def chart_svg(report: RunReport) -> str:
    """The score chart alone, as an ``<svg>`` element."""
    return _environment(True).get_template("chart.svg.j2").render(c=chart(report))


def render_html(report: RunReport) -> str:
    """The whole page."""
    return _environment(True).get_template("report.html.j2").render(c=chart(report), **_context(report))


def render_text(report: RunReport) -> str:
    return _environment(False).get_template("report.txt.j2").render(**_context(report))
