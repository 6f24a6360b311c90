"""``promptlsp optimize FILE``: estimate, run GRAD-SUM or TGD with a progress bar, show the result
and the diff; ``--write`` puts the new prompt into the file (only its prompt strings change)."""

from __future__ import annotations

import asyncio
import difflib
import json
import sys

from rich.console import Console

from ..document.edit import EditError, rewrite_prompt
from .common import CommandError, load
from .file_write import write_atomically
from .progress import OptimizeProgress
from .words import plural
from .common import EXIT_FINDINGS, EXIT_OK
from ..evaluate.results import format_score


def cost_text(estimate) -> str:
    """The estimate's cost, or why it is unknown."""
    if estimate.cost_usd is not None:
        return f"${estimate.cost_usd:.4f}"
    return f"cost unknown (litellm has no price for {', '.join(estimate.unpriced)})"


def _only_usd_given(data: dict | None, budget_calls: int | None) -> bool:
    """Whether the user capped the run by USD alone (the 500-call default does not count: the
    user did not choose it, and meant the USD limit to be the one that stops the run)."""
    given = set(((data or {}).get("optimize") or {}).get("budget") or {})
    return budget_calls is None and not given & {"max_calls", "max_tokens"}


def _other_limits(budget) -> str:
    limits = [f"{name} = {getattr(budget, name)}" for name in ("max_calls", "max_tokens")
              if getattr(budget, name) is not None]
    return " and ".join(limits)


def run(args) -> int:
    loaded = load(args.file, args.root)
    from ..runs.service import Recorder, RunService

    err = Console(stderr=True, soft_wrap=True)  # messages are not wrapped: logs and greps see whole lines
    service = RunService()
    try:
        recorder = Recorder(err.print)
        recorder.store = service.open_store(loaded.root, err.print)
        plan = service.plan(loaded.analysis.prompt, loaded.root, method=args.method, iterations=args.iterations,
                            budget_calls=args.budget_calls, emit=recorder, use_cache=not args.no_cache)
        progress = OptimizeProgress(err, plan.session, plan.method, plan.iterations,
                                    disable=args.format == "json" and not err.is_terminal)
        recorder.listeners.append(progress.on_event)
        finished = _run(args, loaded, plan, progress, err)
    finally:
        service.close()
    if finished is None:
        err.print("interrupted: the file is unchanged")
        return 130
    return _report(args, loaded, plan, finished)


def _run(args, loaded, plan, progress, err):
    """Announce the plan, refuse it or run it; the RunFinished event, or None when interrupted."""
    estimate, over, usd_note = plan.estimate, plan.over, plan.usd_note
    err.print(f"[bold]{plan.method}[/bold] on {args.file}: {plural(plan.iterations, 'iteration')}, "
              f"at most {plural(estimate.calls, 'call')}, {plural(estimate.tokens, 'token')}, {cost_text(estimate)}"
              + (f" (the budget's {over} stops it earlier)" if over else ""), highlight=False)
    if plan.refusal_reason(usd_is_the_only_limit=_only_usd_given(loaded.analysis.data, args.budget_calls),
                           refuse_over_budget=False) is not None:
        raise CommandError(f"refused: {usd_note}, and it is the only budget limit set. "
                           "Add max_calls or max_tokens to [optimize.budget], or pass --budget-calls N.")
    if usd_note is not None:
        err.print(f"warning: {usd_note}; {_other_limits(plan.budget)} still limit the run", highlight=False)

    async def main():
        with progress:
            return await plan.optimizer.run()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return None


def _report(args, loaded, plan, finished) -> int:
    """Rewrite (with ``--write``), print the result and the diff; the exit status."""
    usd_note = plan.usd_note
    new = {k: v for k, v in (("template", finished.best.template), ("system", finished.best.system)) if v is not None}
    changed = finished.best.id != plan.optimizer.initial.id
    try:
        new_text = rewrite_prompt(loaded.text, new) if changed else loaded.text
    except EditError as exc:
        raise CommandError(f"cannot rewrite {args.file}: {exc}") from exc
    diff = "".join(difflib.unified_diff(loaded.text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                        fromfile=f"a/{args.file}", tofile=f"b/{args.file}"))
    written = False
    if args.write and changed:
        write_atomically(loaded.path, loaded.text, new_text)
        written = True

    if args.format == "json":
        out = {
            "run_id": plan.run_id, "status": finished.status, "method": plan.method,
            "scored_on": finished.scored_on, "initial_score": finished.initial_score, "best_score": finished.best_score,
            "changed": changed, "written": written, "best": finished.best.to_dict(), "diff": diff,
            "estimate": plan.estimate.as_dict(), "accounting": finished.accounting, "message": finished.message,
            "warnings": [usd_note] if usd_note else [],
        }
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        console = Console(soft_wrap=True)
        total = finished.accounting.get("total", {})
        console.print(f"{finished.status}: {finished.scored_on} score {format_score(finished.initial_score)} → "
                      f"{format_score(finished.best_score)} · {plural(total.get('calls', 0), 'call')}, "
                      f"{total.get('cache_hits', 0)} cached, {plural(total.get('tokens', 0), 'token')} · run {plan.run_id}")
        if finished.message:
            console.print(finished.message)
        if usd_note:
            console.print(f"note: {usd_note} (not enforced in this run)", highlight=False)
        if diff:
            console.print(diff, markup=False, highlight=False, end="")
            console.print("written to " + args.file if written else "not written (use --write to apply)")
        else:
            console.print("the prompt is unchanged")
    return EXIT_FINDINGS if finished.status == "failed" else EXIT_OK
