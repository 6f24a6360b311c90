"""Issue 12 (hardening): inputs that crashed, hung or misled analyze() now get one precise
diagnostic each. Pathological sizes run in a child interpreter with a generous timeout (a hang
guard, not a timing test); speed and memory are measured by bench/hostile.py."""

import logging
import subprocess
import sys

import pytest

from document_support import BASE, covered, run


def codes(analysis):
    return [d.code for d in analysis.diagnostics]


@pytest.fixture
def no_internal_errors(caplog):
    caplog.set_level(logging.ERROR, logger="promptlsp")
    yield
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "an internal error was logged"


# -- internal errors that must be diagnostics ---------------------------------------------------

@pytest.mark.parametrize(
    ("item", "bad"),
    [('weight = "heavy"', '"heavy"'), ("threshold = [1]", "[1]"), ("weight = { a = 1 }", "{ a = 1 }")],
)
def test_a_non_numeric_weight_or_threshold_is_a_schema_error_on_it(tmp_path, no_internal_errors, item, bad):
    text = BASE.replace('expected = "positive"\n', f'expected = "positive"\nassert = [{{ type = "contains", value = "x", {item} }}]\n')
    a = run(tmp_path, text)
    (d,) = [d for d in a.diagnostics if d.severity == "error"]
    assert d.code == "schema" and covered(a, d) == bad


def test_a_deeply_nested_template_is_a_template_error_on_its_line(tmp_path, no_internal_errors):
    nested = "{% if x %}\\n" * 500 + "{% endif %}" * 500
    a = run(tmp_path, BASE.replace('"Review: {{ review }}"', f'"Review: {{{{ review }}}}\\n{nested}"'))
    (d,) = [d for d in a.diagnostics if d.severity == "error"]
    assert d.code == "template-syntax" and "nested" in d.message
    assert covered(a, d) == "{% if x %}"  # the 51st nested `if` (its line inside the template string)
    assert d.span.start == a.text.index("{% if x %}") + 50 * len("{% if x %}\\n")


def test_brackets_nested_500_deep_are_a_template_error(tmp_path, no_internal_errors):
    a = run(tmp_path, BASE.replace('"Review: {{ review }}"', '"Review: {{ ' + "(" * 500 + "review" + ")" * 500 + ' }}"'))
    assert codes(a).count("template-syntax") == 1 and "brackets nested" in a.diagnostics[0].message


def test_a_symlink_loop_in_a_dataset_path_is_unreadable_on_the_path(tmp_path, no_internal_errors):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    text = BASE + '[[datasets]]\npath = "a/rows.jsonl"\n'
    a = run(tmp_path, text)
    (d,) = [d for d in a.diagnostics if d.severity == "error"]
    assert d.code == "dataset-unreadable" and "symlink loop" in d.message
    assert covered(a, d) == '"a/rows.jsonl"'


# -- newcomers: a typo in a template variable ----------------------------------------------------

def test_a_misspelt_template_variable_is_one_error_on_it_with_a_suggestion(tmp_path):
    text = BASE.replace("{{ review }}", "{{ reveiw }}")
    a = run(tmp_path, text)
    assert codes(a) == ["template-var-missing"]  # not one per example, no "unused review" warnings
    (d,) = a.diagnostics
    assert covered(a, d) == "reveiw" and d.span.start == text.index("reveiw")
    assert "did you mean 'review'?" in d.message
    assert covered(a, d.related[0]) == "review" and d.related[0].span.start == text.index("review = ")


def test_a_variable_only_some_examples_lack_is_still_reported_on_those_examples(tmp_path):
    text = BASE.replace("{{ review }}", "{{ review }} {{ stars }}").replace(
        'vars = { review = "great" }', 'vars = { review = "great", stars = 5 }'
    )
    a = run(tmp_path, text)
    (d,) = a.diagnostics
    assert d.code == "template-var-missing" and "example #2 " in d.message
    assert d.span.start == text.index('vars = { review = "awful"')


# -- newcomers: a missing closing quote ------------------------------------------------------------

@pytest.mark.parametrize(
    ("old", "new", "opening", "closer"),
    [
        ('template = "Review: {{ review }}"', 'template = "Review: {{ review }}', '"Review: {{ review }}', '"'),
        ('template = "Review: {{ review }}"', "template = 'Review: {{ review }}", "'Review: {{ review }}", "'"),
        ('expected = "negative"', 'expected = "negative', '"negative', '"'),
        ('vars = { review = "great" }', 'vars = { review = "great }', '"great }', '"'),
        ('task = "Label', 'task = """Label', '"""Label the sentiment of a product review."', '"""'),
    ],
    ids=["basic", "literal", "at-the-end", "inline-table", "multi-line"],
)
def test_a_missing_closing_quote_is_an_unterminated_string_on_its_opening(tmp_path, old, new, opening, closer):
    text = BASE.replace(old, new)
    a = run(tmp_path, text)
    (d,) = a.diagnostics
    assert d.code == "toml-syntax" and d.message == f"unterminated string: no closing {closer}"
    assert covered(a, d) == opening  # the opening quote through the end of its line
    assert "Control characters" not in d.message


# -- size and shape: linear, bounded, or a file-too-complex diagnostic -----------------------------

CHILD = """
import json, resource, sys
from promptlsp.document import analyze
text = {base!r} + {tail}
a = analyze(text)
print(json.dumps({{
    "codes": [d.code for d in a.diagnostics],
    "covered": [text[d.span.start:d.span.end][:40] for d in a.diagnostics],
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}}))
"""


@pytest.mark.parametrize(
    ("tail", "code", "covered"),
    [
        ("'x' + '.a' * 50_000 + ' = 1\\n'", "file-too-complex", "x.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a."),
        ("'[x' + '.a' * 50_000 + ']\\n'", "file-too-complex", "x.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a."),
        ("'x = ' + '[' * 100_000 + ']' * 100_000 + '\\n'", "file-too-complex", "["),
        ("'x = ' + '{a=' * 50_000 + '1' + '}' * 50_000 + '\\n'", "file-too-complex", "{"),
        ("'[optimize]\\nconstraints = [' + '1,' * 300_000 + ']\\n'", "file-too-complex", ","),
        ("''.join(f'[t{i}]\\n' for i in range(100_000))", "file-too-complex", "["),
    ],
    ids=["dotted-key", "dotted-header", "nested-arrays", "nested-inline-tables", "300k-items", "100k-tables"],
)
def test_pathological_shapes_get_one_diagnostic_quickly_and_in_bounded_memory(tail, code, covered):
    # hang guard only; 16,000 key parts took 34 s / 1.5 GB, 300,000 array items 33 s / 1.2 GB
    done = subprocess.run([sys.executable, "-c", CHILD.format(base=BASE, tail=tail)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    result = json.loads(done.stdout)
    assert result["codes"] == [code]
    assert result["covered"][0].startswith(covered)
    assert result["rss_mb"] < 500


def _big(text: str) -> str:
    """``text`` grown past the size where tomlkit is no longer asked for error messages."""
    from promptlsp.document.analysis import TOMLKIT_ERROR_LIMIT

    filler = '[[examples]]\nvars = { review = "fine %d" }\nexpected = "neutral"\n'
    count = TOMLKIT_ERROR_LIMIT // len(filler) + 10
    return text + "".join(filler % i for i in range(count))


def test_a_syntax_error_in_a_big_file_is_reported_where_it_is(tmp_path):
    text = _big(BASE) + "oops = \n"
    a = run(tmp_path, text)
    (d,) = a.diagnostics
    assert d.code == "toml-syntax" and d.span.start == text.index("oops = ") + len("oops = ")


def test_big_files_also_get_unterminated_strings_and_duplicate_keys(tmp_path):
    text = _big(BASE) + 'note = "no end\n'
    (d,) = run(tmp_path, text).diagnostics
    assert d.message == 'unterminated string: no closing "' and d.span.start == text.index('"no end')
    text = _big(BASE.replace('version = 1\n', 'version = 1\nversion = 1\n'))
    (d,) = run(tmp_path, text).diagnostics
    assert d.message == "key 'version' is defined twice" and d.span.start == text.index("version", 5)


def test_crlf_files_keep_crlf_in_multiline_strings_without_tomlkit(tmp_path, monkeypatch):
    import tomlkit

    from promptlsp.document import analysis as analysis_module

    text = BASE.replace('template = "Review: {{ review }}"', 'template = """\nReview:\n{{ review }}\n"""').replace("\n", "\r\n")
    expected = tomlkit.parse(text).unwrap()
    monkeypatch.setattr(analysis_module.tomlkit, "parse", lambda *_: pytest.fail("tomlkit parsed a valid file"))
    a = run(tmp_path, text)
    assert a.data == expected and a.data["prompt"]["template"] == "Review:\r\n{{ review }}\r\n"
    assert a.diagnostics == [] and a.prompt is not None


@pytest.mark.parametrize(
    ("text", "end", "closed"),
    [
        ('"a" = 1', 3, True), ('"a\\\\" x', 5, True), ('"a\\"b" x', 6, True), ('"" x', 2, True),
        ('"""a\\"""" x', 9, True), ('"""a""""" x', 9, True), ("'''x''''' x", 9, True), ("'a\\' x", 4, True),
        ('"no end\nx = "y"', 7, False), ('"""no end\n"', 11, False), ("'''x''", 6, False),
    ],
)
def test_string_end_is_where_toml_closes_the_string(text, end, closed):
    from promptlsp.document.limits import string_end

    assert string_end(text, 0) == (end, closed)
