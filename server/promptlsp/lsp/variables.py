"""Go to definition, find references and rename of a template variable
(the occurrences come from :mod:`promptlsp.document.variables`).

* Definition: from a use in ``system``/``template`` (``{{ review }}``), the ``vars.review`` key of
  the first example that defines it (else the dataset file that supplies it); from an example's
  ``vars`` key, the uses in the prompt strings (a variable is *defined* by the examples and
  *declared* by the template: each side leads to the other).
* References: every use, every example's key and the dataset file(s) supplying it.
* Rename: the uses, every example's key and the column in each dataset file that supplies the
  variable (:mod:`.dataset_rename`), in one ``WorkspaceEdit``: ``documentChanges`` (one
  ``TextDocumentEdit`` per file, versioned for open documents) when the client advertises
  ``workspace.workspaceEdit.documentChanges``, else the ``changes`` map, which every client applies
  to any uri — so no client is refused for its capabilities. Refused with the reason
  (``RequestFailed``) when the new name is not a jinja2 identifier, is already used (in this file or
  as a column of a dataset) or is reserved in dataset files, when the template also assigns the
  name, when the file has errors, and when a dataset file cannot be edited (unreadable, outside the
  workspace, a row that does not read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from ..document import Analysis, SourceText, Span
from ..document import template
from ..document import variables as found
from ..document.column_rename import Refused
from ..document.source import Encoding
from .dataset_rename import DatasetText, FileEdit, dataset_edits, open_texts
from .features import Handler
from .positions import to_lsp_range, to_offset
from .server import PromptLanguageServer

REQUEST_FAILED = -32803  # LSP 3.17 RequestFailed: valid request, refused


class RenameRefused(JsonRpcException):
    CODE = REQUEST_FAILED


class Variables:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server

    def handlers(self) -> Iterable[Handler]:
        return (
            Handler(types.TEXT_DOCUMENT_DEFINITION, self.definition),
            Handler(types.TEXT_DOCUMENT_REFERENCES, self.references),
            Handler(types.TEXT_DOCUMENT_PREPARE_RENAME, self.prepare_rename),
            Handler(types.TEXT_DOCUMENT_RENAME, self.rename, types.RenameOptions(prepare_provider=True)),
        )

    async def _analysis(self, uri: str) -> tuple[Analysis, int | None] | None:
        return await self.server.analyses.analyse(uri)

    async def definition(self, params: types.DefinitionParams) -> list[types.Location] | None:
        outcome = await self._analysis(params.text_document.uri)
        if outcome is None:
            return None
        return await self.server.off_loop(
            definition_at, outcome[0], params.text_document.uri, params.position, self.server.encoding)

    async def references(self, params: types.ReferenceParams) -> list[types.Location] | None:
        outcome = await self._analysis(params.text_document.uri)
        if outcome is None:
            return None
        include = params.context.include_declaration if params.context else True
        return await self.server.off_loop(
            references_at, outcome[0], params.text_document.uri, params.position, self.server.encoding, include)

    async def prepare_rename(self, params: types.PrepareRenameParams) -> types.PrepareRenamePlaceholder | None:
        outcome = await self._analysis(params.text_document.uri)
        if outcome is None:
            return None
        return await self.server.off_loop(prepare_rename_at, outcome[0], params.position, self.server.encoding)

    async def rename(self, params: types.RenameParams) -> types.WorkspaceEdit | None:
        uri = params.text_document.uri
        outcome = await self._analysis(uri)
        if outcome is None:
            return None
        analysis, version = outcome
        caps = self.server.client_capabilities
        workspace = caps.workspace if caps else None
        versioned = bool(workspace and workspace.workspace_edit and workspace.workspace_edit.document_changes)
        opened = open_texts(analysis.dataset_files, self.server.open_document)
        return await self.server.off_loop(
            rename_at, analysis, uri, version if versioned else None, versioned,
            params.position, params.new_name, self.server.encoding, opened)


# -- the answers (on the server's executor) ---------------------------------------------------

def _name_at(analysis: Analysis, position: types.Position, encoding: Encoding):
    offset = to_offset(analysis.source, position, encoding)
    return found.at(analysis, offset)


def _location(analysis: Analysis, uri: str, span: Span, encoding: Encoding) -> types.Location:
    return types.Location(uri=uri, range=to_lsp_range(analysis.source, span, encoding))


def _inner(analysis: Analysis, occurrence: found.Occurrence) -> Span:
    """A key's span without its quotes (the name itself), else the occurrence's span."""
    span = occurrence.span
    text = analysis.text[span.start:span.end]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and text[1:-1] == occurrence.name:
        return Span(span.start + 1, span.end - 1)
    return span


def _column_location(column: found.Column, name: str, encoding: Encoding) -> types.Location:
    """The dataset file at the variable's column: the header cell (CSV) or the first row's key
    (JSONL), else the start of the first row's line."""
    line, start, end = column.line - 1, 0, 0
    try:
        lines = column.file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    for number in (0, line) if column.file.suffix.lower() == ".csv" else (line,):
        if 0 <= number < len(lines):
            text = lines[number]
            at = text.find(f'"{name}"')
            at = at + 1 if at >= 0 else text.find(name)
            if at >= 0:
                source = SourceText(text)
                start = source.position(at, encoding).character
                end = source.position(at + len(name), encoding).character
                line = number
                break
    rng = types.Range(start=types.Position(line=line, character=start), end=types.Position(line=line, character=end))
    return types.Location(uri=Path(column.file).as_uri(), range=rng)


def definition_at(analysis: Analysis, uri: str, position: types.Position, encoding: Encoding) -> list[types.Location] | None:
    name, occurrence, _why = _name_at(analysis, position, encoding)
    if occurrence is None:
        return None
    variable = found.find(analysis, name)
    if occurrence.in_template:
        if variable.keys:
            return [_location(analysis, uri, _inner(analysis, variable.keys[0]), encoding)]
        return [_column_location(c, name, encoding) for c in variable.columns] or None
    return [_location(analysis, uri, o.span, encoding) for o in variable.uses] or None


def references_at(analysis: Analysis, uri: str, position: types.Position, encoding: Encoding,
                  include_declaration: bool = True) -> list[types.Location] | None:
    name, occurrence, _why = _name_at(analysis, position, encoding)
    if occurrence is None:
        return None
    variable = found.find(analysis, name)
    declaration = variable.keys[0] if variable.keys else None
    locations = [
        _location(analysis, uri, _inner(analysis, o), encoding)
        for o in variable.occurrences if include_declaration or o is not declaration
    ]
    locations += [_column_location(c, name, encoding) for c in variable.columns]
    return locations or None


def _refuse(message: str) -> RenameRefused:
    return RenameRefused(message=message)


def _renameable(analysis: Analysis, position: types.Position, encoding: Encoding) -> tuple[found.Occurrence, found.Variable]:
    """The variable under ``position`` if it can be renamed; raises :class:`RenameRefused`
    saying why not."""
    name, occurrence, why = _name_at(analysis, position, encoding)
    if occurrence is None:
        raise _refuse(why or "not a template variable: rename works on a {{ variable }} or an example's vars key")
    variable = found.find(analysis, name)
    if variable.assigned:
        raise _refuse(f"'{name}' is also assigned in the template ({{% set %}}, a loop or an argument): "
                      "rename it by hand")
    if not variable.uses:
        raise _refuse(f"'{name}' is not used by the system message or template (or they do not parse)")
    if analysis.prompt is None and (analysis.data or {}).get("datasets"):
        raise _refuse(f"the file has errors, so whether a dataset file supplies '{name}' is unknown: fix them first")
    return occurrence, variable


def prepare_rename_at(analysis: Analysis, position: types.Position, encoding: Encoding) -> types.PrepareRenamePlaceholder | None:
    name, occurrence, why = _name_at(analysis, position, encoding)
    if occurrence is None and why is None:
        return None
    occurrence, _variable = _renameable(analysis, position, encoding)
    return types.PrepareRenamePlaceholder(
        range=to_lsp_range(analysis.source, _inner(analysis, occurrence), encoding), placeholder=occurrence.name)


def _check_new_name(analysis: Analysis, old: str, new: str) -> None:
    if new == old:
        return
    if not found.is_identifier(new):
        raise _refuse(f"'{new}' is not a valid template variable name (letters, digits and _; not starting with a digit)")
    if new in template.BUILTIN_NAMES:
        raise _refuse(f"'{new}' is one of jinja2's built-in names")
    taken = set(found.file_variables(analysis))
    for source in found.prompt_strings(analysis.data).values():
        parsed = found.template_names(source)
        if parsed is not None:
            taken |= {n.name for n in parsed.names} | parsed.assigned
    examples = (analysis.data or {}).get("examples")
    if isinstance(examples, list):
        for raw in examples:
            values = raw.get("vars") if isinstance(raw, dict) else None
            if isinstance(values, dict):
                taken |= set(values)
    if analysis.prompt is not None:
        for example in analysis.prompt.examples:
            if example.origin.file is not None and new in example.vars:
                raise _refuse(f"'{new}' is already a column of {example.origin.file.name}: pick another name")
            taken |= set(example.vars)
    if new in taken:
        raise _refuse(f"'{new}' is already used in this file: pick another name")


def rename_at(analysis: Analysis, uri: str, version: int | None, versioned: bool, position: types.Position,
              new_name: str, encoding: Encoding, opened: dict[Path, DatasetText] | None = None) -> types.WorkspaceEdit | None:
    occurrence, variable = _renameable(analysis, position, encoding)
    _check_new_name(analysis, variable.name, new_name)
    edits = []
    for o in variable.occurrences:
        text = new_name if o.in_template else found.key_text(new_name)
        edits.append(types.TextEdit(range=to_lsp_range(analysis.source, o.span, encoding), new_text=text))
    files = [FileEdit(uri, version, edits)]
    if new_name != variable.name:
        try:
            files += dataset_edits(analysis, variable, new_name, opened or {}, encoding)
        except Refused as refused:
            raise _refuse(str(refused)) from refused
    if versioned:
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=f.uri, version=f.version), edits=f.edits)
            for f in files])
    return types.WorkspaceEdit(changes={f.uri: f.edits for f in files})
