"""Optimization quality side by side: promptlsp GRAD-SUM and TGD vs TextGrad and DSPy.

    python bench/quality.py                      # the full run on the embedded local model
    python bench/quality.py --smoke              # every method on a scripted model, in seconds
    python bench/quality.py --setup              # create the peers' venvs, then exit
    python bench/quality.py --report             # the tables of the runs stored so far, nothing run
    python bench/quality.py --model openai/gpt-4o-mini [--optimizer-model openai/gpt-4o] \\
        [--api-base URL --api-key-env NAME] --val-size 30 --test-size 100 --budget-calls 150

**Tasks** (``--tasks``): BIG-bench ``object_counting`` and ``word_sorting`` (the tasks of
TextGrad's prompt-optimization table), the ``commonsense_math`` example, and four BIG-Bench Hard
tasks with short answers whose wording and format a small model gets wrong —
``sports_understanding`` (yes / no), ``logical_deduction_three_objects``, ``date_understanding``
and ``disambiguation_qa`` (multiple choice, the options in the question, answered by letter; the
data vendored in ``bench/quality/data/``) — as task files in ``bench/quality/tasks/`` written by
``bench/quality/make_tasks.py`` with fixed, seeded splits (30 train / 30 validation / 100 test;
commonsense-math 4 / 2 / 4). Every method optimizes the same string — the system message; the
user message is the question — and sees the same examples: ``--train-size``, ``--val-size`` and
``--test-size`` take the first N of each split. (The duration below was measured with the first
three tasks only: each further task adds its own 15 optimization runs.) By name only (not in the
default run): ``sentiment_reviews`` and ``support_routing``, 160 product reviews and support
tickets written for this bench, labelled positive / negative / neutral and billing / shipping /
account / technical — the initial system message is a first draft without an answer format, the
reply must be the label alone (``--tasks sentiment_reviews,support_routing``).

**Methods** (``--methods``): ``initial`` (the task file's prompt, not optimized); promptlsp
``gradsum`` and ``tgd`` (``make_optimizer``, in this process); ``textgrad`` (PyPI textgrad 0.1.8,
its TGD loop: ``bench/quality/textgrad_runner.py`` in ``bench/.venv-textgrad``); ``copro`` and
``gepa`` (PyPI dspy 3.4.1: ``bench/quality/dspy_runner.py`` in ``bench/.venv-dspy``, pinned by
``bench/quality/requirements-dspy.txt``). The runners' docstrings say exactly how each peer is
driven. The peers' venvs are created on first use (``--setup`` does only that); ``--smoke``
never installs: a missing venv gives a row "not installed: run … to set up".

**Same terms for all.** One task model and one optimizer model for every method (``--model``,
``--optimizer-model``; default the embedded ``local/qwen2.5-coder-0.5b``, started here, 1 slot).
Every method reaches them through a loopback *counting proxy* (``bench/quality/counting_proxy.py``):
**calls** are the requests the proxy received during the run (retries, repair rounds and hidden
extra calls included; the final test scoring excluded), **tokens** the prompt + completion tokens
the server reported for them. **Sampling:** task calls (every method's, and the scorer's) use
temperature 0 and the task file's max_tokens 256; optimizer calls max_tokens 512 and these
temperatures (``OPTIMIZER_TEMPERATURE`` = 0.7, given to every method as its optimizer model's):

* ``gradsum``, ``tgd``: 0.7 on every optimizer call (gradients, summaries, edits; feedback, steps);
* ``textgrad``: 0.7 on every backward (feedback) and TGD step call — the runner's engines replace
  the temperature 0 and max_tokens 2000 textgrad passes per call by their model's (textgrad also
  sends ``top_p`` 0.99, on task calls too);
* ``gepa``: 0.7 on every reflection call (the optimizer LM's own setting);
* ``copro``: 1.4 on every proposal request — all of its optimizer calls: COPRO passes its
  ``init_temperature`` (default 1.4) with each, which overrides the optimizer LM's 0.7, as COPRO
  is designed to;
* ``initial``: no optimizer calls.

The **budget** (``--budget-calls``, default 60) caps each run's calls: promptlsp through
``[optimize.budget] max_calls`` (it stops before an iteration that might not fit, keeping the
final validation affordable; GRAD-SUM first narrows that iteration to the most that fits);
textgrad and GEPA stop before an iteration that might not fit; COPRO's breadth × depth is
chosen to fit; the peers also refuse any call past the budget (a hard stop, noted in the row).
Iterations run until the budget stops them (``--iterations`` caps them, default 20); the
minibatch is 3 (``--minibatch``) and textgrad gets the minibatches promptlsp's TGD draws for the
same seed. promptlsp's accounting and the peers' own counters are checked against the proxy; a
disagreement is printed as a warning.

**One scorer.** Each method's final prompt is scored on the test split by promptlsp's evaluator
with the task file's exact-match checks (a regex per example: the output must end with
``Answer: <value>`` — on the label tasks, be the label alone; object counting accepts ``nine``
and ``9``; see make_tasks.py), with the task model at seed 0 and temperature 0 (answers are
cached in ``<results>/score-cache.sqlite``, so a prompt two methods share is answered once). An
example whose call failed scores 0.

**Output.** A table per task: test score mean ± standard deviation over the seeds (``--seeds``:
a count, ``3`` → 0,1,2, or a list ``0,5,9``), the per-seed scores, mean calls, tokens and wall
time (the optimization itself; a peer's interpreter start-up and imports are excluded). Every run
is appended to ``<results>/runs.jsonl`` as it finishes, and its final prompt saved as
``<results>/<task>/<method>-seed<k>.txt``. A rerun with the same settings skips the runs whose
newest row there has a score (status ``ok``) and was made by the method's current revision
(``REVISIONS``: bumped when promptlsp's optimizer changes its results), and tries the failed,
not-installed and older-revision ones again; the table shows the newest row of each method and
seed, so a retry that scores replaces the failure (``--fresh`` reruns everything). Default
results folder: ``bench/quality/results/<model>/``.
A method that fails, is not installed or returns nothing usable gives a row saying so; the
run goes on. The note column names the seed of each problem: "seed 1: 2 failed call(s)" means
two of promptlsp's model calls in that run ended without a usable answer (e.g. JSON cut off at
max_tokens, still unparsable after the repair round) — recorded as failures, the run went on.

**Validation size and budget.** Defaults: 30 train / 12 validation / 30 test examples
(commonsense-math 4 / 2 / 4), budget 60 calls (until 2026-12-06: 6 validation examples and 40
calls — with 6, a candidate could only win by one example, which no method's choice should
trust; 60 calls pay for scoring the original and about three candidates on 12). Rows are stored
with their settings, so the older tables stay reproducible with ``--val-size 6 --budget-calls 40``.

**Duration on the local model.** With the older defaults, 3 tasks × 5 optimizers × 3 seeds = 45
optimization runs took 3 h 2 min on an idle 2-core machine (textgrad 80 min of it, its feedback
runs to hundreds of tokens per call; commonsense math's runs are the longest per call), plus a
few minutes of test scoring; on a machine busy with other work it was 2–5× slower. With the new
defaults a promptlsp run on object counting takes 6½–9 min beside other work (load 2–3); budget
about 1½× the old times per run. The
command prints an upper bound of calls first and one line per finished run. Trim with ``--tasks``,
``--methods``, ``--seeds``, ``--test-size``, ``--budget-calls``; interrupt and rerun the same
command to resume (e.g. one task per sitting: ``--tasks word_sorting``). ``--smoke``: a scripted
stub model, 3 train / 2 validation / 3 test examples, 1 seed, 1 iteration, every method (the
peers if their venvs exist) — about 30 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "bench" / "quality"
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(HERE))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

from _common import TEXTGRAD, PeerVenv  # noqa: E402
from counting_proxy import CountingProxy, Counts  # noqa: E402

from promptlsp.document import analyze  # noqa: E402
from promptlsp.document.model import Models, PromptFile, PromptText  # noqa: E402
from promptlsp.engine import Budget, Engine, ModelSpec  # noqa: E402
from promptlsp.engine.litellm_backend import _import_litellm  # noqa: E402
from promptlsp.evaluate.results import format_score  # noqa: E402
from promptlsp.evaluate.runner import evaluate  # noqa: E402
from promptlsp.optimize import make_optimizer  # noqa: E402
from promptlsp.optimize.candidates import sample  # noqa: E402

TASKS = ("object_counting", "word_sorting", "commonsense_math", "sports_understanding", "logical_deduction_three_objects",
         "date_understanding", "disambiguation_qa")
MORE_TASKS = ("sentiment_reviews", "support_routing")  # run by name only (--tasks), not by default
METHODS = ("initial", "gradsum", "tgd", "textgrad", "copro", "gepa")
PROMPTLSP_METHODS = ("gradsum", "tgd")
TASK_DIR = HERE / "tasks"
DEFAULT_MODEL = "local/qwen2.5-coder-0.5b"
KEY_ENV = "PROMPTLSP_QUALITY_KEY"  # the proxies' clients' key: a dummy, the proxy holds the real one
DUMMY_KEY = "sk-quality-bench-not-a-secret"
OPTIMIZER_TEMPERATURE = 0.7
OPTIMIZER_MAX_TOKENS = 512
SCORE_SEED = 0
VERSION = 1  # of the run settings stored with each result (part of the resume fingerprint)
# Revision of each method's own code, stored with its rows: bump one when a change to it changes
# its results; a rerun then redoes that method's runs (the table flags rows of an older revision).
# gradsum 2: an iteration that does not fit the budget is narrowed instead of skipped.
REVISIONS = {"gradsum": 13, "tgd": 8}  # 3/2: edit operations, the answer-format move, the noise-aware final choice;
# 4/3: the demonstrations move, TGD takes a move only when better, placeholder-copy edits dropped
# gradsum 5 / tgd 4: bounded free text in the answer schemas (maxLength, maxItems); gradsum: the last
# iteration's candidates go straight to the final validation, edits written from the gradients when the summary fails
# gradsum 6-8: last iterations (candidates validated at once, moves as the budget allows) repeat while it allows
# gradsum 9 / tgd 5: a close call gets a second look on unused training examples when the budget allows
# gradsum 10 / tgd 6: the demonstrations' bootstrap (a few more training examples answered in the first iteration)
# gradsum 11 / tgd 7: an example answered perfectly by several prompts keeps its shortest answer as its
# demonstration (was: the first to arrive, which concurrent scoring made vary between reruns)
# gradsum 12 / tgd 8: the moves compose: answers in the wrong form bootstrap through the answer-format
# candidate, and the demonstrations go on top of it
# gradsum 13: a beam prompt's demonstrations move builds on the answers known when the iteration
# began and its own, not on what its siblings' concurrent evaluations had delivered (TGD has no siblings)


@dataclass(frozen=True)
class Peer:
    env: PeerVenv  # its venv (textgrad's is bench/optimize.py's too)
    runner: Path

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def python(self) -> Path:
        return self.env.python

    def setup_command(self) -> str:
        return "python bench/quality.py --setup"


PEERS = {
    "textgrad": Peer(TEXTGRAD, HERE / "textgrad_runner.py"),
    "dspy": Peer(PeerVenv("dspy 3.4.1", REPO / "bench" / ".venv-dspy", ("-r", str(HERE / "requirements-dspy.txt")),
                          "import importlib.metadata as m; assert m.version('dspy') == '3.4.1'"),
                 HERE / "dspy_runner.py"),
}
PEER_OF = {"textgrad": "textgrad", "copro": "dspy", "gepa": "dspy"}


# -- peers' venvs ----------------------------------------------------------------------------------

def peer_ready(peer: Peer) -> bool:
    return peer.env.ready()


def install_peer(peer: Peer) -> str | None:
    """Create the peer's venv; None when it worked, else why not."""
    return peer.env.create(by="bench/quality.py", log="setup")


def peer_environment(folder: Path, key_env: str | None) -> dict[str, str]:
    """The environment of a peer's process: this one's without any secret — the variable named by
    ``--api-key-env`` (``key_env``; default OPENAI_API_KEY) and every ``*_API_KEY`` /
    ``*_API_TOKEN`` variable are dropped — plus the dummy key the counting proxy expects (the
    proxy holds the real key), caches in ``folder`` and no PYTHONPATH."""
    secret = {(key_env or "OPENAI_API_KEY").upper()}
    env = {name: value for name, value in os.environ.items()
           if name.upper() not in secret and not name.upper().endswith(("_API_KEY", "_API_TOKEN"))}
    env.pop("PYTHONPATH", None)
    env.update({"OPENAI_API_KEY": DUMMY_KEY, "XDG_CACHE_HOME": str(folder / "cache"),
                "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
                "DSPY_CACHEDIR": str(folder / "dspy"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    return env


# -- models and endpoints --------------------------------------------------------------------------

@dataclass
class Endpoint:
    """A model as every method reaches it: ``openai/<name>`` at a counting proxy."""

    label: str  # what the user asked for (e.g. local/qwen2.5-coder-0.5b)
    name: str  # the model name the upstream expects
    proxy: CountingProxy
    concurrency: int
    timeout: float

    def spec(self, *, temperature: float | None, max_tokens: int | None, seed: int) -> ModelSpec:
        return ModelSpec(model=f"openai/{self.name}", api_base=self.proxy.url, api_key_env=KEY_ENV,
                         temperature=temperature, max_tokens=max_tokens, seed=seed, timeout=self.timeout,
                         concurrency=self.concurrency)

    def for_peer(self, *, temperature: float | None, max_tokens: int | None) -> dict[str, Any]:
        return {"model_name": self.name, "base_url": self.proxy.url, "api_key": DUMMY_KEY,
                "temperature": temperature, "max_tokens": max_tokens, "timeout": self.timeout}


class Backends:
    """Starts what the chosen models need (local server, stub, proxies) and stops it."""

    def __init__(self, args: argparse.Namespace, scripted: Any | None) -> None:
        self.args = args
        self.scripted = scripted
        self.stub = None
        self.proxies: dict[tuple[str, str | None], CountingProxy] = {}

    def _upstream(self, model: str) -> tuple[str, str, str | None, int, float, bool]:
        """(model name, base URL, key, concurrency, timeout, json_schema) of ``model``."""
        args = self.args
        if self.scripted is not None:
            if self.stub is None:
                from promptlsp.testing.openai_stub import StubServer

                self.stub = StubServer(answer=self.scripted).start()
            return "stub", self.stub.url, None, args.concurrency or 4, 60.0, False
        if model.startswith("local/"):
            from promptlsp.engine.local import resolve

            print(f"starting the local model {model} ...", file=sys.stderr, flush=True)
            route = resolve(model)
            kw = route.litellm_kwargs
            return kw["model"].split("/", 1)[1], kw["api_base"], kw.get("api_key"), 1, args.timeout or 900.0, True
        if model.startswith("openai/"):
            base = args.api_base or "https://api.openai.com/v1"
            key_env = args.api_key_env or "OPENAI_API_KEY"
            key = os.environ.get(key_env)
            if not key and not args.api_base:
                raise SystemExit(f"{model}: set {key_env} (or --api-key-env NAME)")
            return model.split("/", 1)[1], base, key, args.concurrency or 4, args.timeout or 120.0, False
        raise SystemExit(f"--model {model}: use local/qwen2.5-coder-0.5b or an OpenAI-compatible openai/<name> "
                         "(with --api-base for any other server, e.g. a LiteLLM proxy in front of any provider)")

    def endpoint(self, model: str) -> Endpoint:
        name, base, key, concurrency, timeout, json_schema = self._upstream(model)
        proxy = self.proxies.get((base, key))
        if proxy is None:
            proxy = self.proxies[(base, key)] = CountingProxy(base, key, timeout=timeout).start()
        if json_schema:  # llama.cpp's server enforces json_schema: tell litellm (promptlsp asks it)
            litellm = _import_litellm()
            info = {"litellm_provider": "openai", "mode": "chat", "supports_response_schema": True,
                    "input_cost_per_token": 0.0, "output_cost_per_token": 0.0}
            litellm.register_model({f"openai/{name}": info, name: info})
        return Endpoint(model, name, proxy, concurrency, timeout)

    def counts(self) -> Counts:
        total = Counts()
        for proxy in self.proxies.values():
            total = total.plus(proxy.snapshot())
        return total

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        if self.stub is not None:
            self.stub.stop()


# -- tasks ---------------------------------------------------------------------------------------------

@dataclass
class Task:
    name: str
    file: PromptFile  # trimmed splits, models not yet pointed anywhere
    sha: str
    train: tuple
    validation: tuple
    test: tuple


def load_task(name: str, sizes: dict[str, int | None]) -> Task:
    path = TASK_DIR / f"{name}.prompt.toml"
    text = path.read_text(encoding="utf-8")
    analysis = analyze(text, path, REPO)
    if analysis.prompt is None:
        errors = "; ".join(d.message for d in analysis.diagnostics if d.severity == "error")
        raise SystemExit(f"{path}: {errors}")
    pf = analysis.prompt
    splits = {}
    for split in ("train", "validation", "test"):
        examples = pf.split(split)
        size = sizes.get(split)
        splits[split] = examples if size is None else examples[:size]
    pf = replace(pf, examples=splits["train"] + splits["validation"] + splits["test"])
    return Task(name, pf, hashlib.sha256(text.encode("utf-8")).hexdigest()[:12],
                splits["train"], splits["validation"], splits["test"])


def with_models(pf: PromptFile, task_ep: Endpoint, opt_ep: Endpoint, seed: int) -> PromptFile:
    task = task_ep.spec(temperature=pf.models.task.temperature, max_tokens=pf.models.task.max_tokens, seed=seed)
    optimizer = opt_ep.spec(temperature=OPTIMIZER_TEMPERATURE, max_tokens=OPTIMIZER_MAX_TOKENS, seed=seed)
    return replace(pf, models=Models(task=task, judge=task, optimizer=optimizer))


def as_template(text: str) -> str:
    """Plain text (a peer's prompt) as a jinja2 template that renders to exactly that text."""
    if any(mark in text for mark in ("{{", "{%", "{#")):
        return "{% raw %}" + text.replace("{% endraw %}", "{% endraw %}{{ '{% endraw %}' }}{% raw %}") + "{% endraw %}"
    return text


# -- one run ---------------------------------------------------------------------------------------------

@dataclass
class RunResult:
    prompt: PromptText | None
    wall_s: float = 0.0
    setup_s: float = 0.0
    self_calls: int | None = None  # the method's own count
    status: str = "ok"
    note: str = ""  # what happened (runs.jsonl)
    flags: list[str] = field(default_factory=list)  # problems worth a place in the table
    extra: dict[str, Any] = field(default_factory=dict)


async def run_promptlsp(method: str, task: Task, pf: PromptFile, seed: int, args) -> RunResult:
    engine = Engine(cache_path=None)  # every call real, as for the peers
    try:
        session = engine.session(budget=Budget(max_calls=args.budget_calls))
        iterations = [0]
        steps_failed: list[str] = []  # kept in runs.jsonl: which optimizer steps failed, and why

        origins: dict[str, str] = {}
        validated: list[str] = []  # each prompt scored on validation: "<origin> <score>", in order

        def count(event) -> None:
            if event.kind == "iteration-done":
                iterations[0] += 1
            elif event.kind == "step-failed":
                steps_failed.append(f"{event.phase}: {event.message}"[:200])
            elif event.kind == "candidate-proposed":
                origins[event.candidate_id] = event.origin
            elif event.kind == "candidate-scored" and event.split == "validation":
                validated.append(f"{origins.get(event.candidate_id, '?')} {format_score(event.score)}")

        optimizer = make_optimizer(pf, session, method=method, emit=count, iterations=args.iterations, seed=seed,
                                   minibatch=args.minibatch)
        origins[optimizer.initial.id] = "original"
        started = time.monotonic()
        finished = await optimizer.run()
        wall = time.monotonic() - started
    finally:
        engine.close()
    total = finished.accounting.get("total", {})
    note = (f"{finished.status}: {finished.scored_on} {format_score(finished.initial_score)} → "
            f"{format_score(finished.best_score)}")
    if finished.message:
        note += f" ({finished.message})"
    flags = [f"{total['failures']} failed call(s)"] if total.get("failures") else []
    if "no budget left to validate" in finished.message:
        flags.append("no budget left to validate: original kept")
    return RunResult(finished.best, wall, 0.0, int(total.get("calls", 0)),
                     "failed" if finished.status == "failed" else "ok", note, flags,
                     {"iterations_done": iterations[0], "failures": total.get("failures", 0), "steps_failed": steps_failed,
                      "validated": validated})


def run_peer(method: str, task: Task, pf: PromptFile, seed: int, args, task_ep: Endpoint, opt_ep: Endpoint) -> RunResult:
    peer = PEERS[PEER_OF[method]]
    if not peer_ready(peer):
        if args.smoke or args.no_install:
            return RunResult(None, status="not installed", note=f"not installed: run `{peer.setup_command()}` to set up")
        why = install_peer(peer)
        if why:
            return RunResult(None, status="not installed", note=why)
    train = [_example(e) for e in task.train]
    batches = [[e.id for e in sample(task.train, min(args.minibatch, len(task.train)), seed, f"batch:{i}")]
               for i in range(1, args.iterations + 1)]
    config = {
        "method": method, "seed": seed, "budget_calls": args.budget_calls, "max_iterations": args.iterations,
        "minibatch": args.minibatch, "threads": task_ep.concurrency, "batches": batches,
        "task": {"name": task.name, "description": pf.task, "system": pf.system or "", "constraints": list(pf.optimize.constraints),
                 "role": f"system prompt to the language model that solves this task: {pf.task}"},
        "task_model": task_ep.for_peer(temperature=pf.models.task.temperature, max_tokens=pf.models.task.max_tokens),
        "optimizer_model": opt_ep.for_peer(temperature=OPTIMIZER_TEMPERATURE, max_tokens=OPTIMIZER_MAX_TOKENS),
        "train": train, "validation": [_example(e) for e in task.validation],
    }
    with tempfile.TemporaryDirectory(prefix=f"quality-{method}-") as tmp:
        folder = Path(tmp)
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        env = peer_environment(folder, args.api_key_env)
        started = time.monotonic()
        try:
            done = subprocess.run([str(peer.python), str(peer.runner), str(folder / "config.json")], cwd=folder, env=env,
                                  capture_output=True, text=True, timeout=args.peer_timeout, check=False)
        except subprocess.TimeoutExpired:
            return RunResult(None, time.monotonic() - started, status="failed",
                             note=f"failed: no result within {args.peer_timeout:g} s")
        elapsed = time.monotonic() - started
    lines = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    last = lines[-1] if lines else {}
    if last.get("event") != "done":
        why = last.get("error") or " | ".join(done.stderr.strip().splitlines()[-3:]) or f"exit {done.returncode}"
        return RunResult(None, elapsed, status="failed", note=f"failed: {why}"[:300])
    system = str(last.get("system") or "").strip()
    if not system:
        return RunResult(None, elapsed, status="failed", note="failed: the peer returned an empty prompt")
    loop = float(last.get("loop_s") or elapsed)
    note = "; ".join(x for x in (last.get("version", ""), last.get("notes", "")) if x)
    if "val_initial" in last:
        note += f"; validation {format_score(last['val_initial'])} → {format_score(last['val_final'])}"
    return RunResult(PromptText(template=pf.template, system=as_template(system)), loop, elapsed - loop,
                     int(last.get("calls") or 0), "ok", note, list(last.get("flags") or []),
                     {"iterations_done": last.get("iterations")})


def _example(e) -> dict[str, Any]:
    check = next(a for a in e.asserts if a.type == "regex")
    return {"id": e.id, "question": str(e.vars["question"]), "expected": list(e.expected or ()), "regex": check.value,
            "check": check.name}


# -- the scorer ------------------------------------------------------------------------------------

async def score(engine: Engine, pf: PromptFile, prompt: PromptText, examples) -> dict[str, Any]:
    """``prompt`` on ``examples`` with the file's checks; a failed call scores 0."""
    session = engine.session()
    report = await evaluate(session, pf, prompt, examples)
    scores = [r.score if r.score is not None else 0.0 for r in report.results]
    total = report.accounting.get("total", {})
    return {"score": statistics.fmean(scores) if scores else None, "n": len(scores),
            "unscored": sum(r.score is None for r in report.results),
            "test_calls": total.get("calls", 0), "test_cached": total.get("cache_hits", 0)}


def save_prompt(path: Path, prompt: PromptText) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    if prompt.system is not None:
        parts.append(f"[system]\n{prompt.system}\n")
    parts.append(f"[template]\n{prompt.template}\n")
    path.write_text("\n".join(parts), encoding="utf-8")


# -- results -----------------------------------------------------------------------------------------

def fingerprint(task: Task, args, model: str, optimizer_model: str) -> str:
    """The settings a stored row was made with (models by their labels)."""
    settings = {"version": VERSION, "task": task.name, "sha": task.sha, "model": model, "optimizer": optimizer_model,
                "budget": args.budget_calls, "iterations": args.iterations, "minibatch": args.minibatch,
                "sizes": [len(task.train), len(task.validation), len(task.test)]}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def latest(rows: list[dict[str, Any]], fp: str) -> dict[tuple[str, int], dict[str, Any]]:
    """The newest row of each (method, seed) recorded with the settings ``fp`` (rows in the
    order they were written: a later row replaces an earlier one, a failed one included)."""
    return {(r["method"], r["seed"]): r for r in rows if r.get("fingerprint") == fp}


def revision(method: str) -> int:
    return REVISIONS.get(method, 1)


def outdated(row: dict[str, Any]) -> bool:
    """Whether ``row`` was made by an older revision of its method (rows without one: revision 1)."""
    return row.get("revision", 1) != revision(row["method"])


def settled(row: dict[str, Any] | None) -> bool:
    """Whether a run needs no rerun: it ended "ok", with a score, by the method's current
    revision. A failed or not-installed run is tried again by the next run without --fresh."""
    return row is not None and row.get("status") == "ok" and row.get("score") is not None and not outdated(row)


def _one_line(text: str, limit: int = 160) -> str:
    """A note as a table cell: one line, at most ``limit`` characters (the row keeps it whole)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def summarize(rows: list[dict[str, Any]], method: str, seeds: list[int]) -> list[str]:
    mine = {r["seed"]: r for r in rows if r["method"] == method and r["seed"] in seeds}
    if not mine:
        return [method, "-", "-", "-", "-", "-", "not run"]
    scored = [mine[s] for s in seeds if s in mine and mine[s].get("score") is not None]
    notes: list[str] = []  # each seed's problems, named by seed ("seed 2: 1 failed call(s)")
    for seed in (s for s in seeds if s in mine):
        row = mine[seed]
        problems = [_one_line(row["note"])] if row.get("status") != "ok" and row.get("note") else []
        if outdated(row):
            problems.append(f"from revision {row.get('revision', 1)} of {method} (now {revision(method)}): rerun to update")
        notes += [f"seed {seed}: {text}" for text in dict.fromkeys(problems + list(row.get("flags") or ()))]
    if not scored:
        return [method, "-", "-", "-", "-", "-", "; ".join(notes) or "no score"]
    values = [r["score"] for r in scored]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    per_seed = " ".join(f"{mine[s]['score']:.2f}" if s in mine and mine[s].get("score") is not None else "-" for s in seeds)
    calls = statistics.fmean(r["calls"] for r in scored)
    tokens = statistics.fmean(r["tokens"] for r in scored)
    wall = statistics.fmean(r["wall_s"] for r in scored)
    over = [r for r in scored if r["calls"] > r["budget"]]
    if over:
        notes.append(f"over the call budget in {len(over)} run(s)")
    if len(scored) < len(seeds):
        notes.append(f"{len(seeds) - len(scored)} seed(s) without a score")
    return [method, f"{statistics.fmean(values):.3f}±{spread:.3f}", per_seed, f"{calls:.0f}", f"{tokens:.0f}",
            f"{wall:.1f}", "; ".join(notes)]


HEADERS = ("method", "test score", "per seed", "calls", "tokens", "wall s", "note")


def table(rows: list[dict[str, Any]], methods: list[str], seeds: list[int]) -> str:
    cells = [summarize(rows, m, seeds) for m in methods]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS[:-1])]

    def line(values) -> str:
        out = [v.ljust(w) if i in (0, 2) else v.rjust(w) for i, (v, w) in enumerate(zip(values[:-1], widths))]
        return "  ".join(out + [values[-1]]).rstrip()

    return "\n".join([line(HEADERS), "  ".join("-" * w for w in widths) + "  ----", *(line(c) for c in cells)])


# -- main --------------------------------------------------------------------------------------------

def parse_seeds(text: str) -> list[int]:
    if "," in text:
        return [int(s) for s in text.split(",") if s.strip()]
    return list(range(int(text)))


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="task model (and optimizer model by default)")
    parser.add_argument("--optimizer-model", default=None, help="optimizer model (default: --model)")
    parser.add_argument("--api-base", default=None, help="base URL of an OpenAI-compatible server for openai/<name>")
    parser.add_argument("--api-key-env", default=None, help="variable holding its key (default OPENAI_API_KEY)")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", default=None, help="a count (3 = seeds 0,1,2) or a list (0,5,9); default 3")
    parser.add_argument("--train-size", type=int, default=None, help="first N train examples (default all: 30)")
    parser.add_argument("--val-size", type=int, default=None, help="first N validation examples (default 12)")
    parser.add_argument("--test-size", type=int, default=None, help="first N test examples (default 30)")
    parser.add_argument("--budget-calls", type=int, default=None, help="calls per optimization run (default 60; --smoke 40)")
    parser.add_argument("--iterations", type=int, default=None, help="iteration cap per run (default 20: the budget decides)")
    parser.add_argument("--minibatch", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=None, help="parallel calls per model (local model: 1)")
    parser.add_argument("--timeout", type=float, default=None, help="per-call timeout, s (local 900, hosted 120)")
    parser.add_argument("--peer-timeout", type=float, default=None, help="seconds a peer run may take (default 4 h)")
    parser.add_argument("--results", type=Path, default=None, help="results folder (default bench/quality/results/<model>)")
    parser.add_argument("--fresh", action="store_true", help="rerun runs already in the results folder")
    parser.add_argument("--no-install", action="store_true", help="do not create missing peer venvs")
    parser.add_argument("--setup", action="store_true", help="create the peers' venvs and exit")
    parser.add_argument("--smoke", action="store_true", help="scripted model, tiny splits, 1 seed, 1 iteration")
    parser.add_argument("--report", action="store_true",
                        help="print the tables of the runs already stored for these settings; run nothing")
    args = parser.parse_args(argv)

    if args.setup:
        failed = 0
        for peer in PEERS.values():
            if peer_ready(peer):
                print(f"{peer.name}: ready in {peer.env.venv.relative_to(REPO)}")
                continue
            why = install_peer(peer)
            print(f"{peer.name}: {why or 'installed'}")
            failed += bool(why)
        return 1 if failed else 0

    smoke = args.smoke
    args.fresh = args.fresh or smoke  # the scripted model changes with the code: never reuse its results
    seeds = parse_seeds(args.seeds or ("1" if smoke else "3"))
    args.budget_calls = args.budget_calls or (40 if smoke else 60)
    args.iterations = args.iterations or (1 if smoke else 20)
    args.peer_timeout = args.peer_timeout or (300.0 if smoke else 4 * 3600.0)
    sizes = {"train": args.train_size or (3 if smoke else None), "validation": args.val_size or (2 if smoke else 12),
             "test": args.test_size or (3 if smoke else 30)}
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for bad in [t for t in tasks if t not in TASKS + MORE_TASKS] + [m for m in methods if m not in METHODS]:
        parser.error(f"unknown task or method {bad!r}")
    os.environ.setdefault(KEY_ENV, DUMMY_KEY)
    model = "scripted" if smoke else args.model
    optimizer_model = "scripted" if smoke else (args.optimizer_model or args.model)
    results = args.results or (HERE / "results" / ("smoke" if smoke else slug(model if optimizer_model == model
                                                                               else f"{model}+{optimizer_model}")))
    results.mkdir(parents=True, exist_ok=True)
    store = results / "runs.jsonl"
    loaded = {name: load_task(name, sizes) for name in tasks}
    if args.report:  # no model is started: the tables of what is stored
        report(loaded, load_results(store), args, model, optimizer_model, methods, seeds, results, [])
        return 0

    scripted = None
    if smoke:
        from scripted_model import ScriptedModel

        scripted = ScriptedModel([(str(e.vars["question"]), e.expected or (), _example(e)["check"])
                                  for t in loaded.values() for e in t.file.examples])
    models = Backends(args, scripted)
    warnings: list[str] = []
    try:
        task_ep = models.endpoint(args.model if not smoke else "scripted")
        opt_ep = task_ep if optimizer_model == model else models.endpoint(optimizer_model)
        asyncio.run(_warm_up(task_ep))
        score_cache = results / "score-cache.sqlite"
        if args.fresh:  # rerun everything, the test answers too
            for stale in results.glob("score-cache.sqlite*"):
                stale.unlink()
        score_engine = Engine(cache_path=score_cache)
        runs = [(t, m, s) for t in tasks for s in seeds for m in methods]
        optimized = sum(1 for _, m, _ in runs if m != "initial")
        upper = sum(len(loaded[t].test) for t, _, _ in runs) + optimized * args.budget_calls
        print(f"model {task_ep.label} (optimizer {opt_ep.label}); tasks {', '.join(tasks)}; seeds {seeds}; budget "
              f"{args.budget_calls} calls per run, at most {args.iterations} iterations, minibatch {args.minibatch}; "
              f"{len(runs)} runs ({optimized} optimizations), at most {upper} calls with test scoring; results in "
              f"{results}", file=sys.stderr, flush=True)
        existing = [] if args.fresh else load_results(store)
        started = time.monotonic()
        for index, (name, method, seed) in enumerate(runs, start=1):
            task = loaded[name]
            fp = fingerprint(task, args, task_ep.label, opt_ep.label)
            if settled(latest(existing, fp).get((method, seed))):
                continue
            row = one_run(task, method, seed, args, models, task_ep, opt_ep, score_engine, results, warnings)
            row.update(fingerprint=fp, task=name, method=method, seed=seed, revision=revision(method), model=task_ep.label,
                       optimizer_model=opt_ep.label, budget=args.budget_calls)
            with store.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row, default=str) + "\n")
            existing.append(row)
            print(f"[{index}/{len(runs)}] {name} {method} seed {seed}: test {format_score(row.get('score'))} · "
                  f"{row['calls']} calls · {row['wall_s']:.0f} s · {row['status']} (elapsed "
                  f"{(time.monotonic() - started) / 60:.1f} min)", file=sys.stderr, flush=True)
        score_engine.close()
    finally:
        models.close()

    report(loaded, existing, args, task_ep.label, opt_ep.label, methods, seeds, results, warnings)
    return 0


def report(loaded: dict[str, Task], existing: list[dict[str, Any]], args, model: str, optimizer_model: str,
           methods: list[str], seeds: list[int], results: Path, warnings: list[str]) -> None:
    """The table per task of the newest stored row of each (method, seed) for these settings."""
    for name, task in loaded.items():
        rows = latest(existing, fingerprint(task, args, model, optimizer_model))
        print(f"\n## {name}: test {len(task.test)} examples (exact match), train {len(task.train)}, validation "
              f"{len(task.validation)}; budget {args.budget_calls} calls; seeds {','.join(map(str, seeds))}; "
              f"model {model}, optimizer {optimizer_model}")
        print(table(list(rows.values()), methods, seeds))
    print(f"\nfinal prompts: {results}/<task>/<method>-seed<k>.txt; every run: {results / 'runs.jsonl'}")
    for warning in warnings:
        print(f"warning: {warning}")


def one_run(task: Task, method: str, seed: int, args, models: Backends, task_ep: Endpoint, opt_ep: Endpoint,
            score_engine: Engine, results: Path, warnings: list[str]) -> dict[str, Any]:
    pf = with_models(task.file, task_ep, opt_ep, seed)
    before = models.counts()
    try:
        if method == "initial":
            result = RunResult(PromptText(template=pf.template, system=pf.system), self_calls=0, note="")
        elif method in PROMPTLSP_METHODS:
            result = asyncio.run(run_promptlsp(method, task, pf, seed, args))
        else:
            result = run_peer(method, task, pf, seed, args, task_ep, opt_ep)
    except Exception as exc:  # one failure never loses the run
        result = RunResult(None, status="failed", note=f"failed: {type(exc).__name__}: {exc}"[:300])
    used = models.counts().minus(before)
    if result.self_calls is not None and result.self_calls != used.calls:
        warnings.append(f"{task.name} {method} seed {seed}: the method counted {result.self_calls} calls, "
                        f"the proxy {used.calls}")
    row: dict[str, Any] = {"status": result.status, "note": result.note, "flags": result.flags, "calls": used.calls, "tokens": used.tokens,
                           "prompt_tokens": used.prompt_tokens, "completion_tokens": used.completion_tokens,
                           "failed_calls": used.failed, "self_calls": result.self_calls, "wall_s": result.wall_s,
                           "setup_s": result.setup_s, "score": None, **result.extra}
    if result.prompt is None:
        return row
    prompt_file = results / task.name / f"{method}-seed{seed}.txt"
    save_prompt(prompt_file, result.prompt)
    row["prompt_file"] = str(prompt_file)
    row["prompt"] = result.prompt.to_dict()
    scorer = with_models(task.file, task_ep, opt_ep, SCORE_SEED)
    try:
        row.update(asyncio.run(score(score_engine, scorer, result.prompt, task.test)))
    except Exception as exc:
        row["status"] = "failed"
        row["note"] = (row["note"] + "; " if row["note"] else "") + f"scoring failed: {type(exc).__name__}: {exc}"[:300]
    if row.get("unscored"):
        row["flags"].append(f"{row['unscored']} test call(s) failed (scored 0)")
    return row


async def _warm_up(endpoint: Endpoint) -> None:
    """Import litellm and wait for the model once, before any run is timed."""
    await asyncio.to_thread(_import_litellm)
    engine = Engine(cache_path=None)
    try:
        spec = endpoint.spec(temperature=0, max_tokens=4, seed=0)
        await engine.session().complete(spec, "Say OK.", phase="warm-up")
    finally:
        engine.close()


if __name__ == "__main__":
    sys.exit(main())
