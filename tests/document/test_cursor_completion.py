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


def test_braces_typed_at_a_line_end_name_no_variable_from_the_next_line():
    """A template that does not parse yet (``{{ `` just typed at a line end): the names written
    in braces are guessed on their own line only — the next line's first word is no variable."""
    from types import SimpleNamespace

    from promptlsp.document.completion import facts_of

    template = 'Review: {{ review }}\nx {{ \nAnswer with one word.'
    analysis = SimpleNamespace(data={"prompt": {"template": template}, "examples": []}, prompt=None, text="")
    assert facts_of(analysis).used == frozenset({"review"})
