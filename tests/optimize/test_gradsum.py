"""GRAD-SUM, pinned with a scripted model: what is called, when, and what is kept."""

import itertools
import re
from collections import Counter

from promptlsp.engine import Budget
from promptlsp.optimize import GradSum, make_optimizer
from promptlsp.optimize.events import CandidateProposed, PromptText, SummaryWritten

from optimizer_support import FILE, engine_with, make_file, smart_task

GOOD = "Answer with one word: positive or negative.\nReview: {{ review }}"


def gradsum_routes(edit=None):
    counter = itertools.count()
    return {
        "task": smart_task,
        "gradient": lambda r: {"comparison": "the answer is in a sentence", "problem": "no output format", "quote": "What is the sentiment?", "suggestion": "ask for one word"},
        "summary": lambda r: {"summary": "The prompt does not fix the output format.", "critiques": [
            {"quote": "What is the sentiment?", "critique": "open question invites chatter"}]},
        "edit": edit or (lambda r: {"template": f"{GOOD}\n{{# v{next(counter)} #}}"}),
    }


async def run(prompt_file, routes, **kw):
    events = []
    engine, backend = engine_with(routes)
    session = engine.session(budget=kw.pop("budget", None))
    finished = await make_optimizer(prompt_file, session, method="gradsum", emit=events.append, **kw).run()
    return finished, events, backend, session


async def test_improves_and_returns_a_validated_prompt(prompt_file):
    finished, events, backend, _ = await run(prompt_file, gradsum_routes())
    assert finished.status == "finished"
    assert finished.scored_on == "validation"
    assert finished.initial_score == 0.0 and finished.best_score == 1.0
    assert "one word" in finished.best.template
    kinds = [e.kind for e in events]
    assert kinds[0] == "run-started" and kinds[-1] == "run-finished"
    assert kinds.count("iteration-done") == 2


async def test_gradients_only_for_imperfect_examples(prompt_file):
    finished, events, backend, _ = await run(prompt_file, gradsum_routes())
    gradients = [e for e in events if e.kind == "gradient"]
    imperfect = {(e.candidate_id, e.example_id) for e in events
                 if e.kind == "example-scored" and e.score is not None and e.score < 1}
    assert gradients and {(g.candidate_id, g.example_id) for g in gradients} <= imperfect
    # prompts that answer perfectly get no gradient at all
    perfect_ids = {e.candidate_id for e in events if e.kind == "candidate-proposed"}
    assert not [g for g in gradients if g.candidate_id in perfect_ids]


async def test_one_summary_per_prompt_per_iteration(prompt_file):
    finished, events, backend, _ = await run(prompt_file, gradsum_routes(), iterations=1)
    summaries = [e for e in events if isinstance(e, SummaryWritten)]
    assert [(s.candidate_id, s.iteration) for s in summaries] == [(prompt_file_initial_id(prompt_file), 1)]
    assert backend.calls_by_phase["summary"] == 1
    assert backend.calls_by_phase["edit"] == 2  # candidates = 2


async def test_a_failed_summary_still_gets_edits_written_from_the_gradients(prompt_file):
    """Bad input: the summary step answers garbage twice (the answer and its repair round). The
    failure is recorded, and the iteration's edits are written from the gradients themselves
    instead of the iteration ending with no edit at all."""
    routes = gradsum_routes()
    routes["summary"] = lambda r: "I think the prompt is fine"  # never JSON
    finished, events, backend, _ = await run(prompt_file, routes, iterations=1)
    failed = [e for e in events if e.kind == "step-failed"]
    assert [e.phase for e in failed] == ["summary"]
    assert not [e for e in events if isinstance(e, SummaryWritten)]
    assert backend.calls_by_phase["edit"] == 2
    for request in backend.requests_for("edit"):
        assert "no output format" in request["messages"][-1]["content"]  # the gradient's problem
    assert finished.status == "finished" and "one word" in finished.best.template


def prompt_file_initial_id(prompt_file):
    from promptlsp.evaluate.runner import initial_prompt

    return initial_prompt(prompt_file).id


async def test_summary_critiques_are_anchored_on_the_quoted_words(prompt_file):
    _, events, _, _ = await run(prompt_file, gradsum_routes(), iterations=1)
    (summary,) = [e for e in events if isinstance(e, SummaryWritten)]
    (critique,) = summary.critiques
    assert prompt_file.template[critique.start:critique.end] == "What is the sentiment?"
    failing = {e.example_id for e in events if e.kind == "gradient" and e.candidate_id == summary.candidate_id}
    assert set(critique.examples) == failing and failing  # the failing examples behind the summary


async def test_beam_keeps_the_top_b(prompt_file):
    scores = iter([0.1, 0.9, 0.5, 0.7])
    per_prompt = {}

    def task(request):
        text = request["messages"][-1]["content"]
        marker = text.split("#")[-1] if "#" in text else "orig"
        if marker not in per_prompt:
            per_prompt[marker] = next(scores, 0.0)
        return "positive" if per_prompt[marker] > 0.5 else "nope"

    counter = itertools.count()
    routes = gradsum_routes(edit=lambda r: {"template": "Review: {{ review }} #" + str(next(counter))})
    routes["task"] = task
    finished, events, _, _ = await run(prompt_file, routes, iterations=2, beam_width=2, candidates=3)
    (beam,) = [e for e in events if e.kind == "beam-updated"]  # iteration 1: the last one has no selection minibatch
    assert beam.iteration == 1
    scored = {e.candidate_id: e.score for e in events if e.kind == "candidate-scored" and e.split == "minibatch" and e.iteration == 1}
    contenders = sorted(scored.values(), reverse=True)
    assert len(beam.beam) == 2 and list(beam.scores) == contenders[:2]


async def test_last_iterations_repeat_while_the_budget_allows(prompt_file, monkeypatch):
    """Every edit of a last iteration rejected (here: an identical rewrite) and no move: the run
    does not stop there with its budget unspent — the next iteration tries again; its candidate
    is scored on validation at once, and one more try follows while the budget buys it."""
    monkeypatch.setattr(GradSum, "next_step", lambda self, iteration: (1, 1, True))  # every iteration "last"
    answers = iter([{"template": prompt_file.template}])  # the first edit copies the prompt
    routes = gradsum_routes(edit=lambda r: next(answers, {"template": GOOD}))
    finished, events, backend, _ = await run(prompt_file, routes, iterations=3, candidates=1)
    done = [e for e in events if e.kind == "iteration-done"]
    assert [e.iteration for e in done] == [1, 2, 3]
    assert done[0].best_score == 0.0 and done[1].best_score == 1.0  # the original; then GOOD, on validation
    assert backend.calls_by_phase["edit"] == 3
    validations = [e for e in events if e.kind == "candidate-scored" and e.split == "validation"]
    assert len(validations) == len({e.candidate_id for e in validations}) == 2  # each prompt scored once
    assert finished.best.template == GOOD


async def test_a_tight_budget_is_spent_on_more_validated_candidates(prompt_file):
    """With a budget that fits no iteration with a selection minibatch, GRAD-SUM keeps proposing
    and validating candidates until the next one would not fit: it ends close to the budget, never over."""
    counter = itertools.count()
    routes = gradsum_routes(edit=lambda r: {"template": "Review: {{ review }}\nSentiment? v" + str(next(counter))})
    for max_calls in (30, 45, 60):
        finished, events, backend, session = await run(prompt_file, routes, budget=Budget(max_calls=max_calls),
                                                       iterations=20)
        assert backend.calls <= max_calls
        assert "narrowed" in finished.message or finished.status == "budget-exhausted"
        assert max_calls - backend.calls < 16, (max_calls, backend.calls)  # less than one more try was left


async def test_the_last_iteration_sends_its_candidates_straight_to_validation(prompt_file):
    """No selection minibatch in the last iteration: every child of the beam (edits and moves) is
    scored on the validation split beside the beam and the original, and can win there."""
    routes = gradsum_routes(edit=lambda r: {"template": "Review: {{ review }}\nAnswer positive or negative."})
    finished, events, backend, _ = await run(prompt_file, routes, iterations=1, beam_width=2, candidates=2)
    proposed = {e.candidate_id for e in events if isinstance(e, CandidateProposed)}
    assert proposed
    assert not [e for e in events if e.kind == "beam-updated"]
    minibatch = {e.candidate_id for e in events if e.kind == "candidate-scored" and e.split == "minibatch"}
    assert minibatch == {prompt_file_initial_id(prompt_file)}  # only the gradient minibatch of the parent
    validated = {e.candidate_id for e in events if e.kind == "candidate-scored" and e.split == "validation"}
    assert validated == proposed | {prompt_file_initial_id(prompt_file)}


async def test_never_returns_a_prompt_worse_on_validation(prompt_file):
    # the edit looks great on the training minibatch but fails validation
    def task(request):
        text = request["messages"][-1]["content"]
        review = text.split("Review: ")[-1]
        if "TRAIN-HACK" in text:
            return "positive" if review.split("\n")[0] in ("I love it", "Great value") else "negative" if review.startswith(("Broke", "Awful")) else "zzz"
        return "It sounds positive to me!" if "Works" in review else "negative"

    routes = gradsum_routes(edit=lambda r: {"template": "TRAIN-HACK Review: {{ review }}"})
    routes["task"] = task
    finished, events, _, _ = await run(prompt_file, routes, iterations=1)
    assert finished.best.template == prompt_file.template
    assert "no candidate beat the original" in finished.message


async def test_budget_stop_is_clean_and_keeps_the_best_so_far(prompt_file):
    finished, events, backend, session = await run(prompt_file, gradsum_routes(), budget=Budget(max_calls=40))
    assert finished.status == "budget-exhausted"
    assert session.accounting.total.calls <= 40
    assert backend.calls <= 40
    assert events[-1].kind == "run-finished"
    # the final validation was kept affordable: the result is validated, not a guess
    assert finished.initial_score is not None


async def test_full_prompt_reaches_the_optimizer_untruncated(tmp_path):
    long_template = " ".join(f"word{i}" for i in range(400)) + "\nReview: {{ review }}\nWhat is the sentiment?"
    body = FILE.replace('"""Review: {{ review }}\nWhat is the sentiment?"""', '"""' + long_template + '"""')
    prompt_file = make_file(tmp_path, body=body)
    _, _, backend, _ = await run(prompt_file, gradsum_routes(), iterations=1)
    for phase in ("gradient", "summary", "edit"):
        for request in backend.requests_for(phase):
            assert long_template in request["messages"][-1]["content"], phase
            assert "You label reviews." in request["messages"][-1]["content"]


async def test_candidates_are_deduplicated_and_identical_rewrites_rejected(prompt_file):
    routes = gradsum_routes(edit=lambda r: {"template": prompt_file.template})
    finished, events, _, _ = await run(prompt_file, routes, iterations=1)
    assert not [e for e in events if isinstance(e, CandidateProposed)]
    rejected = [e for e in events if e.kind == "candidate-rejected"]
    assert rejected and all("identical" in e.reason for e in rejected)
    assert finished.status == "finished" and finished.best.template == prompt_file.template


async def test_the_critic_evaluates_and_summarises_without_rewriting(prompt_file):
    events = []
    engine, backend = engine_with(gradsum_routes())
    finished = await make_optimizer(prompt_file, engine.session(), method="critique", emit=events.append).run()
    assert finished.status == "finished" and finished.best.template == prompt_file.template
    assert finished.initial_score == 0.0
    (summary,) = [e for e in events if isinstance(e, SummaryWritten)]
    assert summary.candidate_id == prompt_file_initial_id(prompt_file) and summary.critiques
    assert backend.calls_by_phase["edit"] == 0 and not [e for e in events if isinstance(e, CandidateProposed)]
    scored = {e.example_id for e in events if e.kind == "example-scored"}
    assert scored == {e.id for e in prompt_file.examples if e.split != "test"}
    assert events[0].method == "critique"


async def test_a_tight_budget_narrows_an_iteration_instead_of_stopping(prompt_file, monkeypatch):
    """When a full iteration (the whole beam × K edits) no longer fits, the next one expands fewer
    prompts / writes fewer edits — the most that fit beside the final validation — instead of
    leaving the rest of the budget unused; it never goes over, and says so in the message."""
    counter = itertools.count()
    routes = gradsum_routes(edit=lambda r: {"template": "Review: {{ review }}\nSentiment? v" + str(next(counter))})

    async def sweep():
        out = {}
        for max_calls in range(24, 90, 3):
            finished, events, backend, session = await run(prompt_file, routes, budget=Budget(max_calls=max_calls), iterations=4)
            assert backend.calls <= max_calls and session.accounting.total.calls <= max_calls
            assert finished.initial_score is not None  # the final validation always stayed affordable
            edits = Counter(e.iteration for e in events if isinstance(e, CandidateProposed) and e.origin == "edit")
            out[max_calls] = (finished.message, edits, backend.calls)
        return out

    narrowing = await sweep()
    widest = GradSum.next_step

    def whole_or_nothing(self, iteration):  # the behaviour without narrowing: the whole iteration or a stop
        shape = widest(self, iteration)
        return shape if shape is not None and shape[:2] == (len(self.beam), self.settings.candidates) else None

    monkeypatch.setattr(GradSum, "next_step", whole_or_nothing)
    stopping = await sweep()
    narrowed = {budget: result for budget, result in narrowing.items() if "narrowed" in result[0]}
    assert narrowed, "no budget in the sweep made GRAD-SUM narrow an iteration"
    for budget, (message, edits, calls) in narrowed.items():
        assert "to fit the budget" in message
        for iteration in map(int, re.findall(r"iteration (\d+) narrowed", message)):
            assert edits[iteration] < 2 * 2, (message, edits)  # fewer than beam × K
        assert calls > stopping[budget][2], (budget, message, calls, stopping[budget])  # budget put to use
        assert "narrowed" not in stopping[budget][0]


async def test_a_last_iteration_scores_the_moves_it_can_afford_and_says_what_it_left(prompt_file, monkeypatch):
    """A last iteration plans the validation of its edits; moves beyond what the budget then
    allows are left unscored — said in the message — and the budget is never exceeded."""
    from promptlsp.optimize import moves

    async def three_moves(self, prompt, results):
        for i in range(3):
            yield "move", PromptText(f"Review: {{{{ review }}}}\nAnswer in one word. m{i}", prompt.system)

    monkeypatch.setattr(GradSum, "move_candidates", three_moves)
    monkeypatch.setattr(GradSum, "next_step", lambda self, iteration: (1, 1, True) if iteration == 1 else None)
    for max_calls in (12, 14, 40):
        finished, events, backend, session = await run(prompt_file, gradsum_routes(), budget=Budget(max_calls=max_calls),
                                                       iterations=3, candidates=1)
        assert backend.calls <= max_calls
        validated = {e.candidate_id for e in events if e.kind == "candidate-scored" and e.split == "validation"}
        if max_calls == 40:
            assert len(validated) == 5 and "unscored" not in finished.message  # the original, 3 moves, 1 edit
        else:
            assert len(validated) < 5 and "left unscored" in finished.message, (max_calls, finished.message)
