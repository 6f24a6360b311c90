"""The dataset files' part of a variable rename: the column renamed in each CSV/JSONL file that
supplies the variable (the edits themselves come from :mod:`promptlsp.document.column_rename`).

Each file is edited as the editor has it when it is open (its text and version, so a versioned
``TextDocumentEdit`` fails rather than edit a changed buffer), else as it is on disk. Ranges are in
the negotiated position encoding, through :class:`SourceText` (CRLF, emoji and CJK alike). A file
that is unreadable, no longer inside the workspace root, or whose column cannot be renamed
safely refuses the whole rename (:class:`~promptlsp.document.column_rename.Refused`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lsprotocol import types
from pygls.workspace import TextDocument

from ..document import Analysis, SourceText, find_root
from ..document import datasets
from ..document import variables as found
from ..document.column_rename import Refused, rename_column
from ..document.source import Encoding
from .positions import to_lsp_range


@dataclass(frozen=True)
class DatasetText:
    uri: str
    text: str
    version: int | None  # the editor's version when open, else None (the file on disk)


@dataclass(frozen=True)
class FileEdit:
    uri: str
    version: int | None
    edits: list[types.TextEdit]


def open_texts(files: list[Path], open_document: Callable[[str], TextDocument | None]) -> dict[Path, DatasetText]:
    """The dataset ``files`` (an analysis's ``dataset_files``) that the editor has open, with
    their text and version (call on the event loop: pygls's documents live there)."""
    texts: dict[Path, DatasetText] = {}
    for file in files:
        document = open_document(file.as_uri())
        if document is not None:
            texts[file] = DatasetText(document.uri, document.source, document.version)
    return texts


def _text(analysis: Analysis, column: found.Column, opened: dict[Path, DatasetText]) -> DatasetText:
    file = Path(column.file)
    root = analysis.root or (find_root(analysis.path) if analysis.path else file.parent)
    if datasets.resolve_inside(file.parent, file.name, root) is None:
        raise Refused(f"{file.name} is not inside the workspace root {root}: it is not edited")
    if file in opened:
        return opened[file]
    text, problem = datasets.read(file)
    if text is None:
        raise Refused(f"{file.name} cannot be read ({problem.message if problem else 'unknown'}): rename the column by hand")
    return DatasetText(file.as_uri(), text, None)


def dataset_edits(analysis: Analysis, variable: found.Variable, new_name: str,
                  opened: dict[Path, DatasetText], encoding: Encoding) -> list[FileEdit]:
    """One :class:`FileEdit` per dataset file supplying ``variable``; raises :class:`Refused`."""
    result: list[FileEdit] = []
    done: set[Path] = set()
    for column in variable.columns:
        if column.file in done:  # two [[datasets]] entries reading one file
            continue
        done.add(column.file)
        dataset = _text(analysis, column, opened)
        edits = rename_column(dataset.text, column.format, variable.name, new_name, Path(column.file).name)
        source = SourceText(dataset.text)
        result.append(FileEdit(dataset.uri, dataset.version, [
            types.TextEdit(range=to_lsp_range(source, e.span, encoding), new_text=e.new_text) for e in edits]))
    return result
