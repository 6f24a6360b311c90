"""The run worker: the language server's optimizations and evaluations, in a process of their own.

The language server must answer hovers and publish diagnostics while a run goes on. In its own
process a run would share the server's GIL with litellm: its import holds the GIL for long single
C calls (a ``json.dumps`` of its bundled tokenizer file, tiktoken's table build — 100–370 ms each,
measured), and every model call spends milliseconds of Python in litellm. So the server plans a
run (estimate, refusal: no litellm needed) and this process runs it: ``python -m
promptlsp.runs.worker``, started by :class:`~promptlsp.runs.remote.RunWorker` on the first run and
kept for the next ones (litellm loads once; the engines' caches and per-model limits are shared
by all runs, as in one process).

Protocol: one JSON object per line. From the server (stdin)::

    {"id": 1, "op": "optimize", "root": "/ws", "file": <PromptFile>, "run_id": "…",
     "method": "gradsum" | null, "iterations": 3 | null, "budget_calls": 40 | null}
    {"id": 2, "op": "evaluate", "root": "/ws", "file": <PromptFile>, "examples": ["id", …],
     "method": "evaluate" | "example", "scored_on": "all"}
    {"id": 1, "op": "cancel"}

To the server (stdout)::

    {"id": 1, "event": <Event.to_dict()>}       every event of a run or evaluation, in order
    {"id": 1, "result": {...}}                   a run: {}; an evaluation: {"run_id", "report"}
    {"id": 1, "error": "…"} | {"id": 1, "cancelled": true}

The server records the events in the run store (the worker writes nothing there), so a run
looks the same wherever it ran. ``<PromptFile>`` is the file as the server analysed it, with the editor's settings applied
(:func:`promptlsp.runs.records.converter`'s unstructured form). The worker's real stdout carries
only this protocol: file descriptor 1 is pointed at stderr, so a library that prints cannot
corrupt it. The worker ends when its stdin closes (the server exited or stopped it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

from ..document.model import PromptFile
from .records import converter
from .service import RunService

log = logging.getLogger("promptlsp.runs.worker")


class Worker:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.service = RunService()
        self.tasks: dict[Any, asyncio.Task] = {}

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message, ensure_ascii=False, default=str).encode("utf-8") + b"\n")
        self.out.flush()

    def handle(self, message: dict[str, Any]) -> None:
        op, msg_id = message.get("op"), message.get("id")
        if op == "cancel":
            task = self.tasks.get(msg_id)
            if task is not None:
                task.cancel()
            return
        work = {"optimize": self.optimize, "evaluate": self.evaluate}.get(op)
        if work is None:
            self.send({"id": msg_id, "error": f"unknown op {op!r}"})
            return
        task = self.tasks[msg_id] = asyncio.ensure_future(self._answer(msg_id, work(msg_id, message)))
        task.add_done_callback(lambda _t: self.tasks.pop(msg_id, None))

    async def _answer(self, msg_id: Any, work) -> None:
        try:
            result = await work
        except asyncio.CancelledError:
            self.send({"id": msg_id, "cancelled": True})
            return
        except Exception as exc:  # reported to the server; the worker goes on with other runs
            log.exception("run worker: request %s failed", msg_id)
            self.send({"id": msg_id, "error": f"{type(exc).__name__}: {exc}"})
            return
        self.send({"id": msg_id, "result": result})

    async def optimize(self, msg_id: Any, message: dict[str, Any]) -> dict[str, Any]:
        prompt_file = converter().structure(message["file"], PromptFile)
        plan = self.service.plan(
            prompt_file, Path(message["root"]), method=message.get("method"), iterations=message.get("iterations"),
            budget_calls=message.get("budget_calls"), run_id=message.get("run_id"),
            emit=lambda event: self.send({"id": msg_id, "event": event.to_dict()}),
        )
        await plan.optimizer.run()
        return {}

    async def evaluate(self, msg_id: Any, message: dict[str, Any]) -> dict[str, Any]:
        from .evaluation import EVALUATE, recorded_evaluation, report_payload

        prompt_file = converter().structure(message["file"], PromptFile)
        wanted = set(message.get("examples") or ())
        examples = [e for e in prompt_file.examples if e.id in wanted]
        session = self.service.engine(Path(message["root"])).session()
        run_id, report = await recorded_evaluation(
            session, prompt_file, examples, store=None, warn=lambda text: log.warning("%s", text),
            method=message.get("method") or EVALUATE, scored_on=message.get("scored_on") or "all",
            emit=lambda event: self.send({"id": msg_id, "event": event.to_dict()}))
        return {"run_id": run_id, "report": report_payload(report)}


async def serve(stdin: BinaryIO, out: BinaryIO) -> None:
    worker = Worker(out)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()

    def read() -> None:  # a thread: stdin is a pipe, and the loop must not block on it
        for line in stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, name="promptlsp-worker-stdin", daemon=True).start()
    try:
        while (line := await lines.get()) is not None:
            try:
                message = json.loads(line)
            except ValueError:
                log.warning("run worker: ignoring a line that is not JSON")
                continue
            if isinstance(message, dict):
                worker.handle(message)
    finally:
        for task in list(worker.tasks.values()):
            task.cancel()
        if worker.tasks:
            await asyncio.wait(list(worker.tasks.values()), timeout=5)
        worker.service.close()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="promptlsp worker: %(levelname)s %(message)s")
    protocol = os.fdopen(os.dup(1), "wb")  # the protocol's own copy of stdout …
    os.dup2(2, 1)  # … and whatever else is printed goes to stderr
    sys.stdout = sys.stderr
    asyncio.run(serve(sys.stdin.buffer, protocol))
    return 0


if __name__ == "__main__":
    sys.exit(main())
