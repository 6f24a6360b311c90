"""JSON Schema validation with errors placed on the offending key or value.

The schema (prompts-spec/prompt.schema.json, shipped inside the package as a byte-identical
copy — a test keeps the two equal) is the single description of the format's shape. This
module turns jsonschema's errors into diagnostics: the unknown key itself, the bad value
itself, messages that name the allowed values, and a did-you-mean for typos.
"""

from __future__ import annotations

import functools
import itertools
import json
from importlib import resources
from typing import Any, Callable, Iterable, Mapping

import jsonschema
from jsonschema.exceptions import ValidationError

from .diagnostics import Diagnostic, did_you_mean
from .source import Span

SpanFor = Callable[[tuple, str], Span]  # (path, "key" | "value") -> span

_TYPE_NAMES = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "array": "an array", "object": "a table", "null": "nothing",
}
# Values of these keys are never echoed back: a misplaced secret must not reach a log.
_SECRET_KEYS = frozenset({"api_key_env"})


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(resources.files("promptlsp.document").joinpath("prompt.schema.json").read_text("utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema())


def example_validator() -> jsonschema.Draft7Validator:
    """A validator for one ``[[examples]]`` item (used for dataset rows)."""
    root = _validator()
    return root.evolve(schema={"definitions": schema().get("definitions", {}), **_example_item_schema()})


@functools.lru_cache(maxsize=1)
def _example_item_schema() -> dict[str, Any]:
    items = schema()["properties"]["examples"]["items"]
    ref = items.get("$ref")
    if ref:
        node: Any = schema()
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node
    return items


def assertion_types() -> list[str]:
    """The assertion types the schema allows, in its order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict) and isinstance(props.get("type"), dict) and "enum" in props["type"]:
                if "llm-rubric" in props["type"]["enum"]:
                    found.extend(t for t in props["type"]["enum"] if t not in found)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema())
    return found


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _where(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def _expected_types(schema_node: Any) -> list[str]:
    kinds = schema_node.get("type") if isinstance(schema_node, dict) else None
    if isinstance(kinds, str):
        return [kinds]
    if isinstance(kinds, list):
        return list(kinds)
    return []


def _describe_any_of(branches: Iterable[Any]) -> str:
    names: list[str] = []
    for branch in branches:
        for kind in _expected_types(branch):
            if kind == "array" and isinstance(branch.get("items"), dict) and branch["items"].get("type") == "string":
                name = "an array of strings"
            else:
                name = _TYPE_NAMES.get(kind, kind)
            if name not in names:
                names.append(name)
    return " or ".join(names)


def _convert(path: tuple, error: ValidationError, span_for: SpanFor) -> list[Diagnostic]:
    key = path[-1] if path else None
    where = _where(path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = list((error.schema.get("properties") or {}).keys())
        extra = list(itertools.islice((k for k in error.instance if k not in allowed), MAX_DIAGNOSTICS + 1))
        return [
            Diagnostic.of(
                "schema",
                f"unknown key '{k}' in {where}{did_you_mean(k, allowed)}; allowed keys: {', '.join(allowed)}",
                span_for(path + (k,), "key"),
            )
            for k in extra
        ]
    if kind == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [
            Diagnostic.of("schema", f"missing required key '{k}' in {where}", span_for(path, "key"))
            for k in missing
        ]
    if path == ("version",):
        return [Diagnostic.of("version-unsupported", f"unsupported format version {error.instance!r}: this promptlsp reads version 1", span_for(path, "value"))]
    if kind == "enum":
        allowed = [str(v) for v in error.validator_value]
        code = "assertion-unknown" if key == "type" and "llm-rubric" in allowed else "schema"
        noun = "assertion type" if code == "assertion-unknown" else "value"
        return [
            Diagnostic.of(
                code,
                f"unknown {noun} {error.instance!r} for {where}{did_you_mean(error.instance, allowed)}; "
                f"allowed: {', '.join(allowed)}",
                span_for(path, "value"),
            )
        ]
    if kind == "type":
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in _expected_types(error.schema))
        return [Diagnostic.of("schema", f"{where} must be {wanted}, not {_type_of(error.instance)}", span_for(path, "value"))]
    if kind in ("anyOf", "oneOf"):
        wanted = _describe_any_of(error.validator_value)
        message = f"{where} must be {wanted}, not {_type_of(error.instance)}" if wanted else f"{where}: {error.message}"
        return [Diagnostic.of("schema", message, span_for(path, "value"))]
    if key in _SECRET_KEYS:
        return [
            Diagnostic.of(
                "schema",
                f"{where} must be the NAME of an environment variable (like OPENAI_API_KEY), never the key itself",
                span_for(path, "value"),
            )
        ]
    if kind == "const":
        return [Diagnostic.of("schema", f"{where} must be {error.validator_value!r}", span_for(path, "value"))]
    message = error.message
    if len(message) > 300:
        message = message[:300] + "…"
    return [Diagnostic.of("schema", f"{where}: {message}", span_for(path, "value"))]


MAX_DIAGNOSTICS = 200  # per file: beyond that, one more says how the list was cut


# A schema error and the path of its value in the validated document.
Located = tuple[tuple, ValidationError]


def errors(data: Any, validator: jsonschema.Draft7Validator | None = None, limit: int = MAX_DIAGNOSTICS + 1) -> list[Located]:
    """The first ``limit`` errors of ``data`` in jsonschema's order, each with its path.

    Read lazily: 300,000 wrong array items cost 300,000 error objects (seconds, and a
    gigabyte) otherwise."""
    found = itertools.islice((validator or _validator()).iter_errors(data), limit)
    return [(tuple(error.absolute_path), error) for error in found]


def example_errors(item: Any, limit: int = MAX_DIAGNOSTICS + 1) -> list[Located]:
    """The errors of one ``[[examples]]`` item, validated on its own (paths relative to it):
    the same errors, in the same order, that validating the whole file reports under it."""
    return errors(item, _example_item_validator(), limit)


@functools.lru_cache(maxsize=1)
def _example_item_validator() -> jsonschema.Draft7Validator:
    return example_validator()


def validate(data: Mapping[str, Any], span_for: SpanFor, validator: jsonschema.Draft7Validator | None = None) -> list[Diagnostic]:
    """Schema diagnostics for plain data, placed by ``span_for``; at most one per location.
    Only the first :data:`MAX_DIAGNOSTICS` errors are read (see :func:`errors`)."""
    return diagnostics(errors(data, validator), span_for)


def diagnostics(found: list[Located], span_for: SpanFor) -> list[Diagnostic]:
    """Diagnostics for errors read by :func:`errors` (or assembled from the errors of a
    document's parts: what counts is the list, sorted here by path), at most one per location
    and at most :data:`MAX_DIAGNOSTICS` (plus one saying the list was cut)."""
    out: list[Diagnostic] = []
    seen: set[tuple[str, Span]] = set()
    found = sorted(found, key=lambda located: list(map(str, located[0])))
    for path, error in found:
        for diagnostic in _convert(path, error, span_for):
            mark = (diagnostic.message, diagnostic.span)
            if mark not in seen:
                seen.add(mark)
                out.append(diagnostic)
            if len(out) > MAX_DIAGNOSTICS:
                cut = out[MAX_DIAGNOSTICS]
                out[MAX_DIAGNOSTICS] = Diagnostic.of(
                    "schema", f"more than {MAX_DIAGNOSTICS} problems with the format; the first {MAX_DIAGNOSTICS} are shown ({cut.message})", cut.span
                )
                return out
    if len(found) > MAX_DIAGNOSTICS and out:  # the reading stopped, though duplicates left fewer to show
        last = out[-1]
        out.append(Diagnostic.of("schema", f"more than {MAX_DIAGNOSTICS} problems with the format; "
                                           f"only the first are shown", last.span))
    return out
