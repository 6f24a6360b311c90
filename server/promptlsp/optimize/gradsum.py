"""GRAD-SUM (Austin & Chartock, arXiv 2407.12865), with a beam.

Per iteration, for every prompt in the beam (all in parallel):
evaluate on a training minibatch → one *gradient* per example below full score (what in the
prompt caused the failure, how to change it) → one *summary* per prompt that generalises the
gradients into critiques quoting the exact spans they criticise (``diagnosis.py``) → K *edits* written from the
summary (edit operations by default, see ``prompts.EDIT``), plus two moves that need no model
call (``moves.py``): the *answer-format move* when the minibatch shows answers in the wrong form,
and the *demonstrations move* (DSPy's bootstrapped few-shot) once the task model has answered
training examples perfectly — its own good answers shown to it (the first iteration answers a few
more training examples when its minibatch leaves too few: ``base.bootstrap``). Then every beam
prompt and candidate is scored on a second, independently drawn minibatch, and the best B form
the next beam (a tie keeps the older prompt first). The last iteration — the configured last, or
the last the budget leaves room for — skips that minibatch: its candidates are scored on the
validation split at once, beside the beam and the original, and such last iterations repeat while
the budget allows (more candidates from the same beam, none left unspent). The best prompt that
clearly beats the original on validation is returned (see ``base.finish``).
"""

from __future__ import annotations

from ..engine import PlannedCalls
from . import moves, prompts
from .base import Optimizer, gather
from .candidates import all_variables, sample
from .diagnosis import Diagnosis
from .events import BeamUpdated, IterationDone, PromptText


class GradSum(Optimizer):
    method = "gradsum"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.beam: list[PromptText] = [self.initial]
        self.diagnose = Diagnosis(self)
        self.unselected: list[PromptText] = []  # the last iterations' children, scored on the selection split

    # -- planning -------------------------------------------------------------------------------
    def plan_iteration(self, iteration: int) -> list[PlannedCalls]:
        beam = 1 if iteration == 1 else self.settings.beam_width
        return self.plan_step(beam, beam, self.settings.candidates, last=iteration == self.settings.iterations,
                              first=iteration == 1)

    def plan_step(self, beam: int, expanded: int, candidates: int, *, last: bool = False,
                  first: bool = False) -> list[PlannedCalls]:
        """One iteration that expands ``expanded`` of the ``beam`` prompts, ``candidates`` edits
        each (the *first* also the demonstrations' bootstrap). A *last* iteration has no selection
        minibatch: its edits are scored on the selection split with the beam (:meth:`plan_final`
        plans the beam's part); its moves only as far as the budget then allows (see :meth:`iterate`)."""
        m = self._minibatch()
        children = expanded * (candidates + self.moves_per_prompt)  # K edits, and the moves
        return [
            *self.plan_evaluation(expanded, m),  # gradient minibatch
            *(self.plan_bootstrap() if first else []),
            *self.diagnose.plan(expanded, m),  # a gradient per minibatch example, a summary per prompt
            self.plan_optimizer(expanded * candidates * 2, "edit"),  # each may need its one repair
            *(self.plan_evaluation(expanded * candidates, len(self.selection)) if last  # straight to validation
              else self.plan_evaluation(beam + children, m)),  # selection minibatch: the whole beam and the children
        ]

    def affordable_candidates(self, candidates: list[PromptText]) -> list[PromptText]:
        """The first of ``candidates`` whose scoring on the selection split fits what is left of
        the budget beside the beam's and the original's (which always fit: they were planned)."""
        beside = self.plan_final(after_selection=False)
        count = len(candidates)
        while count and not self.affordable(self.plan_evaluation(count, len(self.selection)), beside):
            count -= 1
        return candidates[:count]

    def next_step(self, iteration: int) -> tuple[int, int, bool] | None:
        """(prompts expanded, edits each, last) for ``iteration``. The whole beam × K edits with a
        selection minibatch while another iteration can still follow it; otherwise a *last*
        iteration: the widest shape that fits (the best prompts of the beam expanded first), its
        children scored on the selection split directly — a 3-example minibatch in front of a
        validation that can take them all would only add cost and noise. Last iterations repeat
        (new gradients from a new minibatch, new candidates from the same beam) while the budget
        allows one more; None when not even one edit fits."""
        beam, k = len(self.beam), self.settings.candidates
        if iteration < self.settings.iterations:
            follow = self.plan_step(self.settings.beam_width, 1, 1, last=True)  # the smallest next iteration
            if self.affordable(self.plan_step(beam, beam, k, first=iteration == 1) + follow):
                return beam, k, False
        shapes = sorted(((e, c) for e in range(beam, 0, -1) for c in range(k, 0, -1)),
                        key=lambda shape: -shape[0] * shape[1])  # stable: more prompts expanded first on a tie
        final = self.plan_final(after_selection=False)
        for expanded, candidates in shapes:
            if self.affordable(self.plan_step(beam, expanded, candidates, last=True, first=iteration == 1), final):
                return expanded, candidates, True
        return None

    def plan_final(self, *, after_selection: bool = True) -> list[PlannedCalls]:
        """The beam and the original on the selection split: a full beam after a selection
        minibatch, else the prompts of the beam now (not yet scored there)."""
        if after_selection:
            count = self.settings.beam_width + 1
        else:
            count = len({p.id for p in [self.initial, *self.beam]} - set(self._selection_reports))
        return self.plan_evaluation(count, len(self.selection))

    # -- one prompt: diagnosis → edits ---------------------------------------------------------------
    async def expand(self, prompt: PromptText, batch, candidates: int) -> list[PromptText]:
        """Children of ``prompt``: the moves (the answer-format move when the minibatch shows
        format failures, demonstrations once the task model has answered training examples
        perfectly), and ``candidates`` edits written from the diagnosis."""
        report = await self.evaluate(prompt, batch, label="minibatch")

        async def moved() -> list[PromptText]:
            return [m async for _, m in self.move_candidates(prompt, report.results)]

        # The moves (with the first iteration's bootstrap: a task round, and a judge round when a
        # criterion has one) and the diagnosis (gradients, then their summary) need only the
        # minibatch's answers: one waiting for the other cost the first iteration two rounds.
        children, critique = await gather(moved(), self.diagnose(prompt, report))
        if critique is None:
            return children
        variables = all_variables(prompt, self.targets)
        style = self.settings.edits
        messages = prompts.edit_messages(self.file.task, prompt, critique, self.settings.constraints, variables,
                                         self.targets, answers=moves.training_answers(self.train), style=style)
        rewrites = await gather(*(
            self.rewrite(messages, prompts.edit_schema(self.targets, style), prompt, origin="edit", phase="edit",
                         sample=k, style=style)
            for k in range(candidates)
        ))
        return children + [r.prompt for r in rewrites if r.prompt is not None]

    # -- the loop ---------------------------------------------------------------------------------------
    async def iterate(self) -> None:
        seed, width = self.settings.seed, self.settings.beam_width
        for iteration in range(1, self.settings.iterations + 1):
            step = self.next_step(iteration)
            if step is None:
                self.stopped_for_budget = True
                return
            expanded, candidates, last = step
            if (expanded, candidates) != (len(self.beam), self.settings.candidates):
                self.narrowed.append(f"iteration {iteration} narrowed to {expanded} prompt(s) × {candidates} edit(s)")
            self.start_iteration(iteration)
            gradient_batch = sample(self.train, self._minibatch(), seed, f"gradient:{iteration}")
            children = await gather(*(self.expand(p, gradient_batch, candidates) for p in self.beam[:expanded]))
            pool: dict[str, PromptText] = {p.id: p for p in self.beam}
            for group in children:
                for child in group:
                    pool.setdefault(child.id, child)
            if last:  # the children are scored on the validation split now, beside the beam and the original
                known = {p.id for p in self.unselected}
                new = [p for p in pool.values() if p not in self.beam and p.id not in known]  # the moves first
                fits = self.affordable_candidates(new)
                if len(fits) < len(new):
                    self.narrowed.append(f"{len(new) - len(fits)} candidate(s) of iteration {iteration} left unscored")
                self.unselected += fits
                scored = list({p.id: p for p in [self.initial, *self.beam, *self.unselected]}.values())
                reports = await gather(*(self.score_selection(p) for p in scored))
                best = max(zip(scored, reports), key=lambda pr: -1.0 if pr[1].score is None else pr[1].score)
                self.emit(IterationDone(iteration, best[0].id, best[1].score, self.session.accounting.snapshot()))
                self.stopped_for_budget |= iteration < self.settings.iterations  # the budget shaped the run
                continue  # while the budget left buys another try from the beam (next_step says when not)
            select_batch = sample(self.train, self._minibatch(), seed, f"select:{iteration}")
            contenders = list(pool.values())
            reports = await gather(*(self.evaluate(p, select_batch, label="minibatch") for p in contenders))
            # Stable sort: on a tie the older prompt (listed first) keeps its place.
            ranked = sorted(zip(contenders, reports), key=lambda pr: -1.0 if pr[1].score is None else pr[1].score, reverse=True)
            self.beam = [p for p, _ in ranked[:width]]
            scores = tuple(-1.0 if r.score is None else r.score for _, r in ranked[:width])
            self.emit(BeamUpdated(iteration, tuple(p.id for p in self.beam), scores))
            self.emit(IterationDone(iteration, self.beam[0].id, scores[0] if scores else None,
                                    self.session.accounting.snapshot()))

    def finalists(self) -> list[PromptText]:
        return [*self.beam, *self.unselected]

