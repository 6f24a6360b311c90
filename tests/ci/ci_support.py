"""What the ci/ tests share: prompt files, the SARIF schema check, a batch with a scripted backend."""

import asyncio
import json
from pathlib import Path

import jsonschema

from promptlsp.ci.batch import evaluate_files, load
from promptlsp.engine import Engine, ScriptedBackend

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json").read_text("utf-8"))


def assert_valid_sarif(log: dict) -> None:
    """Against the official SARIF 2.1.0 schema (draft-04), every error reported."""
    validator = jsonschema.Draft4Validator(SCHEMA)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def evaluated(paths, answer, split="all"):
    """The batch's items for ``paths``, their task model answering ``answer(request)``."""
    items = [load(Path(p), None, split) for p in paths]
    session = Engine(cache_path=None, backend=ScriptedBackend(answer, json_schema=True)).session()
    asyncio.run(evaluate_files(session, [i for i in items if i.runnable and i.examples]))
    return items


BROKEN = 'task = "😀 emoji first"\n[prompt]\ntemplate = "😀😀 {{ a }"\n[[examples]]\nvars = { a = 1 }\n'
WARNED = 'task = "x"\n[prompt]\ntemplate = "😀😀 {{ a }}"\n[[examples]]\nvars = { a = "😀😀", unused = 2 }\nsplit = "validation"\n'
TWO = '''task = "Say the label."
[prompt]
template = "Label: {{ x }}"
[[criteria]]
name = "exact"
type = "equals"
[[examples]]
id = "good"
vars = { x = "yes" }
expected = "yes"
[[examples]]
id = "😀-bad"
vars = { x = "no" }
expected = "no"
assert = [{ name = "says never", type = "contains", value = "never" }]
[[examples]]
id = "plain-bad"
vars = { x = "maybe" }
expected = "maybe"
'''
