"""``promptlsp check PATH...``: diagnostics as ``path:line:col: severity: message [code]``, then
one summary line (``2 files checked: 1 error, 3 warnings``); or one JSON, JUnit or SARIF report.
Folders are searched for ``*.prompt.toml``; globs are expanded (``ci/targets.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..ci import github
from ..ci.targets import display_name, expand
from ..document import Analysis, analyze, read_text
from .common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, print_diagnostics, records, unreadable
from .report_output import annotate, report_stream
from .words import plural


def summary(files: int, rows: list[dict[str, Any]]) -> str:
    """The last line of the text format: "2 files checked: 1 error, 3 warnings"."""
    counts = {sev: sum(r["severity"] == sev for r in rows) for sev in ("error", "warning", "information", "hint")}
    found = [plural(n, noun) for sev, noun in (("error", "error"), ("warning", "warning"), ("information", "note"),
                                                ("hint", "hint")) if (n := counts[sev])]
    return f"{plural(files, 'file')} checked: {', '.join(found) if found else 'no problems'}"


def run(args) -> int:
    status = EXIT_OK
    root = Path(args.root) if args.root else None
    if root is not None and not root.is_dir():
        print(f"promptlsp: --root {args.root}: not a directory", file=sys.stderr)
        return EXIT_USAGE
    targets = expand(args.files)
    for problem in targets.problems:
        print(f"promptlsp: {problem}", file=sys.stderr)
        status = EXIT_USAGE
    # (path, name as given or found, analysis or None, why unreadable)
    checked: list[tuple[Path, str, Analysis | None, str | None]] = []
    for path in targets.files:
        name = str(path)
        try:
            text = read_text(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = unreadable(exc)
            print(f"promptlsp: cannot read {name}: {reason}", file=sys.stderr)
            checked.append((path, name, None, reason))
            status = EXIT_USAGE
            continue
        analysis = analyze(text, path, root)
        checked.append((path, name, analysis, None))
        if not analysis.ok and status == EXIT_OK:
            status = EXIT_FINDINGS
    with report_stream(args) as out:
        _write(args, checked, out)
    if github.enabled():
        annotate(args, (line for _, _, analysis, _ in checked if analysis is not None
                        for line in github.diagnostic_lines(display_name(analysis.path), analysis)))
    return status


def _write(args, checked, out) -> None:
    if args.format == "junit":
        from ..ci.junit import check_xml, write

        write(check_xml(checked), out)
    elif args.format == "sarif":
        from ..ci.sarif import check_log

        json.dump(check_log((path, analysis, error) for path, _, analysis, error in checked), out, indent=2,
                  ensure_ascii=False)
        out.write("\n")
    elif args.format == "json":
        reports = [{"file": name, "error": f"cannot read: {error}", "diagnostics": []} if analysis is None
                   else {"file": name, "diagnostics": records(analysis)} for _, name, analysis, error in checked]
        json.dump({"files": reports}, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        rows = []
        for _, name, analysis, _ in checked:
            if analysis is not None:
                rows += (found := records(analysis))
                print_diagnostics(name, found, out)
        print(summary(sum(a is not None for _, _, a, _ in checked), rows), file=out)
