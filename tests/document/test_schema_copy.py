"""The package ships a byte-identical copy of prompts-spec/prompt.schema.json."""

from pathlib import Path

import jsonschema

from promptlsp.document import schema

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_schema_is_the_spec_schema():
    spec = (ROOT / "prompts-spec" / "prompt.schema.json").read_bytes()
    packaged = (ROOT / "server" / "promptlsp" / "document" / "prompt.schema.json").read_bytes()
    assert packaged == spec, "run: cp prompts-spec/prompt.schema.json server/promptlsp/document/"


# Sub-schemas that only constrain (if/then rules, alternatives) document nothing themselves.
CONSTRAINTS = {"if", "then", "else", "not", "allOf", "anyOf", "oneOf"}


def test_schema_is_valid_draft7_with_a_description_on_every_property():
    document = schema.schema()
    jsonschema.Draft7Validator.check_schema(document)
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict) and "description" not in sub and "$ref" not in sub:
                    missing.append(f"{where}.{key}")
            for key, sub in node.items():
                if key not in CONSTRAINTS:
                    walk(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}[{i}]")

    walk(document, "$")
    assert missing == []


def test_assertion_types_come_from_the_schema():
    types = schema.assertion_types()
    assert {"equals", "llm-rubric", "json-schema", "not-contains"} <= set(types)
