"""``promptlsp eval FILE``: run the prompt on its examples and score them (a CI gate with --min-score);
``--example ID`` runs one example. Each evaluation is recorded in the run store (runs/evaluation.py)."""

from __future__ import annotations

import asyncio
import json
import sys

from rich.console import Console
from rich.table import Table

from .common import CommandError, load, make_engine
from .common import EXIT_FINDINGS, EXIT_OK
from .progress import eval_progress
from .words import plural
from ..evaluate.results import format_score


def _short(text: str | None, width: int = 60) -> str:
    if text is None:
        return "—"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def run(args) -> int:
    loaded = load(args.file, args.root)
    prompt_file = loaded.analysis.prompt
    examples = prompt_file.split(args.split)
    err = Console(stderr=True, soft_wrap=True)  # messages are not wrapped: logs and greps see whole lines
    from ..runs.evaluation import EVALUATE, EXAMPLE, UnknownExample, find_example, recorded_evaluation
    from ..runs.service import RunService

    if args.example is not None:
        try:
            examples = (find_example(prompt_file, args.example),)
        except UnknownExample as exc:
            raise CommandError(str(exc)) from exc
    if not examples:
        err.print(f"no examples in the {args.split} split")
        return EXIT_FINDINGS if args.min_score is not None else EXIT_OK

    engine = make_engine(loaded.root)
    session = engine.session(use_cache=not args.no_cache)
    progress = eval_progress(err, session, disable=not err.is_terminal)
    service = RunService()  # the run store: the results show in an editor's inlay hints too

    async def main():
        with progress:
            bar = progress.add_task("eval", total=len(examples))
            run_id, report = await recorded_evaluation(
                session, prompt_file, examples, store=service.open_store(loaded.root, err.print), warn=err.print,
                method=EXAMPLE if args.example is not None else EVALUATE,
                scored_on=examples[0].split if args.example is not None else args.split,
                on_result=lambda _r: progress.advance(bar))
        return run_id, report

    try:
        run_id, report = asyncio.run(main())
    finally:
        engine.close()
        service.close()
    score = report.score
    errors = [r for r in report.results if r.score is None]
    gate_failed = args.min_score is not None and (score is None or score < args.min_score or bool(errors))
    if args.format == "json":
        out = report.to_dict() | {"split": args.split, "min_score": args.min_score, "gate_passed": not gate_failed,
                                  "run_id": run_id}
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        console = Console()
        table = Table(title=f"{prompt_file.name}: {args.split} split")
        for column in ("example", "split", "score", "pass", "output", "why"):
            table.add_column(column, overflow="fold")
        for r in report.results:
            failing = [c for c in r.checks if not c.passed and c.weight > 0]
            why = r.error or (failing[0].reason if failing else "")
            table.add_row(r.example_id, r.split, format_score(r.score), "yes" if r.passed else "no", _short(r.output), _short(why, 80))
        console.print(table)
        for split, row in report.split_scores().items():
            console.print(f"{split}: score {format_score(row['score'])} over {plural(row['examples'], 'example')}, "
                          f"{row['passed']} passed, {plural(row['errors'], 'error')}")
        total = report.accounting.get("total", {})
        console.print(f"score {format_score(score)}; {plural(total.get('calls', 0), 'model call')}, "
                      f"{total.get('cache_hits', 0)} from cache")
        if errors:
            console.print(f"{plural(len(errors), 'example')} could not be scored (see 'why')")
        if args.min_score is not None:
            verdict = "FAILED" if gate_failed else "passed"
            console.print(f"gate --min-score {args.min_score}: {verdict}")
    return EXIT_FINDINGS if gate_failed else EXIT_OK
