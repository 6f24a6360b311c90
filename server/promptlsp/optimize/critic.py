"""The critic: evaluation with critiques, no rewrites.

The current prompt on every non-test example, then GRAD-SUM's diagnosis of it (``diagnosis.py``).
Recorded as a run like any other (method ``critique``), so the editor shows its critiques on the
quoted words exactly as after an optimization. Not an optimizer method of the file format.
"""

from __future__ import annotations

from ..engine import PlannedCalls
from .base import Optimizer
from .diagnosis import Diagnosis
from .events import IterationDone, PromptText


class Critic(Optimizer):
    method = "critique"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.diagnose = Diagnosis(self)
        self.examples = self.train + tuple(e for e in self.selection if e not in self.train)

    def plan(self) -> list[PlannedCalls]:  # one pass, whatever the file's iterations
        return self.plan_iteration(1) + self.plan_final()

    def plan_iteration(self, iteration: int) -> list[PlannedCalls]:
        n = len(self.examples)
        return [*self.plan_evaluation(1, n), *self.diagnose.plan(1, n)]

    def plan_final(self) -> list[PlannedCalls]:
        return self.plan_evaluation(1, len(self.selection))  # scored during the diagnosis: cache hits

    async def iterate(self) -> None:
        self.iteration = 1
        report = await self.evaluate(self.initial, self.examples, label="minibatch")
        await self.diagnose(self.initial, report)
        self.emit(IterationDone(1, self.initial.id, None, self.session.accounting.snapshot()))

    def finalists(self) -> list[PromptText]:
        return []
