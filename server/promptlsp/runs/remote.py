"""The language server's side of the run worker (:mod:`promptlsp.runs.worker`): runs and
evaluations sent to that process, their events and results brought back.

:class:`RunWorker` starts the worker on the first request and keeps it; each request is one id
on its pipe. An optimization's events come back as typed events (:func:`event_from_dict`) and go
to the same ``emit`` as in one process — the run store's :class:`~promptlsp.runs.service.Recorder`
and the progress display — so nothing downstream knows where the run ran. Cancelling the waiting
coroutine cancels the run in the worker, which records it as cancelled. If the worker dies, every
request waiting on it fails with the reason, and an optimization gets a ``failed`` RunFinished
(recorded, like any failed run); the next request starts a new worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from typing import TYPE_CHECKING

from ..document.model import PromptFile
from .records import converter

if TYPE_CHECKING:  # the optimizer package loads with the first run, not with the server
    from ..optimize import events as ev

log = logging.getLogger("promptlsp.runs.remote")

CANCEL_GRACE_SECONDS = 10.0  # how long a cancelled run may take to record itself as cancelled
_LINE_LIMIT = 256 * 1024 * 1024  # one event or report per line: a 5,000-example report is a few MB


def event_from_dict(data: Mapping[str, Any]) -> ev.Event:
    """The event ``Event.to_dict()`` gave; ValueError for an unknown kind."""
    from ..optimize import events as ev

    cls = {kind.kind: kind for kind in ev.Event.__subclasses__()}.get(str(data.get("kind")))
    if cls is None:
        raise ValueError(f"unknown event kind {data.get('kind')!r}")
    return converter().structure({k: v for k, v in data.items() if k != "kind"}, cls)


class WorkerFailed(RuntimeError):
    """The worker could not be started, died, or reported an error for a request."""


class RunWorker:
    """One worker process, started on first use, shared by every run of the server."""

    def __init__(self, command: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> None:
        self.command = list(command or (sys.executable, "-m", "promptlsp.runs.worker"))
        self.env = dict(env) if env is not None else None
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._starting: asyncio.Lock | None = None
        self._waiting: dict[int, tuple[asyncio.subprocess.Process, asyncio.Queue]] = {}  # id -> (its worker, its messages)
        self._ids = itertools.count(1)

    # -- the process -----------------------------------------------------------------------------
    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._process is not None and self._process.returncode is None:
                return self._process
            env = self.env if self.env is not None else dict(os.environ)
            try:
                self._process = await asyncio.create_subprocess_exec(
                    *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
                    limit=_LINE_LIMIT)
            except OSError as exc:
                raise WorkerFailed(f"cannot start the run worker ({exc})") from exc
            self._reader = asyncio.ensure_future(self._read(self._process))
            return self._process

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            while line := await process.stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    log.warning("run worker: ignoring a line that is not JSON: %r", line[:200])
                    continue
                waiting = self._waiting.get(message.get("id")) if isinstance(message, dict) else None
                if waiting is not None and waiting[0] is process:
                    waiting[1].put_nowait(message)
        except ValueError:  # a line over the limit: the protocol is lost, so is this worker
            log.warning("run worker: a message over %d bytes; stopping the worker", _LINE_LIMIT)
            process.kill()
        # (a cancellation is not caught: at the server's exit nothing may wait on the worker,
        # which itself only ends when the server's end of its stdin closes)
        code = await process.wait()
        for owner, queue in list(self._waiting.values()):
            if owner is process:  # not the requests a newer worker has taken on meanwhile
                queue.put_nowait({"died": code})

    async def close(self) -> None:
        """Stop the worker (its runs are cancelled; the server is shutting down)."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the worker cancels its runs and exits
        try:
            await asyncio.wait_for(process.wait(), CANCEL_GRACE_SECONDS)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()

    def _send(self, process: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(message, ensure_ascii=False, default=str).encode("utf-8") + b"\n")

    # -- requests --------------------------------------------------------------------------------
    async def _request(self, message: dict[str, Any], on_message: Callable[[dict[str, Any]], None]) -> Any:
        """Send ``message``; every message about it goes to ``on_message`` until its answer."""
        process = await self._ensure()
        msg_id = next(self._ids)
        queue: asyncio.Queue = asyncio.Queue()
        self._waiting[msg_id] = (process, queue)
        try:
            self._send(process, {**message, "id": msg_id})
            try:
                return await self._answer(queue, on_message)
            except asyncio.CancelledError:
                if process.returncode is None:
                    with contextlib.suppress(Exception):
                        self._send(process, {"id": msg_id, "op": "cancel"})
                    with contextlib.suppress(Exception):  # its last events: the run recorded as cancelled
                        await asyncio.wait_for(self._answer(queue, on_message), CANCEL_GRACE_SECONDS)
                raise
        finally:
            self._waiting.pop(msg_id, None)

    @staticmethod
    async def _answer(queue: asyncio.Queue, on_message: Callable[[dict[str, Any]], None]) -> Any:
        while True:
            message = await queue.get()
            if "died" in message:
                raise WorkerFailed(f"the run worker exited (code {message['died']})")
            if "error" in message:
                raise WorkerFailed(str(message["error"]))
            if message.get("cancelled"):
                raise asyncio.CancelledError()
            if "result" in message:
                return message["result"]
            on_message(message)

    async def optimize(self, prompt_file: PromptFile, root: Path, *, run_id: str, emit: Callable[[ev.Event], None],
                       method: str | None = None, iterations: int | None = None,
                       budget_calls: int | None = None) -> ev.RunFinished:
        """Run the optimization ``run_id`` in the worker; its events go to ``emit``. Returns its
        RunFinished (a ``failed`` one, also emitted, when the worker died or failed)."""
        from ..optimize import events as ev

        finished: list[ev.RunFinished] = []

        def on_event(event: ev.Event) -> None:
            if isinstance(event, ev.RunFinished):
                finished.append(event)
            emit(event)

        on_message = _events(on_event)
        request = {"op": "optimize", "root": str(root), "file": converter().unstructure(prompt_file), "run_id": run_id,
                   "method": method, "iterations": iterations, "budget_calls": budget_calls}
        try:
            await self._request(request, on_message)
        except WorkerFailed as exc:
            if finished:
                return finished[-1]
            initial = _initial(prompt_file)
            failed = ev.RunFinished(status="failed", best_candidate_id=initial.id, best=initial,
                                    initial_score=None, best_score=None, scored_on="",
                                    message=f"internal error: {exc}")
            emit(failed)
            return failed
        if not finished:  # the worker answered without a RunFinished: a bug, reported as such
            raise WorkerFailed("the run worker finished the run without reporting its result")
        return finished[-1]

    async def evaluate(self, prompt_file: PromptFile, root: Path, example_ids: Sequence[str], *, store: Any,
                       warn: Callable[[str], None], method: str = "evaluate", scored_on: str = "all",
                       on_done: Callable[[int], None] | None = None) -> tuple[str, dict[str, Any]]:
        """Evaluate ``prompt_file`` on ``example_ids`` in the worker, recorded in ``store`` (None:
        unrecorded) as a ``method`` run; (run id, ``runs.evaluation.report_payload``)."""
        from ..optimize import events as ev
        from .service import Recorder

        record = Recorder(warn)
        record.store = store
        done = [0]

        def on_event(event: ev.Event) -> None:
            if isinstance(event, ev.RunStarted):
                record.run_id = event.run_id
            record(event)
            if isinstance(event, ev.ExampleScored) and on_done is not None:
                done[0] += 1
                on_done(done[0])

        on_message = _events(on_event)

        request = {"op": "evaluate", "root": str(root), "file": converter().unstructure(prompt_file),
                   "examples": list(example_ids), "method": method, "scored_on": scored_on}
        result = await self._request(request, on_message)
        return result["run_id"], result["report"]


def _events(on_event: Callable[[ev.Event], None]) -> Callable[[dict[str, Any]], None]:
    """A request's message handler: each event message, read back into its typed event, to
    ``on_event`` (one that cannot be read is logged and skipped: the run goes on)."""

    def on_message(message: dict[str, Any]) -> None:
        if "event" not in message:
            return
        try:
            event = event_from_dict(message["event"])
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("run worker: ignoring an event that cannot be read (%s)", exc)
            return
        on_event(event)

    return on_message


def _initial(prompt_file: PromptFile) -> ev.PromptText:
    from ..evaluate.runner import initial_prompt

    return initial_prompt(prompt_file)
