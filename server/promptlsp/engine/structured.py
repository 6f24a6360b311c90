"""Structured (JSON-schema-shaped) answers: the prompts that ask for them, and their parser.

Kept together on purpose (as TextGrad keeps its optimizer prompts beside their parser): whoever
changes what the model is told must see what the parser accepts, and the other way round.

Flow (driven by ``Session.complete``): the instruction is appended to the request (also when the
provider enforces the schema through ``response_format``: small models answer better when told),
the answer is parsed tolerantly and validated; on failure one repair round sends the error back.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from typing import Any, Iterator

from jsonschema import exceptions as jsonschema_exceptions
from jsonschema import validators

JSON_INSTRUCTION = (
    "Answer with a single JSON object named `{name}` that matches this JSON schema, "
    "and nothing else (no prose, no code fence):\n{schema}"
)
REPAIR_INSTRUCTION = (
    "Your previous answer could not be used: {error}\n"
    "Reply again with only the corrected JSON object that matches the schema, and nothing else."
)

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\n?(.*?)```", re.DOTALL)
_TAG = re.compile(r"<(?P<tag>[A-Za-z_][\w\-]*)>(?P<body>.*?)</(?P=tag)>", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_MAX_ERROR_CHARS = 500
_MAX_STARTS = 200  # object starts tried per candidate: bounds the work on huge answers


def schema_text(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False)


def instruction(schema: dict, name: str = "answer") -> str:
    """The text asking for a schema-shaped JSON answer."""
    return JSON_INSTRUCTION.format(name=name, schema=schema_text(schema))


def with_instruction(messages: list[dict], schema: dict, name: str = "answer") -> list[dict]:
    """A copy of ``messages`` whose last user message (string content) ends with the
    instruction; a new user message is added when there is none to extend."""
    out = [dict(m) for m in messages]
    text = instruction(schema, name)
    if out and out[-1].get("role") == "user" and isinstance(out[-1].get("content"), str):
        out[-1]["content"] = out[-1]["content"].rstrip() + "\n\n" + text
    else:
        out.append({"role": "user", "content": text})
    return out


def repair_messages(messages: list[dict], bad_answer: str, error: str) -> list[dict]:
    """The conversation for the single repair round: the bad answer and what was wrong."""
    return [
        *messages,
        {"role": "assistant", "content": bad_answer},
        {"role": "user", "content": REPAIR_INSTRUCTION.format(error=error)},
    ]


def response_format(schema: dict, name: str = "answer") -> dict:
    """The OpenAI-style ``response_format`` for providers that enforce schemas."""
    safe_name = re.sub(r"[^A-Za-z0-9_\-]", "_", name)[:64] or "answer"
    return {"type": "json_schema", "json_schema": {"name": safe_name, "schema": schema}}


def _candidates(text: str, name: str) -> list[str]:
    """Substrings that may hold the JSON answer, most specific first."""
    stripped = text.strip()
    found = [stripped]
    tags = [(m.group("tag").lower(), m.group("body")) for m in _TAG.finditer(text)]
    found += [body for tag, body in tags if tag == name.lower()] + [body for _, body in tags]
    found += [m.group(1) for m in _FENCE.finditer(text)]
    unclosed = re.search(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*)$", text, re.DOTALL)  # fence never closed
    if unclosed:
        found.append(unclosed.group(1))
    return found


def embedded_values(text: str, openers: str = "[{") -> Iterator[tuple[Any, int, int]]:
    """(value, start, end) of each JSON object/array of ``text`` that starts at one of its first
    ``_MAX_STARTS`` ``openers`` (text around them ignored; absurdly deep nesting skipped)."""
    decoder = json.JSONDecoder()
    for match in itertools.islice(re.finditer(f"[{re.escape(openers)}]", text), _MAX_STARTS):
        try:
            value, end = decoder.raw_decode(text, match.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(value, (dict, list)):
            yield value, match.start(), end


def _values(candidate: str) -> Iterator[Any]:
    """Every JSON value in ``candidate``: the whole text, else each object/array starting at a
    ``{`` or ``[`` (:func:`embedded_values`), also with trailing commas removed."""
    for variant in dict.fromkeys((candidate.strip(), _TRAILING_COMMA.sub(r"\1", candidate).strip())):
        try:
            yield json.loads(variant)
            continue
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            pass
        for value, _, _ in embedded_values(variant):
            yield value


def json_values(text: str, name: str = "answer") -> Iterator[Any]:
    """Every JSON value found in a model's answer, most likely first (see :func:`extract_json`)."""
    for candidate in _candidates(text, name):
        yield from _values(candidate)


def extract_json(text: str, name: str = "answer") -> tuple[bool, Any]:
    """Find a JSON value in a model's answer: the whole text, ``<name>``-style tags, code fences
    (even an unclosed one), or the first object/array amid prose. (False, None) if none."""
    for value in json_values(text, name):
        return True, value
    return False, None


def schema_error(schema: dict) -> str | None:
    """None for a usable JSON schema; else why not (checked before any call is made)."""
    key = _key(schema)
    return _schema_error(key) if key is not None else _check(schema)


def validation_error(data: Any, schema: dict) -> str | None:
    """None if ``data`` matches ``schema``; else a short, model-readable reason."""
    key = _key(schema)
    validator = _validator(key) if key is not None else _compile(schema)
    error = jsonschema_exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"at {where}: {error.message}"[:_MAX_ERROR_CHARS]


# A run asks for the same few schemas (grades, gradients, edits) hundreds of times, each built
# afresh. Checking a schema against its metaschema and building its validator took ~1.4 ms of
# CPU per structured call — half of what litellm and the openai SDK spend on the request
# (``bench/optimize.py``) — so both are done once per distinct schema.
def _key(schema: dict) -> str | None:
    """The schema as JSON, its key order kept (the order decides which error is reported first);
    None if it is not plain JSON data (then it is checked uncached)."""
    try:
        return json.dumps(schema, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=128)
def _schema_error(key: str) -> str | None:
    return _check(json.loads(key))


def _check(schema: Any) -> str | None:
    try:
        validators.validator_for(schema).check_schema(schema)
    except jsonschema_exceptions.SchemaError as exc:
        return f"invalid JSON schema: {exc.message}"[:_MAX_ERROR_CHARS]
    return None


@functools.lru_cache(maxsize=128)
def _validator(key: str) -> Any:
    return _compile(json.loads(key))


def _compile(schema: Any) -> Any:
    return validators.validator_for(schema)(schema)


def parse_answer(text: str | None, schema: dict, name: str = "answer") -> tuple[Any, str | None]:
    """(data, None) for a usable answer, (None, error) otherwise. Every JSON value found is
    tried in order and the first that validates wins, so prose holding an example object
    before the real answer still parses."""
    if not text or not text.strip():
        return None, "the answer was empty"
    first_error: str | None = None
    for value in json_values(text, name):
        error = validation_error(value, schema)
        if error is None:
            return value, None
        first_error = first_error or f"the JSON does not match the schema {error}"
    if first_error:
        return None, first_error
    snippet = text.strip()[-120:]
    return None, f"no complete JSON value found (the answer may be cut off; it ends with: {snippet!r})"
