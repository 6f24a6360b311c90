"""Optimizer wall time vs the critical path: promptlsp's GRAD-SUM and TGD, and textgrad 0.1.8.

    python bench/optimize.py [--latency 0.2] [--iterations 3] [--no-judge] [--no-textgrad] [--smoke]

Every model is a loopback OpenAI-compatible stub (``promptlsp.testing.openai_stub``, in a
process of its own, so that it never competes with the optimizer for this process's GIL) that waits a fixed ``--latency`` before each answer and answers from a script that
recognises every request both optimizers send (task answers, judge grades, gradients,
summaries, edits, feedback, TGD steps — see :class:`ScriptedModel`). The task is the sentiment
example (``prompts-spec/examples/sentiment.prompt.toml``) with every model pointed at the stub
and, unless ``--no-judge``, an ``llm-rubric`` criterion added, so that both sides evaluate each
answer with an LLM (textgrad's side then uses ``TextLoss``; with ``--no-judge`` promptlsp keeps
the file's exact-match check and textgrad uses its example's ``StringBasedFunction``).

promptlsp runs through ``make_optimizer`` on an ``Engine(cache_path=None)`` (no cache: every
call is real); textgrad runs its README prompt-optimization loop (``bench/textgrad_loop.py``)
in a subprocess with its own venv, ``bench/.venv-textgrad``, created on first use (textgrad
and its dependencies never enter promptlsp's venv; ``import textgrad`` writes ``./logs/``, so
it runs in a temporary folder). Both sides use the same minibatches, iterations and endpoint.

Before any timing, both sides make one warm-up request (litellm's import and HTTP client; the
OpenAI client's first connection). One row per (method, iteration): **wall s** is the time between the iteration's boundary
events (promptlsp: ``RunStarted`` / the initial validation's ``CandidateScored`` /
``IterationDone`` / ``RunFinished``, stamped on arrival; textgrad: the loop's own timestamps);
**calls** come from the accounting snapshots in those events (textgrad: requests counted at the
stub in the window) and are cross-checked against the stub's request log; **phases** splits them
by what the stub was asked.

**Critical path** = dependent rounds × latency: the longest chain of calls that must wait for
one another, when every independent call runs in parallel. A *round* is one stage of the
algorithm's dependency structure; the calls of one stage are independent of each other. A stage
counts when the window made calls of its kind (so an iteration whose minibatch had no failures,
hence no gradients, is charged fewer rounds), plus one round when any of its requests needed a
repair (a second request that waits for the first). E = 1 eval round (task), 2 with an
llm-rubric judge (task → judge, per example):

* GRAD-SUM iteration: E (gradient minibatch) → gradient → summary → edit (+ variable repair)
  → E (selection minibatch; in the last iteration: the validation split, the candidates with the
  original and the beam); beam prompts expand in parallel, so the beam does not add rounds.
* TGD iteration: E (minibatch) → E per move tried (the answer-format and demonstrations moves
  are tried one after another on the validation split, the demonstrations move after a
  bootstrap E on more training examples; the first move that scores better is taken and ends
  the iteration) → feedback → step (+ repair) → E (validation, when the step produced a new
  prompt): every scoring waits for the one before, so an iteration's E rounds are its
  ``CandidateScored`` events. ``init`` = the validation of the original before iteration 1.
* ``final`` (both): E — whatever of the original and the finalists is not yet scored on the
  validation split (nothing for TGD, nor for GRAD-SUM after a last iteration that scored them),
  or a close call's second look (the original and the candidate on unused training examples).
* textgrad iteration: task → loss (TextLoss: an LLM call; StringBasedFunction: none) →
  backward loss→response → backward response→system prompt (each example's chain is
  independent of the others', ``tg.sum``'s backward makes no call) → TGD step → validation
  task → validation loss. ``init`` = its first validation.

The critical path is reachable only if the widest round fits the concurrency limit; the header
prints each run's limit, the widest round of each method (GRAD-SUM: the most task calls of an
iteration's scoring of its candidates, counted at the stub after the iteration's last edit
request — the last iteration scores the moves, the edits, the beam and the original on the
validation split: 36 calls with the defaults here, so the default ``--concurrency`` is 48) and
the most requests the stub saw in flight. The CPU litellm spends per call is a larger share of
a round the shorter the latency: on a host a factor k slower than another, ``--latency`` k × L
gives the ratios the faster host gets at L. The rows run at ``--concurrency``; the
``gradsum-default`` rows run GRAD-SUM again with no ``concurrency`` in the file, the stub reached
the way a hosted provider is (no ``api_base`` in the file: litellm finds it through
``OPENAI_BASE_URL``): the limit a user of a hosted provider gets by default —
``promptlsp.engine.spec.HOSTED_CONCURRENCY`` to start with, one more per answer up to
``HOSTED_CEILING`` (the header shows start→end).

The stub process stamps arrivals with ``time.monotonic()``, a clock shared by the processes of
one machine, and this process reads its request log over HTTP (``/bench/stats``).
``--smoke``: 1 iteration at 10 ms latency; textgrad runs only if its venv already exists.

**Cached rerun** (the last table, :func:`cached_rerun`): ``promptlsp eval`` and ``promptlsp
optimize`` on the same task, each run twice as a user would (``python -m promptlsp``, a fresh
process, the workspace's cache): the second run finds every answer cached. Its wall (goal
<= 1 s), its new calls (0), whether it imported litellm (a third identical run under ``-X
importtime``) and how long the process lived after the last byte of its result (goal <= 0.2 s;
stdout unbuffered, as on a terminal) — beside the first run's wall and exit latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SERVER_DIR = REPO / "server"
sys.path.insert(0, str(SERVER_DIR))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

import tomlkit  # noqa: E402

from promptlsp.document import analyze  # noqa: E402
from promptlsp.document.model import PromptFile  # noqa: E402
from promptlsp.engine import Engine, ModelSpec  # noqa: E402
from promptlsp.engine.litellm_backend import _import_litellm  # noqa: E402
from promptlsp.evaluate.judge import JUDGE_SYSTEM  # noqa: E402
from promptlsp.evaluate.results import format_score  # noqa: E402
from promptlsp.optimize import make_optimizer  # noqa: E402
from promptlsp.optimize.candidates import sample  # noqa: E402
from promptlsp.testing.openai_stub import StubServer  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
import _common  # noqa: E402
from _common import (  # noqa: E402
    TEXTGRAD, TG_BACKWARD_SYSTEM, TG_OPTIMIZER_SYSTEM, promptlsp_phase, request_of, revision,
)

EXAMPLE = REPO / "prompts-spec" / "examples" / "sentiment.prompt.toml"
TG_LOOP = REPO / "bench" / "textgrad_loop.py"
KEY_ENV = "PROMPTLSP_BENCH_KEY"
DUMMY_KEY = "sk-bench-not-a-secret"
RUBRIC = "The answer is exactly the correct label: one lowercase word (positive, negative or neutral), nothing else."

# What bench/textgrad_loop.py's TextLoss instruction begins with (textgrad's own system prompts: _common).
TG_EVAL_MARKER = "You evaluate one answer of a sentiment classifier."

RULES = (
    "Answer with exactly one lowercase word: positive, negative or neutral.",
    "Do not explain the answer or repeat the review.",
    "Reviews that only state facts, or are neither clearly good nor clearly bad, are neutral.",
    "Praise with a complaint about the product itself is negative.",
)


# -- the scripted model ------------------------------------------------------------------------

def classify(body: dict) -> tuple[str, bool]:
    """What a request asks for (its phase) and whether it is a repair round of an earlier one.

    promptlsp: ``task``, ``judge``, ``gradient``, ``summary``, ``edit``, ``feedback``, ``step``;
    textgrad: ``tg-task``, ``tg-loss``, ``tg-backward-response``, ``tg-backward-prompt``, ``tg-step``.
    """
    request = request_of(body)
    system, user, repair = request.system, request.first_user, request.repair
    if TG_BACKWARD_SYSTEM in system:
        return ("tg-backward-prompt" if "<ROLE> system prompt" in user else "tg-backward-response"), repair
    if TG_OPTIMIZER_SYSTEM in system:
        return "tg-step", repair
    if TG_EVAL_MARKER in system:
        return "tg-loss", repair
    phase = promptlsp_phase(request)
    if phase is not None:
        return phase, repair
    if JUDGE_SYSTEM in system:
        return "judge", repair
    return ("tg-task" if system else "task"), repair  # the sentiment file has no system prompt; textgrad's task has


def accuracy_at(level: int) -> float:
    """How often the scripted task model answers right, by prompt revision: better with each
    rewrite, never perfect (so every iteration has failures to learn from)."""
    return min(0.30 + 0.15 * level, 0.75)


def revised(text: str, variant: str = "") -> str:
    """``text`` with one more of this bench's rules and its revision number raised."""
    return _common.revised(text, RULES, variant)


class ScriptedModel:
    """Answers every request of both optimizers, deterministically, from what it asks for."""

    def __init__(self, prompt_file: PromptFile, textgrad_prompt: str) -> None:
        self.labels = {str(e.vars["review"]): str(e.expected[0]) for e in prompt_file.examples if e.expected}
        self.textgrad_prompt = textgrad_prompt

    def textgrad_at(self, level: int) -> str:
        text = self.textgrad_prompt
        for _ in range(level):
            text = revised(text)
        return text

    def task(self, everything: str) -> str:
        """The label when the prompt's revision is good enough for this review's (fixed, hashed)
        difficulty, else a sentence: the same prompt quality scores the same on both sides."""
        review = next((r for r in self.labels if r in everything), None)
        if review is None:
            return "ok"
        label = self.labels[review]
        right = zlib.crc32(review.encode("utf-8")) % 100 < 100 * accuracy_at(revision(everything))
        return label if right else "Hard to say."  # no label inside: no answer-format move, the stages stay comparable

    def __call__(self, body: dict) -> str:
        phase, _ = classify(body)
        request = request_of(body)
        system, user = request.system, request.first_user
        if phase in ("task", "tg-task"):
            return self.task(request.everything)
        if phase == "judge":
            answer = re.search(r"<answer>\n(.*?)\n</answer>", user, re.S)
            reference = re.search(r"## Reference answer \(any of\)\n(.*)\n", user)
            refs = [r.strip() for r in reference.group(1).split("|")] if reference else []
            ok = answer is not None and answer.group(1).strip() in refs
            return json.dumps({"reason": "exact label" if ok else "not just the label", "score": 10 if ok else 2})
        if phase == "gradient":
            return json.dumps({"comparison": "the answer is in a sentence", "problem": "The prompt never states the labels or the output format.",
                               "quote": "What is the sentiment?", "suggestion": "Ask for exactly one word."})
        if phase == "summary":
            return json.dumps({"summary": "The prompt leaves the answer format open.", "critiques": [
                {"quote": "What is the sentiment?", "critique": "An open question invites prose."}]})
        if phase == "feedback":
            return json.dumps({"feedback": "Ask for exactly one word from the label set."})
        if phase in ("edit", "step"):
            return _common.promptlsp_rewrite(
                body, request, phase, target="template", rules=RULES, fallback="{{ review }}",
                critique={"quote": "What is the sentiment?", "critique": "An open question invites prose."})
        if phase == "tg-loss":
            expected = re.search(r"The correct label is: (\w+)\.", system)
            if expected and user.strip() == expected.group(1):
                return "Correct."
            return "Incorrect: the answer must be exactly the one lowercase label, with no other words."
        if phase in ("tg-backward-response", "tg-backward-prompt"):
            return "The system prompt should demand exactly one lowercase word from the label set, with no explanation."
        if phase == "tg-step":
            shown = re.search(r"<VARIABLE>(.*?)</VARIABLE>", user, re.S)
            level = revision(shown.group(1)) if shown else 0
            return f"<IMPROVED_VARIABLE>{self.textgrad_at(level + 1)}</IMPROVED_VARIABLE>"
        return "{}"


# -- the task file -------------------------------------------------------------------------------

def write_task(folder: Path, url: str, *, judge: bool, concurrency: int | None, hosted: bool = False) -> PromptFile:
    """The sentiment example with every model at the stub (and an llm-rubric criterion if
    ``judge``); ``concurrency=None`` leaves the limit to the route's default. ``hosted``: no
    ``api_base`` in the file, as for a hosted provider (the caller points ``OPENAI_BASE_URL`` at
    the stub)."""
    doc = tomlkit.parse(EXAMPLE.read_text(encoding="utf-8"))
    models = tomlkit.table()
    for role in ("task", "judge", "optimizer"):
        models[role] = {"model": "openai/stub", "api_key_env": KEY_ENV, "seed": 7, "timeout": 60}
        if not hosted:
            models[role]["api_base"] = url
        if concurrency is not None:
            models[role]["concurrency"] = concurrency
    doc["models"] = models
    if judge:
        doc["criteria"].append({"name": "one-word label", "type": "llm-rubric", "rubric": RUBRIC})
    doc["optimize"].pop("budget", None)
    path = folder / f"sentiment-{concurrency or 'default'}.prompt.toml"
    text = tomlkit.dumps(doc)
    path.write_text(text, encoding="utf-8")
    analysis = analyze(text, path, folder)
    if analysis.prompt is None:
        raise SystemExit(f"the bench task file has errors: {[d.message for d in analysis.diagnostics]}")
    return analysis.prompt


def _limit(run: MethodRun) -> str:
    """A run's limit: ``16`` when it stayed put, ``16→48`` when it grew."""
    if run.limit_start is not None and run.limit_start != run.limit:
        return f"{run.limit_start}→{run.limit}"
    return str(run.limit)


def textgrad_system_prompt(prompt_file: PromptFile) -> str:
    """textgrad optimizes a system prompt; the review goes in the user message."""
    return re.sub(r"\{\{\s*review\s*\}\}", "(the review is the user message)", prompt_file.template).strip()


# -- measurement ---------------------------------------------------------------------------------

@dataclass
class Row:
    method: str
    label: str  # iteration number, "init", "final" or "total"
    wall: float | None
    rounds: int | None
    calls: int | None
    phases: Counter = field(default_factory=Counter)
    note: str = ""


@dataclass
class MethodRun:
    method: str
    rows: list[Row] = field(default_factory=list)
    widest: int = 0
    max_in_flight: int = 0
    limit: int | None = None  # calls at once to the (one) stub model, at the end
    limit_start: int | None = None  # ... at the start (a hosted default grows while calls queue)
    summary: str = ""
    mismatches: list[str] = field(default_factory=list)


class _BenchStub(StubServer):
    """The stub as the stub process runs it: plus ``GET /bench/stats`` (its request log) and
    ``POST /bench/reset-in-flight``, for the measuring process."""

    def _app(self) -> Any:
        app = super()._app()
        app.router.add_get("/bench/stats", self._stats)
        app.router.add_post("/bench/reset-in-flight", self._reset_in_flight)
        return app

    async def _stats(self, request: Any) -> Any:
        from aiohttp import web

        with self.stats.lock:
            log = {"arrivals": list(self.stats.arrivals), "bodies": list(self.stats.bodies),
                   "max_in_flight": self.stats.max_in_flight}
        return web.json_response(log)

    async def _reset_in_flight(self, request: Any) -> Any:
        from aiohttp import web

        with self.stats.lock:
            self.stats.max_in_flight = self.stats.in_flight
        return web.json_response({})


def serve_stub(latency: float) -> None:
    """The stub process (``--serve-stub``): prints its URL, answers until terminated."""
    analysis = analyze(EXAMPLE.read_text(encoding="utf-8"), EXAMPLE, EXAMPLE.parent)
    assert analysis.prompt is not None, "the example file has errors"
    model = ScriptedModel(analysis.prompt, textgrad_system_prompt(analysis.prompt))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _BenchStub(latency=latency, answer=model) as stub:
        print(stub.url, flush=True)
        stop.wait()


class StubProcess:
    """The stub in a process of its own; its request log read by time window over HTTP."""

    def __init__(self, latency: float) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SERVER_DIR), *sys.path])}
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-stub", "--latency", str(latency)],
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.url = (self.proc.stdout.readline() if self.proc.stdout else "").strip()
        if not self.url:
            self.close()
            raise SystemExit("the stub process did not start")

    def _ask(self, path: str, method: str = "GET") -> dict:
        base = self.url.rsplit("/v1", 1)[0]
        with urllib.request.urlopen(urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None),
                                    timeout=60) as answer:
            return json.loads(answer.read())

    def arrived(self, start: float, end: float) -> list[tuple[str, bool]]:
        """(phase, repair) of each request that arrived in [start, end], in arrival order."""
        log = self._ask("/bench/stats")
        return [classify(body) for arrived, body in zip(log["arrivals"], log["bodies"]) if start <= arrived <= end]

    def window(self, start: float, end: float) -> tuple[Counter, Counter]:
        """(calls by phase, repair requests by phase) of requests that arrived in [start, end]."""
        calls, repairs = Counter(), Counter()
        for phase, repair in self.arrived(start, end):
            calls[phase] += 1
            repairs[phase] += int(repair)
        return calls, repairs

    def selection_width(self, start: float, end: float) -> int:
        """Task requests in [start, end] after its last edit request: the candidates' scoring
        round of a GRAD-SUM iteration (the moves, the edits, the beam; in the last iteration the
        original too, on the validation split)."""
        phases = [phase for phase, _ in self.arrived(start, end)]
        last_edit = max((i for i, phase in enumerate(phases) if phase == "edit"), default=-1)
        return sum(phase == "task" for phase in phases[last_edit + 1:])

    def reset_in_flight(self) -> None:
        self._ask("/bench/reset-in-flight", "POST")

    def max_in_flight(self) -> int:
        return int(self._ask("/bench/stats")["max_in_flight"])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)



def _stages(calls: Counter, repairs: Counter, *phases: str) -> int:
    """One round per stage that ran, one more per stage that needed a repair round."""
    return sum(int(calls[p] > 0) + int(repairs[p] > 0) for p in phases)


def promptlsp_rounds(method: str, label: str, judge: bool, calls: Counter, repairs: Counter, scorings: int) -> int:
    evaluation = 1 + int(judge)
    eval_repairs = int(repairs["task"] > 0) + int(repairs["judge"] > 0)
    if label in ("init", "final"):
        return evaluation + eval_repairs if calls["task"] else 0
    if method == "gradsum":
        return 2 * evaluation + eval_repairs + _stages(calls, repairs, "gradient", "summary", "edit")
    return evaluation * scorings + eval_repairs + _stages(calls, repairs, "feedback", "step")


async def _run_promptlsp(method: str, prompt_file: PromptFile, settings: dict, requests: StubProcess,
                         judge: bool) -> MethodRun:
    engine = Engine(cache_path=None)
    session = engine.session()
    marks: list[tuple[float, Any]] = []
    optimizer = make_optimizer(prompt_file, session, method=method, emit=lambda e: marks.append((time.monotonic(), e)),
                               **settings)
    planned = optimizer.estimate().calls
    requests.reset_in_flight()
    try:
        finished = await optimizer.run()
    finally:
        engine.close()
    limiter = engine.limiters[prompt_file.models.task.model]
    run = MethodRun(method, max_in_flight=requests.max_in_flight(), limit=limiter.capacity,
                    limit_start=limiter.configured[0])
    s = optimizer.settings
    if method == "tgd":  # a minibatch, or the validation of the original and the current prompt
        run.widest = max(min(s.minibatch, len(optimizer.train)), 2 * len(optimizer.selection))

    # boundaries: (label, time, accounting snapshot or None)
    start = next(t for t, e in marks if e.kind == "run-started")
    bounds: list[tuple[str, float, dict | None]] = []
    if method == "tgd":
        t_init = next((t for t, e in marks if e.kind == "candidate-scored" and e.iteration == 0), None)
        if t_init is not None:
            bounds.append(("init", t_init, None))
    bounds += [(str(e.iteration), t, e.accounting) for t, e in marks if e.kind == "iteration-done"]
    end = next(t for t, e in marks if e.kind == "run-finished")
    bounds.append(("final", end, finished.accounting))

    previous_t, previous_calls = start, 0
    for label, t, snapshot in bounds:
        calls, repairs = requests.window(previous_t, t)
        seen = sum(calls.values())
        counted = seen if snapshot is None else snapshot["total"]["calls"] - previous_calls
        if counted != seen:
            run.mismatches.append(f"{method} {label}: accounting {counted} calls, stub {seen} requests")
        scorings = sum(e.kind == "candidate-scored" and str(e.iteration) == label for mt, e in marks if previous_t <= mt <= t)
        rounds = promptlsp_rounds(method, label, judge, calls, repairs, scorings)
        if method == "gradsum" and label not in ("init", "final"):  # the widest round is a selection
            run.widest = max(run.widest, requests.selection_width(previous_t, t))
        run.rows.append(Row(method, label, t - previous_t, rounds, counted, calls))
        previous_t, previous_calls = t, previous_calls + counted
    total = finished.accounting["total"]["calls"]
    failures = finished.accounting["total"]["failures"]
    if failures:
        run.mismatches.append(f"{method}: {failures} calls failed (see the log above)")
    run.rows.append(Row(method, "total", end - start, sum(r.rounds or 0 for r in run.rows), total,
                        sum((r.phases for r in run.rows), Counter())))
    scores = f"{finished.scored_on} {format_score(finished.initial_score)} → {format_score(finished.best_score)}"
    run.summary = (f"{method}: {finished.status}, {scores}; estimate said at most {planned} calls, it made {total}"
                   + (f" ({finished.message})" if finished.message else ""))
    return run


async def _warm_up(prompt_file: PromptFile) -> None:
    """Import litellm and build its HTTP client before any timing (bench/engine.py does the same)."""
    await asyncio.to_thread(_import_litellm)
    engine = Engine(cache_path=None)
    try:
        await engine.session().complete(prompt_file.models.task, "warm-up", phase="warm-up")
    finally:
        engine.close()


# -- cached rerun ---------------------------------------------------------------------------------------

RERUN_GOAL_S = 1.0  # wall of a CLI run whose every answer is cached (issue 14)
EXIT_GOAL_S = 0.2  # from the result's last byte to the process's exit
_LITELLM_IMPORT = re.compile(r"^import time:.*\|\s*litellm$", re.M)


@dataclass
class CliTiming:
    """One ``python -m promptlsp`` run, timed from outside."""

    wall: float  # spawn to exit
    exit_after_output: float  # the last byte on stdout to exit
    report: dict  # its --format json result


def _cli(args: list[str], *, importtime: bool = False) -> tuple[CliTiming, str]:
    """Run the CLI (unbuffered, so each write is timed when it is made, as on a terminal);
    its timing and its stderr."""
    env = {**os.environ, "PYTHONPATH": str(SERVER_DIR), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "promptlsp", *args]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    errors: list[bytes] = []
    drain = threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True)
    drain.start()
    chunks, last = [], started
    while chunk := os.read(process.stdout.fileno(), 1 << 16):
        chunks.append(chunk)
        last = time.monotonic()
    process.wait()
    ended = time.monotonic()
    drain.join()
    stderr = b"".join(errors).decode("utf-8", "replace")
    if process.returncode != 0:
        raise RuntimeError(f"promptlsp {args[0]} exited {process.returncode}: {stderr.strip()[-300:]}")
    return CliTiming(ended - started, ended - last, json.loads(b"".join(chunks))), stderr


def cached_rerun(folder: Path, url: str, *, judge: bool, concurrency: int, iterations: int) -> str:
    """``promptlsp eval`` and ``promptlsp optimize`` run twice on one workspace: the second run
    finds every answer in the cache. Its wall, whether it imported litellm (a third, identical
    run under ``-X importtime``) and how long the process lived after its result, side by side
    with the goals."""
    folder.mkdir()
    task = str(write_task(folder, url, judge=judge, concurrency=concurrency).path)
    commands = {"eval": ["eval", task, "--format", "json", "--root", str(folder)],
                "optimize": ["optimize", task, "--iterations", str(iterations), "--format", "json",
                             "--root", str(folder)]}
    headers = ("cached rerun", "wall s", "goal s", "new calls", "cached", "litellm imported", "exit after result s",
               "goal s")
    cells = []
    for name, args in commands.items():
        first, _ = _cli(args)
        again, _ = _cli(args)
        _, imports = _cli(args, importtime=True)
        total = again.report["accounting"]["total"]
        cells.append([f"promptlsp {name}", f"{again.wall:.2f}", f"<= {RERUN_GOAL_S:.1f}", str(total["calls"]),
                      str(total["cache_hits"]), "yes" if _LITELLM_IMPORT.search(imports) else "no",
                      f"{again.exit_after_output:.2f}", f"<= {EXIT_GOAL_S:.1f}"])
        cells.append([f"  (first run: {first.report['accounting']['total']['calls']} calls)", f"{first.wall:.2f}", "-",
                      "", "", "", f"{first.exit_after_output:.2f}", f"<= {EXIT_GOAL_S:.1f}"])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths))).rstrip()
              for c in cells]
    return "\n".join(lines)


# -- textgrad ---------------------------------------------------------------------------------------

def ensure_textgrad(install: bool) -> tuple[Path | None, str]:
    """The textgrad venv's Python, or None and why not."""
    if TEXTGRAD.ready():
        return TEXTGRAD.python, ""
    if not install:
        return None, (f"not installed ({TEXTGRAD.venv.relative_to(REPO)} has no {TEXTGRAD.name}; "
                      "a run without --smoke installs it)")
    why = TEXTGRAD.create(by="bench/optimize.py", log="textgrad")
    return (None, why) if why else (TEXTGRAD.python, "")


def run_textgrad(python: Path, prompt_file: PromptFile, stub: StubProcess, batches: list[list], judge: bool,
                 threads: int, requests: StubProcess) -> MethodRun:
    run = MethodRun("textgrad", limit=threads)
    validation = [{"review": str(e.vars["review"]), "expected": e.expected[0]} for e in prompt_file.split("validation")]
    config = {
        "url": stub.url, "api_key": DUMMY_KEY, "system_prompt": textgrad_system_prompt(prompt_file),
        "batches": [[{"review": str(e.vars["review"]), "expected": e.expected[0]} for e in b] for b in batches],
        "validation": validation, "judge": judge, "threads": threads, "eval_marker": TG_EVAL_MARKER,
    }
    run.widest = max(len(validation), 1)
    with tempfile.TemporaryDirectory(prefix="bench-textgrad-") as tmp:
        folder = Path(tmp)
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache"), "TEXTGRAD_LOG_DIR": str(folder / "logs"),
               "OPENAI_API_KEY": DUMMY_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
        env.pop("PYTHONPATH", None)
        requests.reset_in_flight()
        started = time.monotonic()
        try:
            done = subprocess.run([str(python), str(TG_LOOP), str(folder / "config.json")], cwd=folder, env=env,
                                  capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            run.rows.append(Row("textgrad", "-", None, None, None, note="failed: no result within 600 s"))
            run.summary = "textgrad: failed: no result within 600 s"
            return run
        elapsed = time.monotonic() - started
    run.max_in_flight = requests.max_in_flight()
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines or lines[-1].get("phase") != "done":
        tail = " | ".join(done.stderr.strip().splitlines()[-4:]) or f"exit {done.returncode}"
        run.rows.append(Row("textgrad", "-", None, None, None, note=f"failed: {tail}"))
        run.summary = f"textgrad: failed (exit {done.returncode}): {tail}"
        return run
    first = lines[0]
    for line in lines[:-1]:
        if line["phase"] == "initial":
            calls, repairs = requests.window(line["t0"], line["t1"])
            rounds = _stages(calls, repairs, "tg-task", "tg-loss")
            label = "init"
        else:
            forward, fr = requests.window(line["t0"], line["t_forward"])
            backward, br = requests.window(line["t_forward"], line["t_backward"])
            step, sr = requests.window(line["t_backward"], line["t_step"])
            validate, vr = requests.window(line["t_step"], line["t1"])
            rounds = (_stages(forward, fr, "tg-task", "tg-loss")
                      + _stages(backward, br, "tg-backward-response", "tg-backward-prompt")
                      + _stages(step, sr, "tg-step") + _stages(validate, vr, "tg-task", "tg-loss"))
            calls = forward + backward + step + validate
            label = str(line["iteration"])
        seen = sum(calls.values())
        if seen != line["calls"]:
            run.mismatches.append(f"textgrad {label}: its engine made {line['calls']} calls, stub saw {seen} requests")
        note = "reverted" if line.get("reverted") else ""
        run.rows.append(Row("textgrad", label, line["t1"] - line["t0"], rounds, seen, calls, note))
    last = lines[-2]
    run.rows.append(Row("textgrad", "total", last["t1"] - first["t0"], sum(r.rounds or 0 for r in run.rows),
                        sum(r.calls or 0 for r in run.rows), sum((r.phases for r in run.rows), Counter())))
    accuracies = [line["val_acc"] for line in lines[:-1]]
    loop = last["t1"] - first["t0"]
    run.summary = (f"textgrad {lines[-1].get('version')}: validation {accuracies[0]:.3f} → {accuracies[-1]:.3f}; "
                   f"{'TextLoss' if judge else 'StringBasedFunction'} loss; process {elapsed:.1f} s, of which "
                   f"{elapsed - loop:.1f} s start-up, import and warm-up (not in the rows)")
    return run


# -- the table ---------------------------------------------------------------------------------------

SHORT = {"gradient": "grad", "summary": "sum", "feedback": "fb", "tg-task": "task", "tg-loss": "loss",
         "tg-backward-response": "bwd-resp", "tg-backward-prompt": "bwd-prompt", "tg-step": "step"}
HEADERS = ("method", "iter", "wall s", "crit s", "rounds", "wall/crit", "calls", "phases")


def table(runs: list[MethodRun], latency: float) -> str:
    cells = []
    for run in runs:
        for row in run.rows:
            crit = None if row.rounds is None else row.rounds * latency
            ratio = "-" if not crit or row.wall is None else f"{row.wall / crit:.2f}"
            phases = ",".join(f"{SHORT.get(p, p)}={n}" for p, n in row.phases.items())
            cells.append([row.method, row.label, "-" if row.wall is None else f"{row.wall:.2f}",
                          "-" if crit is None else f"{crit:.2f}", "-" if row.rounds is None else str(row.rounds),
                          ratio, "-" if row.calls is None else str(row.calls),
                          " ".join(x for x in (phases, row.note) if x) or "-"])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]

    def line(values: list[str] | tuple[str, ...]) -> str:
        out = [v.ljust(w) if i in (0, 1) else v.rjust(w) for i, (v, w) in enumerate(zip(values[:-1], widths))]
        return "  ".join(out + [values[-1]]).rstrip()

    lines = [line(HEADERS), "  ".join("-" * w for w in widths)]
    previous = None
    for c in cells:
        if previous is not None and c[0] != previous:
            lines.append("")
        lines.append(line(c))
        previous = c[0]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=None, help="stub latency per call, seconds (default 0.2)")
    parser.add_argument("--iterations", type=int, default=None, help="optimizer iterations (default 3)")
    parser.add_argument("--minibatch", type=int, default=4)
    parser.add_argument("--beam", type=int, default=2, help="GRAD-SUM beam width")
    parser.add_argument("--candidates", type=int, default=2, help="GRAD-SUM edits per beam prompt")
    parser.add_argument("--concurrency", type=int, default=48,
                        help="per-model concurrency limit (all three roles use openai/stub: one limiter)")
    parser.add_argument("--methods", default="gradsum,tgd", help="promptlsp methods, comma-separated")
    parser.add_argument("--no-judge", action="store_true",
                        help="keep the file's exact-match check only (textgrad: StringBasedFunction loss)")
    parser.add_argument("--no-textgrad", action="store_true", help="skip the textgrad side")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run: 1 iteration, 10 ms latency; textgrad only if its venv exists")
    parser.add_argument("--serve-stub", action="store_true", help=argparse.SUPPRESS)  # the stub process
    args = parser.parse_args(argv)
    latency = args.latency if args.latency is not None else (0.01 if args.smoke else 0.2)
    if args.serve_stub:
        serve_stub(latency)
        return 0
    iterations = args.iterations if args.iterations is not None else (1 if args.smoke else 3)
    judge = not args.no_judge
    os.environ.setdefault(KEY_ENV, DUMMY_KEY)
    settings = {"iterations": iterations, "minibatch": args.minibatch, "beam_width": args.beam,
                "candidates": args.candidates}

    textgrad_python, textgrad_why = (None, "skipped (--no-textgrad)")
    if not args.no_textgrad:
        textgrad_python, textgrad_why = ensure_textgrad(install=not args.smoke)

    stub = StubProcess(latency)
    with tempfile.TemporaryDirectory(prefix="bench-optimize-") as tmp:
        try:
            prompt_file = write_task(Path(tmp), stub.url, judge=judge, concurrency=args.concurrency)
            requests = stub  # its request log, read by time window
            asyncio.run(_warm_up(prompt_file))
            runs = []
            for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
                runs.append(asyncio.run(_run_promptlsp(method, prompt_file, settings, requests, judge)))
            train = prompt_file.split("train")
            batches = [sample(train, min(args.minibatch, len(train)), prompt_file.optimize.seed, f"batch:{i}")
                       for i in range(1, iterations + 1)]
            if textgrad_python is not None:
                runs.append(run_textgrad(textgrad_python, prompt_file, stub, batches, judge, args.concurrency, requests))
            else:
                tg_run = MethodRun("textgrad")
                tg_run.rows.append(Row("textgrad", "-", None, None, None, note=textgrad_why))
                tg_run.summary = f"textgrad: {textgrad_why}"
                runs.append(tg_run)
            if "gradsum" in args.methods.split(","):  # at the concurrency a hosted provider's user gets by default
                by_default = write_task(Path(tmp), stub.url, judge=judge, concurrency=None, hosted=True)
                os.environ["OPENAI_BASE_URL"] = stub.url
                try:
                    default_run = asyncio.run(_run_promptlsp("gradsum", by_default, settings, requests, judge))
                finally:
                    del os.environ["OPENAI_BASE_URL"]
                default_run.method = "gradsum-default"
                for row in default_run.rows:
                    row.method = default_run.method
                default_run.summary = default_run.summary.replace("gradsum:", "gradsum-default:", 1)
                runs.append(default_run)
            rerun = cached_rerun(Path(tmp) / "rerun", stub.url, judge=judge, concurrency=args.concurrency,
                                 iterations=iterations)
        finally:
            stub.close()

    spec: ModelSpec = prompt_file.models.task
    print(f"stub latency {latency * 1000:g} ms; iterations {iterations}, minibatch {args.minibatch}, "
          f"beam {args.beam}, candidates {args.candidates}; {len(prompt_file.split('train'))} train / "
          f"{len(prompt_file.split('validation'))} validation examples; judge "
          f"{'on (llm-rubric; textgrad TextLoss)' if judge else 'off (exact match; textgrad StringBasedFunction)'}")
    print(f"concurrency limit {spec.concurrency} per model (task, judge and optimizer are all {spec.model}: one shared "
          "limiter); widest round / limit / most in flight at the stub: "
          + ", ".join(f"{r.method} {r.widest}/{_limit(r)}/{r.max_in_flight}" for r in runs
                      if r.rows and r.rows[0].wall is not None))
    unreachable = [r.method for r in runs if r.limit is not None and r.widest > r.limit]
    if unreachable:
        print(f"warning: the widest round of {', '.join(unreachable)} exceeds the limit: its critical path is not reachable")
    print()
    print(table(runs, latency))
    print()
    for run in runs:
        print(run.summary)
    for run in runs:
        for problem in run.mismatches:
            print(f"warning: {problem}")
    print("crit s = rounds x latency: the longest chain of dependent calls (see the docstring for the stages); "
          "wall/crit 1.0 = every independent call ran in parallel")
    print()
    print(rerun)
    return 0


if __name__ == "__main__":
    sys.exit(main())
