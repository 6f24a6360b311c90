"""End-to-end tests of ``promptlsp serve`` over stdio (pytest-lsp, a real server process)."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features
from pygls.protocol import default_converter
from lsp_support import SERVER, session_fixture


ERROR_LINE = 'task = { model = "😀日本語", temperature = "hot" }'
GOOD = (
    'version = 1\r\nname = "demo"\r\ntask = "Echo the word."\r\n\r\n[prompt]\r\n'
    'template = "Say {{ word }}"\r\n\r\n[models]\r\n' + ERROR_LINE.replace('"hot"', "0.5") + "\r\n\r\n"
    '[optimize]\r\nmethod = "gradsum"\r\n\r\n[[criteria]]\r\nname = "eq"\r\ntype = "equals"\r\n\r\n'
    '[[examples]]\r\nvars = { word = "hi" }\r\nexpected = "hi"\r\n'
)
BAD = GOOD.replace(ERROR_LINE.replace('"hot"', "0.5"), ERROR_LINE)
ERROR_LINE_NO = GOOD.split("\r\n").index(ERROR_LINE.replace('"hot"', "0.5"))


def _make_client() -> LanguageClient:
    """The default pytest-lsp client, also recording every publishDiagnostics (with version)."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # type: ignore[attr-defined]

    def publish(ls: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        ls.diagnostics[params.uri] = params.diagnostics
        ls.published.append(params)  # type: ignore[attr-defined]

    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish})
    return client


CONFIG = ClientServerConfig(server_command=SERVER, client_factory=_make_client)


def _caps(encodings: list[str] | None = None, pull: bool = False) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=encodings) if encodings else None,
        text_document=types.TextDocumentClientCapabilities(
            hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True, related_information=True),
            diagnostic=types.DiagnosticClientCapabilities() if pull else None,
        ),
    )


client = session_fixture(_caps(), config=CONFIG)
client_enc = session_fixture(lambda encoding: _caps([encoding, "utf-16"]), config=CONFIG, params=["utf-8", "utf-32"])
pull_client = session_fixture(_caps(pull=True), config=CONFIG)


def _open(client: LanguageClient, text: str, name: str = "demo.prompt.toml", version: int = 1) -> str:
    uri = (client.root / name).as_uri()  # type: ignore[attr-defined]
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=version, text=text)
        )
    )
    return uri


def _replace_all(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def _wait_published(client: LanguageClient, uri: str, count: int = 1, timeout: float = 5.0) -> list:
    async def poll():
        while len([p for p in client.published if p.uri == uri]) < count:  # type: ignore[attr-defined]
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)
    return [p for p in client.published if p.uri == uri]  # type: ignore[attr-defined]


def _expected_range(encoding: str) -> types.Range:
    """Computed here independently of SourceText: units of the line prefix in ``encoding``."""
    start = ERROR_LINE.index('"hot"')
    def units(s: str) -> int:
        if encoding == "utf-16":
            return len(s.encode("utf-16-le")) // 2
        if encoding == "utf-8":
            return len(s.encode("utf-8"))
        return len(s)
    return types.Range(
        start=types.Position(line=ERROR_LINE_NO, character=units(ERROR_LINE[:start])),
        end=types.Position(line=ERROR_LINE_NO, character=units(ERROR_LINE[: start + 5])),
    )


def _schema_errors(diags) -> list[types.Diagnostic]:
    return [d for d in diags if d.code == "schema"]


async def test_utf16_range_after_emoji_and_cjk_with_crlf(client: LanguageClient):
    assert client.init_result.capabilities.position_encoding in (None, types.PositionEncodingKind.Utf16)
    uri = _open(client, BAD)
    (published,) = await _wait_published(client, uri)
    assert published.version == 1
    errors = _schema_errors(published.diagnostics)
    assert len(errors) == 1, published.diagnostics
    err = errors[0]
    assert err.range == _expected_range("utf-16")
    assert err.severity == types.DiagnosticSeverity.Error
    assert err.source == "promptlsp"
    assert "temperature" in err.message
    # the information-level diagnostic keeps its severity
    assert any(d.code == "split-no-validation" and d.severity == types.DiagnosticSeverity.Information
               for d in published.diagnostics)


async def test_negotiated_utf8_and_utf32_ranges(client_enc: LanguageClient):
    encoding = client_enc.encoding  # type: ignore[attr-defined]
    assert client_enc.init_result.capabilities.position_encoding == encoding  # type: ignore[attr-defined]
    uri = _open(client_enc, BAD)
    (published,) = await _wait_published(client_enc, uri)
    (err,) = _schema_errors(published.diagnostics)
    assert err.range == _expected_range(encoding)
    assert err.range != _expected_range("utf-16")


@pytest.mark.parametrize("whole", [True, False], ids=["whole-document", "incremental-at-utf16-range"])
async def test_change_that_fixes_clears_the_error(client: LanguageClient, whole: bool):
    uri = _open(client, BAD)
    await _wait_published(client, uri)
    change = (types.TextDocumentContentChangeWholeDocument(text=GOOD) if whole
              else types.TextDocumentContentChangePartial(range=_expected_range("utf-16"), text="0.5"))
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2), content_changes=[change],
        )
    )
    published = await _wait_published(client, uri, 2)
    assert published[-1].version == 2
    assert _schema_errors(published[-1].diagnostics) == []


async def test_rapid_changes_publish_only_the_latest_version(client: LanguageClient):
    """The first edit after the open is analysed at once (it may be published before the next
    one arrives); the burst that follows is debounced: only its last version is published."""
    uri = _open(client, BAD)
    await _wait_published(client, uri)
    for version in range(2, 12):
        _replace_all(client, uri, GOOD if version % 2 else BAD, version)

    async def latest_published() -> None:
        while not [p for p in client.published if p.uri == uri and p.version == 11]:  # type: ignore[attr-defined]
            await asyncio.sleep(0.02)

    await asyncio.wait_for(latest_published(), 10)
    await asyncio.sleep(0.6)  # any late publish for an older version would arrive by now
    published = [p for p in client.published if p.uri == uri]  # type: ignore[attr-defined]
    assert [p.version for p in published] in ([1, 11], [1, 2, 11])
    assert _schema_errors(published[-1].diagnostics) == []  # version 11 is GOOD


async def test_close_clears_diagnostics(client: LanguageClient):
    uri = _open(client, BAD)
    await _wait_published(client, uri)
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    published = await _wait_published(client, uri, 2)
    assert list(published[-1].diagnostics) == []


async def _hover(client: LanguageClient, uri: str, text: str, needle: str, line_hint: str | None = None):
    lines = text.split("\r\n")
    line_no = next(i for i, line in enumerate(lines) if needle in line and (line_hint is None or line_hint in line))
    character = len(lines[line_no][: lines[line_no].index(needle) + 2].encode("utf-16-le")) // 2
    return await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri),
                          position=types.Position(line=line_no, character=character))
    )


async def test_hover_shows_schema_description(client: LanguageClient):
    uri = _open(client, GOOD)
    hover = await _hover(client, uri, GOOD, "temperature")  # after emoji/CJK on the same line
    assert hover is not None
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert "Sampling temperature" in hover.contents.value
    assert "`number`" in hover.contents.value
    line = GOOD.split("\r\n")[ERROR_LINE_NO]
    start = len(line[: line.index("temperature")].encode("utf-16-le")) // 2
    assert hover.range.start == types.Position(line=ERROR_LINE_NO, character=start)
    assert hover.range.end.character == start + len("temperature")

    hover = await _hover(client, uri, GOOD, "method")
    assert hover is not None
    assert "Optimization method" in hover.contents.value
    assert 'Default: `"gradsum"`' in hover.contents.value


async def test_garbage_document_gives_diagnostics_and_server_survives(client: LanguageClient):
    garbage = "\x00\x01\xff\ufffd[[[ = = 😀\r\n\r\x7f]]]\"\"\"\n" + "".join(chr(c) for c in range(0x80, 0x120))
    uri = _open(client, garbage, name="garbage.prompt.toml")
    (published,) = await _wait_published(client, uri)
    assert published.diagnostics, "a garbage file must get diagnostics"
    assert all(d.source == "promptlsp" for d in published.diagnostics)
    good_uri = _open(client, GOOD)
    hover = await _hover(client, good_uri, GOOD, "method")
    assert hover is not None and "Optimization method" in hover.contents.value


async def test_pull_diagnostics_when_client_supports_them(pull_client: LanguageClient):
    assert pull_client.init_result.capabilities.diagnostic_provider is not None  # type: ignore[attr-defined]
    uri = _open(pull_client, BAD)
    report = await pull_client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    (err,) = _schema_errors(report.items)
    assert err.range == _expected_range("utf-16")
    await asyncio.sleep(0.4)
    assert pull_client.published == []  # type: ignore[attr-defined]  (no push in pull mode)
