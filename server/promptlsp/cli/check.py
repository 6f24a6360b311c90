"""``promptlsp check FILE...``: diagnostics as ``path:line:col: severity: message [code]``, then
one summary line (``2 files checked: 1 error, 3 warnings``); or one JSON report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..document import Analysis, Diagnostic, analyze, read_text
from .main import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from .words import plural


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


def summary(files: int, rows: list[dict[str, Any]]) -> str:
    """The last line of the text format: "2 files checked: 1 error, 3 warnings"."""
    counts = {sev: sum(r["severity"] == sev for r in rows) for sev in ("error", "warning", "information", "hint")}
    found = [plural(n, noun) for sev, noun in (("error", "error"), ("warning", "warning"), ("information", "note"),
                                                ("hint", "hint")) if (n := counts[sev])]
    return f"{plural(files, 'file')} checked: {', '.join(found) if found else 'no problems'}"


def run(args) -> int:
    status = EXIT_OK
    reports = []
    seen: list[dict[str, Any]] = []
    root = Path(args.root) if args.root else None
    if root is not None and not root.is_dir():
        print(f"promptlsp: --root {args.root}: not a directory", file=sys.stderr)
        return EXIT_USAGE
    for name in args.files:
        path = Path(name)
        try:
            text = read_text(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = unreadable(exc)
            print(f"promptlsp: cannot read {name}: {reason}", file=sys.stderr)
            reports.append({"file": name, "error": f"cannot read: {reason}", "diagnostics": []})
            status = EXIT_USAGE
            continue
        analysis = analyze(text, path, root)
        rows = records(analysis)
        reports.append({"file": name, "diagnostics": rows})
        seen += rows
        if not analysis.ok and status == EXIT_OK:
            status = EXIT_FINDINGS
        if args.format == "text":
            print_diagnostics(name, rows, sys.stdout)
    if args.format == "json":
        json.dump({"files": reports}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        checked = sum("error" not in r for r in reports)  # unreadable files were reported on stderr
        print(summary(checked, seen))
    return status
