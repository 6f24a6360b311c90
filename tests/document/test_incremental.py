"""Reading a prompt file in pieces (``pieces.py``) gives exactly what reading it whole gives.

An editor's analysis passes the previous version's analysis to ``analyze``, which then re-reads
only the ``[[examples]]`` tables an edit touched. Properties, over example files and random
edits of them (broken TOML, CRLF, emoji, CJK, U+2028, headers typed and deleted, strings opened
and closed): after every edit, ``analyze(text, previous=…)`` equals ``analyze_whole(text)`` —
diagnostics (code, message, span, related), data (with its key order), the typed file, every
node's key and value span, string maps, and the node under any offset — and
``SourceText.edited`` equals ``SourceText``.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlsp.document import SourceText, analysis, pieces
from promptlsp.document.analysis import Analysis, analyze, analyze_whole

SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

HEAD = '''version = 1
task = "Label the review 😀 — 评论"

[prompt]
system = "One word.\u2028Only."
template = """
Product: {{ product }}
[Review]
{{ review }}"""

[[criteria]]
name = "exact"
type = "equals"
'''

TAIL = '''
[optimize]
validation_fraction = 0.2
seed = 3
'''

# as written in a TOML basic string (escapes included)
REVIEWS = ["great 👍", "坏了", r"meh\u2028ok", r"line\nbreak", r'it is \"fine\"', "[not a header]"]


def example(rng: random.Random, i: int) -> str:
    review = rng.choice(REVIEWS)
    product = rng.choice(["kettle", "ランプ", "desk"])
    extra = rng.choice(["", 'split = "validation"\n', 'split = "test"\n', "bogus = 1\n", ""])
    expected = rng.choice(['expected = "positive"\n', 'expected = ["a", "b"]\n', "", "expected = 3\n"])
    layout = rng.randrange(4)
    if layout == 0:
        body = f'vars = {{ review = "{review}", product = "{product}" }}\n'
    elif layout == 1:
        body = f'\n[examples.vars]\nreview = "{review}"\nproduct = "{product}"\n'
    elif layout == 2:
        body = f'vars.review = "{review}"\nvars.product = \'{product}\'\n'
    else:
        body = f'vars = {{ review = """\n{review}\n[x]\n""", product = "{product}" }}\n'
    asserts = ""
    if rng.random() < 0.3:
        asserts = '\n[[examples.assert]]\ntype = "contains"\nvalue = "x"\n'
    return f'\n[[examples]]\nid = "e{i}"\n{extra}{expected}' + (body + asserts if layout != 1 else asserts + body)


def example_file(rng: random.Random, count: int) -> str:
    parts = [HEAD]
    for i in range(count):
        parts.append(example(rng, i))
        if rng.random() < 0.1:
            parts.append('\n[models.task]\nmodel = "openai/gpt-4o-mini"\n')
    parts.append(TAIL if rng.random() < 0.7 else "")
    text = "".join(parts)
    if rng.random() < 0.25:
        text = text.replace("\n", "\r\n")
    return text


SNIPPETS = [
    "x", "é", "😀", "评", "\u2028", " ", "\n", "\r\n", "\r", '"', "'", '"""', "'''", "[", "]", "{", "}", "=", "#",
    ",", ".", "\\", "[[examples]]\n", '\n[[examples]]\nid = "new"\nvars = { review = "r", product = "p" }\n',
    "[examples.vars]\n", "[[examples.assert]]\n", "[optimize]\n", "examples = []\n", 'id = "e0"\n',
    "split = 'validation'\n", "review = 1\n", "{{ nope }}", "{% if %}", "vars.typo = 1\n",
]


@st.composite
def edits(draw):
    """An example file and a list of edits (position fraction, characters removed, inserted)."""
    seed = draw(st.integers(0, 10_000))
    count = draw(st.integers(1, 12))
    steps = draw(st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 12), st.sampled_from(SNIPPETS) | st.text(max_size=3)),
        min_size=1, max_size=8))
    return example_file(random.Random(seed), count), steps


def apply(text: str, step: tuple[float, int, str]) -> str:
    where, removed, inserted = step
    at = int(where * len(text))
    return text[:at] + inserted + text[at + removed:]


def same_analysis(got: Analysis, want: Analysis) -> None:
    assert got.diagnostics == want.diagnostics
    assert got.data == want.data
    if want.data is not None:
        assert list(got.data) == list(want.data)
    assert got.prompt == want.prompt
    assert (got.spans is None) == (want.spans is None)
    if want.spans is None:
        return
    nodes, expected = got.spans.nodes, want.spans.nodes
    assert set(nodes) == set(expected)
    assert len(nodes) == len(expected)
    for path, node in expected.items():
        mine = nodes[path]
        assert (mine.key, mine.value, mine.kind, mine.implicit) == (node.key, node.value, node.kind, node.implicit), path
        assert (mine.string is None) == (node.string is None), path
        if node.string is not None:
            assert mine.string.content == node.string.content
            for i in range(0, node.string.length + 1, max(node.string.length // 5, 1)):
                assert mine.string.source_span(i, node.string.length) == node.string.source_span(i, node.string.length)
    for offset in range(0, len(want.text) + 1, max(len(want.text) // 50, 1)):
        assert got.node_at(offset) == want.node_at(offset), offset


def check_source(got: SourceText, text: str) -> None:
    want = SourceText(text)
    assert (got._line_starts, got._line_ends) == (want._line_starts, want._line_ends)


@SETTINGS
@given(edits())
def test_reading_in_pieces_equals_reading_whole_after_every_edit(case):
    text, steps = case
    current = analyze(text, None, None, Analysis.blank())
    same_analysis(current, analyze_whole(text))
    for step in steps:
        text = apply(text, step)
        current = analyze(text, None, None, current)
        check_source(current.source, text)
        same_analysis(current, analyze_whole(text))


def test_the_example_files_are_read_in_pieces():
    """The generator makes files the pieces path takes (else the property above tests nothing)."""
    taken = 0
    for seed in range(30):
        text = example_file(random.Random(seed), 5)
        taken += analyze(text, None, None, Analysis.blank()).units is not None
    assert taken >= 25


@SETTINGS
@given(st.lists(st.sampled_from(["a", "\r", "\n", "\r\n", "😀", "\u2028", "é"]), max_size=40).map("".join),
       st.integers(0, 40), st.integers(0, 6), st.text(alphabet="b\r\n😀", max_size=4))
def test_an_edited_source_text_equals_a_new_one(text, at, removed, inserted):
    at = min(at, len(text))
    edited = text[:at] + inserted + text[at + removed:]
    check_source(SourceText.edited(SourceText(text), edited), edited)


def readable_file(count: int) -> tuple[str, Analysis]:
    """An example file that reads in pieces, and its first analysis."""
    for seed in range(100):
        text = example_file(random.Random(seed), count)
        first = analyze(text, None, None, Analysis.blank())
        if first.units is not None:
            return text, first
    raise AssertionError("no example file reads in pieces")


def test_an_edit_in_one_example_reads_only_that_example(monkeypatch):
    text, first = readable_file(40)
    assert len(first.units) == 40
    reads = []
    real = pieces._read_unit
    monkeypatch.setattr(pieces, "_read_unit", lambda piece: reads.append(piece) or real(piece))
    at = text.index('id = "e20"')
    edited = text[:at] + 'id = "e20b"' + text[at + len('id = "e20"'):]
    second = analyze(edited, None, None, first)
    # (twice when a "[x]" line in one of its strings was first taken for a header)
    assert reads and all(r.startswith('[[examples]]\nid = "e20b"') for r in reads)
    same_analysis(second, analyze_whole(edited))


def test_a_syntax_error_falls_back_and_the_pieces_are_kept(monkeypatch):
    text, first = readable_file(20)
    at = text.index('id = "e10"')
    broken = text[:at] + 'id = "e10' + text[at + len('id = "e10"'):]
    second = analyze(broken, None, None, first)
    assert second.units is None and any(d.code == "toml-syntax" for d in second.diagnostics)
    same_analysis(second, analyze_whole(broken))
    reads = []
    real = pieces._read_unit
    monkeypatch.setattr(pieces, "_read_unit", lambda piece: reads.append(piece) or real(piece))
    third = analyze(text, None, None, second)  # fixed again: the other examples are not re-read
    assert third.units is not None and len(reads) <= 1
    same_analysis(third, analyze_whole(text))


def test_hover_lookup_uses_an_index_not_a_walk():
    text, _ = readable_file(30)
    whole = analyze_whole(text)
    at = text.index("template")
    node = whole.node_at(at)
    assert node is not None and node.key is not None and node.key.start <= at <= node.key.end
    whole.spans.nodes.clear()  # the index was built on the first lookup: it answers without them
    assert whole.node_at(at) is node


def test_analyze_without_previous_reads_whole():
    text = example_file(random.Random(1), 3)
    assert analysis.analyze(text).units is None
