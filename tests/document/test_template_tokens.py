"""jinja2 tokens of a template, classified for highlighting (``document.template_tokens``)."""

from __future__ import annotations

from promptlsp.document.template_tokens import tokens


def _kinds(template: str) -> list[tuple[str, str]]:
    return [(template[start:end], kind) for start, end, kind in tokens(template)]


def test_filters_tests_tags_keywords_attributes_and_literals():
    got = _kinds('{% for row in rows if row.ok %}{{ row.name | default("x", true) ~ 3 }}{% endfor %}')
    assert got == [
        ("{%", "macro"), ("for", "keyword"), ("row", "variable"), ("in", "keyword"), ("rows", "variable"),
        ("if", "keyword"), ("row", "variable"), (".", "operator"), ("ok", "property"), ("%}", "macro"),
        ("{{", "macro"), ("row", "variable"), (".", "operator"), ("name", "property"), ("|", "operator"),
        ("default", "function"), ("(", "operator"), ('"x"', "string"), (",", "operator"), ("true", "keyword"),
        (")", "operator"), ("~", "operator"), ("3", "number"), ("}}", "macro"),
        ("{%", "macro"), ("endfor", "keyword"), ("%}", "macro"),
    ]


def test_whitespace_control_and_crlf_keep_indices_on_the_template():
    template = "a \r\n  {%- if x -%}\r\n b {{ y }}{% endif %}"
    got = _kinds(template)
    assert got[:3] == [("{%-", "macro"), ("if", "keyword"), ("x", "variable")]
    assert ("y", "variable") in got and got[-2] == ("endif", "keyword")


def test_tag_words_outside_tags_are_names():
    assert _kinds("{{ context }}") == [("{{", "macro"), ("context", "variable"), ("}}", "macro")]


def test_a_half_typed_template_gives_the_tokens_before_the_break():
    assert _kinds("{{ word | up") == [("{{", "macro"), ("word", "variable"), ("|", "operator"), ("up", "function")]
    assert _kinds('{{ "unclosed }}') == [("{{", "macro")]
