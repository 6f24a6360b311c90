"""What GRAD-SUM and TGD share: the run's life cycle, events, budget headroom, rewrites with
variable repair, and the final choice on the validation split.

A run never raises for a bad answer or a spent budget. It ends with exactly one
:class:`RunFinished` event:

* ``finished`` — all iterations ran;
* ``budget-exhausted`` — it stopped early because the next iteration (plus the final
  validation, which is always kept affordable) would not fit the budget, or a call was refused
  (GRAD-SUM narrows an iteration to what fits before it gives up: see ``narrowed``);
* ``cancelled`` — its task was cancelled (the event is emitted, then CancelledError re-raised);
* ``failed`` — an internal error (a bug), reported with its message instead of a traceback; or
  the task model answered none of the final check's examples (a provider or gateway refusing
  every call — a spent quota, a proxy's budget —, an unreachable server), its first reason given.
  What the run found before is recorded all the same.

The returned prompt never scores worse on validation (on training data when there is no
validation split) than the original: a run that cannot show an improvement returns the original.
A candidate must be better than the original on ``MIN_NET_WINS`` more examples than it is worse;
a close call (ahead by less) gets a *second look* when the budget left allows it — both prompts on
training examples the run never used — and the two comparisons are counted together.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from dataclasses import asdict, dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Mapping, Sequence

from ..document.model import Example, OptimizeSettings, PromptFile
from ..engine import Budget, BudgetExhausted, Estimate, PlannedCalls, Session, estimate
from ..evaluate.inputs import inputs_sha
from ..evaluate.results import EvalReport, ExampleResult, format_score
from ..evaluate.runner import evaluate, initial_prompt, render_messages
from ..document.template import TemplateRenderError
from . import prompts
from . import moves
from .candidates import all_variables, apply_edits, critiques_from, sample, variable_problem
from .events import (
    CandidateProposed, CandidateRejected, CandidateScored, Critique, Event, ExampleScored, PromptText,
    RunFinished, RunStarted, Status, StepFailed, SummaryWritten,
)

log = logging.getLogger("promptlsp.optimize")
Emit = Callable[[Event], None]

# A candidate replaces the original only when, example by example on the selection split, it is
# better on at least this many more examples than it is worse: on a 4-example split one lucky
# example is a 0.25 gain, and the probe saw such a prompt (allowing only two of three labels) win.
MIN_NET_WINS = 2
# A close call (the best candidate ahead of the original, but by fewer than MIN_NET_WINS examples)
# gets a second look when the budget left allows: both prompts on training examples no step of the
# run has seen — as blind to the optimizer as the validation split — at least SECOND_LOOK_MIN of
# them, at most as many as the selection split has or SECOND_LOOK_MAX, whichever is more.
SECOND_LOOK_MIN, SECOND_LOOK_MAX = 4, 8
# The demonstrations move's bootstrap (DSPy's BootstrapFewShot): once per run, when the first
# minibatch leaves fewer than moves.MAX_DEMOS demonstrations, the prompt answers this many more
# training examples, so that the move has the task model's good answers to show.
BOOTSTRAP_EXAMPLES = 6

# Rough sizes (tokens) of the text around a prompt in optimizer and judge requests, for estimates.
_FRAME_TOKENS = 350
GRADIENT_TOKENS = 120


async def gather(*awaitables):
    """``asyncio.gather`` that cancels the siblings when one fails (as a TaskGroup would), so a
    budget stop or a cancellation never leaves orphan calls running."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def evidence(original: EvalReport, candidate: EvalReport) -> tuple[int, int, int]:
    """(examples better, examples worse, examples compared): the paired comparison of two
    reports on the same examples (an example unscored on either side is not compared)."""
    before = {r.example_id: r.score for r in original.results if r.score is not None}
    better = worse = compared = 0
    for r in candidate.results:
        old = before.get(r.example_id)
        if old is None or r.score is None:
            continue
        compared += 1
        better += r.score > old + 1e-9
        worse += r.score < old - 1e-9
    return better, worse, compared


def _keep_demonstrations(kept: dict[str, ExampleResult], results: Iterable[ExampleResult]) -> None:
    """Add the perfect training answers among ``results`` to ``kept`` (example id -> result),
    one per example. Candidates are scored concurrently, so which of them answers an example
    first must not decide its demonstration (a rerun would build other prompts and miss its
    cache): the shortest (then first in text order) good answer is kept."""
    for result in results:
        shown = moves.demonstration(result) if result.split == "train" else None
        known = kept.get(result.example_id)
        if shown is not None and (known is None or _shorter(shown, moves.demonstration(known))):
            kept[result.example_id] = result


def _shorter(demo: tuple[str, str], than: tuple[str, str]) -> bool:
    """Whether the demonstration (input, answer) ``demo`` goes before ``than``: shorter, then
    first in text order — an order that does not depend on which answer came first."""
    return (len(demo[0]) + len(demo[1]), demo) < (len(than[0]) + len(than[1]), than)


@dataclass(frozen=True)
class Rewrite:
    """The outcome of asking the optimizer model for a new prompt."""

    prompt: PromptText | None
    data: Mapping[str, Any] | None


class Optimizer:
    method = "base"

    def __init__(
        self,
        prompt_file: PromptFile,
        session: Session,
        *,
        settings: OptimizeSettings | None = None,
        emit: Emit | None = None,
        run_id: str | None = None,
    ) -> None:
        self.file = prompt_file
        self.session = session
        self.settings = settings or prompt_file.optimize
        self._emit = emit or (lambda event: None)
        self.run_id = run_id or uuid.uuid4().hex[:16]
        wanted = [t for t in self.settings.targets if t == "template" or prompt_file.system is not None]
        self.targets: tuple[str, ...] = tuple(wanted) or ("template",)
        self.initial = initial_prompt(prompt_file)
        self.train: tuple[Example, ...] = prompt_file.split("train")
        validation = prompt_file.split("validation")
        self.scored_on = "validation" if validation else "train"
        self.selection: tuple[Example, ...] = validation or self.train
        self.stopped_for_budget = False
        self.narrowed: list[str] = []  # iterations made smaller to fit the budget, said in the final message
        self.iteration = 0
        # (prompt, original's score, its score) once a rewrite has been validated as no worse:
        # what a cancelled run keeps.
        self.validated: tuple[PromptText, float | None, float | None] | None = None
        self._selection_reports: dict[str, EvalReport] = {}  # prompt id -> its complete selection report
        self._moved: set[str] = set()  # ids of the move candidates (no model call) already proposed
        self._demos: dict[str, ExampleResult] = {}  # training examples answered perfectly so far
        self._demos_at_start: dict[str, ExampleResult] = {}  # ... when the iteration began
        self._seen_train: set[str] = set()  # training examples some step of the run has answered
        self._bootstrapped = False  # the demonstrations' bootstrap is done or was not needed (first iteration)

    # -- events ------------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        try:
            self._emit(event)
        except Exception:  # a consumer's bug must not end the run
            log.exception("event consumer failed on %s", event.kind)

    # -- evaluation --------------------------------------------------------------------------------
    async def evaluate(self, prompt: PromptText, examples: Sequence[Example], *, label: str) -> EvalReport:
        """Score ``prompt`` on ``examples``, emitting ExampleScored per example and CandidateScored."""
        cid = prompt.id

        by_id = {e.id: e for e in examples}

        def scored(result: ExampleResult) -> None:
            example = by_id.get(result.example_id)
            self.emit(ExampleScored.of(cid, result, inputs_sha(self.file, example) if example is not None else None))

        report = await evaluate(self.session, self.file, prompt, examples, on_result=scored)
        self._seen_train.update(e.id for e in examples if e.split == "train")
        self.keep_demonstrations(report.results)
        self.emit(CandidateScored(cid, label, report.score, len(examples), self.iteration))
        if not report.complete:
            raise self._budget_error()
        return report

    def keep_demonstrations(self, results: Iterable[ExampleResult]) -> None:
        """Remember the perfect training answers among ``results`` for the demonstrations move."""
        _keep_demonstrations(self._demos, results)

    def start_iteration(self, iteration: int) -> None:
        """Iteration ``iteration`` begins: what its moves may build on is fixed now (see
        :meth:`demonstrations_move`)."""
        self.iteration = iteration
        self._demos_at_start = dict(self._demos)

    def _budget_error(self) -> BudgetExhausted:
        """The budget stop that cut an evaluation short, with the real figures."""
        accounting = self.session.accounting
        limit = accounting.exhausted or "max_calls"
        used = {"max_calls": accounting.total.calls, "max_tokens": accounting.total.tokens,
                "max_usd": accounting.total.cost_usd}[limit]
        maximum = getattr(accounting.budget, limit, None) or 0
        return BudgetExhausted(limit, used, maximum, accounting.exhausted_reason)

    async def ask(self, prompt: PromptText, messages: list[dict], schema: dict, phase: str) -> Mapping[str, Any] | None:
        """One structured optimizer-model call about ``prompt``; a failure is emitted and gives None."""
        answer = await self.session.complete(self.file.models.optimizer, messages, schema=schema, schema_name=phase, phase=phase)
        if answer.ok and answer.data is not None:
            return answer.data
        why = answer.failure.message if answer.failure else "no answer"
        self.emit(StepFailed(prompt.id, self.iteration, phase, why, answer.text))
        return None

    async def score_selection(self, prompt: PromptText) -> EvalReport:
        """``prompt`` on the selection split (validation, else train), scored once per run."""
        known = self._selection_reports.get(prompt.id)
        if known is None:
            known = self._selection_reports[prompt.id] = await self.evaluate(prompt, self.selection, label=self.scored_on)
        return known

    # -- rewriting -----------------------------------------------------------------------------------
    def _candidate(self, data: Mapping[str, Any], parent: PromptText, style: str) -> tuple[PromptText, str | None]:
        """The prompt an answer describes, and why it cannot replace ``parent`` (or None)."""
        if style == "operations":
            candidate, skipped = apply_edits(parent, prompts.parse_edits(data), self.targets)
            if candidate == parent:
                return candidate, "no edit could be applied (" + ("; ".join(skipped) or "no edits") + ")"
        else:
            candidate = prompts.parse_prompt(data, parent, self.targets)
        return candidate, variable_problem(parent, candidate, self.targets)

    async def rewrite(self, messages: list[dict], schema: dict, parent: PromptText, *, origin: str, phase: str,
                      sample: int = 0, style: str = "rewrite") -> Rewrite:
        """Ask for a new prompt (edit operations or a whole rewrite); repair once, else reject."""
        spec = self.file.models.optimizer
        answer = await self.session.complete(spec, messages, schema=schema, schema_name="prompt", phase=phase, sample=sample)
        if not answer.ok or answer.data is None:
            why = answer.failure.message if answer.failure else "no answer"
            self.emit(CandidateRejected(parent.id, self.iteration, f"no usable optimizer answer: {why}", answer.text))
            return Rewrite(None, None)
        data = answer.data
        candidate, problem = self._candidate(data, parent, style)
        if problem:
            retry = prompts.repair_variables_messages(
                messages, answer.text or "", problem, all_variables(parent, self.targets), self.targets, style, schema)
            repaired = await self.session.complete(spec, retry, schema=schema, schema_name="prompt", phase=phase, sample=sample)
            if repaired.ok and repaired.data is not None:
                candidate, problem = self._candidate(repaired.data, parent, style)
                answer, data = repaired, repaired.data
            else:
                problem += "; the repair answer was malformed"
            if problem:
                self.emit(CandidateRejected(parent.id, self.iteration, f"rejected after one repair: {problem}", answer.text))
                return Rewrite(None, data)
        if candidate.id == parent.id:
            self.emit(CandidateRejected(parent.id, self.iteration, "the rewrite is identical to its parent", answer.text))
            return Rewrite(None, data)
        self.emit(CandidateProposed(candidate.id, parent.id, self.iteration, candidate, origin))
        return Rewrite(candidate, data)

    @functools.cached_property
    def format_instruction(self) -> str | None:
        """The answer-format move's instruction for this file (:func:`moves.format_instruction`),
        worked out once per run: it may run the file's checks."""
        return moves.format_instruction(self.file, self.train)

    @functools.cached_property
    def moves_per_prompt(self) -> int:
        """Candidates a prompt may get without a model call, for budget plans: the answer-format
        move when the checks define an answer format it could state, and the demonstrations move
        when there are at least two training examples to show."""
        return int(self.format_instruction is not None) + int(len(self.train) >= 2)

    def _propose(self, prompt: PromptText, move: tuple[PromptText, str] | None, origin: str) -> PromptText | None:
        if move is None or move[0].id in self._moved:
            return None
        candidate, why = move
        self._moved.add(candidate.id)
        self.emit(CandidateProposed(candidate.id, prompt.id, self.iteration, candidate, origin))
        log.debug("%s move on %s: %s", origin, prompt.id, why)
        return candidate

    def answer_format_move(self, prompt: PromptText, results: Sequence[ExampleResult]) -> PromptText | None:
        """The answer-format candidate (see moves.py) for ``prompt``, proposed (emitted) once per run."""
        return self._propose(prompt, moves.answer_format_candidate(self.format_instruction, prompt, results, self.targets),
                             "answer-format")

    def demonstrations_move(self, prompt: PromptText, own: Sequence[ExampleResult]) -> PromptText | None:
        """``prompt`` with up to three training examples the task model answered perfectly (see
        moves.py), proposed (emitted) once per demonstration set: the answers known when the
        iteration began and ``own`` (the answers this move's own step asked for) — never those
        that the beam's other prompts, evaluated concurrently, delivered meanwhile: how far they
        had got would decide the candidate, and a rerun would build other prompts and miss its
        cache."""
        known = dict(self._demos_at_start)
        _keep_demonstrations(known, own)
        order = {e.id: i for i, e in enumerate(self.train)}  # the file's order, whatever order calls finished in
        pool = sorted(known.values(), key=lambda r: order.get(r.example_id, len(order)))
        return self._propose(prompt, moves.demonstrations_candidate(prompt, pool, self.targets),
                             "demonstrations")

    def _unused_train(self) -> list[Example]:
        """Training examples no step of the run has answered yet (in the file's order)."""
        return [e for e in self.train if e.id not in self._seen_train]

    def _bootstrap_size(self) -> int:
        return 0 if len(self.train) < 2 else min(BOOTSTRAP_EXAMPLES, max(0, len(self.train) - self._minibatch()))

    def plan_bootstrap(self) -> list[PlannedCalls]:
        """The bootstrap's calls, while it may still come (planned with the first iteration)."""
        size = 0 if self._bootstrapped else self._bootstrap_size()
        return self.plan_evaluation(1, size) if size else []

    async def bootstrap(self, prompt: PromptText, results: Sequence[ExampleResult], formatted: bool) -> list[ExampleResult]:
        """Once per run, after the first minibatch (``results``): when it leaves fewer than
        ``moves.MAX_DEMOS`` demonstrations and shows failures, ``prompt`` answers up to
        BOOTSTRAP_EXAMPLES training examples the run has not used, and its perfect answers join the
        demonstrations' pool (DSPy's BootstrapFewShot). When the failures are the answer-format
        move's case, ``prompt`` is that move's candidate (``formatted``): the original's answers
        are in the wrong form, the candidate's are not; with no such candidate (the prompt states
        the format already) nothing is bootstrapped."""
        if self._bootstrapped:
            return []
        self._bootstrapped = True
        if len(self._demos) >= moves.MAX_DEMOS or all(r.perfect for r in results):
            return []
        if not formatted and self.format_instruction is not None and moves.format_evidence(results):
            return []
        unseen = self._unused_train()
        chosen = sample(unseen, min(self._bootstrap_size(), len(unseen)), self.settings.seed, "bootstrap")
        return list((await self.evaluate(prompt, chosen, label="minibatch")).results) if chosen else []

    async def move_candidates(self, prompt: PromptText,
                              results: Sequence[ExampleResult]) -> AsyncIterator[tuple[str, PromptText]]:
        """(move name, candidate) of every move for ``prompt`` after its minibatch ``results``, each
        yielded when the caller takes it: the answer-format move, then the demonstrations move (a
        minibatch without failures gets none); the first iteration's bootstrap runs before either.
        The moves compose: with an answer-format candidate, the bootstrap asks it (its answers
        have the accepted form) and the demonstrations go on top of it."""
        formatted = self.answer_format_move(prompt, results)
        own = list(results)
        if self.iteration == 1:  # before the moves are tried: TGD ends its iteration at a move taken
            own += await self.bootstrap(formatted or prompt, results, formatted is not None)
        if formatted is not None:
            yield "answer-format", formatted
        if any(not r.perfect for r in results) and (found := self.demonstrations_move(formatted or prompt, own)) is not None:
            yield "demonstrations", found

    def summary(self, prompt: PromptText, summary: str, raw_critiques: Sequence[Mapping[str, Any]],
                examples: Sequence[str]) -> tuple[Critique, ...]:
        critiques = critiques_from(prompt, raw_critiques, examples)
        self.emit(SummaryWritten(prompt.id, summary, critiques, self.iteration))
        return critiques

    # -- budget ----------------------------------------------------------------------------------------
    def _minibatch(self) -> int:
        """Examples in a training minibatch: the file's ``minibatch``, at most the whole split."""
        return min(self.settings.minibatch, len(self.train))

    def _per_example_calls(self) -> int:
        return 1 + sum(1 for c in self.file.criteria if c.uses_judge)

    def _task_messages(self) -> list[dict]:
        for example in self.file.examples:
            try:
                return render_messages(self.initial, example.vars)
            except TemplateRenderError:
                continue
        return [{"role": "user", "content": self.initial.template}]

    def plan_evaluation(self, prompts_count: int, examples: int) -> list[PlannedCalls]:
        models = self.file.models
        task_messages = self._task_messages()
        judges = self._per_example_calls() - 1
        task_tokens = PlannedCalls.for_messages(models.task, 1, task_messages).prompt_tokens
        out_tokens = models.task.max_tokens or 256
        plan = [PlannedCalls.for_messages(models.task, prompts_count * examples, task_messages, "task")]
        if judges:
            plan.append(PlannedCalls(models.judge, prompts_count * examples * judges,
                                     task_tokens + out_tokens + _FRAME_TOKENS, models.judge.max_tokens or 256, "judge"))
        return plan

    def plan_optimizer(self, calls: int, phase: str, extra_tokens: int = 0) -> PlannedCalls:
        spec = self.file.models.optimizer
        prompt_tokens = PlannedCalls.for_messages(spec, 1, prompts.show_prompt(self.initial)).prompt_tokens
        return PlannedCalls(spec, calls, prompt_tokens + _FRAME_TOKENS + extra_tokens, spec.max_tokens or 1024, phase)

    def plan_iteration(self, iteration: int) -> list[PlannedCalls]:  # pragma: no cover - abstract
        raise NotImplementedError

    def plan_final(self) -> list[PlannedCalls]:  # pragma: no cover - abstract
        """The final validation (kept affordable by :meth:`affordable`)."""
        raise NotImplementedError

    def plan_start(self) -> list[PlannedCalls]:
        """Calls made before the first iteration."""
        return []

    def plan(self) -> list[PlannedCalls]:
        planned = self.plan_start()
        for i in range(1, self.settings.iterations + 1):
            planned += self.plan_iteration(i)
        return planned + self.plan_final()

    def estimate(self) -> Estimate:
        """Upper bound of calls, tokens and cost for the whole run (cache hits make it cheaper)."""
        return estimate(self.plan())

    def affordable(self, planned: list[PlannedCalls], final: list[PlannedCalls] | None = None) -> bool:
        """Whether ``planned`` plus the final validation (``final``, default :meth:`plan_final`)
        fits what is left of the budget."""
        budget = self.session.accounting.budget
        if budget is None:
            return True
        totals = self.session.accounting.total
        left = Budget(
            max_calls=None if budget.max_calls is None else budget.max_calls - totals.calls,
            max_tokens=None if budget.max_tokens is None else budget.max_tokens - totals.tokens,
            max_usd=None if budget.max_usd is None else budget.max_usd - totals.cost_usd,
        )
        return estimate(planned + (self.plan_final() if final is None else final)).exceeds(left) is None

    # -- the run ---------------------------------------------------------------------------------------
    async def iterate(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def finalists(self) -> list[PromptText]:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_settings(self) -> dict[str, Any]:
        data = asdict(self.settings)
        data["targets"] = list(self.targets)
        data["method"] = self.method
        data["models"] = {role: getattr(self.file.models, role).as_dict() for role in ("task", "judge", "optimizer")}
        data["train_examples"] = len(self.train)
        data["selection_examples"] = len(self.selection)
        data["scored_on"] = self.scored_on
        return data

    async def run(self) -> RunFinished:
        """Run to the end and return the RunFinished event (also emitted)."""
        self.emit(RunStarted(
            run_id=self.run_id, method=self.method, file=str(self.file.path) if self.file.path else None,
            initial=self.initial, settings=self.run_settings(), estimate=self.estimate().as_dict(),
        ))
        status: Status = "finished"
        message = ""
        try:
            try:
                await self.iterate()
                if self.stopped_for_budget:
                    status, message = "budget-exhausted", "stopped before the iteration that would exceed the budget"
                if self.narrowed:
                    message = "; ".join(filter(None, [message, ", ".join(self.narrowed) + " to fit the budget"]))
            except BudgetExhausted as exc:
                status, message = "budget-exhausted", str(exc)
            finished = await self.finish(status, message)
            unanswered = self._unanswered()
            if unanswered is not None:
                finished = self._finished("failed", self.initial, None, None, unanswered)
        except asyncio.CancelledError:
            if self.validated is not None and self._clear_win(self.validated[0]):
                best, initial_score, best_score = self.validated
                note = "cancelled; keeping the last prompt validated as better than the original"
            else:
                best, initial_score, best_score = self.initial, None, None
                note = "cancelled before any candidate was validated as better; the original prompt is kept"
            self.emit(self._finished("cancelled", best, initial_score, best_score, note))
            raise
        except Exception as exc:  # a bug: report it as a failed run, never a traceback for the user
            log.exception("optimization run %s failed", self.run_id)
            finished = self._finished("failed", self.initial, None, None, f"internal error: {type(exc).__name__}: {exc}")
        self.emit(finished)
        return finished

    def _unanswered(self) -> str | None:
        """Why the original prompt has no score at the end, when no example of its final check
        got an answer from the task model (every call failed); else None."""
        report = self._selection_reports.get(self.initial.id)
        if report is None or not report.results or any(r.failure != "call" for r in report.results):
            return None
        n = len(report.results)
        return f"no answer from the task model on any of the {n} {self.scored_on} example{'' if n == 1 else 's'}: " \
               f"{report.results[0].error}"

    def _clear_win(self, prompt: PromptText) -> bool:
        """Whether ``prompt``'s selection report beats the original's by the margin ``finish`` asks."""
        original, report = self._selection_reports.get(self.initial.id), self._selection_reports.get(prompt.id)
        if original is None or report is None:
            return False
        better, worse, _ = evidence(original, report)
        return better - worse >= MIN_NET_WINS

    async def second_look(self, candidate: PromptText, original_report: EvalReport,
                          candidate_report: EvalReport) -> tuple[int, int, int, int] | None:
        """More evidence on a close call, as far as the budget left allows: the original and
        ``candidate`` on training examples the run has not answered (no gradient, demonstration
        or minibatch came from them), SECOND_LOOK_MIN to the larger of SECOND_LOOK_MAX and the
        selection split's size. Returns (examples better, worse, compared — the selection
        split's and these together —, training examples added), or None when there is no room."""
        unseen = self._unused_train()
        count = min(len(unseen), max(len(self.selection), SECOND_LOOK_MAX))
        while count >= SECOND_LOOK_MIN and not self.affordable(self.plan_evaluation(2, count), final=[]):
            count -= 1
        if count < SECOND_LOOK_MIN:
            return None
        chosen = sample(unseen, count, self.settings.seed, "second-look")
        try:
            before, after = await gather(self.evaluate(self.initial, chosen, label="minibatch"),
                                         self.evaluate(candidate, chosen, label="minibatch"))
        except BudgetExhausted:
            return None
        b1, w1, c1 = evidence(original_report, candidate_report)
        b2, w2, c2 = evidence(before, after)
        return b1 + b2, w1 + w2, c1 + c2, count

    def _finished(self, status: Status, best: PromptText, initial_score: float | None, best_score: float | None,
                  message: str) -> RunFinished:
        return RunFinished(
            status=status, best_candidate_id=best.id, best=best, initial_score=initial_score, best_score=best_score,
            scored_on=self.scored_on, accounting=self.session.accounting.snapshot(), message=message,
        )

    async def finish(self, status: Status, message: str) -> RunFinished:
        """Score the original and the finalists on the selection split; keep the best, never a
        worse one, and never a winner that one example's luck could explain (see ``evidence``;
        a close call gets a :meth:`second_look` when the budget allows)."""
        self.iteration = self.settings.iterations + 1
        contenders = [self.initial] + [p for p in self.finalists() if p.id != self.initial.id]
        try:
            reports = await gather(*(self.score_selection(p) for p in contenders))
        except BudgetExhausted as exc:
            note = f"{message}; " if message else ""
            return self._finished("budget-exhausted", self.initial, None, None,
                                  f"{note}no budget left to validate candidates ({exc}); the original prompt is kept")
        initial_score = reports[0].score
        best, best_score, verdict = self.initial, initial_score, None
        rejected: list[tuple[float, str]] = []
        close: tuple[float, PromptText, EvalReport] | None = None  # the best candidate ahead by too little
        for prompt, report in zip(contenders[1:], reports[1:]):
            score = report.score
            if score is None or initial_score is None or best_score is None or score <= best_score + 1e-9:
                continue
            better, worse, compared = evidence(reports[0], report)
            if better - worse < MIN_NET_WINS:
                rejected.append((score, f"{format_score(score)} ({better} better, {worse} worse of {compared})"))
                if better > worse and (close is None or score > close[0]):
                    close = (score, prompt, report)
                continue
            best, best_score = prompt, score
            verdict = f"chosen on {self.scored_on}: {better} of {compared} examples better than the original, {worse} worse"
        if verdict is None and close is not None:
            look = await self.second_look(close[1], reports[0], close[2])
            if look is not None:
                better, worse, compared, extra = look
                if better - worse >= MIN_NET_WINS:
                    best, best_score = close[1], close[0]
                    verdict = (f"chosen on {self.scored_on} and {extra} training examples the run had not used: "
                               f"{better} of {compared} examples better than the original, {worse} worse")
                else:
                    rejected = [(close[0], f"{format_score(close[0])} ({better} better, {worse} worse of {compared}, "
                                           f"{extra} of them unused training examples)")]
        notes = [message] if message else []
        if verdict:
            notes.append(verdict)
        elif rejected:
            notes.append(f"no candidate beat the original on {self.scored_on} by at least {MIN_NET_WINS} examples "
                         f"(best: {max(rejected)[1]}); the original prompt is kept")
        elif len(contenders) > 1:
            notes.append(f"no candidate beat the original on {self.scored_on}")
        return self._finished(status, best, initial_score, best_score, "; ".join(notes))
