"""A dataset column renamed in the file's text: the CSV header cell, the key of every JSONL row."""

from __future__ import annotations

import csv
import io
import json

import pytest

from promptlsp.document.column_rename import Refused, csv_cell, header_cells, rename_column
from promptlsp.document.edit import apply_edits


def _rename(text: str, fmt: str, old: str, new: str) -> str:
    return apply_edits(text, rename_column(text, fmt, old, new, "rows." + fmt))


def test_csv_only_the_header_cell_changes_quotes_and_spaces_kept():
    text = 'id,"review", note ,"say ""hi"""\r\nr1,"review, review",review,x\r\n'
    assert _rename(text, "csv", "review", "opinion") == text.replace('"review",', '"opinion",', 1)
    assert _rename(text, "csv", "note", "remark") == text.replace(" note ", " remark ")


def test_csv_a_name_that_needs_quotes_is_quoted_and_reads_back():
    text = "id,review\nr1,x\n"
    renamed = _rename(text, "csv", "review", 'a, "b"')
    assert renamed == 'id,"a, ""b"""\nr1,x\n'
    assert next(csv.reader(io.StringIO(renamed))) == ["id", 'a, "b"']
    assert csv_cell("plain") == "plain" and csv_cell(" x") == '" x"' and csv_cell("a\nb") == '"a\nb"'


def test_csv_header_with_a_quoted_line_break_and_a_bom():
    text = '\ufeff"multi\r\nline",review\r\nv,w\r\n'
    assert [value for _, value in header_cells(text)] == ["multi\r\nline", "review"]
    assert _rename(text, "csv", "review", "opinion") == text.replace("review", "opinion")


def test_csv_taken_reserved_and_missing_names_are_refused():
    text = "id,review,opinion,expected\nr1,a,b,c\n"
    for new, why in (("opinion", "already a column of rows.csv"), ("expected", "reserved"), ("vars", "reserved")):
        with pytest.raises(Refused, match=why):
            rename_column(text, "csv", "review", new, "rows.csv")
    with pytest.raises(Refused, match="not a column"):
        rename_column(text, "csv", "absent", "x", "rows.csv")


def test_jsonl_every_row_flat_or_vars_shaped_keys_only():
    rows = [
        '{"review": "😀 日本語 \\"review\\"", "id": "a"}',
        '{"vars": {"o": {"review": 1}, "review": "中文"}, "review": "not a variable here"}\r',
        "",
        '{"re\\u0076iew": "escaped key", "nested": {"review": 2}}',
        '{"other": 1}',
    ]
    text = "\n".join(rows) + "\n"
    renamed = _rename(text, "jsonl", "review", "café")
    expected = [
        '{"café": "😀 日本語 \\"review\\"", "id": "a"}',
        '{"vars": {"o": {"review": 1}, "café": "中文"}, "review": "not a variable here"}\r',
        "",
        '{"café": "escaped key", "nested": {"review": 2}}',
        '{"other": 1}',
    ]
    assert renamed == "\n".join(expected) + "\n"
    assert [json.loads(line) for line in renamed.splitlines() if line.strip()][0]["café"].startswith("😀")


def test_jsonl_a_taken_key_or_an_unreadable_row_refuses():
    with pytest.raises(Refused, match="already a column of rows.jsonl \\(line 2\\)"):
        rename_column('{"review": 1}\n{"opinion": 2}\n', "jsonl", "review", "opinion", "rows.jsonl")
    with pytest.raises(Refused, match="rows.jsonl:2 does not read"):
        rename_column('{"review": 1}\n{"review": \n', "jsonl", "review", "opinion", "rows.jsonl")
    with pytest.raises(Refused, match="not a column"):
        rename_column('{"other": 1}\n', "jsonl", "review", "opinion", "rows.jsonl")
