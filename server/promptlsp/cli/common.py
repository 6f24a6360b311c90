"""What the commands share: exit statuses, diagnostics as records and lines, loading a valid
prompt file, and the engine."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..document import Analysis, Diagnostic, analyze, find_root, read_text
from ..state import cache_path

EXIT_OK = 0  # clean / the gate passed / the run finished
EXIT_FINDINGS = 1  # errors found, the --min-score gate failed, or the run failed
EXIT_USAGE = 2  # a usage error, an unreadable file, or an internal error
EXIT_REGRESSED = 3  # eval --baseline: a file's score dropped by more than --tolerance
EXIT_FLUSH_FAILED = 120  # what Python itself exits with when flushing stdout at exit fails
EXIT_INTERRUPTED = 130  # Ctrl-C


def unreadable(exc: OSError | UnicodeDecodeError) -> str:
    """Why a file could not be read, in a few words."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _record(analysis: Analysis, d: Diagnostic) -> dict[str, Any]:
    source = analysis.source
    start32, end32 = source.position(d.span.start, "utf-32"), source.position(d.span.end, "utf-32")
    lsp = source.range(d.span, "utf-16")
    return {
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "line": start32.line + 1,
        "column": start32.character + 1,
        "end_line": end32.line + 1,
        "end_column": end32.character + 1,
        "range": {
            "start": {"line": lsp.start.line, "character": lsp.start.character},
            "end": {"line": lsp.end.line, "character": lsp.end.character},
        },
        "related": [
            {"message": r.message, "file": str(r.file) if r.file else None, "line": r.line}
            for r in d.related
        ],
    }


def records(analysis: Analysis) -> list[dict[str, Any]]:
    """Every diagnostic as a JSON-ready record, in file order."""
    return [_record(analysis, d) for d in sorted(analysis.diagnostics, key=lambda d: d.span.start)]


def print_diagnostics(name: str, rows: list[dict[str, Any]], stream) -> None:
    for r in rows:
        print(f"{name}:{r['line']}:{r['column']}: {r['severity']}: {r['message']} [{r['code']}]", file=stream)


class CommandError(Exception):
    """A problem the user must fix; printed as one line, exit status 2."""


@dataclass
class Loaded:
    path: Path
    root: Path
    text: str
    analysis: Analysis


def load(name: str, root: str | None) -> Loaded:
    path = Path(name)
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {name}: {unreadable(exc)}") from exc
    workspace = Path(root) if root else find_root(path)
    analysis = analyze(text, path, workspace)
    if analysis.prompt is None:
        print_diagnostics(name, records(analysis), sys.stderr)
        raise CommandError(f"{name} has errors; fix them first (promptlsp check {name})")
    return Loaded(path, workspace, text, analysis)


def make_engine(root: Path):
    """The engine of a command, with the workspace's response cache. ``--no-cache`` is a session
    setting (``engine.session(use_cache=False)``): it skips cache reads but still writes, so a
    forced-fresh run refreshes the cache for later runs."""
    from ..engine import Engine

    return Engine(cache_path=cache_path(root))
