"""Semantic tokens of the jinja2 templates over stdio (pytest-lsp, ``promptlsp serve``): positions
through emoji, CJK, TOML escapes, line-ending backslashes and CRLF; half-typed files."""

from __future__ import annotations


import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient
from lsp_support import session_fixture


LINES = [
    'task = "t"',
    "[prompt]",
    'system = "😀 {{ na\\u006De|upper }}"',
    'template = """',
    "日本😀 {{ word }} {# a",
    "note #}\\",
    "   {% if x is not defined and y.z %}ok{% endif %}",
    '"""',
    "[[examples]]",
    'vars = { word = "hi", name = "n", x = 1, y = 2 }',
    "",
]
TEXT = "\r\n".join(LINES)
# (line, text of the token on that line, occurrence on the line, type), in order
EXPECTED = [
    (2, "{{", 0, "macro"), (2, "na\\u006De", 0, "variable"), (2, "|", 0, "operator"), (2, "upper", 0, "function"),
    (2, "}}", 0, "macro"),
    (4, "{{", 0, "macro"), (4, "word", 0, "variable"), (4, "}}", 0, "macro"), (4, "{#", 0, "comment"),
    (4, " a", 0, "comment"),
    (5, "note ", 0, "comment"), (5, "#}", 0, "comment"),
    (6, "{%", 0, "macro"), (6, "if", 0, "keyword"), (6, "x", 0, "variable"), (6, "is", 0, "keyword"),
    (6, "not", 0, "keyword"), (6, "defined", 0, "function"), (6, "and", 0, "keyword"), (6, "y", 0, "variable"),
    (6, ".", 0, "operator"), (6, "z", 0, "property"), (6, "%}", 0, "macro"), (6, "{%", 1, "macro"),
    (6, "endif", 0, "keyword"), (6, "%}", 1, "macro"),
]


def _units(s: str, encoding: str) -> int:
    if encoding == "utf-16":
        return len(s.encode("utf-16-le")) // 2
    if encoding == "utf-8":
        return len(s.encode("utf-8"))
    return len(s)


def _expected(encoding: str) -> list[tuple[int, int, int, str]]:
    """Absolute (line, start, length, type), counted here from LINES."""
    out = []
    for line, needle, nth, kind in EXPECTED:
        text, at = LINES[line], -1
        for _ in range(nth + 1):
            at = text.index(needle, at + 1)
        out.append((line, _units(text[:at], encoding), _units(needle, encoding), kind))
    return out


def _decode(tokens: types.SemanticTokens, legend: list[str]) -> list[tuple[int, int, int, str]]:
    out, line, start = [], 0, 0
    data = list(tokens.data)
    for i in range(0, len(data), 5):
        dl, dc, length, kind, _ = data[i:i + 5]
        start = start + dc if dl == 0 else dc
        line += dl
        out.append((line, start, length, legend[kind]))
    return out


def _caps(encoding: str) -> types.ClientCapabilities:
    return types.ClientCapabilities(general=None if encoding == "utf-16" else types.GeneralClientCapabilities(
        position_encodings=[encoding]))


client = session_fixture(_caps, params=["utf-16", "utf-8", "utf-32"], folders=False)


def _legend(client: LanguageClient) -> list[str]:
    provider = client.init_result.capabilities.semantic_tokens_provider  # type: ignore[attr-defined]
    assert provider is not None and provider.full
    return list(provider.legend.token_types)


def _open(client: LanguageClient, text: str) -> str:
    uri = (client.root / "demo.prompt.toml").as_uri()  # type: ignore[attr-defined]
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=text)))
    return uri


async def _tokens(client: LanguageClient, text: str) -> list[tuple[int, int, int, str]]:
    uri = _open(client, text)
    answer = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    return _decode(answer, _legend(client))


async def test_template_tokens_through_escapes_crlf_and_line_continuations(client: LanguageClient):
    assert await _tokens(client, TEXT) == _expected(client.encoding)  # type: ignore[attr-defined]


async def test_half_typed_template_gives_the_tokens_before_the_break(client: LanguageClient):
    half = TEXT.replace("{% endif %}", "{% endif").replace('y = 2 }', 'y = 2')  # TOML and template half typed
    got = await _tokens(client, half)
    assert got == _expected(client.encoding)[:-1]  # all but the missing %}


@pytest.mark.parametrize("text", ["", "[[[", 'task = "', "[prompt]\r\ntemplate = '''\r\n{{ x"])
async def test_unreadable_files_give_no_tokens_not_an_error(client: LanguageClient, text: str):
    assert await _tokens(client, text) == []
