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


# -- finding variables parses only; deep or huge templates are problems, not crashes ------------

ORDINARY = [
    "Review: {{ review }}",
    "{% for item in items %}{{ item }} {{ loop.index }}{% endfor %}{% set z = 1 %}{{ z }} {{ tone }}",
    "{{ x }}{% set x = 1 %}",
    "{% set x = 1 %}{{ x }}",
    "{% if c %}{% set x = 1 %}{% endif %}{{ x }}",
    "{% if c %}{% set x = 1 %}{% else %}{% set x = 2 %}{% endif %}{{ x }}",
    "{% if a %}{{ b }}{% elif c %}{% set d = 1 %}{{ d }}{% else %}{{ e }}{% endif %}",
    "{% for i in a %}{{ y }}{% endfor %}{% set y = 1 %}",
    "{% macro m(a, b=c) %}{{ a }}{{ b }}{{ d }}{{ caller() }}{{ kwargs }}{% endmacro %}{{ m(1) }}",
    "{% call m(x) %}{{ y }}{% endcall %}",
    "{% with a = b %}{{ a }}{{ c }}{% endwith %}{{ a }}",
    "{% filter upper %}{{ x }}{% endfilter %}",
    "{% set s %}{{ x }}{% endset %}{{ s }}",
    "{% set x | upper %}{{ y }}{% endset %}",
    "{% for x in y if x > z %}{{ x }}{% else %}{{ w }}{{ loop }}{% endfor %}",
    "{% for a, b in pairs %}{{ a }}{{ b }}{{ c }}{% endfor %}",
    "{% set ns = namespace(t=0) %}{% for x in xs %}{% set ns.t = ns.t + x %}{% endfor %}{{ ns.t }}",
    "{% block b %}{{ x }}{{ super() }}{% set q = 1 %}{{ q }}{% endblock %}{% set x = 1 %}",
    "{% import 'f' as f %}{{ f.x }}{% from 'g' import a, b as c %}{{ a }}{{ c }}{{ d }}",
    "{% include tpl %}",
    "{{ a if b else c }} {{ d|default(e) }} {{ f is divisibleby g }} {{ h[i:j] }} {{ {'k': l} }} {{ m.n }}",
    "{% autoescape true %}{{ x }}{% set y = 1 %}{% endautoescape %}{{ y }}",
    "{% for i in x %}{% for j in i %}{{ j }}{{ loop.index }}{{ k }}{% endfor %}{% set m = 1 %}{% endfor %}{{ m }}",
    "{% set a, b = t %}{{ a }}{{ b }}",
    "{% for x in range(3) recursive %}{{ loop(x) }}{% endfor %}",
    "{% with %}{% set a = 1 %}{{ a }}{% endwith %}{{ a }}",
    "{% if x %}{% for i in y %}{{ z }}{% endfor %}{% set z = 1 %}{% endif %}",
    "{% raw %}{{ not_a_variable }}{% endraw %}{{ real }}",
    "Product: {{ product }}\n{% if stars is defined and stars < 3 %}Unhappy: {{ review | trim }}{% endif %}\n",
]


@pytest.mark.parametrize("source", ORDINARY)
def test_variables_agree_with_jinja2s_own_analysis(source):
    from jinja2 import meta

    from promptlsp.document.template import BUILTIN_NAMES, _ENV

    assert variables(source) == meta.find_undeclared_variables(_ENV.parse(source)) - BUILTIN_NAMES


def _in_child(code: str, timeout: float = 60) -> str:
    """Run ``code`` in a fresh interpreter (a hang guard, not a timing test)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_finding_variables_never_evaluates_the_template():
    # Compiling folds constants: these took 120+ s, 8.9 s / 2.9 GB and 22 s / 1 GB.
    out = _in_child(
        "from promptlsp.document.template import variables, check_syntax\n"
        "for s in ['{{ 7**(7**9) }} {{ x }}', \"{{ 'a' * 10**9 }}{{ y }}\", '{{ [0] * 10**8 }}{{ z }}']:\n"
        "    assert check_syntax(s) is None\n"
        "    print(sorted(variables(s)))\n"
    )
    assert out.split("\n")[:3] == ["['x']", "['y']", "['z']"]


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{% if x %}\n" * 500 + "{% endif %}" * 500, "block tags nested more than"),
        ("{{ " + "(" * 500 + "x" + ")" * 500 + " }}", "brackets nested more than"),
        ("{{ " + "f(" * 500 + "x" + ")" * 500 + " }}", "brackets nested more than"),
        ("{{ " + "not " * 3000 + "x }}", "nested too deeply"),
        ("{{ a }}\n" * 3000, "too large"),
        ("{{ " + " + ".join(["a"] * 30000) + " }}", "too large"),
    ],
    ids=["500-ifs", "500-parens", "500-calls", "3000-nots", "3000-tags", "huge-expression"],
)
def test_deep_or_huge_templates_are_problems_not_crashes(source, words):
    problem = check_syntax(source)
    assert problem is not None and words in problem.message
    assert variables(source) == frozenset()


def test_the_nesting_problem_names_the_line_where_it_gets_too_deep():
    problem = check_syntax("text\n" + "{% for a in b %}\n" * 60 + "{% endfor %}" * 60)
    assert problem is not None and problem.line == 52  # the 51st nested tag


def test_variable_uses_is_linear_on_unclosed_tags():
    out = _in_child(
        "from promptlsp.document.template import variable_uses\n"
        "source = '{{ ' * 200000 + '{% x %}'\n"
        "print([source[a:b] for a, b in variable_uses(source, 'x')])\n"
    )
    assert out.strip() == "['x']"


def test_an_unclosed_raw_block_at_the_start_is_a_problem_not_an_exception():
    # found by bench/fuzz.py: jinja2's Parser lexes the first token in its constructor
    from promptlsp.document.template import check_syntax, variables

    problem = check_syntax("{% raw %}{{ review }}")
    assert problem is not None and "raw" in problem.message and problem.line == 1
    assert variables("{% raw %}{{ review }}") == frozenset()
