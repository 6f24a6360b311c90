"""Benchmark: the README's first command — does the optimizer make the example prompt better?

    python bench/demo.py [--seeds 7,1,2] [--method gradsum] [--optimizer local/qwen2.5-coder-1.5b]
                         [--file prompts-spec/examples/sentiment.prompt.toml] [--threads N] [--smoke]

Runs exactly what a new user runs, ``promptlsp optimize FILE --format json``, once per seed, each
in a fresh temporary workspace (an empty cache and run store: every call is made), with the
file's ``[optimize] seed`` and every model's ``seed`` set to that seed (``--optimizer``/``--task``
replace the models). Prints one row per seed: the validation score before → after, whether the
prompt changed, which move produced the winner (``answer-format`` — no model call —, ``edit``,
``tgd-step``), calls, optimizer failures, wall time, and the machine's load average at the start
(the times mean little without it: llama.cpp on 2 shared cores slows down many-fold under load),
then the winning instruction lines. ``--smoke`` runs the scripted loopback model instead of the
local one (what tests/bench/test_bench_demo.py runs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILE = REPO / "prompts-spec" / "examples" / "sentiment.prompt.toml"
STUB_MODEL = REPO / "tests" / "cli" / "stub_model.py"


def with_seed(text: str, seed: int, task: str | None, optimizer: str | None) -> str:
    """The file with every ``seed = N`` set to ``seed`` and the chosen models substituted."""
    text = re.sub(r"(?m)^seed = \d+", f"seed = {seed}", text)
    for role, model in (("task", task), ("optimizer", optimizer)):
        if model:
            text = re.sub(rf'(\[models\.{role}\]\nmodel = )"[^"]*"', rf'\1"{model}"', text)
    return text


def winner_origin(store: Path, run_id: str, best_id: str) -> str:
    if not store.exists():
        return "-"
    with sqlite3.connect(store) as db:
        row = db.execute("select origin from candidates where run_id = ? and candidate_id = ?", (run_id, best_id)).fetchone()
        failed = db.execute("select count(*) from events where run_id = ? and kind = 'step-failed'", (run_id,)).fetchone()
    return (row[0] if row else "-") + f"|{failed[0]}"


def run_one(source: Path, seed: int, args, env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="promptlsp-demo-") as tmp:
        root = Path(tmp)
        (root / ".git").mkdir()
        path = root / source.name
        path.write_text(with_seed(source.read_text(encoding="utf-8"), seed, args.task, args.optimizer), encoding="utf-8")
        command = [sys.executable, "-m", "promptlsp", "optimize", str(path), "--format", "json", "--root", str(root)]
        if args.method:
            command += ["--method", args.method]
        load = os.getloadavg()[0]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
        wall = time.monotonic() - started
        if done.returncode != 0:
            return {"seed": seed, "error": done.stderr.strip().splitlines()[-1:] or ["exit %d" % done.returncode],
                    "wall": wall, "load": load}
        out = json.loads(done.stdout)
        origin = winner_origin(root / ".promptlsp" / "runs.sqlite", out["run_id"], _id(out["best"]))
        added = [line[1:] for line in out["diff"].splitlines() if line.startswith("+") and not line.startswith("+++")]
        return {"seed": seed, "before": out["initial_score"], "after": out["best_score"], "changed": out["changed"],
                "origin": origin, "calls": out["accounting"]["total"]["calls"], "wall": wall, "load": load,
                "status": out["status"], "added": added}


def _id(prompt: dict) -> str:
    from promptlsp.document.model import PromptText

    return PromptText(template=prompt["template"], system=prompt.get("system")).id


def fmt(score) -> str:
    return "n/a" if score is None else f"{score:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--seeds", default="7,1,2")
    parser.add_argument("--method", default=None)
    parser.add_argument("--task", default=None, help="task model id (default: the file's)")
    parser.add_argument("--optimizer", default=None, help="optimizer model id (default: the file's)")
    parser.add_argument("--threads", type=int, default=None, help="PROMPTLSP_LOCAL_THREADS for the runs")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--smoke", action="store_true", help="the scripted loopback model, not the local one")
    args = parser.parse_args(argv)
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    if args.threads:
        env["PROMPTLSP_LOCAL_THREADS"] = str(args.threads)
    stub = None
    if args.smoke:
        sys.path.insert(0, str(REPO / "server"))
        from promptlsp.testing.openai_stub import StubServer, load_answer  # noqa: E402

        stub = StubServer(answer=load_answer(f"{STUB_MODEL}:answer"))
        stub.start()
        args.task = args.optimizer = "openai/stub"
        env.update(OPENAI_API_BASE=stub.url, OPENAI_API_KEY="stub-key")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    print(f"# {args.file.name}: promptlsp optimize, seeds {seeds}, method {args.method or 'file'}, "
          f"task {args.task or 'file'}, optimizer {args.optimizer or 'file'}, threads {args.threads or 'default'}")
    print(f"{'seed':>4}  {'before':>6}  {'after':>6}  {'changed':>7}  {'winner|failed':>16}  {'calls':>5}  {'wall s':>7}  {'load':>5}")
    rows = []
    try:
        for seed in seeds:
            row = run_one(args.file, seed, args, env)
            rows.append(row)
            if "error" in row:
                print(f"{seed:>4}  error: {row['error'][0]}")
                continue
            print(f"{seed:>4}  {fmt(row['before']):>6}  {fmt(row['after']):>6}  {str(row['changed']):>7}  "
                  f"{row['origin']:>16}  {row['calls']:>5}  {row['wall']:>7.1f}  {row['load']:>5.2f}", flush=True)
    finally:
        if stub is not None:
            stub.stop()
    for row in rows:
        for line in row.get("added", []):
            print(f"seed {row['seed']} added: {line.strip()}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
