"""Candidate moves that need no optimizer-model call: what the checks already know.

A small task model often knows the answer and still fails an exact check, because it says the
answer in a sentence ("The sentiment of this customer review is positive") or is cut off at
``max_tokens`` before it gets there. The file's checks define the accepted answer format, so the
optimizer does not need a model to find that out: when the evidence shows such failures, the
*answer-format move* appends one instruction saying exactly what to answer. DSPy does the same
kind of thing with its adapters (the output format is written by code, not by the optimizer
model). The move is a candidate like any other: it is scored on the same minibatch and validation
split, and kept only if it wins there.

``format_evidence`` says which failures are format failures; ``format_instruction`` writes the
sentence from the criteria and the training examples' expected answers (never validation or
test data) — where a check's type does not say whether it wants the bare answer (a regex
anchored at both ends), the check is asked, on the bare answer and on it inside a sentence;
``answer_format_candidate`` puts both together.

The *demonstrations move* (DSPy's bootstrapped few-shot) shows the task model training examples
it has already answered perfectly during the run, as it answered them
(``demonstrations_candidate``). Measured on the quality bench's object counting with the 0.5B:
0.20 → 0.40 on 20 validation examples; no gain on sports understanding, a small loss on date
understanding — which is why it is a candidate chosen on validation, never applied blindly.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from ..document.model import Example, PromptFile, PromptText
from ..evaluate.assertions import DETERMINISTIC_TYPES, check
from ..evaluate.results import ExampleResult
from .candidates import apply_edits, variable_problem

# Check kinds whose pass needs the output to *be* the answer (not merely contain it).
_EXACT_KINDS = frozenset({"equals", "starts-with"})
_JSON_KINDS = frozenset({"is-json", "json-schema"})
_MAX_LABELS = 8  # a closed set of answers is listed in full up to this many
_LABEL_WORDS = 3  # ... when each has at most this many words
_BARE_PROBES = 5  # training examples whose checks are asked whether they want the bare answer
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_WORD = re.compile(r"\w+")


def _exact_kinds(prompt_file: PromptFile, examples: Iterable[Example]) -> set[str]:
    kinds = {c.kind for c in prompt_file.criteria if not c.negated and not c.uses_judge}
    for example in examples:
        kinds |= {a.kind for a in example.asserts if not a.negated and not a.uses_judge}
    return kinds


_JINJA = re.compile(r"\{[{%#]|[}%#]\}")


def _answers(examples: Iterable[Example]) -> list[str]:
    """Distinct expected answers (the first of each "any of" list), in first-seen order; none
    that holds template syntax (it would become part of the prompt's jinja2 template)."""
    seen: dict[str, None] = {}
    for example in examples:
        if example.expected:
            seen.setdefault(example.expected[0].strip(), None)
    return [a for a in seen if a and not _JINJA.search(a)]


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def format_evidence(results: Sequence[ExampleResult]) -> list[ExampleResult]:
    """Failing examples whose output holds the expected answer inside more text, was cut off at
    ``max_tokens``, or runs far longer than any expected answer (talking around the answer)."""
    out = []
    for r in results:
        if r.perfect or r.output is None or not r.expected:
            continue
        output = r.output.strip()
        lowered = output.lower()
        expected = [e.strip() for e in r.expected if e.strip()]
        if not expected or any(output == e for e in expected):
            continue  # right format (a wrong answer is not a format problem)
        inside = any(e.lower() in lowered for e in expected)
        longest = max(_words(e) for e in expected)
        if inside or r.cut_off_at is not None or _words(output) > 2 * longest + 3:
            out.append(r)
    return out


def _wants_bare_answer(prompt_file: PromptFile, train: Sequence[Example], probes: int = _BARE_PROBES) -> bool:
    """Whether the deterministic checks (a ``regex`` anchored at both ends, say, where the type
    alone does not tell) accept each training example's expected answer on its own and refuse
    the same answer inside a sentence — asked of the checks themselves, on up to ``probes``
    training examples."""
    asked = 0
    for example in train:
        if not example.expected or not example.expected[0].strip():
            continue
        answer = example.expected[0].strip()
        checks = [c for c in (*prompt_file.criteria, *example.asserts) if c.type in DETERMINISTIC_TYPES]
        if not checks:
            return False
        if not all(check(c, answer, example.expected).score == 1.0 for c in checks):
            return False
        if all(check(c, f"The answer is {answer}.", example.expected).score == 1.0 for c in checks):
            return False
        asked += 1
        if asked == probes:
            break
    return asked > 0


def format_instruction(prompt_file: PromptFile, train: Sequence[Example]) -> str | None:
    """One sentence stating the answer format the checks accept, or None when there is none to state."""
    kinds = _exact_kinds(prompt_file, train)
    if kinds & _JSON_KINDS:
        return "Answer with only the JSON value itself: no other words and no code fences."
    if not kinds & _EXACT_KINDS and not _wants_bare_answer(prompt_file, train):
        return None
    answers = _answers(train)
    if not answers:
        return None
    lowercase = all(a == a.lower() for a in answers)
    case = " in lowercase" if lowercase and any(a.upper() != a for a in answers) else ""
    if len(answers) <= _MAX_LABELS and all(_words(a) <= _LABEL_WORDS for a in answers) and len(answers) < len(train):
        listed = ", ".join(answers[:-1]) + f" or {answers[-1]}" if len(answers) > 1 else answers[0]
        unit = "word" if all(_words(a) == 1 for a in answers) else "answer"
        return f"Answer with exactly one {unit}{case}: {listed}. Do not write anything else."
    if all(_NUMBER.fullmatch(a) for a in answers):
        return f"Answer with only the number (for example: {answers[0]}). Do not write anything else."
    return f"Answer with only the answer itself{case} (for example: {answers[0]}). Do not write anything else."


def answer_format_candidate(instruction: str | None, prompt: PromptText, results: Sequence[ExampleResult],
                            targets: Sequence[str]) -> tuple[PromptText, str] | None:
    """(candidate, why) when ``results`` show format failures and the prompt does not already
    say the answer format ``instruction`` (:func:`format_instruction`; None: none to state); it
    goes at the end of the template (the last thing the task model reads) when the template is a
    target, else of the system message."""
    if instruction is None:
        return None
    evidence = format_evidence(results)
    if not evidence:
        return None
    candidate, skipped = apply_edits(prompt, [{"action": "append", "find": "", "text": instruction}], targets)
    if skipped or variable_problem(prompt, candidate, targets):  # already there, or template syntax in an answer
        return None
    why = (f"{len(evidence)} of {len(results)} outputs had the answer in the wrong form "
           f"(e.g. {evidence[0].output.strip()[:60]!r} for {evidence[0].expected[0]!r})")
    return candidate, why


def training_answers(train: Sequence[Example], limit: int = 5) -> list[str]:
    """Up to ``limit`` distinct expected answers of training examples, for the edit step to see."""
    return _answers(train)[:limit]


# -- demonstrations: the task model's own good answers, shown to it ------------------------------

DEMO_HEADER = "Examples of inputs with good answers:"
MAX_DEMOS = 3
_DEMO_CHARS = 1500  # one demonstration (input and answer) at most this long
_DEMO_TOTAL_CHARS = 4000  # all of them together


def _user_text(result: ExampleResult) -> str | None:
    users = [m.get("content") for m in result.messages if m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else None


def demonstration(result: ExampleResult) -> tuple[str, str] | None:
    """(input, answer) of a training result fit to show as a demonstration, or None: only a
    perfect, complete answer whose texts hold no template syntax and are not too long."""
    if result.split != "train" or not result.perfect or result.output is None or result.cut_off_at is not None:
        return None
    user, output = _user_text(result), result.output.strip()
    if not user or not output or _JINJA.search(user) or _JINJA.search(output):
        return None
    if DEMO_HEADER in user:  # answered by a prompt with demonstrations in its template: never nest them
        return None
    if len(user) + len(output) > _DEMO_CHARS:
        return None
    return user.strip(), output


def has_demonstrations(prompt: PromptText) -> bool:
    return any(DEMO_HEADER in (prompt.get(t) or "") for t in ("system", "template"))


def demonstrations_block(demos: Sequence[tuple[str, str]]) -> str:
    shown = "\n\n---\n\n".join(f"Input:\n{user}\n\nGood answer:\n{output}" for user, output in demos)
    return f"{DEMO_HEADER}\n\n{shown}"


def pick_demonstrations(pool: Sequence[ExampleResult], limit: int = MAX_DEMOS) -> list[tuple[str, str]]:
    """Up to ``limit`` demonstrations from ``pool`` (in the pool's order), preferring
    different expected answers, within the total size limit."""
    usable = [(r, d) for r in pool if (d := demonstration(r)) is not None]
    chosen: list[tuple[str, str]] = []
    answers: set[str] = set()
    size = 0
    for distinct_first in (True, False):
        for r, d in usable:
            if len(chosen) >= limit:
                break
            key = r.expected[0].strip() if r.expected else d[1]
            if d in chosen or (distinct_first and key in answers) or size + len(d[0]) + len(d[1]) > _DEMO_TOTAL_CHARS:
                continue
            chosen.append(d)
            answers.add(key)
            size += len(d[0]) + len(d[1])
    return chosen


def demonstrations_candidate(prompt: PromptText, pool: Sequence[ExampleResult],
                             targets: Sequence[str]) -> tuple[PromptText, str] | None:
    """(candidate, why): ``prompt`` with demonstrations — training examples the task model
    answered perfectly, as it answered them — or None when there are none to show or the prompt
    already has some. They go at the end of the system message when it is a target (the task
    model reads them before the input), else at the start of the template."""
    if has_demonstrations(prompt):
        return None
    demos = pick_demonstrations(pool)
    if not demos:
        return None
    block = demonstrations_block(demos)
    if "system" in targets and prompt.system is not None:
        candidate = PromptText(template=prompt.template, system=prompt.system.rstrip() + "\n\n" + block)
    elif "template" in targets:
        candidate = PromptText(template=block + "\n\n---\n\n" + prompt.template, system=prompt.system)
    else:
        return None
    if variable_problem(prompt, candidate, targets):
        return None
    return candidate, f"{len(demos)} training example(s) the task model answered perfectly, shown as demonstrations"
