"""The optimizer's answer schemas bound their free text (what a grammar-constrained small model
would otherwise loop inside until ``max_tokens`` cuts the answer off)."""

import json

import pytest

from promptlsp.engine.structured import validation_error
from promptlsp.optimize import prompts

SCHEMAS = {
    "gradient": prompts.GRADIENT_SCHEMA,
    "summary": prompts.SUMMARY_SCHEMA,
    "edit": prompts.EDIT_SCHEMA,
    "feedback": prompts.FEEDBACK_SCHEMA,
    "step": prompts.step_schema(["template"]),
}


def strings(schema, path=()):
    if schema.get("type") == "string":
        yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from strings(sub, path + (name,))
    if isinstance(schema.get("items"), dict):
        yield from strings(schema["items"], path + ("*",))


def arrays(schema, path=()):
    if schema.get("type") == "array":
        yield path, schema
        yield from arrays(schema["items"], path + ("*",))
    for name, sub in schema.get("properties", {}).items():
        yield from arrays(sub, path + (name,))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_free_text_field_and_list_is_bounded(name):
    schema = SCHEMAS[name]
    for path, field in strings(schema):
        if "enum" in field:  # a choice, not free text
            continue
        assert 0 < field.get("maxLength", 0) <= 1000, (name, path)
    for path, field in arrays(schema):
        assert field.get("maxItems"), (name, path)


def test_the_bounded_answers_fit_the_optimizer_default_of_512_tokens():
    """Every field at its limit, ~4 characters a token: the whole answer still fits 512 tokens
    (the gradient, the summary, the edits) — a cut-off answer is a failed step."""
    def longest(schema):
        if schema.get("type") == "string":
            return schema.get("maxLength", 0) + 2
        if schema.get("type") == "array":
            return schema["maxItems"] * (longest(schema["items"]) + 1) + 2
        if schema.get("type") == "object":
            return sum(len(json.dumps(k)) + 1 + longest(v) + 1 for k, v in schema["properties"].items()) + 2
        return 20
    for name in ("gradient", "summary", "edit"):
        assert longest(SCHEMAS[name]) / 4 <= 512, name


def test_an_over_long_field_is_an_error_the_repair_round_can_name():
    too_long = {"summary": "s", "critiques": [{"quote": "", "critique": "x" * 301}]}
    error = validation_error(too_long, prompts.SUMMARY_SCHEMA)
    assert error and "critiques/0/critique" in error
    four = {"summary": "s", "critiques": [{"quote": "", "critique": "c"}] * 4}
    assert "critiques" in (validation_error(four, prompts.SUMMARY_SCHEMA) or "")
    assert validation_error({"summary": "s", "critiques": [{"quote": "", "critique": "x" * 300}]}, prompts.SUMMARY_SCHEMA) is None
