"""The core of completion, without a server: what the text around the cursor asks for."""

from promptlsp.document.completion import Facts, complete


def _labels(text: str, facts: Facts = Facts()) -> list[str]:
    offset = text.index("|")
    return [c.label for c in complete(text.replace("|", "", 1), offset, facts).candidates]


def test_a_bracket_line_inside_a_multiline_string_is_no_header():
    text = 'task = "t"\n[prompt]\ntemplate = """\n[[examples]]\n{{ |\n"""\n'
    assert _labels(text, Facts(used=frozenset({"review"}))) == ["review"]


def test_keys_of_the_item_under_the_cursor_only():
    text = '[[examples]]\nexpected = "a"\n\n[[examples]]\nid = "2"\n|\n[examples.vars]\nx = 1\n[[examples]]\nsplit = "test"\n'
    labels = _labels(text)
    assert "expected" in labels and "split" in labels and "vars" not in labels and "id" not in labels


def test_inline_assert_item_values():
    assert "icontains" in _labels('[[examples]]\nassert = [{ type = "ic| }]\n')
