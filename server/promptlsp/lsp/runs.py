"""Optimization, evaluation and run history over LSP: custom requests and executeCommand commands.

Custom requests (for clients that can send them, e.g. VS Code)::

    promptlsp/estimate    {uri, version?, method?, iterations?, budgetCalls?}  -> estimate, overBudget
    promptlsp/optimize    {uri, version?, method?, iterations?, budgetCalls?}  -> run summary
    promptlsp/evaluate    {uri, split?}                                       -> EvalReport dict
    promptlsp/evaluate    {uri, critique: true}       -> a critic run's summary + per-example results
    promptlsp/runs        {uri}                                               -> runs, newest first
    promptlsp/candidates  {uri, runId?}                                       -> candidates, best first

``promptlsp/optimize`` and ``promptlsp/evaluate`` report ``$/progress`` on the request's own
``workDoneToken`` when the client sends one (so a client can show it where it likes, e.g. a
notification with a Cancel button), else on a token the server creates.

The same as ``workspace/executeCommand`` commands for generic clients (``promptlsp.estimate``,
``promptlsp.optimize``, ``promptlsp.evaluate``, ``promptlsp.runs``, ``promptlsp.candidates``; one argument: an object like
the request params), plus ``promptlsp.cancel`` ``{uri}`` or ``{runId}``, because pygls answers a
``$/cancelRequest`` on an executeCommand request but does not stop its coroutine.

Every run is an asyncio task kept in a registry per uri; it is cancelled by ``$/cancelRequest``
on the custom request (pygls raises CancelledError in the handler), by the client cancelling the
work-done progress, or by ``promptlsp.cancel``. The optimizer then records a ``cancelled`` run.

One engine per workspace root (the cache lives in ``<root>/.promptlsp/``), all of them sharing
one backend and one set of per-model concurrency limiters, so runs on several files at once
respect the same limits. Nothing here imports litellm: the engine loads it on the first call.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from statistics import fmean as mean
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from .config import effective
from .server import PromptLanguageServer, uri_to_path
from ..evaluate.results import format_score
from ..state import cache_path, runs_path

log = logging.getLogger("promptlsp.lsp.runs")

ESTIMATE, OPTIMIZE, EVALUATE = "promptlsp/estimate", "promptlsp/optimize", "promptlsp/evaluate"
RUNS, CANDIDATES = "promptlsp/runs", "promptlsp/candidates"
CMD_ESTIMATE, CMD_OPTIMIZE, CMD_EVALUATE, CMD_RUNS, CMD_CANDIDATES, CMD_CANCEL = (
    "promptlsp.estimate", "promptlsp.optimize", "promptlsp.evaluate", "promptlsp.runs", "promptlsp.candidates",
    "promptlsp.cancel",
)
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


def _params(raw: Any) -> dict[str, Any]:
    params = _plain(raw)
    if isinstance(params, list) and len(params) == 1:  # executeCommand arguments: [ {...} ]
        params = params[0]
    if not isinstance(params, dict):
        raise JsonRpcInvalidParams(message="expected one object as params, e.g. {\"uri\": \"file:///…\"}")
    return params


def _uri(params: dict[str, Any]) -> tuple[str, Path]:
    uri = params.get("uri")
    if not isinstance(uri, str):
        raise JsonRpcInvalidParams(message="missing 'uri' (a file:// uri of a *.prompt.toml file)")
    path = uri_to_path(uri)
    if path is None:
        raise JsonRpcInvalidParams(message=f"not a file uri: {uri}")
    return uri, path


def _int(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise JsonRpcInvalidParams(message=f"'{key}' must be a non-negative integer, got {value!r}")
    return value


def _cost(accounting: dict[str, Any]) -> str:
    cost = (accounting or {}).get("total", {}).get("cost_usd")
    return "unknown" if cost is None else f"${cost:.4f}"


@dataclass(frozen=True)
class _Plan:
    uri: str
    path: Path
    prompt_file: Any
    session: Any
    budget: Any
    optimizer: Any
    estimate: Any
    summary: str  # one line: method, iterations, calls, tokens, cost
    over: str | None  # the budget limit the estimate exceeds
    refusal: str | None  # why the run is refused, for people


def _example_rows(prompt_file: Any, scored: list[Any]) -> list[dict[str, Any]]:
    """Per-example results of a critic run (its ExampleScored events, first score of each
    example), in the shape of ``EvalReport.to_dict()["examples"]``."""
    by_id = {e.id: e for e in prompt_file.examples}
    rows: dict[str, dict[str, Any]] = {}
    for event in scored:
        if event.example_id in rows:
            continue
        example = by_id.get(event.example_id)
        rows[event.example_id] = {
            "example_id": event.example_id, "split": event.split,
            "vars": dict(example.vars) if example else {},
            "expected": list(example.expected) if example and example.expected is not None else None,
            "output": event.output, "score": event.score, "passed": event.passed, "error": event.error,
            "checks": [dict(d) for d in event.details],
        }
    return list(rows.values())


class RunManager:
    """The engines, run stores and running tasks of one server process."""

    def __init__(self, ls: PromptLanguageServer) -> None:
        self.ls = ls
        self._engines: dict[Path, Any] = {}
        self._stores: dict[Path, Any] = {}
        self._limiters: dict[str, Any] | None = None
        self._backend: Any = None
        # uri -> run id (or "eval-…") -> task
        self.tasks: dict[str, dict[str, asyncio.Task]] = {}

    # -- shared resources ----------------------------------------------------------------------
    def engine(self, root: Path):
        engine = self._engines.get(root)
        if engine is None:
            from ..engine import Engine  # cheap: litellm loads on the first model call

            # one backend and one concurrency limit per model, process-wide
            engine = Engine(cache_path=cache_path(root), backend=self._backend, limiters=self._limiters)
            self._limiters, self._backend = engine.limiters, engine.backend
            self._engines[root] = engine
        return engine

    def store(self, root: Path):
        store = self._stores.get(root)
        if store is None:
            from ..runs import RunStore

            store = self._stores[root] = RunStore.open(runs_path(root))
        return store

    def root(self, path: Path) -> Path:
        return self.ls.root_for(path) or path.parent

    # -- loading -------------------------------------------------------------------------------
    async def load(self, uri: str, path: Path, version: int | None = None):
        """The valid PromptFile of ``uri`` (open document, else the file on disk), or Refused."""
        document = self.ls.open_document(uri)
        if document is not None:
            if version is not None and document.version != version:
                raise Refused(message=f"{path.name} is at version {document.version}, not {version}; "
                                      "it changed since the request was made")
            outcome = await self.ls.analyse(uri)
            if outcome is None:
                raise Refused(message=f"{path.name} was closed")
            analysis = outcome[0]
        else:
            from ..document import analyze, read_text

            try:
                text = await self.ls.off_loop(read_text, path)
            except (OSError, UnicodeDecodeError) as exc:
                raise Refused(message=f"cannot read {path}: {exc}") from exc
            analysis = await self.ls.off_loop(analyze, text, path, self.root(path))
        prompt_file = effective(analysis, self.ls.settings)
        if prompt_file is None:
            errors = [d for d in analysis.diagnostics if d.severity == "error"]
            first = f" (first: [{errors[0].code}] {errors[0].message})" if errors else ""
            raise Refused(message=f"{path.name} has {len(errors) or 'some'} error(s); fix them first{first}")
        return prompt_file

    # -- progress ------------------------------------------------------------------------------
    async def progress_begin(self, title: str, message: str, on_cancel: Callable[[], None],
                             client_token: Any = None) -> str | int | None:
        """Begin work-done progress: on ``client_token`` (the request's ``workDoneToken``) when
        the client sent one, else on a fresh token the server creates, if the client can show it.
        ``on_cancel`` runs when the client cancels the progress."""
        if isinstance(client_token, (str, int)) and not isinstance(client_token, bool):
            token: str | int = client_token
        else:
            caps = self.ls.client_capabilities
            if not (caps and caps.window and caps.window.work_done_progress):
                return None
            token = str(uuid.uuid4())  # never reuse: pygls never frees tokens
            try:
                await self.ls.work_done_progress.create_async(token)
            except Exception as exc:
                log.warning("client refused a progress token: %s", exc)
                return None
        self.ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title=title, message=message, cancellable=True, percentage=0))
        future = self.ls.work_done_progress.tokens.get(token)  # begin() registers a client's token
        if future is not None:
            future.add_done_callback(lambda f: f.cancelled() and on_cancel())
        return token

    def progress_report(self, token: str | int | None, message: str, percentage: int | None = None) -> None:
        if token is not None:
            self.ls.work_done_progress.report(token, types.WorkDoneProgressReport(message=message, percentage=percentage))

    def progress_end(self, token: str | int | None, message: str) -> None:
        if token is not None:
            try:
                self.ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
            except Exception:  # the transport may be gone at shutdown
                log.debug("progress end failed", exc_info=True)
            self.ls.work_done_progress.tokens.pop(token, None)  # pygls never frees a token's future

    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.ls.window_log_message(types.LogMessageParams(type=kind, message=message))

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
            self.progress_end(token, "cancelled")
            raise
        finally:
            running = self.tasks.get(uri, {})
            if running.get(key) is task:
                del running[key]
                if not running:
                    self.tasks.pop(uri, None)
            if self.ls.open_document(uri) is not None:
                self.ls.schedule(uri)  # the run's critiques now show on the open document
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
    async def _plan(self, params: dict[str, Any], emit: Callable[[Any], None] | None = None) -> _Plan:
        """The optimizer a request asks for, its estimate, and why it would be refused (or None)."""
        uri, path = _uri(params)
        version, iterations, budget_calls = _int(params, "version"), _int(params, "iterations"), _int(params, "budgetCalls")
        method = params.get("method")
        if method is not None and not isinstance(method, str):
            raise JsonRpcInvalidParams(message=f"'method' must be a string, got {method!r}")
        prompt_file = await self.load(uri, path, version)

        from ..engine import Budget
        from ..optimize import make_optimizer

        budget = prompt_file.optimize.budget
        if budget_calls is not None:
            budget = Budget(max_calls=budget_calls, max_tokens=budget.max_tokens if budget else None,
                            max_usd=budget.max_usd if budget else None)
        session = self.engine(self.root(path)).session(budget=budget)
        try:
            optimizer = make_optimizer(prompt_file, session, method=method, emit=emit, iterations=iterations)
        except (ValueError, TypeError) as exc:
            raise Refused(message=f"cannot optimize {path.name}: {exc}") from exc
        estimate = optimizer.estimate()
        cost = ("unknown (no price for " + ", ".join(estimate.unpriced) + ")") if estimate.cost_usd is None \
            else f"${estimate.cost_usd:.4f}"
        n = optimizer.settings.iterations
        rounds = "" if optimizer.method == "critique" else f"{n} iteration{'' if n == 1 else 's'}, "
        unenforced = estimate.usd_unenforced(budget)
        summary = (f"{optimizer.method} on {path.name}: {rounds}at most "
                   f"{estimate.calls} calls, {estimate.tokens} tokens, {cost}"
                   + (f" — warning: {unenforced}" if unenforced else ""))
        refusal = None
        over = estimate.exceeds(budget)
        if over == "max_usd" and unenforced:
            refusal = (f"refused: {unenforced}, and max_usd is the only limit of the budget. Add max_calls or "
                       "max_tokens to [optimize.budget] (or the promptlsp.budget setting).")
        elif over is not None:
            have = {"max_calls": (estimate.calls, "calls"), "max_tokens": (estimate.tokens, "tokens"),
                    "max_usd": (estimate.cost_usd, "USD")}[over]
            refusal = (f"refused: the run would exceed the budget's {over} — the estimate is {have[0]} {have[1]}, "
                       f"the limit {getattr(budget, over)}. Raise [optimize.budget] {over}, pass a larger budget "
                       "or fewer iterations.")
        return _Plan(uri, path, prompt_file, session, budget, optimizer, estimate, summary, over, refusal)

    async def estimate(self, raw: Any) -> dict[str, Any]:
        """What an optimization would cost, without running it."""
        plan = await self._plan(_params(raw))
        return {"method": plan.optimizer.method, "iterations": plan.optimizer.settings.iterations,
                "calls": plan.estimate.calls, "tokens": plan.estimate.tokens, "costUsd": plan.estimate.cost_usd,
                "overBudget": plan.refusal, "summary": plan.summary}

    async def optimize(self, raw: Any) -> dict[str, Any]:
        params = _params(raw)
        from ..runs import RunStoreError

        state: dict[str, Any] = {"token": None, "examples": []}

        def on_event(event) -> None:  # events come from optimizer.run(), once store and optimizer are bound
            if store is not None:
                try:
                    store.record(optimizer.run_id, event)
                except RunStoreError as exc:
                    log.warning("run store error: %s", exc)
            if event.kind == "example-scored":
                state["examples"].append(event)
            elif event.kind == "iteration-done":
                total = event.accounting.get("total", {})
                n = optimizer.settings.iterations
                self.progress_report(
                    state["token"],
                    f"iteration {event.iteration}/{n} · best {format_score(event.best_score)} · "
                    f"{total.get('calls', 0)} calls · {_cost(event.accounting)}",
                    min(100, int(100 * event.iteration / max(1, n))),
                )
            elif event.kind == "candidate-scored" and event.split != "minibatch":
                self.progress_report(state["token"], f"validating · {format_score(event.score)}")

        plan = await self._plan(params, on_event)
        uri, path, optimizer, estimate, session = plan.uri, plan.path, plan.optimizer, plan.estimate, plan.session
        self.log(f"estimate: {plan.summary} (run {optimizer.run_id})")
        if plan.refusal is not None:
            self.log(plan.refusal, types.MessageType.Warning)
            raise Refused(message=plan.refusal, data={"limit": plan.over, "estimate": estimate.as_dict(),
                                                      "budget": getattr(plan.budget, plan.over)})
        try:
            store = self.store(self.root(path))
        except RunStoreError as exc:
            self.log(f"run store unavailable ({exc}); the run is not recorded", types.MessageType.Warning)
            store = None

        run_id = optimizer.run_id

        def on_progress_cancel() -> None:
            task = self.tasks.get(uri, {}).get(run_id)
            if task is not None:
                task.cancel()

        title = "Critiquing" if optimizer.method == "critique" else "Optimizing"
        state["token"] = await self.progress_begin(f"{title} {path.name}", plan.summary, on_progress_cancel,
                                                   params.get("workDoneToken"))
        task = await self.supervise(uri, run_id, optimizer.run(), state["token"])
        if task.cancelled():
            status, finished = "cancelled", None
        else:
            exc = task.exception()
            if exc is not None:
                self.progress_end(state["token"], "failed")
                raise exc
            finished = task.result()
            status = finished.status
        found = store.run(run_id) if store is not None else None
        record = found.run if found is not None else None
        if finished is not None:
            best = {"template": finished.best.template, "system": finished.best.system}
            initial_score, best_score, scored_on = finished.initial_score, finished.best_score, finished.scored_on
            accounting, message = finished.accounting, finished.message
        else:
            best = (record.best if record else None) or (record.initial if record else None)
            initial_score = record.initial_score if record else None
            best_score = record.best_score if record else None
            scored_on = record.scored_on if record else None
            accounting = (record.accounting if record else None) or session.accounting.snapshot()
            message = record.message if record else "cancelled"
        self.progress_end(state["token"], f"{status}: {scored_on} score {format_score(initial_score)} → {format_score(best_score)}")
        self.log(f"run {run_id} {status}: {format_score(initial_score)} → {format_score(best_score)}")
        candidates = [c.to_dict() for c in store.candidates(run_id)] if store is not None else []
        summary = {
            "runId": run_id, "status": status, "method": optimizer.method, "initialScore": initial_score,
            "bestScore": best_score, "scoredOn": scored_on, "best": best, "candidates": candidates,
            "accounting": accounting, "estimate": estimate.as_dict(), "message": message,
        }
        if optimizer.method == "critique":  # the evaluation behind the critiques, example by example
            rows = _example_rows(plan.prompt_file, state["examples"])
            summary["examples"] = rows
            scores = [r["score"] for r in rows if r["score"] is not None]  # None: the call failed
            summary["score"] = mean(scores) if scores else None
        return summary

    async def evaluate(self, raw: Any) -> dict[str, Any]:
        """The evaluation report; with ``critique: true``, an evaluation plus GRAD-SUM's gradient
        summary, run and recorded like an optimization (its summary is returned) so that its
        critiques show on the document."""
        params = _params(raw)
        if params.get("critique") is True:
            return await self.optimize({**params, "method": "critique"})
        uri, path = _uri(params)
        prompt_file = await self.load(uri, path, _int(params, "version"))
        split = params.get("split")
        examples = prompt_file.split(split) if isinstance(split, str) else list(prompt_file.examples)
        if not examples:
            raise Refused(message=f"{path.name} has no examples{f' in the {split} split' if split else ''}")
        from ..evaluate.runner import evaluate

        session = self.engine(self.root(path)).session()
        done = [0]
        key = f"eval-{uuid.uuid4()}"
        token_box: dict[str, str | int | None] = {"token": None}

        def on_result(_result) -> None:
            done[0] += 1
            self.progress_report(token_box["token"], f"{done[0]}/{len(examples)} examples",
                                 int(100 * done[0] / len(examples)))

        def on_cancel() -> None:
            task = self.tasks.get(uri, {}).get(key)
            if task is not None:
                task.cancel()

        token_box["token"] = await self.progress_begin(f"Evaluating {path.name}", f"{len(examples)} examples", on_cancel,
                                                      params.get("workDoneToken"))
        task = await self.supervise(uri, key, evaluate(session, prompt_file, examples=examples, on_result=on_result),
                                    token_box["token"])
        if task.cancelled():
            self.progress_end(token_box["token"], "cancelled")
            raise Refused(message=f"evaluation of {path.name} was cancelled")
        report = task.result()
        self.progress_end(token_box["token"], f"score {format_score(report.score)}")
        return report.to_dict()

    async def runs(self, raw: Any) -> list[dict[str, Any]]:
        params = _params(raw)
        _uri_, path = _uri(params)
        store = self.store(self.root(path))
        return [r.to_dict() for r in store.runs(path)]

    async def candidates(self, raw: Any) -> dict[str, Any]:
        params = _params(raw)
        _uri_, path = _uri(params)
        store = self.store(self.root(path))
        run_id = params.get("runId")
        if run_id is None:
            latest = store.runs(path, limit=1)
            if not latest:
                raise Refused(message=f"{path.name} has no recorded runs")
            run_id = latest[0].id
        elif not isinstance(run_id, str) or store.run(run_id) is None:
            raise Refused(message=f"no run {run_id!r} in the run store")
        return {"runId": run_id, "candidates": [c.to_dict() for c in store.candidates(run_id)]}

    async def cancel_command(self, raw: Any) -> dict[str, Any]:
        params = _params(raw)
        uri, run_id = params.get("uri"), params.get("runId")
        if uri is None and run_id is None:
            raise JsonRpcInvalidParams(message="promptlsp.cancel needs {uri} or {runId}")
        return {"cancelled": self.cancel(uri, run_id)}


def _guard(name: str, operation: Callable[[Any], Any]):
    """Errors become LSP errors (and a log line); the server never dies on bad input."""

    async def handler(ls: PromptLanguageServer, params: Any):
        try:
            return await operation(params)
        except (JsonRpcException, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("%s failed", name)
            raise JsonRpcException(message=f"{name} failed: {type(exc).__name__}: {exc}", code=REQUEST_FAILED) from exc

    return handler


def register(server: PromptLanguageServer) -> None:
    """Register the requests and commands on ``server`` (once; later calls do nothing)."""
    if getattr(server, "run_manager", None) is not None:
        return
    manager = RunManager(server)
    server.run_manager = manager  # type: ignore[attr-defined]

    for method, operation in ((ESTIMATE, manager.estimate), (OPTIMIZE, manager.optimize), (EVALUATE, manager.evaluate),
                              (RUNS, manager.runs), (CANDIDATES, manager.candidates)):
        server.feature(method)(_guard(method, operation))

    def command(name: str, operation: Callable[[Any], Any]) -> None:
        guarded = _guard(name, operation)

        async def handler(ls: PromptLanguageServer, *args: Any):
            return await guarded(ls, list(args))

        server.command(name)(handler)

    for name, operation in ((CMD_ESTIMATE, manager.estimate), (CMD_OPTIMIZE, manager.optimize), (CMD_EVALUATE, manager.evaluate),
                            (CMD_RUNS, manager.runs), (CMD_CANDIDATES, manager.candidates),
                            (CMD_CANCEL, manager.cancel_command)):
        command(name, operation)
