"""The demonstrations move (issue 13): the task model's own perfect answers on training examples,
shown to it as examples — chosen on validation like any candidate, never from validation data."""

import re

import pytest

from promptlsp.document import analyze
from promptlsp.document.model import PromptText
from promptlsp.evaluate.results import CheckResult, ExampleResult
from promptlsp.optimize import make_optimizer, moves

from promptlsp.engine import ScriptedBackend

from optimizer_support import FILE, POSITIVE, engine_with, make_file

BASE = PromptText(template="Review: {{ review }}\nWhat is the sentiment?", system="You label reviews.")


def result(review, output, expected, *, passed=True, split="train", cut_off_at=None, example_id=None):
    check = CheckResult("equals", "equals", 1.0 if passed else 0.0, passed, 1.0, "")
    messages = ({"role": "system", "content": "You label reviews."},
                {"role": "user", "content": f"Review: {review}\nWhat is the sentiment?"})
    return ExampleResult(example_id or review, split, {"review": review}, (expected,), output, (check,),
                         messages=messages, cut_off_at=cut_off_at)


def test_only_perfect_complete_training_answers_become_demonstrations():
    assert moves.demonstration(result("I love it", "positive", "positive")) == (
        "Review: I love it\nWhat is the sentiment?", "positive")
    assert moves.demonstration(result("I love it", "negative", "positive", passed=False)) is None  # failed
    assert moves.demonstration(result("I love it", "positive", "positive", split="validation")) is None  # leak
    assert moves.demonstration(result("I love it", "positive", "positive", cut_off_at=8)) is None  # cut off
    assert moves.demonstration(result("{{ x }} great", "positive", "positive")) is None  # template syntax
    assert moves.demonstration(result("long " * 400, "positive", "positive")) is None  # too long
    nested = result("I love it", "positive", "positive")
    nested = nested.__class__(**{**nested.__dict__, "messages": (
        {"role": "user", "content": moves.DEMO_HEADER + "\n\nInput:\n...\n\n---\n\nReview: I love it"},)})
    assert moves.demonstration(nested) is None  # a prompt with demonstrations in its template answered it


def test_demonstrations_prefer_different_answers_and_stop_at_three():
    pool = [result("I love it", "positive", "positive"), result("Great value", "positive", "positive"),
            result("Broke in a day", "negative", "negative"), result("Works perfectly", "positive", "positive"),
            result("Never again", "negative", "negative")]
    picked = moves.pick_demonstrations(pool)
    assert [output for _, output in picked] == ["positive", "negative", "positive"]
    assert [user.split("\n")[0] for user, _ in picked] == ["Review: I love it", "Review: Broke in a day",
                                                          "Review: Great value"]


def test_demonstrations_go_to_the_system_message_or_before_the_template():
    pool = [result("I love it", "positive", "positive")]
    in_system, why = moves.demonstrations_candidate(BASE, pool, ("system",))
    assert in_system.template == BASE.template
    assert in_system.system == ("You label reviews.\n\n" + moves.DEMO_HEADER +
                                "\n\nInput:\nReview: I love it\nWhat is the sentiment?\n\nGood answer:\npositive")
    assert "1 training example" in why
    in_template, _ = moves.demonstrations_candidate(BASE, pool, ("template",))
    assert in_template.system == BASE.system and in_template.template.endswith("---\n\n" + BASE.template)
    assert moves.demonstrations_candidate(in_system, pool, ("system",)) is None  # never stacked
    assert moves.demonstrations_candidate(BASE, [], ("system",)) is None  # nothing to show


def imitating_task(request) -> str:
    """Labels positive reviews right; calls everything positive unless it has seen demonstrations."""
    text = " ".join(m["content"] for m in request["messages"])
    review = re.findall(r"Review: (.*)", ScriptedBackend.last_user(request))[-1]  # the input, after any demos
    if POSITIVE.search(review) or moves.DEMO_HEADER in text:
        return "positive" if POSITIVE.search(review) else "negative"
    return "positive"


def routes(task):
    harmless = {"critiques": [], "edits": [{"action": "append", "find": "", "text": "Be polite."}]}
    return {
        "task": task,
        "gradient": lambda r: {"comparison": "said positive", "problem": "biased", "quote": "What is the sentiment?", "suggestion": "x"},
        "summary": lambda r: {"summary": "Biased.", "critiques": [{"quote": "What is the sentiment?", "critique": "open"}]},
        "edit": lambda r: harmless,
        "feedback": lambda r: {"feedback": "look closer"},
        "step": lambda r: harmless,
    }


@pytest.mark.parametrize("method", ["gradsum", "tgd"])
async def test_demonstrations_move_wins_on_validation_without_showing_validation_data(tmp_path, method):
    prompt_file = make_file(tmp_path, validation=4, body=FILE.replace('edits = "rewrite"\n', ""))
    engine, backend = engine_with(routes(imitating_task))
    events = []
    finished = await make_optimizer(prompt_file, engine.session(), method=method, emit=events.append, iterations=1).run()
    proposed = [e for e in events if e.kind == "candidate-proposed" and e.origin == "demonstrations"]
    assert len(proposed) == 1
    assert finished.initial_score == 0.5 and finished.best_score == 1.0
    assert moves.DEMO_HEADER in finished.best.template and "I love it" in finished.best.template
    for example in prompt_file.split("validation"):  # never a validation example shown
        assert example.vars["review"] not in finished.best.template


async def test_no_demonstrations_without_a_failure_or_a_perfect_answer(tmp_path):
    prompt_file = make_file(tmp_path, validation=4)
    for task in (lambda r: "Sounds fine!", lambda r: "positive" if POSITIVE.search(ScriptedBackend.last_user(r)) else "negative"):
        engine, _ = engine_with(routes(task))
        events = []
        await make_optimizer(prompt_file, engine.session(), method="gradsum", emit=events.append, iterations=1).run()
        assert not [e for e in events if e.kind == "candidate-proposed" and e.origin == "demonstrations"]


def answered_by(prompt_words, review="I love it", example_id="ex-1"):
    """A perfect answer to one training example, by a prompt saying ``prompt_words``."""
    base = result(review, "positive", "positive", example_id=example_id)
    messages = ({"role": "user", "content": f"{prompt_words}\nReview: {review}"},)
    return base.__class__(**{**base.__dict__, "messages": messages})


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_the_demonstration_kept_for_an_example_does_not_depend_on_which_answer_came_first(tmp_path, order):
    """Candidates are scored concurrently: the first to answer an example used to give its
    demonstration, so a rerun of the same run could build other prompts and miss its cache."""
    engine, _ = engine_with(routes(lambda request: "positive"))
    optimizer = make_optimizer(make_file(tmp_path), engine.session(), method="gradsum")
    answers = [answered_by("Say the sentiment in one lowercase word, nothing else."),
               answered_by("Sentiment?"), answered_by("Label it.")]
    for i in order:
        optimizer.keep_demonstrations([answers[i]])
    assert optimizer._demos["ex-1"] is answers[2]  # the shortest input (then text order): "Label it."



RACE_REVIEWS = [("Broke in a day", "negative"), ("Awful smell", "negative"), ("Stopped working", "negative"),
                ("Never again", "negative"), ("Cheap plastic", "negative"), ("Too loud", "negative"),
                ("I love it", "positive"), ("Great value", "positive"), ("Works perfectly", "positive"),
                ("Love the colour", "positive"), ("Dead on arrival", "negative"), ("Great gift", "positive")]
A_RIGHT = {"Broke in a day", "Stopped working", "Cheap plastic", "Dead on arrival"}  # the rest: Rule B


def _race_file(tmp_path):
    body = FILE.replace('edits = "rewrite"\n', "").replace("minibatch = 4", "minibatch = 2")
    rows = "".join(f'[[examples]]\nvars = {{ review = "{r}" }}\nexpected = "{label}"\nsplit = "train"\n'
                   for r, label in RACE_REVIEWS)
    rows += '[[examples]]\nvars = { review = "Love it" }\nexpected = "positive"\nsplit = "validation"\n'
    rows += '[[examples]]\nvars = { review = "Junk" }\nexpected = "negative"\nsplit = "validation"\n'
    path = tmp_path / "race.prompt.toml"
    path.write_text(body + rows)
    analysis = analyze(body + rows, path, tmp_path)
    assert analysis.prompt is not None, analysis.diagnostics
    return analysis.prompt


def _timed_run_routes(timing: int):
    """A task model whose answers depend only on the request, and whose latency depends on the
    request and ``timing``: other timings, the same answers, other completion orders. Prompts an
    edit gave "Rule A" label the negative reviews of A_RIGHT right, "Rule B" ones the others;
    every prompt labels the positive reviews right."""
    import asyncio
    import hashlib

    async def task(request):
        text = " ".join(m["content"] for m in request["messages"])
        review = re.findall(r"Review: (.*)", ScriptedBackend.last_user(request))[-1]
        digest = hashlib.sha256(f"{timing}|{text}".encode()).digest()
        await asyncio.sleep(digest[0] / 255 * 0.02)
        if POSITIVE.search(review):
            return "positive"
        right = ("Rule A" in text and review in A_RIGHT) or ("Rule B" in text and review not in A_RIGHT)
        return "negative" if right else "positive"

    def edit(request):
        rule = "Rule A." if request["metadata"]["sample"] == 0 else "Rule B."
        return {"edits": [{"action": "append", "find": "", "text": rule}]}

    return {**routes(task), "edit": edit}


async def test_the_moves_of_a_run_do_not_depend_on_which_concurrent_answer_came_first(tmp_path):
    """The beam's prompts are evaluated concurrently: a prompt's demonstrations move used to
    take whatever perfect answers its siblings' evaluations had delivered by then, so the
    candidates (and the calls) of a rerun depended on timing and missed the cache. The move
    takes the demonstrations known when the iteration began and the prompt's own answers."""
    prompt_file = _race_file(tmp_path)

    async def proposed(timing):
        engine, _ = engine_with(_timed_run_routes(timing))
        events = []
        await make_optimizer(prompt_file, engine.session(), method="gradsum", emit=events.append).run()
        return sorted((e.iteration, e.origin, e.prompt.system or "", e.prompt.template)
                      for e in events if e.kind == "candidate-proposed")

    runs = [await proposed(timing) for timing in range(8)]
    assert any(origin == "demonstrations" and iteration == 2 for iteration, origin, *_ in runs[0])
    assert all(run == runs[0] for run in runs[1:])


@pytest.mark.parametrize("method", ["gradsum", "tgd"])
async def test_a_rerun_with_other_call_timings_finds_every_answer_in_the_cache(tmp_path, method):
    """What a user sees of the above: the same run again (same file, same cache), its calls
    finishing in another order, makes no new call and ends the same."""
    prompt_file = _race_file(tmp_path)
    cache = tmp_path / "cache.sqlite"
    outcomes = []
    for timing in range(4):
        engine, backend = engine_with(_timed_run_routes(timing), cache_path=cache)
        finished = await make_optimizer(prompt_file, engine.session(), method=method).run()
        engine.close()
        outcomes.append((backend.calls, finished.best, finished.best_score))
    assert outcomes[0][0] > 0
    assert all(calls == 0 and (best, score) == outcomes[0][1:] for calls, best, score in outcomes[1:])
