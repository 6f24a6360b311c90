"""``promptlsp check FILE...``: diagnostics as ``path:line:col: severity: message [code]``, then
one summary line (``2 files checked: 1 error, 3 warnings``); or one JSON report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..document import analyze, read_text
from .common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, print_diagnostics, records, unreadable
from .words import plural


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
