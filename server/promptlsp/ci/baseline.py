"""The regression gate: per-example scores saved to a file meant to be committed, and a later
run compared with it.

The file is JSON with one line per example, sorted by file and example id, so a pull request's
diff of it reads as "these examples changed". A file's score *for the gate* is the mean over the
examples in both the baseline and this run (an example that could not be scored counts 0), so
adding or removing examples never passes for a regression or hides one; they are reported
apart. A file regressed when that score dropped by more than the tolerance.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .batch import FileEval

DEFAULT_PATH = Path(".promptlsp") / "baseline.json"
FORMAT = 1
OUTPUT_LIMIT = 500  # characters of an output kept in the baseline
EPSILON = 1e-9  # float noise is not a regression


class BaselineError(Exception):
    """The baseline file cannot be read or is not a baseline."""


@dataclass(frozen=True)
class Entry:
    file: str
    example: str
    split: str
    score: float | None
    output: str | None

    def to_line(self) -> str:
        return json.dumps({"file": self.file, "example": self.example, "split": self.split,
                           "score": self.score, "output": self.output}, ensure_ascii=False)


def _bounded(text: str | None) -> str | None:
    if text is None or len(text) <= OUTPUT_LIMIT:
        return text
    return text[: OUTPUT_LIMIT - 1] + "…"


def entries(items: Iterable[FileEval]) -> list[Entry]:
    """This run's per-example scores."""
    return [Entry(item.name, r.example_id, r.split, None if r.score is None else round(r.score, 6), _bounded(r.output))
            for item in items for r in item.results]


def read(path: Path) -> dict[tuple[str, str], Entry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"cannot read the baseline {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{path} is not a promptlsp baseline: {exc}") from exc
    if not isinstance(data, dict) or data.get("promptlsp_baseline") != FORMAT or not isinstance(data.get("examples"), list):
        raise BaselineError(f"{path} is not a promptlsp baseline (format {FORMAT})")
    try:
        rows = [Entry(r["file"], r["example"], r.get("split", ""), r.get("score"), r.get("output")) for r in data["examples"]]
    except (KeyError, TypeError) as exc:
        raise BaselineError(f"{path}: a malformed example entry ({exc})") from exc
    return {(e.file, e.example): e for e in rows}


def save(path: Path, items: list[FileEval]) -> int:
    """Write this run's scores into the baseline at ``path``: entries of the files this run
    evaluated are replaced (examples no longer in a file dropped); other files' are kept, so a
    run over part of a repository updates its part. Returns the number of entries written."""
    try:
        kept = read(path) if path.exists() else {}
    except BaselineError:
        kept = {}  # an unreadable old baseline is replaced, not merged
    ran = {item.name: {e.id for e in item.analysis.prompt.examples} for item in items if item.report is not None}
    merged = {key: e for key, e in kept.items() if e.file not in ran or e.example in ran[e.file]}
    merged |= {(e.file, e.example): e for e in entries(items)}
    ordered = [merged[key] for key in sorted(merged)]
    body = ",\n".join(e.to_line() for e in ordered)
    text = f'{{"promptlsp_baseline": {FORMAT}, "examples": [\n{body}\n]}}\n' if ordered else \
        f'{{"promptlsp_baseline": {FORMAT}, "examples": []}}\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return len(ordered)


@dataclass(frozen=True)
class Change:
    example: str
    before: Entry
    after: Entry


@dataclass
class FileComparison:
    file: str
    before: float | None = None  # the mean over the examples in both
    after: float | None = None
    worse: list[Change] = field(default_factory=list)
    better: list[Change] = field(default_factory=list)
    new: list[str] = field(default_factory=list)  # examples not in the baseline
    removed: list[str] = field(default_factory=list)  # baseline examples no longer in the file

    def regressed(self, tolerance: float) -> bool:
        return self.before is not None and self.after is not None and self.after < self.before - tolerance - EPSILON

    def to_dict(self, tolerance: float) -> dict[str, Any]:
        def change(c: Change) -> dict[str, Any]:
            return {"example": c.example, "before": c.before.score, "after": c.after.score,
                    "output_before": c.before.output, "output_after": c.after.output}

        return {"file": self.file, "before": self.before, "after": self.after, "regressed": self.regressed(tolerance),
                "worse": [change(c) for c in self.worse], "better": [change(c) for c in self.better],
                "new": self.new, "removed": self.removed}


def _score(entry: Entry) -> float:
    return entry.score if entry.score is not None else 0.0


def compare(baseline: dict[tuple[str, str], Entry], items: list[FileEval]) -> list[FileComparison]:
    """Each evaluated file against the baseline (files the baseline does not know: all new)."""
    now = {(e.file, e.example): e for e in entries(items)}
    out = []
    for item in items:
        if item.report is None:
            continue
        comparison = FileComparison(item.name)
        in_file = {e.id for e in item.analysis.prompt.examples}
        common = []
        for result in item.results:
            key = (item.name, result.example_id)
            if key not in baseline:
                comparison.new.append(result.example_id)
                continue
            before, after = baseline[key], now[key]
            common.append((before, after))
            if _score(after) < _score(before) - EPSILON:
                comparison.worse.append(Change(result.example_id, before, after))
            elif _score(after) > _score(before) + EPSILON:
                comparison.better.append(Change(result.example_id, before, after))
        comparison.removed = sorted(e.example for (f, _), e in baseline.items() if f == item.name and e.example not in in_file)
        if common:
            comparison.before = statistics.fmean(_score(b) for b, _ in common)
            comparison.after = statistics.fmean(_score(a) for _, a in common)
        out.append(comparison)
    return out
