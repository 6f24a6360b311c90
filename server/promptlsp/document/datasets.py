"""Examples kept in JSONL or CSV files beside the prompt file.

A dataset path is resolved relative to the prompt file and must stay inside the workspace
root: a prompt file from a cloned repository must not be able to make the editor read
``~/.ssh/id_rsa``. Symlinks are resolved before the check. Nothing outside the root is opened.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SPECIAL_KEYS = ("id", "expected", "split", "assert")
MAX_DATASET_BYTES = 64 * 1024 * 1024

ProblemKind = Literal["dataset-missing", "dataset-unreadable", "dataset-malformed", "dataset-outside-root"]


@dataclass(frozen=True)
class Row:
    """One example read from a dataset file, in the shape of an inline ``[[examples]]`` item."""

    line: int  # 1-based line in the file where the row starts
    data: dict[str, Any]


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    message: str
    line: int | None = None  # 1-based line in the dataset file


@dataclass
class Loaded:
    file: Path
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def infer_format(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    return None


def resolve_inside(base_dir: Path, relative: str, root: Path) -> Path | None:
    """The resolved path, or None when it escapes ``root`` (after resolving symlinks)."""
    candidate = (base_dir / relative).resolve()
    try:
        candidate.relative_to(root.resolve())
    except ValueError:
        return None
    return candidate


def _row_from_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Flat rows (``{"review": ..., "expected": ...}``) and ``{"vars": {...}}`` rows alike.

    A row with ``vars`` is taken as it is, so any other key is reported as unknown by the
    schema check, exactly like a misspelt key in an inline ``[[examples]]`` table.
    """
    obj = {k: v for k, v in obj.items() if not (k in SPECIAL_KEYS and v is None)}  # null = absent
    if "vars" in obj:
        return obj
    data = {k: obj[k] for k in SPECIAL_KEYS if k in obj}
    data["vars"] = {k: v for k, v in obj.items() if k not in SPECIAL_KEYS}
    return data


def _parse_jsonl(text: str) -> tuple[list[Row], list[Problem]]:
    rows, problems = [], []
    # Split on \n only: JSON strings may hold U+2028, U+0085… raw, which str.splitlines breaks at.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem("dataset-malformed", f"invalid JSON: {exc.msg} (column {exc.colno})", number))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem("dataset-malformed", f"expected a JSON object, got {type(obj).__name__}", number))
            continue
        rows.append(Row(number, _row_from_object(obj)))
    return rows, problems


def _parse_csv(text: str) -> tuple[list[Row], list[Problem]]:
    rows, problems = [], []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return rows, [Problem("dataset-malformed", "empty CSV file: expected a header row", 1)]
        header = [h.strip() for h in header]
        if len(set(header)) != len(header) or any(not h for h in header):
            problems.append(Problem("dataset-malformed", "the header row has empty or repeated column names", 1))
            return rows, problems
        start = reader.line_num + 1
        for record in reader:
            line = start
            start = reader.line_num + 1
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                problems.append(
                    Problem("dataset-malformed", f"expected {len(header)} columns, found {len(record)}", line)
                )
                continue
            obj = dict(zip(header, record))
            if obj.get("expected", None) == "":
                del obj["expected"]
            if obj.get("split", None) == "":
                del obj["split"]
            obj.pop("assert", None)  # not expressible in CSV
            rows.append(Row(line, _row_from_object(obj)))
    except csv.Error as exc:
        problems.append(Problem("dataset-malformed", f"invalid CSV: {exc}", reader.line_num or 1))
    return rows, problems


def read(file: Path) -> tuple[str | None, Problem | None]:
    """The text of a dataset file already known to lie inside the workspace root (a byte-order
    mark removed), or None and the problem."""
    try:
        if not file.exists():
            return None, Problem("dataset-missing", f"{file.name}: file not found")
        if not file.is_file():
            return None, Problem("dataset-unreadable", f"{file.name}: not a regular file")
        if file.stat().st_size > MAX_DATASET_BYTES:
            return None, Problem("dataset-unreadable", f"{file.name}: larger than {MAX_DATASET_BYTES // (1024 * 1024)} MiB")
        raw = file.read_bytes()
    except OSError as exc:
        return None, Problem("dataset-unreadable", f"{file.name}: {exc.strerror or exc}")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem("dataset-malformed", f"not valid UTF-8 ({exc.reason})", line)


def load(file: Path, fmt: str) -> Loaded:
    """Read a dataset file that is already known to lie inside the workspace root."""
    loaded = Loaded(file)
    text, problem = read(file)
    if text is None:
        loaded.problems.append(problem)
        return loaded
    rows, problems = _parse_jsonl(text) if fmt == "jsonl" else _parse_csv(text)
    loaded.rows, loaded.problems = rows, problems
    return loaded
