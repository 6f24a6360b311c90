"""Benchmark: how long validating a prompt file takes, promptlsp vs taplo.

    python bench/validate.py [--sizes 10,200,5000] [--repeat N] [--smoke]

Writes realistic prompt files with 10, 200 and 5,000 examples into a temporary folder — each
size twice: the examples inline as [[examples]] tables (``inline-N``), and the same examples in
a JSONL dataset next to a small prompt file (``jsonl-N``) — then times, per file:

* ``promptlsp.document.analyze`` in this process (read + parse + spans + schema + templates +
  datasets + semantic checks). The first call per file is reported on its own (``1st``) and
  not counted in the median and p95;
* ``taplo lint --schema file://<repo>/prompts-spec/prompt.schema.json FILE`` as a subprocess
  (wall time, so it includes taplo's process start-up: the ``trivial`` row times a minimal
  file to show that cost on its own). taplo checks the TOML against the JSON Schema only; it
  reads neither the JSONL datasets nor the templates.

and prints a plain aligned table: median and p95 (nearest rank; with 5 runs, the slowest) over
``runs`` timed runs, in ms, with the file sizes and the number of diagnostics analyze() reported.
``--smoke``: size 10 only, one run (what tests/bench/test_bench_validate.py runs).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "prompts-spec" / "prompt.schema.json"
SEED = 20240607
DEFAULT_REPEAT = 5
ANALYZE_BUDGET_S = 10.0  # default runs per file: fewer than 5 when they would take longer

# -- realistic content ----------------------------------------------------------------------

_PRODUCTS = [
    "wireless earbuds", "standing desk", "espresso machine", "hiking backpack", "phone case",
    "air purifier", "mechanical keyboard", "rain jacket", "blender", "desk lamp", "e-reader",
    "running shoes", "cast-iron pan", "baby monitor", "electric kettle", "office chair",
]
_OPENERS = ["Bought this", "Ordered it", "Got this as a gift", "Picked this up", "Replaced my old one"]
_WHEN = ["last month", "two weeks ago", "in March", "for my sister", "on sale", "after reading reviews"]
_GOOD = [
    "works exactly as described", "the build quality is excellent", "setup took five minutes",
    "battery lasts for days", "it is quiet and fast", "support answered within an hour",
]
_BAD = [
    "it stopped working after a week", "the zipper broke on day one", "it smells of plastic",
    "the app keeps crashing", "shipping took a month", "the screws did not fit",
]
_NEUTRAL = [
    "it arrived on the scheduled day", "it is the same model they sell in stores",
    "the box contained the manual and a cable", "it comes in three colours",
]
_LABELS = {"positive": _GOOD, "negative": _BAD, "neutral": _NEUTRAL}

HEADER = '''\
version = 1
name = "bench-sentiment"
task = """
Classify the sentiment of a customer's product review. The answer must be exactly one \\
lowercase word: positive, negative or neutral."""

[prompt]
system = "You label product reviews. Reply with one word."
template = """
Product: {{ product }}

Review:
{{ review }}

What is the sentiment (positive, negative or neutral)?"""

[models.task]
model = "openai/gpt-4o-mini"
temperature = 0
max_tokens = 8

[models.judge]
model = "openai/gpt-4o-mini"

[[criteria]]
name = "exact label"
type = "equals"

[[criteria]]
name = "one word"
type = "regex"
value = '^\\s*\\w+\\s*$'

[optimize]
iterations = 3
validation_fraction = 0.2
seed = 7
targets = ["template"]

[optimize.budget]
max_calls = 300
'''

TRIVIAL = '''\
task = "Say hello."

[prompt]
template = "Say hello to {{ name }}."

[[examples]]
vars = { name = "Ada" }
expected = "Hello, Ada!"
split = "validation"
'''


@dataclass
class Row:
    id: str
    review: str
    product: str
    expected: str
    split: str
    asserts: list[dict]


def make_rows(count: int, rng: random.Random) -> list[Row]:
    rows = []
    for i in range(count):
        label = rng.choice(list(_LABELS))
        clauses = rng.sample(_LABELS[label], 2)
        review = f"{rng.choice(_OPENERS)} {rng.choice(_WHEN)}: {clauses[0]}, and {clauses[1]}. (order #{i:05d})"
        split = rng.choices(["train", "validation", "test"], weights=[80, 15, 5])[0]
        asserts = []
        if i % 7 == 3:
            asserts.append({"type": "not-contains", "value": "I think"})
        if i % 11 == 5:
            asserts.append({"type": "llm-rubric", "rubric": f"The answer is the single word '{label}'.", "threshold": 0.5})
        rows.append(Row(f"review-{i:05d}", review, rng.choice(_PRODUCTS), label, split, asserts))
    return rows


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string here


def _toml_value(value: object) -> str:
    return _toml_string(value) if isinstance(value, str) else str(value)


def inline_file(rows: list[Row]) -> str:
    """The examples as [[examples]] tables, in the two common layouts, alternately: inline
    ``vars = { ... }`` / ``assert = [ ... ]``, and [examples.vars] / [[examples.assert]] tables."""
    out = [HEADER]
    for n, row in enumerate(rows):
        out.append(f"\n[[examples]]\nid = {_toml_string(row.id)}\n")
        compact = n % 2 == 1
        if compact:
            out.append(f"vars = {{ review = {_toml_string(row.review)}, product = {_toml_string(row.product)} }}\n")
        out.append(f"expected = {_toml_string(row.expected)}\nsplit = {_toml_string(row.split)}\n")
        if compact and row.asserts:
            items = ("{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in a.items()) + " }" for a in row.asserts)
            out.append("assert = [" + ", ".join(items) + "]\n")
        if not compact:
            out.append(f"\n[examples.vars]\nreview = {_toml_string(row.review)}\nproduct = {_toml_string(row.product)}\n")
            for a in row.asserts:
                out.append("\n[[examples.assert]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in a.items()))
    return "".join(out)


def dataset_files(rows: list[Row], name: str) -> tuple[str, str]:
    """A small prompt file naming a JSONL dataset, and the dataset's text."""
    lines = []
    for n, row in enumerate(rows):
        record: dict = {"id": row.id}
        if n % 3 == 0:  # both row forms: {"vars": {...}} and flat variables
            record["vars"] = {"review": row.review, "product": row.product}
        else:
            record.update(review=row.review, product=row.product)
        record.update(expected=row.expected, split=row.split)
        if row.asserts:
            record["assert"] = row.asserts
        lines.append(json.dumps(record, ensure_ascii=False))
    prompt = HEADER + f'\n[[datasets]]\npath = "{name}"\nformat = "jsonl"\n'
    return prompt, "\n".join(lines) + "\n"


# -- measuring ------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    examples: int
    prompt: Path
    dataset: Path | None = None

    def __post_init__(self) -> None:  # sizes now: the files go away with the temporary folder
        self.toml_kb = f"{self.prompt.stat().st_size / 1024:.1f}"
        self.data_kb = f"{self.dataset.stat().st_size / 1024:.1f}" if self.dataset else "-"


@dataclass
class Result:
    case: Case
    first_ms: float
    analyze_ms: list[float]
    diagnostics: int
    taplo_ms: list[float] | None
    taplo_exit: int | None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (with 5 runs, p95 is the slowest)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def time_analyze(case: Case, root: Path, repeat: int | None) -> tuple[float, list[float], int]:
    """(first call ms, timed runs ms, diagnostics count). The first call is not among the
    timed runs (it fills the compiled-schema and template caches). ``repeat`` None: 5 runs,
    fewer (3 at least) when the first call says they would take more than ~10 s."""
    from promptlsp.document import analyze

    def once():
        return analyze(case.prompt.read_text(encoding="utf-8"), case.prompt, root)

    start = time.perf_counter()
    analysis = once()
    first = time.perf_counter() - start
    if repeat is None:
        repeat = max(3, min(DEFAULT_REPEAT, int(ANALYZE_BUDGET_S / max(first, 1e-9))))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        analysis = once()
        times.append((time.perf_counter() - start) * 1000)
    return first * 1000, times, len(analysis.diagnostics)


def find_taplo() -> Path | None:
    beside = Path(sys.executable).parent / "taplo"
    if beside.exists():
        return beside
    found = shutil.which("taplo")
    return Path(found) if found else None


def time_taplo(taplo: Path, case: Case, cwd: Path, repeat: int) -> tuple[list[float], int]:
    command = [str(taplo), "lint", "--schema", SCHEMA.as_uri(), str(case.prompt)]
    times, code = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
        code = done.returncode
    return times, code


def build_cases(folder: Path, sizes: list[int]) -> list[Case]:
    trivial = folder / "trivial.prompt.toml"
    trivial.write_text(TRIVIAL, encoding="utf-8")
    cases = [Case("trivial", 1, trivial)]
    for size in sizes:
        rows = make_rows(size, random.Random(SEED + size))
        inline = folder / f"inline-{size}.prompt.toml"
        inline.write_text(inline_file(rows), encoding="utf-8")
        cases.append(Case(f"inline-{size}", size, inline))
        data_name = f"jsonl-{size}.jsonl"
        prompt_text, data_text = dataset_files(rows, data_name)
        prompt = folder / f"jsonl-{size}.prompt.toml"
        prompt.write_text(prompt_text, encoding="utf-8")
        (folder / data_name).write_text(data_text, encoding="utf-8")
        cases.append(Case(f"jsonl-{size}", size, prompt, folder / data_name))
    return cases


# -- output ---------------------------------------------------------------------------------

COLUMNS = [
    ("file", "<"), ("examples", ">"), ("toml KB", ">"), ("jsonl KB", ">"), ("diags", ">"), ("runs", ">"),
    ("analyze 1st ms", ">"), ("analyze med ms", ">"), ("analyze p95 ms", ">"),
    ("taplo med ms", ">"), ("taplo p95 ms", ">"), ("taplo exit", ">"),
]


def table(results: list[Result]) -> list[str]:
    rows = []
    for r in results:
        taplo = ("n/a", "n/a", "n/a") if r.taplo_ms is None else (
            f"{statistics.median(r.taplo_ms):.1f}", f"{percentile(r.taplo_ms, 0.95):.1f}", str(r.taplo_exit)
        )
        rows.append([
            r.case.name, str(r.case.examples), r.case.toml_kb, r.case.data_kb, str(r.diagnostics),
            str(len(r.analyze_ms)), f"{r.first_ms:.1f}",
            f"{statistics.median(r.analyze_ms):.1f}", f"{percentile(r.analyze_ms, 0.95):.1f}", *taplo,
        ])
    widths = [max(len(name), *(len(row[i]) for row in rows)) for i, (name, _) in enumerate(COLUMNS)]

    def line(cells: list[str]) -> str:
        return "  ".join(f"{c:{align}{w}}" for c, (_, align), w in zip(cells, COLUMNS, widths)).rstrip()

    header = line([name for name, _ in COLUMNS])
    return [header, "-" * len(header), *(line(row) for row in rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,200,5000", help="numbers of examples per file (default 10,200,5000)")
    parser.add_argument(
        "--repeat", type=int, default=None,
        help=f"timed runs per file and tool (default {DEFAULT_REPEAT}; fewer, but at least 3, "
        f"when a file's runs would take over ~{ANALYZE_BUDGET_S:.0f} s)",
    )
    parser.add_argument("--smoke", action="store_true", help="a quick check: --sizes 10 --repeat 1")
    args = parser.parse_args(argv)
    sizes = [10] if args.smoke else [int(s) for s in args.sizes.split(",") if s.strip()]
    repeat = 1 if args.smoke else (None if args.repeat is None else max(args.repeat, 1))
    if any(size < 1 for size in sizes):
        parser.error("--sizes must be positive integers")

    taplo = find_taplo()
    taplo_version = ""
    if taplo is not None:
        version = subprocess.run([str(taplo), "--version"], capture_output=True, text=True, check=False)
        taplo_version = version.stdout.strip()
    start = time.perf_counter()
    import promptlsp.document  # noqa: F401  (timed on its own: not part of any row)

    import_ms = (time.perf_counter() - start) * 1000
    print("promptlsp validation benchmark: times in ms, median and p95 over 'runs' timed runs per file and tool")
    print(f"python {sys.version.split()[0]}; import promptlsp.document: {import_ms:.0f} ms; schema {SCHEMA.as_uri()}")
    print(f"taplo: {taplo} ({taplo_version})" if taplo else "taplo: not found (next to python or on PATH)")
    print()
    with tempfile.TemporaryDirectory(prefix="promptlsp-bench-") as tmp:
        folder = Path(tmp)
        cases = build_cases(folder, sizes)
        results = []
        for case in cases:
            first_ms, analyze_ms, diagnostics = time_analyze(case, folder, repeat)
            runs = len(analyze_ms)
            taplo_ms, taplo_exit = time_taplo(taplo, case, folder, runs) if taplo else (None, None)
            results.append(Result(case, first_ms, analyze_ms, diagnostics, taplo_ms, taplo_exit))
    for text in table(results):
        print(text)
    print()
    print("analyze: in-process promptlsp.document.analyze(): read + parse + spans + schema + templates + datasets + checks;")
    print("         '1st' is the untimed first call per file (the trivial row's also compiles the schema), not in med/p95.")
    print("taplo:   `taplo lint --schema <schema> FILE` subprocess wall time, including process start-up")
    print("         (the 'trivial' row is mostly that start-up); schema only: it reads no JSONL dataset.")
    if taplo is None:
        print("taplo:   not found next to python or on PATH: taplo columns n/a (it comes with the [test] extra)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
