"""What an example's result depends on besides the prompt text: a fingerprint to tell a recorded
result that still applies from one the file has since moved away from.

:func:`inputs_sha` hashes the example (its vars, expected answer and assertions), the file's
criteria and the models that produce and judge the answer (the task model; the judge model
only when a check uses it). The prompt text is not in it: a result names the prompt it was
made with by its id (``PromptText.id``), so a reader can say *which* of the two changed.
Operational model settings (timeout, concurrency, the key's variable name…) are left out: they
do not change an answer.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..document.model import Criterion, Example, PromptFile
from ..engine.spec import ModelSpec

_OPERATIONAL = ("timeout", "concurrency", "api_key_env", "json_schema", "deployments")


def _model(spec: ModelSpec) -> dict[str, Any]:
    return {k: v for k, v in spec.as_dict().items() if k not in _OPERATIONAL}


def _check(criterion: Criterion) -> list[Any]:
    return [criterion.type, criterion.name, criterion.value, criterion.rubric, criterion.threshold, criterion.weight]


def inputs_sha(prompt_file: PromptFile, example: Example) -> str:
    """A short hash of everything but the prompt text that decides ``example``'s result."""
    checks = [*prompt_file.criteria, *example.asserts]
    judged = any(c.uses_judge for c in checks)
    raw = json.dumps({
        "vars": example.vars,
        "expected": list(example.expected) if example.expected is not None else None,
        "asserts": [_check(a) for a in example.asserts],
        "criteria": [_check(c) for c in prompt_file.criteria],
        "task": _model(prompt_file.models.task),
        "judge": _model(prompt_file.models.judge) if judged else None,
    }, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]
