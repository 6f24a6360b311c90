"""Run one example: ``promptlsp/runExample`` and the ``promptlsp.evaluateExample`` command
(not ``promptlsp.runExample``: that is the VS Code extension's own command, with its UI).

Params: ``{uri, version?, example?, position?, workDoneToken?}`` — the example by its id, or the
one whose table holds ``position`` (an LSP position in the negotiated encoding). The answer:
``{runId, exampleId, result}`` (``result`` as in ``promptlsp/evaluate``'s ``examples``, plus
``cached``). The run itself is :func:`promptlsp.runs.evaluation.run_example` (the prompt on that
example with the task model, checks applied, recorded in the run store, through the engine's
cache); here it is served like an evaluation (:mod:`.requests`): a task registered per
document, cancelled by ``$/cancelRequest``, the progress's Cancel or ``promptlsp.cancel``, with
work-done progress. When it ends the client is asked to refresh its inlay hints.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterable

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..document.example_places import at
from ..evaluate.results import format_score
from .features import Handler
from .positions import to_offset
from .requests import Refused, Requests, _command, _guard, _int, _params, _uri

RUN_EXAMPLE, CMD_RUN_EXAMPLE = "promptlsp/runExample", "promptlsp.evaluateExample"


def _position(params: dict[str, Any]) -> types.Position | None:
    raw = params.get("position")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), int) and not isinstance(raw.get(k), bool)
                                            and raw[k] >= 0 for k in ("line", "character")):
        raise JsonRpcInvalidParams(message=f"'position' must be {{line, character}} (non-negative integers), got {raw!r}")
    return types.Position(line=raw["line"], character=raw["character"])


class RunExample:
    def __init__(self, requests: Requests) -> None:
        self.requests = requests
        self.server = requests.server

    def handlers(self) -> Iterable[Handler]:
        yield Handler(RUN_EXAMPLE, _guard(RUN_EXAMPLE, self.run_example))
        yield Handler(CMD_RUN_EXAMPLE, _command(_guard(CMD_RUN_EXAMPLE, self.run_example)), command=True)

    async def example_id(self, uri: str, params: dict[str, Any]) -> str:
        """The id asked for, or that of the example at the position asked for (Refused if none)."""
        example, position = params.get("example"), _position(params)
        if example is not None:
            if not isinstance(example, str):
                raise JsonRpcInvalidParams(message=f"'example' must be an example id (a string), got {example!r}")
            return example
        if position is None:
            raise JsonRpcInvalidParams(message="promptlsp/runExample needs 'example' (an id) or 'position'")
        outcome = await self.server.analyses.analyse(uri)
        if outcome is None:
            raise Refused(message="open the document to run the example at a position")
        analysis = outcome[0]
        places = await self.server.off_loop(self.server.places.of, uri, analysis)
        place = at(places, to_offset(analysis.source, position, self.server.encoding))
        if place is None:
            raise Refused(message=f"no example at line {position.line + 1}")
        return place.id

    async def run_example(self, raw: Any) -> dict[str, Any]:
        from ..runs.evaluation import EXAMPLE, UnknownExample, find_example

        requests = self.requests
        params = _params(raw)
        uri, path = _uri(params)
        prompt_file = await requests.load(uri, path, _int(params, "version"))
        example_id = await self.example_id(uri, params)
        try:
            example = find_example(prompt_file, example_id)
        except UnknownExample as exc:
            raise Refused(message=str(exc)) from exc
        key = f"example-{uuid.uuid4()}"
        token = await requests.progress.begin(f"Running {example_id}", f"{path.name}: one example",
                                              requests._canceller(uri, key), params.get("workDoneToken"))
        run = requests.recorded_evaluation(prompt_file, path, [example], method=EXAMPLE, scored_on=example.split,
                                           on_done=lambda _done: None)
        task = await requests.supervise(uri, key, run, token)
        if task.cancelled():
            requests.progress.end(token, "cancelled")
            raise Refused(message=f"the run of example {example_id} was cancelled")
        if task.exception() is not None:
            requests.progress.end(token, "failed")
            raise task.exception()
        run_id, report = task.result()
        (result,) = report["examples"]
        requests.progress.end(token, f"{'passed' if result['passed'] else 'failed'}, score {format_score(result['score'])}")
        return {"runId": run_id, "exampleId": example_id, "result": result}
