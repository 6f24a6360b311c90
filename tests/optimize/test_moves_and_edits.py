"""The levers of issue 13 that need no real model: the answer-format move, edit operations,
our own framing tags stripped from answers."""

import itertools

import pytest

from promptlsp.engine import ScriptedBackend
from promptlsp.document.model import PromptText
from promptlsp.evaluate.results import CheckResult, ExampleResult
from promptlsp.optimize import make_optimizer, moves, prompts
from promptlsp.optimize.candidates import apply_edits

from optimizer_support import FILE, POSITIVE, engine_with, make_file, smart_task


def result(output, expected, passed=False):
    check = CheckResult("equals", "equals", 1.0 if passed else 0.0, passed, 1.0, "")
    return ExampleResult("e", "train", {"review": "x"}, (expected,), output, (check,))


# -- the answer-format move ------------------------------------------------------------------------

def test_format_evidence_is_the_answer_inside_more_text_or_a_long_ramble():
    rows = [
        result("The sentiment of this review is positive", "positive"),  # inside: evidence
        result("negative", "positive"),  # right format, wrong answer: not a format problem
        result("It is hard to say what the reviewer really meant by that", "neutral"),  # rambling: evidence
        result("positive", "positive", passed=True),  # perfect
        result("Mixed.", "neutral"),  # short and wrong: not evidence
    ]
    assert [r.output for r in moves.format_evidence(rows)] == [rows[0].output, rows[2].output]


def test_format_instruction_lists_a_closed_label_set_from_training_answers(tmp_path):
    prompt_file = make_file(tmp_path)
    text = moves.format_instruction(prompt_file, prompt_file.split("train"))
    assert text == "Answer with exactly one word in lowercase: positive or negative. Do not write anything else."


def test_format_instruction_for_numbers_free_text_json_and_nothing_exact(tmp_path):
    numbers = make_file(tmp_path, body=FILE)
    train = [e.__class__(e.id, e.vars, (str(i * 7),), e.split) for i, e in enumerate(numbers.split("train"))]
    assert moves.format_instruction(numbers, train) == \
        "Answer with only the number (for example: 0). Do not write anything else."
    free = [e.__class__(e.id, e.vars, (f"sorted words number {i} here",), e.split) for i, e in enumerate(train)]
    assert moves.format_instruction(numbers, free).startswith("Answer with only the answer itself in lowercase (for example: sorted")
    contains = make_file(tmp_path, body=FILE.replace('type = "equals"', 'type = "icontains"'))
    assert moves.format_instruction(contains, contains.split("train")) is None  # a sentence passes: nothing to fix
    as_json = make_file(tmp_path, body=FILE.replace('type = "equals"', 'type = "is-json"'))
    assert "JSON" in moves.format_instruction(as_json, as_json.split("train"))


def test_format_instruction_when_the_checks_want_the_bare_answer_whatever_their_type(tmp_path):
    """A check whose type does not say it (a regex anchored at both ends, as the quality bench's
    label tasks use) is asked directly: it accepts the bare answer and refuses it in a sentence."""
    bare = make_file(tmp_path, body=FILE.replace(
        'type = "equals"', 'type = "regex"\nvalue = \'(?i)\\A\\s*(positive|negative)\\s*\\.?\\s*\\Z\''))
    assert moves.format_instruction(bare, bare.split("train")) == \
        "Answer with exactly one word in lowercase: positive or negative. Do not write anything else."
    final_line = make_file(tmp_path, body=FILE.replace(
        'type = "equals"', 'type = "regex"\nvalue = \'(?i)answer:\\s*(positive|negative)\\s*\\Z\''))
    assert moves.format_instruction(final_line, final_line.split("train")) is None  # the bare answer fails it
    anywhere = make_file(tmp_path, body=FILE.replace('type = "equals"', 'type = "regex"\nvalue = "(positive|negative)"'))
    assert moves.format_instruction(anywhere, anywhere.split("train")) is None  # a sentence passes it too


def chatty_task(request) -> str:
    """Knows the label but says it in a sentence, unless told the exact answer format."""
    text = " ".join(m["content"] for m in request["messages"])
    review = ScriptedBackend.last_user(request)
    label = "positive" if POSITIVE.search(review) else "negative"
    return label if "Do not write anything else" in text else f"The sentiment of this review is {label}"


def routes_with(task, edit):
    return {
        "task": task,
        "gradient": lambda r: {"comparison": "the answer is in a sentence", "problem": "chatty", "quote": "What is the sentiment?", "suggestion": "say one word"},
        "summary": lambda r: {"summary": "The format is open.", "critiques": [{"quote": "What is the sentiment?", "critique": "open"}]},
        "edit": edit,
        "feedback": lambda r: {"feedback": "say the label only"},
        "step": lambda r: {"critiques": [], "edits": [{"action": "append", "find": "", "text": "Be brief."}]},
    }


@pytest.mark.parametrize("method", ["gradsum", "tgd"])
async def test_answer_format_move_is_proposed_and_wins_on_validation(tmp_path, method):
    prompt_file = make_file(tmp_path, body=FILE.replace('edits = "rewrite"\n', ""))
    engine, backend = engine_with(routes_with(chatty_task, lambda r: {"edits": [{"action": "append", "find": "", "text": "Be polite."}]}))
    events = []
    finished = await make_optimizer(prompt_file, engine.session(), method=method, emit=events.append, iterations=1).run()
    proposed = [e for e in events if e.kind == "candidate-proposed" and e.origin == "answer-format"]
    assert len(proposed) == 1 and proposed[0].parent_id == PromptText(prompt_file.template, prompt_file.system).id
    assert finished.initial_score == 0.0 and finished.best_score == 1.0
    assert finished.best.template == prompt_file.template + (
        "\n\nAnswer with exactly one word in lowercase: positive or negative. Do not write anything else.")


async def test_answer_format_move_needs_evidence(tmp_path):
    prompt_file = make_file(tmp_path)
    engine, _ = engine_with(routes_with(lambda r: "Sounds fine!", lambda r: {"template": "Review: {{ review }}!"}))
    events = []
    await make_optimizer(prompt_file, engine.session(), method="gradsum", emit=events.append, iterations=1).run()
    assert not [e for e in events if e.kind == "candidate-proposed" and e.origin == "answer-format"]


# -- edit operations -----------------------------------------------------------------------------------

BASE = PromptText(template="Here is a review:\n\n{{ review }}\n\nWhat is the sentiment?", system="You label reviews.")


def test_apply_edits_append_replace_insert_after():
    new, skipped = apply_edits(BASE, [
        {"action": "replace", "find": "What is the sentiment?", "text": "Is it positive or negative?"},
        {"action": "insert_after", "find": "here is a  review:", "text": "Read it closely."},  # loose match
        {"action": "append", "find": "", "text": "Answer with one word."},
    ], ("template",))
    assert skipped == []
    assert new.template == "Here is a review: Read it closely.\n\n{{ review }}\n\nIs it positive or negative?\n\nAnswer with one word."
    assert new.system == BASE.system


def test_apply_edits_skips_what_cannot_be_applied_safely():
    edits = [
        {"action": "replace", "find": "Not in the prompt", "text": "x"},
        {"action": "append", "find": "", "text": "Review: {{ review }}"},  # would duplicate the input
        {"action": "replace", "find": "What is the sentiment?", "text": "{{ review }} again?"},  # adds a placeholder
        {"action": "append", "find": "", "text": "What is the sentiment?"},  # already there
        {"action": "replace", "find": "", "text": "x"},
    ]
    new, skipped = apply_edits(BASE, edits, ("template",))
    assert new == BASE and len(skipped) == 5
    assert "'Not in the prompt' is not in the prompt" in skipped[0]


def test_apply_edits_may_move_a_variable_it_quotes():
    new, skipped = apply_edits(BASE, [{"action": "replace", "find": "{{ review }}", "text": "Review: {{ review }}"}], ("template",))
    assert not skipped and "Review: {{ review }}" in new.template


def test_append_goes_to_the_system_message_when_only_it_is_a_target():
    new, _ = apply_edits(BASE, [{"action": "append", "find": "", "text": "Be terse."}], ("system",))
    assert new.system == "You label reviews.\n\nBe terse." and new.template == BASE.template


async def test_gradsum_edits_are_operations_and_unusable_ones_get_one_repair(tmp_path):
    prompt_file = make_file(tmp_path, body=FILE.replace('edits = "rewrite"\n', ""))
    answers = itertools.cycle([
        {"edits": [{"action": "replace", "find": "Words that are not there", "text": "x"}]},
        {"edits": [{"action": "append", "find": "", "text": "Answer with one word: positive or negative."}]},
    ])
    engine, backend = engine_with(routes_with(smart_task, lambda r: next(answers)))
    events = []
    finished = await make_optimizer(prompt_file, engine.session(), method="gradsum", emit=events.append,
                                    iterations=1).run()
    requests = backend.requests_for("edit")
    assert requests and all(r["response_format"]["json_schema"]["schema"] == prompts.EDIT_SCHEMA for r in requests)
    repairs = [r for r in requests if len(r["messages"]) > 2]
    assert repairs and "no edit could be applied" in repairs[0]["messages"][-1]["content"]
    proposed = [e for e in events if e.kind == "candidate-proposed" and e.origin == "edit"]
    assert proposed and proposed[0].prompt.template.endswith("\n\nAnswer with one word: positive or negative.")
    assert "one word" in finished.best.template  # the scripted task model answers right when told "one word"


def test_edit_prompt_shows_training_answers_and_the_operations():
    messages = prompts.edit_messages("Label reviews.", BASE, "- too open", (), {"review"}, ("template",),
                                     answers=["positive", "negative"])
    text = messages[-1]["content"]
    assert "- positive\n- negative" in text and '"action": "insert_after"' in text
    rewrite = prompts.edit_messages("Label reviews.", BASE, "- too open", (), {"review"}, ("template",), style="rewrite")
    assert '"template": "..."' in rewrite[-1]["content"] and "insert_after" not in rewrite[-1]["content"]


def test_our_framing_tags_are_stripped_from_answers():
    wrapped = {"template": "<prompt_template>\nReview: {{ review }}\nOne word.\n</prompt_template>"}
    assert prompts.parse_prompt(wrapped, BASE, ("template",)).template == "Review: {{ review }}\nOne word."
    assert prompts.parse_edits({"edits": [{"action": "append", "find": "", "text": "<prompt>Be brief.</prompt>"}]}) == [
        {"action": "append", "find": "", "text": "Be brief."}]


# -- noise-aware choice --------------------------------------------------------------------------------

def test_evidence_pairs_examples():
    from promptlsp.evaluate.results import EvalReport
    from promptlsp.optimize.base import evidence

    def report(scores):
        return EvalReport(BASE, tuple(ExampleResult(f"e{i}", "validation", {}, None, "x", (
            CheckResult("c", "equals", s, bool(s), 1.0, ""),) if s is not None else ()) for i, s in enumerate(scores)))

    assert evidence(report([0, 0, 1, 0]), report([1, 1, 0, 0])) == (2, 1, 4)


async def test_a_one_example_win_on_validation_is_not_a_winner(tmp_path):
    # the edited prompt gets exactly one more validation example right: luck on a tiny split
    prompt_file = make_file(tmp_path, body=FILE.replace('edits = "rewrite"\n', ""), validation=3)

    def task(request):
        text = " ".join(m["content"] for m in request["messages"])
        review = ScriptedBackend.last_user(request)
        if "Be exact." in text and ("Works" in review or "Great" in review):
            return "positive" if POSITIVE.search(review) else "negative"
        return "Sounds fine!"

    engine, _ = engine_with(routes_with(task, lambda r: {"edits": [{"action": "append", "find": "", "text": "Be exact."}]}))
    events = []
    finished = await make_optimizer(prompt_file, engine.session(), method="gradsum", emit=events.append, iterations=1).run()
    scores = {e.candidate_id: e.score for e in events if e.kind == "candidate-scored" and e.split == "validation"}
    assert sorted(scores.values()) == [0.0, pytest.approx(1 / 3)]  # the edit did score higher ...
    assert finished.best.template == prompt_file.template  # ... but on one example only
    assert "by at least 2 examples (best: 0.333 (1 better, 0 worse of 3))" in finished.message


def test_a_cancelled_run_keeps_only_a_clear_winner(tmp_path):
    from promptlsp.evaluate.results import EvalReport
    from promptlsp.optimize.base import MIN_NET_WINS

    prompt_file = make_file(tmp_path, validation=3)
    engine, _ = engine_with({})
    optimizer = make_optimizer(prompt_file, engine.session(), method="tgd")

    def report(prompt, scores):
        return EvalReport(prompt, tuple(ExampleResult(f"e{i}", "validation", {}, None, "x", (
            CheckResult("c", "equals", s, bool(s), 1.0, ""),)) for i, s in enumerate(scores)))

    lucky, clear = PromptText("Lucky {{ review }}"), PromptText("Clear {{ review }}")
    optimizer._selection_reports = {optimizer.initial.id: report(optimizer.initial, [0, 0, 0]),
                                    lucky.id: report(lucky, [1, 0, 0]), clear.id: report(clear, [1, 1, 0])}
    assert MIN_NET_WINS == 2
    assert not optimizer._clear_win(lucky) and optimizer._clear_win(clear)
    assert not optimizer._clear_win(PromptText("Never scored {{ review }}"))


def test_answer_format_move_never_puts_template_syntax_into_the_prompt(tmp_path):
    prompt_file = make_file(tmp_path)
    train = [e.__class__(e.id, e.vars, ("{{ user }}" if i % 2 else "{% raw %}",), e.split)
             for i, e in enumerate(prompt_file.split("train"))]
    rows = [result("The answer is {{ user }} here", "{{ user }}")]
    instruction = moves.format_instruction(prompt_file, train)
    assert moves.answer_format_candidate(instruction, BASE, rows, ("template",)) is None


def test_the_repair_round_asks_for_every_field_its_schema_requires():
    step = prompts.repair_variables_messages([], "{}", "no edit could be applied", {"review"}, ("template",),
                                             "operations", prompts.step_schema(("template",), "operations"))
    assert '{"critiques": [{"quote": "...", "critique": "..."}], "edits": [' in step[-1]["content"]
    edit = prompts.repair_variables_messages([], "{}", "x", {"review"}, ("template",), "operations", prompts.EDIT_SCHEMA)
    assert '"critiques"' not in edit[-1]["content"] and '{"edits": [' in edit[-1]["content"]


def test_budget_plans_reserve_calls_for_the_moves_only_when_they_can_apply(tmp_path):
    exact = make_file(tmp_path)
    # a regex that a sentence with the answer passes as well: nothing for the answer-format move to fix
    regex = make_file(tmp_path, body=FILE.replace('type = "equals"', 'type = "regex"\nvalue = "(positive|negative)"'))
    engine, _ = engine_with({})
    for method in ("gradsum", "tgd"):
        with_move = make_optimizer(exact, engine.session(), method=method)
        without = make_optimizer(regex, engine.session(), method=method)
        # the answer-format move needs checks that want the bare answer; the demonstrations move two training examples
        assert (with_move.moves_per_prompt, without.moves_per_prompt) == (2, 1)
        assert with_move.estimate().calls > without.estimate().calls


def test_edits_copying_our_own_placeholder_texts_are_dropped():
    """Seen on the bench: the 0.5B optimizer answered {"action": "replace", "find": ..., "text":
    "the words that replace them"} and the placeholder became part of the winning prompt."""
    data = {"edits": [
        {"action": "replace", "find": "What is the sentiment?", "text": "The words that replace them."},
        {"action": "insert_after", "find": "words copied exactly from the prompt", "text": "Be brief."},
        {"action": "append", "find": "", "text": "a new instruction, added at the end of the prompt"},
        {"action": "append", "find": "", "text": "Answer with one word."},
    ]}
    assert prompts.parse_edits(data) == [{"action": "append", "find": "", "text": "Answer with one word."}]
