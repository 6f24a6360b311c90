"""The application layer shared by the CLI and the language server (``promptlsp.runs.service``)."""

from __future__ import annotations

from pathlib import Path

from promptlsp.document import analyze
from promptlsp.engine.estimate import Estimate
from promptlsp.engine.spec import Budget
from promptlsp.optimize.events import ExampleScored, RunStarted
from promptlsp.runs import RunStoreError
from promptlsp.runs.service import Recorder, RunPlan, RunService, example_rows, mean_score, with_max_calls

TEXT = ('task = "t"\n[prompt]\ntemplate = "Hi {{ name }}"\n[optimize]\niterations = 2\n'
        '[[examples]]\nid = "ann"\nvars = { name = "Ann" }\nexpected = "Hi Ann"\n'
        '[[examples]]\nid = "bo"\nvars = { name = "Bo" }\nexpected = "Hi Bo"\n')


def _prompt_file(tmp_path: Path):
    analysis = analyze(TEXT, tmp_path / "a.prompt.toml", tmp_path)
    assert analysis.prompt is not None, analysis.diagnostics
    return analysis.prompt


def test_the_budget_override_replaces_max_calls_only():
    budget = Budget(max_calls=500, max_tokens=9000, max_usd=1.5)
    assert with_max_calls(budget, 7) == Budget(max_calls=7, max_tokens=9000, max_usd=1.5)
    assert with_max_calls(budget, None) is budget
    assert with_max_calls(None, 3) == Budget(max_calls=3)


def _plan(budget: Budget, estimate: Estimate) -> RunPlan:
    return RunPlan(prompt_file=None, session=None, budget=budget, optimizer=None, estimate=estimate)  # type: ignore[arg-type]


def test_refusal_reasons_the_editor_refuses_any_passed_limit_the_terminal_only_an_unenforceable_one():
    over_calls = _plan(Budget(max_calls=10), Estimate(calls=40))
    assert over_calls.over == "max_calls"
    assert over_calls.refusal_reason(usd_is_the_only_limit=False, refuse_over_budget=True) == "over-budget"
    assert over_calls.refusal_reason(usd_is_the_only_limit=False, refuse_over_budget=False) is None
    unpriced = _plan(Budget(max_usd=1.0), Estimate(calls=4, cost_usd=None, unpriced=["openai/qwen"]))
    assert "cannot be enforced" in unpriced.usd_note
    assert unpriced.refusal_reason(usd_is_the_only_limit=True, refuse_over_budget=False) == "usd-unenforced"
    assert unpriced.refusal_reason(usd_is_the_only_limit=False, refuse_over_budget=False) is None
    within = _plan(Budget(max_calls=100), Estimate(calls=4))
    assert within.refusal_reason(usd_is_the_only_limit=False, refuse_over_budget=True) is None


def test_the_plan_binds_the_recorder_and_applies_the_override(tmp_path):
    service = RunService()
    try:
        recorder = Recorder(lambda message: None)
        plan = service.plan(_prompt_file(tmp_path), tmp_path, budget_calls=3, emit=recorder, iterations=1)
        assert recorder.run_id == plan.run_id and plan.budget.max_calls == 3
        assert plan.iterations == 1 and plan.estimate.calls > 0
        assert "at most" in plan.summary("a.prompt.toml")
        assert service.engine(tmp_path) is service.engine(tmp_path)  # one engine per root
    finally:
        service.close()


class _FailingStore:
    def record(self, run_id, event):
        raise RunStoreError("disk full")


def test_a_store_error_is_reported_and_the_event_still_reaches_the_listeners():
    warnings, seen = [], []
    recorder = Recorder(warnings.append, seen.append)
    recorder.store, recorder.run_id = _FailingStore(), "run-1"  # type: ignore[assignment]
    event = RunStarted(run_id="run-1", method="gradsum", file=None, initial=None, settings={}, estimate={})  # type: ignore[arg-type]
    recorder(event)
    assert warnings == ["run store error: disk full"] and seen == [event]


def test_an_unopenable_store_is_none_with_one_warning(tmp_path):
    (tmp_path / ".promptlsp").write_text("a file where the state folder should be")
    warnings = []
    assert RunService().open_store(tmp_path, warnings.append) is None
    assert len(warnings) == 1 and warnings[0].startswith("run store unavailable (")


def test_a_critic_runs_rows_keep_each_examples_first_score(tmp_path):
    prompt_file = _prompt_file(tmp_path)

    def scored(example_id: str, score: float | None) -> ExampleScored:
        return ExampleScored(candidate_id="c", example_id=example_id, split="validation", score=score,
                             passed=bool(score), output="Hi")

    rows = example_rows(prompt_file, [scored("ann", 1.0), scored("bo", None), scored("ann", 0.0)])
    assert [(r["example_id"], r["score"], r["vars"]) for r in rows] == [("ann", 1.0, {"name": "Ann"}),
                                                                       ("bo", None, {"name": "Bo"})]
    assert mean_score(rows) == 1.0 and mean_score([]) is None
