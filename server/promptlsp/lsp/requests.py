"""The custom requests and executeCommand commands: optimization, evaluation and run history.

Custom requests (for clients that can send them, e.g. VS Code), their params and results typed in
:mod:`.custom_protocol` (camelCase JSON)::

    promptlsp/estimate    EstimateParams   -> EstimateResult (the estimate, overBudget)
    promptlsp/optimize    OptimizeParams   -> OptimizeResult (run summary + the proposal: the best candidate's edit)
    promptlsp/evaluate    EvaluateParams   -> EvaluationResult (recorded)
    promptlsp/evaluate    {critique: true} -> CritiqueResult: a critic run's summary + per-example results
    promptlsp/runs        FileParams       -> RunInfo[], newest first
    promptlsp/candidates  CandidatesParams -> CandidatesResult, best first
    promptlsp/runReport   RunReportParams  -> RunReportResult: the page of ``promptlsp report --html``

Params that do not fit their class are answered InvalidParams naming the field.

``promptlsp/optimize`` and ``promptlsp/evaluate`` report ``$/progress`` on the request's own
``workDoneToken`` when the client sends one (so a client can show it where it likes, e.g. a
notification with a Cancel button), else on a token the server creates.

The same as ``workspace/executeCommand`` commands for generic clients (``promptlsp.estimate``,
``promptlsp.optimize``, ``promptlsp.evaluate``, ``promptlsp.runs``, ``promptlsp.candidates``, ``promptlsp.runReport``; one argument: an object like
the request params), plus ``promptlsp.cancel`` ``{uri}`` or ``{runId}``, because pygls answers a
``$/cancelRequest`` on an executeCommand request but does not stop its coroutine.

Every run is an asyncio task kept in a registry per uri; it is cancelled by ``$/cancelRequest``
on the custom request (pygls raises CancelledError in the handler), by the client cancelling the
work-done progress, or by ``promptlsp.cancel``. The optimizer then records a ``cancelled`` run.

A run itself — its plan, estimate, refusal, recording and outcome — is the application layer's
(:mod:`promptlsp.runs.service`, shared with the CLI); the engines and run stores per workspace
root are the server's :class:`~promptlsp.runs.service.RunService`. Under ``promptlsp serve`` runs
and evaluations execute in the run worker process (:mod:`promptlsp.runs.worker`), so litellm is
never loaded in the server; without one (in-process tests) they run here. Nothing here imports
litellm: the engine loads it on the first call.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from ..evaluate.results import format_score
from ..runs.records import EVALUATION_ONLY
from ..runs.service import Recorder, RunPlan, mean_score, outcome
from . import custom_protocol as protocol
from .analyses import uri_to_path
from .config import effective
from .critiques import candidate_score, rewrite_edit
from .diagnostics import Diagnostics
from .features import Handler
from .progress import Progress
from .server import PromptLanguageServer

log = logging.getLogger("promptlsp.lsp.requests")
P = TypeVar("P")

REQUEST_FAILED = -32803  # LSP 3.17 RequestFailed: valid request, refused or failed


class Refused(JsonRpcException):
    """A request the server will not run (errors in the file, stale version, over budget…)."""

    CODE = REQUEST_FAILED


def _plain(value: Any) -> Any:
    """Request params as plain JSON: pygls turns unknown-method params into namedtuples."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def read_params(method: str, raw: Any, kind: type[P]) -> P:
    """A request's params (or an executeCommand's one argument) as ``kind``; InvalidParams
    when they do not fit."""
    data = _plain(raw)
    if isinstance(data, list) and len(data) == 1:  # executeCommand arguments: [ {...} ]
        data = data[0]
    return protocol.params(method, data, kind)


def file_path(uri: str) -> Path:
    path = uri_to_path(uri)
    if path is None:
        raise JsonRpcInvalidParams(message=f"not a file uri: {uri}")
    return path


def _cost(accounting: dict[str, Any]) -> str:
    cost = (accounting or {}).get("total", {}).get("cost_usd")
    return "unknown" if cost is None else f"${cost:.4f}"


class Requests:
    """The custom requests and commands, and the runs and evaluations they started."""

    def __init__(self, server: PromptLanguageServer, diagnostics: Diagnostics, progress: Progress) -> None:
        self.server = server
        self.service = server.runs  # engines and run stores per workspace root
        self.diagnostics = diagnostics
        self.progress = progress
        # uri -> run id (or "eval-…") -> task
        self.tasks: dict[str, dict[str, asyncio.Task]] = {}
        self.after_run: list[Callable[[], None]] = []  # called when a run ends (e.g. inlay hints' refresh)

    def root(self, path: Path) -> Path:
        return self.server.root_for(path) or path.parent

    # -- loading -------------------------------------------------------------------------------
    async def load(self, uri: str, path: Path, version: int | None = None):
        """The valid PromptFile of ``uri`` (open document, else the file on disk), or Refused."""
        document = self.server.open_document(uri)
        if document is not None:
            if version is not None and document.version != version:
                raise Refused(message=f"{path.name} is at version {document.version}, not {version}; "
                                      "it changed since the request was made")
            outcome = await self.server.analyses.analyse(uri)
            if outcome is None:
                raise Refused(message=f"{path.name} was closed")
            analysis = outcome[0]
        else:
            from ..document import analyze, read_text

            try:
                text = await self.server.off_loop(read_text, path)
            except (OSError, UnicodeDecodeError) as exc:
                raise Refused(message=f"cannot read {path}: {exc}") from exc
            analysis = await self.server.off_loop(analyze, text, path, self.root(path))
        prompt_file = effective(analysis, self.server.settings)
        if prompt_file is None:
            errors = [d for d in analysis.diagnostics if d.severity == "error"]
            first = f" (first: [{errors[0].code}] {errors[0].message})" if errors else ""
            raise Refused(message=f"{path.name} has {len(errors) or 'some'} error(s); fix them first{first}")
        return prompt_file

    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.server.window_log_message(types.LogMessageParams(type=kind, message=message))

    # -- running tasks -------------------------------------------------------------------------
    async def supervise(self, uri: str, key: str, coro, token: str | int | None):
        """Run ``coro`` as a registered task; a cancelled handler cancels it. Returns the task
        (done): cancelled when stopped from outside (progress cancel, promptlsp.cancel)."""
        task = asyncio.ensure_future(coro)
        self.tasks.setdefault(uri, {})[key] = task
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:  # $/cancelRequest: stop the run now
            task.cancel()
            try:
                await asyncio.wait_for(asyncio.wait({task}), 5)
            except BaseException:
                pass
            self.progress.end(token, "cancelled")
            raise
        finally:
            running = self.tasks.get(uri, {})
            if running.get(key) is task:
                del running[key]
                if not running:
                    self.tasks.pop(uri, None)
            if self.server.open_document(uri) is not None:
                self.diagnostics.schedule(uri)  # the run's critiques now show on the open document
            for listener in self.after_run:
                listener()
        return task

    def cancel_all(self) -> list[str]:
        """Cancel every running task (the server is shutting down)."""
        cancelled = [key for running in self.tasks.values() for key, task in running.items() if task.cancel()]
        return cancelled

    def cancel(self, uri: str | None = None, run_id: str | None = None) -> list[str]:
        cancelled = []
        for task_uri, running in list(self.tasks.items()):
            for key, task in list(running.items()):
                if (uri is not None and task_uri == uri) or (run_id is not None and key == run_id):
                    if task.cancel():
                        cancelled.append(key)
        return cancelled

    # -- operations ----------------------------------------------------------------------------
    async def _plan(self, params: protocol.EstimateParams,
                    emit: Callable[[Any], None] | None = None) -> tuple[str, Path, RunPlan]:
        """(uri, path, plan) of the optimization a request asks for."""
        uri, path = params.uri, file_path(params.uri)
        prompt_file = await self.load(uri, path, params.version)
        try:
            plan = self.service.plan(prompt_file, self.root(path), method=params.method, iterations=params.iterations,
                                     budget_calls=params.budget_calls, emit=emit)
        except (ValueError, TypeError) as exc:
            raise Refused(message=f"cannot optimize {path.name}: {exc}") from exc
        return uri, path, plan

    @staticmethod
    def _refusal(plan: RunPlan) -> str | None:
        """Why the editor will not start ``plan``: any limit its estimate passes."""
        budget = plan.budget
        reason = plan.refusal_reason(refuse_over_budget=True, usd_is_the_only_limit=bool(
            budget and budget.max_calls is None and budget.max_tokens is None))
        if reason == "usd-unenforced":
            return (f"refused: {plan.usd_note}, and max_usd is the only limit of the budget. Add max_calls or "
                    "max_tokens to [optimize.budget] (or the promptlsp.budget setting).")
        if reason == "over-budget":
            over, estimate = plan.over, plan.estimate
            have = {"max_calls": (estimate.calls, "calls"), "max_tokens": (estimate.tokens, "tokens"),
                    "max_usd": (estimate.cost_usd, "USD")}[over]
            return (f"refused: the run would exceed the budget's {over} — the estimate is {have[0]} {have[1]}, "
                    f"the limit {getattr(budget, over)}. Raise [optimize.budget] {over}, pass a larger budget "
                    "or fewer iterations.")
        return None

    async def estimate(self, params: protocol.EstimateParams) -> protocol.EstimateResult:
        """What an optimization would cost, without running it."""
        _uri_, path, plan = await self._plan(params)
        return protocol.EstimateResult(
            method=plan.method, iterations=plan.iterations, calls=plan.estimate.calls, tokens=plan.estimate.tokens,
            cost_usd=plan.estimate.cost_usd, over_budget=self._refusal(plan), summary=plan.summary(path.name))

    async def optimize(self, params: protocol.OptimizeParams) -> protocol.OptimizeResult:
        scored: list[Any] = []  # a critic run's ExampleScored events
        token: list[str | int | None] = [None]  # the work-done token, once progress begins
        recorder = Recorder(log.warning, lambda event: self._on_run_event(event, plan, token[0], scored))
        uri, path, plan = await self._plan(params, recorder)
        summary = plan.summary(path.name)
        self.log(f"estimate: {summary} (run {plan.run_id})")
        refusal = self._refusal(plan)
        if refusal is not None:
            self.log(refusal, types.MessageType.Warning)
            data = protocol.RefusalData(limit=plan.over, estimate=protocol.internal(plan.estimate.as_dict(), protocol.PlannedTotals),
                                        budget=getattr(plan.budget, plan.over))
            raise Refused(message=refusal, data=protocol.to_wire(data))
        store = recorder.store = self.service.open_store(
            self.root(path), lambda message: self.log(message, types.MessageType.Warning))

        title = "Critiquing" if plan.method == "critique" else "Optimizing"
        token[0] = await self.progress.begin(f"{title} {path.name}", summary, self._canceller(uri, plan.run_id),
                                             params.work_done_token)
        task = await self.supervise(uri, plan.run_id, self._run(plan, path, recorder), token[0])
        finished = None
        if not task.cancelled():
            if task.exception() is not None:
                self.progress.end(token[0], "failed")
                raise task.exception()
            finished = task.result()
        found = store.run(plan.run_id) if store is not None else None
        result = outcome(plan, finished, found.run if found is not None else None, scored)
        scores = f"{format_score(result.initial_score)} → {format_score(result.best_score)}"
        self.progress.end(token[0], f"{result.status}: {result.scored_on} score {scores}")
        self.log(f"run {plan.run_id} {result.status}: {scores}")
        fields = dict(
            run_id=plan.run_id, status=result.status, method=plan.method, initial_score=result.initial_score,
            best_score=result.best_score, scored_on=result.scored_on,
            best=protocol.internal(result.best, protocol.PromptText) if result.best else None,
            candidates=[protocol.internal(c.to_dict(), protocol.Candidate) for c in store.candidates(plan.run_id)]
            if store else [],
            accounting=protocol.internal(result.accounting or {}, protocol.Accounting),
            estimate=protocol.internal(plan.estimate.as_dict(), protocol.PlannedTotals), message=result.message,
        )
        if plan.method == "critique":  # the evaluation behind the critiques, example by example
            return protocol.CritiqueResult(
                **fields, examples=[protocol.internal(row, protocol.ExampleRow) for row in result.examples],
                score=mean_score(result.examples))
        proposal = await self._proposal(uri, path, plan.run_id, store) if store is not None and finished else None
        return protocol.OptimizeResult(**fields, proposal=proposal)

    async def _proposal(self, uri: str, path: Path, run_id: str, store: Any) -> protocol.Proposal | None:
        """The run's best candidate as an edit of the document (open: at its current version,
        else of the file on disk), as the first "Apply rewritten prompt" code action has it."""
        from ..document import analyze, read_text
        from ..runs.view import load_view

        view = await self.server.off_loop(load_view, store, path)
        if view is None or view.run.id != run_id or not view.candidates:
            return None
        outcome_ = await self.server.analyses.analyse(uri) if self.server.open_document(uri) is not None else None
        if outcome_ is not None:
            analysis, version = outcome_
        else:
            try:
                text = await self.server.off_loop(read_text, path)
            except (OSError, UnicodeDecodeError):
                return None
            analysis, version = await self.server.off_loop(analyze, text, path, self.root(path)), None
        best = view.candidates[0]
        edit = await self.server.off_loop(rewrite_edit, analysis, uri, version, self.server.encoding, view, best)
        validated = best.validation_score is not None
        return protocol.Proposal(
            uri=uri, version=version, candidate_id=best.candidate_id, initial_score=view.initial_score,
            best_score=candidate_score(best), scored_on=view.run.scored_on if validated else "minibatch",
            edit=None if isinstance(edit, str) else edit, withdrawn=edit if isinstance(edit, str) else None)

    async def _run(self, plan: RunPlan, path: Path, recorder: Recorder):
        """Run ``plan``: in the run worker when the server has one (``promptlsp serve``), else here."""
        worker = self.server.worker
        if worker is None:
            return await plan.optimizer.run()
        return await worker.optimize(plan.prompt_file, self.root(path), run_id=plan.run_id, emit=recorder,
                                     method=plan.method, iterations=plan.iterations,
                                     budget_calls=plan.budget.max_calls if plan.budget else None)

    async def recorded_evaluation(self, prompt_file, path: Path, examples: list[Any], *, method: str, scored_on: str,
                                  on_done: Callable[[int], None]) -> tuple[str, dict[str, Any]]:
        """Evaluate ``examples``, recorded in the run store as a ``method`` run: (run id, the
        report as ``runs.evaluation.report_payload`` gives it) — in the run worker when the
        server has one, else here."""
        root = self.root(path)
        warn = lambda message: self.log(message, types.MessageType.Warning)  # noqa: E731
        store = self.service.open_store(root, warn)
        worker = self.server.worker
        if worker is not None:
            return await worker.evaluate(prompt_file, root, [e.id for e in examples], store=store, warn=warn,
                                         method=method, scored_on=scored_on, on_done=on_done)
        from ..runs.evaluation import recorded_evaluation, report_payload

        session = self.service.engine(root).session()
        done = [0]

        def on_result(_result) -> None:
            done[0] += 1
            on_done(done[0])

        run_id, report = await recorded_evaluation(session, prompt_file, examples, store=store, warn=warn, method=method,
                                                   scored_on=scored_on, on_result=on_result)
        return run_id, report_payload(report)

    def _on_run_event(self, event: Any, plan: RunPlan, token: str | int | None, scored: list[Any]) -> None:
        """A run's event (after the store recorded it): progress, and a critic's example results."""
        if event.kind == "example-scored":
            scored.append(event)
        elif event.kind == "iteration-done":
            total = event.accounting.get("total", {})
            n = plan.iterations
            self.progress.report(
                token,
                f"iteration {event.iteration}/{n} · best {format_score(event.best_score)} · "
                f"{total.get('calls', 0)} calls · {_cost(event.accounting)}",
                min(100, int(100 * event.iteration / max(1, n))),
            )
        elif event.kind == "candidate-scored" and event.split != "minibatch":
            self.progress.report(token, f"validating · {format_score(event.score)}")

    def _canceller(self, uri: str, key: str) -> Callable[[], None]:
        """Cancels the task ``key`` of ``uri`` (when the client cancels its progress)."""
        def cancel() -> None:
            task = self.tasks.get(uri, {}).get(key)
            if task is not None:
                task.cancel()
        return cancel

    async def evaluate(self, params: protocol.EvaluateParams) -> protocol.EvaluationResult | protocol.CritiqueResult:
        """The evaluation report; with ``critique: true``, an evaluation plus GRAD-SUM's gradient
        summary, run and recorded like an optimization (its summary is returned) so that its
        critiques show on the document."""
        if params.critique:
            return await self.optimize(protocol.OptimizeParams(
                uri=params.uri, version=params.version, method="critique", iterations=params.iterations,
                budget_calls=params.budget_calls, work_done_token=params.work_done_token))
        uri, path = params.uri, file_path(params.uri)
        prompt_file = await self.load(uri, path, params.version)
        split = params.split
        examples = prompt_file.split(split) if split is not None else list(prompt_file.examples)
        if not examples:
            raise Refused(message=f"{path.name} has no examples{f' in the {split} split' if split else ''}")
        key = f"eval-{uuid.uuid4()}"
        token_box: dict[str, str | int | None] = {"token": None}

        def on_done(done: int) -> None:
            self.progress.report(token_box["token"], f"{done}/{len(examples)} examples", int(100 * done / len(examples)))

        token_box["token"] = await self.progress.begin(f"Evaluating {path.name}", f"{len(examples)} examples",
                                                      self._canceller(uri, key), params.work_done_token)
        run = self.recorded_evaluation(prompt_file, path, examples, method="evaluate", scored_on=split or "all",
                                       on_done=on_done)
        task = await self.supervise(uri, key, run, token_box["token"])
        if task.cancelled():
            self.progress.end(token_box["token"], "cancelled")
            raise Refused(message=f"evaluation of {path.name} was cancelled")
        if task.exception() is not None:
            self.progress.end(token_box["token"], "failed")
            raise task.exception()
        run_id, report = task.result()
        self.progress.end(token_box["token"], f"score {format_score(report.get('score'))}")
        return protocol.internal({**report, "run_id": run_id}, protocol.EvaluationResult)

    async def runs(self, params: protocol.FileParams) -> list[protocol.RunInfo]:
        path = file_path(params.uri)
        store = self.service.store(self.root(path))
        return [protocol.internal(r.to_dict(), protocol.RunInfo) for r in store.runs(path)]

    async def candidates(self, params: protocol.CandidatesParams) -> protocol.CandidatesResult:
        path = file_path(params.uri)
        store = self.service.store(self.root(path))
        run_id = params.run_id
        if run_id is None:  # the latest run that proposed candidates (not an evaluation)
            latest = [r for r in store.runs(path) if r.method not in EVALUATION_ONLY]
            if not latest:
                raise Refused(message=f"{path.name} has no recorded runs")
            run_id = latest[0].id
        elif store.run(run_id) is None:
            raise Refused(message=f"no run {run_id!r} in the run store")
        return protocol.CandidatesResult(
            run_id=run_id, candidates=[protocol.internal(c.to_dict(), protocol.Candidate) for c in store.candidates(run_id)])

    async def run_report(self, params: protocol.RunReportParams) -> protocol.RunReportResult:
        """The run's report page (score chart, critiques, diff, cost per phase), as the CLI writes it."""
        from ..runs.report import RunNotFound, build_report
        from ..runs.report_render import render_html

        path = file_path(params.uri)
        store = self.service.store(self.root(path))
        try:
            report = build_report(store, params.run_id)
        except RunNotFound as exc:
            raise Refused(message=str(exc)) from None
        return protocol.RunReportResult(run_id=report.run.id, html=render_html(report))

    async def cancel_command(self, params: protocol.CancelParams) -> protocol.CancelResult:
        if params.uri is None and params.run_id is None:
            raise JsonRpcInvalidParams(message="promptlsp.cancel needs {uri} or {runId}")
        return protocol.CancelResult(cancelled=self.cancel(params.uri, params.run_id))

    def handlers(self) -> Iterable[Handler]:
        operations = (
            (protocol.ESTIMATE, protocol.CMD_ESTIMATE, protocol.EstimateParams, self.estimate),
            (protocol.OPTIMIZE, protocol.CMD_OPTIMIZE, protocol.OptimizeParams, self.optimize),
            (protocol.EVALUATE, protocol.CMD_EVALUATE, protocol.EvaluateParams, self.evaluate),
            (protocol.RUNS, protocol.CMD_RUNS, protocol.FileParams, self.runs),
            (protocol.CANDIDATES, protocol.CMD_CANDIDATES, protocol.CandidatesParams, self.candidates),
            (protocol.RUN_REPORT, protocol.CMD_RUN_REPORT, protocol.RunReportParams, self.run_report),
            (None, protocol.CMD_CANCEL, protocol.CancelParams, self.cancel_command),
        )
        for method, command, kind, operation in operations:
            yield from custom_handlers(method, command, kind, operation)


def custom_handlers(method: str | None, command: str, kind: type[P], operation: Callable[[P], Any]) -> Iterable[Handler]:
    """The request ``method`` (when there is one) and the executeCommand ``command`` running
    ``operation`` on params read as ``kind``; its result goes out as camelCase JSON."""
    if method is not None:
        yield Handler(method, _guard(method, kind, operation))
    yield Handler(command, _command(_guard(command, kind, operation)), command=True)


def _guard(name: str, kind: type[P], operation: Callable[[P], Any]) -> Callable[[Any], Any]:
    """Params read as ``kind`` (InvalidParams when they do not fit), the result as JSON; errors
    become LSP errors (and a log line): the server never dies on bad input."""

    async def handler(raw: Any):
        try:
            return protocol.to_wire(await operation(read_params(name, raw, kind)))
        except (JsonRpcException, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("%s failed", name)
            raise JsonRpcException(message=f"{name} failed: {type(exc).__name__}: {exc}", code=REQUEST_FAILED) from exc

    return handler


def _command(guarded: Callable[[Any], Any]) -> Callable[..., Any]:
    """A command's handler: its arguments, as one list, are the params."""

    async def handler(*args: Any):
        return await guarded(list(args))

    return handler
