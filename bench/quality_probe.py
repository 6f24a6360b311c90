"""Lever probe: how much head-room a task has for a prompt change, before any optimizer runs.

    python bench/quality_probe.py [--tasks object_counting,date_understanding] \\
        [--variants bench/quality/probe_variants.json] [--train-size 12] [--val-size 12] [--test-size 30]

For each task of the quality bench (``bench/quality/tasks``), on the embedded
``local/qwen2.5-coder-0.5b`` task model: the task file's prompt (``initial``), the
demonstrations move built from its own perfect answers on the first ``--train-size`` training
examples (``demos``, exactly as the optimizer's move builds it), and each hand-written system
prompt of the variants file for that task; each scored on the first ``--val-size`` validation and
``--test-size`` test examples with the task's checks. One row per prompt: the scores and how the
failures split — ``wrong`` (an answer line with a wrong value), ``noline`` (no ``Answer:`` line
at the end), ``cut`` (cut off at max_tokens); on the label tasks (``sentiment_reviews``,
``support_routing``: the whole reply must be the label) ``wrong`` is a reply of one word (a wrong
label) and ``noline`` any longer reply. Answers are cached in
``bench/quality/results/probe-cache.sqlite``, so a rerun or a new variant pays only for what is new.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as Q  # noqa: E402  (sets up sys.path and the environment)

from promptlsp.document.model import PromptText  # noqa: E402
from promptlsp.engine import Engine  # noqa: E402
from promptlsp.evaluate.runner import evaluate  # noqa: E402
from promptlsp.optimize import moves  # noqa: E402
from peer_common import LABEL_CHECK  # noqa: E402  (the label tasks' check: the whole reply is the label)

_ANSWER_LINE = re.compile(r"(?i)answer\s*\**:")
_ONE_WORD = re.compile(r"\W*\w+\W*")


def kind(result, whole_reply: bool = False) -> str:
    if result.output is None:
        return "nocall"
    if result.perfect:
        return "ok"
    if result.cut_off_at is not None:
        return "cut"
    if whole_reply:
        return "wrong" if _ONE_WORD.fullmatch(result.output.strip()) else "noline"
    lines = result.output.strip().splitlines()
    return "wrong" if lines and _ANSWER_LINE.search(lines[-1]) else "noline"


async def score(engine: Engine, pf, prompt: PromptText, examples):
    report = await evaluate(engine.session(), pf, prompt, examples)
    whole = any(a.name == LABEL_CHECK for e in examples for a in e.asserts)
    kinds = [kind(r, whole) for r in report.results]
    mean = statistics.fmean([r.score or 0.0 for r in report.results]) if report.results else 0.0
    return mean, {k: kinds.count(k) for k in sorted(set(kinds))}, report.results


def counts(found: dict[str, int]) -> str:
    return " ".join(f"{k} {v}" for k, v in found.items())


async def probe(args, endpoint) -> None:
    engine = Engine(cache_path=Q.HERE / "results" / "probe-cache.sqlite")
    variants = json.loads(Path(args.variants).read_text(encoding="utf-8")) if args.variants else {}
    print(f"{'task':32s} {'prompt':10s} {'validation':>10s} {'test':>6s}  test failures")
    for name in args.tasks.split(","):
        task = Q.load_task(name, {"train": args.train_size, "validation": args.val_size, "test": args.test_size})
        pf = Q.with_models(task.file, endpoint, endpoint, Q.SCORE_SEED)
        initial = PromptText(template=pf.template, system=pf.system)
        prompts = {"initial": initial}
        _, _, train_results = await score(engine, pf, initial, task.train)
        demos = moves.demonstrations_candidate(initial, train_results, ["system"] if pf.system is not None else ["template"])
        if demos is not None:
            prompts["demos"] = demos[0]
        for label, system in variants.get(name, {}).items():
            prompts[label] = PromptText(template=pf.template, system=system)
        for label, prompt in prompts.items():
            val, _, _ = await score(engine, pf, prompt, task.validation)
            test, found, _ = await score(engine, pf, prompt, task.test)
            print(f"{name:32s} {label:10s} {val:10.3f} {test:6.3f}  {counts(found)}", flush=True)
    engine.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="object_counting,word_sorting,date_understanding,sports_understanding")
    parser.add_argument("--variants", default=str(Q.HERE / "probe_variants.json"))
    parser.add_argument("--train-size", type=int, default=12)
    parser.add_argument("--val-size", type=int, default=12)
    parser.add_argument("--test-size", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault(Q.KEY_ENV, Q.DUMMY_KEY)
    backends = Q.Backends(SimpleNamespace(timeout=900.0, concurrency=None, api_base=None, api_key_env=None), None)
    try:
        endpoint = backends.endpoint(Q.DEFAULT_MODEL)
        asyncio.run(Q._warm_up(endpoint))
        asyncio.run(probe(args, endpoint))
    finally:
        backends.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
