"""Templates render in a sandbox with strict undefined variables."""

import pytest

from promptlsp.document.template import TemplateRenderError, check_syntax, render, variable_uses, variables


def test_render_fills_variables_and_keeps_text():
    assert render("Review: {{ review }} 😀\n", {"review": "great"}) == "Review: great 😀\n"


def test_missing_variable_is_an_error_not_an_empty_string():
    with pytest.raises(TemplateRenderError, match="review"):
        render("Review: {{ review }}", {})


def test_the_sandbox_refuses_python_internals():
    with pytest.raises(TemplateRenderError):
        render("{{ x.__class__.__mro__[1].__subclasses__() }}", {"x": "s"})


def test_runtime_errors_are_render_errors():
    with pytest.raises(TemplateRenderError, match="ZeroDivisionError"):
        render("{{ 1 / n }}", {"n": 0})


def test_variables_are_the_undeclared_names_only():
    source = "{% for item in items %}{{ item }} {{ loop.index }}{% endfor %}{% set z = 1 %}{{ z }} {{ range(2) }} {{ tone }}"
    assert variables(source) == {"items", "tone"}


def test_syntax_problem_has_the_line_inside_the_template():
    problem = check_syntax("line one\n{% if x %}\nno end")
    assert problem is not None and problem.line == 2 and "endif" in problem.message  # the unclosed block
    assert check_syntax("{{ ok }}") is None


def test_variable_uses_point_inside_expressions_only():
    source = "tone: {{ tone }} and {% if tone %}x{% endif %}"
    assert [source[a:b] for a, b in variable_uses(source, "tone")] == ["tone", "tone"]
    assert variable_uses(source, "tone")[0][0] == source.index("{{ tone") + 3
