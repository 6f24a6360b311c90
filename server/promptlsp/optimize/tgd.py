"""Textual Gradient Descent with TextGrad's semantics — and its momentum actually working.

Per iteration: evaluate the current prompt on a training minibatch; the *text loss* of each
example is the evaluation of its output against the file's criteria (each check's verdict and
reason, judge rubrics included); *backward*: the optimizer model writes feedback on the prompt
from each example's loss, and the feedbacks are summed — concatenated, as ``tg.sum`` does; the
*step* rewrites the prompt from that feedback, honouring the file's ``constraints``, and — with
``gradient_memory = k`` — sees the prompts and feedback of the previous k steps (TextGrad's
momentum computes this history but never passes it on). A step whose prompt scores lower on the
validation split than the current one is reverted, as in TextGrad's prompt-optimization example.
The moves that need no model call (``moves.py``: the *answer-format move* when the minibatch shows
answers in the wrong form, the *demonstrations move* once the task model has answered training
examples perfectly; the first iteration answers a few more training examples when its minibatch
leaves too few: ``base.bootstrap``) are tried first, under the same rule; when one is taken the
step waits for the next iteration.
"""

from __future__ import annotations

import contextlib

from ..engine import PlannedCalls
from ..evaluate.results import ExampleResult, format_score
from . import moves, prompts
from .base import GRADIENT_TOKENS, Optimizer, gather
from .candidates import all_variables, sample
from .events import BeamUpdated, CandidateRejected, GradientComputed, IterationDone, PromptText


def loss_text(result: ExampleResult) -> str:
    """The text loss of one example: its output judged against every criterion."""
    score = format_score(result.score, 2)
    output = result.output if result.output is not None else f"(no output: {result.error})"
    body = prompts.show_example(result.vars, output, result.expected, (c.to_dict() for c in result.checks),
                                result.cut_off_at)
    return f"Score {score} of 1.\n{body}"


class TGD(Optimizer):
    method = "tgd"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.current: PromptText = self.initial
        self.history: list[tuple[PromptText, str]] = []  # (prompt, the summed feedback it got)

    def plan_iteration(self, iteration: int) -> list[PlannedCalls]:
        m = self._minibatch()
        memory = min(self.settings.gradient_memory, iteration - 1)
        return [
            *self.plan_evaluation(1, m),
            *(self.plan_bootstrap() if iteration == 1 else []),
            self.plan_optimizer(m, "feedback"),
            self.plan_optimizer(2, "step", (m + memory * (m + 1)) * GRADIENT_TOKENS),
            *self.plan_evaluation(1 + self.moves_per_prompt, len(self.selection)),  # the step's prompt, a move
        ]

    def plan_start(self) -> list[PlannedCalls]:
        return self.plan_evaluation(1, len(self.selection))  # the original, on the selection split

    def plan_final(self) -> list[PlannedCalls]:
        return []  # the original and the current prompt were both scored on the selection split already

    async def feedback(self, prompt: PromptText, result: ExampleResult) -> str | None:
        data = await self.ask(prompt, prompts.feedback_messages(self.file.task, prompt, loss_text(result)),
                              prompts.FEEDBACK_SCHEMA, "feedback")
        text = str(data["feedback"]).strip() if data is not None else ""
        if not text:
            return None
        self.emit(GradientComputed(prompt.id, result.example_id, text))
        return text

    async def iterate(self) -> None:
        s = self.settings
        self.iteration = 0
        current_score = (await self.score_selection(self.current)).score
        for iteration in range(1, s.iterations + 1):
            if not self.affordable(self.plan_iteration(iteration)):
                self.stopped_for_budget = True
                return
            self.start_iteration(iteration)
            batch = sample(self.train, self._minibatch(), s.seed, f"batch:{iteration}")
            report = await self.evaluate(self.current, batch, label="minibatch")
            moved = None
            async with contextlib.aclosing(self.move_candidates(self.current, report.results)) as found:
                async for name, candidate in found:
                    if (moved := await self.try_move(iteration, name, candidate, current_score)) is not None:
                        break
            if moved is not None:
                current_score = moved
                self.emit(BeamUpdated(iteration, (self.current.id,), (moved,)))
                self.emit(IterationDone(iteration, self.current.id, moved, self.session.accounting.snapshot()))
                continue
            texts = await gather(*(self.feedback(self.current, r) for r in report.results))
            items = [(r.example_id, t) for r, t in zip(report.results, texts) if t]
            if items:
                current_score = await self.step(iteration, prompts.combine_feedback(items), [e for e, _ in items], current_score)
            self.emit(BeamUpdated(iteration, (self.current.id,), (-1.0 if current_score is None else current_score,)))
            self.emit(IterationDone(iteration, self.current.id, current_score, self.session.accounting.snapshot()))

    async def accept(self, candidate: PromptText, current_score: float | None, *, strictly: bool = False) -> float | None:
        """Score ``candidate`` on the selection split; it becomes the current prompt when it scores
        at least as well (TextGrad reverts only a worse step), or better when ``strictly``. Its
        score, or None when rejected."""
        score = (await self.score_selection(candidate)).score
        margin = 1e-9 if strictly else -1e-9
        if score is None or (current_score is not None and score < current_score + margin):
            return None
        first = self.validated[1] if self.validated else current_score
        self.current = candidate
        self.validated = (candidate, first, score)
        return score

    async def try_move(self, iteration: int, name: str, candidate: PromptText, current_score: float | None) -> float | None:
        """A move tried before the step, taken only when it scores *better* (a move that changes
        nothing measurable must not cost the iteration its step); when taken the iteration ends
        (the feedback was about the previous prompt). None if rejected."""
        score = await self.accept(candidate, current_score, strictly=True)
        if score is None:
            self.emit(CandidateRejected(self.current.id, iteration, f"{name} move did not score above "
                                        f"{format_score(current_score)} on {self.scored_on}: not taken"))
        return score

    async def step(self, iteration: int, feedback: str, example_ids: list[str], current_score: float | None) -> float | None:
        """One TGD step from the summed feedback; returns the score of the (possibly new) current prompt."""
        s = self.settings
        memory = self.history[-s.gradient_memory:] if s.gradient_memory > 0 else []
        variables = all_variables(self.current, self.targets)
        style = self.settings.edits
        messages = prompts.step_messages(self.file.task, self.current, feedback, memory, s.constraints, variables,
                                         self.targets, answers=moves.training_answers(self.train), style=style)
        rewrite = await self.rewrite(messages, prompts.step_schema(self.targets, style), self.current,
                                     origin="tgd-step", phase="step", style=style)
        if rewrite.data is not None:
            self.summary(self.current, feedback, rewrite.data.get("critiques", ()), example_ids)
        self.history.append((self.current, feedback))
        new = rewrite.prompt
        if new is None:
            return current_score
        new_score = await self.accept(new, current_score)
        if new_score is not None:
            return new_score
        fell_to = format_score(self._selection_reports[new.id].score if new.id in self._selection_reports else None)
        self.emit(CandidateRejected(
            self.current.id, iteration,
            f"{self.scored_on} score fell from {format_score(current_score)} to {fell_to}: step reverted"))
        return current_score

    def finalists(self) -> list[PromptText]:
        return [self.current]
