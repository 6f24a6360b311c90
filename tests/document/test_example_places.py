"""document/example_places.py: where each inline example is written, in both layouts, on a
half-typed file too; found by position and by range; its typed example."""

from __future__ import annotations

from promptlsp.document import analyze
from promptlsp.document.example_places import at, between, example_places, typed

TABLES = '''task = "t"
[prompt]
template = "{{ a }}"
[[examples]]
id = "一 😀"
vars = { a = 1 }
[[examples]]  # no id
vars = { a = 2 }
[[datasets]]
path = "rows.jsonl"
'''


def test_tables_with_and_without_an_id_and_a_dataset_example(tmp_path):
    (tmp_path / "rows.jsonl").write_text('{"id": "d", "a": 3}\n')
    analysis = analyze(TABLES, tmp_path / "p.prompt.toml", tmp_path)
    assert analysis.prompt is not None, analysis.diagnostics
    first, second = places = example_places(analysis)
    assert [(p.index, p.id) for p in places] == [(0, "一 😀"), (1, "#2")]
    assert TABLES[: first.anchor].endswith('id = "一 😀"')  # just after the id value
    assert TABLES[: second.anchor].endswith("[[examples]]  # no id")  # the end of the header line
    assert TABLES[first.span.start:first.span.end] == '[[examples]]\nid = "一 😀"\nvars = { a = 1 }'
    assert at(places, TABLES.index("a = 2")) is second and at(places, 0) is None
    assert between(places, 0, first.anchor) == [first] and between(places, first.anchor + 1, len(TABLES)) == [second]
    assert [typed(analysis.prompt, p).vars for p in places] == [{"a": 1}, {"a": 2}]
    assert len(analysis.prompt.examples) == 3  # the dataset's example has no place


def test_inline_tables_on_one_line_get_one_anchor_each():
    text = ('task = "t"\nexamples = [ { vars = { a = 1 } }, { id = "b", vars = { a = 2 } } ]\n'
            '[prompt]\ntemplate = "{{ a }}"\n')
    analysis = analyze(text)
    assert analysis.prompt is not None, analysis.diagnostics
    first, second = example_places(analysis)
    assert text[: first.anchor].endswith("{ vars = { a = 1 } }")  # after its own table, not the line
    assert text[: second.anchor].endswith('id = "b"')
    assert (first.id, second.id) == ("#1", "b")


def test_a_half_typed_file_keeps_the_places_that_read_and_has_no_typed_examples():
    text = TABLES.replace("vars = { a = 2 }", 'vars = { a = "2')  # an unterminated string
    analysis = analyze(text)
    assert analysis.prompt is None
    places = example_places(analysis)
    assert [(p.id, p.certain) for p in places] == [("一 😀", True)]
    numbered = analyze(text.replace('id = "一 😀"\n', ""))  # a table with no id before the broken one
    assert [(p.id, p.certain) for p in example_places(numbered)] == [("#1", False)]
    assert typed(analysis.prompt, places[0]) is None
    assert example_places(analyze("[[examples]\nid = 😀")) == []
