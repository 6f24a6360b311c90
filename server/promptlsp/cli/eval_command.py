"""``promptlsp eval PATH...``: run prompt files on their examples and score them — files,
folders and globs, all at once under one budget (``ci/batch.py``) — and print the result as
text, JSON, JUnit or SARIF; gates: ``--min-score`` per file, ``--baseline`` (``ci/baseline.py``).
``--example ID`` runs one example of one file. Each file's evaluation is recorded in its
workspace's run store (``runs/evaluation.py``), so an editor shows the results as inlay hints."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .common import EXIT_FINDINGS, EXIT_OK, EXIT_REGRESSED, EXIT_USAGE, make_engine, print_diagnostics, records
from .progress import eval_progress
from .report_output import annotate, report_stream
from .words import plural
from ..ci import baseline as baselines
from ..ci import github
from ..ci.batch import FileEval, evaluate_files, load
from ..ci.places import failing_check, failure_reason
from ..ci.targets import expand
from ..document import find_root
from ..evaluate.results import format_score

SPLITS = ("train", "validation", "test")


def _short(text: str | None, width: int = 60) -> str:
    if text is None:
        return "—"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def run(args) -> int:
    err = Console(stderr=True, soft_wrap=True)  # messages are not wrapped: logs and greps see whole lines
    targets = expand(args.paths)
    for problem in targets.problems:
        err.print(f"promptlsp: {problem}", markup=False, highlight=False)
    if not targets.files:
        return EXIT_USAGE
    root = Path(args.root) if args.root else None
    items = [load(path, root, args.split) for path in targets.files]
    if args.example is not None and not _pick_example(args.example, items, err):
        return EXIT_USAGE
    for item in items:
        if item.analysis is None:
            err.print(f"promptlsp: cannot read {item.name}: {item.error}", markup=False, highlight=False)
        elif not item.runnable:
            print_diagnostics(item.name, records(item.analysis), sys.stderr)
            err.print(f"promptlsp: {item.name} has errors; not evaluated (promptlsp check {item.name})",
                      markup=False, highlight=False)
        elif not item.examples:
            err.print(f"{item.name}: no examples in the {args.split} split", markup=False, highlight=False)
    _evaluate(args, items, root, err)

    status = EXIT_USAGE if any(item.analysis is None for item in items) else EXIT_OK
    if status == EXIT_OK and not all(item.gate(args.min_score) for item in items):
        status = EXIT_FINDINGS
    comparisons = _compare(args, items)
    if comparisons is None:
        return EXIT_USAGE
    if status != EXIT_USAGE and any(c.regressed(args.tolerance) for c in comparisons):
        status = EXIT_REGRESSED
    single = len(args.paths) == 1 and len(items) == 1 and Path(args.paths[0]).is_file()
    with report_stream(args) as out:
        _write(args, items, comparisons, out, single)
    if github.enabled():
        annotate(args, github.eval_lines(items))
    if args.save_baseline is not None:
        count = baselines.save(Path(args.save_baseline), items)
        err.print(f"baseline: {plural(count, 'example')} written to {args.save_baseline}", markup=False, highlight=False)
    return status


def _evaluate(args, items: list[FileEval], root: Path | None, err: Console) -> None:
    runnable = [item for item in items if item.runnable and item.examples]
    if not runnable:
        return
    from ..engine import Budget

    from ..runs.evaluation import EVALUATE, EXAMPLE
    from ..runs.service import RunService

    engine = make_engine(root or find_root(runnable[0].path))
    budget = Budget(max_calls=args.budget_calls) if args.budget_calls else None
    session = engine.session(budget=budget, use_cache=not args.no_cache)
    progress = eval_progress(err, session, disable=not err.is_terminal)
    service = RunService()  # the run stores: the results show in an editor's inlay hints too

    def store(item: FileEval):
        return service.open_store(root or find_root(item.path), lambda message: err.print(message, markup=False))

    async def main():
        with progress:
            bar = progress.add_task("eval", total=sum(len(item.examples) for item in runnable))
            await evaluate_files(session, runnable, on_result=lambda _i, _r: progress.advance(bar), store_for=store,
                                 method=EXAMPLE if args.example is not None else EVALUATE,
                                 warn=lambda message: err.print(message, markup=False))

    try:
        asyncio.run(main())
    finally:
        engine.close()
        service.close()


def _pick_example(example_id: str, items: list[FileEval], err: Console) -> bool:
    """``--example ID``: one file, that example only (any split); False (said why) otherwise."""
    from ..runs.evaluation import UnknownExample, find_example

    if len(items) != 1:
        err.print(f"promptlsp: --example needs exactly one prompt file, got {len(items)}", markup=False, highlight=False)
        return False
    (item,) = items
    if not item.runnable:
        return True  # its errors are reported as for any file
    try:
        item.examples = (find_example(item.analysis.prompt, example_id),)
    except UnknownExample as exc:
        err.print(f"promptlsp: {exc}", markup=False, highlight=False)
        return False
    return True


def _compare(args, items: list[FileEval]) -> list[baselines.FileComparison] | None:
    if args.baseline is None:
        return []
    try:
        return baselines.compare(baselines.read(Path(args.baseline)), items)
    except baselines.BaselineError as exc:
        print(f"promptlsp: {exc}", file=sys.stderr)
        return None


def _write(args, items: list[FileEval], comparisons, out, single: bool) -> None:
    if args.format == "junit":
        from ..ci.junit import eval_xml, write

        write(eval_xml(items), out)
    elif args.format == "sarif":
        from ..ci.sarif import eval_log

        json.dump(eval_log(items), out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif args.format == "json":
        json.dump(_json(args, items, comparisons, single), out, indent=2, ensure_ascii=False, default=str)
        out.write("\n")
    else:
        console = Console(file=out, soft_wrap=True)
        if not console.is_terminal:  # a CI log: whole file names, not rich's 80 columns
            console.width = max(100, 90 + max(len(item.name) for item in items))
        if single and items[0].report is not None:
            _file_table(console, items[0], args)
        else:
            _summary_table(console, items)
        _gate_lines(console, items, args)
    if comparisons and args.format != "json":
        _baseline_text(Console(file=out if args.format == "text" else sys.stderr, soft_wrap=True), comparisons, args.tolerance)


def _json(args, items: list[FileEval], comparisons, single: bool) -> dict:
    def one(item: FileEval) -> dict:
        base = item.report.to_dict() if item.report is not None else {"score": None, "examples": []}
        if item.report is not None and not single:
            base["accounting"] = item.accounting  # this file's calls; the run's are below
        return base | {"file": item.name, "split": args.split, "min_score": args.min_score,
                       "gate_passed": item.gate(args.min_score), "error": item.error, "run_id": item.run_id,
                       "diagnostics": records(item.analysis) if item.analysis is not None and not item.runnable else []}

    extra = {"baseline": [c.to_dict(args.tolerance) for c in comparisons]} if args.baseline else {}
    if single:
        return one(items[0]) | extra
    return {"files": [one(item) for item in items], "gate_passed": all(i.gate(args.min_score) for i in items)} | extra


def _file_table(console: Console, item: FileEval, args) -> None:
    """One file: every example (today's single-file output)."""
    report = item.report
    table = Table(title=f"{item.analysis.prompt.name}: {args.split} split")
    for column in ("example", "split", "score", "pass", "output", "why"):
        table.add_column(column, overflow="fold")
    for r in report.results:
        check = failing_check(r)
        why = r.error or (check.reason if check else "")
        table.add_row(r.example_id, r.split, format_score(r.score), "yes" if r.passed else "no", _short(r.output),
                      _short(why, 80))
    console.print(table)
    for split, row in report.split_scores().items():
        console.print(f"{split}: score {format_score(row['score'])} over {plural(row['examples'], 'example')}, "
                      f"{row['passed']} passed, {plural(row['errors'], 'error')}")
    total = report.accounting.get("total", {})
    console.print(f"score {format_score(report.score)}; {plural(total.get('calls', 0), 'model call')}, "
                  f"{total.get('cache_hits', 0)} from cache")
    errors = sum(r.score is None for r in report.results)
    if errors:
        console.print(f"{plural(errors, 'example')} could not be scored (see 'why')")


def _summary_table(console: Console, items: list[FileEval]) -> None:
    """Many files: one row each — score per split, passed/total, calls, cost."""
    table = Table(title=f"promptlsp eval: {plural(len(items), 'file')}")
    for column in ("file", "score", *SPLITS, "passed", "calls", "cached", "cost"):
        table.add_column(column, overflow="fold", justify="left" if column == "file" else "right")
    for item in items:
        if item.report is None:
            why = "unreadable" if item.analysis is None else ("has errors" if not item.runnable else "no examples")
            table.add_row(item.name, why, *("" for _ in SPLITS), "", "", "", "")
            continue
        splits = item.report.split_scores()
        passed = sum(r.passed for r in item.results)
        totals = item.accounting or {}
        cost = totals.get("cost_usd") or 0.0
        table.add_row(item.name, format_score(item.score),
                      *(format_score(splits[s]["score"]) if s in splits else "—" for s in SPLITS),
                      f"{passed}/{len(item.results)}",
                      str(totals.get("calls", 0)), str(totals.get("cache_hits", 0)),
                      f"${cost:.4f}" if cost else "—")
    console.print(table)
    failing = [(item, r) for item in items for r in item.results if not r.passed]
    for item, r in failing[:50]:
        console.print(f"{item.name}: {r.example_id}: {_short(failure_reason(r), 120)}", markup=False, highlight=False)
    if len(failing) > 50:
        console.print(f"… and {plural(len(failing) - 50, 'more failing example')}")


def _gate_lines(console: Console, items: list[FileEval], args) -> None:
    if args.min_score is None:
        return
    failed = [item.name for item in items if not item.gate(args.min_score)]
    if len(items) == 1:
        console.print(f"gate --min-score {args.min_score}: {'FAILED' if failed else 'passed'}")
    else:
        verdict = f"FAILED for {', '.join(failed)}" if failed else f"passed by all {len(items)} files"
        console.print(f"gate --min-score {args.min_score}: {verdict}", markup=False, highlight=False)


def _baseline_text(console: Console, comparisons, tolerance: float, shown: int = 10) -> None:
    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    for c in comparisons:
        head = f"baseline {c.file}: {format_score(c.before)} → {format_score(c.after)}"
        if c.regressed(tolerance):
            say(f"{head}: REGRESSED (tolerance {tolerance:g}); {plural(len(c.worse), 'example')} got worse:")
            for change in c.worse[:shown]:
                say(f"  {change.example}: {format_score(change.before.score)} → {format_score(change.after.score)}")
                say(f"    before: {_short(change.before.output, 200)}")
                say(f"    after:  {_short(change.after.output, 200)}")
            if len(c.worse) > shown:
                say(f"  … and {len(c.worse) - shown} more")
        else:
            say(f"{head}: ok" + (f" ({plural(len(c.worse), 'example')} worse within tolerance)" if c.worse else ""))
        if c.new:
            say(f"  new since the baseline: {', '.join(c.new)}")
        if c.removed:
            say(f"  removed since the baseline: {', '.join(c.removed)}")
