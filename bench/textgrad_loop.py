"""TextGrad 0.1.8's prompt-optimization loop, timed: the textgrad side of ``bench/optimize.py``.

Not run by hand: ``bench/optimize.py`` runs it with the Python of ``bench/.venv-textgrad`` (textgrad
and its dependencies stay out of promptlsp's venv), with the working directory in a temporary
folder (``import textgrad`` creates ``./logs/`` and writes every prompt there) and
``XDG_CACHE_HOME`` pointing into it::

    python bench/textgrad_loop.py CONFIG.json

CONFIG is JSON: ``{"url", "api_key", "system_prompt", "batches": [[{"review", "expected"}…]…],
"validation": [{"review", "expected"}…], "judge": bool, "threads": int}``. It prints one JSON
line per phase window, with ``time.monotonic()`` timestamps (CLOCK_MONOTONIC: the same clock in
every process of the machine, so the caller matches them against its stub's request arrivals).

The loop is the one of textgrad's README and ``examples/prompt_optimization.py``: a system prompt
``Variable`` with ``requires_grad``, ``BlackboxLLM``, one loss per minibatch example,
``tg.sum(losses).backward()``, ``TGD.step()``, then ``run_validation_revert`` (the validation set
evaluated in a thread pool, as the example's ``eval_dataset`` does; the new prompt is reverted
when validation accuracy drops). The loss is ``TextLoss`` (an LLM evaluation) when ``judge`` is
set, else the example's ``StringBasedFunction`` exact-match (no call forward; feedback on backward).

The engine is textgrad's OpenAI-compatible one (``ChatExternalClient``) with its response cache
turned off, so every call reaches the server — as on promptlsp's side, which runs with no cache.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import sys
import threading
import time
from typing import Callable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # textgrad imports litellm: no fetch

import textgrad as tg  # noqa: E402
from openai import OpenAI  # noqa: E402
from textgrad.autograd.string_based_ops import StringBasedFunction  # noqa: E402
from textgrad.engine.local_model_openai_api import ChatExternalClient  # noqa: E402

ROLE = "system prompt to the language model that classifies the sentiment of a product review"
EVAL_MARKER = "You evaluate one answer of a sentiment classifier."


class UncachedEngine(ChatExternalClient):
    """textgrad's engine for OpenAI-compatible servers with its response cache off (every call
    reaches the server), every call counted. Also the engine of ``bench/quality/textgrad_runner.py``,
    which fixes the sampling settings (``temperature``, ``max_tokens``: None keeps what textgrad
    passes) and checks its call budget in ``before_call`` (which may raise to refuse the call)."""

    def __init__(self, *args, temperature: float | None = None, max_tokens: int | None = None,
                 before_call: Callable[[], None] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0
        self._lock = threading.Lock()
        self.fixed_temperature = temperature
        self.fixed_max_tokens = max_tokens
        self.before_call = before_call

    def _check_cache(self, prompt):  # noqa: ANN001 - textgrad's signature
        return None

    def _save_cache(self, prompt, response) -> None:  # noqa: ANN001
        pass

    def _generate_from_single_prompt(self, prompt, system_prompt=None, temperature=0, max_tokens=2000, top_p=0.99):
        if self.before_call is not None:
            self.before_call()
        with self._lock:
            self.calls += 1
        if self.fixed_temperature is not None:
            temperature = self.fixed_temperature
        if self.fixed_max_tokens is not None:
            max_tokens = self.fixed_max_tokens
        return super()._generate_from_single_prompt(prompt, system_prompt=system_prompt, temperature=temperature,
                                                    max_tokens=max_tokens, top_p=top_p)


def eval_instruction(review: str, expected: str) -> str:
    """TextLoss's instruction for one example (it begins with the marker the stub recognises)."""
    return (f"{EVAL_MARKER} The review was:\n{review}\nThe correct label is: {expected}.\n"
            "The answer must be exactly that one lowercase word. Say whether it is correct, and if not, why.")


def exact_match(prediction: tg.Variable, ground_truth_answer: tg.Variable) -> str:
    return str(int(str(prediction.value).strip() == str(ground_truth_answer.value).strip()))


def main(config_path: str) -> int:
    with open(config_path, encoding="utf-8") as handle:
        cfg = json.load(handle)
    client = OpenAI(base_url=cfg["url"], api_key=cfg["api_key"])
    engine = UncachedEngine(client=client, model_string="stub")
    tg.set_backward_engine(engine, override=True)
    judge = bool(cfg["judge"])
    global EVAL_MARKER
    EVAL_MARKER = cfg.get("eval_marker", EVAL_MARKER)
    string_loss = StringBasedFunction(exact_match, "checks that the prediction is exactly the correct label")

    system_prompt = tg.Variable(cfg["system_prompt"], requires_grad=True, role_description=ROLE)
    model = tg.BlackboxLLM(engine, system_prompt)
    optimizer = tg.TGD(engine=engine, parameters=[system_prompt])

    def loss(example: dict, response: tg.Variable) -> tg.Variable:
        if judge:
            return tg.TextLoss(eval_instruction(example["review"], example["expected"]), engine=engine)(response)
        y = tg.Variable(example["expected"], requires_grad=False, role_description="correct answer for the query")
        return string_loss(inputs=dict(prediction=response, ground_truth_answer=y))

    def eval_sample(example: dict) -> int:
        x = tg.Variable(example["review"], requires_grad=False, role_description="query to the language model")
        response = model(x)
        if judge:
            verdict = tg.TextLoss(eval_instruction(example["review"], example["expected"]), engine=engine)(response)
            return int(str(verdict.value).strip().lower().startswith("correct"))
        return int(str(response.value).strip() == example["expected"])

    def eval_dataset(examples: list[dict]) -> float:
        with concurrent.futures.ThreadPoolExecutor(max_workers=cfg["threads"]) as pool:
            scores = list(pool.map(eval_sample, examples))
        return sum(scores) / len(scores) if scores else 0.0

    def emit(**fields) -> None:
        print(json.dumps(fields), flush=True)

    engine("warm-up", system_prompt="warm-up")  # the HTTP client's first connection, before any timing
    t0, calls0 = time.monotonic(), engine.calls
    accuracy = eval_dataset(cfg["validation"])
    emit(phase="initial", t0=t0, t1=time.monotonic(), calls=engine.calls - calls0, val_acc=accuracy)
    results = {"prompt": [system_prompt.value], "validation_acc": [accuracy]}

    for iteration, batch in enumerate(cfg["batches"], start=1):
        t0, calls0 = time.monotonic(), engine.calls
        optimizer.zero_grad()
        losses = []
        for example in batch:
            x = tg.Variable(example["review"], requires_grad=False, role_description="query to the language model")
            response = model(x)
            losses.append(loss(example, response))
        t_forward = time.monotonic()
        total_loss = tg.sum(losses)
        total_loss.backward()
        t_backward = time.monotonic()
        optimizer.step()
        t_step = time.monotonic()
        # run_validation_revert, as in textgrad's example
        val_performance = eval_dataset(cfg["validation"])
        previous_performance = results["validation_acc"][-1]
        reverted = val_performance < previous_performance
        if reverted:
            system_prompt.set_value(results["prompt"][-1])
            val_performance = previous_performance
        results["validation_acc"].append(val_performance)
        results["prompt"].append(system_prompt.value)
        emit(phase="iteration", iteration=iteration, t0=t0, t_forward=t_forward, t_backward=t_backward,
             t_step=t_step, t1=time.monotonic(), calls=engine.calls - calls0, val_acc=val_performance,
             reverted=reverted)
    emit(phase="done", prompt=system_prompt.value, version=tg.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
