"""One default model and one default budget: the format's parser, the engine and the JSON Schema agree."""

import json
from pathlib import Path

from promptlsp.document import analyze, model
from promptlsp.engine import spec

SCHEMA = Path(__file__).resolve().parents[2] / "prompts-spec" / "prompt.schema.json"


def test_the_defaults_are_written_once_and_the_schema_states_them():
    assert model.DEFAULT_MODEL is spec.DEFAULT_MODEL
    budget = json.loads(SCHEMA.read_text())["properties"]["optimize"]["properties"]["budget"]
    assert budget["properties"]["max_calls"]["default"] == model.DEFAULT_MAX_CALLS
    text = 'task = "t"\n[prompt]\ntemplate = "Say {{ x }}"\n[[examples]]\nvars = { x = "hi" }\n'
    prompt_file = analyze(text).prompt
    assert prompt_file.optimize.budget.max_calls == model.DEFAULT_MAX_CALLS
    assert prompt_file.models.task.model == spec.DEFAULT_MODEL
