"""``promptlsp report RUN_ID``: one recorded run as text, or with ``--html FILE`` as a
self-contained page (score chart, critiques, accepted diff, cost per phase)."""

from __future__ import annotations

import sys

from ..runs import RunStoreError
from ..runs.report import RunNotFound, build_report
from ..runs.report_render import render_html, render_text
from .common import EXIT_OK, CommandError
from .runs_command import workspace_store


def run(args) -> int:
    with workspace_store(args.root, None) as store:
        try:
            report = build_report(store, args.run_id)
        except (RunNotFound, RunStoreError) as exc:
            raise CommandError(str(exc)) from exc
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as out:
                out.write(render_html(report))
        except OSError as exc:
            raise CommandError(f"cannot write {args.html}: {exc.strerror or exc}") from exc
        print(f"run {report.run.id}: report written to {args.html}", file=sys.stderr)
        return EXIT_OK
    sys.stdout.write(render_text(report))
    return EXIT_OK
