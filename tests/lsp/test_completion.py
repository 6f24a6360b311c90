"""Completion over stdio (pytest-lsp, a real ``promptlsp serve``): keys by table, enum values,
model ids, template variables and ``vars`` keys, snippets; UTF-16 positions through emoji and
CJK text with CRLF line ends; half-typed and garbage files answer, never fail."""

from __future__ import annotations


import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient
from lsp_support import session_fixture


# CRLF line ends, an emoji (2 UTF-16 units) and CJK text before the cursors
TEXT = (
    'task = "Sort 😀 reviews, 日本語 too"\r\n\r\n'
    '[prompt]\r\n'
    'template = """Review 😀日本: {{ review }} in {{ lang }}\r\n"""\r\n\r\n'
    '[models.task]\r\n'
    'temperature = 0\r\n\r\n'
    '[[criteria]]\r\n'
    'type = "equals"\r\n\r\n'
    '[[examples]]\r\n'
    'id = "😀"\r\n'
    'vars = { review = "良い 😀" }\r\n'
)


def _caps(snippets: bool) -> types.ClientCapabilities:
    item = types.ClientCompletionItemOptions(snippet_support=snippets,
                                             documentation_format=[types.MarkupKind.Markdown])
    return types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
        completion=types.CompletionClientCapabilities(completion_item=item)))


client = session_fixture(_caps(snippets=True))
plain_client = session_fixture(_caps(snippets=False))


def _utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _open(client: LanguageClient, text: str, version: int = 1) -> str:
    uri = (client.root / "c.prompt.toml").as_uri()  # type: ignore[attr-defined]
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="prompt-toml", version=version, text=text)))
    return uri


def _change(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def _at(text: str, marker: str, after: int | None = None) -> types.Position:
    """The UTF-16 position just after ``marker``'s first occurrence (or ``after`` characters in)."""
    i = text.index(marker) + (len(marker) if after is None else after)
    lines = text[:i].split("\r\n")
    return types.Position(line=len(lines) - 1, character=_utf16(lines[-1]))


async def _complete(client: LanguageClient, uri: str, position: types.Position) -> types.CompletionList:
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position))
    assert isinstance(result, types.CompletionList)
    return result


def _labels(result: types.CompletionList) -> list[str]:
    return [i.label for i in result.items]


async def test_keys_of_the_model_table_with_docs_and_not_those_present(client: LanguageClient):
    text = TEXT.replace("temperature = 0\r\n", "temperature = 0\r\nt\r\n")
    uri = _open(client, text)
    result = await _complete(client, uri, _at(text, "temperature = 0\r\nt"))
    labels = _labels(result)
    assert "top_p" in labels and "model" in labels and "temperature" not in labels
    assert "vars" not in labels and "rubric" not in labels
    top_p = next(i for i in result.items if i.label == "top_p")
    assert isinstance(top_p.documentation, types.MarkupContent)
    assert top_p.documentation.kind == types.MarkupKind.Markdown and "Nucleus sampling" in top_p.documentation.value
    # the edit replaces the typed "t" on that line, in UTF-16 columns
    line = text.split("\r\n").index("t")
    assert top_p.text_edit.range == types.Range(start=types.Position(line=line, character=0),
                                                end=types.Position(line=line, character=1))


async def test_example_keys_then_criterion_types(client: LanguageClient):
    text = TEXT + "ex\r\n"
    uri = _open(client, text)
    labels = _labels(await _complete(client, uri, _at(text, "😀\" }\r\nex")))
    assert {"expected", "split", "assert"} <= set(labels)
    assert "vars" not in labels and "id" not in labels and "temperature" not in labels
    text2 = text.replace('type = "equals"', 'type = "con')
    _change(client, uri, text2, 2)
    result = await _complete(client, uri, _at(text2, 'type = "con'))
    assert "contains" in _labels(result) and "llm-rubric" in _labels(result)
    item = next(i for i in result.items if i.label == "contains")
    assert item.text_edit.new_text == "contains" and "case-sensitive" in item.documentation.value


async def test_top_level_tables_not_yet_present(client: LanguageClient):
    text = TEXT + "[\r\n"
    uri = _open(client, text)
    labels = _labels(await _complete(client, uri, _at(text, "😀\" }\r\n[")))
    assert "optimize" in labels and "models.judge" in labels
    assert "prompt" not in labels and "models.task" not in labels


async def test_template_variables_after_braces_with_emoji_and_cjk(client: LanguageClient):
    text = TEXT.replace("{{ lang }}", "{{ l").replace(
        'vars = { review = "良い 😀" }', 'vars = { review = "良い 😀", lang = "ja" }')
    uri = _open(client, text)
    position = _at(text, "{{ l")
    result = await _complete(client, uri, position)
    assert {"review", "lang"} <= set(_labels(result))
    lang = next(i for i in result.items if i.label == "lang")
    # "l" is replaced: the range starts one UTF-16 unit before the cursor, past 😀 (2 units) and 日本
    assert lang.text_edit.range.start == types.Position(line=position.line, character=position.character - 1)
    assert position.character == _utf16('template = """Review 😀日本: {{ review }} in {{ l')


async def test_vars_keys_of_an_example_from_the_template(client: LanguageClient):
    text = TEXT.replace('vars = { review = "良い 😀" }', 'vars = { review = "良い 😀", ')
    uri = _open(client, text)
    labels = _labels(await _complete(client, uri, _at(text, '"良い 😀", ')))
    assert labels == ["lang"]


async def test_model_ids_local_and_litellm_by_provider(client: LanguageClient):
    text = TEXT.replace("temperature = 0", 'model = "')
    uri = _open(client, text)
    result = await _complete(client, uri, _at(text, 'model = "'))
    labels = _labels(result)
    assert "local/qwen2.5-coder-0.5b" in labels and "openai/" in labels
    assert result.is_incomplete
    text2 = text.replace('model = "', 'model = "anthropic/')
    _change(client, uri, text2, 2)
    labels = _labels(await _complete(client, uri, _at(text2, 'model = "anthropic/')))
    assert any(l.startswith("anthropic/claude") for l in labels)
    assert not any(l.startswith("openai/") for l in labels)


async def test_snippets_only_when_the_client_supports_them(client: LanguageClient):
    text = TEXT + "\r\n"
    uri = _open(client, text)
    result = await _complete(client, uri, _at(text, "😀\" }\r\n\r\n"))
    snippet = next(i for i in result.items if i.label == "[[examples]]")
    assert snippet.insert_text_format == types.InsertTextFormat.Snippet
    assert 'review = "${' in snippet.text_edit.new_text and 'lang = "${' in snippet.text_edit.new_text
    assert "[[criteria]]" in _labels(result)


async def test_no_snippets_for_a_plain_client(plain_client: LanguageClient):
    text = TEXT + "\r\n"
    uri = _open(plain_client, text)
    result = await _complete(plain_client, uri, _at(text, "😀\" }\r\n\r\n"))
    assert all(i.insert_text_format != types.InsertTextFormat.Snippet for i in result.items)
    assert "[[examples]]" not in _labels(result) and "expected" in _labels(result)


async def test_half_typed_file_uses_the_last_good_analysis(client: LanguageClient):
    uri = _open(client, TEXT)
    await _complete(client, uri, _at(TEXT, "{{ review"))  # the readable version's names are kept
    broken = TEXT.replace("{{ lang }}", "{{ ") + '[[examples]]\r\nvars = { review = "x", = = [\r\n'
    _change(client, uri, broken, 2)
    labels = _labels(await _complete(client, uri, _at(broken, "{{ ")))
    assert {"review", "lang"} <= set(labels)


@pytest.mark.parametrize("text", [
    "\x00\x01\xff\ufffd[[[ = = 😀\r\n\r\x7f]]]\"\"\"\n",
    'task = "unterminated\r\n[prompt\r\ntemplate = """{{',
    "[[examples]]\r\nvars = {{{{{{",
    "",
])
async def test_garbage_gives_an_answer_not_an_error(client: LanguageClient, text: str):
    uri = _open(client, text)
    lines = text.split("\r\n")
    for position in (types.Position(line=0, character=0),
                     types.Position(line=len(lines) - 1, character=_utf16(lines[-1])),
                     types.Position(line=len(lines) + 3, character=99)):
        await _complete(client, uri, position)
