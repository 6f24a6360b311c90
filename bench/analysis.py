"""Analysis of large prompt files at keystroke speed: whole vs incremental, hovers, memory.

    python bench/analysis.py [--sizes 10,200,5000] [--edits 30] [--repeat 5] [--smoke]

For the files of ``bench/validate.py`` with 10, 200 and 5,000 inline examples (the same text
``bench/lsp.py`` sends), in this process:

* **whole analysis**: ``analyze(text)`` with nothing to reuse (what ``promptlsp check`` does);
* **edit → analysis**: a language server (``PromptLanguageServer``, in process, no JSON-RPC and
  no debounce) gets ``--edits`` single-character changes (a letter typed into, then deleted
  from, the review of a random example, as ``textDocument/didChange`` ranges); each is timed
  from applying the change to the document to its diagnostics as LSP objects (the analysis of
  that version plus the conversion): what an editor waits for after its debounce;
* **edit → analysis, in the template**: the same, typing into ``[prompt] template`` (every
  example's variables are checked again);
* **hover lookup**: ``Analysis.node_at`` (the node under the cursor) at 200 random offsets of
  the last analysed version;
* **RSS** (5,000 examples only, in a fresh process): the server with a small file opened and
  closed (imports and caches loaded: "before"), after opening the large file and the edits
  ("open"), and after closing it ("closed").

Each row prints p50 and p95 (nearest rank) in ms next to its goal (issue 14). The script also
runs on a tree without incremental analysis (``PYTHONPATH=<old>/server``): the edits then cost
a whole analysis each, as they did there — that is how the "before" numbers are taken.
``--smoke``: size 10, 4 edits, 2 runs, no RSS (what a test may run).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import validate  # noqa: E402  (the generated files)

GOALS = {  # measure -> {size: goal ms}; the didChange→diagnostics goals of issue 14
    "edit": {10: 50, 200: 100, 5000: 300},
    "edit-template": {10: 50, 200: 100, 5000: 300},
    "hover": {10: 10, 200: 10, 5000: 10},
}


@dataclass
class Row:
    measure: str
    size: int
    times: list[float]
    goal: str = ""


def percentile(values: list[float], q: float) -> float:
    return validate.percentile(values, q)


def example_text(size: int) -> str:
    return validate.inline_file(validate.make_rows(size, random.Random(validate.SEED + size)))


def incremental_available() -> bool:
    from promptlsp.document import analysis
    return "previous" in inspect.signature(analysis.analyze).parameters


# -- the server, in process ---------------------------------------------------------------

def new_server(folder: Path):
    from lsprotocol import types
    from promptlsp.lsp.documents import LspWorkspace
    from promptlsp.lsp.factory import create_server

    ls = create_server()
    ls.protocol._workspace = LspWorkspace(folder.as_uri(), types.TextDocumentSyncKind.Incremental)
    ls.pull_diagnostics = True  # nothing is pushed: there is no client
    return ls


def open_document(ls, uri: str, text: str) -> None:
    from lsprotocol import types
    ls.workspace.put_text_document(types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=text))


def close_document(ls, uri: str) -> None:
    from lsprotocol import types
    from promptlsp.lsp.diagnostics import Diagnostics
    ls.workspace.remove_text_document(uri)
    Diagnostics(ls).did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))


async def diagnostics(ls, uri: str) -> tuple[object, list]:
    from promptlsp.lsp import diagnostics as lsp_diagnostics
    analysis, _ = await ls.analyses.analyse(uri)
    return analysis, lsp_diagnostics.to_lsp(analysis, uri, ls.encoding)


def edit_positions(text: str, anchor: str, rng: random.Random, count: int) -> list[int]:
    """Offsets just inside ``anchor`` occurrences (e.g. inside review strings), chosen at random."""
    found = []
    i = text.find(anchor)
    while i >= 0:
        found.append(i + len(anchor))
        i = text.find(anchor, i + 1)
    return [rng.choice(found) for _ in range(count)]


async def time_edits(ls, uri: str, offsets: list[int]) -> list[float]:
    """Type a letter at each offset, then delete it again (the text returns to where it was):
    each change timed to its diagnostics."""
    from lsprotocol import types
    from promptlsp.document.source import SourceText

    times = []
    for offset in offsets:
        for typed in (True, False):
            document = ls.workspace.get_text_document(uri)
            source = SourceText(document.source)  # (positions only: not timed)
            start = source.position(offset)
            end = start if typed else source.position(offset + 1)
            change = types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(start.line, start.character),
                                  end=types.Position(end.line, end.character)),
                text="x" if typed else "")
            began = time.perf_counter()
            document.apply_change(change)
            document.version = (document.version or 0) + 1
            await diagnostics(ls, uri)
            times.append((time.perf_counter() - began) * 1000)
    return times


def time_hovers(analysis, rng: random.Random, count: int = 200) -> list[float]:
    times = []
    for _ in range(count):
        offset = rng.randrange(len(analysis.text) + 1)
        began = time.perf_counter()
        analysis.node_at(offset)
        times.append((time.perf_counter() - began) * 1000)
    return times


def time_whole(text: str, repeat: int) -> list[float]:
    from promptlsp.document import analyze
    analyze(text)  # fills the compiled-schema and template caches: not timed
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        analyze(text)
        times.append((time.perf_counter() - began) * 1000)
    return times


async def bench_size(size: int, args: argparse.Namespace, folder: Path) -> list[Row]:
    text = example_text(size)
    rows = [Row("whole analysis (promptlsp check)", size, time_whole(text, args.repeat))]
    rng = random.Random(size)
    ls = new_server(folder)
    uri = (folder / f"inline-{size}.prompt.toml").as_uri()
    open_document(ls, uri, text)
    await diagnostics(ls, uri)  # the document's first analysis: not timed
    edits = await time_edits(ls, uri, edit_positions(text, "(order #", rng, args.edits // 2))
    rows.append(Row("edit → analysis + diagnostics", size, edits, f"≤ {GOALS['edit'][size]} ms"))
    template = await time_edits(ls, uri, edit_positions(text, "Product: ", rng, max(args.edits // 10, 1)))
    rows.append(Row("edit → analysis + diagnostics, in the template", size, template,
                    f"≤ {GOALS['edit-template'][size]} ms"))
    analysis, _ = await diagnostics(ls, uri)
    rows.append(Row("hover lookup (node under the cursor)", size, time_hovers(analysis, rng), "≤ 10 ms"))
    close_document(ls, uri)
    return rows


# -- memory, in a fresh process -------------------------------------------------------------

def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def rss_child(size: int, edits: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="promptlsp-bench-analysis-") as tmp:
        folder = Path(tmp)
        ls = new_server(folder)
        small = (folder / "small.prompt.toml").as_uri()
        open_document(ls, small, example_text(10))
        await diagnostics(ls, small)
        close_document(ls, small)
        gc.collect()
        before = rss_mb()
        uri = (folder / "large.prompt.toml").as_uri()
        text = example_text(size)
        open_document(ls, uri, text)
        await diagnostics(ls, uri)
        await time_edits(ls, uri, edit_positions(text, "(order #", random.Random(1), edits // 2))
        await asyncio.sleep(0.1)  # the loop runs the callbacks still holding results, as a live server does
        opened = rss_mb()
        del text
        close_document(ls, uri)
        await asyncio.sleep(0.1)
        gc.collect()
        return {"before": before, "open": opened, "closed": rss_mb()}


def measure_rss(size: int, edits: int) -> dict[str, float] | str:
    # the allocator `promptlsp serve` runs on (see serve_command.use_system_allocator)
    env = {**os.environ, "PYTHONMALLOC": os.environ.get("PYTHONMALLOC", "malloc")}
    done = subprocess.run([sys.executable, __file__, "--rss-child", str(size), "--edits", str(edits)],
                          capture_output=True, text=True, timeout=900, check=False, env=env)
    if done.returncode != 0:
        return f"not measured ({(done.stderr.strip().splitlines() or ['?'])[-1]})"
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- output ---------------------------------------------------------------------------------

def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def table(rows: list[Row]) -> list[str]:
    header = ["examples", "measure", "n", "p50 ms", "p95 ms", "goal (p95)"]
    body = [[str(r.size), r.measure, str(len(r.times)), _ms(percentile(r.times, 0.5)),
             _ms(percentile(r.times, 0.95)), r.goal] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header, *body]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,200,5000", help="examples per file (default 10,200,5000)")
    parser.add_argument("--edits", type=int, default=30, help="single-character changes per file (default 30)")
    parser.add_argument("--repeat", type=int, default=5, help="whole analyses per file (default 5)")
    parser.add_argument("--smoke", action="store_true", help="size 10, 4 edits, 2 runs, no RSS")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        print(json.dumps(asyncio.run(rss_child(args.rss_child, args.edits))))
        return 0
    if args.smoke:
        args.sizes, args.edits, args.repeat = "10", 4, 2
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="promptlsp-bench-analysis-") as tmp:
        for size in sizes:
            rows.extend(asyncio.run(bench_size(size, args, Path(tmp))))
    print("\n".join(table(rows)))
    if not incremental_available():
        print("(this tree has no incremental analysis: each edit is analysed whole)")
    if not args.smoke and 5000 in sizes:
        rss = measure_rss(5000, args.edits)
        if isinstance(rss, str):
            print(f"RSS, 5000 examples: {rss}")
        else:
            ratio = rss["closed"] / rss["before"]
            print(f"RSS, 5000 examples: before open {rss['before']:.0f} MB, open {rss['open']:.0f} MB, "
                  f"after close {rss['closed']:.0f} MB ({ratio:.2f}× before; goal ≤ 1.20×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
