"""Go to definition, references and rename of a template variable, over stdio (pytest-lsp):
UTF-16 positions through emoji and CJK text, CRLF line ends and TOML escapes."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient
from rename_support import client, versioned_client  # noqa: F401 (fixtures)


HEAD = (
    'version = 1\r\nname = "demo"\r\ntask = "Review"\r\n\r\n[prompt]\r\n'
    'system = "😀 日本語 judge \\u00e9 {{ review }}"\r\n'
    'template = """\r\n日本 😀 \\t{{ review|upper }} {% if review %}ok{% endif %}\r\n'
    "{% for x in items %}{{ x }}{% endfor %} {{ 'review' }} {{ o.review }} \\u00e9 {{ review }}\"\"\"\r\n\r\n"
    '[models]\r\ntask = { model = "local/qwen", temperature = 0.5 }\r\n\r\n'
    '[[criteria]]\r\nname = "eq"\r\ntype = "equals"\r\n\r\n'
)
EXAMPLES = (
    '[[examples]]\r\nvars = { review = "😀 good", items = ["a"], o = {} }\r\nexpected = "hi"\r\n\r\n'
    '[[examples]]\r\nexpected = "日本"\r\nvars.review = "日本"\r\nvars.items = []\r\nvars.o = {}\r\n\r\n'
    '[[examples]]\r\nexpected = "z"\r\nsplit = "validation"\r\n[examples.vars]\r\n"review" = "z"\r\nitems = []\r\no = {}\r\n'
)
TEXT = HEAD + EXAMPLES


def _open(client: LanguageClient, text: str, name: str = "demo.prompt.toml") -> str:
    path = client.root / name  # type: ignore[attr-defined]
    path.write_text(text, encoding="utf-8", newline="")
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=text)))
    return uri


def _u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _pos(text: str, needle: str, nth: int = 0, into: int = 0) -> types.Position:
    """The UTF-16 position ``into`` characters into the ``nth`` occurrence of ``needle``
    (computed here, apart from the server's SourceText)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += into
    before = text[:at]
    line = before.count("\r\n")
    return types.Position(line=line, character=_u16(before[before.rfind("\n") + 1:]))


def _range(text: str, needle: str, nth: int = 0, into: int = 0, length: int | None = None) -> types.Range:
    start = _pos(text, needle, nth, into)
    width = _u16(needle[into:into + length] if length is not None else needle[into:])
    return types.Range(start=start, end=types.Position(line=start.line, character=start.character + width))


def _offset(text: str, position: types.Position) -> int:
    lines = text.split("\r\n")
    at = sum(len(line) + 2 for line in lines[:position.line])
    units = 0
    for i, ch in enumerate(lines[position.line]):
        if units >= position.character:
            return at + i
        units += _u16(ch)
    return at + len(lines[position.line])


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:_offset(text, edit.range.start)] + edit.new_text + text[_offset(text, edit.range.end):]
    return text


USE_RANGES = [  # every use of `review`, in file order
    ("{{ review }}\"\r\n", 3, 6),  # in system
    ("{{ review|upper", 3, 6),
    ("{% if review", 6, 6),
    ("\\u00e9 {{ review }}\"\"\"", 10, 6),
]
KEY_RANGES = [("review = \"😀", 0, 6), ("vars.review", 5, 6), ('"review" = "z"', 1, 6)]


def _ranges(text: str, spec) -> list[types.Range]:
    return [_range(text, needle, 0, into, length) for needle, into, length in spec]


async def _definition(client, uri, position):
    return await client.text_document_definition_async(types.DefinitionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position))


async def _references(client, uri, position, include=True):
    return await client.text_document_references_async(types.ReferenceParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position,
        context=types.ReferenceContext(include_declaration=include)))


async def _prepare(client, uri, position):
    return await client.text_document_prepare_rename_async(types.PrepareRenameParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position))


async def _rename(client, uri, position, new_name):
    return await client.text_document_rename_async(types.RenameParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position, new_name=new_name))


async def test_definition_from_the_template_is_the_first_examples_key(client: LanguageClient):
    uri = _open(client, TEXT)
    for needle, into, _ in USE_RANGES:
        found = await _definition(client, uri, _pos(TEXT, needle, 0, into + 2))
        assert [(loc.uri, loc.range) for loc in found] == [(uri, _ranges(TEXT, KEY_RANGES[:1])[0])], needle


async def test_definition_from_a_vars_key_is_the_uses_in_system_and_template(client: LanguageClient):
    uri = _open(client, TEXT)
    for needle, into, _ in KEY_RANGES:
        found = await _definition(client, uri, _pos(TEXT, needle, 0, into + 1))
        assert [loc.range for loc in found] == _ranges(TEXT, USE_RANGES), needle


async def test_references_are_every_use_and_every_key_not_literals_or_attributes(client: LanguageClient):
    uri = _open(client, TEXT)
    found = await _references(client, uri, _pos(TEXT, "{% if review", 0, 7))
    assert sorted((r.range.start.line, r.range.start.character) for r in found) == sorted(
        (r.start.line, r.start.character) for r in _ranges(TEXT, USE_RANGES + KEY_RANGES))
    assert all(r.range.end.character - r.range.start.character == 6 for r in found)
    without = await _references(client, uri, _pos(TEXT, "{% if review", 0, 7), include=False)
    assert [r.range for r in without if r.range == _ranges(TEXT, KEY_RANGES[:1])[0]] == []
    assert len(without) == len(found) - 1


async def test_rename_edits_template_system_and_every_example(client: LanguageClient):
    uri = _open(client, TEXT)
    edit = await _rename(client, uri, _pos(TEXT, "{{ review|upper", 0, 5), "opinion")
    assert edit.document_changes is None
    renamed = _apply(TEXT, edit.changes[uri])
    expected = (TEXT.replace("{{ review", "{{ opinion").replace("{% if review", "{% if opinion")
                .replace("vars = { review", "vars = { opinion").replace("vars.review", "vars.opinion")
                .replace('"review" = "z"', 'opinion = "z"'))
    assert renamed == expected
    assert "{{ 'review' }} {{ o.review }}" in renamed


async def test_rename_from_a_vars_key_with_versioned_edits(versioned_client: LanguageClient):
    client = versioned_client
    uri = _open(client, TEXT)
    edit = await _rename(client, uri, _pos(TEXT, "vars.review", 0, 7), "café")
    (change,) = edit.document_changes
    assert change.text_document.uri == uri and change.text_document.version == 1
    renamed = _apply(TEXT, change.edits)
    assert "{{ café|upper }}" in renamed and 'vars."café" = "日本"' in renamed
    assert "{% for x in items %}" in renamed and renamed.count("café") == 7


async def test_prepare_rename_gives_the_name_and_refuses_a_loop_variable(client: LanguageClient):
    uri = _open(client, TEXT)
    ok = await _prepare(client, uri, _pos(TEXT, "{{ review }}\"\r\n", 0, 4))
    assert ok.placeholder == "review" and ok.range == _ranges(TEXT, USE_RANGES[:1])[0]
    key = await _prepare(client, uri, _pos(TEXT, '"review" = "z"', 0, 2))
    assert key.placeholder == "review" and key.range == _ranges(TEXT, KEY_RANGES[2:])[0]
    items = await _prepare(client, uri, _pos(TEXT, "in items", 0, 4))
    assert items.placeholder == "items"
    for needle, into in (("{{ x }}", 3), ("for x in", 4)):
        with pytest.raises(JsonRpcException, match="assigned in the template"):
            await _prepare(client, uri, _pos(TEXT, needle, 0, into))
        assert await _definition(client, uri, _pos(TEXT, needle, 0, into)) is None
    # not a variable at all: a filter, a string literal, an attribute, plain TOML
    for needle, into in (("|upper", 2), ("{{ 'review' }}", 5), ("o.review", 3), ('name = "demo"', 1)):
        assert await _prepare(client, uri, _pos(TEXT, needle, 0, into)) is None, needle


async def test_rename_refuses_bad_and_taken_names(client: LanguageClient):
    uri = _open(client, TEXT)
    at = _pos(TEXT, "{% if review", 0, 7)
    for new, why in (("2bad", "not a valid"), ("a-b", "not a valid"), ("for", "not a valid"),
                     ("items", "already used"), ("x", "already used"), ("range", "built-in")):
        with pytest.raises(JsonRpcException, match=why):
            await _rename(client, uri, at, new)
    with pytest.raises(JsonRpcException, match="assigned in the template"):
        await _rename(client, uri, _pos(TEXT, "{{ x }}", 0, 3), "y")


async def test_half_typed_file_gives_empty_answers(client: LanguageClient):
    text = HEAD.replace("{{ review }}\"\"\"", "{{ rev") + EXAMPLES  # the TOML string never ends
    uri = _open(client, text)
    position = _pos(text, "{{ review|upper", 0, 5)
    assert await _definition(client, uri, position) is None
    assert await _references(client, uri, position) is None
    assert await _prepare(client, uri, position) is None
    broken_jinja = TEXT.replace("{% endif %}", "{% endi")  # TOML fine, template does not parse
    uri2 = _open(client, broken_jinja, "other.prompt.toml")
    assert await _prepare(client, uri2, _pos(broken_jinja, "{% if review", 0, 7)) is None
    # the system message still parses: its use is all there is to go to (and rename)
    found = await _definition(client, uri2, _pos(broken_jinja, "vars.review", 0, 7))
    assert [loc.range for loc in found] == _ranges(broken_jinja, USE_RANGES[:1])
    no_system = broken_jinja.replace(' \\u00e9 {{ review }}"\r\n', '"\r\n', 1)
    assert "{{ review }}\"\r\n" not in no_system
    uri3 = _open(client, no_system, "third.prompt.toml")
    assert await _definition(client, uri3, _pos(no_system, "vars.review", 0, 7)) is None
    with pytest.raises(JsonRpcException, match="not used"):
        await _rename(client, uri3, _pos(no_system, "vars.review", 0, 7), "opinion")


async def test_a_dataset_column_is_found_and_renamed_with_the_template(client: LanguageClient):
    root: Path = client.root  # type: ignore[attr-defined]
    rows = "id,items,review,expected,o\r\nr1,[],日本 good,yes,{}\r\n"
    (root / "rows.csv").write_text(rows, encoding="utf-8", newline="")
    text = HEAD + '[[datasets]]\r\npath = "rows.csv"\r\nsplit = "validation"\r\n\r\n' + EXAMPLES.split("[[examples]]\r\nexpected = \"z\"")[0]
    uri = _open(client, text)
    at = _pos(text, "{% if review", 0, 7)
    found = await _references(client, uri, at)
    csv = [loc for loc in found if loc.uri.endswith("rows.csv")]
    header = types.Range(start=types.Position(line=0, character=9), end=types.Position(line=0, character=15))
    assert [loc.range for loc in csv] == [header]
    assert (await _prepare(client, uri, at)).placeholder == "review"
    edit = await _rename(client, uri, at, "opinion")  # no documentChanges: the changes map holds both files
    assert list(edit.changes[(root / "rows.csv").as_uri()]) == [types.TextEdit(range=header, new_text="opinion")]
    assert "{% if opinion" in _apply(text, edit.changes[uri])
