"""The DSPy side of ``bench/quality.py``: COPRO and GEPA (``dspy`` 3.4.1, ``gepa`` 0.1.4).

Not run by hand: bench/quality.py starts it with the Python of ``bench/.venv-dspy`` (created from
the pinned ``bench/quality/requirements-dspy.txt``), in a temporary working folder, with DSPy's
caches off::

    python bench/quality/dspy_runner.py CONFIG.json      # CONFIG["method"]: "copro" or "gepa"

The program is one ``dspy.Predict("question -> response")`` whose signature instructions start as
the task's initial system prompt. Its task calls use :class:`PlainAdapter`: the instructions as the
system message and the question as the user message, the whole completion as ``response`` — the
same messages promptlsp and textgrad send, so every method optimizes the same string in the same
frame and the final instructions are scored by the one scorer exactly as DSPy ran them (DSPy's
default ChatAdapter would wrap them in its field markers, which the other methods never see).
The optimizers' own calls (COPRO's instruction proposals, GEPA's reflection) use DSPy's default
adapters and prompts, unchanged.

Models: two counted ``dspy.LM`` s at the counting proxy, each with its model's temperature and
max_tokens as defaults: the task LM (temperature 0; every task call, COPRO's and GEPA's
evaluations included) and the optimizer LM (temperature 0.7), GEPA's ``reflection_lm`` and
COPRO's ``prompt_model``. GEPA's reflection calls use the LM's 0.7; COPRO passes its own
``init_temperature`` (1.4, its default) with every proposal request (``n`` = breadth − 1 in the
first round, breadth after), which overrides the LM's 0.7 — so all of COPRO's optimizer calls run
at 1.4, as COPRO is designed to.

The metric is the example's exact-match check (the regex promptlsp's scorer uses); GEPA's metric
also returns a one-line textual verdict as feedback (the correct answer and the last line given;
for the label tasks, whose whole response must be the label, the response given).

Budget (calls, counted per request by a ``dspy.LM`` subclass; ``n`` samples are ``n`` requests):

* COPRO scores every candidate instruction on its ``trainset``; it is given the validation split
  (COPRO reads no example content, only scores: that is the selection role the validation split
  plays for the other methods). ``breadth`` and ``depth`` are the largest pair (most candidates,
  then deeper) whose calls ``depth × breadth × |validation| + 2 × (breadth × depth − 1)`` fit the
  budget (a proposal is ``n`` requests, and DSPy repeats all ``n`` with its JSONAdapter when the
  ChatAdapter cannot parse the answer), with ``depth`` ≤ the iteration limit. COPRO needs
  ``breadth ≥ 2``.
* GEPA: ``max_metric_calls`` = the budget, plus a stop callback that ends the run before an
  iteration that might not fit (``2 × minibatch + 2 + |validation|`` calls: the reflection may be
  repeated by DSPy's adapter fallback) or after the iteration
  limit (counted in reflection calls). Reflection minibatches come from the train split, Pareto
  tracking uses the validation split; merges are off (one predictor).

A refused call (the hard stop) raises inside DSPy; the run is reported with the note.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("DSPY_CACHEDIR", os.path.join(os.getcwd(), "dspy-cache"))

from peer_common import BudgetStop, CallBudget, Clock, emit, feedback, passes, run_main  # noqa: E402

import dspy  # noqa: E402


class PlainAdapter(dspy.Adapter):
    """System = the signature's instructions, user = the question; the completion is ``response``."""

    def format(self, signature, demos, inputs):  # noqa: ANN001 - DSPy's signature
        messages = [{"role": "system", "content": signature.instructions}]
        for demo in demos:
            messages.append({"role": "user", "content": str(demo["question"])})
            messages.append({"role": "assistant", "content": str(demo.get("response", ""))})
        messages.append({"role": "user", "content": str(inputs["question"])})
        return messages

    def parse(self, signature, completion):  # noqa: ANN001
        return {"response": completion}


PLAIN = PlainAdapter()


class CountedLM(dspy.LM):
    """``dspy.LM`` that counts each request against the run's budget and refuses past it."""

    def __init__(self, *args, budget: CallBudget, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget
        self.requests = 0

    def _take(self, kwargs: dict) -> None:
        n = int(kwargs.get("n") or self.kwargs.get("n") or 1)
        self.budget.take(n)
        self.requests += n

    def __call__(self, *args, **kwargs):
        self._take(kwargs)
        return super().__call__(*args, **kwargs)

    async def acall(self, *args, **kwargs):
        self._take(kwargs)
        return await super().acall(*args, **kwargs)

    def copy(self, **kwargs):  # DSPy copies LMs (e.g. with a new temperature): keep the counter shared
        new = super().copy(**kwargs)
        new.budget = self.budget
        return new


class Program(dspy.Module):
    def __init__(self, instructions: str) -> None:
        super().__init__()
        self.predict = dspy.Predict(dspy.Signature("question -> response", instructions))

    def forward(self, question: str):
        with dspy.context(adapter=PLAIN):
            return self.predict(question=question)


def copro_shape(budget: int, validation: int, max_depth: int) -> tuple[int, int] | None:
    """(breadth, depth) with the most candidates (then the deepest) that fits ``budget`` calls."""
    best = None
    for depth in range(1, max(1, max_depth) + 1):
        for breadth in range(2, 51):
            calls = depth * breadth * validation + 2 * (breadth * depth - 1)
            if calls > budget:
                break
            key = (breadth * depth, depth)
            if best is None or key > best[0]:
                best = (key, (breadth, depth))
    return best[1] if best else None


def run(cfg: dict) -> None:
    clock = Clock()
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    budget = CallBudget(int(cfg["budget_calls"]))

    def lm(model: dict) -> CountedLM:
        """The model's own temperature and max_tokens as the LM's defaults (a call may override them)."""
        kwargs = dict(api_base=model["base_url"], api_key=model["api_key"], cache=False, num_retries=0,
                      max_tokens=int(model.get("max_tokens") or 1024), budget=budget,
                      timeout=float(model.get("timeout") or 600))
        if model.get("temperature") is not None:
            kwargs["temperature"] = model["temperature"]
        return CountedLM(f"openai/{model['model_name']}", **kwargs)

    task_lm = lm(cfg["task_model"])  # temperature 0
    opt_lm = lm(cfg["optimizer_model"])  # 0.7: GEPA's reflection; COPRO passes its own 1.4 on every proposal
    dspy.configure(lm=task_lm)

    def example(e: dict) -> dspy.Example:
        return dspy.Example(question=e["question"], expected=e["expected"], regex=e["regex"],
                            check=e.get("check")).with_inputs("question")

    train = [example(e) for e in cfg["train"]]
    validation = [example(e) for e in cfg["validation"]]
    program = Program(cfg["task"]["system"])
    threads = max(1, int(cfg.get("threads") or 1))
    method = cfg["method"]
    notes: list[str] = []
    flags: list[str] = []

    def as_dict(gold) -> dict:  # noqa: ANN001
        return {"expected": list(gold.expected), "regex": gold.regex, "check": gold.check}

    if method == "copro":
        shape = copro_shape(budget.limit, len(validation), int(cfg["max_iterations"]))
        if shape is None:
            raise RuntimeError(f"budget too small for COPRO: breadth 2, depth 1 needs {2 * len(validation) + 2} calls")
        breadth, depth = shape
        notes.append(f"breadth {breadth}, depth {depth}")

        def metric(gold, pred, trace=None):  # noqa: ANN001
            return float(passes(as_dict(gold), getattr(pred, "response", None)))

        optimizer = dspy.COPRO(prompt_model=opt_lm, metric=metric, breadth=breadth, depth=depth)
        eval_kwargs = {"num_threads": threads, "display_progress": False, "display_table": 0}
        try:
            best = optimizer.compile(program, trainset=validation, eval_kwargs=eval_kwargs)
            instructions = best.predict.signature.instructions
            scored = sorted((c["score"] for c in getattr(best, "candidate_programs", [])), reverse=True)
            if scored:  # dspy.Evaluate scores in percent
                notes.append(f"best of {len(scored)} distinct candidates on validation: {scored[0] / 100:.3f}")
        except BudgetStop as exc:
            instructions = cfg["task"]["system"]
            flags.append(f"hard stop ({exc}); the initial prompt is kept")
    elif method == "gepa":
        minibatch = max(1, min(int(cfg["minibatch"]), len(train)))
        worst_iteration = 2 * minibatch + 2 + len(validation)  # the reflection may need DSPy's adapter fallback
        max_iterations = int(cfg["max_iterations"])

        def stop(state) -> bool:  # noqa: ANN001 - a gepa StopperProtocol: called with the GEPAState
            return opt_lm.requests >= max_iterations or not budget.fits(worst_iteration)

        def metric(gold, pred, trace=None, pred_name=None, pred_trace=None):  # noqa: ANN001
            output = getattr(pred, "response", None)
            return dspy.Prediction(score=float(passes(as_dict(gold), output)), feedback=feedback(as_dict(gold), output))

        if not budget.fits(len(validation)):
            raise RuntimeError(f"budget too small for GEPA's first validation ({len(validation)} calls)")
        optimizer = dspy.GEPA(
            metric=metric, max_metric_calls=budget.limit, reflection_lm=opt_lm, reflection_minibatch_size=minibatch,
            candidate_selection_strategy="pareto", use_merge=False, num_threads=threads, seed=int(cfg["seed"]),
            log_dir=os.path.join(os.getcwd(), "gepa-log"), gepa_kwargs={"stop_callbacks": [stop]},
        )
        try:
            best = optimizer.compile(program, trainset=train, valset=validation)
            instructions = best.predict.signature.instructions
        except BudgetStop as exc:
            instructions = cfg["task"]["system"]
            flags.append(f"hard stop ({exc}); the initial prompt is kept")
        notes.append(f"{opt_lm.requests} reflection call(s)")
    else:
        raise ValueError(f"unknown DSPy method {method!r}")
    if budget.refused:
        flags.append(f"{budget.refused} call(s) refused at the budget")
    emit(event="done", system=instructions, calls=budget.used, loop_s=clock.elapsed(), notes="; ".join(notes),
         flags=flags, version=f"dspy {dspy.__version__}")


if __name__ == "__main__":
    sys.exit(run_main(run))
