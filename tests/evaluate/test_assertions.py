"""Deterministic checks (SPEC "Criteria and assertions", "How an example is scored")."""

from __future__ import annotations

import json
import re
import textwrap
import urllib.request
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlsp.document import analyze
from promptlsp.document.model import Criterion
from promptlsp.document.schema import schema
from promptlsp.evaluate import assertions
from promptlsp.evaluate.assertions import DETERMINISTIC_TYPES, MAX_REASON_CHARS, MAX_REGEX_CHARS, Check, check

_UNSET = object()


def run(kind: str, output: str, value=_UNSET, expected: tuple[str, ...] | None = None) -> Check:
    criterion = Criterion(type=kind, name=kind) if value is _UNSET else Criterion(type=kind, name=kind, value=value)
    return check(criterion, output, expected)


def _negated(kind: str) -> str:
    return f"not-{kind}"


EMAIL_SCHEMA = {  # the SPEC's json-schema example, as tomlkit unwraps it
    "type": "object",
    "required": ["name", "email"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "email": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$"},
        "address": {
            "type": "object",
            "properties": {"zip": {"type": "string"}},
        },
    },
}

# (type, value, expected, output, whether the positive type holds)
CASES = [
    # equals: trims both sides, case matters, an array means any of them
    ("equals", "positive", None, "positive", True),
    ("equals", "  positive\t", None, "\n positive  \n", True),
    ("equals", "positive", None, "Positive", False),
    ("equals", "positive", None, "positive.", False),
    ("equals", "posi tive", None, "positive", False),
    ("equals", ["negative", "positive"], None, "positive", True),
    ("equals", ["negative", "neutral"], None, "positive", False),
    ("equals", _UNSET, ("positive",), " positive ", True),
    ("equals", _UNSET, ("positive",), "negative", False),
    ("equals", _UNSET, ("neg", "pos"), "pos", True),
    ("equals", "pos", ("pos",), "neg", False),  # value wins over expected
    ("equals", "neg", ("pos",), "neg", True),
    # contains: case-sensitive, any of an array
    ("contains", "1 hour", None, "It takes 1 hour.", True),
    ("contains", "1 hour", None, "It takes 1 Hour.", False),
    ("contains", ["1 hour", "one hour"], None, "about one hour", True),
    ("contains", ["1 hour", "one hour"], None, "two hours", False),
    ("contains", _UNSET, ("Paris",), "The capital is Paris.", True),
    ("contains", _UNSET, ("Paris", "Lyon"), "Lyon, surely", True),
    ("contains", _UNSET, ("Paris", "Lyon"), "paris", False),
    # icontains: as contains, ignoring case (Unicode case folding)
    ("icontains", "PARIS", None, "the capital is paris", True),
    ("icontains", "STRASSE", None, "an der Straße", True),
    ("icontains", "paris", None, "London", False),
    ("icontains", ["rome", "PARIS"], None, "Paris!", True),
    ("icontains", _UNSET, ("PaRiS",), "paris", True),
    ("icontains", _UNSET, ("rome", "milan"), "Paris", False),
    # contains-any / contains-all: a single expected string is a one-item list
    ("contains-any", ["a", "b"], None, "xbx", True),
    ("contains-any", ["a", "b"], None, "xyz", False),
    ("contains-any", ["B"], None, "b", False),
    ("contains-any", _UNSET, ("kiwi",), "a kiwi", True),
    ("contains-any", _UNSET, ("kiwi", "fig"), "a fig", True),
    ("contains-any", _UNSET, ("kiwi", "fig"), "a date", False),
    ("contains-all", ["a", "b"], None, "ab", True),
    ("contains-all", ["a", "b"], None, "a", False),
    ("contains-all", ["A"], None, "a", False),
    ("contains-all", _UNSET, ("kiwi",), "kiwi", True),
    ("contains-all", _UNSET, ("kiwi", "fig"), "kiwi and fig", True),
    ("contains-all", _UNSET, ("kiwi", "fig"), "kiwi", False),
    # regex: re.search, inline flags
    ("regex", r"\d{4}-\d{2}-\d{2}", None, "due 2025-04-03.", True),
    ("regex", r"^\d+$", None, "answer: 42", False),
    ("regex", r"^\d+$", None, "42", True),
    ("regex", r"(?i)^yes\b", None, "YES, indeed", True),
    ("regex", r"^yes\b", None, "YES, indeed", False),
    ("regex", r"(?m)^B$", None, "A\nB\nC", True),
    ("regex", r"^B$", None, "A\nB\nC", False),
    # starts-with: ignores the output's leading whitespace only; case matters
    ("starts-with", "Yes", None, "  \n Yes, sure", True),
    ("starts-with", "Yes", None, "yes, sure", False),
    ("starts-with", "Yes.", None, "Yes, sure", False),
    ("starts-with", "Yes ", None, " Yes ", True),  # the output's trailing whitespace is kept
    ("starts-with", "Yes", None, "Well, Yes", False),
    ("starts-with", ["No", "Yes"], None, "Yes", True),
    ("starts-with", _UNSET, ("Dear",), "\tDear Ms. Sato", True),
    ("starts-with", _UNSET, ("Dear", "Hello"), "Hi", False),
    # is-json: the whole trimmed output; a table value is a schema
    ("is-json", _UNSET, None, '  {"a": 1}\n', True),
    ("is-json", _UNSET, None, "[1, 2]", True),
    ("is-json", _UNSET, None, '"a string"', True),
    ("is-json", _UNSET, None, "", False),
    ("is-json", _UNSET, None, "hello", False),
    ("is-json", _UNSET, None, 'Here: {"a": 1}', False),
    ("is-json", _UNSET, None, '```json\n{"a": 1}\n```', False),
    ("is-json", _UNSET, None, '{"a": 1,}', False),
    ("is-json", _UNSET, None, "NaN", False),
    ("is-json", _UNSET, ("ignored",), '{"a": 1}', True),  # expected plays no part
    ("is-json", {"type": "object", "required": ["a"]}, None, '{"a": 1}', True),
    ("is-json", {"type": "object", "required": ["a"]}, None, '{"b": 1}', False),
    # contains-json: an object or array anywhere; with a schema, one of them validates
    ("contains-json", _UNSET, None, 'Sure!\n```json\n{"a": 1}\n```\nAnything else?', True),
    ("contains-json", _UNSET, None, 'The result is {"a": 1} as asked.', True),
    ("contains-json", _UNSET, None, "values: [1, 2, 3].", True),
    ("contains-json", _UNSET, None, "no JSON here", False),
    ("contains-json", _UNSET, None, "42", False),  # a scalar is no object or array
    ("contains-json", _UNSET, None, '"just a string"', False),
    ("contains-json", EMAIL_SCHEMA, None, 'Example: {"name": "x"}. Real: {"name": "Kenji", "email": "k@t.jp"}', True),
    ("contains-json", EMAIL_SCHEMA, None, '```json\n{"name": "Kenji", "email": "k@t.jp"}\n```', True),
    ("contains-json", EMAIL_SCHEMA, None, '{"name": "Kenji", "email": "not an email"}', False),
    ("contains-json", EMAIL_SCHEMA, None, "no JSON", False),
    # json-schema: the whole trimmed output validates (draft-07 unless `$schema` says otherwise)
    ("json-schema", EMAIL_SCHEMA, None, ' {"name": "Kenji", "email": "k@t.jp"}\n', True),
    ("json-schema", EMAIL_SCHEMA, None, '{"name": "Kenji"}', False),
    ("json-schema", EMAIL_SCHEMA, None, '{"name": "", "email": "k@t.jp"}', False),
    ("json-schema", EMAIL_SCHEMA, None, '{"name": "K", "email": "k@t.jp", "address": {"zip": 1}}', False),
    ("json-schema", EMAIL_SCHEMA, None, '```json\n{"name": "Kenji", "email": "k@t.jp"}\n```', False),
    ("json-schema", {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}, None, '["a", 1]', True),
    ("json-schema", {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}, None, '["a", "b"]', False),
]


def _case_id(case) -> str:
    kind, value, expected, output, holds = case
    source = "expected" if value is _UNSET else "value"
    return f"{kind}-{source}-{output[:15]!r}-{holds}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_positive_type(case) -> None:
    kind, value, expected, output, holds = case
    result = run(kind, output, value, expected)
    assert result.score == (1.0 if holds else 0.0), result.reason
    assert result.reason


@pytest.mark.parametrize(
    "case", [c for c in CASES if f"not-{c[0]}" in DETERMINISTIC_TYPES], ids=_case_id
)
def test_negation_passes_exactly_when_the_positive_fails(case) -> None:
    kind, value, expected, output, holds = case
    result = run(_negated(kind), output, value, expected)
    assert result.score == (0.0 if holds else 1.0), result.reason


def test_every_type_is_covered_by_the_cases() -> None:
    kinds = {c[0] for c in CASES}
    assert {t for t in DETERMINISTIC_TYPES if not t.startswith("not-")} == kinds
    for kind in kinds:
        assert {c[4] for c in CASES if c[0] == kind} == {True, False}, kind


def test_deterministic_types_are_the_schema_enum_without_llm_rubric() -> None:
    enum = set(schema()["definitions"]["assertion"]["properties"]["type"]["enum"])
    assert DETERMINISTIC_TYPES == enum - {"llm-rubric"}


@pytest.mark.parametrize("kind", ["llm-rubric", "not-contains-json", "not-json-schema", "containz", ""])
def test_other_types_are_a_programming_error(kind: str) -> None:
    with pytest.raises(ValueError, match="deterministic"):
        check(Criterion(type=kind, name=kind, rubric="r"), "output", ("expected",))


def test_spec_examples_of_negation() -> None:
    assert run("not-contains", "dog", ["cat", "bird"]).score == 1.0
    assert run("not-contains", "a cat", ["cat", "bird"]).score == 0.0
    assert run("not-contains-all", "cat", ["cat", "bird"]).score == 1.0
    assert run("not-contains-all", "cat bird", ["cat", "bird"]).score == 0.0
    assert run("not-contains-any", "dog", _UNSET, ("cat", "bird")).score == 1.0


def test_needs_expected() -> None:
    assert assertions.needs_expected(Criterion(type="not-starts-with", name="s"))
    assert assertions.needs_expected(Criterion(type="contains-all", name="s"))
    assert not assertions.needs_expected(Criterion(type="equals", name="s", value="x"))
    assert not assertions.needs_expected(Criterion(type="is-json", name="s"))
    assert not assertions.needs_expected(Criterion(type="regex", name="s"))


# --- reasons ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "expected", "output", "reason"),
    [
        ("equals", "positive", None, "Positive.", 'output "Positive." has the expected answer "positive" inside it '
         '(in another case); the output must be exactly the answer'),
        ("equals", "positive", None, "neutral", 'output "neutral" does not equal "positive"'),
        ("not-equals", "positive", None, "so positive", 'output "so positive" (2 words) has the expected answer '
         '"positive" inside it'),
        ("equals", "positive", None, " Positive ", 'output "Positive" does not equal "positive" (only the case differs)'),
        ("equals", _UNSET, ("a", "b"), "c", 'output "c" is none of the listed answers: "a", "b"'),
        ("not-equals", _UNSET, ("a", "b"), "c", 'output "c" is none of the listed answers: "a", "b"'),
        ("not-equals", _UNSET, ("a", "b"), " b", 'output equals "b"'),
        ("contains", ["1 hour", "one hour"], None, "2 hours", 'output contains none of: "1 hour", "one hour"'),
        ("contains", "Paris", None, "PARIS", 'output does not contain "Paris" (it does in another case)'),
        ("not-contains", "2025-04-03", None, "on 2025-04-03", 'output contains "2025-04-03"'),
        ("icontains", "rome", None, "Paris", 'output does not contain "rome", ignoring case'),
        ("contains-all", ["a", "b", "c"], None, "a", 'output is missing "b", "c" (2 of 3)'),
        ("contains-all", ["a", "b"], None, "ab", 'output contains all of: "a", "b"'),
        ("starts-with", "Dear", None, "  Hello there", 'output "Hello there" does not start with "Dear"'),
        ("regex", r"^\d+$", None, "x", r'output does not match the regex "^\d+$"'),
        ("not-regex", r"\d+", None, "abc 123", r'output matches the regex "\d+" at "123"'),
        ("is-json", _UNSET, None, "hello", "output is not JSON: Expecting value at char 0"),
        ("is-json", _UNSET, None, "   ", "output is empty, not JSON"),
        ("is-json", _UNSET, None, '```json\n{}\n```', "output is not JSON: Expecting value at char 0 (it is wrapped in a code fence)"),
        ("json-schema", EMAIL_SCHEMA, None, '{"name": "K"}', "JSON does not match the schema: 'email' is a required property"),
        (
            "json-schema", EMAIL_SCHEMA, None, '{"name": "K", "email": "k@t.jp", "address": {"zip": 1}}',
            "JSON does not match the schema at $.address.zip: 1 is not of type 'string'",
        ),
        ("contains-json", _UNSET, None, "none", "output contains no JSON object or array"),
        ("contains-json", _UNSET, None, 'so: {"a": [1]}', 'output contains JSON: {"a": [1]}'),
        (
            "contains-json", EMAIL_SCHEMA, None, '{"name": "K"}',
            "no JSON in the output matches the schema (the first: 'email' is a required property)",
        ),
        ("equals", _UNSET, None, "x", "equals has no value and the example has no expected"),
    ],
)
def test_reason_says_what_was_expected_and_what_the_output_was(kind, value, expected, output, reason) -> None:
    assert run(kind, output, value, expected).reason == reason


def test_reasons_are_short_single_lines() -> None:
    huge = "line one\nline two\x00\udcff " + "x" * 100_000
    values = [f"needle number {i} " * 20 for i in range(30)]
    for kind in ("equals", "contains", "contains-all", "starts-with", "not-icontains"):
        reason = run(kind, huge, values).reason
        assert len(reason) <= MAX_REASON_CHARS, kind
        assert "\n" not in reason and "\x00" not in reason
        reason.encode("utf-8")  # no lone surrogate left
    reason = run("equals", huge, "short").reason
    assert reason.startswith(r'output "line one\nline two\x00\udcff xxx')
    assert reason.endswith('…" does not equal "short"')
    many = run("contains", "z", [f"v{i}" for i in range(9)]).reason
    assert many == 'output contains none of: "v0", "v1", "v2", "v3" and 5 more'


# --- criteria that cannot be applied ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "words"),
    [
        ("regex", "[", "invalid regex \"[\": unterminated character set"),
        ("not-regex", "(?P<x>a)(?P<x>b)", "invalid regex"),
        ("regex", "a{5,2}", "min repeat greater than max repeat"),
        ("regex", "a{99999999999}", "repetition number is too large"),
        ("regex", "(" * 5000 + ")" * 5000, "invalid regex"),
        ("regex", _UNSET, "regex needs a regular expression string, not no value"),
        ("not-regex", ["a"], "not-regex needs a regular expression string, not an array"),
        ("json-schema", {"type": 5}, "invalid JSON schema"),
        ("json-schema", {"required": "email"}, "invalid JSON schema: 'email' is not of type 'array'"),
        ("json-schema", {"type": "string", "pattern": "["}, "invalid JSON schema: '[' is not a 'regex'"),
        ("is-json", {"type": "nothing"}, "invalid JSON schema"),
        ("not-is-json", {"minLength": -1}, "invalid JSON schema"),
        ("contains-json", {"properties": []}, "invalid JSON schema"),
        ("json-schema", {"$schema": ["not", "a", "string"]}, "invalid JSON schema"),
        ("json-schema", _UNSET, "json-schema needs a JSON Schema table as its value, not no value"),
        ("json-schema", "a string", "json-schema needs a JSON Schema table as its value, not str"),
        ("is-json", ["a"], "is-json needs a JSON Schema table"),
        ("equals", {"a": 1}, "equals needs a string or a non-empty array of strings, not a table"),
        ("contains-any", [], "not an empty array"),
        ("not-contains-all", ["a", 1], "not an array holding int"),
        ("starts-with", 3, "not int"),
    ],
)
def test_an_unusable_criterion_scores_zero_with_a_reason(kind, value, words) -> None:
    for output in ('{"a": 1}', "", "anything [1]"):
        result = run(kind, output, value)
        assert result.score == 0.0
        assert words in result.reason


@pytest.mark.parametrize("kind", ["equals", "not-equals", "contains-all", "not-contains-any", "starts-with"])
def test_no_value_and_no_expected_scores_zero_also_when_negated(kind: str) -> None:
    assert run(kind, "anything").score == 0.0
    assert run(kind, "anything", _UNSET, ()).reason == f"{kind} has no value and the example's expected is empty"


def test_a_reference_to_nowhere_is_found_when_the_schema_is_applied() -> None:
    result = run("json-schema", '{"a": 1}', {"$ref": "#/definitions/missing"})
    assert result.score == 0.0
    assert result.reason.startswith("the JSON schema cannot be applied: PointerToNowhere: '/definitions/missing'")
    assert run("not-is-json", "[]", {"$ref": "#/definitions/missing"}).score == 0.0


def test_a_remote_ref_is_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    fetched = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: fetched.append(a) or pytest.fail("fetched"))
    result = run("json-schema", '{"a": 1}', {"$ref": "https://example.invalid/schema.json"})
    assert result.score == 0.0
    assert "Unresolvable" in result.reason
    assert fetched == []


def test_an_explicit_draft_is_honoured() -> None:
    tuple_items = {"type": "array", "items": [{"type": "string"}]}
    draft_2020 = {"$schema": "https://json-schema.org/draft/2020-12/schema", **tuple_items}
    assert run("json-schema", '["a"]', tuple_items).score == 1.0  # draft-07: `items` may be an array
    assert "invalid JSON schema" in run("json-schema", '["a"]', draft_2020).reason


def test_a_frozen_schema_value_works_like_a_plain_one() -> None:
    frozen = MappingProxyType({"type": "object", "required": ("email",), "properties": MappingProxyType({})})
    assert run("json-schema", '{"email": "k@t.jp"}', frozen).score == 1.0
    assert run("json-schema", '{"name": "K"}', frozen).reason == "JSON does not match the schema: 'email' is a required property"


def test_regex_searches_only_the_first_characters_of_a_huge_output() -> None:
    output = "a" * MAX_REGEX_CHARS + "NEEDLE"
    result = run("regex", output, "NEEDLE")
    assert result.score == 0.0
    assert f"only its first {MAX_REGEX_CHARS} characters were searched" in result.reason
    assert run("regex", "a" * (MAX_REGEX_CHARS - 6) + "NEEDLE", "NEEDLE").score == 1.0


@pytest.mark.parametrize(
    "output",
    ["[" * 100_000, '{"a": ' * 50_000, "1" * 5000, "Infinity", '{"a": -Infinity}'],
    ids=["deep-array", "deep-object", "5000-digits", "Infinity", "-Infinity"],
)
def test_pathological_json_outputs_fail_without_raising(output: str) -> None:
    for kind in ("is-json", "json-schema", "contains-json"):
        value = {"type": "array"} if kind == "json-schema" else _UNSET
        result = run(kind, output, value)
        assert result.score == 0.0, (kind, result.reason)
    assert run("not-is-json", output).score == 1.0


def test_a_json_schema_written_in_toml_checks_the_output() -> None:
    """The SPEC's example, through the document layer: the value arrives as TOML data."""
    text = textwrap.dedent(
        """\
        task = "Extract the contact."

        [prompt]
        template = "{{ text }}"

        [[criteria]]
        name = "matches the schema"
        type = "json-schema"

        [criteria.value]
        type = "object"
        required = ["name", "email"]

        [criteria.value.properties]
        name = { type = "string", minLength = 1 }
        email = { type = "string", pattern = '^[^@\\s]+@[^@\\s]+$' }

        [[examples]]
        vars = { text = "Kenji, kenji@tsubame-design.jp" }
        expected = ["Kenji", "kenji"]
        assert = [
          { type = "contains-json", value = { type = "object", properties = { email = { const = "kenji@tsubame-design.jp" } } } },
          { type = "not-contains", value = "2025-04-03", name = "not the old date" },
          { type = "starts-with" },
        ]
        """
    )
    analysis = analyze(text)
    assert analysis.prompt is not None, analysis.diagnostics
    prompt = analysis.prompt
    example = prompt.examples[0]
    criteria = prompt.criteria + example.asserts
    good = '{"name": "Kenji", "email": "kenji@tsubame-design.jp"}'
    assert [check(c, good, example.expected).score for c in criteria] == [1.0, 1.0, 1.0, 0.0]
    assert [check(c, "kenji: " + good, example.expected).score for c in criteria] == [0.0, 1.0, 1.0, 1.0]
    assert [check(c, "Kenji on 2025-04-03", example.expected).score for c in criteria] == [0.0, 0.0, 0.0, 1.0]
    bad = '{"name": "Kenji", "email": "kenji at tsubame"}'
    assert check(prompt.criteria[0], bad, None).reason.startswith("JSON does not match the schema at $.email:")


# --- properties ------------------------------------------------------------------------------

_FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
_TEXT = st.text(max_size=40)
_OUTPUTS = st.one_of(
    st.text(max_size=200),
    st.text(alphabet='{}[]",:0123456789 \n`abtrue-nul\\', max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(['  {"a": 1}\n', "```json\n[1]\n```", "[" * 3000, "NaN", ""]),
)
_VALUES = st.one_of(
    st.just(_UNSET),
    _TEXT,
    st.lists(_TEXT, max_size=4),
    st.sampled_from(["[", "(a", r"\d+", "(?i)x", "*", {"type": "object"}, {"type": 5}, {"$ref": "#/x"}]),
    st.dictionaries(st.sampled_from(["type", "required", "items", "pattern", "minLength"]),
                    st.one_of(_TEXT, st.integers(), st.lists(_TEXT, max_size=2)), max_size=3),
    st.integers(),
    st.booleans(),
    st.lists(st.one_of(_TEXT, st.integers()), max_size=3),
)
_EXPECTED = st.one_of(st.none(), st.lists(_TEXT, max_size=3).map(tuple))


@_FAST
@given(kind=st.sampled_from(sorted(DETERMINISTIC_TYPES)), value=_VALUES, output=_OUTPUTS, expected=_EXPECTED)
def test_check_never_raises(kind, value, output, expected) -> None:
    result = run(kind, output, value, expected)
    assert result.score in (0.0, 1.0)
    assert 0 < len(result.reason) <= MAX_REASON_CHARS
    assert not re.search(r"[\x00-\x1f]", result.reason)
    result.reason.encode("utf-8")


_TEXT_KINDS = sorted(t for t in DETERMINISTIC_TYPES if not t.startswith("not-") and f"not-{t}" in DETERMINISTIC_TYPES)


@_FAST
@given(
    kind=st.sampled_from(_TEXT_KINDS),
    values=st.lists(st.text(alphabet="abAB \n", max_size=3), min_size=1, max_size=3),
    output=st.text(alphabet="abAB \n{}[]1,\"", max_size=30),
    from_expected=st.booleans(),
)
def test_negation_law(kind, values, output, from_expected) -> None:
    if kind == "regex":
        value, expected = values[0], None
    elif kind == "is-json":
        value, expected = _UNSET, None
    else:
        value, expected = (_UNSET, tuple(values)) if from_expected else (values, None)
    positive = run(kind, output, value, expected)
    negative = run(f"not-{kind}", output, value, expected)
    assert positive.score + negative.score == 1.0
    # a reason states a fact about the output; a failed positive form may end it with a hint
    assert positive.reason == negative.reason or (
        positive.score == 0.0 and positive.reason.startswith(negative.reason + "; "))


# --- feedback the optimizer can act on ---------------------------------------------------------


def test_equals_says_the_answer_is_inside_a_longer_output() -> None:
    output = "The sentiment of this review is clearly positive, as the customer loved it."
    assert run("equals", output, "positive").reason == (
        'output "The sentiment of this review is clearly positive,…" (13 words) has the expected answer "positive" '
        'inside it; the output must be exactly the answer')
    # from the example's expected, the first answer found is named
    assert run("equals", "I'd say: neg", _UNSET, ("pos", "neg")).reason.startswith(
        'output "I\'d say: neg" (3 words) has the expected answer "neg" inside it')


def test_a_label_outside_the_allowed_set_is_named() -> None:
    labels = ["positive", "negative", "neutral"]
    assert run("equals", "Mixed!", labels).reason == (
        'output "Mixed!" is none of the listed answers: "positive", "negative", "neutral"')
    assert run("contains-any", "Mixed!", labels).reason == (
        'output "Mixed!" contains none of the listed answers: "positive", "negative", "neutral"')
    assert run("contains-any", "POSITIVE", labels).reason.endswith("(it does in another case)")
    assert run("contains", "Mixed!", labels).reason == 'output contains none of: "positive", "negative", "neutral"'


def test_the_hint_ends_only_a_failed_positive_form() -> None:
    fact = 'output "so positive" (2 words) has the expected answer "positive" inside it'
    assert run("equals", "so positive", "positive").reason == f"{fact}; the output must be exactly the answer"
    assert run("not-equals", "so positive", "positive") == Check(1.0, fact)


def test_a_json_mismatch_names_the_json_path_and_the_validator_message() -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}
    assert run("json-schema", '{"tags": ["a", 5]}', schema).reason == (
        "JSON does not match the schema at $.tags[1]: 5 is not of type 'string'")
    assert run("contains-json", 'here: {"tags": [5]}', schema).reason == (
        "no JSON in the output matches the schema (the first at $.tags[0]: 5 is not of type 'string')")
    long = run("json-schema", json.dumps({"tags": ["x" * 500, 1] * 3}), {"properties": {"tags": {"maxItems": 1}}})
    assert long.reason.startswith("JSON does not match the schema at $.tags: [") and len(long.reason) <= MAX_REASON_CHARS


def test_feedback_reasons_stay_short() -> None:
    words = " ".join(["positive"] * 5000)
    for kind, value in [("equals", "positive"), ("equals", ["x" * 300] * 9), ("contains-any", ["y" * 300] * 9)]:
        reason = run(kind, words, value).reason
        assert len(reason) <= MAX_REASON_CHARS == 200, (kind, reason)
