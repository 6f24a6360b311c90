"""Property-based tests of the document layer: ``source.py``, ``spans.py`` and ``analyze``.

Three kinds of input go through :func:`promptlsp.document.analyze`:

(a) arbitrary text: TOML-ish tokens mixed with emoji, CJK, ``\\r\\n``, lone ``\\r``, NUL and any
    non-surrogate code point;
(b) prompt files generated from a data model and serialised with random but legal TOML
    choices (header tables in any order, arrays of tables, inline tables, dotted keys, the four
    string kinds with escapes, CRLF, line-ending backslashes, comments, blank lines), and
    mutations of them; about half are valid prompt files, the rest also carry schema errors,
    broken templates and [[datasets]] entries naming files of a temporary workspace (or odd
    paths); plus JSONL datasets written by json.dumps;
(c) the example files in ``prompts-spec/examples/``, as they are and mutated (skipped while
    there are none).

Properties: ``analyze`` never raises and never hides an internal error (neither the catch-all
diagnostic nor an ERROR log record); every diagnostic and related span lies in the text; every
span endpoint survives offset → position → offset in all three encodings (and ``SourceText``
matches an independent oracle on every offset of arbitrary text). Whenever tomlkit accepts the
text, the span scanner must agree with it: a node for every value tomlkit found (and no node
tomlkit does not know), each inline value's source text parses back to tomlkit's value, each key
span spells its key, and each string's decoded index → source offset map decodes to exactly
tomlkit's string (escapes, CRLF, line-ending backslashes); diagnostics about a named key
underline that key, template-syntax ones the line jinja2 reports. ``spans.scan`` raises nothing
but ``ScanError`` on any text; every JSONL row comes back with its variables and line number.

Bugs these properties found have a minimal regression test at the end of the file.

Runs are derandomized (no example database), so a failure reproduces in CI and locally.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from pathlib import Path
from typing import Any, Callable

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlsp.document import Position, SourceText, Span, analyze
from promptlsp.document import datasets, template
from promptlsp.document.analysis import Analysis
from promptlsp.document.spans import Node, ScanError, scan

REPO = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO / "prompts-spec" / "examples"
ENCODINGS = ("utf-16", "utf-8", "utf-32")
INTERNAL_ERROR = "promptlsp could not analyse this file"


def _settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,  # shared, noisy machines
        derandomize=True,  # reproducible in CI: the same examples on every run
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


# =============================================================================================
# Oracles
# =============================================================================================

def _utf16_units(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


_UNITS: dict[str, Callable[[str], int]] = {
    "utf-16": _utf16_units,
    "utf-8": lambda s: len(s.encode("utf-8")),
    "utf-32": len,
}


def _inside_crlf(text: str, offset: int) -> bool:
    return 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n"


def check_round_trip(source: SourceText, offset: int) -> None:
    """offset → position → offset is the identity (an offset between the \\r and \\n of a CRLF
    is not an editor position: it maps to the end of its line, as source.py documents)."""
    want = offset - 1 if _inside_crlf(source.text, offset) else offset
    for encoding in ENCODINGS:
        position = source.position(offset, encoding)
        back = source.offset(position, encoding)
        assert back == want, (offset, encoding, position, back)


def check_span(source: SourceText, span: Any, what: str) -> None:
    assert 0 <= span.start <= span.end <= len(source.text), f"{what}: {span} outside 0..{len(source.text)}"
    check_round_trip(source, span.start)
    check_round_trip(source, span.end)


def check_analysis(analysis: Analysis) -> None:
    """The properties every analysis must have, whatever the input."""
    source = analysis.source
    assert source.text == analysis.text
    for d in analysis.diagnostics:
        assert not d.message.startswith(INTERNAL_ERROR), "analyze() caught an internal error (see the log)"
        check_span(source, d.span, f"{d.code} diagnostic {d.message!r}")
        for related in d.related:
            if related.span is not None:
                check_span(source, related.span, f"related of {d.code}")
    if analysis.spans is not None:
        for path, node in analysis.spans.nodes.items():
            check_span(source, node.value, f"value span of {path}")
            if node.key is not None:
                check_span(source, node.key, f"key span of {path}")
            if node.string is not None:
                check_span(source, node.string.content, f"string content of {path}")
    if analysis.data is not None:
        check_agreement(analysis)
        check_template_diagnostics(analysis)
        check_key_diagnostics(analysis)


# -- the scanner agrees with tomlkit -------------------------------------------------------

_MISSING = object()


def _walk(value: Any, path: tuple = ()):
    """Every (path, value) below the root of tomlkit's plain data."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield path + (key,), child
        yield from _walk(child, path + (key,))


def _lookup(data: Any, path: tuple) -> Any:
    for key in path:
        if isinstance(data, dict) and isinstance(key, str) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return _MISSING
    return data


def _same(a: Any, b: Any) -> bool:
    """Equality that treats nan as equal to nan and tells 1 from 1.0 from True."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


_KINDS = {str: ("string",), dict: ("table", "inline-table"), list: ("array", "array-of-tables")}
_INLINE_KINDS = ("string", "scalar", "array", "inline-table")
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _header_last_key(header: str) -> str:
    """The last key of a ``[a.b]`` / ``[[a.b]]`` header, as tomlkit reads it."""
    data: Any = tomlkit.parse(header + "\n").unwrap()
    key = None
    while True:
        if isinstance(data, list):
            data = data[-1]
        if not isinstance(data, dict) or len(data) != 1:
            return key
        key, data = next(iter(data.items()))


def _key_at(text: str, span: Any) -> str:
    """The key a key span spells: a bare or quoted key, or the last key of a table header."""
    spelled = text[span.start:span.end]
    if spelled.startswith("["):
        return _header_last_key(spelled)
    return spelled if _BARE.fullmatch(spelled) else tomlkit.value(spelled).unwrap()


def check_key(text: str, node: Node) -> None:
    if text.startswith("[", node.key.start):  # a table header; an [[array]] element's path ends in its index
        assert node.kind in ("table", "array-of-tables"), (node.path, node.kind)
        name = node.path[-2] if isinstance(node.path[-1], int) else node.path[-1]
    else:
        name = node.path[-1]
        assert isinstance(name, str), f"{node.path}: an array element has a key span"
    assert _key_at(text, node.key) == name, (node.path, text[node.key.start:node.key.end])


_NAMES_A_KEY = ("unknown key '", "variable '")  # diagnostics placed on the key they name


def check_key_diagnostics(analysis: Analysis) -> None:
    """A diagnostic about an unknown key or an unused variable underlines that key."""
    for d in analysis.diagnostics:
        if d.message.startswith(_NAMES_A_KEY):
            prefix = next(p for p in _NAMES_A_KEY if d.message.startswith(p))
            key = _key_at(analysis.text, d.span)
            assert d.message.startswith(f"{prefix}{key}' "), (d, analysis.text[d.span.start:d.span.end])


_SIMPLE = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\", "e": "\x1b"}
_HEX = {"x": 2, "u": 4, "U": 8}
_CONTINUATION = re.compile(r"(?:\\[ \t]*\r?\n[ \t\r\n]*)*")


def _source_char(text: str, offset: int, basic: bool) -> tuple[str, int]:
    """The decoded character whose source starts at ``offset`` and the source's length."""
    ch = text[offset]
    if not basic or ch != "\\":
        return ch, 1
    letter = text[offset + 1]
    if letter in _SIMPLE:
        return _SIMPLE[letter], 2
    width = _HEX[letter]
    return chr(int(text[offset + 2:offset + 2 + width], 16)), 2 + width


def check_string_map(text: str, node: Node, value: str) -> None:
    smap = node.string
    assert node.kind == "string" and smap is not None, (node.path, node.kind)
    assert smap.length == len(value), (node.path, smap.length, value)
    assert node.value.start < smap.content.start <= smap.first <= smap.content.end < node.value.end, (node.path, smap)
    basic = text[node.value.start] == '"'
    multiline = text.startswith(('"""', "'''"), node.value.start)
    offsets = [smap.source_offset(i) for i in range(len(value) + 1)]
    assert offsets[-1] == smap.content.end, (node.path, offsets[-1], smap.content)
    gaps = [(smap.first, offsets[0])]
    widths = []
    for i, want in enumerate(value):
        at = offsets[i]
        assert at < offsets[i + 1], (node.path, i, offsets)
        got, width = _source_char(text, at, basic)
        assert got == want, f"{node.path}: decoded index {i} maps to {text[at:at + width]!r} at {at}, value has {want!r}"
        widths.append(width)
        gaps.append((at + width, offsets[i + 1]))
    for start, end in gaps:  # only line-ending backslashes may sit between characters
        gap = text[start:end]
        assert start <= end and (gap == "" or (basic and multiline and _CONTINUATION.fullmatch(gap))), (node.path, gap)
    # source_span covers exactly the characters' own source text (escapes whole)
    for i in range(len(value) + 1):
        assert smap.source_span(i, i) == Span(offsets[i], offsets[i]), (node.path, i)
        if i < len(value):
            for j in (i + 1, len(value)):
                want = Span(offsets[i], offsets[j - 1] + widths[j - 1])
                assert smap.source_span(i, j) == want, (node.path, i, j, smap.source_span(i, j), want)


def check_agreement(analysis: Analysis) -> None:
    """For text tomlkit accepted: the scanner's nodes and tomlkit's data describe the same tree."""
    text, data = analysis.text, analysis.data
    assert analysis.spans is not None, "the span scanner raised ScanError on TOML that tomlkit accepts"
    nodes = analysis.spans.nodes
    for path, value in _walk(data):
        node = nodes.get(path)
        assert node is not None, f"no span for {path} = {value!r}"
        assert node.kind in _KINDS.get(type(value), ("scalar",)), (path, node.kind, value)
    for path, node in nodes.items():
        value = _lookup(data, path)
        assert value is not _MISSING, f"node {path} ({node.kind}) is not in tomlkit's data"
        if node.kind in _INLINE_KINDS:  # the value's own source text parses to tomlkit's value
            source = text[node.value.start:node.value.end]
            assert _same(tomlkit.value(source).unwrap(), value), (path, source, value)
        if node.key is not None:
            check_key(text, node)
        if isinstance(value, str):
            check_string_map(text, node, value)


_JINJA_NEWLINE = re.compile(r"\r\n|\r|\n")  # what jinja2 counts lines by


def check_template_diagnostics(analysis: Analysis) -> None:
    """A template-syntax diagnostic underlines (part of) the line jinja2 reports, or the whole
    string when that line is blank."""
    for d in analysis.diagnostics:
        if d.code != "template-syntax":
            continue
        key = d.message.split(" line ", 1)[0]
        source = analysis.data["prompt"][key]
        node = analysis.node(("prompt", key))
        problem = template.check_syntax(source)
        assert problem is not None and node is not None and node.string is not None, d
        starts = [0] + [m.end() for m in _JINJA_NEWLINE.finditer(source)]
        ends = [m.start() for m in _JINJA_NEWLINE.finditer(source)] + [len(source)]
        line = min(problem.line, len(starts)) - 1
        line_span = node.string.source_span(starts[line], ends[line])
        inside = line_span.start <= d.span.start <= d.span.end <= line_span.end and len(d.span) > 0
        assert inside or d.span == node.value, (d, line_span, source)


class _ErrorLog(logging.Handler):
    """Collects the ERROR records promptlsp logs (analyze() logs the internal errors it hides)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def run(text: str, path: Path | None = None, root: Path | None = None) -> Analysis:
    errors, logger = _ErrorLog(), logging.getLogger("promptlsp")
    logger.addHandler(errors)
    try:
        analysis = analyze(text, path, root)
    finally:
        logger.removeHandler(errors)
    assert not errors.records, [errors.format(r) for r in errors.records]
    check_analysis(analysis)
    return analysis


# =============================================================================================
# (a) arbitrary text
# =============================================================================================

_TOKENS = [
    "\r\n", "\r", "\n", "\x00", "\t", " ", "😀", "\U0001F600", "漢字", "é", "e\u0301", "\u2028", "\x85", "\ufeff",
    '"', "'", '"""', "'''", "\\", "\\u00e9", "\\U0001F600", "\\n", "[", "]", "[[", "]]", "{", "}", "=", ",", ".", "#",
    "{{ x }}", "{%", "%}", "a = ", "key = ", "1979-05-27", "1_000", "inf", "true",
    "[prompt]\n", "[[examples]]\n", "template = ", "task = ", "vars.x = ", "version = 1\n",
]
arbitrary_text = st.lists(
    st.one_of(st.sampled_from(_TOKENS), st.text(st.characters(exclude_categories=("Cs",)), max_size=6)),
    max_size=40,
).map("".join)


@_settings(300)
@given(arbitrary_text)
def test_source_positions_against_an_independent_oracle(text: str) -> None:
    source = SourceText(text)
    breaks = [(m.start(), m.end()) for m in re.finditer(r"\r\n|\r|\n", text)]  # LSP line breaks
    lines = re.split(r"\r\n|\r|\n", text)
    assert source.line_count == len(lines)
    for offset in range(len(text) + 1):
        line = sum(1 for _, end in breaks if end <= offset)
        start = breaks[line - 1][1] if line else 0
        content_end = breaks[line][0] if line < len(breaks) else len(text)
        end = min(offset, content_end)  # inside a CRLF: the line's end
        for encoding in ENCODINGS:
            position = source.position(offset, encoding)
            assert position == Position(line, _UNITS[encoding](text[start:end])), (offset, encoding)
        check_round_trip(source, offset)
    # a character inside a code point, or past the end of a line, rounds down / clamps
    for number, content in enumerate(lines):
        for encoding in ENCODINGS:
            total = _UNITS[encoding](content)
            previous = -1
            for character in range(total + 3):
                got = source.offset(Position(number, character), encoding)
                assert previous <= got <= source.line_span(number).end
                assert source.position(got, encoding).character <= character
                previous = got


@_settings(300)
@given(arbitrary_text)
def test_analyze_arbitrary_text(text: str) -> None:
    run(text)


# =============================================================================================
# (b) generated prompt files
# =============================================================================================

PROMPT_NAME = "gen.prompt.toml"  # generated files are analysed as workspace/gen.prompt.toml
DATASET_PATHS = [
    "data.jsonl", "data.csv", "empty.jsonl", "sub/rows.jsonl", "sub/../data.jsonl", "missing.jsonl",
    "../outside.jsonl", "sub", "data.txt", "/etc/hostname", "nul\x00.jsonl",
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A workspace root with the dataset files DATASET_PATHS name (and one just outside it)."""
    base = tmp_path_factory.mktemp("properties")
    root = base / "root"
    (root / "sub").mkdir(parents=True)
    (base / "outside.jsonl").write_text('{"q": "never read"}\n', encoding="utf-8")
    (root / "data.jsonl").write_text(
        '{"q": "caf\\u00e9 \\ud83d\\ude00 😀", "expected": "a"}\n\n{"vars": {"q": "x"}, "split": "validation"}\r\n'
        '{oops\n[1, 2]\n{"q": "y", "assert": [{"type": "contains", "value": "y"}]}\n',
        encoding="utf-8",
    )
    (root / "data.csv").write_text('q,expected\r\nhello,world\r\n"multi\nline","x"\r\nshort\r\n', encoding="utf-8")
    (root / "empty.jsonl").write_text("", encoding="utf-8")
    (root / "sub" / "rows.jsonl").write_text('\ufeff{"q": "\u6f22\u5b57"}\n', encoding="utf-8")
    (root / "data.txt").write_text("q\n", encoding="utf-8")
    return root


class Raw(str):
    """A non-string TOML value, kept as the source text it is written with."""


_IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
_STRING_TOKENS = [
    "a", "b", "x", " ", "  ", "\t", "\n", "\r\n", "\r", '"', "'", "\\", "{", "}", "%", "#", "=", ".", ",", "[", "]",
    "é", "😀", "漢", "字", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "{{", "}}", '"""', "'''", "\\n", "\\u00e9",
]
strings = st.lists(
    st.one_of(st.sampled_from(_STRING_TOKENS), st.characters(exclude_categories=("Cs",))), max_size=12
).map("".join)
keys = st.one_of(
    _IDENT, _IDENT, st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True),
    st.sampled_from(["", "a.b", "a b", "é", "😀", "漢字", '"', "'", "\\", "#", "1.5", "true", "x\ty", "=", "[x]"]),
    strings.filter(lambda s: "\n" not in s and "\r" not in s),
)


@st.composite
def integers(draw) -> Raw:
    n = draw(st.integers(-(10 ** 12), 10 ** 12))
    style = draw(st.sampled_from(["dec", "dec", "sep", "plus", "hex", "oct", "bin"]))
    if style in ("hex", "oct", "bin") and n >= 0:
        prefix, digits = {"hex": ("0x", f"{n:x}"), "oct": ("0o", f"{n:o}"), "bin": ("0b", f"{n:b}")}[style]
        if style == "hex" and draw(st.booleans()):
            digits = digits.upper()
        return Raw(prefix + digits)
    if style == "sep" and abs(n) >= 1000:
        return Raw(f"{n:_}")
    if style == "plus" and n > 0:
        return Raw(f"+{n}")
    return Raw(str(n))


floats = st.one_of(
    st.sampled_from(["inf", "+inf", "-inf", "nan", "+nan", "-nan", "-0.0", "0e0", "1E6", "6.626e-34", "5e+22", "1_000.5"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
).map(Raw)


@st.composite
def datetimes(draw) -> Raw:
    moment = draw(st.datetimes())
    date = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    time = f"{moment.hour:02d}:{moment.minute:02d}"
    if draw(st.booleans()):
        time += f":{moment.second:02d}"
        if draw(st.booleans()):
            time += f".{moment.microsecond:06d}"[: draw(st.integers(2, 7))]
    kind = draw(st.sampled_from(["offset", "local", "date", "time"]))
    if kind == "date":
        return Raw(date)
    if kind == "time":
        return Raw(time)
    joined = date + draw(st.sampled_from(["T", "t", " "])) + time
    if kind == "offset":
        joined += draw(st.sampled_from(["Z", "z", "+05:30", "-07:00", "+00:00"]))
    return Raw(joined)


scalars = st.one_of(strings, strings, integers(), floats, datetimes(), st.sampled_from([Raw("true"), Raw("false")]))
toml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
        st.lists(st.dictionaries(keys, inner, max_size=3), min_size=1, max_size=3),  # array of tables
    ),
    max_leaves=12,
)

_TEXT_ASSERTIONS = ["equals", "contains", "icontains", "starts-with", "not-equals", "not-contains", "not-starts-with"]
_LIST_ASSERTIONS = ["contains-any", "contains-all", "not-contains-any"]
_JSON_ASSERTIONS = ["json-schema", "is-json", "contains-json", "not-is-json"]
_ASSERTION_TYPES = _TEXT_ASSERTIONS + _LIST_ASSERTIONS + _JSON_ASSERTIONS + ["regex", "not-regex", "llm-rubric"]
texts = strings.filter(bool)  # a non-empty string


class Drawer:
    """Draws the parts of a prompt file. ``sloppy`` files also get wrong and unknown bits
    (schema errors, broken templates, missing variables); tidy ones — the shrink target —
    are valid prompt files."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.sloppy = draw(st.booleans())

    def pick(self, good: list, bad: list = ()) -> Any:
        return self.draw(st.sampled_from(good + list(bad) if self.sloppy else good))

    def maybe(self, make: Any, p: int = 2, required: bool = False) -> Any:
        """A value from ``make`` (a strategy or a thunk) with probability (p-1)/p, else the
        marker that leaves the key out (the simplest choice). Required keys are left out of
        sloppy files only."""
        if (not required or self.sloppy) and self.draw(st.integers(0, p - 1)) == 0:
            return _MISSING
        return self.draw(make) if isinstance(make, st.SearchStrategy) else make()

    def text(self) -> str:
        return self.draw(strings if self.sloppy else texts)

    def template(self, names: list[str]) -> str:
        parts = []
        for _ in range(self.draw(st.integers(0, 5))):
            piece = self.pick(["text", "var", "if"], ["var", "broken"])
            if piece == "text":
                parts.append(self.draw(strings).replace("{", "(").replace("}", ")").replace("%", "pct"))
            elif piece == "var" and names:
                parts.append("{{" + self.pick(["", " ", "  "]) + self.pick(names) + " }}")
            elif piece == "if" and names:
                parts.append("{% if " + self.pick(names) + " %}\nyes\n{% endif %}")
            elif piece in ("var", "broken"):
                parts.append(self.pick(["{{ x", "{% endif %}", "{{ }}", "{% for %}", "\n\n  {{ 1 +  }}", "{{ undefined }}"]))
        joined = self.pick(["", "\n", "\r\n", "\n\n"]).join(parts)
        return joined or ("" if self.sloppy and self.draw(st.booleans()) else "Answer.")

    def assertion(self) -> dict:
        kind = self.pick(_ASSERTION_TYPES, ["contains-al", "llm-rubric", "regex"])  # a typo; required keys left out
        item: dict[str, Any] = {
            "type": kind, "name": self.maybe(strings, 3), "weight": self.maybe(self.scalar(["1", "0.5", "2.0"], ["-1"]), 3),
        }
        if kind in _TEXT_ASSERTIONS:
            item["value"] = self.maybe(st.one_of(strings, st.lists(strings, min_size=1, max_size=2)))
        elif kind in _LIST_ASSERTIONS:
            item["value"] = self.maybe(st.lists(strings, min_size=1, max_size=3))
        elif kind in _JSON_ASSERTIONS:
            item["value"] = self.maybe(st.just({"type": "object", "required": ["answer"]}), required=kind == "json-schema")
        elif kind in ("regex", "not-regex"):
            item["value"] = self.maybe(texts, required=True)
        elif kind == "llm-rubric":
            item["rubric"] = self.maybe(texts, required=True)
            item["threshold"] = self.maybe(self.scalar(["0.5", "1.0"], ["1.5"]), 3)
        if self.sloppy and self.draw(st.integers(0, 5)) == 5:
            item["value"] = self.draw(toml_values)
        return item

    def scalar(self, good: list[str], bad: list[str] = ()) -> st.SearchStrategy:
        return st.sampled_from(good + list(bad) if self.sloppy else good).map(Raw)

    def example(self, names: list[str]) -> dict:
        used = self.draw(st.lists(st.sampled_from(names), unique=True)) if names and self.sloppy else names
        example: dict[str, Any] = {
            "id": self.maybe(self.text, 3),
            "vars": {name: self.draw(st.one_of(strings, strings, toml_values)) for name in used},
            "expected": self.maybe(
                st.one_of(strings, st.lists(strings, max_size=2)) if self.sloppy
                else st.one_of(texts, st.lists(texts, min_size=1, max_size=2)),
                required=True,
            ),
            "split": self.maybe(st.sampled_from(["train", "validation", "test"] + (["dev"] if self.sloppy else [])), 3),
            "assert": self.maybe(lambda: [self.assertion() for _ in range(self.draw(st.integers(1, 2)))], 4),
        }
        if self.sloppy and self.draw(st.integers(0, 4)) == 4:
            example["vars"].update(self.draw(st.dictionaries(keys, toml_values, max_size=2)))
        return example


@st.composite
def prompt_docs(draw) -> dict:
    """A prompt file's data in the contract's shape; see :class:`Drawer`."""
    d = Drawer(draw)
    names = draw(st.lists(_IDENT, max_size=3, unique=True))
    doc: dict[str, Any] = {
        "$schema": d.maybe(st.just("../prompt.schema.json"), 4),
        "version": d.maybe(d.scalar(["1"], ["2", '"1"'])),
        "name": d.maybe(d.text),
        "task": d.maybe(d.text, 8, required=True),
        "prompt": d.maybe(lambda: {
            "system": d.maybe(lambda: d.template(names)),
            "template": d.maybe(lambda: d.template(names), 8, required=True),
        }, 10, required=True),
        "models": d.maybe(lambda: {"task": {
            "model": d.pick(["openai/gpt-4o-mini", "local/qwen2.5-coder-0.5b"], [""]),
            "temperature": d.maybe(d.scalar(["0", "0.7"], ["3.5"])),
            "api_key_env": d.maybe(st.just(d.pick(["OPENAI_API_KEY"], ["sk-not-a-name"])), 3),
        }}),
        "criteria": d.maybe(lambda: [d.assertion() for _ in range(draw(st.integers(0, 2)))]),
        "optimize": d.maybe(lambda: {
            "validation_fraction": d.maybe(d.scalar(["0.2", "0.0"], ["1.5"])),
            "seed": d.maybe(integers()),
            "targets": d.maybe(st.lists(
                st.sampled_from(["template", "system"] + (["other"] if d.sloppy else [])),
                min_size=1, max_size=2, unique=not d.sloppy,
            ), 3),
            "budget": d.maybe(lambda: {"max_calls": Raw("10"), "max_usd": d.maybe(d.scalar(["0.5", "1e2"], ["-1.0", "nan"]))}),
        }),
    }
    examples = [d.example(names) for _ in range(draw(st.integers(0 if d.sloppy else 1, 4)))]
    doc["examples"] = examples if examples else _MISSING
    if d.sloppy and draw(st.integers(0, 2)) == 2:  # files of the workspace fixture, and odd paths
        doc["datasets"] = [{
            "path": draw(st.one_of(st.sampled_from(DATASET_PATHS), strings)),
            "format": d.maybe(st.sampled_from(["jsonl", "csv", "xml"]), 3),
            "split": d.maybe(st.sampled_from(["train", "validation", "test", "dev"]), 3),
        } for _ in range(draw(st.integers(1, 2)))]
    if d.sloppy and draw(st.integers(0, 3)) == 3:  # unknown keys with arbitrary TOML
        for key, value in draw(st.dictionaries(keys, toml_values, max_size=2)).items():
            doc.setdefault(key, value)
    return _prune(doc)


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not _MISSING}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


# -- serialisation with random legal TOML choices -----------------------------------------

_MUST_ESCAPE = {chr(c) for c in range(0x20) if c != 0x09} | {"\x7f"}
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\", "\x1b": "\\e"}
_COMMENT_CHARS = [c for c in _STRING_TOKENS + ["\x80", "\U0010FFFD", "\uFFFF", "\ud7ff"] if not set(c) & _MUST_ESCAPE]


class Renderer:
    """Writes a data tree as TOML text with random but legal formatting.

    The data tree comes from hypothesis and shrinks well; the many small formatting choices
    (thousands per file) come from a seeded ``random.Random``, since a hypothesis draw for each
    would cost most of the time budget. ``plain`` (the shrink target) makes every choice the
    simplest one, so a failure that does not depend on formatting shrinks to readable TOML.
    """

    def __init__(self, draw) -> None:
        self.plain = draw(st.booleans())
        self.rng = random.Random(draw(st.integers(0, 2 ** 32 - 1)))
        self.newline_style = self.choice(["\n", "\r\n", "mixed"])

    def choice(self, options):
        return options[0] if self.plain else self.rng.choice(options)

    def chance(self, one_in: int) -> bool:
        """True one time in ``one_in``; always False for plain text."""
        return not self.plain and self.rng.randrange(one_in) == 0

    def nl(self) -> str:
        return self.choice(["\n", "\r\n"]) if self.newline_style == "mixed" else self.newline_style

    def ws(self) -> str:
        return self.choice(["", "", " ", "  ", "\t"])

    def comment(self) -> str:
        return "#" + "".join(self.rng.choices(_COMMENT_CHARS, k=self.rng.randrange(12)))

    def line_end(self) -> str:
        tail = self.ws() + self.comment() if self.chance(4) else ""
        return tail + self.nl()

    def filler(self) -> str:
        """Blank lines and comment lines between statements."""
        out = ""
        while self.chance(3):
            out += self.ws() + (self.comment() if self.chance(2) else "") + self.nl()
        return out

    # -- strings ----------------------------------------------------------------------------
    def escape(self, ch: str) -> str:
        options = []
        if ch in _SHORT_ESCAPES:
            options.append(_SHORT_ESCAPES[ch])
        if ord(ch) <= 0xFFFF:
            options.append(f"\\u{ord(ch):04X}" if self.chance(2) else f"\\u{ord(ch):04x}")
        options.append(f"\\U{ord(ch):08x}")
        if ord(ch) <= 0xFF:
            options.append(f"\\x{ord(ch):02x}")
        return self.choice(options)

    def basic(self, value: str, multiline: bool) -> str:
        pieces: list[str] = []
        i, quotes = 0, 0
        while i < len(value):
            ch = value[i]
            if multiline and value.startswith("\r\n", i) and self.chance(2):
                pieces.append("\r\n")
                i, quotes = i + 2, 0
                continue
            raw_ok = ch not in _MUST_ESCAPE and ch != "\\" and (ch != '"' or multiline)
            if multiline and ch == "\n":
                raw_ok = True
            if ch == '"' and quotes >= 2:
                raw_ok = False
            piece = ch if raw_ok and not self.chance(6) else self.escape(ch)
            quotes = quotes + 1 if piece == '"' else 0
            pieces.append(piece)
            i += 1
        if not multiline:
            return '"' + "".join(pieces) + '"'
        out = ""
        for piece in pieces + [""]:  # line-ending backslashes before non-blank pieces and the end
            if piece[:1] not in (" ", "\t", "\n", "\r") and self.chance(5):
                out += "\\" + self.ws() + self.nl() + self.choice(["", "  ", "\t", self.nl(), self.nl() + "  "])
            out += piece
        return '"""' + self.opening_newline(out) + out + '"""'

    def opening_newline(self, content: str) -> str:
        """The newline right after an opening delimiter, which TOML trims."""
        if content.startswith(("\n", "\r\n")) or self.chance(2):
            return self.nl()
        return ""

    def string(self, value: str, key: bool = False) -> str:
        literal_ok = "'" not in value and not any(c in _MUST_ESCAPE for c in value)
        styles = ["basic", "literal"] if literal_ok else ["basic"]
        if not key:
            styles.append("ml-basic")
            stripped = value.replace("\r\n", "")
            if "'''" not in value and not any(c in _MUST_ESCAPE and c != "\n" for c in stripped):
                styles.append("ml-literal")
        style = self.choice(styles)
        if style == "literal":
            return "'" + value + "'"
        if style == "ml-literal":
            return "'''" + self.opening_newline(value) + value + "'''"
        return self.basic(value, multiline=style == "ml-basic")

    # -- keys and values --------------------------------------------------------------------
    def key(self, name: str) -> str:
        if _BARE.fullmatch(name) and not self.chance(5):
            return name
        return self.string(name, key=True)

    def dotted(self, names: tuple) -> str:
        return (self.ws() + "." + self.ws()).join(self.key(n) for n in names)

    def inline(self, value: Any) -> str:
        if isinstance(value, Raw):
            return str(value)
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, list):
            out = "["
            for item in value:
                out += self.separator() + self.inline(item) + self.ws() + ","
            if value and self.chance(2):
                out = out[:-1]  # no trailing comma
            return out + self.separator() + "]"
        pairs = [self.dotted(names) + self.ws() + "=" + self.ws() + self.inline(v) for names, v in self.flatten(value, ())]
        if self.chance(8):  # TOML 1.1: newlines and a trailing comma in inline tables
            return "{" + self.nl() + ("," + self.nl()).join(pairs) + ("," if pairs else "") + self.nl() + "}"
        return "{" + self.ws() + ("," + self.ws()).join(pairs) + self.ws() + "}"

    def separator(self) -> str:
        """Blank space inside an array: spaces, newlines and comments."""
        out = self.ws()
        while self.chance(4):
            out += (self.comment() if self.chance(2) else "") + self.nl() + self.ws()
        return out

    def flatten(self, table: dict, prefix: tuple):
        """(dotted key names, inline value) pairs that together define ``table``."""
        for name, value in table.items():
            if isinstance(value, dict) and value and self.chance(3):
                yield from self.flatten(value, prefix + (name,))
            else:
                yield prefix + (name,), value

    # -- statements -------------------------------------------------------------------------
    def keyval(self, names: tuple, value: Any) -> str:
        return self.filler() + self.ws() + self.dotted(names) + self.ws() + "=" + self.ws() + self.inline(value) + self.line_end()

    def table(self, table: dict, header: tuple, units: list[str]) -> str:
        """The key/value lines of ``table``; its [sub-table] sections go to ``units``, the
        blocks of the enclosing scope, which may come in any order (TOML allows ``[a.b]``
        before ``[a]``). An [[array]] element's block keeps its own sub-sections inside."""
        out, sections = "", []
        for name, value in table.items():
            is_aot = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
            if isinstance(value, dict) and self.choice(["header", "header", "inline", "dotted"]) == "header":
                sections.append((name, value, False))
            elif is_aot and not self.chance(4):
                sections.append((name, value, True))
            elif isinstance(value, dict) and value and self.chance(2):
                for names, leaf in self.flatten(value, (name,)):
                    out += self.keyval(names, leaf)
            else:
                out += self.keyval((name,), value)
        for name, value, is_aot in sections:
            path = header + (name,)
            left, right = ("[[", "]]") if is_aot else ("[", "]")
            for element in value if is_aot else [value]:
                block = self.filler() + self.ws() + left + self.ws() + self.dotted(path) + self.ws() + right + self.line_end()
                if is_aot:
                    inner: list[str] = []
                    block += self.table(element, path, inner) + self.arrange(inner)
                else:
                    block += self.table(element, path, units)
                units.append(block)
        return out

    def arrange(self, units: list[str]) -> str:
        if self.chance(3):
            self.rng.shuffle(units)
        return "".join(units)

    def document(self, doc: dict) -> str:
        units: list[str] = []
        text = self.table(doc, (), units)
        text += self.arrange(units) + self.filler()
        if text.endswith(("\n",)) and self.chance(4):
            text = text.rstrip("\r\n")  # no newline at the end of the file
        return text


@st.composite
def prompt_files(draw) -> str:
    return Renderer(draw).document(draw(prompt_docs()))


# -- mutations -----------------------------------------------------------------------------

_INSERTS = st.one_of(
    st.sampled_from(list("\"'[]{}=,.#\\ \t\n\r") + ["\r\n", "\x00", "😀", "é", "漢", '"""', "'''", "{{", "}}", "{%"]),
    st.characters(exclude_categories=("Cs",)),
)


@st.composite
def mutated(draw, text: str) -> str:
    """``text`` after one to three random edits: delete, insert or duplicate a character or a
    line, swap two lines, truncate."""
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["del-char", "ins-char", "dup-char", "del-line", "ins-line", "dup-line", "swap", "truncate"]))
        lines = text.splitlines(keepends=True)
        if op.endswith("char") or op == "truncate" or not lines:
            at = draw(st.integers(0, len(text)))
            if op == "del-char" and at < len(text):
                text = text[:at] + text[at + 1:]
            elif op == "dup-char" and at < len(text):
                text = text[:at + 1] + text[at:]
            elif op == "truncate":
                text = text[:at]
            else:
                text = text[:at] + draw(_INSERTS) + text[at:]
            continue
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        if op == "del-line":
            del lines[i]
        elif op == "dup-line":
            lines.insert(i, lines[i])
        elif op == "ins-line":
            lines.insert(i, draw(st.sampled_from(["[prompt]\n", "[[examples]]\n", "x = 1\n", "vars.a = 'b'\r\n", "# c\n", "\n"])))
        else:
            lines[i], lines[j] = lines[j], lines[i]
        text = "".join(lines)
    return text


@_settings(120)
@given(text=prompt_files())
def test_generated_prompt_files(workspace: Path, text: str) -> None:
    tomlkit.parse(text)  # the generator writes valid TOML: a failure here is a generator bug
    analysis = run(text, workspace / PROMPT_NAME, workspace)
    assert analysis.data is not None and analysis.spans is not None


@_settings(120)
@given(text=prompt_files().flatmap(mutated))
def test_mutated_generated_prompt_files(workspace: Path, text: str) -> None:
    run(text, workspace / PROMPT_NAME, workspace)


@_settings(150)
@given(st.one_of(arbitrary_text, prompt_files().flatmap(mutated)))
def test_scanner_raises_only_scan_error(text: str) -> None:
    """spans.scan on any text returns or raises ScanError (callers catch only that)."""
    try:
        result = scan(text)
    except ScanError:
        return
    source = SourceText(text)
    for path, second, first in result.duplicates:
        check_span(source, second, f"duplicate {path}")
        if first is not None:
            check_span(source, first, f"first definition of {path}")


_ROW_KEYS = _IDENT.filter(lambda k: k not in datasets.SPECIAL_KEYS and k != "vars")


@_settings(100)
@given(
    rows=st.lists(st.dictionaries(_ROW_KEYS, strings, min_size=1, max_size=3), min_size=1, max_size=4),
    ascii_only=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_jsonl_dataset_rows(workspace: Path, rows: list[dict], ascii_only: bool, newline: str) -> None:
    """Every object json.dumps writes comes back as one row, with its variables and line."""
    file = workspace / "generated.jsonl"
    file.write_text(newline.join(json.dumps(r, ensure_ascii=ascii_only) for r in rows) + newline, encoding="utf-8")
    loaded = datasets.load(file, "jsonl")
    assert loaded.problems == []
    assert [(row.line, row.data) for row in loaded.rows] == [(n, {"vars": r}) for n, r in enumerate(rows, start=1)]
    run(f'[[datasets]]\npath = "{file.name}"\n', workspace / PROMPT_NAME, workspace)


# =============================================================================================
# (c) the example files of prompts-spec/examples/
# =============================================================================================

def _example_files() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("**/*.toml")) if EXAMPLES_DIR.is_dir() else []


EXAMPLE_FILES = _example_files()
no_examples = pytest.mark.skipif(not EXAMPLE_FILES, reason=f"no example files in {EXAMPLES_DIR} yet")


def _read(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as f:  # keep CRLF as it is
        return f.read()


@no_examples
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES_DIR)))
def test_example_files(path: Path) -> None:
    run(_read(path), path, REPO)


@no_examples
@_settings(120)
@given(st.sampled_from(EXAMPLE_FILES or [Path("unused")]).flatmap(lambda p: st.tuples(st.just(p), mutated(_read(p)))))
def test_mutated_example_files(case: tuple[Path, str]) -> None:
    path, text = case
    run(text, path, REPO)


# =============================================================================================
# Hand-written cases the generators might reach only rarely
# =============================================================================================

EDGE_CASES = [
    'a = """\r\nx\r\n"y""""\r\n',
    "a = '''\nx''''' # two quotes\n",
    'a = """\\\n\n   \\   \r\n  x\\\n"""\n',
    'a = "\\U0001F600\\u00e9\\x41\\e" # 😀\n',
    "[a]\n[[a.b]]\n[[a.b]]\nc.d = 1\n[a.b.e]\nf = {g.h = [1, {i = 'j'}]}\n",
    '[ "x.y" . \'z\' ]\n"" = 1\n',
    "t = 1979-05-27 07:32\nd = 1979-05-27 # date\nu = 07:32:00.5\nn = -nan\n",
    "a = {\nb = 1,\n}\n",
    "task = 't'\n[prompt]\ntemplate = \"\"\"\r\n{{ x }}\\\r\n  {% if %}\"\"\"\n[[examples]]\nvars.x = '😀'\n",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases(text: str) -> None:
    analysis = run(text)
    assert analysis.data is not None


# =============================================================================================
# Bugs the properties above found (minimal regression tests)
# =============================================================================================

def test_bug_leading_line_ending_backslash() -> None:
    text = 'a = """\\\nabc"""\n'  # the value "abc" starts at offset 9, after the backslash and LF
    smap = scan(text).nodes[("a",)].string
    assert [smap.source_offset(i) for i in range(4)] == [9, 10, 11, 12]
    assert smap.source_span(0, 3) == Span(9, 12)


def test_bug_template_syntax_line_separators() -> None:
    text = '[prompt]\ntemplate = "a\\fb\\n{{"\n'  # template "a<FF>b<LF>{{": jinja2's line 2 is "{{"
    spans = [d.span for d in analyze(text).diagnostics if d.code == "template-syntax"]
    assert [text[s.start:s.end] for s in spans] == ["{{"]  # today: "b"


def test_bug_nul_in_dataset_path(tmp_path: Path) -> None:
    text = '[[datasets]]\npath = "a\\u0000.jsonl"\n'  # path = "a<NUL>.jsonl"
    analysis = analyze(text, tmp_path / "x.prompt.toml", tmp_path)
    assert not any(d.message.startswith(INTERNAL_ERROR) for d in analysis.diagnostics)
    on_path = [d for d in analysis.diagnostics if text[d.span.start:d.span.end] == '"a\\u0000.jsonl"']
    assert any(d.code.startswith("dataset-") for d in on_path)


def test_bug_jsonl_line_separator_in_string(tmp_path: Path) -> None:
    file = tmp_path / "d.jsonl"
    file.write_text('{"q": "a\u2028b"}\n{"q": "c"}\n', encoding="utf-8")  # a raw U+2028 inside the first string
    loaded = datasets.load(file, "jsonl")
    assert loaded.problems == []
    assert [(row.line, row.data) for row in loaded.rows] == [(1, {"vars": {"q": "a\u2028b"}}), (2, {"vars": {"q": "c"}})]
