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
from typing import Iterable

from pygls.exceptions import JsonRpcInvalidParams

from ..document.example_places import at
from ..evaluate.results import format_score
from . import custom_protocol as protocol
from .features import Handler
from .positions import to_offset
from .requests import Refused, Requests, custom_handlers, file_path


class RunExample:
    def __init__(self, requests: Requests) -> None:
        self.requests = requests
        self.server = requests.server

    def handlers(self) -> Iterable[Handler]:
        return custom_handlers(protocol.RUN_EXAMPLE, protocol.CMD_RUN_EXAMPLE, protocol.RunExampleParams,
                               self.run_example)

    async def example_id(self, params: protocol.RunExampleParams) -> str:
        """The id asked for, or that of the example at the position asked for (Refused if none)."""
        if params.example is not None:
            return params.example
        position = params.position
        if position is None:
            raise JsonRpcInvalidParams(message="promptlsp/runExample needs 'example' (an id) or 'position'")
        outcome = await self.server.analyses.analyse(params.uri)
        if outcome is None:
            raise Refused(message="open the document to run the example at a position")
        analysis = outcome[0]
        places = await self.server.off_loop(self.server.places.of, params.uri, analysis)
        place = at(places, to_offset(analysis.source, position, self.server.encoding))
        if place is None:
            raise Refused(message=f"no example at line {position.line + 1}")
        return place.id

    async def run_example(self, params: protocol.RunExampleParams) -> protocol.RunExampleResult:
        from ..runs.evaluation import EXAMPLE, UnknownExample, find_example

        requests = self.requests
        uri, path = params.uri, file_path(params.uri)
        prompt_file = await requests.load(uri, path, params.version)
        example_id = await self.example_id(params)
        try:
            example = find_example(prompt_file, example_id)
        except UnknownExample as exc:
            raise Refused(message=str(exc)) from exc
        key = f"example-{uuid.uuid4()}"
        token = await requests.progress.begin(f"Running {example_id}", f"{path.name}: one example",
                                              requests._canceller(uri, key), params.work_done_token)
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
        return protocol.RunExampleResult(run_id=run_id, example_id=example_id,
                                         result=protocol.internal(result, protocol.ExampleRow))
