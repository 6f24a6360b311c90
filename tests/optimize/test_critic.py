"""The critic (method "critique"): the prompt on every non-test example, GRAD-SUM's diagnosis of
it, no rewrites; recorded as a run whose best prompt is the original."""

from collections import Counter

from promptlsp.optimize import make_optimizer

from optimizer_support import engine_with
from test_gradsum import gradsum_routes


async def run(prompt_file, **kw):
    events = []
    engine, backend = engine_with(gradsum_routes())
    session = engine.session()
    critic = make_optimizer(prompt_file, session, method="critique", emit=events.append, **kw)
    finished = await critic.run()
    return critic, finished, events, backend


async def test_one_pass_of_evaluation_and_diagnosis_and_no_rewrite(prompt_file):
    critic, finished, events, backend = await run(prompt_file)
    examples = len(prompt_file.examples)  # 4 train + 2 validation, no test split
    assert critic.method == "critique" and finished.status == "finished"
    assert finished.best == critic.initial and finished.best_score == finished.initial_score == 0.0
    assert finished.scored_on == "validation"
    kinds_in_order = [e.kind for e in events]
    assert kinds_in_order[0] == "run-started" and kinds_in_order[-1] == "run-finished"
    done = kinds_in_order.index("iteration-done")  # then only the final validation
    assert set(kinds_in_order[done + 1:-1]) == {"example-scored", "candidate-scored"}
    kinds = Counter(e.kind for e in events)
    assert kinds["example-scored"] == examples + 2  # every example once, then the validation split
    assert kinds["gradient"] == examples and kinds["summary"] == 1 and kinds["iteration-done"] == 1
    assert kinds["candidate-proposed"] == 0 and kinds["candidate-rejected"] == 0
    # no response cache here, so the final validation asks the task model again
    assert [len(backend.requests_for(phase)) for phase in ("task", "gradient", "summary", "edit")] == [
        examples + 2, examples, 1, 0]
    (summary,) = [e for e in events if e.kind == "summary"]
    assert summary.candidate_id == critic.initial.id and summary.iteration == 1 and summary.critiques


async def test_the_plan_is_one_pass_whatever_the_files_iterations(prompt_file):
    critic, *_ = await run(prompt_file)
    longer, *_ = await run(prompt_file, iterations=5)
    assert critic.estimate() == longer.estimate()
    phases = Counter()
    for planned in critic.plan():
        phases[planned.phase] += planned.calls
    examples = len(prompt_file.examples)
    assert phases == Counter({"task": examples + 2, "gradient": examples, "summary": 1})
