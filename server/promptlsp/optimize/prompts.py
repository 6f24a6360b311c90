"""Every prompt the optimizers send, with the schema of its answer and the parser beside it.

Read top to bottom, this file is the optimizers' whole conversation with the optimizer model:

* GRAD-SUM: ``GRADIENT`` (one failing example → what in the prompt caused it), ``SUMMARY``
  (all gradients of one prompt → general critiques quoting the exact spans they criticise),
  ``EDIT`` (critique → a few edit operations on the prompt: append an instruction, replace or
  insert after quoted words — a small model copies or mangles a whole prompt it is asked to
  rewrite; operations keep the variables intact and give the user a small diff), or
  ``REWRITE`` (critique → the whole new prompt).
* TGD: ``FEEDBACK`` (TextGrad's backward: feedback on the prompt from one example's loss) and
  ``STEP`` (TextGrad's optimizer step: feedback + momentum + constraints → the new prompt).
* ``REPAIR_VARIABLES``: sent once when a rewrite drops or invents a template variable.

The optimizer model always sees the *whole* prompt (TextGrad shows only the first and last ten
words of a long one). Answers are JSON objects checked against the schemas below by the engine
(schema-constrained decoding where the provider supports it, tolerant parsing plus one repair
round otherwise); a malformed answer becomes a recorded failure, never an exception.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping, Sequence

from ..evaluate.results import format_score
from .events import PromptText

SYSTEM = (
    "You are an expert prompt engineer. You improve prompts for AI models by studying how they fail "
    "on examples. You are precise: when you quote a prompt, you copy its words exactly. Reply with JSON only."
)


# -- shared pieces -------------------------------------------------------------------------------

def show_prompt(prompt: PromptText) -> str:
    """The full prompt, every character, in tags (never shortened)."""
    parts = []
    if prompt.system is not None:
        parts.append(f"<system_message>\n{prompt.system}\n</system_message>")
    parts.append(f"<prompt_template>\n{prompt.template}\n</prompt_template>")
    return "\n".join(parts)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def show_example(variables: Mapping[str, Any], output: str | None, expected: Sequence[str] | None,
                 checks: Iterable[Mapping[str, Any]], cut_off_at: int | None = None) -> str:
    lines = ["Input variables:"]
    lines += [f"- {name}: {_value(value)}" for name, value in variables.items()] or ["- (none)"]
    lines.append(f"Model output:\n<output>\n{output if output is not None else '(no output)'}\n</output>")
    if cut_off_at is not None and output is not None:
        lines.append(f"The output stopped at the answer length limit ({cut_off_at} tokens) before it was complete: "
                     "the model wrote more than a short answer.")
    if expected:
        lines.append("Expected answer (any of): " + " | ".join(expected))
    failed = [c for c in checks if not c.get("passed")]
    if failed:
        lines.append("Checks that failed:")
        lines += [f"- {c['name']} ({c['type']}): {c['reason']}" for c in failed]
    else:
        lines.append("All checks passed.")
    return "\n".join(lines)


def _message(content: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def _variables_rule(variables: Iterable[str]) -> str:
    names = sorted(variables)
    if not names:
        return "- The template uses no variables; do not add any {{ ... }} placeholders."
    shown = ", ".join("{{ " + n + " }}" for n in names)
    return f"- Keep exactly these template variables: {shown}. Each must still appear; add no others."


def _constraints(constraints: Sequence[str]) -> str:
    if not constraints:
        return ""
    return "\n## Constraints the new prompt must honour\n" + "\n".join(f"- {c}" for c in constraints) + "\n"


def _text(limit: int) -> dict[str, Any]:
    """A free-text field of an optimizer answer, at most ``limit`` characters. Grammar-constrained
    decoders (llama.cpp's json_schema) enforce the bound while generating: without it a small
    model can loop inside one string until ``max_tokens`` cuts the whole answer off (a failed
    step). The limits leave the answers their prompts ask for room (a sentence, a quoted span),
    and together fit the optimizer's 512-token default; a longer answer from a model that is not
    constrained gets the repair round."""
    return {"type": "string", "maxLength": limit}


def _prompt_schema(targets: Sequence[str], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = dict(extra or {})
    for target in targets:
        props[target] = {"type": "string", "minLength": 1}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


# -- GRAD-SUM: gradient ---------------------------------------------------------------------------

GRADIENT = """\
## The task the prompt must achieve
{task}

## The full prompt (exactly as written; {{{{ name }}}} marks a variable filled in per example)
{prompt}

## An example where the prompt fell short (score {score})
{example}

## What to write
First compare the model output with the expected answer and the failed checks: say exactly what
is wrong with the output (a wrong answer, the right answer in the wrong form, extra words, cut
off, ...). Then explain what in the prompt caused this and how the prompt should change so that
the model gets this kind of input right — a general change, not a patch for this one example.
Quote the exact words of the prompt that are responsible, copied character for character
(use an empty string if the problem is something the prompt does not say).
Reply with JSON: {{"comparison": "...", "problem": "...", "quote": "...", "suggestion": "..."}}"""

# "comparison" comes first: with schema-constrained decoding the model writes the fields in this
# order, so it looks at the output before it diagnoses the prompt.
GRADIENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"comparison": _text(400), "problem": _text(400), "quote": _text(300), "suggestion": _text(400)},
    "required": ["comparison", "problem", "quote", "suggestion"],
    "additionalProperties": False,
}


def gradient_messages(task: str, prompt: PromptText, example_text: str, score: float | None) -> list[dict]:
    return _message(GRADIENT.format(task=task.strip(), prompt=show_prompt(prompt), example=example_text,
                                    score=format_score(score, 2)))


def parse_gradient(data: Mapping[str, Any]) -> str:
    """The gradient as the text the summary step reads."""
    quote = str(data.get("quote", "")).strip()
    comparison = str(data.get("comparison", "")).strip()
    lines = [f"What is wrong with the output: {comparison}"] if comparison else []
    lines.append(f"Problem: {str(data['problem']).strip()}")
    if quote:
        lines.append(f'Quoted prompt words: "{quote}"')
    lines.append(f"Suggestion: {str(data['suggestion']).strip()}")
    return "\n".join(lines)


# -- GRAD-SUM: summary ----------------------------------------------------------------------------

SUMMARY = """\
## The task the prompt must achieve
{task}

## The full prompt
{prompt}

## Feedback on this prompt from {count} examples where it fell short
{gradients}

## What to write
Summarise the feedback into general criticism of the prompt that will help on unseen inputs:
merge feedback that says the same thing, and do not copy details of individual examples.
Write at most 3 critiques, one sentence each. For each, quote the exact span of the prompt it
criticises, copied character for character from the prompt above (an empty quote if the issue
is something the prompt does not say).
Reply with JSON: {{"summary": "...", "critiques": [{{"quote": "...", "critique": "..."}}]}}"""

SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": _text(400),
        "critiques": {
            "type": "array",
            "maxItems": 3,  # "Write at most 3 critiques"
            "items": {
                "type": "object",
                "properties": {"quote": _text(200), "critique": _text(300)},
                "required": ["quote", "critique"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["summary", "critiques"],
    "additionalProperties": False,
}


def gradients_as_critique(gradients: Sequence[tuple[str, str]]) -> str:
    """What the edits are written from when the summary step failed: the gradients themselves
    (TextGrad's ``tg.sum`` — concatenated, not summarised), so one bad answer costs the summary,
    not the iteration's edits."""
    return "\n\n".join(f"Feedback from example {example_id}:\n{text.strip()}" for example_id, text in gradients)


def summary_messages(task: str, prompt: PromptText, gradients: Sequence[tuple[str, str]]) -> list[dict]:
    """``gradients``: (example id, gradient text) pairs."""
    shown = "\n\n".join(f"### Example {example_id}\n{text}" for example_id, text in gradients)
    return _message(SUMMARY.format(task=task.strip(), prompt=show_prompt(prompt), count=len(gradients), gradients=shown))


# -- GRAD-SUM: edit ---------------------------------------------------------------------------------

EDIT = """\
## The task the prompt must achieve
{task}

## The current prompt
{prompt}

## Criticism of the current prompt
{critique}
{constraints}{answers}
## What to write
Change the prompt to fix the issues above, so that it works better on all inputs of this task.
Write 1 to {limit} edits. Each edit is one of:
{actions}
Rules:
{variables}
- Write instructions for the model that will answer, in the imperative ("Answer with ..."), not comments about the prompt.
Reply with JSON: {{"edits": [{{"action": "append", "find": "", "text": "..."}}]}}"""

EDIT_LIMIT = 3

# The edit operations, as both EDIT and TGD's STEP describe them (applied by candidates.apply_edits).
EDIT_ACTIONS = (
    '- {"action": "append", "find": "", "text": "a new instruction, added at the end of the prompt"}\n'
    '- {"action": "replace", "find": "words copied exactly from the prompt", "text": "the words that replace them"}\n'
    '- {"action": "insert_after", "find": "words copied exactly from the prompt", "text": "new words added right after them"}'
)

EDIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "edits": {
            "type": "array",
            "minItems": 1,
            "maxItems": EDIT_LIMIT,
            "items": {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["append", "replace", "insert_after"]},
                    "find": _text(200),
                    "text": _text(400),
                },
                "required": ["action", "find", "text"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["edits"],
    "additionalProperties": False,
}

REWRITE = """\
## The task the prompt must achieve
{task}

## The current prompt
{prompt}

## Criticism of the current prompt
{critique}
{constraints}{answers}
## What to write
Rewrite the prompt to fix the issues above, so that it works better on all inputs of this task.
Rules:
{variables}
- Keep valid jinja2 syntax.
- Write the complete new text, not a description of changes.
Reply with JSON: {reply}"""


def critique_text(summary: str, critiques: Iterable[Mapping[str, Any]]) -> str:
    lines = [summary.strip()] if summary.strip() else []
    for c in critiques:
        quote = f' (on "{c["quote"]}")' if c.get("quote") else ""
        suggestion = f" Suggestion: {c['suggestion'].strip()}" if c.get("suggestion") else ""
        lines.append(f"- {c['critique'].strip()}{quote}{suggestion}")
    return "\n".join(lines) or "(no specific criticism)"


def _reply_shape(targets: Sequence[str]) -> str:
    return "{" + ", ".join(f'"{t}": "..."' for t in targets) + "}"


def answers_text(answers: Sequence[str]) -> str:
    """What correct answers look like: expected answers of training examples (never validation
    or test data), so that the optimizer can state the answer format."""
    if not answers:
        return ""
    shown = "\n".join(f"- {a}" for a in answers)
    return f"\n## Correct answers to some training inputs, exactly as the checks want them\n{shown}\n"


def edit_messages(task: str, prompt: PromptText, critique: str, constraints: Sequence[str],
                  variables: Iterable[str], targets: Sequence[str], *, answers: Sequence[str] = (),
                  style: str = "operations") -> list[dict]:
    frame = EDIT if style == "operations" else REWRITE
    return _message(frame.format(
        task=task.strip(), prompt=show_prompt(prompt), critique=critique, constraints=_constraints(constraints),
        answers=answers_text(answers), variables=_variables_rule(variables), reply=_reply_shape(targets),
        limit=EDIT_LIMIT, actions=EDIT_ACTIONS,
    ))


def edit_schema(targets: Sequence[str], style: str = "operations") -> dict[str, Any]:
    return EDIT_SCHEMA if style == "operations" else _prompt_schema(targets)


# -- TGD: backward (feedback per example) -------------------------------------------------------

FEEDBACK = """\
You are part of an optimization system that improves a prompt (the variable) for this task:
{task}

## The variable: the full prompt
{prompt}

## How the prompt did on one example (the loss)
{example}

## What to write
Give feedback on the prompt: how should it change so that this evaluation improves?
Be specific and concise; speak about the prompt, not about this one example's answer.
Reply with JSON: {{"feedback": "..."}}"""

FEEDBACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"feedback": _text(1000)},
    "required": ["feedback"],
    "additionalProperties": False,
}


def feedback_messages(task: str, prompt: PromptText, loss_text: str) -> list[dict]:
    return _message(FEEDBACK.format(task=task.strip(), prompt=show_prompt(prompt), example=loss_text))


def combine_feedback(items: Sequence[tuple[str, str]]) -> str:
    """TextGrad's ``tg.sum``: the gradients concatenated, each labelled with its example."""
    return "\n\n".join(f"<feedback example=\"{example_id}\">\n{text.strip()}\n</feedback>" for example_id, text in items)


# -- TGD: optimizer step --------------------------------------------------------------------------

STEP = """\
You are part of an optimization system that improves a prompt (the variable) for this task:
{task}

## The variable: the current prompt
{prompt}

## Feedback on the current prompt, from the examples of this step
{feedback}
{momentum}{constraints}{answers}
## What to write
List at most 3 parts of the current prompt that the feedback criticises, one sentence each,
quoting each span exactly (character for character). Then {change}
Rules:
{variables}
{rules}
Reply with JSON: {reply}"""

_STEP_CHANGE = {
    "operations": (
        "write 1 to {limit} edits that improve the prompt. Each edit is one of:\n{actions}",
        '- Write instructions for the model that will answer, in the imperative, not comments about the prompt.',
    ),
    "rewrite": (
        "write the improved prompt.",
        "- Keep valid jinja2 syntax.\n- Write the complete new text, not a description of changes.",
    ),
}

MOMENTUM = """
## Earlier steps of this optimization (oldest first): the prompt then and the feedback it got
Use them to keep improving in a consistent direction and to avoid repeating earlier mistakes.
{steps}
"""

STEP_CRITIQUES = SUMMARY_SCHEMA["properties"]["critiques"]


def step_schema(targets: Sequence[str], style: str = "operations") -> dict[str, Any]:
    if style == "operations":
        return {**EDIT_SCHEMA, "properties": {"critiques": STEP_CRITIQUES, **EDIT_SCHEMA["properties"]},
                "required": ["critiques", "edits"]}
    return _prompt_schema(targets, {"critiques": STEP_CRITIQUES})


def momentum_text(history: Sequence[tuple[PromptText, str]]) -> str:
    """The gradient memory: earlier prompts and the (combined) feedback each one received."""
    if not history:
        return ""
    steps = "\n".join(
        f"<step number=\"{i}\">\n{show_prompt(prompt)}\n<feedback>\n{feedback.strip()}\n</feedback>\n</step>"
        for i, (prompt, feedback) in enumerate(history, start=1)
    )
    return MOMENTUM.format(steps=steps)


def step_messages(task: str, prompt: PromptText, feedback: str, history: Sequence[tuple[PromptText, str]],
                  constraints: Sequence[str], variables: Iterable[str], targets: Sequence[str], *,
                  answers: Sequence[str] = (), style: str = "operations") -> list[dict]:
    change, rules = _STEP_CHANGE[style]
    if style == "operations":
        reply = '{"critiques": [{"quote": "...", "critique": "..."}], "edits": [{"action": "append", "find": "", "text": "..."}]}'
    else:
        reply = "{" + '"critiques": [{"quote": "...", "critique": "..."}], ' + _reply_shape(targets)[1:]
    return _message(STEP.format(
        task=task.strip(), prompt=show_prompt(prompt), feedback=feedback, momentum=momentum_text(history),
        constraints=_constraints(constraints), answers=answers_text(answers), variables=_variables_rule(variables),
        change=change.format(limit=EDIT_LIMIT, actions=EDIT_ACTIONS), rules=rules, reply=reply,
    ))


# -- both: variable repair ------------------------------------------------------------------------

REPAIR_VARIABLES = """\
Your answer is not usable: {problem}
The prompt is a jinja2 template filled in per example, so it must keep exactly its variables.
{variables}
{again} Reply with JSON: {reply}"""


def repair_variables_messages(previous: list[dict], bad_answer: str, problem: str, variables: Iterable[str],
                              targets: Sequence[str], style: str = "rewrite",
                              schema: Mapping[str, Any] | None = None) -> list[dict]:
    """The repair round's messages; the reply shape names every field ``schema`` requires
    (TGD's step also wants its critiques back)."""
    critiques = '"critiques": [{"quote": "...", "critique": "..."}], ' if schema and "critiques" in schema.get("required", ()) else ""
    if style == "operations":
        again = "Write your edits again with that fixed (copy \"find\" words exactly from the prompt)."
        reply = "{" + critiques + '"edits": [{"action": "...", "find": "...", "text": "..."}]}'
    else:
        again, reply = "Write the complete prompt again with that fixed.", "{" + critiques + _reply_shape(targets)[1:]
    return [
        *previous,
        {"role": "assistant", "content": bad_answer},
        {"role": "user", "content": REPAIR_VARIABLES.format(
            problem=problem, variables=_variables_rule(variables), again=again, reply=reply)},
    ]


# Our own framing tags: a small model sometimes wraps its answer in them; they are never prompt text.
_OWN_TAGS = re.compile(r"</?(?:prompt_template|system_message|prompt|output)>")


def strip_own_tags(text: str) -> str:
    """``text`` without the tags this file frames prompts and outputs in."""
    stripped = _OWN_TAGS.sub("", text)
    return stripped.strip("\n") if stripped != text else text


def parse_prompt(data: Mapping[str, Any], current: PromptText, targets: Sequence[str]) -> PromptText:
    """The rewritten prompt: the targets from the answer (our framing tags removed), the rest unchanged."""
    template = strip_own_tags(str(data["template"])) if "template" in targets else current.template
    system = strip_own_tags(str(data["system"])) if "system" in targets else current.system
    return PromptText(template=template, system=system)


# The placeholder texts of EDIT_ACTIONS: a small model sometimes copies them as its edit.
_PLACEHOLDERS = frozenset(m.lower() for m in re.findall(r'"(?:find|text)": "([^"]+)"', EDIT_ACTIONS))


def _placeholder(text: str) -> bool:
    return text.strip().strip(".").lower() in _PLACEHOLDERS


def parse_edits(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """The edit operations of an ``EDIT`` answer, texts stripped of our framing tags; an
    operation that copies one of our own placeholder texts (see ``EDIT_ACTIONS``) is dropped."""
    out = []
    for item in data.get("edits", ()):
        action = str(item.get("action", ""))
        text = strip_own_tags(str(item.get("text", ""))).strip()
        find = strip_own_tags(str(item.get("find", ""))).strip()
        if action in ("append", "replace", "insert_after") and not _placeholder(text) and not _placeholder(find):
            out.append({"action": action, "find": find, "text": text})
    return out
