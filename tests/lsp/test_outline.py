"""Document symbols and folding ranges over stdio (pytest-lsp, ``promptlsp serve``): exact ranges
in the negotiated encoding through emoji, CJK and CRLF, and half-typed files."""

from __future__ import annotations


import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient
from lsp_support import session_fixture


LINES = [
    'task = "Echo 😀 the word."',
    "",
    "[prompt]",
    'system = "Be 日本 kind 😀"',
    'template = """',
    "😀 Say {{ word }} \\",
    "  now",
    '"""',
    "",
    "[models]",
    'task = { model = "local/qwen" }',
    "",
    "[[criteria]]",
    'name = "等しい😀"',
    'type = "equals"',
    "",
    "[[criteria]]",
    'type = "contains"',
    'value = "x"',
    "",
    "[[examples]]",
    'id = "日本😀1"',
    'vars = { word = "hi" }',
    'expected = "hi"',
    'split = "validation"',
    "",
    "[[examples]]",
    'vars = { word = "😀" }',
    'expected = "😀"',
    "",
]
TEXT = "\r\n".join(LINES)


def _units(s: str, encoding: str) -> int:
    if encoding == "utf-16":
        return len(s.encode("utf-16-le")) // 2
    if encoding == "utf-8":
        return len(s.encode("utf-8"))
    return len(s)


def _at(line: int, needle: str, encoding: str = "utf-16", end: bool = False) -> types.Position:
    """Where ``needle`` starts (or ends) on ``line``, counted here, independently of the server."""
    column = LINES[line].index(needle) + (len(needle) if end else 0)
    return types.Position(line=line, character=_units(LINES[line][:column], encoding))


def _span(line: int, needle: str, encoding: str = "utf-16") -> types.Range:
    return types.Range(start=_at(line, needle, encoding), end=_at(line, needle, encoding, end=True))


def _line_end(line: int, encoding: str = "utf-16") -> types.Position:
    return types.Position(line=line, character=_units(LINES[line], encoding))


def _caps(encoding: str | None = None) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=[encoding, "utf-16"]) if encoding else None,
        text_document=types.TextDocumentClientCapabilities(
            document_symbol=types.DocumentSymbolClientCapabilities(hierarchical_document_symbol_support=True),
        ),
    )


client = session_fixture(_caps(), folders=False)
client_enc = session_fixture(_caps, params=["utf-8", "utf-32"], folders=False)


def _open(client: LanguageClient, text: str, name: str = "demo.prompt.toml") -> str:
    uri = (client.root / name).as_uri()  # type: ignore[attr-defined]
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=text)))
    return uri


def _change(client: LanguageClient, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=start[0], character=start[1]),
                              end=types.Position(line=end[0], character=end[1])),
            text=text)],
    ))


async def _symbols(client: LanguageClient, uri: str) -> list[types.DocumentSymbol]:
    return await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri)))


async def _folds(client: LanguageClient, uri: str) -> list[types.FoldingRange]:
    return await client.text_document_folding_range_async(
        types.FoldingRangeParams(text_document=types.TextDocumentIdentifier(uri=uri)))


def _tree(symbols) -> list:
    return [(s.name, s.kind, _tree(s.children or [])) if s.children else (s.name, s.kind) for s in symbols]


def _find(symbols, *names: str) -> types.DocumentSymbol:
    for name in names:
        symbol = next(s for s in symbols if s.name == name)
        symbols = symbol.children or []
    return symbol


def _contains(outer: types.Range, inner: types.Range) -> bool:
    key = lambda p: (p.line, p.character)  # noqa: E731
    return key(outer.start) <= key(inner.start) and key(inner.end) <= key(outer.end)


async def test_outline_names_kinds_and_utf16_ranges_through_emoji_cjk_and_crlf(client: LanguageClient):
    uri = _open(client, TEXT)
    symbols = await _symbols(client, uri)
    K = types.SymbolKind
    assert _tree(symbols) == [
        ("prompt", K.Module, [("system", K.String), ("template", K.String)]),
        ("models", K.Namespace, [("task", K.Constant)]),
        ("criteria", K.Array, [("等しい😀", K.Property), ("contains", K.Property)]),
        ("examples", K.Array, [
            ("train", K.Namespace, [("example 2", K.Object)]),
            ("validation", K.Namespace, [("日本😀1", K.Object)]),
        ]),
    ]
    prompt = _find(symbols, "prompt")
    assert prompt.range == types.Range(start=_at(2, "["), end=_line_end(7))  # the whole table
    assert prompt.selection_range == _span(2, "[prompt]")
    template = _find(symbols, "prompt", "template")
    assert template.range == types.Range(start=_at(4, "template"), end=_line_end(7))  # through the line-ending backslash
    assert template.selection_range == _span(4, "template")
    assert template.detail == "😀 Say {{ word }} now"
    assert _find(symbols, "prompt", "system").range == types.Range(start=_at(3, "system"), end=_line_end(3))
    assert _find(symbols, "models", "task").detail == "local/qwen"
    named = _find(symbols, "criteria", "等しい😀")
    assert named.selection_range == _span(13, "等しい😀")
    assert named.range == types.Range(start=_at(12, "["), end=_line_end(14))
    assert named.detail == "equals"
    assert _find(symbols, "criteria", "contains").selection_range == _span(17, "contains")
    example = _find(symbols, "examples", "validation", "日本😀1")
    assert example.selection_range == _span(21, "日本😀1")
    assert example.range == types.Range(start=_at(20, "["), end=_line_end(24))
    unnamed = _find(symbols, "examples", "train", "example 2")
    assert unnamed.range == types.Range(start=_at(26, "["), end=_line_end(28))
    assert unnamed.selection_range == _span(26, "[[examples]]")

    def check(symbol, parent=None):
        assert _contains(symbol.range, symbol.selection_range), symbol.name
        if parent is not None:
            assert _contains(parent.range, symbol.range), symbol.name
        for child in symbol.children or []:
            check(child, symbol)
    for symbol in symbols:
        check(symbol)


async def test_outline_in_the_negotiated_encoding(client_enc: LanguageClient):
    encoding = client_enc.encoding  # type: ignore[attr-defined]
    uri = _open(client_enc, TEXT)
    symbols = await _symbols(client_enc, uri)
    assert _find(symbols, "criteria", "等しい😀").selection_range == _span(13, "等しい😀", encoding)
    assert _find(symbols, "examples", "validation", "日本😀1").selection_range == _span(21, "日本😀1", encoding)
    assert _find(symbols, "examples", "train", "example 2").range.end == _line_end(28, encoding)


async def test_folding_ranges_per_prompt_criterion_and_example(client: LanguageClient):
    uri = _open(client, TEXT)
    folds = await _folds(client, uri)
    assert [(f.start_line, f.end_line) for f in folds] == [(2, 7), (12, 14), (16, 18), (20, 24), (26, 28)]
    assert all(f.kind == types.FoldingRangeKind.Region for f in folds)


async def test_outline_follows_edits_read_in_pieces(client: LanguageClient):
    uri = _open(client, TEXT)
    await _symbols(client, uri)
    _change(client, uri, 2, (26, 12), (26, 12), '\r\nid = "新しい"')  # an id for the second example
    symbols = await _symbols(client, uri)
    example = _find(symbols, "examples", "train", "新しい")
    assert example.selection_range == types.Range(start=types.Position(line=27, character=6),
                                                   end=types.Position(line=27, character=9))
    assert example.range == types.Range(start=_at(26, "["),
                                        end=types.Position(line=29, character=_units(LINES[28], "utf-16")))


async def test_half_typed_file_gives_the_outline_of_what_reads(client: LanguageClient):
    half = TEXT.replace('vars = { word = "😀" }', 'vars = { word = "😀')  # typing in the last example
    uri = _open(client, half)
    symbols = await _symbols(client, uri)
    assert [s.name for s in symbols] == ["prompt", "models", "criteria", "examples"]
    assert [s.name for s in _find(symbols, "examples").children] == ["validation"]
    assert _find(symbols, "criteria", "等しい😀").selection_range == _span(13, "等しい😀")
    folds = await _folds(client, uri)
    assert [(f.start_line, f.end_line) for f in folds] == [(2, 7), (12, 14), (16, 18), (20, 24)]


@pytest.mark.parametrize("text", ["", "[[[", 'task = "', "[prompt]\r\ntemplate = '''\r\n{{ x", "\x00\x01 = ["])
async def test_unreadable_files_give_an_empty_answer_not_an_error(client: LanguageClient, text: str):
    uri = _open(client, text)
    symbols, folds = await _symbols(client, uri), await _folds(client, uri)
    assert symbols is not None and list(symbols) == []
    assert folds is not None and list(folds) == []
