"""What the run store knows about the last run of a prompt file, seen from its current text.

For a prompt file, :class:`CritiqueIndex` (a :class:`StoreReader`) loads ``last_run(file)`` from the workspace's run
store (``<root>/.promptlsp/runs.sqlite``; cached per file, re-read when the store file changes
or on :meth:`CritiqueIndex.refresh`) into a :class:`RunView`: the critiques about the run's
*initial* candidate, its per-example results and the run's other candidates, best first.
Nothing is kept in memory only, so after a restart the same view comes back from the store.

:func:`anchored_critiques` finds each critique again in the *current* prompt text (by the words
it quotes, :func:`~promptlsp.document.anchors.anchor`): edits move it, a quote that no longer
exists drops it. :func:`withdrawn_reason` says when the run's candidates no longer apply.

No LSP here: the language server renders these as diagnostics, hovers and code actions
(:mod:`promptlsp.lsp.critiques`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generic, Optional, TypeVar

from ..document import Analysis
from ..document.anchors import anchor
from ..document.model import PromptText
from ..document.source import Span
from ..optimize.events import ExampleScored
from ..state import runs_path
from . import CandidateRecord, CritiqueRecord, RunRecord, RunStore, RunStoreError, normalize_file

log = logging.getLogger("promptlsp.runs.view")
T = TypeVar("T")


# -- what is known about the last run of a file ----------------------------------------------------


@dataclass(frozen=True)
class RunView:
    run: RunRecord
    initial: PromptText
    critiques: tuple[CritiqueRecord, ...]  # about the initial candidate, in the order written
    candidates: tuple[CandidateRecord, ...]  # other candidates with a text, best first
    initial_candidate: CandidateRecord | None = None
    example_scores: dict[str, ExampleScored] = field(default_factory=dict)  # initial candidate's, latest per example

    @property
    def initial_id(self) -> str:
        return self.initial.id

    @property
    def initial_score(self) -> float | None:
        if self.run.initial_score is not None:
            return self.run.initial_score
        c = self.initial_candidate
        if c is None:
            return None
        return c.validation_score if c.validation_score is not None else c.minibatch_score


StoreLookup = Callable[[Analysis], Optional[RunView]]


def store_stamp(db: Path) -> tuple:
    """What changes whenever a run store file is written (its and its WAL's mtime and size)."""
    stamp = []
    for p in (db, db.with_name(db.name + "-wal")):
        try:
            st = p.stat()
            stamp.append((st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def load_view(store: RunStore, file: Path | str) -> RunView | None:
    """The :class:`RunView` of the last restorable run of ``file`` in ``store``, or None."""
    run = store.last_run(file)
    if run is None or not run.initial or run.initial.get("template") is None:
        return None
    initial = PromptText(template=run.initial["template"], system=run.initial.get("system"))
    initial_id = initial.id
    critiques = tuple(store.critiques(run.id, initial_id))
    initial_candidate = None
    others: list[CandidateRecord] = []
    for c in store.candidates(run.id, include_rejected=False):
        if c.candidate_id == initial_id:
            initial_candidate = c
        elif c.template is not None and PromptText(c.template, c.system).id != initial_id:
            others.append(c)
    scores: dict[str, ExampleScored] = {}
    for e in store.example_scores(run.id, initial_id):  # in scoring order: later ones win
        scores[e.example_id] = e
    return RunView(run, initial, critiques, tuple(others), initial_candidate, scores)


class StoreReader(Generic[T]):
    """Per-file ``load(store, file)`` from ``<root>/.promptlsp/runs.sqlite``, cached.

    The cache is keyed on the store files' modification times, so a run written by the CLI or
    another process shows up on the next lookup; :meth:`refresh` drops it explicitly. The store
    is opened read-mostly (never created, never moved aside when damaged); a store that cannot
    be read gives None (logged).
    """

    def __init__(self, load: Callable[[RunStore, Path], Optional[T]], what: str) -> None:
        self._load = load
        self._what = what
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple, Optional[T]]] = {}

    def view(self, file: Path | str | None, root: Path | str | None) -> Optional[T]:
        if file is None:
            return None
        file = Path(file)
        db = runs_path(Path(root) if root is not None else file.parent)
        if not db.exists():
            return None
        key = normalize_file(file)
        stamp = (str(db), store_stamp(db))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        try:
            store = RunStore(db)
        except RunStoreError as exc:
            log.warning("%s: cannot read %s: %s", self._what, db, exc)
            return None
        try:
            result = self._load(store, file)
        except RunStoreError as exc:
            log.warning("%s: cannot read %s: %s", self._what, db, exc)
            result = None
        finally:
            store.close()
        with self._lock:
            self._cache[key] = (stamp, result)
        return result

    def lookup(self, analysis: Analysis) -> Optional[T]:
        """The view for an analysed document (its ``path`` and ``root``)."""
        return self.view(analysis.path, analysis.root)

    __call__ = lookup

    def refresh(self, file: Path | str | None = None) -> None:
        """Forget the cached view of ``file`` (of every file when None)."""
        with self._lock:
            if file is None:
                self._cache.clear()
            else:
                self._cache.pop(normalize_file(file), None)


class CritiqueIndex(StoreReader[RunView]):
    """Per-file :class:`RunView` (the file's last run) from the run store, cached."""

    def __init__(self) -> None:
        super().__init__(load_view, "critiques")


# -- the view against the current prompt text -------------------------------------------------------------------


def current_prompt(analysis: Analysis) -> PromptText | None:
    prompt = (analysis.data or {}).get("prompt")
    if not isinstance(prompt, dict) or not isinstance(prompt.get("template"), str):
        return None
    system = prompt.get("system")
    return PromptText(template=prompt["template"], system=system if isinstance(system, str) else None)


@dataclass(frozen=True)
class AnchoredCritique:
    critique: CritiqueRecord
    target: str
    start: int  # indices into the current target string
    end: int
    span: Span  # source span of those characters


def anchored_critiques(analysis: Analysis, view: RunView | None) -> list[AnchoredCritique]:
    """The view's critiques re-found in the current prompt text (those not found are left out)."""
    if view is None:
        return []
    prompt = current_prompt(analysis)
    if prompt is None:
        return []
    out = []
    for c in view.critiques:
        target, start, end = anchor(prompt, c.quote, c.target)
        if start is None or end is None or start == end:
            continue
        span = analysis.string_span(("prompt", target), start, end)
        if span is None:
            continue
        out.append(AnchoredCritique(c, target, start, end, span))
    return out



def withdrawn_reason(analysis: Analysis, view: RunView) -> str | None:
    """Why the run's candidates cannot be applied to the current text, or None."""
    prompt = current_prompt(analysis)
    if prompt is None:
        return "prompt.template cannot be read from the file as it is now"
    changed = [k for k in ("template", "system") if prompt.get(k) != view.initial.get(k)]
    if changed:
        what = " and ".join(f"prompt.{k}" for k in changed)
        return f"{what} changed since run {view.run.id}; run the optimizer again to get candidates for it"
    return None


