"""Tolerant JSON extraction, schema validation and the repair-round messages."""

from __future__ import annotations

import pytest

from promptlsp.engine import structured

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "score": {"type": "number"}},
    "required": ["answer", "score"],
}
EXPECTED = {"answer": "42", "score": 0.5}
GOOD_JSON = '{"answer": "42", "score": 0.5}'


@pytest.mark.parametrize(
    "text",
    [
        GOOD_JSON,
        f"  {GOOD_JSON}\n",
        f"```json\n{GOOD_JSON}\n```",
        f"```\n{GOOD_JSON}\n```",
        f"Sure! Here it is:\n```json\n{GOOD_JSON}\n```\nAnything else?",
        f"The answer is {GOOD_JSON} as requested.",
        f"<answer>{GOOD_JSON}</answer>",
        f"<thinking>it is {{not json}}</thinking>\n<answer>\n{GOOD_JSON}\n</answer>",
        '{"answer": "42", "score": 0.5,}',
        f"```json\n{GOOD_JSON}",  # fence never closed
        'Example: {"answer": 1}. Real answer: {"answer": "42", "score": 0.5}',  # first object invalid
    ],
)
def test_parse_answer_finds_the_json(text: str) -> None:
    data, error = structured.parse_answer(text, SCHEMA)
    assert error is None
    assert data == EXPECTED


@pytest.mark.parametrize("text", ['{"answer": "42", "sco', "", "   ", "no json here at all"])
def test_parse_answer_reports_missing_or_truncated_json(text: str) -> None:
    data, error = structured.parse_answer(text, SCHEMA)
    assert data is None
    assert error


def test_parse_answer_reports_schema_mismatch_with_location() -> None:
    data, error = structured.parse_answer('{"answer": "42", "score": "high"}', SCHEMA)
    assert data is None
    assert "score" in error and "number" in error


def test_extract_json_without_schema() -> None:
    assert structured.extract_json("noise [1, 2, 3] noise") == (True, [1, 2, 3])
    assert structured.extract_json("nothing") == (False, None)


def test_instruction_is_appended_to_the_last_user_message() -> None:
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "question"}]
    out = structured.with_instruction(messages, SCHEMA, "verdict")
    assert out[0] == messages[0]
    assert out[1]["content"].startswith("question\n\n")
    assert "`verdict`" in out[1]["content"] and '"score"' in out[1]["content"]
    assert messages[1]["content"] == "question"  # the caller's list is not modified


def test_instruction_becomes_a_new_message_when_last_is_not_user_text() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "q"}]}]
    out = structured.with_instruction(messages, SCHEMA)
    assert len(out) == 2 and out[1]["role"] == "user"


def test_repair_messages_send_the_error_back() -> None:
    out = structured.repair_messages([{"role": "user", "content": "q"}], "bad", "it was cut off")
    assert out[1] == {"role": "assistant", "content": "bad"}
    assert "it was cut off" in out[2]["content"] and out[2]["role"] == "user"


def test_response_format_names_are_provider_safe() -> None:
    rf = structured.response_format(SCHEMA, "my answer!")
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["name"] == "my_answer_"
    assert rf["json_schema"]["schema"] is SCHEMA


def test_absurdly_deep_json_is_not_an_exception():
    from promptlsp.engine.structured import extract_json, json_values

    text = "[" * 100000
    assert extract_json(text) == (False, None)
    assert list(json_values("x {\"a\": 1} " + text)) == [{"a": 1}]


def test_a_schema_is_checked_and_compiled_once_however_often_it_is_built(monkeypatch) -> None:
    """Every structured call builds its schema afresh; checking it against its metaschema and
    building its validator was ~1.4 ms of CPU per call. Equal schemas share both; the answers'
    verdicts and messages are unchanged, a bad schema is still refused, and a schema that is not
    plain JSON data is still checked (uncached)."""
    import types

    from jsonschema import validators

    built = []
    counting = types.SimpleNamespace(validator_for=lambda schema, *a, **k: built.append(1) or validators.validator_for(schema, *a, **k))
    monkeypatch.setattr(structured, "validators", counting)
    structured._schema_error.cache_clear()
    structured._validator.cache_clear()

    def grade_schema():
        return {"type": "object", "properties": {"score": {"type": "integer", "maximum": 5}},
                "required": ["score"], "additionalProperties": False}

    for _ in range(5):
        assert structured.schema_error(grade_schema()) is None
        assert structured.validation_error({"score": 3}, grade_schema()) is None
        assert structured.validation_error({"score": 9}, grade_schema()) == "at score: 9 is greater than the maximum of 5"
    assert len(built) == 2  # one check, one validator
    assert structured.schema_error({"type": "nonsense"}).startswith("invalid JSON schema:")
    assert structured.schema_error({"type": "object", "enum": ("a", "b")}) is None  # a tuple: not JSON, uncached
    assert structured.validation_error("x", {"type": "string", "maxLength": float("nan")}) is None
