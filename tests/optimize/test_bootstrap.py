"""The demonstrations' bootstrap (issue 13; DSPy's BootstrapFewShot): once per run, when the first
minibatch leaves fewer than three demonstrations, the prompt answers a few more training examples
the run has not used, so the demonstrations move has good answers to show."""

import pytest

from promptlsp.engine import ScriptedBackend
from promptlsp.optimize import base, make_optimizer, moves

from optimizer_support import POSITIVE, engine_with
from test_demonstrations import imitating_task, routes
from test_moves_and_edits import chatty_task
from test_second_look import make_file


def answered_by(events, candidate_id, examples):
    ids = {e.id for e in examples}
    return [e.example_id for e in events if e.kind == "example-scored" and e.candidate_id == candidate_id
            and e.example_id in ids]


async def run(tmp_path, task, method="gradsum", iterations=1):
    prompt_file = make_file(tmp_path)
    engine, _ = engine_with(routes(task))
    events = []
    optimizer = make_optimizer(prompt_file, engine.session(), method=method, emit=events.append, iterations=iterations)
    finished = await optimizer.run()
    return prompt_file, optimizer, finished, events


@pytest.mark.parametrize("method", ["gradsum", "tgd"])
async def test_the_bootstrap_answers_unused_training_examples_and_fills_the_demonstrations(tmp_path, method):
    prompt_file, optimizer, finished, events = await run(tmp_path, imitating_task, method)
    train = prompt_file.split("train")
    first = answered_by(events, optimizer.initial.id, train)
    assert len(first) == len(set(first)) == 2 + base.BOOTSTRAP_EXAMPLES  # the minibatch, then 6 others
    proposed = [e for e in events if e.kind == "candidate-proposed" and e.origin == "demonstrations"]
    shown = (proposed[0].prompt.system or "") + proposed[0].prompt.template
    assert len(proposed) == 1 and shown.count("Input:\n") == moves.MAX_DEMOS
    assert all(e.vars["review"] not in shown for e in prompt_file.split("validation"))  # never validation data
    assert finished.best == proposed[0].prompt  # and it wins there (imitating_task needs them)


async def test_the_bootstrap_is_planned_once_per_run(tmp_path, monkeypatch):
    prompt_file = make_file(tmp_path)
    engine, _ = engine_with(routes(imitating_task))
    for method in ("gradsum", "tgd"):
        with_it = make_optimizer(prompt_file, engine.session(), method=method, iterations=3).estimate().calls
        monkeypatch.setattr(base, "BOOTSTRAP_EXAMPLES", 0)
        without = make_optimizer(prompt_file, engine.session(), method=method, iterations=3).estimate().calls
        monkeypatch.setattr(base, "BOOTSTRAP_EXAMPLES", 6)
        assert with_it - without == 6, method


def perfect_task(request) -> str:
    return "positive" if POSITIVE.search(ScriptedBackend.last_user(request)) else "negative"


async def test_no_bootstrap_after_a_perfect_minibatch(tmp_path):
    prompt_file, optimizer, _, events = await run(tmp_path, perfect_task)
    assert len(answered_by(events, optimizer.initial.id, prompt_file.split("train"))) == 2  # the minibatch only


@pytest.mark.parametrize("method", ["gradsum", "tgd"])
async def test_answers_in_the_wrong_form_bootstrap_through_the_answer_format_candidate(tmp_path, method):
    """The original's answers are in the wrong form, so it is not asked again: the answer-format
    candidate answers the unused training examples, and the demonstrations go on top of it."""
    prompt_file, optimizer, finished, events = await run(tmp_path, chatty_task, method)
    train = prompt_file.split("train")
    assert len(answered_by(events, optimizer.initial.id, train)) == 2  # the minibatch only
    proposed = {e.origin: e for e in events if e.kind == "candidate-proposed" and e.origin in ("answer-format", "demonstrations")}
    formatted = proposed["answer-format"].prompt
    assert len(answered_by(events, formatted.id, train)) == base.BOOTSTRAP_EXAMPLES  # the bootstrap, in the right form
    if method == "gradsum":  # TGD takes the answer-format move at once: its iteration ends there
        shown = proposed["demonstrations"].prompt
        assert shown.template.endswith(formatted.template) and shown.template.count("Good answer:\n") == moves.MAX_DEMOS
        assert all(f"Good answer:\n{label}\n" in shown.template + "\n" for label in ("positive", "negative"))


async def test_the_bootstrap_and_the_diagnosis_run_at_once(tmp_path):
    """Both need only the first minibatch's answers: GRAD-SUM's gradient requests go out before
    the bootstrap's task calls have answered (they used to wait for them: two rounds of the
    first iteration's critical path when answers are judged)."""
    import asyncio

    answered = []  # task answers given so far
    seen_by_gradients = []

    async def slow_task(request):
        await asyncio.sleep(0.05)
        answered.append(1)
        return imitating_task(request)

    def gradient(request):
        seen_by_gradients.append(len(answered))
        return {"comparison": "said positive", "problem": "biased", "quote": "What is the sentiment?", "suggestion": "x"}

    prompt_file = make_file(tmp_path)
    engine, _ = engine_with({**routes(slow_task), "gradient": gradient})
    events = []
    optimizer = make_optimizer(prompt_file, engine.session(), method="gradsum", emit=events.append, iterations=1)
    await optimizer.run()
    minibatch = 2
    assert len(answered_by(events, optimizer.initial.id, prompt_file.split("train"))) == minibatch + base.BOOTSTRAP_EXAMPLES
    assert seen_by_gradients and max(seen_by_gradients) < minibatch + base.BOOTSTRAP_EXAMPLES
