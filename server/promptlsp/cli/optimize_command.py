"""``promptlsp optimize FILE``: estimate, run GRAD-SUM or TGD with a progress bar, show the result
and the diff; ``--write`` puts the new prompt into the file (only its prompt strings change)."""

from __future__ import annotations

import asyncio
import difflib
import json
import sys

from rich.console import Console

from ..document.edit import EditError, rewrite_prompt
from ..state import runs_path
from .common import CommandError, load, make_engine
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
    prompt_file = loaded.analysis.prompt
    from ..engine import Budget
    from ..optimize import make_optimizer
    from ..runs import RunStore, RunStoreError

    budget = prompt_file.optimize.budget
    if args.budget_calls is not None:
        budget = Budget(max_calls=args.budget_calls, max_tokens=budget.max_tokens, max_usd=budget.max_usd)
    err = Console(stderr=True, soft_wrap=True)  # messages are not wrapped: logs and greps see whole lines
    engine = make_engine(loaded.root)
    session = engine.session(budget=budget, use_cache=not args.no_cache)
    try:
        store = RunStore.open(runs_path(loaded.root))
    except RunStoreError as exc:
        err.print(f"run store unavailable ({exc}); the run is not recorded")
        store = None

    def on_event(event) -> None:
        if store is not None:
            try:
                store.record(optimizer.run_id, event)
            except RunStoreError as exc:
                err.print(f"run store error: {exc}")
        progress.on_event(event)

    optimizer = make_optimizer(prompt_file, session, method=args.method, emit=on_event,
                               iterations=args.iterations)
    progress = OptimizeProgress(err, session, optimizer.method, optimizer.settings.iterations,
                                disable=args.format == "json" and not err.is_terminal)
    estimate = optimizer.estimate()
    over = estimate.exceeds(budget)
    err.print(f"[bold]{optimizer.method}[/bold] on {args.file}: {plural(optimizer.settings.iterations, 'iteration')}, "
              f"at most {plural(estimate.calls, 'call')}, {plural(estimate.tokens, 'token')}, {cost_text(estimate)}"
              + (f" (the budget's {over} stops it earlier)" if over else ""), highlight=False)
    usd_note = estimate.usd_unenforced(budget)
    if usd_note is not None:
        if _only_usd_given(loaded.analysis.data, args.budget_calls):
            engine.close()
            if store is not None:
                store.close()
            raise CommandError(f"refused: {usd_note}, and it is the only budget limit set. "
                               "Add max_calls or max_tokens to [optimize.budget], or pass --budget-calls N.")
        err.print(f"warning: {usd_note}; {_other_limits(budget)} still limit the run", highlight=False)

    async def main():
        with progress:
            return await optimizer.run()

    try:
        finished = asyncio.run(main())
    except KeyboardInterrupt:
        err.print("interrupted: the file is unchanged")
        return 130
    finally:
        engine.close()
        if store is not None:
            store.close()

    new = {k: v for k, v in (("template", finished.best.template), ("system", finished.best.system)) if v is not None}
    changed = finished.best.id != optimizer.initial.id
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
            "run_id": optimizer.run_id, "status": finished.status, "method": optimizer.method,
            "scored_on": finished.scored_on, "initial_score": finished.initial_score, "best_score": finished.best_score,
            "changed": changed, "written": written, "best": finished.best.to_dict(), "diff": diff,
            "estimate": estimate.as_dict(), "accounting": finished.accounting, "message": finished.message,
            "warnings": [usd_note] if usd_note else [],
        }
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        console = Console(soft_wrap=True)
        total = finished.accounting.get("total", {})
        console.print(f"{finished.status}: {finished.scored_on} score {format_score(finished.initial_score)} → "
                      f"{format_score(finished.best_score)} · {plural(total.get('calls', 0), 'call')}, "
                      f"{total.get('cache_hits', 0)} cached, {plural(total.get('tokens', 0), 'token')} · run {optimizer.run_id}")
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
