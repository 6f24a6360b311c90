"""The optimize progress line says where the run is, and its clock runs until the run ends."""

import io

from rich.console import Console

from promptlsp.cli import optimize_command
from promptlsp.cli.main import main
from promptlsp.cli.progress import OptimizeProgress, eval_progress
from promptlsp.engine import Engine, ScriptedBackend
from promptlsp.engine.accounting import Usage
from promptlsp.optimize.events import (
    CandidateProposed, CandidateScored, ExampleScored, IterationDone, PromptText, RunFinished, RunStarted,
)

P = PromptText("p")


def _progress(iterations=2):
    session = Engine(None, ScriptedBackend("x")).session()
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    return session, OptimizeProgress(console, session, "gradsum", iterations, disable=False)


def test_the_line_follows_iterations_steps_calls_and_the_best_score():
    session, progress = _progress()
    with progress:
        assert progress.status() == "starting · 0 calls"
        progress.on_event(RunStarted("r", "gradsum", None, P, {}, {}))
        assert progress.status() == "iteration 1/2 · evaluating · 0 calls"
        accounting = session.accounting
        with accounting.in_flight("gradient"), accounting.in_flight("summary"):  # calls in flight name the step
            assert progress.status() == "iteration 1/2 · critiquing · 0 calls"
            with accounting.in_flight("edit"):
                assert progress.status() == "iteration 1/2 · critiquing + rewriting · 0 calls"
        for _ in range(3):
            accounting.settle(accounting.reserve("task", 0, 0.0), Usage(1, 1), 0.0, 0.1)
        accounting.cache_hit("task")
        progress.on_event(CandidateProposed("c", "p", 1, P, "edit"))
        assert progress.status() == "iteration 1/2 · rewriting · 3 calls (1 cached)"
        progress.on_event(IterationDone(1, "c", 0.5))
        assert progress.status() == "iteration 2/2 · rewriting · 3 calls (1 cached) · best 0.500"
        progress.on_event(ExampleScored("c", "e", "train", 1.0, True, "out"))
        assert progress.status().startswith("iteration 2/2 · evaluating")
        progress.on_event(IterationDone(2, "c", 0.75))
        assert progress.status() == "validating · 3 calls (1 cached) · best 0.750"
        (task,) = progress.progress.tasks
        assert not task.finished  # the clock keeps running through the final validation
        progress.on_event(RunFinished("finished", "c", P, 0.1, 0.8, "validation"))
        assert task.finished and progress.status().startswith("finished · ")


def test_a_run_stopped_early_by_its_budget_shows_its_validation():
    _, progress = _progress(iterations=5)
    with progress:
        progress.on_event(RunStarted("r", "gradsum", None, P, {}, {}))
        progress.on_event(CandidateScored("c", "validation", 0.5, 4, iteration=6))
        assert progress.status().startswith("validating · ")


def test_the_optimize_command_feeds_the_line_every_event(workspace, capsys, monkeypatch):
    seen = []

    class Recording(OptimizeProgress):
        def on_event(self, event):
            super().on_event(event)
            seen.append(self.status())

    monkeypatch.setattr(optimize_command, "OptimizeProgress", Recording)
    assert main(["optimize", str(workspace), "--iterations", "2"]) == 0
    assert any(s.startswith("iteration 1/2 · evaluating · ") for s in seen)
    assert any(s.startswith("iteration 1/2 · critiquing · ") for s in seen)
    assert any(s.startswith("iteration 1/2 · rewriting · ") for s in seen)
    assert any(s.startswith("iteration 2/2 · ") and " · best " in s for s in seen)
    assert any(s.startswith("validating · ") for s in seen)
    assert seen[-1].startswith("finished · ") and " calls" in seen[-1]


def test_the_eval_bar_counts_calls_live():
    session = Engine(None, ScriptedBackend("x")).session()
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    bar = eval_progress(console, session, disable=False)
    accounting = session.accounting
    accounting.settle(accounting.reserve("task", 0, 0.0), Usage(1, 1), 0.0, 0.1)
    task = bar.add_task("eval", total=3)
    rendered = " ".join(str(column.render(bar.tasks[task])) for column in bar.columns if hasattr(column, "render"))
    assert "evaluating" in rendered and "0/3" in rendered and "1 call" in rendered
