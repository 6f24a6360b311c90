"""A close call on a small validation split gets a second look on training examples the run never
used, when the budget left allows it (issue 13: noise-aware selection with more evidence)."""

from promptlsp.document import analyze
from promptlsp.engine import Budget, ScriptedBackend
from promptlsp.optimize import make_optimizer

from optimizer_support import FILE, POSITIVE, engine_with
from test_moves_and_edits import routes_with

REVIEWS = [("I love it", "positive"), ("Broke in a day", "negative"), ("Great value", "positive"),
           ("Awful smell", "negative"), ("Works perfectly", "positive"), ("Never again", "negative"),
           ("Love the colour", "positive"), ("Too loud", "negative"), ("Great fit", "positive"),
           ("Cheap plastic", "negative"), ("Perfect gift", "positive"), ("Arrived late", "negative"),
           ("Love it so much", "positive"), ("Smells odd", "negative"), ("Great battery", "positive"),
           ("Fell apart", "negative"), ("Perfect size", "positive"), ("Not worth it", "negative"),
           ("Love the feel", "positive"), ("Stopped working", "negative"), ("Great price", "positive")]
VALIDATION = ("Works perfectly", "Never again", "Arrived late")  # the edit gets only the first right


def make_file(tmp_path, body=FILE.replace('edits = "rewrite"\n', "").replace("minibatch = 4", "minibatch = 2")):
    rows = [f'[[examples]]\nid = "r{i}"\nvars = {{ review = "{review}" }}\nexpected = "{label}"\n'
            f'split = "{"validation" if review in VALIDATION else "train"}"\n' for i, (review, label) in enumerate(REVIEWS)]
    path = tmp_path / "s.prompt.toml"
    path.write_text(body + "".join(rows))
    analysis = analyze(path.read_text(), path, tmp_path)
    assert analysis.prompt is not None, analysis.diagnostics
    return analysis.prompt


def task_right_with_edit_on(reviews):
    """'Be exact.' makes the task model right where ``reviews`` (a predicate on the user message)
    holds; else it is chatty and wrong."""
    def task(request):
        text = " ".join(m["content"] for m in request["messages"])
        review = ScriptedBackend.last_user(request)
        if "Be exact." in text and reviews(review):
            return "positive" if POSITIVE.search(review) else "negative"
        return "Sounds fine!"
    return task


EDIT = lambda r: {"edits": [{"action": "append", "find": "", "text": "Be exact."}]}  # noqa: E731


def scored(events, split):
    return [e for e in events if e.kind == "example-scored" and e.split == split]


async def run(tmp_path, task, budget=None):
    prompt_file = make_file(tmp_path)
    engine, _ = engine_with(routes_with(task, EDIT))
    events = []
    session = engine.session(budget=budget)
    finished = await make_optimizer(prompt_file, session, method="gradsum", emit=events.append, iterations=1).run()
    return prompt_file, finished, events


async def test_a_close_call_better_on_unused_training_examples_wins(tmp_path):
    everywhere = lambda review: not any(v in review for v in ("Never again", "Arrived late"))  # noqa: E731
    prompt_file, finished, events = await run(tmp_path, task_right_with_edit_on(everywhere))
    assert finished.best.template.endswith("Be exact.")
    assert finished.initial_score == 0.0 and abs(finished.best_score - 1 / 3) < 1e-9  # still the validation score
    assert "chosen on validation and 8 training examples the run had not used: 9 of 11 examples better" in finished.message
    # the second look used only training examples no earlier step had answered: the original
    # answered the minibatch (2), the demonstrations' bootstrap (6) and the second look (8), all different
    train = {e.id for e in prompt_file.split("train")}
    answered = [(e.candidate_id, e.example_id) for e in events if e.kind == "example-scored" and e.example_id in train]
    original = [x for c, x in answered if c != finished.best_candidate_id]
    second_look = [x for c, x in answered if c == finished.best_candidate_id]
    assert len(second_look) == 8 and len(original) == len(set(original)) == 16 and set(second_look) <= set(original)


async def test_a_close_call_no_better_on_unused_training_examples_is_refused(tmp_path):
    only_on_validation = lambda review: "Works perfectly" in review  # noqa: E731
    prompt_file, finished, _ = await run(tmp_path, task_right_with_edit_on(only_on_validation))
    assert finished.best.template == prompt_file.template
    assert ("by at least 2 examples (best: 0.333 (1 better, 0 worse of 11, 8 of them unused training examples))"
            in finished.message)


async def test_the_second_look_is_as_large_as_the_budget_left_allows(tmp_path):
    everywhere = lambda review: not any(v in review for v in ("Never again", "Arrived late"))  # noqa: E731
    # the run itself makes 19 calls: minibatch 2, bootstrap 6, gradients 2, summary 1, edits 2, validation 2 × 3
    prompt_file, finished, _ = await run(tmp_path, task_right_with_edit_on(everywhere), Budget(max_calls=26))
    assert finished.accounting["total"]["calls"] == 19  # 7 left: no room for 2 prompts × 4 examples
    assert finished.best.template == prompt_file.template
    assert "(best: 0.333 (1 better, 0 worse of 3))" in finished.message
    _, finished, _ = await run(tmp_path, task_right_with_edit_on(everywhere), Budget(max_calls=28))
    assert finished.accounting["total"]["calls"] == 27  # 9 left: 2 × 4
    assert "chosen on validation and 4 training examples the run had not used: 5 of 7 examples better" in finished.message
