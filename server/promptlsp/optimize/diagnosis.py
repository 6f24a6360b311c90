"""GRAD-SUM's diagnosis of a prompt: what went wrong on the examples, as anchored critiques.

One *gradient* per example scored below full marks (what in the prompt caused the failure, how
to change it; emitted as ``GradientComputed``), then one *summary* that generalises them into
critiques quoting the exact spans they criticise (emitted as ``SummaryWritten``). GRAD-SUM writes
its edits from it; the critic (``critic.py``) stops there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine import PlannedCalls
from ..evaluate.results import EvalReport, ExampleResult
from . import prompts
from .base import GRADIENT_TOKENS, gather
from .events import GradientComputed, PromptText

if TYPE_CHECKING:
    from .base import Optimizer


class Diagnosis:
    """The diagnosis step of ``optimizer``'s run: its calls, events and budget plan."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer

    def plan(self, prompts_count: int, examples: int) -> list[PlannedCalls]:
        """The calls of diagnosing ``prompts_count`` prompts on ``examples`` examples each (at most)."""
        o = self.optimizer
        return [
            o.plan_optimizer(prompts_count * examples, "gradient"),
            o.plan_optimizer(prompts_count, "summary", examples * GRADIENT_TOKENS),
        ]

    async def gradient(self, prompt: PromptText, result: ExampleResult) -> str | None:
        o = self.optimizer
        example = prompts.show_example(result.vars, result.output if result.output is not None else result.error,
                                       result.expected, (c.to_dict() for c in result.checks),
                                       result.cut_off_at)
        messages = prompts.gradient_messages(o.file.task, prompt, example, result.score)
        data = await o.ask(prompt, messages, prompts.GRADIENT_SCHEMA, "gradient")
        if data is None:
            return None  # recorded as StepFailed; the other gradients carry on
        text = prompts.parse_gradient(data)
        o.emit(GradientComputed(prompt.id, result.example_id, text))
        return text

    async def __call__(self, prompt: PromptText, report: EvalReport) -> str | None:
        """A gradient per imperfect example of ``report``, one summary with anchored critiques
        (emitted). Returns the critique text the edits are written from — the gradients
        themselves when the summary step fails —, or None when no gradient was written."""
        o = self.optimizer
        failing = [r for r in report.results if r.score is not None and not r.perfect]
        if not failing:
            return None
        texts = await gather(*(self.gradient(prompt, r) for r in failing))
        gradients = [(r.example_id, t) for r, t in zip(failing, texts) if t]
        if not gradients:
            return None
        data = await o.ask(prompt, prompts.summary_messages(o.file.task, prompt, gradients),
                           prompts.SUMMARY_SCHEMA, "summary")
        if data is None:  # the failure is recorded (StepFailed); the edits are written from the gradients
            return prompts.gradients_as_critique(gradients)
        summary = str(data["summary"])
        raw = data["critiques"]
        o.summary(prompt, summary, raw, [example_id for example_id, _ in gradients])
        return prompts.critique_text(summary, raw)
