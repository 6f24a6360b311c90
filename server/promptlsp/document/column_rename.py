"""Renaming a variable's column in a dataset file's text (pure: text in, spans out).

* CSV: the header cell only (the rows below are values). The cell is found by reading the header
  record the way :mod:`csv` does (quotes, doubled quotes, a quoted line break) and checked against
  :func:`csv.reader`'s own reading; only the name inside the cell is replaced, so a quoted cell
  stays quoted and spaces around the name stay. A new name that CSV would need to quote (a comma,
  a quote, a line break, spaces at its ends) is written quoted.
* JSONL: the key in every row that has it — a flat row's top-level key, or the key inside the
  ``vars`` object of a ``{"vars": {...}}`` row (the loader reads the variables there). Each key is
  replaced as a whole JSON string, escaped by :func:`json.dumps`, however the old one was written.

Spans are code-point offsets into the text given (a byte-order mark, if the text still has one,
is skipped); everything else in the text is left as it is. Anything that would make the rename
incomplete or change what the file means raises :class:`Refused` with the reason.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from json.decoder import scanstring

from .datasets import SPECIAL_KEYS
from .edit import apply_edits
from .source import Span

RESERVED = (*SPECIAL_KEYS, "vars")  # names a dataset row reads as something other than a variable
_SPACE = re.compile(r"[ \t\r\n]*")
_NEEDS_QUOTES = re.compile(r'[,"\r\n]|^\s|\s$')


class Refused(ValueError):
    """The column cannot be renamed in this text; the message says why."""


@dataclass(frozen=True)
class Edit:
    span: Span
    new_text: str


def rename_column(text: str, fmt: str, old: str, new: str, file_name: str) -> list[Edit]:
    """The edits that rename the column ``old`` to ``new`` in a dataset file of format ``fmt``
    (``"csv"`` or ``"jsonl"``); raises :class:`Refused`."""
    if new in RESERVED:
        raise Refused(f"'{new}' is a reserved column name in dataset files ({', '.join(RESERVED)})")
    if fmt == "csv":
        return _rename_csv(text, old, new, file_name)
    if fmt == "jsonl":
        return _rename_jsonl(text, old, new, file_name)
    raise Refused(f"{file_name}: unknown dataset format {fmt!r}")


# -- CSV ------------------------------------------------------------------------------------

def header_cells(text: str) -> list[tuple[Span, str]]:
    """The header record's cells: each cell's span in ``text`` and its value (quotes removed,
    doubled quotes undone), read like :func:`csv.reader` with the default dialect."""
    cells: list[tuple[Span, str]] = []
    i = 1 if text.startswith("\ufeff") else 0
    n = len(text)
    while True:
        start, value = i, []
        if i < n and text[i] == '"':
            i += 1
            while i < n:
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        value.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                value.append(text[i])
                i += 1
        while i < n and text[i] not in ",\r\n":  # an unquoted cell, or what follows a closing quote
            value.append(text[i])
            i += 1
        cells.append((Span(start, i), "".join(value)))
        if i < n and text[i] == ",":
            i += 1
            continue
        return cells


def csv_cell(value: str) -> str:
    """``value`` as a CSV cell: quoted (doubling its quotes) when CSV needs it."""
    if _NEEDS_QUOTES.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def _read_header(text: str, file_name: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")), [])
    except csv.Error as exc:
        raise Refused(f"{file_name}: the header row is not valid CSV ({exc}): fix it first") from exc


def _cell_edit(text: str, span: Span, old: str, new: str) -> Edit:
    """The name inside the cell at ``span`` replaced (quotes and spaces kept), or the whole
    cell rewritten when the name is not written plainly there."""
    raw = text[span.start:span.end]
    at = raw.find(old)
    if raw.startswith('"'):
        if at > 0 and '""' not in raw[:at] and raw.find('"', 1) >= at + len(old):  # between the quotes
            return Edit(Span(span.start + at, span.start + at + len(old)), new.replace('"', '""'))
    elif at >= 0 and not _NEEDS_QUOTES.search(new):
        return Edit(Span(span.start + at, span.start + at + len(old)), new)
    return Edit(span, csv_cell(new))


def _rename_csv(text: str, old: str, new: str, file_name: str) -> list[Edit]:
    cells = header_cells(text)
    if [value for _, value in cells] != _read_header(text, file_name):
        raise Refused(f"{file_name}: the header row is written in a way the rename cannot edit safely: "
                      "rename the column by hand")
    names = [value.strip() for _, value in cells]
    if new in names:
        raise Refused(f"'{new}' is already a column of {file_name}: pick another name")
    if old not in names:
        raise Refused(f"'{old}' is not a column of {file_name} as it is now (changed since it was read?)")
    edits = [_cell_edit(text, span, old, new) for span, value in cells if value.strip() == old]
    header_end = cells[-1][0].end
    renamed = apply_edits(text[:header_end], edits)
    if [n.strip() for n in _read_header(renamed, file_name)] != [new if n == old else n for n in names]:
        raise Refused(f"{file_name}: the header row is written in a way the rename cannot edit safely: "
                      "rename the column by hand")
    return edits


# -- JSONL ----------------------------------------------------------------------------------

def _skip(line: str, i: int) -> int:
    return _SPACE.match(line, i).end()


def _object_keys(line: str, at: int) -> tuple[list[tuple[Span, str, int]], int]:
    """The keys of the JSON object starting at ``line[at]`` (``{``): each key's span, the key
    and where its value starts; and where the object ends. Raises ValueError."""
    keys: list[tuple[Span, str, int]] = []
    decoder = json.JSONDecoder()
    i = _skip(line, at + 1)
    if line.startswith("}", i):
        return keys, i + 1
    while True:
        if not line.startswith('"', i):
            raise ValueError("expected a key")
        key, end = scanstring(line, i + 1)
        colon = _skip(line, end)
        if not line.startswith(":", colon):
            raise ValueError("expected ':'")
        value_at = _skip(line, colon + 1)
        keys.append((Span(i, end), key, value_at))
        _value, i = decoder.raw_decode(line, value_at)
        i = _skip(line, i)
        if line.startswith("}", i):
            return keys, i + 1
        if not line.startswith(",", i):
            raise ValueError("expected ',' or '}'")
        i = _skip(line, i + 1)


def _variable_keys(line: str) -> list[tuple[Span, str]]:
    """The keys of a row that name variables (see the module docstring), with their spans in
    ``line``; raises ValueError when the line is not one JSON object."""
    start = _skip(line, 0)
    if not line.startswith("{", start):
        raise ValueError("not a JSON object")
    keys, end = _object_keys(line, start)
    if _skip(line, end) != len(line):
        raise ValueError("text after the object")
    row = json.loads(line)  # what the loader reads (the last of repeated keys counts)
    if "vars" not in row:
        return [(span, key) for span, key, _ in keys]
    if not isinstance(row["vars"], dict):
        return []
    value_at = [at for _, key, at in keys if key == "vars"][-1]
    return [(span, key) for span, key, _ in _object_keys(line, value_at)[0]]


def _rename_jsonl(text: str, old: str, new: str, file_name: str) -> list[Edit]:
    edits: list[Edit] = []
    offset = 1 if text.startswith("\ufeff") else 0
    new_key = json.dumps(new, ensure_ascii=False)
    for number, line in enumerate(text[offset:].split("\n"), start=1):  # \n only, like the loader
        if line.strip():
            try:
                keys = _variable_keys(line)
            except (ValueError, RecursionError) as exc:
                raise Refused(f"{file_name}:{number} does not read as a JSON object ({exc}): fix it first") from exc
            if any(key == new for _, key in keys):
                raise Refused(f"'{new}' is already a column of {file_name} (line {number}): pick another name")
            edits += [Edit(Span(offset + s.start, offset + s.end), new_key) for s, key in keys if key == old]
        offset += len(line) + 1
    if not edits:
        raise Refused(f"'{old}' is not a column of {file_name} as it is now (changed since it was read?)")
    return edits
