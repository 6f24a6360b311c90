"""What holds for both optimizers: variables kept, bad answers recorded, budgets, cancellation, cache."""

import asyncio

import pytest

from promptlsp.engine import Budget, Engine, ScriptedBackend
from promptlsp.optimize import make_optimizer

from optimizer_support import engine_with, smart_task

GOOD = "Answer with one word: positive or negative.\nReview: {{ review }}"
METHODS = ["gradsum", "tgd"]


def routes_for(rewrite):
    """Scripts for both methods; ``rewrite`` answers edit (GRAD-SUM) and step (TGD) calls
    (a dict answer loses its "critiques" key for edits, whose schema has none)."""

    def edit(request):
        answer = rewrite(request) if callable(rewrite) else rewrite
        if isinstance(answer, dict):
            return {k: v for k, v in answer.items() if k != "critiques"}
        return answer

    return {
        "task": smart_task,
        "gradient": {"comparison": "the answer is in a sentence", "problem": "p", "quote": "", "suggestion": "s"},
        "summary": {"summary": "s", "critiques": []},
        "feedback": {"feedback": "say one word"},
        "edit": edit,
        "step": rewrite,
    }


async def run(prompt_file, routes, method, **kw):
    events = []
    engine, backend = engine_with(routes)
    session = engine.session(budget=kw.pop("budget", None))
    finished = await make_optimizer(prompt_file, session, method=method, emit=events.append, **kw).run()
    return finished, events, backend


@pytest.mark.parametrize("method", METHODS)
async def test_dropped_variable_is_repaired_once(prompt_file, method):
    answers = iter([{"template": "Answer with one word.", "critiques": []}, {"template": GOOD, "critiques": []}] * 20)
    finished, events, backend = await run(prompt_file, routes_for(lambda r: next(answers)), method, iterations=1)
    phase = "edit" if method == "gradsum" else "step"
    repairs = [r for r in backend.requests_for(phase) if len(r["messages"]) > 2]
    assert repairs and "dropped {{ review }}" in repairs[0]["messages"][-1]["content"]
    assert finished.best.template == GOOD


@pytest.mark.parametrize("method", METHODS)
async def test_invented_variable_is_rejected_after_one_repair(prompt_file, method):
    bad = {"template": GOOD + " {{ mood }}", "critiques": []}
    finished, events, backend = await run(prompt_file, routes_for(bad), method, iterations=1)
    rejected = [e for e in events if e.kind == "candidate-rejected"]
    assert rejected and all("invented {{ mood }}" in e.reason for e in rejected)
    assert not [e for e in events if e.kind == "candidate-proposed"]
    assert finished.status == "finished" and finished.best.template == events[0].initial.template


@pytest.mark.parametrize("method", METHODS)
async def test_invalid_jinja_is_rejected(prompt_file, method):
    finished, events, _ = await run(prompt_file, routes_for({"template": "{{ review ", "critiques": []}), method, iterations=1)
    assert any("not valid jinja2" in e.reason for e in events if e.kind == "candidate-rejected")


@pytest.mark.parametrize("method", METHODS)
async def test_malformed_optimizer_answers_never_end_the_run(prompt_file, method):
    routes = routes_for("sorry, I cannot produce JSON today")
    routes["gradient"] = "not json {"
    routes["feedback"] = "```json\n{\"feedbak\": 1}\n```"
    finished, events, _ = await run(prompt_file, routes, method)
    assert finished.status == "finished"
    assert events[-1].kind == "run-finished" and finished.best.template == events[0].initial.template


@pytest.mark.parametrize("method", METHODS)
async def test_provider_errors_are_recorded_not_raised(prompt_file, method):
    from promptlsp.engine import PermanentError

    routes = routes_for(PermanentError("bad_request", "context too long"))
    finished, events, _ = await run(prompt_file, routes, method, iterations=1)
    assert finished.status == "finished"
    assert any("context too long" in e.reason for e in events if e.kind == "candidate-rejected")


@pytest.mark.parametrize("method", METHODS)
async def test_budget_is_never_exceeded(prompt_file, method):
    for limit in (1, 7, 25, 60):
        finished, events, backend = await run(prompt_file, routes_for({"template": GOOD, "critiques": []}), method,
                                              budget=Budget(max_calls=limit))
        assert backend.calls <= limit, (limit, backend.calls)
        assert finished.status in ("budget-exhausted", "finished")
        if "budget exhausted" in finished.message:  # the real figures, not placeholders
            assert f"of {limit})" in finished.message, finished.message
        assert events[-1].kind == "run-finished"


@pytest.mark.parametrize("method", METHODS)
async def test_cancellation_stops_calls_and_keeps_a_finished_event(prompt_file, method):
    events = []
    backend = ScriptedBackend(routes=routes_for({"template": GOOD, "critiques": []}), json_schema=True, latency=0.05)
    session = Engine(cache_path=None, backend=backend).session()
    task = asyncio.ensure_future(make_optimizer(prompt_file, session, method=method, emit=events.append).run())
    while backend.calls < 5:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    calls_at_cancel = backend.calls
    await asyncio.sleep(0.3)
    assert backend.calls == calls_at_cancel and backend.in_flight == 0
    assert events[-1].kind == "run-finished" and events[-1].status == "cancelled"
    assert events[-1].best.template == prompt_file.template


@pytest.mark.parametrize("method", METHODS)
async def test_rerun_with_the_cache_makes_zero_calls_and_is_deterministic(prompt_file, method, tmp_path):
    cache = tmp_path / "cache.sqlite"
    results = []
    for _ in range(2):
        backend = ScriptedBackend(routes=routes_for({"template": GOOD, "critiques": []}), json_schema=True)
        engine = Engine(cache_path=cache, backend=backend)
        events = []
        finished = await make_optimizer(prompt_file, engine.session(), method=method, emit=events.append).run()
        engine.close()
        results.append((backend.calls, finished.best, finished.best_score,
                        [(e.kind, getattr(e, "candidate_id", None)) for e in events if e.kind != "example-scored"]))
    (first_calls, best1, score1, trace1), (second_calls, best2, score2, trace2) = results
    assert first_calls > 0 and second_calls == 0
    assert (best1, score1) == (best2, score2)
    assert sorted(map(str, trace1)) == sorted(map(str, trace2))


@pytest.mark.parametrize("method", METHODS)
async def test_calls_run_in_parallel(prompt_file, method):
    backend = ScriptedBackend(routes=routes_for({"template": GOOD, "critiques": []}), json_schema=True, latency=0.02)
    session = Engine(cache_path=None, backend=backend).session()
    await make_optimizer(prompt_file, session, method=method, iterations=1).run()
    assert backend.max_in_flight >= 4


async def test_estimate_is_an_upper_bound(prompt_file):
    for method in METHODS:
        engine, backend = engine_with(routes_for({"template": GOOD, "critiques": []}))
        optimizer = make_optimizer(prompt_file, engine.session(), method=method)
        predicted = optimizer.estimate()
        await optimizer.run()
        assert 0 < backend.calls <= predicted.calls, method


@pytest.mark.parametrize("method", METHODS)
async def test_failed_steps_are_recorded_as_events(prompt_file, method):
    routes = routes_for({"template": GOOD, "critiques": []})
    routes["gradient"] = routes["feedback"] = routes["summary"] = "no JSON here"
    finished, events, _ = await run(prompt_file, routes, method, iterations=1)
    failed = [e for e in events if e.kind == "step-failed"]
    assert failed and {e.phase for e in failed} == ({"gradient"} if method == "gradsum" else {"feedback"})
    assert all(e.raw == "no JSON here" and e.message for e in failed)
    assert finished.status == "finished"


@pytest.mark.parametrize("method", METHODS)
async def test_estimate_holds_without_a_cache_and_validation_is_never_scored_twice(prompt_file, method):
    engine, backend = engine_with(routes_for({"template": GOOD, "critiques": []}))
    events = []
    optimizer = make_optimizer(prompt_file, engine.session(), method=method, emit=events.append, iterations=3)
    predicted = optimizer.estimate()
    await optimizer.run()
    assert backend.calls <= predicted.calls
    validations = [e.candidate_id for e in events if e.kind == "candidate-scored" and e.split == "validation"]
    assert len(validations) == len(set(validations))


@pytest.mark.parametrize("method", METHODS)
async def test_a_run_whose_final_check_got_no_answer_fails_saying_why(prompt_file, method):
    from promptlsp.engine.errors import PermanentError

    routes = routes_for({"template": GOOD, "critiques": []})
    routes["task"] = PermanentError("quota", "budget or quota spent at the provider or gateway (HTTP 429), not retried: "
                                             "crossed budget")
    finished, events, backend = await run(prompt_file, routes, method, iterations=1)
    assert finished.status == "failed" and finished.best.template == prompt_file.template
    assert finished.message.startswith("no answer from the task model on any of the ")
    assert finished.message.endswith("task model call failed: budget or quota spent at the provider or gateway "
                                     "(HTTP 429), not retried: crossed budget")
    assert events[0].kind == "run-started" and events[-1] is finished
