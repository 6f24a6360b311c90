"""Exact spans of keys and values, including offsets inside strings."""

import tomlkit

from promptlsp.document.spans import scan

DOC = (
    '# header comment\r\n'
    'task = "décor \\u00e9 \\U0001F600 end"\r\n'
    '[prompt]\r\n'
    'template = """\r\n'
    'Review 😀: {{ review }}\\\r\n'
    '    joined "quoted" ""twice"" """\r\n'
    "system = '''\r\n"
    "literal 中文 {{ tone }}'''\r\n"
    '[[examples]]\r\n'
    'vars = { review = "good", tags = ["a", { k = 1 }] }\r\n'
    '[[examples]]\r\n'
    'vars.review = "bad"  # dotted\r\n'
    '[models.task]\r\n'
    'model = "m"\r\n'
)


def text_of(span):
    return DOC[span.start:span.end]


def test_every_tomlkit_string_maps_back_exactly():
    data = tomlkit.parse(DOC).unwrap()
    nodes = scan(DOC).nodes
    for path in [("task",), ("prompt", "template"), ("prompt", "system"), ("examples", 0, "vars", "review")]:
        value = data
        for part in path:
            value = value[part]
        smap = nodes[path].string
        assert smap.length == len(value), path
        for i, ch in enumerate(value):
            src = DOC[smap.source_offset(i):]
            # an unescaped character is itself at its offset; an escaped one starts with a backslash
            assert src.startswith(ch) or src.startswith("\\"), (path, i, ch)


def test_words_inside_a_multiline_template_map_to_their_source():
    data = tomlkit.parse(DOC).unwrap()
    node = scan(DOC).nodes[("prompt", "template")]
    value = data["prompt"]["template"]
    for word in ("Review 😀", "{{ review }}", "joined", '""twice""'):
        i = value.index(word)
        assert text_of(node.string.source_span(i, i + len(word))) == word


def test_escapes_map_to_their_escape_sequences():
    node = scan(DOC).nodes[("task",)]
    value = tomlkit.parse(DOC)["task"]
    i = value.index("é", 3)  # the escaped one, not the literal in "décor"
    assert text_of(node.string.source_span(i, i + 1)) == "\\u00e9"
    j = value.index("😀")
    assert text_of(node.string.source_span(j, j + 1)) == "\\U0001F600"


def test_keys_tables_and_arrays_of_tables():
    nodes = scan(DOC).nodes
    assert text_of(nodes[("prompt",)].key) == "[prompt]"
    assert text_of(nodes[("examples", 1)].key) == "[[examples]]"
    assert text_of(nodes[("examples", 1, "vars", "review")].value) == '"bad"'
    assert text_of(nodes[("examples", 1, "vars", "review")].key) == "review"
    assert text_of(nodes[("examples", 0, "vars", "tags", 1, "k")].value) == "1"
    assert text_of(nodes[("models", "task", "model")].value) == '"m"'
    assert text_of(nodes[("models", "task")].key) == "[models.task]"
    # a table spans its header and its body
    assert text_of(nodes[("examples", 1)].value).startswith("[[examples]]\r\nvars.review")


def test_duplicate_keys_are_found_with_both_places():
    text = 'a = 1\n[t]\nb = 2\nb = 3\n'
    dups = scan(text).duplicates
    assert len(dups) == 1
    path, second, first = dups[0]
    assert path == ("t", "b")
    assert text[second.start:second.end] == "b" and second.start == text.rindex("b =")
    assert first.start == text.index("b =")


def test_node_at_finds_the_innermost_key_or_value():
    from promptlsp.document import analyze

    text = '[prompt]\ntemplate = "Hi {{ name }}"\n[[examples]]\nvars = { name = "Ann" }\n'
    analysis = analyze(text)
    assert analysis.node_at(text.index("Ann")).path == ("examples", 0, "vars", "name")
    assert analysis.node_at(text.index("emplate")).path == ("prompt", "template")
    assert analysis.node_at(text.index("[[examples")).path == ("examples", 0)
