"""Every diagnostic code, on the exact text it is about.

Bad input gets a diagnostic with a precise range — never an exception. Each test names the
input, the code it must produce, and the text its range must cover.
"""

import os

import pytest

from promptlsp.document import CODES, analyze
from promptlsp.document.source import Position

from document_support import BASE, covered, run


def only(analysis, code):
    found = [d for d in analysis.diagnostics if d.code == code]
    assert found, f"no {code} in {[(d.code, d.message) for d in analysis.diagnostics]}"
    return found


def test_a_good_file_is_clean_and_typed(tmp_path):
    a = run(tmp_path, BASE)
    assert a.diagnostics == []
    prompt = a.prompt
    assert prompt.name == "p" and prompt.template == "Review: {{ review }}"
    assert [e.split for e in prompt.examples] == ["train", "validation"]
    assert prompt.models.task.model == "local/qwen2.5-coder-0.5b"
    assert prompt.models.judge.temperature == 0.0 and prompt.models.optimizer.temperature == 0.7
    assert prompt.optimize.method == "gradsum" and prompt.optimize.budget.max_calls == 500


def test_judge_and_optimizer_inherit_the_task_connection(tmp_path):
    text = BASE + '[models.task]\nmodel = "openai/gpt-4o-mini"\napi_base = "http://proxy:4000"\napi_key_env = "TEAM_KEY"\n[models.judge]\nmodel = "openai/gpt-4o"\n'
    models = run(tmp_path, text).prompt.models
    assert models.optimizer.model == "openai/gpt-4o-mini" and models.optimizer.api_base == "http://proxy:4000"
    assert models.optimizer.api_key_env == "TEAM_KEY"
    assert models.judge.model == "openai/gpt-4o" and models.judge.api_base is None


def test_toml_syntax_error_points_at_the_offending_character(tmp_path):
    text = BASE.replace('task = "Label', 'task = "Label" junk "Label', 1)
    a = run(tmp_path, text)
    (d,) = only(a, "toml-syntax")
    assert covered(a, d) == "j" and d.severity == "error"
    assert a.prompt is None


def test_duplicate_key_points_at_the_second_definition(tmp_path):
    text = BASE.replace('[prompt]\n', '[prompt]\ntemplate = "x"\n', 1)
    a = run(tmp_path, text)
    (d,) = only(a, "toml-syntax")
    assert covered(a, d) == "template" and d.span.start == text.index("template", text.index("template") + 1)
    first = d.related[0].span
    assert text[first.start:first.end] == "template" and first.start == text.index("template")


def test_unknown_key_is_underlined_with_a_suggestion(tmp_path):
    a = run(tmp_path, BASE + "[models.task]\ntempurature = 0.2\n")
    (d,) = only(a, "schema")
    assert covered(a, d) == "tempurature"
    assert "did you mean 'temperature'" in d.message


def test_wrong_type_is_on_the_value(tmp_path):
    a = run(tmp_path, BASE + "[optimize]\niterations = \"five\"\n")
    (d,) = only(a, "schema")
    assert covered(a, d) == '"five"' and "must be an integer, not a string" in d.message


def test_bad_enum_names_the_allowed_values(tmp_path):
    a = run(tmp_path, BASE + '[optimize]\nmethod = "adam"\n')
    (d,) = only(a, "schema")
    assert covered(a, d) == '"adam"' and "gradsum" in d.message and "tgd" in d.message


def test_missing_required_key_is_on_its_table(tmp_path):
    a = run(tmp_path, BASE.replace('template = "Review: {{ review }}"\n', 'system = "Be terse."\n'))
    (d,) = [d for d in only(a, "schema") if "template" in d.message]
    assert covered(a, d) == "[prompt]"


def test_api_key_in_place_of_a_variable_name_is_not_echoed(tmp_path):
    secret = "sk-live-1234567890abcdef"
    a = run(tmp_path, BASE + f'[models.task]\napi_key_env = "{secret}"\n')
    (d,) = only(a, "schema")
    assert secret not in d.message and "NAME of an environment variable" in d.message
    assert covered(a, d) == f'"{secret}"'


def test_unsupported_version(tmp_path):
    a = run(tmp_path, BASE.replace("version = 1", "version = 2"))
    (d,) = only(a, "version-unsupported")
    assert covered(a, d) == "2"


@pytest.mark.parametrize("where", ["criteria", "assert"])
def test_unknown_assertion_type_with_did_you_mean(tmp_path, where):
    if where == "criteria":
        text = BASE.replace('type = "equals"', 'type = "icontain"')
    else:
        text = BASE.replace('expected = "positive"', 'expected = "positive"\nassert = [{ type = "regx", value = "^p" }]')
    a = run(tmp_path, text)
    (d,) = only(a, "assertion-unknown")
    assert covered(a, d) in ('"icontain"', '"regx"')
    assert "did you mean" in d.message and "llm-rubric" in d.message


def test_template_syntax_error_is_on_the_line_inside_the_template(tmp_path):
    text = BASE.replace(
        'template = "Review: {{ review }}"',
        'template = """\r\nRéview 😀 中文:\r\n  {{ review }\r\nEnd"""',
    ).replace("\n", "\r\n").replace("\r\r\n", "\r\n")
    a = run(tmp_path, text)
    (d,) = only(a, "template-syntax")
    assert covered(a, d) == "{{ review }"
    assert "line 2" in d.message
    rng = a.source.range(d.span)
    line = text.split("\r\n").index("  {{ review }")
    assert rng.start == Position(line, 2) and rng.end == Position(line, 13)


def test_variable_missing_from_an_example_is_on_that_example(tmp_path):
    text = BASE.replace('vars = { review = "awful" }', 'vars = { text = "awful" }')
    a = run(tmp_path, text)
    (d,) = only(a, "template-var-missing")
    assert "'review'" in d.message
    assert d.span.start == text.index("vars = { text") and covered(a, d) == "vars"
    related = d.related[0]
    assert text[related.span.start:related.span.end] == "review"
    assert related.span.start == text.index("{{ review }}") + 3


def test_unused_example_variable_is_a_warning_on_the_key(tmp_path):
    text = BASE.replace('vars = { review = "great" }', 'vars = { review = "great", stars = 5 }')
    a = run(tmp_path, text)
    (d,) = only(a, "example-var-unused")
    assert d.severity == "warning" and covered(a, d) == "stars"
    assert a.prompt is not None  # warnings do not block use


def test_duplicate_examples(tmp_path):
    text = BASE + '[[examples]]\nvars = { review = "great" }\nexpected = "positive"\n'
    a = run(tmp_path, text)
    (d,) = only(a, "example-duplicate")
    assert d.severity == "warning" and d.span.start == text.rindex("[[examples]]")
    assert d.related[0].span.start == text.index("[[examples]]")


def test_two_examples_with_one_id(tmp_path):
    """Results, baselines, critiques and the optimizer's paired comparisons are keyed by the
    example id: a second example with the same id is an error on its id, pointing at the first."""
    text = BASE.replace('vars = { review = "great" }', 'id = "r1"\nvars = { review = "great" }').replace(
        'vars = { review = "awful" }', 'id = "r1"\nvars = { review = "awful" }')
    a = run(tmp_path, text)
    (d,) = only(a, "example-id-duplicate")
    assert d.severity == "error" and a.prompt is None
    assert covered(a, d) == '"r1"' and d.span.start == text.rindex('"r1"')
    assert d.related[0].span.start == text.index('"r1"')


def test_an_id_that_takes_the_default_id_of_another_example(tmp_path):
    """The second inline example's default id is "#2": writing it on the first is a collision too."""
    text = BASE.replace('vars = { review = "great" }', 'id = "#2"\nvars = { review = "great" }')
    a = run(tmp_path, text)
    (d,) = only(a, "example-id-duplicate")
    assert d.span.start == text.rindex("[[examples]]") and covered(a, d.related[0]) == '"#2"'


def test_dataset_rows_with_one_id(tmp_path):
    rows = '{"id": "x", "vars": {"review": "fine"}, "expected": "positive"}\n' * 2
    a = run(tmp_path, BASE + '[[datasets]]\npath = "rows.jsonl"\n', files={"rows.jsonl": rows})
    (d,) = only(a, "example-id-duplicate")
    assert "'x'" in d.message and covered(a, d) == '"rows.jsonl"'


def test_criterion_needing_expected(tmp_path):
    text = BASE.replace('expected = "negative"\n', "")
    a = run(tmp_path, text)
    (d,) = only(a, "expected-missing")
    assert "'equals'" in d.message and d.span.start == text.rindex("[[examples]]")
    assert a.text[d.related[0].span.start:d.related[0].span.end] == "[[criteria]]"


def test_criterion_with_its_own_value_does_not_need_expected(tmp_path):
    text = BASE.replace('type = "equals"', 'type = "contains"\nvalue = "e"').replace('expected = "negative"\n', "")
    assert not [d for d in run(tmp_path, text).diagnostics if d.code == "expected-missing"]


def test_per_example_assertion_needing_expected(tmp_path):
    text = BASE.replace('[[criteria]]\ntype = "equals"\n', "").replace(
        'expected = "negative"\n', 'assert = [{ type = "icontains", name = "mentions it" }]\n'
    )
    (d,) = only(run(tmp_path, text), "expected-missing")
    assert "'mentions it'" in d.message


def test_no_examples(tmp_path):
    text = BASE[: BASE.index("[[examples]]")]
    a = run(tmp_path, text)
    (d,) = only(a, "examples-none")
    assert covered(a, d) == "[prompt]"


def test_no_validation_split_is_information(tmp_path):
    a = run(tmp_path, BASE.replace('split = "validation"\n', ""))
    (d,) = only(a, "split-no-validation")
    assert d.severity == "information" and a.prompt is not None


def test_validation_fraction_assigns_free_examples(tmp_path):
    a = run(tmp_path, BASE.replace('split = "validation"\n', "") + "[optimize]\nvalidation_fraction = 0.5\n")
    assert not [d for d in a.diagnostics if d.code == "split-no-validation"]
    assert sorted(e.split for e in a.prompt.examples) == ["train", "validation"]


DATASET = '[[datasets]]\npath = "data/rows.jsonl"\n'


def test_dataset_rows_become_examples_in_both_shapes(tmp_path):
    rows = '{"review": "fine", "expected": "neutral", "split": "validation"}\n\n{"vars": {"review": "bad"}, "expected": ["negative", "neg"]}\n'
    a = run(tmp_path, BASE + DATASET, {"data/rows.jsonl": rows})
    assert a.diagnostics == []
    extra = a.prompt.examples[2:]
    assert [(e.vars, e.expected, e.split, e.origin.line) for e in extra] == [
        ({"review": "fine"}, ("neutral",), "validation", 1),
        ({"review": "bad"}, ("negative", "neg"), "train", 3),
    ]
    assert extra[0].id == "data/rows.jsonl:1"


def test_csv_dataset(tmp_path):
    rows = 'review,expected,split\n"good, really",positive,train\nmeh,neutral,\n'
    a = run(tmp_path, BASE + '[[datasets]]\npath = "rows.csv"\nsplit = "validation"\n', {"rows.csv": rows})
    assert a.diagnostics == []
    assert [(e.vars["review"], e.split) for e in a.prompt.examples[2:]] == [("good, really", "train"), ("meh", "validation")]


def test_dataset_missing(tmp_path):
    a = run(tmp_path, BASE + DATASET)
    (d,) = only(a, "dataset-missing")
    assert covered(a, d) == '"data/rows.jsonl"'


def test_dataset_unreadable(tmp_path):
    (tmp_path / "data" / "rows.jsonl").mkdir(parents=True)
    (d,) = only(run(tmp_path, BASE + DATASET), "dataset-unreadable")
    assert "not a regular file" in d.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_dataset_without_permission(tmp_path):
    a_file = tmp_path / "data" / "rows.jsonl"
    a_file.parent.mkdir()
    a_file.write_text("{}\n")
    a_file.chmod(0)
    only(run(tmp_path, BASE + DATASET), "dataset-unreadable")


def test_dataset_malformed_names_the_line(tmp_path):
    rows = '{"review": "ok", "expected": "neutral"}\n{"review": "x", "expected": \n[1, 2]\n{"review": "y", "split": "dev"}\n'
    a = run(tmp_path, BASE + DATASET, {"data/rows.jsonl": rows})
    found = only(a, "dataset-malformed")
    assert [d.message.split(":")[1] for d in found] == ["2", "3", "4"]
    assert all(covered(a, d) == '"data/rows.jsonl"' for d in found)
    assert found[0].related[0].line == 2 and found[0].related[0].file.name == "rows.jsonl"
    assert "train, validation, test" in found[2].message


def test_dataset_not_utf8(tmp_path):
    (d,) = only(run(tmp_path, BASE + DATASET, {"data/rows.jsonl": b'{"review": "ok"}\n{"review": "\xff"}\n'}), "dataset-malformed")
    assert "rows.jsonl:2" in d.message


def test_dataset_outside_root_is_refused_unread(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "secret.jsonl").write_text('{"review": "leak"}\n')
    text = BASE + '[[datasets]]\npath = "../secret.jsonl"\n'
    path = root / "p.prompt.toml"
    path.write_text(text)
    a = analyze(text, path, root)
    (d,) = only(a, "dataset-outside-root")
    assert "refused" in d.message and "leak" not in str(a.diagnostics)


def test_symlink_escaping_the_root_is_refused(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "secret.jsonl").write_text('{"review": "leak"}\n')
    (root / "link.jsonl").symlink_to(tmp_path / "secret.jsonl")
    text = BASE + '[[datasets]]\npath = "link.jsonl"\n'
    path = root / "p.prompt.toml"
    path.write_text(text)
    only(analyze(text, path, root), "dataset-outside-root")


def test_every_code_is_exercised_here():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    missing = [code for code in CODES if f'"{code}"' not in source]
    assert missing == []


@pytest.mark.parametrize(
    "text",
    ["", "\x00", "[[", 'task = """', "prompt = 3\ntask = 1", "[prompt]\ntemplate = 5", "examples = [1, 'a']",
     "[[examples]]\nvars = 3\nassert = 4", "[[datasets]]\npath = 7", "[optimize]\nbudget = 1"],
)
def test_hostile_inputs_produce_diagnostics_not_exceptions(tmp_path, text):
    a = run(tmp_path, text)
    assert a.diagnostics and a.prompt is None
    assert all(0 <= d.span.start <= d.span.end <= len(text) for d in a.diagnostics)


def test_defaults_name_whole_numbers_and_null_dataset_keys(tmp_path):
    rows = '{"review": "fine", "expected": "neutral", "split": null, "id": null}\n'
    text = BASE + DATASET + "[optimize]\niterations = 2.0\n[models.task]\nmax_tokens = 64.0\n"
    a = run(tmp_path, text, {"data/rows.jsonl": rows}, name="my.review.prompt.toml")
    assert a.diagnostics == []
    prompt = a.prompt
    assert prompt.name == "my.review"
    assert prompt.optimize.iterations == 2 and isinstance(prompt.optimize.iterations, int)
    assert prompt.models.task.max_tokens == 64 and isinstance(prompt.models.task.max_tokens, int)
    row = prompt.examples[-1]
    assert row.id == "data/rows.jsonl:1" and row.split == "train"


def test_a_key_with_thousands_of_parts_is_too_complex_on_the_key(tmp_path):
    # 16,000 parts took 34 s and 1.5 GB (quadratic in the TOML readers and the span scanner)
    key = "x" + ".a" * 16_000
    text = BASE + f"{key} = 1\n"
    a = run(tmp_path, text)
    (d,) = a.diagnostics
    assert d.code == "file-too-complex" and "dotted parts" in d.message
    assert covered(a, d) == key and a.prompt is None


def test_schema_diagnostics_say_when_the_reading_stopped_even_after_duplicates_were_merged():
    import jsonschema

    from promptlsp.document import schema as schema_module
    from promptlsp.document.spans import Span

    class SameErrorEverywhere:
        """201 copies of one error: after merging, one diagnostic is left, but the reading was cut."""

        def iter_errors(self, data):
            for _ in range(schema_module.MAX_DIAGNOSTICS + 50):
                yield jsonschema.ValidationError("1 is not of type 'string'", validator="type", path=["name"],
                                                 instance=1, schema={"type": "string"}, validator_value="string")

    out = schema_module.validate({"name": 1}, lambda path, part="value": Span(0, 1), SameErrorEverywhere())
    assert len(out) == 2 and "more than 200 problems" in out[-1].message
