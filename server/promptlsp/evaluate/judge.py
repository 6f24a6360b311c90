"""The LLM judge for ``llm-rubric`` checks: its prompt, its answer schema, and the parser.

The judge answers a small JSON object (reason first, so the model explains before it scores)
with an integer grade 0–10, which small models follow far more reliably than a float; the
grade is divided by 10 to give the 0..1 score of the SPEC.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from ..engine import ModelSpec, Session
from .results import CheckResult

JUDGE_SYSTEM = (
    "You are a strict and fair grader of answers produced by an AI assistant. "
    "You grade one answer against one rubric. Judge only what the rubric asks. "
    "Reply with JSON only."
)

JUDGE_REQUEST = """\
## Task the assistant was given
{task}

## Input
{inputs}
{expected}
## The assistant's answer
<answer>
{output}
</answer>

## Rubric
{rubric}

Grade the answer against the rubric: 10 = fully meets it, 5 = partly, 0 = fails it.
Reply with a JSON object: {{"reason": "<one or two sentences>", "score": <integer 0-10>}}"""

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
    },
    "required": ["reason", "score"],
    "additionalProperties": False,
}


def judge_messages(task: str, variables: Mapping[str, Any], output: str, expected: tuple[str, ...] | None, rubric: str) -> list[dict]:
    inputs = "\n".join(f"- {name}: {_show(value)}" for name, value in variables.items()) or "(none)"
    expected_block = ""
    if expected:
        shown = " | ".join(expected)
        expected_block = f"\n## Reference answer (any of)\n{shown}\n"
    content = JUDGE_REQUEST.format(task=task.strip(), inputs=inputs, expected=expected_block, output=output, rubric=rubric.strip())
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": content}]


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parse_grade(data: Any) -> tuple[float, str]:
    """(score 0..1, reason) from a schema-valid judge answer."""
    return max(0, min(10, int(data["score"]))) / 10.0, str(data["reason"]).strip()


async def judge(
    session: Session,
    spec: ModelSpec,
    *,
    task: str,
    variables: Mapping[str, Any],
    output: str,
    expected: tuple[str, ...] | None,
    name: str,
    rubric: str,
    threshold: float,
    weight: float,
    origin: str,
) -> CheckResult:
    """Grade ``output`` with the judge model; a failed judge call is an unscored check."""
    messages = judge_messages(task, variables, output, expected, rubric)
    result = await session.complete(spec, messages, schema=JUDGE_SCHEMA, schema_name="grade", phase="judge")
    if not result.ok or result.data is None:
        why = result.failure.message if result.failure else "no answer"
        return CheckResult(name, "llm-rubric", None, False, weight, f"judge failed: {why}", origin)
    score, reason = parse_grade(result.data)
    return CheckResult(name, "llm-rubric", score, score >= threshold, weight, reason, origin)
