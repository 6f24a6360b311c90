"""Evaluation: scoring as the SPEC defines it, the judge, and bad answers recorded, not raised."""

from promptlsp.document import analyze
from promptlsp.engine import Budget, Engine, PermanentError, ScriptedBackend
from promptlsp.evaluate.runner import evaluate
from promptlsp.optimize.events import PromptText

FILE = '''task = "Answer arithmetic questions."
[prompt]
template = "Q: {{ q }}"
[[criteria]]
type = "regex"
value = "^Answer: "
weight = 0.5
[[criteria]]
type = "llm-rubric"
rubric = "The reasoning is correct."
weight = 0.5
[[examples]]
vars = { q = "2+2" }
expected = "4"
assert = [{ type = "contains", weight = 2 }]
split = "validation"
[[examples]]
vars = { q = "3+3" }
expected = "6"
assert = [{ type = "contains", weight = 0, name = "reported only" }]
'''


def load(tmp_path, text=FILE):
    path = tmp_path / "m.prompt.toml"
    path.write_text(text)
    analysis = analyze(text, path, tmp_path)
    assert analysis.prompt is not None, analysis.diagnostics
    return analysis.prompt


async def run(prompt_file, routes, prompt=None, budget=None, **kw):
    backend = ScriptedBackend(routes=routes, json_schema=True, **kw)
    session = Engine(cache_path=None, backend=backend).session(budget=budget)
    return await evaluate(session, prompt_file, prompt), backend


async def test_weighted_score_matches_the_spec_worked_example(tmp_path):
    # SPEC: regex (0.5) passes, judge gives 0.6, an assert with weight 2 fails → (0.5 + 0.3 + 0) / 3
    report, _ = await run(load(tmp_path), {"task": "Answer: 5", "judge": {"reason": "partly", "score": 6}})
    first = report.results[0]
    assert abs(first.score - (0.5 * 1 + 0.5 * 0.6 + 2 * 0) / 3) < 1e-9 and not first.passed
    assert [c.reason for c in first.checks][1] == "partly"
    # weight-0 checks are reported but count for nothing
    second = report.results[1]
    assert second.checks[-1].name == "reported only" and not second.checks[-1].passed
    assert abs(second.score - (0.5 + 0.3) / 1.0) < 1e-9
    assert second.passed is True  # its failing check has weight 0; the judge's 0.6 meets 0.5


async def test_the_judge_sees_task_input_output_expected_and_rubric(tmp_path):
    _, backend = await run(load(tmp_path), {"task": "Answer: 4", "judge": {"reason": "ok", "score": 10}})
    judge_text = backend.requests_for("judge")[0]["messages"][-1]["content"]
    for part in ("Answer arithmetic questions.", "q: 2+2", "Answer: 4", "4", "The reasoning is correct."):
        assert part in judge_text


async def test_a_failed_judge_leaves_its_check_unscored(tmp_path):
    report, _ = await run(load(tmp_path), {"task": "Answer: 4", "judge": "I refuse to grade."})
    check = report.results[0].checks[1]
    assert check.score is None and "judge failed" in check.reason
    assert report.results[0].score == (0.5 * 1 + 2 * 1) / 2.5  # the other checks still count


async def test_a_failed_task_call_is_recorded_and_unscored(tmp_path):
    report, _ = await run(load(tmp_path), {"task": PermanentError("auth", "invalid key"), "judge": {"reason": "", "score": 0}})
    assert all(r.output is None and r.score is None and "invalid key" in r.error for r in report.results)
    assert report.score is None and report.complete


async def test_a_template_that_does_not_render_scores_zero(tmp_path):
    report, backend = await run(load(tmp_path), {}, prompt=PromptText("Q: {{ q }} {{ missing }}"))
    assert [r.score for r in report.results] == [0.0, 0.0]
    assert "render failed" in report.results[0].error and backend.calls == 0


async def test_budget_stop_marks_the_report_incomplete(tmp_path):
    report, backend = await run(load(tmp_path), {"task": "Answer: 4", "judge": {"reason": "", "score": 10}}, budget=Budget(max_calls=2))
    assert backend.calls == 2 and not report.complete
    assert any(r.failure == "budget" for r in report.results)


async def test_split_scores_and_json_shape(tmp_path):
    report, _ = await run(load(tmp_path), {"task": "Answer: 4", "judge": {"reason": "fine", "score": 10}})
    splits = report.split_scores()
    assert splits["validation"]["score"] == 1.0 and splits["train"]["examples"] == 1
    data = report.to_dict()
    assert data["examples"][0]["checks"][0]["type"] == "regex"


async def test_an_output_that_used_all_max_tokens_is_marked_cut_off(tmp_path):
    from promptlsp.engine.backend import make_response
    from promptlsp.optimize.prompts import show_example

    text = FILE.replace('template = "Q: {{ q }}"', 'template = "Q: {{ q }}"\n[models.task]\nmax_tokens = 8')
    prompt_file = load(tmp_path, text)

    def task(request):
        long = "2+2" in request["messages"][-1]["content"]
        return make_response("The answer to this question is" if long else "Answer: 6", model=request["model"],
                             prompt_tokens=10, completion_tokens=8 if long else 3)

    engine = Engine(backend=ScriptedBackend(routes={"task": task, "judge": {"reason": "ok", "score": 10}}, json_schema=True))
    report = await evaluate(engine.session(), prompt_file)
    cut = {r.example_id: r.cut_off_at for r in report.results}
    assert cut == {"#1": 8, "#2": None}
    first = report.results[0]
    assert "answer length limit (8 tokens)" in show_example(first.vars, first.output, first.expected, [], first.cut_off_at)


async def test_checks_and_renders_never_wait_for_the_default_executor(tmp_path, monkeypatch):
    # the language server analyses documents in asyncio's default executor: block its only worker,
    # and an evaluation (renders, regex and contains checks) still completes, in its own threads
    import asyncio
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from promptlsp.evaluate import assertions

    threads = set()
    real_check = assertions.check

    def recording_check(*args):
        threads.add(threading.current_thread().name)
        return real_check(*args)

    monkeypatch.setattr(assertions, "check", recording_check)
    prompt_file = load(tmp_path)
    loop = asyncio.get_running_loop()
    default, release = ThreadPoolExecutor(max_workers=1), threading.Event()
    loop.set_default_executor(default)
    blocked = loop.run_in_executor(None, release.wait)
    try:
        report, _ = await asyncio.wait_for(
            run(prompt_file, {"task": "Answer: 4", "judge": {"reason": "ok", "score": 10}}), timeout=60)  # hang guard
    finally:
        release.set()
        await blocked
    assert [c.passed for c in report.results[0].checks] == [True, True, True]
    assert threads and all(name.startswith("promptlsp-evaluate") for name in threads), threads
