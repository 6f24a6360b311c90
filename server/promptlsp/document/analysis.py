"""Parse → spans → schema → datasets → semantic checks → typed model.

``analyze(text, path, root, previous)`` is the one entry point the CLI and the language server
call on every change. It never raises on any input: every problem becomes a :class:`Diagnostic`
whose span lies inside the text. Given the analysis of the document's previous version, it
re-reads only the ``[[examples]]`` tables an edit changed (``pieces.py``); the result is the
same as reading the whole text (:func:`analyze_whole`).
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import tomlkit

try:  # the C-speed-ish stdlib reader for data; tomlkit only where it is needed (see _parse)
    import tomllib as _fast_toml
except ImportError:  # Python 3.10
    try:
        import tomli as _fast_toml  # type: ignore[no-redef]
    except ImportError:
        _fast_toml = None  # type: ignore[assignment]

from . import datasets as ds
from . import limits, model, pieces, schema, template
from .diagnostics import Diagnostic, Related, has_errors
from .source import SourceText, Span
from .spans import Node, ScanError, ScanResult, scan

log = logging.getLogger("promptlsp.document")

PROMPT_STRINGS = ("system", "template")
_JINJA_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
ROOT_MARKERS = (".git", ".promptlsp", "pyproject.toml")


def read_text(path: Path) -> str:
    """A prompt file's text (UTF-8, a byte-order mark dropped); raises OSError or
    UnicodeDecodeError for the caller to report."""
    return path.read_bytes().decode("utf-8-sig")


def find_root(path: Path) -> Path:
    """The workspace root for a prompt file outside an editor: the nearest ancestor holding
    ``.git``, ``.promptlsp`` or ``pyproject.toml``, else the file's own folder."""
    folder = path.resolve().parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    return folder


@dataclass
class Analysis:
    text: str
    source: SourceText
    path: Path | None = None
    root: Path | None = None
    data: dict[str, Any] | None = None
    spans: ScanResult | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    prompt: model.PromptFile | None = None
    dataset_files: list[Path] = field(default_factory=list)
    # what was read, for the analysis of the next version (see pieces.py)
    pieces: pieces.Pieces | None = field(default=None, repr=False, compare=False)
    # the units behind data["examples"] when the text was read in pieces
    units: list[pieces.Unit] | None = field(default=None, repr=False, compare=False)
    # whether the whole text is within the limits (limits.check), when that was checked
    within_limits: bool | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    def node(self, path: tuple) -> Node | None:
        return self.spans.nodes.get(tuple(path)) if self.spans else None

    def span_for(self, path: tuple, which: str = "value") -> Span:
        """The span of a key or value, else of its nearest ancestor, else the first line."""
        path = tuple(path)
        while True:
            node = self.node(path)
            if node is not None:
                return (node.key or node.value) if which == "key" else node.value
            if not path:
                return self.source.line_span(0)
            path = path[:-1]
            which = "key"

    def string_span(self, path: tuple, start: int, end: int) -> Span | None:
        """The source span of characters ``[start, end)`` of the string value at ``path``."""
        node = self.node(path)
        if node is None or node.string is None:
            return None
        return node.string.source_span(start, end)

    def node_at(self, offset: int) -> Node | None:
        """The innermost key or value whose span contains ``offset`` (for hovers; the rule is
        ``nodeindex.rank``), from an index: no walk over every node."""
        return self.spans.node_at(offset) if self.spans else None

    @classmethod
    def blank(cls) -> "Analysis":
        """The analysis of an empty document: as ``previous`` of a document's first analysis in
        an editor, it has :func:`analyze` read the text in pieces, for later versions to reuse."""
        return cls(text="", source=SourceText(""), pieces=pieces.Pieces())


def analyze(text: str, path: Path | None = None, root: Path | None = None,
            previous: Analysis | None = None) -> Analysis:
    """Everything known about a prompt file's text; never raises.

    ``previous``: the analysis of an earlier version of the same document (or
    :meth:`Analysis.blank`). Then the text is read in pieces (``pieces.py``) and the pieces
    that version read are reused: an edit costs the examples it touched, not the whole file.
    Without it (a one-off check) the text is read at once, which is faster when nothing can be
    reused. Both give the same analysis."""
    if previous is None:
        return analyze_whole(text, path, root)
    result = Analysis(text=text, source=SourceText.edited(previous.source, text), path=path, root=root)
    return _run(result, previous.pieces or pieces.Pieces())


def analyze_whole(text: str, path: Path | None = None, root: Path | None = None) -> Analysis:
    """:func:`analyze` reading the text in one piece."""
    return _run(Analysis(text=text, source=SourceText(text), path=path, root=root), None)


def _run(result: Analysis, previous: pieces.Pieces | None) -> Analysis:
    try:
        _analyze(result, previous)
    except Exception:  # a bug must cost a diagnostic, never the editor session
        log.exception("internal error while analysing %s", result.path)
        result.diagnostics.append(
            Diagnostic("schema", "promptlsp could not analyse this file (internal error, see the log)", result.source.line_span(0), "error")
        )
        result.prompt = None
    return result


def _syntax_error(result: Analysis, exc: Exception) -> None:
    """A TOML syntax diagnostic at tomlkit's position (duplicates: at the second key)."""
    text = str(exc)
    line = max(getattr(exc, "line", 1) - 1, 0)
    col = max(getattr(exc, "col", 0), 0)
    _report_syntax(result, text.rsplit(" at line ", 1)[0], line, col,
                   duplicate="already exists" in text,
                   in_string="Control characters" in text or "Unexpected end of file" in text)


_FAST_POSITION = re.compile(r" \(at line (\d+), column (\d+)\)$| \(at end of document\)$")


def _fast_syntax_error(result: Analysis, exc: Exception) -> None:
    """A TOML syntax diagnostic from tomllib's error (``… (at line 3, column 7)``)."""
    text = str(exc)
    m = _FAST_POSITION.search(text)
    if m is None:
        line, col = 0, 0
    elif m.group(1):
        line, col = int(m.group(1)) - 1, int(m.group(2)) - 1
    else:
        line = result.source.line_count - 1
        col = len(result.source.line_span(line))
    message = text[: m.start()] if m else text
    _report_syntax(result, message, line, col,
                   duplicate="Cannot overwrite" in text or "Cannot declare" in text,
                   in_string="Illegal character" in text or "Unterminated string" in text)


def _report_syntax(result: Analysis, message: str, line: int, col: int, *, duplicate: bool, in_string: bool) -> None:
    if duplicate:
        try:
            duplicates = scan(result.text).duplicates
        except ScanError:
            duplicates = []
        if duplicates:
            for dup_path, span, first in duplicates:
                related = [Related("first defined here", first)] if first else []
                name = ".".join(str(p) for p in dup_path)
                result.diagnostics.append(Diagnostic.of("toml-syntax", f"key '{name}' is defined twice", span, related))
            return
    if in_string:
        # the reader met a line break or the end inside a string: say so, on the string's opening
        unterminated = _unterminated_string(result.text)
        if unterminated is not None and result.source.line_of(unterminated[0].start) <= line:
            span, closer = unterminated
            result.diagnostics.append(Diagnostic.of("toml-syntax", f"unterminated string: no closing {closer}", span))
            return
    line_span = result.source.line_span(line)
    start = min(line_span.start + col, line_span.end)
    end = min(start + 1, len(result.text))
    result.diagnostics.append(Diagnostic.of("toml-syntax", message, Span(start, max(end, start))))


_STRING_OR_COMMENT = re.compile(r"[\"'#]")
_LINE_BREAK = re.compile(r"[\r\n]")


def _unterminated_string(text: str) -> tuple[Span, str] | None:
    """The first string that a line break (one-line strings) or the end of the text
    (multi-line strings) interrupts: from its opening quote to the end of that line, and the
    closing delimiter it lacks. One linear pass; None when every string is closed."""
    i = 0
    while True:
        m = _STRING_OR_COMMENT.search(text, i)
        if m is None:
            return None
        start = m.start()
        if text[start] == "#":
            i = _line_end(text, start)
            continue
        i, closed = limits.string_end(text, start)
        if not closed:
            closer = text[start:start + 3] if text.startswith(('"""', "'''"), start) else text[start]
            return Span(start, _line_end(text, start)), closer


def _line_end(text: str, i: int) -> int:
    m = _LINE_BREAK.search(text, i)
    return m.start() if m else len(text)


# Above this size a syntax error is reported as tomllib words it: asking tomlkit for its
# message means parsing the file a second time, and tomlkit takes seconds on a megabyte.
TOMLKIT_ERROR_LIMIT = 128 * 1024


def _parse(result: Analysis) -> dict[str, Any] | None:
    """The file's data. tomllib (stdlib, ~3x faster than tomlkit on large files) reads it; only
    when it refuses the text does tomlkit parse it — for the exact error message and position
    that the diagnostics have always given, and so that a text tomlkit accepts is never rejected
    here (edits are planned with tomlkit: what it can parse, it can rewrite). Files over
    TOMLKIT_ERROR_LIMIT get tomllib's message instead.

    tomllib turns a CRLF inside a multi-line string into LF, while tomlkit keeps the string as
    written — which the span map and the prompts sent rely on: in a text with carriage returns,
    those strings are decoded again by the span scanner (else tomlkit reads the whole text)."""
    fast_error: Exception | None = None
    if _fast_toml is not None:
        try:
            data = _fast_toml.loads(result.text)
        except Exception as exc:  # TOMLDecodeError, or a reader bug on odd input: ask tomlkit
            fast_error = exc
        else:
            if "\r" not in result.text or _keep_carriage_returns(result, data):
                return data
    if fast_error is not None and len(result.text) > TOMLKIT_ERROR_LIMIT:
        _fast_syntax_error(result, fast_error)
        return None
    try:
        return tomlkit.parse(result.text).unwrap()
    except Exception as exc:  # ParseError, KeyAlreadyPresent, or a tomlkit bug on odd input
        _syntax_error(result, exc)
        return None


def _keep_carriage_returns(result: Analysis, data: dict[str, Any]) -> bool:
    """Put back the CRLFs tomllib dropped from multi-line strings; False when the span scanner
    cannot read the text (then tomlkit must)."""
    try:
        result.spans = scan(result.text)
        pieces.restore_crlf(result.text, result.spans, data)
    except (ScanError, LookupError, TypeError):
        result.spans = None
        return False
    return True


def _analyze(result: Analysis, previous: pieces.Pieces | None) -> None:
    read = None
    if previous is not None:
        read, result.pieces = pieces.read(result.text, previous)
    if read is not None:
        result.data, result.spans, result.units = read.data, read.spans, read.units
        errors = read.errors
        result.diagnostics.extend(schema.validate(result.data, result.span_for) if errors is None
                                  else schema.diagnostics(errors, result.span_for))
    elif not _read_whole(result):
        return
    data = result.data
    _check_templates(result)
    examples = _collect_examples(result)
    _check_examples(result, examples)
    if not has_errors(result.diagnostics):
        result.prompt = model.build(data, result.path, [(e, explicit) for e, explicit, _ in examples])


def _read_whole(result: Analysis) -> bool:
    """Limits, parse, spans and schema of the whole text at once; False when there is no data."""
    excess = limits.check(result.text)
    result.within_limits = excess is None
    if excess is not None:  # checked before any parser can hang or recurse on it
        result.diagnostics.append(Diagnostic.of("file-too-complex", excess.message, excess.span))
        return False
    result.data = _parse(result)
    if result.data is None:
        return False
    if result.spans is None:
        try:
            result.spans = scan(result.text)
        except ScanError as exc:
            log.warning("span scan failed (%s); diagnostics fall back to coarse ranges", exc)
    result.diagnostics.extend(schema.validate(result.data, result.span_for))
    return True


# -- templates ----------------------------------------------------------------------------

def _prompt_strings(result: Analysis) -> dict[str, str]:
    prompt = result.data.get("prompt") if result.data else None
    if not isinstance(prompt, Mapping):
        return {}
    return {k: prompt[k] for k in PROMPT_STRINGS if isinstance(prompt.get(k), str)}


def _check_templates(result: Analysis) -> None:
    for key, source in _prompt_strings(result).items():
        problem = template.check_syntax(source)
        if problem is None:
            continue
        # Lines as jinja2 counts them (\r\n, \r, \n) — str.splitlines also breaks at \f, \x85, …
        lines = _JINJA_LINES.findall(source) or [""]
        line_index = min(problem.line, len(lines)) - 1
        start = sum(len(line) for line in lines[:line_index])
        content = lines[line_index].rstrip("\r\n")
        indent = len(content) - len(content.lstrip())
        span = result.string_span(("prompt", key), start + indent, start + len(content))
        if span is None or len(span) == 0:
            span = result.span_for(("prompt", key))
        result.diagnostics.append(
            Diagnostic.of("template-syntax", f"{key} line {problem.line}: {problem.message}", span)
        )


def _used_variables(result: Analysis) -> dict[str, str]:
    """Variable name → the prompt string that first uses it."""
    used: dict[str, str] = {}
    for key, source in _prompt_strings(result).items():
        for name in sorted(template.variables(source)):
            used.setdefault(name, key)
    return used


# -- examples -----------------------------------------------------------------------------

# (example, split was explicit, span to report problems about it on — None for an inline
# example: its [[examples]] key, found only when a problem is reported, see _at)
Collected = tuple[model.Example, bool, "Span | None"]


def _at(result: Analysis, item: Collected) -> Span:
    """Where to report a problem about a collected example."""
    return item[2] if item[2] is not None else result.span_for(item[0].origin.path, "key")


def _collect_examples(result: Analysis) -> list[Collected]:
    data = result.data or {}
    collected: list[Collected] = []
    inline = data.get("examples")
    units = result.units
    if isinstance(inline, list):
        for i, raw in enumerate(inline):
            built = units[i].built if units is not None else None
            if built is not None and built[0] == i:  # the unit's text, and so its item, are unchanged
                collected.append(built[1])
            elif isinstance(raw, Mapping) and isinstance(raw.get("vars", {}), Mapping):
                origin = model.ExampleOrigin(("examples", i))
                example, explicit = model.build_example(_plain_example(raw), i, origin, None)
                item = (example, explicit, None)
                if units is not None:
                    units[i].built = (i, item)
                collected.append(item)
    sources = data.get("datasets")
    if isinstance(sources, list):
        for j, entry in enumerate(sources):
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                collected.extend(_load_dataset(result, j, entry, len(collected)))
    return collected


def _plain_example(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only well-typed fields so that a schema error never turns into a crash later."""
    out: dict[str, Any] = {"vars": dict(raw.get("vars", {}))}
    if isinstance(raw.get("id"), (str, int)):
        out["id"] = raw["id"]
    expected = raw.get("expected")
    if isinstance(expected, str) or (isinstance(expected, list) and all(isinstance(v, str) for v in expected)):
        out["expected"] = expected
    if raw.get("split") in ("train", "validation", "test"):
        out["split"] = raw["split"]
    asserts = raw.get("assert")
    if isinstance(asserts, list) and all(_usable_assertion(a) for a in asserts):
        out["assert"] = asserts
    return out


def _usable_assertion(item: Any) -> bool:
    """An ``assert`` item the model can be built from (the schema reports what is wrong with
    the others): a string ``type``, and a number or nothing as ``weight`` and ``threshold``."""
    if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
        return False
    return all(
        item.get(key) is None or (isinstance(item[key], (int, float)) and not isinstance(item[key], bool))
        for key in ("weight", "threshold")
    )


def _load_dataset(result: Analysis, j: int, entry: Mapping[str, Any], offset: int) -> list[Collected]:
    span = result.span_for(("datasets", j, "path"))
    relative = entry["path"]
    if result.path is None:
        result.diagnostics.append(
            Diagnostic.of("dataset-unreadable", f"{relative}: save the prompt file first (dataset paths are relative to it)", span)
        )
        return []
    base = result.path.resolve().parent
    root = (result.root or find_root(result.path)).resolve()
    try:
        file = ds.resolve_inside(base, relative, root)
    except RuntimeError:  # Python < 3.13 reports a symlink loop so
        result.diagnostics.append(Diagnostic.of("dataset-unreadable", f"{relative!r}: not a usable path (a symlink loop)", span))
        return []
    except (ValueError, OSError) as exc:  # e.g. an embedded NUL, a symlink loop (3.13+)
        result.diagnostics.append(Diagnostic.of("dataset-unreadable", f"{relative!r}: not a usable path ({exc})", span))
        return []
    if file is None:
        result.diagnostics.append(
            Diagnostic.of("dataset-outside-root", f"{relative}: outside the workspace root {root}; refused, not read", span)
        )
        return []
    result.dataset_files.append(file)
    fmt = entry.get("format") or ds.infer_format(relative)
    if fmt not in ("jsonl", "csv"):
        result.diagnostics.append(
            Diagnostic.of("dataset-unreadable", f"{relative}: cannot tell the format; set format = \"jsonl\" or \"csv\"", span)
        )
        return []
    loaded = ds.load(file, fmt)
    for problem in loaded.problems:
        where = f"{file.name}:{problem.line}: " if problem.line else ""
        message = problem.message if problem.message.startswith(file.name) else f"{where}{problem.message}"
        related = [Related(problem.message, file=file, line=problem.line)] if problem.line else []
        result.diagnostics.append(Diagnostic.of(problem.kind, message, span, related))
    validator = schema.example_validator()
    collected: list[Collected] = []
    default_split = entry.get("split") if entry.get("split") in ("train", "validation", "test") else None
    for row in loaded.rows:
        problems = schema.validate(row.data, lambda _path, _which: span, validator)
        for problem in problems:
            detail = problem.message.replace("the top level", "the row")
            result.diagnostics.append(
                Diagnostic.of(
                    "dataset-malformed", f"{file.name}:{row.line}: {detail}", span,
                    [Related(detail, file=file, line=row.line)],
                )
            )
        if problems:
            continue
        row.data.setdefault("id", f"{relative}:{row.line}")
        origin = model.ExampleOrigin(("datasets", j), file=file, line=row.line)
        example, explicit = model.build_example(row.data, offset + len(collected), origin, default_split)
        collected.append((example, explicit, span))
    return collected


def _check_examples(result: Analysis, examples: list[Collected]) -> None:
    """What the examples are checked for: none at all, variables, duplicates, `expected`, a validation split."""
    data = result.data or {}
    diagnostics = result.diagnostics
    dataset_trouble = any(d.code.startswith("dataset-") for d in diagnostics)
    if not examples:
        if not dataset_trouble:
            anchor = result.span_for(("prompt",), "key") if "prompt" in data else result.source.line_span(0)
            diagnostics.append(Diagnostic.of("examples-none", "no examples: add [[examples]] tables or a [[datasets]] file", anchor))
        return

    _check_variables(result, examples)
    _check_ids(result, examples)
    _check_duplicates(result, examples)
    _check_expected(result, examples)
    _check_validation_split(result, examples)


def _repeats(examples: list[Collected], key: Callable[[model.Example], Any]) -> Iterator[tuple[Collected, Collected]]:
    """(example, the first example with its key) for every example whose key an earlier one had."""
    first_seen: dict[Any, Collected] = {}
    for item in examples:
        first = first_seen.setdefault(key(item[0]), item)
        if first is not item:
            yield item, first


def _check_ids(result: Analysis, examples: list[Collected]) -> None:
    """Two examples with one id: results, baselines, critiques and the optimizer's paired
    comparisons are all keyed by it, so one example's scores would stand for the other's."""
    for item, first in _repeats(examples, lambda example: example.id):
        result.diagnostics.append(
            Diagnostic.of(
                "example-id-duplicate",
                f"example id {item[0].id!r} is taken by an earlier example: give each example its own id "
                "(results, baselines and critiques are keyed by it)",
                _id_at(result, item),
                [Related("the earlier example with this id", _id_at(result, first))],
            )
        )


def _id_at(result: Analysis, item: Collected) -> Span:
    """An example's ``id`` value; without one, where the example is (``span_for`` falls back to
    the example's key); a dataset row: the dataset's ``path``."""
    return _at(result, item) if item[2] is not None else result.span_for(item[0].origin.path + ("id",))


def _check_duplicates(result: Analysis, examples: list[Collected]) -> None:
    """An example with the same variables and expected answer as an earlier one."""
    for item, first in _repeats(examples, lambda example: _duplicate_key(result, example)):
        result.diagnostics.append(
            Diagnostic.of(
                "example-duplicate",
                f"example {_name(item[0])} repeats example {_name(first[0])} (same vars and expected)",
                _at(result, item),
                [Related("first occurrence", _at(result, first))],
            )
        )


def _check_expected(result: Analysis, examples: list[Collected]) -> None:
    """Criteria or assertions that compare with `expected`, on examples without one."""
    data = result.data or {}
    diagnostics = result.diagnostics
    criteria = [c for c in data.get("criteria", []) if isinstance(c, Mapping)] if isinstance(data.get("criteria"), list) else []
    file_needs = [(i, c) for i, c in enumerate(criteria) if model.needs_expected(c)]
    for item in examples:
        example = item[0]
        if example.expected is not None:
            continue
        names = [str(c.get("name", c.get("type"))) for _, c in file_needs]
        related = [Related(f"criterion '{n}' compares with expected", result.span_for(("criteria", i), "key")) for (i, _), n in zip(file_needs, names)]
        names += [a.name for a in example.asserts if a.kind in model.COMPARES_WITH_EXPECTED and a.value is None]
        if names:
            listed = ", ".join(repr(n) for n in names)
            subject = f"criterion {listed} compares" if len(names) == 1 else f"criteria {listed} compare"
            diagnostics.append(
                Diagnostic.of(
                    "expected-missing",
                    f"example {_name(example)} has no 'expected', but {subject} with it",
                    _at(result, item),
                    related,
                )
            )


def _check_validation_split(result: Analysis, examples: list[Collected]) -> None:
    """No example in the validation split (after the seeded assignment of free examples)."""
    data = result.data or {}
    optimize = data.get("optimize") if isinstance(data.get("optimize"), Mapping) else {}
    fraction = optimize.get("validation_fraction", 0.0)
    seed = optimize.get("seed", 0)
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 <= fraction <= 0.9:
        fraction = 0.0
    if not isinstance(seed, int) or isinstance(seed, bool):
        seed = 0
    assigned = model.assign_splits([(e, explicit) for e, explicit, _ in examples], float(fraction), seed)
    if not any(e.split == "validation" for e in assigned):
        result.diagnostics.append(
            Diagnostic.of(
                "split-no-validation",
                "no example is in the validation split: the optimizer will pick prompts by their training score; "
                "mark some examples split = \"validation\" or set optimize.validation_fraction",
                _at(result, examples[0]),
            )
        )


def _duplicate_key(result: Analysis, example: model.Example) -> str:
    """What two examples that repeat each other share (remembered by the example's unit)."""
    unit = None
    if result.units is not None and example.origin.file is None:
        unit = result.units[example.origin.path[1]]
        if unit.built is None or unit.built[1][0] is not example:
            unit = None
    if unit is not None and unit.duplicate_key is not None:
        return unit.duplicate_key
    key = json.dumps([example.vars, example.expected], sort_keys=True, default=str)
    if unit is not None:
        unit.duplicate_key = key  # a function of the unit's text: vars and expected come from it
    return key


def _name(example: model.Example) -> str:
    return example.origin.describe() if example.origin.file else f"{example.id}"


def _check_variables(result: Analysis, examples: list[Collected]) -> None:
    strings = _prompt_strings(result)
    if not strings or any(template.check_syntax(s) for s in strings.values()):
        return  # a template that does not compile has no reliable variable list
    used = _used_variables(result)
    defined: dict[str, Collected] = {}  # variable -> the first example that defines it
    for item in examples:
        for name in item[0].vars:
            defined.setdefault(name, item)
    # A variable no example defines is the template's problem (often a typo): one error on
    # the variable itself, naming the closest variable the examples do define.
    explained = _undefined_everywhere(result, strings, used, defined)
    unused_in_dataset: dict[tuple, set[str]] = defaultdict(set)
    for item in examples:
        example = item[0]
        missing = sorted(name for name in set(used) - set(example.vars) if name in defined)
        if missing:
            related = []
            for name in missing:
                use = _first_use(result, strings, used[name], name)
                if use is not None:
                    related.append(Related(f"'{name}' is used here", use))
            target = _at(result, item)
            if example.origin.file is None and result.node(example.origin.path + ("vars",)):
                target = result.span_for(example.origin.path + ("vars",), "key")
            diagnostics_message = (
                f"example {_name(example)} does not define {', '.join(repr(m) for m in missing)}, "
                f"used by the {'/'.join(sorted({used[m] for m in missing}))}"
            )
            result.diagnostics.append(Diagnostic.of("template-var-missing", diagnostics_message, target, related))
        for name in sorted(set(example.vars) - set(used) - explained):
            if example.origin.file is None:
                result.diagnostics.append(
                    Diagnostic.of(
                        "example-var-unused",
                        f"variable '{name}' is not used by the template or system message",
                        result.span_for(example.origin.path + ("vars", name), "key"),
                    )
                )
            else:
                unused_in_dataset[example.origin.path].add(name)
    for path, names in unused_in_dataset.items():
        result.diagnostics.append(
            Diagnostic.of(
                "example-var-unused",
                f"dataset variable(s) {', '.join(repr(n) for n in sorted(names))} not used by the template or system message",
                result.span_for(path + ("path",)),
            )
        )


def _first_use(result: Analysis, strings: dict[str, str], key: str, name: str) -> Span | None:
    uses = template.variable_uses(strings[key], name)
    return result.string_span(("prompt", key), *uses[0]) if uses else None


def _undefined_everywhere(
    result: Analysis, strings: dict[str, str], used: dict[str, str], defined: dict[str, Collected]
) -> set[str]:
    """One ``template-var-missing`` on each variable that no example defines, with a
    did-you-mean; returns the examples' variables those messages suggest (their "unused"
    warnings would only repeat the same typo)."""
    unused = sorted(set(defined) - set(used))
    suggested: set[str] = set()
    for name in sorted(n for n in used if n not in defined):
        key = used[name]
        close = difflib.get_close_matches(name, unused, n=1, cutoff=0.6) or difflib.get_close_matches(
            name, sorted(defined), n=1, cutoff=0.6
        )
        related = []
        hint = ""
        if close:
            hint = f" (did you mean '{close[0]}'?)"
            if close[0] in unused:
                suggested.add(close[0])
            example = defined[close[0]][0]
            span = _at(result, defined[close[0]])
            if example.origin.file is None and result.node(example.origin.path + ("vars", close[0])):
                span = result.span_for(example.origin.path + ("vars", close[0]), "key")
            related.append(Related(f"'{close[0]}' is defined by example {_name(example)}", span))
        span = _first_use(result, strings, key, name) or result.span_for(("prompt", key))
        result.diagnostics.append(
            Diagnostic.of("template-var-missing", f"no example defines '{name}', used by the {key}{hint}", span, related)
        )
    return suggested
