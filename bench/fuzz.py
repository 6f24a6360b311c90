"""Fuzzing: hostile prompt files through ``analyze()``, random LSP traffic against ``promptlsp serve``.

    python bench/fuzz.py [--files 20000] [--ops 1000] [--seed 1] [--jobs 2] [--timeout 10]
                         [--request-timeout 15] [--out .ci-artifacts/fuzz] [--smoke]

**analyze phase.** ``--files`` inputs, each one of the example files (``prompts-spec/examples``,
``bench/quality/tasks``) with 1–4 seeded mutations: byte and character flips, hostile snippets
inserted (U+2028/U+2029/U+0085/\\v/\\f, lone \\r, CRLF, emoji, CJK, NUL, unterminated quotes…),
line breaks rewritten, lines deleted or duplicated, splices of two files, truncation, deep
arrays/inline tables, long dotted keys, jinja2 bombs (``{{ 7**(7**9) }}``, ``{{ 'a'*10**9 }}``,
500 nested ``{% if %}``…), non-numeric ``weight``/``threshold`` in assert items, hostile values,
dataset paths that traverse (``../../etc/passwd``) or loop (symlink cycles) in a scratch workspace.
Input ``i`` depends only on ``--seed`` and ``i``. Each input is analysed by
``promptlsp.document.analyze`` in a forked worker process (``--jobs`` at a time, recycled after
``--tasks-per-worker`` inputs, so a worker's peak RSS (``getrusage``) is per input; address space
capped at ``--memory-mb``). A hang: an input that takes more than ``--timeout`` s of CPU (the
worker gets SIGXCPU), or three times that in wall-clock time (it is killed) — CPU time, so that a
busy machine does not make hangs. Counted per input:

* escaped exception: ``analyze()`` raised, or its last-resort handler caught an exception (it
  logs "internal error"), or the worker died;
* ranges outside: every diagnostic span (and related span) must satisfy
  ``0 <= start <= end <= len(text)``, and its UTF-16 range must lie inside the text's lines as the
  LSP counts them (breaks at \\n, \\r\\n, \\r only; characters within the line, never inside a
  surrogate pair) — checked by this script's own line splitting, not the server's.

**LSP phase.** ``--ops`` random operations, split over three ``python -m promptlsp serve``
processes over stdio, one per position encoding (UTF-16 with pushed diagnostics, UTF-8 with pull
capability, UTF-32 pushed): didOpen of mutated files (odd URIs too), full and incremental didChange
(ranges in the negotiated encoding, sometimes past a line's end), hovers at random and
out-of-range positions, codeAction, pull diagnostics, documentSymbol and unknown methods, unknown
notifications, malformed requests (bogus params, null params, no ``jsonrpc`` field) and an
unparsable frame, didClose. The script keeps its own copy of every open document with LSP
semantics and checks against it (the version it had when the server computed them) every range
the server sends back: published and pulled diagnostics, hover ranges, code-action edits; at the
end of each document's life (before didClose) it pulls the diagnostics and checks them. Counted:

* escaped exceptions: InternalError / RequestFailed answers, ``window/showMessage`` errors during
  well-formed traffic (pygls reports a handler's exception that way), server crashes;
* unanswered: requests (well-formed or malformed, which must get an error) without an answer
  within ``--request-timeout`` s.

Prints one table row per phase (LSP: per server), writes ``summary.json`` and every failing input
or session log to ``--out``, and exits 1 when any count is non-zero. ``--smoke``: 300 files and 60
operations (what tests/bench/test_bench_fuzz.py runs). Linux/macOS (fork).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import logging
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_connections
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import lsp as lsp_bench  # noqa: E402  (bench/lsp.py: the stdio LSP client)

SEED_FILES = sorted((REPO / "prompts-spec" / "examples").glob("*.prompt.toml")) + sorted(
    (REPO / "bench" / "quality" / "tasks").glob("*.prompt.toml"))
DATASETS = [REPO / "prompts-spec" / "examples" / n for n in ("qa-with-context.jsonl", "support-tickets.csv")]
DEFAULT_OUT = REPO / ".ci-artifacts" / "fuzz"
SERVER_COMMAND = [sys.executable, "-m", "promptlsp", "serve"]
INTERNAL_ERROR, REQUEST_FAILED = -32603, -32803

# -- hostile material -----------------------------------------------------------------------------

SNIPPETS = [
    "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\r", "\r\n", "\n\r", "\x00", "\ufeff", "\u200b", "\u202e",
    "😀", "👨‍👩‍👧‍👦", "🇫🇷", "日本語のテキスト", "e\u0301", "\U0010ffff", "𝕏", '"', "'", '"""', "'''", "\\", "\\u",
    "[", "]]", "[[", "{", "}", "=", " = ", ",", "#", "{{", "}}", "{%", "%}", "{#", 'x = "unterminated\n',
    "key = '''never closed\n", "[table\n", "[[examples]]\n", "[prompt]\n", 'a = { b = 1, \n', "= 1\n",
    "task = 1\n", "\t\t\t", "\u2028[prompt]\u2028", "a\rb = 1\r", "1979-05-27T07:32:00Z", "nan", "inf", "-0",
    "0x_1", "1__0", "9" * 400,
]
JINJA_BOMBS = [
    "{{ 7**(7**9) }}", "{{ 'a'*10**9 }}", "{{ range(10**9)|list }}", "{{ (" * 300 + "1" + ")" * 300 + " }}",
    "{% if x %}" * 500 + "y" + "{% endif %}" * 500, "{% for i in range(10**9) %}{{ i }}{% endfor %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for a in x %}" * 200 + "{% endfor %}" * 200, "{{ x", "{% raw %}never ended", "{{ " + "x." * 2000 + "y }}",
    "{{ " + "[" * 500 + "]" * 500 + " }}", "{% set x = 9**9**9 %}{{ x }}", "{{ '%s' % ('a' * 10**8) }}",
]
BAD_NUMBERS = ['"heavy"', '"0.5"', "nan", "inf", "-inf", "-1", "1e400", "[]", "{}", "true", '""', "10" * 50,
               "1979-05-27", '"\u2028"', "{ value = 1 }"]
HOSTILE_VALUES = BAD_NUMBERS + ['"😀日本"', '"\x00"', '"' + "x" * 20000 + '"', '"a\\u0000b"', "[[[1]]]",
                                '"""\n\u2028\n"""', "'''\r'''", '"../../etc/passwd"']
DATASET_PATHS = [
    "../../../../../../etc/passwd", "/etc/passwd", "/dev/zero", "zero.jsonl", "loop.jsonl", "ping.jsonl",
    "cycle/" + "self/" * 40 + "qa-with-context.jsonl", "cycle/" + "self/" * 3000 + "x.jsonl", ".", "..", "",
    "dir.jsonl", "~/.ssh/id_rsa", "C:\\\\Windows\\\\win.ini", "\\\\\\\\server\\\\share\\\\x.csv",
    "qa-with-context.jsonl\\u0000.csv", "%2e%2e/%2e%2e/etc/passwd", "file:///etc/passwd", "a" * 5000 + ".jsonl",
    "qa-with-context.jsonl/../../../../etc/passwd", "outside.jsonl", "support-tickets.csv/", "💥.jsonl",
    "empty.csv", "fuzz-00000.prompt.toml",
]


def make_workspace(folder: Path) -> Path:
    """A scratch workspace: the examples' datasets, symlink loops, links outside, a directory."""
    for data in DATASETS:
        shutil.copy(data, folder / data.name)
    links = {"loop.jsonl": "loop.jsonl", "ping.jsonl": "pong.jsonl", "pong.jsonl": "ping.jsonl",
             "zero.jsonl": "/dev/zero", "outside.jsonl": "/etc/passwd"}
    for name, target in links.items():
        (folder / name).symlink_to(target)
    (folder / "cycle").mkdir()
    (folder / "cycle" / "self").symlink_to(".")
    (folder / "dir.jsonl").mkdir()
    (folder / "empty.csv").write_text("", encoding="utf-8")
    return folder


# -- mutations --------------------------------------------------------------------------------------

def _offset(rng: random.Random, text: str) -> int:
    return rng.randint(0, len(text))


def _line_start(rng: random.Random, text: str) -> int:
    starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
    return rng.choice(starts)


def m_byte_flip(rng: random.Random, text: str, seeds: list[str]) -> str:
    data = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 8)):
        if data:
            i = rng.randrange(len(data))
            data[i] = rng.randrange(256) if rng.random() < 0.5 else data[i] ^ (1 << rng.randrange(8))
    return data.decode("utf-8", "replace")


def m_char_flip(rng: random.Random, text: str, seeds: list[str]) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 8)):
        if chars:
            chars[rng.randrange(len(chars))] = rng.choice(SNIPPETS)[:1] or "x"
    return "".join(chars)


def m_snippet(rng: random.Random, text: str, seeds: list[str]) -> str:
    for _ in range(rng.randint(1, 4)):
        at = _offset(rng, text) if rng.random() < 0.7 else _line_start(rng, text)
        text = text[:at] + rng.choice(SNIPPETS) + text[at:]
    return text


def m_line_breaks(rng: random.Random, text: str, seeds: list[str]) -> str:
    lines = text.split("\n")
    breaks = ["\r\n", "\r", "\u2028", "\x85", "\x0c", "\n"]
    if rng.random() < 0.5:
        return rng.choice(breaks).join(lines)
    return "".join(line + rng.choice(breaks) for line in lines)


def m_delete_lines(rng: random.Random, text: str, seeds: list[str]) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 5)):
        if lines:
            del lines[rng.randrange(len(lines))]
    return "".join(lines)


def m_duplicate_lines(rng: random.Random, text: str, seeds: list[str]) -> str:
    lines = text.split("\n")
    if not lines:
        return text
    start = rng.randrange(len(lines))
    block = lines[start:start + rng.randint(1, 12)]
    at = rng.randint(0, len(lines))
    return "\n".join(lines[:at] + block * rng.randint(1, 3) + lines[at:])


def m_splice(rng: random.Random, text: str, seeds: list[str]) -> str:
    other = rng.choice(seeds)
    if rng.random() < 0.5:
        return text[:_offset(rng, text)] + other[_offset(rng, other):]
    return text[:_line_start(rng, text)] + other[_line_start(rng, other):]


def m_truncate(rng: random.Random, text: str, seeds: list[str]) -> str:
    return text[:_offset(rng, text)]


def m_nesting(rng: random.Random, text: str, seeds: list[str]) -> str:
    depth = rng.choice([20, 200, 1000, 5000])
    kind = rng.randrange(3)
    if kind == 0:
        value = "[" * depth + "1" + "]" * depth
    elif kind == 1:
        value = "{ a = " * depth + "1" + " }" * depth
    else:
        value = "[{ a = " * depth + "1" + " }]" * depth
    if rng.random() < 0.3:
        value = value[: len(value) // 2]  # never closed
    at = _line_start(rng, text)
    return text[:at] + f"deep = {value}\n" + text[at:]


def m_dotted_key(rng: random.Random, text: str, seeds: list[str]) -> str:
    parts = rng.choice([50, 500, 2000, 5000])
    name = rng.choice(["a", "prompt", "examples", '"q"', "\u65e5"])
    key = ".".join([name] * parts)
    line = f"[{key}]\n" if rng.random() < 0.3 else f"{key} = 1\n"
    at = _line_start(rng, text)
    return text[:at] + line + text[at:]


def m_jinja_bomb(rng: random.Random, text: str, seeds: list[str]) -> str:
    bomb = rng.choice(JINJA_BOMBS)
    match = re.search(r'^(template|system)\s*=\s*("""|\'\'\'|"|\')', text, re.M)
    if match and rng.random() < 0.6:
        at = match.end() + rng.randint(0, 40)
        return text[:at] + bomb + text[at:]
    quoted = f"'''{bomb}'''" if "'''" not in bomb else json.dumps(bomb)
    block = f"\n[prompt]\ntemplate = {quoted}\n" if "[prompt]" not in text else f"template = {quoted}\n"
    at = text.find("[prompt]")
    if at < 0:
        return text + block
    at = text.find("\n", at) + 1
    return text[:at] + block + text[at:]


def m_bad_assert(rng: random.Random, text: str, seeds: list[str]) -> str:
    kind = rng.choice(["contains", "llm-rubric", "regex", "equals", "json-schema", "is-json", "???"])
    field_ = rng.choice(["weight", "threshold"])
    value = rng.choice(BAD_NUMBERS)
    extra = 'value = "x"' if kind != "llm-rubric" else 'rubric = "be nice"'
    if rng.random() < 0.5:
        item = f'\n[[examples.assert]]\ntype = "{kind}"\n{extra}\n{field_} = {value}\n'
        at = text.find("[[examples]]")
        if at < 0:
            return text + '\n[[examples]]\nvars = {}\nexpected = "x"\n' + item
        end = text.find("\n[", at + 1)
        end = len(text) if end < 0 else end
        return text[:end] + item + text[end:]
    line = f'assert = [{{ type = "{kind}", {extra}, {field_} = {value} }}]\n'
    return text + f'\n[[examples]]\nvars = {{ q = "1" }}\nexpected = "1"\n{line}'


def m_dataset_path(rng: random.Random, text: str, seeds: list[str]) -> str:
    path = rng.choice(DATASET_PATHS)
    fmt = rng.choice(["", 'format = "jsonl"\n', 'format = "csv"\n', 'format = "xml"\n'])
    if rng.random() < 0.4 and re.search(r'^path\s*=', text, re.M):
        return re.sub(r'^path\s*=.*$', lambda _m: f'path = "{path}"', text, count=1, flags=re.M)  # a function: the path may hold backslashes
    return text + f'\n[[datasets]]\npath = "{path}"\n{fmt}'


def m_value(rng: random.Random, text: str, seeds: list[str]) -> str:
    keys = list(re.finditer(r"^([A-Za-z_]+)\s*=\s*(.*)$", text, re.M))
    if not keys:
        return text
    for _ in range(rng.randint(1, 3)):
        match = rng.choice(keys)
        if match.end() <= len(text) and text[match.start():match.end()] == match.group(0):
            text = text[:match.start(2)] + rng.choice(HOSTILE_VALUES) + text[match.end(2):]
            keys = list(re.finditer(r"^([A-Za-z_]+)\s*=\s*(.*)$", text, re.M))
            if not keys:
                break
    return text


MUTATIONS: dict[str, Callable[[random.Random, str, list[str]], str]] = {
    "byte-flip": m_byte_flip, "char-flip": m_char_flip, "snippet": m_snippet, "line-breaks": m_line_breaks,
    "delete-lines": m_delete_lines, "duplicate-lines": m_duplicate_lines, "splice": m_splice,
    "truncate": m_truncate, "deep-nesting": m_nesting, "dotted-key": m_dotted_key, "jinja-bomb": m_jinja_bomb,
    "bad-assert": m_bad_assert, "dataset-path": m_dataset_path, "hostile-value": m_value,
}


def mutate(rng: random.Random, text: str, seeds: list[str], count: int) -> tuple[str, list[str]]:
    names = [rng.choice(list(MUTATIONS)) for _ in range(count)]
    for name in names:
        text = MUTATIONS[name](rng, text, seeds)
    return text, names


@dataclass
class Input:
    index: int
    seed_file: str
    mutations: list[str]
    text: str
    with_path: bool


def make_input(seed: int, index: int, seeds: dict[str, str]) -> Input:
    rng = random.Random(f"{seed}:{index}")
    name = rng.choice(sorted(seeds))
    text, names = mutate(rng, seeds[name], list(seeds.values()), rng.randint(1, 4))
    return Input(index, name, names, text, rng.random() < 0.9)


def load_seeds() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in SEED_FILES}


# -- range checks (LSP semantics, independent of the server's code) ---------------------------------

_BREAK = re.compile(r"\r\n|\r|\n")


def lsp_lines(text: str) -> list[str]:
    """The lines' contents as the LSP counts them: breaks at \\n, \\r\\n and \\r only."""
    return _BREAK.split(text)


def _width(ch: str, encoding: str) -> int:
    if encoding == "utf-32":
        return 1
    if encoding == "utf-16":
        return 2 if ord(ch) > 0xFFFF else 1
    return len(ch.encode("utf-8", "surrogatepass"))


def position_problem(lines: list[str], position: Any, encoding: str) -> str | None:
    """Why ``position`` ({line, character}) is not a position inside ``lines``, else None."""
    if not isinstance(position, dict):
        return f"not a position: {position!r}"
    line, character = position.get("line"), position.get("character")
    if not isinstance(line, int) or not isinstance(character, int) or line < 0 or character < 0:
        return f"bad position {position!r}"
    if line >= len(lines):
        return f"line {line} past the last line ({len(lines) - 1})"
    units = 0
    for ch in lines[line]:
        if units >= character:
            break
        units += _width(ch, encoding)
    if units < character:
        return f"character {character} past the end of line {line} ({units} {encoding} units)"
    if units != character:
        return f"character {character} inside a character of line {line} ({encoding})"
    return None


def range_problem(lines: list[str], lsp_range: Any, encoding: str) -> str | None:
    if not isinstance(lsp_range, dict):
        return f"not a range: {lsp_range!r}"
    for end in ("start", "end"):
        problem = position_problem(lines, lsp_range.get(end), encoding)
        if problem:
            return f"{end}: {problem}"
    start, stop = lsp_range["start"], lsp_range["end"]
    if (start["line"], start["character"]) > (stop["line"], stop["character"]):
        return f"start after end: {lsp_range!r}"
    return None


def _utf16_range(text: str, start: int, end: int) -> dict:
    """A span's UTF-16 range, computed here (not by the server's SourceText); an offset between
    the \\r and \\n of a CRLF counts as the end of its line."""
    breaks = list(_BREAK.finditer(text))

    def position(offset: int) -> dict:
        line, line_start = 0, 0
        for match in breaks:
            if match.end() <= offset:
                line, line_start = line + 1, match.end()
                continue
            offset = min(offset, match.start())
            break
        return {"line": line, "character": sum(_width(ch, "utf-16") for ch in text[line_start:offset])}

    return {"start": position(start), "end": position(end)}


def analysis_problems(text: str, analysis: Any) -> list[str]:
    """Every diagnostic span outside ``text``, and every UTF-16 range the server would send that
    is not inside the text's LSP lines."""
    problems: list[str] = []
    lines = lsp_lines(text)
    for d in analysis.diagnostics:
        spans = [("", d.span)] + [(" (related)", r.span) for r in d.related if r.span is not None and r.file is None]
        for label, span in spans:
            where = f"{d.code}{label} span {span.start}..{span.end}"
            if not (0 <= span.start <= span.end <= len(text)):
                problems.append(f"{where} outside 0..{len(text)}")
                continue
            sent = analysis.source.range(span, "utf-16")
            as_lsp = {"start": {"line": sent.start.line, "character": sent.start.character},
                      "end": {"line": sent.end.line, "character": sent.end.character}}
            problem = range_problem(lines, as_lsp, "utf-16")
            if problem:
                problems.append(f"{where}: LSP range {problem}")
            elif as_lsp != _utf16_range(text, span.start, span.end):
                problems.append(f"{where}: LSP range {as_lsp} is not {_utf16_range(text, span.start, span.end)}")
    return problems


# -- analyze phase: forked workers with a timeout ---------------------------------------------------

def analyze_input(text: str, path: Path | None, root: Path | None) -> Any:
    from promptlsp.document import analyze

    return analyze(text, path, root)


class _Caught(logging.Handler):
    """Exceptions the promptlsp loggers log with a traceback (analyze()'s last-resort handler)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record.getMessage() + "\n" + "".join(traceback.format_exception(*record.exc_info)))


def _analyze_one(job: tuple[int, str, str | None, str | None], caught: _Caught) -> dict:
    index, text, path, root = job
    caught.records.clear()
    started = time.perf_counter()
    raised, analysis = None, None
    try:
        analysis = analyze_input(text, Path(path) if path else None, Path(root) if root else None)
    except BaseException:  # noqa: BLE001 — whatever escapes is the finding (MemoryError, RecursionError…)
        raised = traceback.format_exc()
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024 * 1024)
    problems: list[str] = []
    if analysis is not None:
        try:
            problems = analysis_problems(text, analysis)
        except Exception:  # a span object that cannot even be read
            problems = ["ranges unreadable: " + traceback.format_exc(limit=3)]
    return {"index": index, "seconds": seconds, "rss_mb": rss_mb, "raised": raised,
            "internal": list(caught.records), "outside": problems,
            "diagnostics": len(analysis.diagnostics) if analysis is not None else None}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker(conn: Any, tasks: int, memory_mb: int, cpu_timeout: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    caught = _Caught()
    logger = logging.getLogger("promptlsp")
    logger.addHandler(caught)
    logger.propagate = False  # the run's output stays a table; the tracebacks go to the summary
    for _ in range(tasks):
        try:
            job = conn.recv()
        except EOFError:
            return
        # more than cpu_timeout s of CPU on this input: SIGXCPU ends the worker (a hang, whatever
        # the machine's load; the parent's wall-clock limit catches the hangs that do not compute)
        soft = int(_cpu_seconds() + cpu_timeout) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.getrlimit(resource.RLIMIT_CPU)[1]))
        conn.send(_analyze_one(job, caught))


@dataclass
class _Slot:
    process: Any = None
    conn: Any = None
    job: Input | None = None
    started: float = 0.0
    done: int = 0


WALL_FACTOR = 3  # a worker's wall-clock limit per input, in CPU timeouts


class Workers:
    """``jobs`` forked workers, each recycled after ``tasks`` inputs. An input is a hang when it
    uses more than ``timeout`` s of CPU (the worker gets SIGXCPU) or runs ``WALL_FACTOR`` times
    that long (the worker is killed): CPU time, so that a busy machine does not make hangs."""

    def __init__(self, jobs: int, timeout: float, tasks: int, memory_mb: int) -> None:
        self.context = multiprocessing.get_context("fork")
        self.slots = [_Slot() for _ in range(jobs)]
        self.timeout, self.tasks, self.memory_mb = timeout, tasks, memory_mb

    def _start(self, slot: _Slot) -> None:
        parent, child = self.context.Pipe()
        slot.process = self.context.Process(target=_worker, args=(child, self.tasks, self.memory_mb, self.timeout),
                                            daemon=True)
        slot.process.start()
        child.close()
        slot.conn, slot.done = parent, 0

    def _retire(self, slot: _Slot, kill: bool = False) -> None:
        if slot.process is not None:
            if kill:
                slot.process.kill()
            slot.process.join(5)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            slot.conn.close()
        slot.process, slot.conn, slot.job = None, None, None

    def run(self, inputs: Any, root: Path, on_result: Callable[[Input, dict], None]) -> None:
        pending = iter(inputs)
        exhausted = False
        try:
            while True:
                for slot in self.slots:
                    if slot.job is None and not exhausted:
                        job = next(pending, None)
                        if job is None:
                            exhausted = True
                            break
                        if slot.process is None or slot.done >= self.tasks:
                            self._retire(slot)
                            self._start(slot)
                        path = str(root / f"fuzz-{job.index:05d}.prompt.toml") if job.with_path else None
                        slot.conn.send((job.index, job.text, path, str(root) if job.with_path else None))
                        slot.job, slot.started, slot.done = job, time.monotonic(), slot.done + 1
                busy = [s for s in self.slots if s.job is not None]
                if not busy:
                    return
                limit = self.timeout * WALL_FACTOR
                deadline = min(s.started for s in busy) + limit
                ready = wait_connections([s.conn for s in busy], max(deadline - time.monotonic(), 0))
                for slot in busy:
                    if slot.conn in ready:
                        job = slot.job
                        try:
                            result = slot.conn.recv()
                        except (EOFError, OSError):
                            slot.process.join(5)
                            code = slot.process.exitcode
                            result = {"index": job.index, "seconds": time.monotonic() - slot.started, "rss_mb": None,
                                      "internal": [], "outside": []}
                            if code == -signal.SIGXCPU:
                                result["hang"] = f"over {self.timeout:g} s of CPU"
                            else:
                                result["died"] = f"worker died (exit code {code})"
                            self._retire(slot, kill=True)
                        slot.job = None
                        on_result(job, result)
                    elif time.monotonic() - slot.started >= limit:
                        job = slot.job
                        self._retire(slot, kill=True)
                        on_result(job, {"index": job.index, "seconds": limit, "rss_mb": None,
                                        "hang": f"over {limit:g} s of wall-clock time", "internal": [], "outside": []})
        finally:
            for slot in self.slots:
                self._retire(slot, kill=True)


@dataclass
class Tally:
    """One row of the table, and the details behind it."""

    phase: str
    inputs: int = 0
    escaped: int = 0
    outside: int = 0
    unanswered: int = 0
    slowest: float = 0.0
    slowest_what: str = ""
    peak_rss_mb: float | None = None
    failures: list[dict] = field(default_factory=list)
    by_category: dict[str, dict[str, int]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, category: str, kind: str) -> None:
        self.by_category.setdefault(category, {}).setdefault(kind, 0)
        self.by_category[category][kind] += 1

    def to_json(self) -> dict:
        return {"phase": self.phase, "inputs": self.inputs, "escaped_exceptions": self.escaped,
                "ranges_outside": self.outside, "unanswered_or_hangs": self.unanswered,
                "slowest_s": round(self.slowest, 3), "slowest": self.slowest_what, "peak_rss_mb": self.peak_rss_mb,
                "failures_by_category": self.by_category, **self.extra, "failures": self.failures}


def _first_line_of_exception(trace: str) -> str:
    lines = [line for line in trace.strip().splitlines() if line and not line.startswith(" ")]
    return lines[-1][:160] if lines else trace[:160]


def analyze_phase(args: argparse.Namespace, workspace: Path, out: Path) -> Tally:
    seeds = load_seeds()
    tally = Tally("analyze()")
    from promptlsp.document import analyze

    analyze("task = 'warm-up'\n[prompt]\ntemplate = '{{ x }}'\n")  # the forked workers inherit warm caches
    tally.extra["worker_baseline_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    slowest_rss = [None]
    started = time.monotonic()

    def on_result(job: Input, result: dict) -> None:
        tally.inputs += 1
        if result["rss_mb"] is not None:
            tally.peak_rss_mb = max(tally.peak_rss_mb or 0.0, result["rss_mb"])
        if result["seconds"] >= tally.slowest:
            tally.slowest, slowest_rss[0] = result["seconds"], result["rss_mb"]
            tally.slowest_what = f"#{job.index} {job.seed_file} + {', '.join(job.mutations)} ({len(job.text)} chars)"
        kinds = []
        if result.get("hang"):
            tally.unanswered += 1
            kinds.append(("hang", result["hang"]))
        if result.get("raised") or result.get("internal") or result.get("died"):
            tally.escaped += 1
            trace = result.get("raised") or (result["internal"][0] if result["internal"] else result["died"])
            label = "raised" if result.get("raised") else ("internal error" if result["internal"] else "died")
            kinds.append((label, _first_line_of_exception(trace)))
            seen = tally.extra.setdefault("exception_kinds", {})
            seen[kinds[-1][1]] = seen.get(kinds[-1][1], 0) + 1
        if result["outside"]:
            tally.outside += len(result["outside"])
            kinds.append(("range outside", result["outside"][0][:200]))
        if kinds:
            name = f"analyze-{job.index:05d}"
            (out / f"{name}.prompt.toml").write_bytes(job.text.encode("utf-8", "surrogatepass"))
            tally.failures.append({"input": name, "seed_file": job.seed_file, "mutations": job.mutations,
                                   "seconds": round(result["seconds"], 3),
                                   "problems": [f"{k}: {v}" for k, v in kinds],
                                   "trace": (result.get("raised") or "\n".join(result["internal"]))[-4000:] or None,
                                   "outside": result["outside"][:20]})
            for kind, _detail in kinds:
                for mutation in set(job.mutations):
                    tally.count(mutation, kind)
        if tally.inputs % 500 == 0:
            print(f"fuzz: analyze {tally.inputs}/{args.files} ({time.monotonic() - started:.0f} s)",
                  file=sys.stderr, flush=True)

    inputs = (make_input(args.seed, i, seeds) for i in range(args.files))
    Workers(args.jobs, args.timeout, args.tasks_per_worker, args.memory_mb).run(inputs, workspace, on_result)
    tally.extra["slowest_rss_mb"] = slowest_rss[0]
    tally.extra["seconds"] = round(time.monotonic() - started, 1)
    return tally


# -- LSP phase ---------------------------------------------------------------------------------------

_ERROR_CODE = re.compile(r"'code': (-?\d+)")


class FuzzClient(lsp_bench.Client):
    """bench/lsp.py's client, plus raw frames, every publishDiagnostics and error popups."""

    def __init__(self, *args: Any, on_publish: Callable[[dict], None]) -> None:
        super().__init__(*args)
        self.on_publish = on_publish
        self.popups: list[str] = []

    def _notify_watchers(self, method: str, params: Any) -> None:
        if method == "textDocument/publishDiagnostics" and isinstance(params, dict):
            self.on_publish(params)
        elif method == "window/showMessage" and isinstance(params, dict) and params.get("type") == 1:
            self.popups.append(str(params.get("message"))[:300])
        super()._notify_watchers(method, params)

    def send_frame(self, body: bytes) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def call(self, message: dict) -> tuple[int | str, asyncio.Future]:
        """Send a request exactly as given (its id added); the future gets ("result", value),
        ("error", code) or ("gone", why) when the server's output ended first, and when."""
        if self._closed is not None:
            raise self._closed
        self._next += 1
        request_id: int | str = f"fuzz-{self._next}" if self._next % 5 == 0 else self._next  # string ids too
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future

        async def outcome() -> tuple[str, Any, float]:
            try:
                return "result", await future, time.monotonic()
            except RuntimeError as exc:  # the client's form of an error answer
                code = _ERROR_CODE.search(str(exc))
                return "error", int(code.group(1)) if code else str(exc), time.monotonic()
            except ConnectionError as exc:  # the server's output ended first
                return "gone", str(exc), time.monotonic()

        self.send_frame(json.dumps({**message, "id": request_id}).encode("utf-8"))
        return request_id, asyncio.ensure_future(outcome())


@dataclass
class Doc:
    uri: str
    text: str
    version: int
    snapshots: dict[int, str] = field(default_factory=dict)

    def remember(self) -> None:
        self.snapshots[self.version] = self.text
        for old in [v for v in self.snapshots if v < self.version - 30]:
            del self.snapshots[old]


def lsp_offset(text: str, position: dict, encoding: str) -> int:
    """The offset of an LSP position (a character past the line's end means its end)."""
    lines = lsp_lines(text)
    starts = [0] + [m.end() for m in _BREAK.finditer(text)]
    line = position["line"]
    if line >= len(lines):
        return len(text)
    remaining, i = position["character"], starts[line]
    for ch in lines[line]:
        width = _width(ch, encoding)
        if width > remaining:
            break
        remaining -= width
        i += 1
    return i


def random_position(rng: random.Random, text: str, encoding: str) -> dict:
    """A position at a character boundary inside ``text`` (sometimes past a line's end)."""
    offset = rng.randint(0, len(text))
    starts = [0] + [m.end() for m in _BREAK.finditer(text)]
    line = bisect.bisect_right(starts, offset) - 1
    content = lsp_lines(text)[line]
    offset = min(offset - starts[line], len(content))
    character = sum(_width(ch, encoding) for ch in content[:offset])
    if rng.random() < 0.1:
        character += rng.randint(1, 40)
    return {"line": line, "character": character}


def random_range(rng: random.Random, text: str, encoding: str) -> dict:
    a, b = random_position(rng, text, encoding), random_position(rng, text, encoding)
    if (a["line"], a["character"]) > (b["line"], b["character"]):
        a, b = b, a
    return {"start": a, "end": b}


def apply_change(text: str, change: dict, encoding: str) -> str:
    if "range" not in change:
        return change["text"]
    start = lsp_offset(text, change["range"]["start"], encoding)
    end = lsp_offset(text, change["range"]["end"], encoding)
    return text[:start] + change["text"] + text[max(end, start):]


def far_position(rng: random.Random, text: str) -> dict:
    lines = len(lsp_lines(text))
    return rng.choice([{"line": lines + rng.randint(0, 100), "character": 0},
                       {"line": rng.randrange(lines), "character": 10 ** 6},
                       {"line": 2 ** 31 - 1, "character": 2 ** 31 - 1}])


OP_WEIGHTS = {"open": 10, "change-full": 10, "change-incremental": 22, "hover": 18, "hover-far": 5,
              "code-action": 6, "pull": 8, "symbols-unknown": 4, "notify-unknown": 2, "malformed": 10, "close": 5}
MAX_OPEN = 4


class Session:
    """One server process with one position encoding and its random operations."""

    def __init__(self, args: argparse.Namespace, encoding: str, pull: bool, workspace: Path, seeds: dict[str, str],
                 tally: Tally, rng: random.Random, log: list[dict]) -> None:
        self.args, self.encoding, self.pull, self.workspace = args, encoding, pull, workspace
        self.seeds, self.tally, self.rng, self.log = seeds, tally, rng, log
        self.docs: dict[str, Doc] = {}
        self.closed: dict[str, Doc] = {}
        self.late: list[tuple[str, str, asyncio.Future, float]] = []  # malformed requests: answered by the end
        self.client: FuzzClient | None = None
        self.opened = 0

    # -- bookkeeping --
    def fail(self, kind: str, op: str, detail: str) -> None:
        self.tally.failures.append({"encoding": self.encoding, "op": op, "problem": kind, "detail": detail[:400],
                                    "step": len(self.log)})
        self.tally.count(op, kind)
        if kind == "escaped exception":
            self.tally.escaped += 1
        elif kind == "range outside":
            self.tally.outside += 1
        elif kind == "unanswered":
            self.tally.unanswered += 1

    def check_ranges(self, op: str, text: str, ranges: list[Any], what: str) -> None:
        lines = lsp_lines(text)
        for r in ranges:
            problem = range_problem(lines, r, self.encoding)
            if problem:
                self.fail("range outside", op, f"{what}: {problem}")

    def on_publish(self, params: dict) -> None:
        uri, version = params.get("uri"), params.get("version")
        doc = self.docs.get(uri) or self.closed.get(uri)
        items = params.get("diagnostics") or []
        if doc is None or not items or version not in doc.snapshots:
            return
        self.check_ranges("publish", doc.snapshots[version], self.diagnostic_ranges(items, uri),
                          f"published diagnostics of {uri} v{version}")

    @staticmethod
    def diagnostic_ranges(items: list[Any], uri: str) -> list[Any]:
        ranges = []
        for item in items:
            if not isinstance(item, dict):
                ranges.append(item)
                continue
            ranges.append(item.get("range"))
            for rel in item.get("relatedInformation") or []:
                if isinstance(rel, dict) and (rel.get("location") or {}).get("uri") == uri:
                    ranges.append(rel["location"].get("range"))
        return ranges

    # -- the server --
    async def start(self) -> None:
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        self.client = FuzzClient(SERVER_COMMAND, self.workspace, env,
                                 on_publish=self.on_publish)
        await self.client.start()
        text_caps: dict[str, Any] = {"synchronization": {"dynamicRegistration": False},
                                     "publishDiagnostics": {"versionSupport": True, "relatedInformation": True},
                                     "hover": {"contentFormat": ["markdown", "plaintext"]}}
        if self.pull:
            text_caps["diagnostic"] = {"dynamicRegistration": False}
        result = await self.client.request("initialize", {
            "processId": os.getpid(), "rootUri": self.workspace.as_uri(),
            "workspaceFolders": [{"uri": self.workspace.as_uri(), "name": "fuzz"}],
            "capabilities": {"general": {"positionEncodings": [self.encoding]}, "textDocument": text_caps,
                             "workspace": {"configuration": True, "workspaceFolders": True}},
        }, timeout=60)
        negotiated = (result or {}).get("capabilities", {}).get("positionEncoding", "utf-16")
        if negotiated != self.encoding:
            self.tally.extra.setdefault("notes", []).append(f"asked for {self.encoding}, server chose {negotiated}")
            self.encoding = negotiated
        self.client.notify("initialized", {})
        self.docs, self.closed = {}, {}

    def peak_rss_mb(self) -> float | None:
        try:
            status = Path(f"/proc/{self.client.proc.pid}/status").read_text()
        except (OSError, AttributeError):
            return None
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        return int(match.group(1)) / 1024 if match else None

    async def request(self, op: str, method: str, params: Any, *, malformed: dict | None = None) -> Any:
        """Send a request; well-formed ones are awaited (None when not answered), malformed ones
        are answered by the end of the session."""
        message = malformed if malformed is not None else {"jsonrpc": "2.0", "method": method, "params": params}
        self.log.append({"op": op, "send": message})
        request_id, future = self.client.call(message)
        if malformed is not None:
            self.late.append((op, f"{method} id={request_id}", future, time.monotonic()))
            await self.barrier()
            return None
        return await self.answer(op, f"{method} id={request_id}", future, time.monotonic())

    async def answer(self, op: str, what: str, future: asyncio.Future, sent: float) -> Any:
        remaining = sent + self.args.request_timeout - time.monotonic()
        try:
            kind, value, answered = await asyncio.wait_for(asyncio.shield(future), max(remaining, 0.001))
        except asyncio.TimeoutError:
            self.fail("unanswered", op, f"{what}: no answer within {self.args.request_timeout:g} s")
            return None
        if kind == "gone":
            self.fail("unanswered", op, f"{what}: server gone ({value[:200]})")
            return None
        elapsed = answered - sent
        if elapsed > self.tally.slowest:
            self.tally.slowest, self.tally.slowest_what = elapsed, f"{self.encoding} {op} ({what})"
        if kind == "error":
            self.tally.extra.setdefault("error_codes", {}).setdefault(str(value), 0)
            self.tally.extra["error_codes"][str(value)] += 1
            if value in (INTERNAL_ERROR, REQUEST_FAILED):
                self.fail("escaped exception", op, f"{what}: answered with error {value}")
            return None
        return value

    async def barrier(self) -> None:
        """A cheap well-formed request after a malformed message: error popups sent before its
        answer belong to the malformed message (pygls handles messages in order)."""
        before = len(self.client.popups)
        uri = (self.workspace / "never-opened.prompt.toml").as_uri()
        _id, future = self.client.call({"jsonrpc": "2.0", "method": "textDocument/hover",
                                        "params": {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}})
        await self.answer("barrier", "textDocument/hover (barrier)", future, time.monotonic())
        self.tally.extra["popups_on_malformed"] = self.tally.extra.get("popups_on_malformed", 0) + len(self.client.popups) - before
        del self.client.popups[before:]

    def check_popups(self, op: str) -> None:
        for message in self.client.popups:
            self.fail("escaped exception", op, f"window/showMessage error: {message}")
        self.client.popups.clear()

    # -- operations --
    def new_text(self, base: str | None = None) -> str:
        rng = self.rng
        source = base if base is not None else self.seeds[rng.choice(sorted(self.seeds))]
        text, _names = mutate(rng, source, list(self.seeds.values()), rng.randint(0 if base is None else 1, 3))
        return text[:400_000]

    def new_uri(self) -> str:
        self.opened += 1
        n = self.opened
        choice = self.rng.randrange(5)
        if choice == 0:
            return f"untitled:Untitled-{n}"
        if choice == 1:
            return (self.workspace / "dir with spaces" / f"😀 日本 {n}.prompt.toml").as_uri()
        return (self.workspace / f"lsp-{self.encoding}-{n}.prompt.toml").as_uri()

    def pick_doc(self) -> Doc | None:
        return self.docs[self.rng.choice(sorted(self.docs))] if self.docs else None

    async def op_open(self) -> None:
        if len(self.docs) >= MAX_OPEN:
            await self.op_close()
        doc = Doc(self.new_uri(), self.new_text(), self.rng.randint(0, 5))
        doc.remember()
        self.docs[doc.uri] = doc
        params = {"textDocument": {"uri": doc.uri, "languageId": "toml", "version": doc.version, "text": doc.text}}
        self.log.append({"op": "open", "send": {"method": "textDocument/didOpen", "params": params}})
        self.client.notify("textDocument/didOpen", params)

    async def change(self, full: bool) -> None:
        doc = self.pick_doc()
        if doc is None:
            return await self.op_open()
        if full:
            changes = [{"text": self.new_text(doc.text)}]
        else:
            changes, text = [], doc.text
            for _ in range(self.rng.randint(1, 3)):
                replacement = self.rng.choice([
                    "", self.rng.choice(SNIPPETS), self.rng.choice(JINJA_BOMBS)[:200], "\n", "\r", "\r\n",
                    self.rng.choice(list(self.seeds.values()))[self.rng.randrange(1000):][:self.rng.randint(1, 300)]])
                change = {"range": random_range(self.rng, text, self.encoding), "text": replacement}
                text = apply_change(text, change, self.encoding)
                changes.append(change)
        for change in changes:
            doc.text = apply_change(doc.text, change, self.encoding)
        doc.version += self.rng.randint(1, 3)
        doc.remember()
        params = {"textDocument": {"uri": doc.uri, "version": doc.version}, "contentChanges": changes}
        self.log.append({"op": "change-full" if full else "change-incremental",
                         "send": {"method": "textDocument/didChange", "params": params}})
        self.client.notify("textDocument/didChange", params)

    async def op_hover(self, far: bool = False) -> None:
        doc = self.pick_doc()
        if doc is None:
            return await self.op_open()
        text = doc.text
        position = far_position(self.rng, text) if far else random_position(self.rng, text, self.encoding)
        result = await self.request("hover-far" if far else "hover", "textDocument/hover",
                                    {"textDocument": {"uri": doc.uri}, "position": position})
        if isinstance(result, dict) and "range" in result:
            self.check_ranges("hover", text, [result["range"]], f"hover range in {doc.uri} v{doc.version}")

    async def op_code_action(self) -> None:
        doc = self.pick_doc()
        if doc is None:
            return await self.op_open()
        text = doc.text
        params = {"textDocument": {"uri": doc.uri}, "range": random_range(self.rng, text, self.encoding),
                  "context": {"diagnostics": [], **({"only": ["quickfix"]} if self.rng.random() < 0.3 else {})}}
        result = await self.request("code-action", "textDocument/codeAction", params)
        ranges = []
        for action in result if isinstance(result, list) else []:
            edit = action.get("edit") or {} if isinstance(action, dict) else {}
            ranges += [e.get("range") for e in (edit.get("changes") or {}).get(doc.uri, [])]
            for change in edit.get("documentChanges") or []:
                if (change.get("textDocument") or {}).get("uri") == doc.uri:
                    ranges += [e.get("range") for e in change.get("edits", [])]
            ranges += self.diagnostic_ranges(action.get("diagnostics") or [], doc.uri) if isinstance(action, dict) else []
        self.check_ranges("code-action", text, ranges, f"code action in {doc.uri} v{doc.version}")

    async def pull_and_check(self, doc: Doc, op: str) -> None:
        text, version = doc.text, doc.version
        result = await self.request(op, "textDocument/diagnostic", {"textDocument": {"uri": doc.uri}})
        if isinstance(result, dict):
            self.check_ranges(op, text, self.diagnostic_ranges(result.get("items") or [], doc.uri),
                              f"pulled diagnostics of {doc.uri} v{version}")

    async def op_pull(self) -> None:
        doc = self.pick_doc()
        if doc is None:
            return await self.op_open()
        await self.pull_and_check(doc, "pull")

    async def op_symbols_unknown(self) -> None:
        doc = self.pick_doc()
        uri = doc.uri if doc else (self.workspace / "x.prompt.toml").as_uri()
        method = self.rng.choice(["textDocument/documentSymbol", "textDocument/foldingRange", "promptlsp/noSuchMethod",
                                  "fuzz/unknown"])
        await self.request("symbols-unknown", method, {"textDocument": {"uri": uri}})

    async def op_notify_unknown(self) -> None:
        method = self.rng.choice(["$/fuzzNotification", "fuzz/notification", "$/cancelRequest"])
        params = {"id": 10 ** 9} if method == "$/cancelRequest" else {"x": [1, None, "😀"]}
        self.log.append({"op": "notify-unknown", "send": {"method": method, "params": params}})
        self.client.notify(method, params)

    async def op_malformed(self) -> None:
        doc = self.pick_doc()
        uri = doc.uri if doc else (self.workspace / "x.prompt.toml").as_uri()
        good = {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}
        method = self.rng.choice(["textDocument/hover", "textDocument/codeAction", "textDocument/diagnostic"])
        kind = self.rng.choice(["missing-jsonrpc", "null-params", "bogus-params", "unparsable-frame"])
        if kind == "unparsable-frame":
            body = self.rng.choice([b"{not json", b"\xff\xfe", b"[]", b"null", b'{"jsonrpc": "2.0"'])
            self.log.append({"op": "malformed:unparsable-frame", "send": body.decode("latin-1")})
            self.client.send_frame(body)
            await self.barrier()
            return
        if kind == "missing-jsonrpc":
            message = {"method": method, "params": good}
        elif kind == "null-params":
            message = {"jsonrpc": "2.0", "method": method, "params": None}
        else:
            bogus = self.rng.choice([[], "x", 42, {"textDocument": 5}, {"textDocument": {"uri": uri}},
                                     {"textDocument": {"uri": uri}, "position": {"line": -1, "character": 0}},
                                     {"textDocument": {"uri": uri}, "position": {"line": "a", "character": 0}},
                                     {"textDocument": {"uri": 7}, "range": {"start": 1, "end": None}}])
            message = {"jsonrpc": "2.0", "method": method, "params": bogus}
        await self.request(f"malformed:{kind}", method, None, malformed=message)

    async def op_close(self, doc: Doc | None = None) -> None:
        doc = doc or self.pick_doc()
        if doc is None:
            return await self.op_open()
        await self.pull_and_check(doc, "close")  # the end of its life: the server's diagnostics must fit our copy
        self.log.append({"op": "close", "send": {"method": "textDocument/didClose", "params": {"uri": doc.uri}}})
        self.client.notify("textDocument/didClose", {"textDocument": {"uri": doc.uri}})
        self.closed[doc.uri] = self.docs.pop(doc.uri)

    async def run(self, ops: int) -> None:
        names, weights = list(OP_WEIGHTS), list(OP_WEIGHTS.values())
        actions = {"open": self.op_open, "change-full": lambda: self.change(True),
                   "change-incremental": lambda: self.change(False), "hover": self.op_hover,
                   "hover-far": lambda: self.op_hover(far=True), "code-action": self.op_code_action,
                   "pull": self.op_pull, "symbols-unknown": self.op_symbols_unknown,
                   "notify-unknown": self.op_notify_unknown, "malformed": self.op_malformed, "close": self.op_close}
        await self.start()
        peaks = []
        try:
            for _ in range(ops):
                if self.client._closed is not None:  # it crashed: count it, start another
                    self.fail("escaped exception", "server", f"server exited: {str(self.client._closed)[-300:]}")
                    peaks.append(self.peak_rss_mb())
                    await self.client.stop()
                    await self.start()
                op = self.rng.choices(names, weights)[0]
                self.tally.inputs += 1
                await actions[op]()
                self.check_popups(op)
                await asyncio.sleep(self.rng.choice([0, 0, 0.01, 0.05, 0.2]))
            for doc in list(self.docs.values()):
                await self.op_close(doc)
            for op, what, future, sent in self.late:
                await self.answer(op, what, future, sent)
            await asyncio.sleep(0.3)  # the last publishes
            self.check_popups("end")
        finally:
            peaks.append(self.peak_rss_mb())
            known = [p for p in peaks if p is not None]
            if known:
                self.tally.peak_rss_mb = max(known + [self.tally.peak_rss_mb or 0.0])
            await self.client.stop()


async def lsp_phase(args: argparse.Namespace, workspace: Path, out: Path) -> list[Tally]:
    seeds = load_seeds()
    tallies = []
    plans = [("utf-16", False), ("utf-8", True), ("utf-32", False)]
    for n, (encoding, pull) in enumerate(plans):
        ops = args.ops // len(plans) + (1 if n < args.ops % len(plans) else 0)
        if ops == 0:
            continue
        tally = Tally(f"lsp {encoding}{' (pull)' if pull else ''}")
        log: list[dict] = []
        session = Session(args, encoding, pull, workspace, seeds, tally, random.Random(f"{args.seed}:lsp:{encoding}"),
                          log)
        started = time.monotonic()
        await session.run(ops)
        tally.extra["seconds"] = round(time.monotonic() - started, 1)
        tally.extra["server_stderr_tracebacks"] = session.client.stderr.count(b"Traceback (most recent call last)")
        if tally.failures:
            name = f"lsp-{encoding}-session.jsonl"
            with open(out / name, "w", encoding="utf-8") as fh:
                for n_step, entry in enumerate(log):
                    fh.write(json.dumps({"step": n_step, **entry}) + "\n")
            tally.extra["session_log"] = name
        tallies.append(tally)
        print(f"fuzz: {tally.phase}: {tally.inputs} ops ({tally.extra['seconds']} s)", file=sys.stderr, flush=True)
    return tallies


# -- output ------------------------------------------------------------------------------------------

COLUMNS = [("phase", "<"), ("inputs", ">"), ("escaped exceptions", ">"), ("ranges outside", ">"),
           ("unanswered/hangs", ">"), ("slowest (s)", ">"), ("peak RSS (MB)", ">")]


def table(tallies: list[Tally]) -> list[str]:
    rows = [[t.phase, str(t.inputs), str(t.escaped), str(t.outside), str(t.unanswered), f"{t.slowest:.2f}",
             "n/a" if t.peak_rss_mb is None else f"{t.peak_rss_mb:.0f}"] for t in tallies]
    widths = [max(len(name), *(len(r[i]) for r in rows)) for i, (name, _) in enumerate(COLUMNS)]

    def line(cells: list[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, (_, a), w in zip(cells, COLUMNS, widths)).rstrip()

    header = line([name for name, _ in COLUMNS])
    return [header, "-" * len(header), *(line(r) for r in rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000, help="mutated files through analyze() (default 20000)")
    parser.add_argument("--ops", type=int, default=1000, help="random LSP operations, over 3 servers (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="the mutations' seed (default 1)")
    parser.add_argument("--jobs", type=int, default=2, help="analyze() worker processes at a time (default 2)")
    parser.add_argument("--tasks-per-worker", type=int, default=1,
                        help="inputs a worker analyses before it is replaced (default 1: peak RSS per input)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help=f"CPU seconds per analyze() input (default 10; wall clock: {WALL_FACTOR}x)")
    parser.add_argument("--memory-mb", type=int, default=2048, help="address-space cap per worker, 0: none (default 2048)")
    parser.add_argument("--request-timeout", type=float, default=15.0, help="seconds per LSP request (default 15)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"failures and summary.json (default {DEFAULT_OUT})")
    parser.add_argument("--smoke", action="store_true", help="300 files and 60 LSP operations")
    args = parser.parse_args(argv)
    if args.smoke:
        args.files, args.ops = 300, 60
    if args.files < 0 or args.ops < 0 or args.jobs < 1 or args.tasks_per_worker < 1 or args.timeout <= 0:
        parser.error("counts must not be negative; jobs, tasks per worker and timeout must be positive")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("analyze-*.prompt.toml"), *out.glob("lsp-*-session.jsonl"), out / "summary.json"]:
        old.unlink(missing_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="promptlsp-fuzz-") as tmp:
        workspace = make_workspace(Path(tmp).resolve())
        tallies = [analyze_phase(args, workspace, out)]  # first: no threads in this process when it forks
        tallies += asyncio.run(lsp_phase(args, workspace, out))
    failed = any(t.escaped or t.outside or t.unanswered for t in tallies)
    summary = {"seed": args.seed, "files": args.files, "ops": args.ops, "timeout_s": args.timeout,
               "request_timeout_s": args.request_timeout, "seconds": round(time.monotonic() - started, 1),
               "python": sys.version.split()[0], "failed": failed, "phases": [t.to_json() for t in tallies]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False, default=str), encoding="utf-8")

    print(f"promptlsp fuzzing: seed {args.seed}, {args.files} files through analyze(), {args.ops} LSP operations "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus, {summary['seconds']:.0f} s)")
    print()
    for text in table(tallies):
        print(text)
    print()
    first = tallies[0]
    print(f"analyze(): slowest input {first.slowest_what}: {first.slowest:.2f} s, "
          f"peak RSS {first.extra.get('slowest_rss_mb') or 'n/a'} MB "
          f"(a worker starts at ~{first.extra['worker_baseline_rss_mb']:.0f} MB);")
    print(f"  hang = over {args.timeout:g} s of CPU or {args.timeout * WALL_FACTOR:g} s of wall-clock time.")
    print("LSP: inputs = operations; unanswered = requests without an answer (result or error) within "
          f"{args.request_timeout:g} s; peak RSS = the server's VmHWM.")
    print(f"details: {out / 'summary.json'}" + (f"; failing inputs and session logs in {out}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
