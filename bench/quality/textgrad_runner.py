"""The ``textgrad`` side of ``bench/quality.py``: textgrad 0.1.8's prompt-optimization loop.

Not run by hand: bench/quality.py starts it with the Python of ``bench/.venv-textgrad`` (textgrad
stays out of promptlsp's venv), in a temporary working folder (``import textgrad`` writes
``./logs/``) with ``XDG_CACHE_HOME`` inside it::

    python bench/quality/textgrad_runner.py CONFIG.json

The loop is textgrad's README / ``examples/prompt_optimization.py`` one: the system prompt is a
``Variable`` with ``requires_grad``; ``BlackboxLLM`` answers each question; the loss of an example
is a ``StringBasedFunction`` running the example's exact-match check (the same regex promptlsp's
scorer uses); ``tg.sum(losses).backward()`` then ``TGD.step()`` (with the task's constraints);
the validation split is evaluated after each step and the step reverted if validation accuracy
dropped. Minibatches are the ones promptlsp's TGD draws for the same seed (given in CONFIG).

Models: textgrad's OpenAI-compatible engine (``ChatExternalClient``, as ``UncachedEngine`` of
``bench/textgrad_loop.py``: textgrad's response cache turned off, so every call is real) pointed at
the counting proxy — one engine for the task model (the task's temperature 0 and max_tokens) and
one for the optimizer model (backward and step: the optimizer model's temperature, 0.7, and
max_tokens); both replace the temperature and max_tokens textgrad passes on each call (0 and 2000)
and keep its ``top_p`` 0.99.

Budget: every request is counted (:class:`peer_common.CallBudget`). Before the first
validation and before each iteration the loop checks that the whole next stage fits (an
iteration costs ``3 × minibatch + 1 + |validation|`` calls: answer, loss feedback and prompt
feedback per example, the step, the validation); a refused call (the hard stop) ends the run with
the last validated prompt. A step whose answer lacks ``<IMPROVED_VARIABLE>`` tags (textgrad
raises IndexError, issue #15) counts as a failed step: the prompt stays, the loop goes on.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # textgrad imports litellm: no fetch

from peer_common import CallBudget, Clock, budget_stop_in, check_description, emit, passes, run_main  # noqa: E402

import textgrad as tg  # noqa: E402
from openai import OpenAI  # noqa: E402
from textgrad.autograd.string_based_ops import StringBasedFunction  # noqa: E402

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench/, after the venv's packages
from textgrad_loop import UncachedEngine  # noqa: E402  (bench/optimize.py's textgrad engine)


def run(cfg: dict) -> None:
    clock = Clock()
    budget = CallBudget(int(cfg["budget_calls"]))
    task_model, opt_model = cfg["task_model"], cfg["optimizer_model"]

    def engine(model: dict) -> UncachedEngine:
        """The model's own temperature and max_tokens on every call (textgrad passes 0 and 2000)."""
        client = OpenAI(base_url=model["base_url"], api_key=model["api_key"], max_retries=0,
                        timeout=float(model.get("timeout") or 600))
        return UncachedEngine(client=client, model_string=model["model_name"], temperature=model["temperature"],
                              max_tokens=int(model.get("max_tokens") or 1024), before_call=budget.take)

    task_engine = engine(task_model)  # temperature 0
    opt_engine = engine(opt_model)  # the optimizer model's temperature (0.7): backward and the TGD step
    tg.set_backward_engine(opt_engine, override=True)

    task = cfg["task"]
    system_prompt = tg.Variable(task["system"], requires_grad=True, role_description=task["role"])
    model = tg.BlackboxLLM(task_engine, system_prompt)
    optimizer = tg.TGD(engine=opt_engine, parameters=[system_prompt], constraints=task["constraints"] or None)
    train = {e["id"]: e for e in cfg["train"]}
    validation = cfg["validation"]
    threads = max(1, int(cfg.get("threads") or 1))

    def loss(example: dict, response: tg.Variable) -> tg.Variable:
        def exact_match(prediction: tg.Variable, ground_truth_answer: tg.Variable) -> str:
            return str(int(passes(example, str(prediction.value))))

        check = StringBasedFunction(exact_match, check_description(example))
        y = tg.Variable(" or ".join(example["expected"]), requires_grad=False,
                        role_description="correct answer for the query")
        return check(inputs=dict(prediction=response, ground_truth_answer=y))

    def eval_sample(example: dict) -> int:
        x = tg.Variable(example["question"], requires_grad=False, role_description="query to the language model")
        return int(passes(example, str(model(x).value)))

    def eval_dataset(examples: list[dict]) -> float:
        with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
            scores = list(pool.map(eval_sample, examples))
        return sum(scores) / len(scores) if scores else 0.0

    notes: list[str] = []
    flags: list[str] = []
    iterations = 0
    if not budget.fits(len(validation)):
        emit(event="done", system=system_prompt.value, calls=budget.used, loop_s=clock.elapsed(), iterations=0,
             notes="", flags=["budget too small for the first validation"], version=f"textgrad {tg.__version__}")
        return
    accuracy = eval_dataset(validation)
    history = {"prompt": [system_prompt.value], "acc": [accuracy]}
    emit(event="progress", phase="initial", val=accuracy, calls=budget.used)
    failed_steps = 0
    for iteration, batch_ids in enumerate(cfg["batches"][: int(cfg["max_iterations"])], start=1):
        batch = [train[i] for i in batch_ids]
        if not budget.fits(3 * len(batch) + 1 + len(validation)):
            notes.append(f"stopped before iteration {iteration}: it would exceed the budget")
            break
        try:
            optimizer.zero_grad()
            losses = []
            for example in batch:
                x = tg.Variable(example["question"], requires_grad=False, role_description="query to the language model")
                losses.append(loss(example, model(x)))
            tg.sum(losses).backward()
            try:
                optimizer.step()
            except IndexError:  # no <IMPROVED_VARIABLE> tags in the answer (textgrad issue #15)
                failed_steps += 1
                system_prompt.set_value(history["prompt"][-1])
            value = eval_dataset(validation)
        except Exception as exc:  # the budget's refusal, possibly inside textgrad's retries
            stop = budget_stop_in(exc)
            if stop is None:
                raise
            system_prompt.set_value(history["prompt"][-1])
            flags.append(f"hard stop in iteration {iteration}: {stop}")
            break
        iterations = iteration
        reverted = value < history["acc"][-1]
        if reverted:
            system_prompt.set_value(history["prompt"][-1])
            value = history["acc"][-1]
        history["prompt"].append(system_prompt.value)
        history["acc"].append(value)
        emit(event="progress", phase="iteration", iteration=iteration, val=value, reverted=reverted, calls=budget.used)
    if failed_steps:
        flags.append(f"{failed_steps} step(s) without <IMPROVED_VARIABLE> tags")
    emit(event="done", system=system_prompt.value, calls=budget.used, loop_s=clock.elapsed(), iterations=iterations,
         val_initial=history["acc"][0], val_final=history["acc"][-1], notes="; ".join(notes), flags=flags,
         version=f"textgrad {tg.__version__}")


if __name__ == "__main__":
    sys.exit(run_main(run))
