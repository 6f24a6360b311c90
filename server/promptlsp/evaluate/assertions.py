r"""Deterministic checks: one model output against one criterion, scored 1 or 0.

The normative rules are prompts-spec/SPEC.md, "Criteria and assertions" and "How an example is
scored". ``check`` covers every type except ``llm-rubric`` (the judge scores that one).

Each check returns a short ``reason`` that says what was expected and what the output was: the
editor shows it in hovers and the optimizer reads it as feedback. A reason states a fact about
the output ("output contains "x"", "output contains none of: …"), so the same sentence explains a
positive type and its ``not-`` form.

A criterion that cannot be applied (a value of the wrong shape, no value and no ``expected``, an
invalid regex or JSON Schema) scores 0 with a reason naming the problem, for a ``not-`` type as
well: a broken check never passes.

Limits, so that one bad output or pattern cannot stall an evaluation:

* ``regex`` searches only the first ``MAX_REGEX_CHARS`` characters of the output; the reason
  says when the output was cut. Every search (the check's, and a JSON Schema's ``pattern``,
  ``patternProperties``) gives up after ``timed_regex.REGEX_SECONDS``: a catastrophic pattern
  such as ``(a+)+$`` makes the check fail with a reason saying it timed out (``not-regex`` as
  well), and the search releases the GIL, so a check run in a worker thread never freezes the
  event loop (see ``timed_regex`` for why that engine). A pattern whose nested repeat counts
  multiply past ``timed_regex.MAX_UNROLLED`` (``(((a{50}){50}){50}){50}``) is refused as too
  complex before that engine compiles it, since compiling it alone takes seconds and gigabytes.
* ``contains-json`` looks at no more than ``MAX_JSON_VALUES`` JSON values found in the output.
* JSON Schemas never fetch a remote ``$ref``: such a reference makes the check unusable.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import referencing
from jsonschema import Draft7Validator, exceptions as jsonschema_exceptions, validators

from ..document.model import COMPARES_WITH_EXPECTED, Criterion
from ..engine import structured
from ..engine.spec import to_plain
from .timed_regex import RegexTimeout, RegexTooComplex, RegexUnusable, search as timed_search, timed_validator_class

MAX_REGEX_CHARS = 100_000
MAX_JSON_VALUES = 200
MAX_REASON_CHARS = 200
_QUOTE_CHARS = 80  # of one quoted output or value inside a reason
_LISTED_VALUES = 4  # values named in a reason before "and N more"

NEGATABLE_TYPES = frozenset(
    {"equals", "contains", "icontains", "contains-any", "contains-all", "regex", "starts-with", "is-json"}
)
DETERMINISTIC_TYPES = frozenset(
    NEGATABLE_TYPES | {"contains-json", "json-schema"} | {f"not-{t}" for t in NEGATABLE_TYPES}
)


@dataclass(frozen=True)
class Check:
    score: float
    reason: str


class _Unusable(Exception):
    """The criterion cannot be applied; the message says why."""


def needs_expected(criterion: Criterion) -> bool:
    """Whether ``criterion`` compares with the example's ``expected`` (it has no value).

    ``document.model.needs_expected`` answers the same for a raw TOML item."""
    return criterion.kind in COMPARES_WITH_EXPECTED and criterion.value is None


def check(criterion: Criterion, output: str, expected: tuple[str, ...] | None) -> Check:
    """Score ``output`` against a deterministic criterion: 1.0 when it holds, else 0.0.

    ``expected`` is the example's expected answer(s), used when the criterion has no value.
    Never raises for a deterministic type; raises ``ValueError`` for any other type
    (``llm-rubric`` is scored by the judge)."""
    if criterion.type not in DETERMINISTIC_TYPES:
        raise ValueError(f"{criterion.type!r} is not a deterministic check type")
    try:
        holds, reason, *hint = _CHECKS[criterion.kind](criterion, output, expected)
    except _Unusable as problem:
        return Check(0.0, _finish(str(problem)))
    passed = holds != criterion.negated
    if hint and not passed and not criterion.negated:
        reason = f"{reason}; {hint[0]}"
    return Check(1.0 if passed else 0.0, _finish(reason))


# --- reasons ---------------------------------------------------------------------------------

_ESCAPES = {i: f"\\x{i:02x}" for i in [*range(0x20), 0x7F]} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def _finish(reason: str) -> str:
    """One printable line of at most ``MAX_REASON_CHARS`` characters."""
    text = reason.translate(_ESCAPES).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _cut(text: str, limit: int = _QUOTE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _q(text: str, limit: int = _QUOTE_CHARS) -> str:
    return f'"{_cut(text, limit)}"'


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _listed(values: tuple[str, ...]) -> str:
    shown = ", ".join(_q(v, 40) for v in values[:_LISTED_VALUES])
    more = len(values) - _LISTED_VALUES
    return shown + (f" and {more} more" if more > 0 else "")


def _failed(one: str, many: str, values: tuple[str, ...]) -> str:
    """``does not equal "x"`` for one value, ``equals none of: "x", "y"`` for several."""
    return f"{one} {_q(values[0])}" if len(values) == 1 else f"{many}: {_listed(values)}"


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "an empty array" if not value else f"an array holding {_describe_item(value)}"
    if isinstance(value, Mapping):
        return "a table"
    return f"{type(value).__name__} {_q(repr(value), 40)}"


def _describe_item(values: list | tuple) -> str:
    odd = next((v for v in values if not isinstance(v, str)), None)
    return f"{type(odd).__name__} {_q(repr(odd), 40)}" if odd is not None else "strings"


# --- values ----------------------------------------------------------------------------------


def _strings(criterion: Criterion, expected: tuple[str, ...] | None) -> tuple[str, ...]:
    """The strings to compare with: ``value``, else ``expected`` (SPEC "Using `expected`")."""
    value = criterion.value
    if value is None:
        if expected is None:
            raise _Unusable(f"{criterion.type} has no value and the example has no expected")
        if not expected:
            raise _Unusable(f"{criterion.type} has no value and the example's expected is empty")
        value = expected
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _Unusable(
        f"{criterion.type} needs a string or a non-empty array of strings, not {_describe(value)}"
    )


# Draft-07 unless the schema names another draft in `$schema`; no remote `$ref` is ever fetched
# (an empty registry: jsonschema then adds only the bundled metaschemas).
_NO_REMOTE = referencing.Registry()


def _validator(criterion: Criterion, required: bool) -> Any:
    """The schema validator of ``criterion.value`` (None when optional and absent)."""
    value = criterion.value
    if value is None and not required:
        return None
    if not isinstance(value, Mapping):
        shape = "no value" if value is None else _describe(value)
        raise _Unusable(f"{criterion.type} needs a JSON Schema table as its value, not {shape}")
    schema = to_plain(value)  # jsonschema wants dicts and lists, not mapping proxies or tuples
    try:
        cls = validators.validator_for(schema, default=Draft7Validator)
        cls.check_schema(schema)
        return timed_validator_class(cls)(schema, registry=_NO_REMOTE)
    except jsonschema_exceptions.SchemaError as exc:
        raise _Unusable(f"invalid JSON schema: {exc.message}") from None
    except Exception as exc:  # e.g. a `$schema` that is not a string: jsonschema's own failure
        raise _Unusable(f"invalid JSON schema: {_error_text(exc)}") from None


def _mismatch(validator: Any, data: Any) -> str | None:
    """None when ``data`` validates; else why not, as the end of a sentence, with the JSON path:
    ``: 'email' is a required property``, `` at $.tags[0]: 5 is not of type 'string'``."""
    try:
        error = jsonschema_exceptions.best_match(validator.iter_errors(data))
    except RegexTimeout as exc:
        raise _Unusable(f"the JSON schema cannot be applied: {exc}") from None
    except Exception as exc:  # an unresolvable `$ref`, a `pattern` `re` rejects, deep recursion
        raise _Unusable(f"the JSON schema cannot be applied: {_error_text(exc)}") from None
    if error is None:
        return None
    message = _cut(error.message, 120)
    return f" at {error.json_path}: {message}" if error.absolute_path else f": {message}"


# --- the checks ------------------------------------------------------------------------------
# Each returns (whether the positive form holds, a reason stating the fact), and may add a hint
# that ends the reason when the positive form fails ("the output must be exactly the answer").

Result = tuple[bool, str] | tuple[bool, str, str]


def _equals(criterion: Criterion, output: str, expected: tuple[str, ...] | None) -> Result:
    values = _strings(criterion, expected)
    got = output.strip()
    for value in values:
        if got == value.strip():
            return True, f"output equals {_q(value.strip())}"
    if any(got.casefold() == v.strip().casefold() for v in values):
        return False, f"output {_q(got)} {_failed('does not equal', 'equals none of', values)} (only the case differs)"
    inside = _inside(got, values)
    if inside is not None:
        return False, inside, "the output must be exactly the answer"
    if len(values) > 1:
        return False, f"output {_q(got, 40)} is none of the listed answers: {_listed(values)}"
    return False, f"output {_q(got)} does not equal {_q(values[0])}"


def _inside(got: str, values: tuple[str, ...]) -> str | None:
    """When an expected answer appears inside the (longer) output: say so."""
    folded = got.casefold()
    for value in (v.strip() for v in values):
        if value and value.casefold() in folded:
            words = len(got.split())
            size = f" ({words} words)" if words > 1 else ""
            case = " (in another case)" if value not in got else ""
            return f"output {_q(got, 50)}{size} has the expected answer {_q(value, 40)} inside it{case}"
    return None


def _contains(criterion: Criterion, output: str, expected: tuple[str, ...] | None) -> Result:
    values = _strings(criterion, expected)
    found = next((v for v in values if v in output), None)
    if found is not None:
        return True, f"output contains {_q(found)}"
    folded = output.casefold()
    case = " (it does in another case)" if any(v.casefold() in folded for v in values) else ""
    if criterion.kind == "contains-any" and len(values) > 1:
        return False, f"output {_q(output.strip(), 40)} contains none of the listed answers: {_listed(values)}{case}"
    return False, f"output {_failed('does not contain', 'contains none of', values)}{case}"


def _icontains(criterion: Criterion, output: str, expected: tuple[str, ...] | None) -> Result:
    values = _strings(criterion, expected)
    folded = output.casefold()
    found = next((v for v in values if v.casefold() in folded), None)
    if found is not None:
        return True, f"output contains {_q(found)}, ignoring case"
    return False, f"output {_failed('does not contain', 'contains none of', values)}, ignoring case"


def _contains_all(criterion: Criterion, output: str, expected: tuple[str, ...] | None) -> Result:
    values = _strings(criterion, expected)
    missing = tuple(v for v in values if v not in output)
    if not missing:
        return True, f"output contains {'all of: ' if len(values) > 1 else ''}{_listed(values)}"
    return False, f"output is missing {_listed(missing)} ({len(missing)} of {len(values)})"


def _starts_with(criterion: Criterion, output: str, expected: tuple[str, ...] | None) -> Result:
    values = _strings(criterion, expected)
    got = output.lstrip()
    found = next((v for v in values if got.startswith(v)), None)
    if found is not None:
        return True, f"output starts with {_q(found)}"
    head = got[: max(len(v) for v in values) + 20]
    case = " (only the case differs)" if any(got.casefold().startswith(v.casefold()) for v in values) else ""
    return False, f"output {_q(head, 60)} {_failed('does not start with', 'starts with none of', values)}{case}"


def _regex(criterion: Criterion, output: str, expected: tuple[str, ...] | None) -> Result:
    pattern = criterion.value
    if not isinstance(pattern, str):
        shape = "no value" if pattern is None else _describe(pattern)
        raise _Unusable(f"{criterion.type} needs a regular expression string, not {shape}")
    try:
        re.compile(pattern)  # the SPEC's flavour decides what is valid, and the error message
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise _Unusable(f"invalid regex {_q(pattern, 60)}: {_error_text(exc)}") from None
    text = output[:MAX_REGEX_CHARS]
    try:
        match = timed_search(pattern, text, f"regex {_q(pattern, 60)}")
    except RegexTooComplex as exc:
        raise _Unusable(str(exc)) from None
    except RegexUnusable as exc:
        raise _Unusable(f"regex {_q(pattern, 60)} cannot be run with a time limit: {exc}") from None
    except RegexTimeout as exc:
        raise _Unusable(f"{exc} (nested repetition such as (a+)+ backtracks without end)") from None
    if match is not None:
        return True, f"output matches the regex {_q(pattern, 60)} at {_q(match.group(0), 60)}"
    cut = f" (only its first {MAX_REGEX_CHARS} characters were searched)" if len(output) > len(text) else ""
    return False, f"output does not match the regex {_q(pattern, 60)}{cut}"


def _not_a_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _whole_json(criterion: Criterion, output: str, required: bool) -> Result:
    validator = _validator(criterion, required)  # a broken schema is reported whatever the output
    text = output.strip()
    if not text:
        return False, "output is empty, not JSON"
    try:
        data = json.loads(text, parse_constant=_not_a_constant)
    except json.JSONDecodeError as exc:
        fence = " (it is wrapped in a code fence)" if text.startswith("```") else ""
        return False, f"output is not JSON: {exc.msg} at char {exc.pos}{fence}"
    except (ValueError, RecursionError) as exc:  # NaN, a 5000-digit number, nesting too deep
        return False, f"output is not JSON: {_error_text(exc)}"
    if validator is None:
        return True, "output is JSON"
    problem = _mismatch(validator, data)
    if problem is None:
        return True, "output is JSON matching the schema"
    return False, f"JSON does not match the schema{problem}"


def _is_json(criterion: Criterion, output: str, expected: tuple[str, ...] | None) -> Result:
    return _whole_json(criterion, output, required=False)


def _json_schema(criterion: Criterion, output: str, expected: tuple[str, ...] | None) -> Result:
    return _whole_json(criterion, output, required=True)


def _standard_text(data: Any) -> str | None:
    """``data`` as JSON text; None when it is not standard JSON (Python also reads NaN, Infinity)."""
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return None


def _contains_json(criterion: Criterion, output: str, expected: tuple[str, ...] | None) -> Result:
    validator = _validator(criterion, required=False)
    first_problem = None
    found = False
    try:
        for data in itertools.islice(structured.json_values(output, "json"), MAX_JSON_VALUES):
            text = _standard_text(data) if isinstance(data, (dict, list)) else None
            if text is None:
                continue
            found = True
            if validator is None:
                return True, f"output contains JSON: {_cut(text, 60)}"
            problem = _mismatch(validator, data)
            if problem is None:
                return True, "output contains JSON matching the schema"
            first_problem = first_problem or problem
    except RecursionError:
        return False, "output holds JSON nested too deeply to read"
    if not found:
        return False, "output contains no JSON object or array"
    return False, f"no JSON in the output matches the schema (the first{first_problem})"


_CHECKS: dict[str, Callable[[Criterion, str, tuple[str, ...] | None], Result]] = {
    "equals": _equals,
    "contains": _contains,
    "icontains": _icontains,
    "contains-any": _contains,
    "contains-all": _contains_all,
    "regex": _regex,
    "starts-with": _starts_with,
    "is-json": _is_json,
    "contains-json": _contains_json,
    "json-schema": _json_schema,
}
