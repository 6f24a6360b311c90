"""Rename of a variable a dataset file supplies, over stdio (pytest-lsp): the CSV header cell and
every JSONL row's key edited in the same WorkspaceEdit as the template, in UTF-16 positions
through emoji, CJK and CRLF; the editor's copy of an open dataset file; refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from promptlsp.document import analyze
from promptlsp.document import variables
from promptlsp.document.column_rename import Refused
from promptlsp.lsp.dataset_rename import dataset_edits
from rename_support import client, versioned_client  # noqa: F401 (fixtures)


def prompt(dataset: str) -> str:
    return (
        'version = 1\r\nname = "demo"\r\ntask = "Review"\r\n\r\n[prompt]\r\n'
        'system = "😀 日本語 {{ review }}"\r\n'
        'template = """\r\n日本 😀 {{ review|upper }} {% if review %}ok{% endif %} {{ note }}"""\r\n\r\n'
        '[models]\r\ntask = { model = "local/qwen" }\r\n\r\n'
        '[[criteria]]\r\nname = "eq"\r\ntype = "equals"\r\n\r\n'
        f'[[datasets]]\r\npath = "{dataset}"\r\n\r\n'
        '[[examples]]\r\nvars = { review = "😀 inline", note = "n" }\r\nexpected = "hi"\r\n'
    )


RENAMED_PROMPT = {  # what the prompt file's part of review → opinion gives
    "{{ review": "{{ opinion", "{% if review": "{% if opinion", "vars = { review": "vars = { opinion"}

CSV = ('"id",😀 x,"review", note ,expected\r\n'
       'r1,"日本, review",😀,"review ""review""",yes\r\n'
       'r2,b,c,d,e\r\n')
JSONL_ROWS = [f'{{"id": "j{i}", "review": "😀 日本語 {i} \\"review\\"", "note": "中文 😀", "expected": "e"}}'
              for i in range(12)]
JSONL_ROWS[3] = '{"vars": {"note": "n", "review": "x 😀"}, "id": "vars-shaped", "expected": "e"}'
JSONL_ROWS[7] = '{"id": "esc", "re\\u0076iew": "日本", "note": {"review": "nested: not a column"}, "expected": "e"}'
JSONL = "\r\n".join(JSONL_ROWS[:6]) + "\n" + "\n".join(JSONL_ROWS[6:]) + "\n"


def _write(client: LanguageClient, name: str, text: str) -> Path:
    path: Path = client.root / name  # type: ignore[attr-defined]
    path.write_bytes(text.encode("utf-8"))
    return path


def _open(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=path.as_uri(), language_id="toml", version=version, text=text)))
    return path.as_uri()


def _offset(text: str, position: types.Position) -> int:
    """A UTF-16 position's offset, computed here (lines end at \\r\\n, \\r or \\n)."""
    starts = [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", text))]
    at = starts[position.line]
    units = 0
    while units < position.character:
        units += 2 if ord(text[at]) > 0xFFFF else 1
        at += 1
    return at


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:_offset(text, edit.range.start)] + edit.new_text + text[_offset(text, edit.range.end):]
    return text


def _position(text: str, needle: str, into: int) -> types.Position:
    at = text.index(needle) + into
    before = text[:at]
    line_start = before.rfind("\n") + 1
    return types.Position(line=before.count("\n"), character=len(before[line_start:].encode("utf-16-le")) // 2)


async def _rename(client: LanguageClient, uri: str, text: str, new_name: str) -> types.WorkspaceEdit:
    return await client.text_document_rename_async(types.RenameParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=_position(text, "{% if review", 7),
        new_name=new_name))


def _renamed_prompt(text: str) -> str:
    for old, new in RENAMED_PROMPT.items():
        text = text.replace(old, new)
    return text


async def test_csv_header_cell_renamed_with_the_template_in_versioned_edits(versioned_client: LanguageClient):
    client = versioned_client
    data = _write(client, "rows.csv", CSV)
    text = prompt("rows.csv")
    uri = _open(client, _write(client, "demo.prompt.toml", text), text)
    edit = await _rename(client, uri, text, "opinion")
    assert edit.changes is None
    by_uri = {change.text_document.uri: change for change in edit.document_changes}
    assert set(by_uri) == {uri, data.as_uri()}
    assert by_uri[uri].text_document.version == 1 and by_uri[data.as_uri()].text_document.version is None
    assert _apply(text, by_uri[uri].edits) == _renamed_prompt(text)
    # only the header cell, inside its quotes; the values (and their "review" text) untouched
    assert _apply(CSV, by_uri[data.as_uri()].edits) == CSV.replace('"review",', '"opinion",', 1)
    assert [e.range for e in by_uri[data.as_uri()].edits] == [types.Range(  # 😀 is two UTF-16 units
        start=types.Position(line=0, character=11), end=types.Position(line=0, character=17))]


async def test_jsonl_key_renamed_in_every_row_in_the_changes_form(client: LanguageClient):
    data = _write(client, "rows.jsonl", JSONL)
    text = prompt("rows.jsonl")
    uri = _open(client, _write(client, "demo.prompt.toml", text), text)
    edit = await _rename(client, uri, text, "opinion")
    assert edit.document_changes is None and set(edit.changes) == {uri, data.as_uri()}
    assert _apply(text, edit.changes[uri]) == _renamed_prompt(text)
    expected = JSONL.replace('"review": "😀', '"opinion": "😀').replace('"review": "x', '"opinion": "x')
    expected = expected.replace('"re\\u0076iew"', '"opinion"')
    assert _apply(JSONL, edit.changes[data.as_uri()]) == expected
    assert len(edit.changes[data.as_uri()]) == 12  # every row
    assert expected.count('\\"review\\"') == 10 and '{"review": "nested' in expected  # values keep their text


async def test_an_open_dataset_file_is_edited_as_the_editor_has_it(versioned_client: LanguageClient):
    client = versioned_client
    data = _write(client, "rows.jsonl", JSONL)
    unsaved = '{"review": "unsaved 😀 row", "note": "中文"}\r\n' + JSONL
    _open(client, data, unsaved, version=7)
    text = prompt("rows.jsonl")
    uri = _open(client, _write(client, "demo.prompt.toml", text), text)
    edit = await _rename(client, uri, text, "opinion")
    (change,) = [c for c in edit.document_changes if c.text_document.uri == data.as_uri()]
    assert change.text_document.version == 7 and len(change.edits) == 13
    assert _apply(unsaved, change.edits).startswith('{"opinion": "unsaved 😀 row"')


async def test_taken_or_reserved_column_names_are_refused(client: LanguageClient):
    _write(client, "rows.csv", CSV.replace(" note ", "remark").replace('"id"', "id,note", 1).replace("r1,", "r1,n,")
           .replace("r2,", "r2,n,"))
    text = prompt("rows.csv")
    uri = _open(client, _write(client, "demo.prompt.toml", text), text)
    for new, why in (("remark", "already a column of rows.csv"), ("expected", "reserved column name"),
                     ("note", "already")):
        with pytest.raises(JsonRpcException, match=why):
            await _rename(client, uri, text, new)


async def test_an_unreadable_dataset_row_refuses_the_rename(client: LanguageClient):
    data = _write(client, "rows.jsonl", JSONL)
    text = prompt("rows.jsonl")
    uri = _open(client, _write(client, "demo.prompt.toml", text), text)
    _open(client, data, JSONL + '{"review": broken\n', version=3)  # the editor's copy has a broken row
    with pytest.raises(JsonRpcException, match="rows.jsonl:13 does not read as a JSON object"):
        await _rename(client, uri, text, "opinion")


# -- the dataset files' edits without a server: positions in another encoding, files gone astray --

def _analysed(root: Path, dataset: str, text: str):
    (root / dataset).write_bytes(text.encode("utf-8"))
    path = root / "demo.prompt.toml"
    analysis = analyze(prompt(dataset), path, root)
    assert analysis.prompt is not None
    return analysis, variables.find(analysis, "review")


def test_ranges_follow_the_negotiated_encoding(tmp_path: Path):
    analysis, variable = _analysed(tmp_path, "rows.csv", CSV)
    units = {}
    for encoding in ("utf-8", "utf-16", "utf-32"):
        (file_edit,) = dataset_edits(analysis, variable, "opinion", {}, encoding)
        units[encoding] = file_edit.edits[0].range.start.character
    assert units == {"utf-8": len('"id",😀 x,"'.encode("utf-8")), "utf-16": 11, "utf-32": 10}


def test_a_dataset_file_gone_unreadable_or_outside_the_root_refuses(tmp_path: Path):
    root = tmp_path / "ws"
    root.mkdir()
    analysis, variable = _analysed(root, "rows.jsonl", JSONL)
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_text(JSONL, encoding="utf-8")
    (root / "rows.jsonl").unlink()
    (root / "rows.jsonl").symlink_to(outside)  # swapped for a link out of the workspace since it was read
    with pytest.raises(Refused, match="not inside the workspace root"):
        dataset_edits(analysis, variable, "opinion", {}, "utf-16")
    (root / "rows.jsonl").unlink()
    with pytest.raises(Refused, match="rows.jsonl cannot be read .*not found"):
        dataset_edits(analysis, variable, "opinion", {}, "utf-16")
