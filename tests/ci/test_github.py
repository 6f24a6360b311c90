"""GitHub Actions annotation lines: escaped as the runner requires, located like the text output."""

from promptlsp.ci import github
from promptlsp.ci.batch import load

from ci_support import TWO, WARNED, evaluated


def test_escaping_follows_the_runner():
    assert github.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_only_on_github_actions():
    assert github.enabled({"GITHUB_ACTIONS": "true"}) and not github.enabled({}) and not github.enabled({"CI": "true"})


def test_check_annotations_carry_file_line_and_code_point_columns(write):
    item = load(write("dir, with:comma/warned.prompt.toml", WARNED), None, "all")
    (line,) = github.diagnostic_lines(item.name, item.analysis)
    head, message = line[2:].split("::", 1)
    command, props = head.split(" ", 1)
    fields = dict(p.split("=", 1) for p in props.split(","))
    assert command == "warning" and fields["file"] == "dir%2C with%3Acomma/warned.prompt.toml"
    text = item.analysis.text
    start = text.index("unused")
    assert fields["line"] == fields["endLine"] == "5"
    assert int(fields["col"]) == start - text.rindex("\n", 0, start)  # code points: the emoji count one each
    assert int(fields["endColumn"]) == int(fields["col"]) + len("unused")
    assert fields["title"] == "promptlsp example-var-unused" and "unused" in message


def test_eval_annotations_one_error_per_failing_example(write):
    items = evaluated([write("two.prompt.toml", TWO)], lambda request: "multi\nline")
    lines = list(github.eval_lines(items))
    assert len(lines) == 3 and all(l.startswith("::error file=two.prompt.toml,line=") for l in lines)
    assert all("\n" not in l for l in lines)


def test_notes_are_not_annotations(write):
    item = load(write("noted.prompt.toml", 'task = "x"\n[prompt]\ntemplate = "hi"\n[[examples]]\nvars = {}\n'), None, "all")
    assert [d.severity for d in item.analysis.diagnostics] == ["information"]
    assert list(github.diagnostic_lines(item.name, item.analysis)) == []
