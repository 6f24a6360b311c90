"""document/variables.py: every jinja2 name placed exactly, whatever the template's text."""

from __future__ import annotations

import pytest

from promptlsp.document.analysis import analyze_whole
from promptlsp.document import variables


def _uses(source: str, name: str) -> list[str]:
    parsed = variables.template_names(source)
    assert parsed is not None
    spots = [(n.start, n.end) for n in parsed.names if n.name == name and n.load]
    assert all(source[s:e] == name for s, e in spots)
    return [f"{s}" for s, _ in spots]


@pytest.mark.parametrize("source, expected", [
    ("{{ review }}", 1),
    ("{# review #}{{ 'review' }}{{ x.review }}{{ f(review=1) }}{% raw %}{{ review }}{% endraw %}", 0),
    ("a\r\nb\rc\n{{- review -}}\r\n{%- if review %}{% endif -%}", 2),
    ("😀日本\r\n{{ review|upper }}{{ review is defined }}{{ [review, review] }}", 4),
    ("{% set y = review %}{% for x in review if review %}{{ loop.index }}{% endfor %}", 3),
])
def test_names_are_placed_on_their_own_text(source: str, expected: int):
    assert len(_uses(source, "review")) == expected


def test_loop_variables_and_sets_are_assigned_not_context():
    parsed = variables.template_names("{% for x in items %}{{ x }}{% endfor %}{% set s = 1 %}{{ s }}")
    assert parsed.assigned >= {"x", "s"} and parsed.context == {"items"}


def test_unparsable_template_has_no_names():
    assert variables.template_names("{{ review ") is None
    assert variables.template_names("{% if a %}") is None


def test_find_maps_uses_through_escapes_and_keys_with_quotes():
    text = ('[prompt]\r\ntemplate = "\\u00e9\\t{{ review }}\\n{{ review }}"\r\n'
            '[[examples]]\r\nvars = { "review" = 1 }\r\n[[examples]]\r\nvars.review = 2\r\n')
    found = variables.find(analyze_whole(text), "review")
    assert [text[o.span.start:o.span.end] for o in found.uses] == ["review", "review"]
    assert [text[o.span.start:o.span.end] for o in found.keys] == ['"review"', "review"]
    assert not found.assigned and not found.columns
    name, occurrence, why = variables.at(analyze_whole(text), found.uses[1].span.start + 2)
    assert (name, why) == ("review", None) and occurrence == found.uses[1]
