"""TGD with TextGrad semantics: summed feedback, constraints, momentum that works, revert on drop."""

import itertools

from promptlsp.optimize import make_optimizer
from promptlsp.optimize.prompts import combine_feedback

from optimizer_support import engine_with, make_file, smart_task

GOOD = "Answer with one word: positive or negative.\nReview: {{ review }}"


def tgd_routes(step=None):
    counter = itertools.count()
    return {
        "task": smart_task,
        "feedback": lambda r: {"feedback": f"feedback-{next(counter)}: ask for one word"},
        "step": step or (lambda r: {"critiques": [{"quote": "What is the sentiment?", "critique": "too open"}],
                                    "template": GOOD}),
    }


async def run(prompt_file, routes, **kw):
    events = []
    engine, backend = engine_with(routes)
    session = engine.session()
    finished = await make_optimizer(prompt_file, session, method="tgd", emit=events.append, **kw).run()
    return finished, events, backend


async def test_step_from_summed_feedback_improves(prompt_file):
    finished, events, backend = await run(prompt_file, tgd_routes())
    assert finished.status == "finished" and finished.best.template == GOOD
    assert (finished.initial_score, finished.best_score) == (0.0, 1.0)
    # backward: one feedback per minibatch example, concatenated into the step (tg.sum)
    first_step = backend.requests_for("step")[0]["messages"][-1]["content"]
    feedback = [e for e in events if e.kind == "gradient"]
    assert len([f for f in feedback if f.candidate_id == events[0].initial.id]) == 4  # minibatch 4
    assert combine_feedback([(f.example_id, f.text) for f in feedback[:4]]).split("\n\n")[0] in first_step


async def test_step_critiques_are_anchored(prompt_file):
    _, events, _ = await run(prompt_file, tgd_routes(), iterations=1)
    (summary,) = [e for e in events if e.kind == "summary"]
    c = summary.critiques[0]
    assert prompt_file.template[c.start:c.end] == "What is the sentiment?"


async def test_constraints_reach_the_step(tmp_path):
    prompt_file = make_file(tmp_path, extra='constraints = ["Never mention the brand", "Stay under 50 words"]\n')
    _, _, backend = await run(prompt_file, tgd_routes(), iterations=1)
    step = backend.requests_for("step")[0]["messages"][-1]["content"]
    assert "Never mention the brand" in step and "Stay under 50 words" in step


async def test_momentum_feeds_earlier_feedback_into_the_step(tmp_path):
    prompt_file = make_file(tmp_path, extra="gradient_memory = 2\n")
    steps = iter([{"critiques": [], "template": "Review: {{ review }}\nWhat is the sentiment? Be brief."},
                  {"critiques": [], "template": "Review: {{ review }}\nSentiment, briefly?"},
                  {"critiques": [], "template": GOOD}])
    finished, events, backend = await run(prompt_file, tgd_routes(step=lambda r: next(steps)), iterations=3)
    requests = [r["messages"][-1]["content"] for r in backend.requests_for("step")]
    feedback = [e.text for e in events if e.kind == "gradient"]
    assert "Earlier steps" not in requests[0]
    assert feedback[0] in requests[1] and "Earlier steps" in requests[1]  # step 2 sees step 1's feedback
    assert feedback[0] in requests[2] and feedback[4] in requests[2]  # memory of 2 steps
    assert "What is the sentiment? Be brief." in requests[2]  # and the earlier prompt values


async def test_no_momentum_without_gradient_memory(prompt_file):
    _, events, backend = await run(prompt_file, tgd_routes(step=lambda r: {"critiques": [], "template": "Review: {{ review }}?"}), iterations=2)
    requests = [r["messages"][-1]["content"] for r in backend.requests_for("step")]
    first_feedback = [e.text for e in events if e.kind == "gradient"][0]
    assert first_feedback not in requests[1]


async def test_a_step_that_lowers_validation_is_reverted(prompt_file):
    worse = "Review: {{ review }}\nWrite an essay about it."

    def task(request):
        return "essay..." if "essay" in request["messages"][-1]["content"] else smart_task(request)

    routes = tgd_routes(step=lambda r: {"critiques": [], "template": worse})
    routes["task"] = task
    # start from a prompt that already works, so the step makes validation worse
    finished, events, _ = await run(prompt_file.with_prompt(template=GOOD), routes, iterations=1)
    reverted = [e for e in events if e.kind == "candidate-rejected"]
    assert reverted and "step reverted" in reverted[0].reason
    assert finished.best.template == GOOD
    beam = [e for e in events if e.kind == "beam-updated"][-1]
    assert beam.beam == (events[0].initial.id,)
