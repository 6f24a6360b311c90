"""Files changed on disk outside the editor refresh diagnostics (watchdog)."""

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_support import session_fixture
from test_server import CONFIG, _caps

PROMPT = '''task = "Echo the word."
[prompt]
template = "Say {{ word }}"
[[criteria]]
type = "equals"
[[datasets]]
path = "rows.jsonl"
'''


def _files(_client: LanguageClient, root: Path) -> None:
    (root / "rows.jsonl").write_text('{"word": "hi", "expected": "hi", "split": "validation"}\n')
    (root / "p.prompt.toml").write_text(PROMPT)


client = session_fixture(_caps(), config=CONFIG, before=_files)


async def _until(client: LanguageClient, uri: str, predicate, timeout: float = 10.0):
    """Wait until the diagnostics published for ``uri`` satisfy ``predicate``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if uri in client.diagnostics and predicate(client.diagnostics[uri]):
            return client.diagnostics[uri]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no matching diagnostics for {uri}: {client.diagnostics.get(uri)}")


async def test_a_dataset_changed_on_disk_revalidates_the_open_prompt(client: LanguageClient):
    root: Path = client.root  # type: ignore[attr-defined]
    uri = (root / "p.prompt.toml").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=PROMPT)))
    await _until(client, uri, lambda ds: len(ds) == 0)
    (root / "rows.jsonl").write_text('{"word": "hi", "expected": "hi"}\n{broken\n')
    found = await _until(client, uri, lambda ds: any(d.code == "dataset-malformed" for d in ds))
    assert "rows.jsonl:2" in found[0].message


async def test_a_closed_prompt_file_changed_on_disk_gets_diagnostics(client: LanguageClient):
    root: Path = client.root  # type: ignore[attr-defined]
    # a first round trip: the server has handled `initialized` (where watching starts)
    uri = (root / "p.prompt.toml").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=PROMPT)))
    await _until(client, uri, lambda ds: len(ds) == 0)
    other = root / "other.prompt.toml"
    other.write_text(PROMPT.replace('template = "Say {{ word }}"', 'template = "Say {{ word }"'))
    found = await _until(client, other.as_uri(), lambda ds: any(d.code == "template-syntax" for d in ds))
    assert found[0].range.start.line == 2
    other.unlink()
    await _until(client, other.as_uri(), lambda ds: len(ds) == 0)
