"""The custom protocol — the params and results of every ``promptlsp/*`` request and
``promptlsp.*`` command — defined once, as attrs classes (mirrored for the VS Code extension by
``vscode-extension/src/core/protocol.ts``).

On the wire every key is camelCase: the classes' snake_case fields are renamed by lsprotocol's
converter (:func:`lsprotocol.converters.get_converter`), the one LSP itself uses. Maps keyed by
data (a phase's name, a template variable, a split) keep their keys, and so does a run's
``settings``: the run's settings as recorded, keyed as in the prompt file format.

:func:`params` reads a request's params strictly: a wrong type (``"version": "3"``, ``true`` for a
number) or a missing field is an :class:`~pygls.exceptions.JsonRpcInvalidParams` naming the field,
never a crash. :func:`to_wire` writes a result; :func:`internal` builds one from the server's own
snake_case records (``CandidateRecord.to_dict()``, an evaluation's report, an accounting snapshot).
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import attrs
import cattrs
import cattrs.gen
from cattrs.errors import ClassValidationError
from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.exceptions import JsonRpcInvalidParams

T = TypeVar("T")

# request methods, and the executeCommand commands that do the same for generic clients
ESTIMATE, OPTIMIZE, EVALUATE = "promptlsp/estimate", "promptlsp/optimize", "promptlsp/evaluate"
RUNS, CANDIDATES, RUN_REPORT = "promptlsp/runs", "promptlsp/candidates", "promptlsp/runReport"
RUN_EXAMPLE = "promptlsp/runExample"
CMD_ESTIMATE, CMD_OPTIMIZE, CMD_EVALUATE, CMD_RUNS, CMD_CANDIDATES, CMD_RUN_REPORT, CMD_CANCEL = (
    "promptlsp.estimate", "promptlsp.optimize", "promptlsp.evaluate", "promptlsp.runs", "promptlsp.candidates",
    "promptlsp.runReport", "promptlsp.cancel",
)
# not promptlsp.runExample: that is the VS Code extension's own command, with its UI
CMD_RUN_EXAMPLE = "promptlsp.evaluateExample"


def _non_negative(_instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value < 0:
        raise ValueError(f"'{camel_case(attribute.name)}' must be a non-negative integer, got {value!r}")


def _optional_int() -> Any:
    return attrs.field(default=None, validator=_non_negative)


# -- params ------------------------------------------------------------------------------------


@attrs.define(frozen=True)
class FileParams:
    """``promptlsp/runs``: the file whose runs to list."""

    uri: str


@attrs.define(frozen=True)
class EstimateParams:
    uri: str
    version: int | None = _optional_int()
    method: str | None = None
    iterations: int | None = _optional_int()
    budget_calls: int | None = _optional_int()


@attrs.define(frozen=True)
class OptimizeParams(EstimateParams):
    work_done_token: int | str | None = None


@attrs.define(frozen=True)
class EvaluateParams:
    """An evaluation (``split``: one split, else every example); ``critique``: an evaluation plus
    GRAD-SUM's critiques, run like an optimization (``iterations``, ``budgetCalls`` as there)."""

    uri: str
    version: int | None = _optional_int()
    split: str | None = None
    critique: bool = False
    iterations: int | None = _optional_int()
    budget_calls: int | None = _optional_int()
    work_done_token: int | str | None = None


@attrs.define(frozen=True)
class CandidatesParams:
    uri: str
    run_id: str | None = None  # None: the latest run that proposed candidates


@attrs.define(frozen=True)
class RunReportParams:
    uri: str
    run_id: str  # an id from promptlsp/runs, or an unambiguous prefix of one


@attrs.define(frozen=True)
class CancelParams:
    uri: str | None = None
    run_id: str | None = None


@attrs.define(frozen=True)
class RunExampleParams:
    """The example by its id, or the one whose table holds ``position`` (negotiated encoding)."""

    uri: str
    version: int | None = _optional_int()
    example: str | None = None
    position: types.Position | None = None
    work_done_token: int | str | None = None


# -- results -----------------------------------------------------------------------------------


@attrs.define(frozen=True)
class PromptText:
    template: str | None
    system: str | None = None


@attrs.define(frozen=True)
class BudgetLimits:
    max_calls: int | None = None
    max_tokens: int | None = None
    max_usd: float | None = None


@attrs.define(frozen=True)
class Totals:
    """Calls, tokens, cost and time of a run (or of one of its phases)."""

    calls: int = 0
    retries: int = 0
    cache_hits: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens: int = 0
    cost_usd: float | None = 0.0
    cost_unknown_calls: int = 0
    wall_s: float = 0.0
    busy_s: float = 0.0


@attrs.define(frozen=True)
class Accounting:
    total: Totals = Totals()
    by_phase: dict[str, Totals] = attrs.Factory(dict)
    by_scope: dict[str, Totals] | None = None
    budget: BudgetLimits | None = None
    budget_exhausted: bool = False
    budget_exhausted_reason: str | None = None
    elapsed_s: float = 0.0


@attrs.define(frozen=True)
class PlannedTotals:
    """An estimate: at most this many calls and tokens; ``costUsd`` null when a price is unknown."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    unpriced_models: list[str] = attrs.Factory(list)
    by_phase: dict[str, PlannedTotals] = attrs.Factory(dict)


@attrs.define(frozen=True)
class EstimateResult:
    method: str
    iterations: int
    calls: int
    tokens: int
    cost_usd: float | None
    over_budget: str | None  # why the editor would refuse the run, or None
    summary: str


@attrs.define(frozen=True)
class Candidate:
    candidate_id: str
    parent_id: str | None = None
    iteration: int | None = None
    system: str | None = None
    template: str | None = None
    origin: str | None = None
    minibatch_score: float | None = None
    minibatch_examples: int | None = None
    validation_score: float | None = None
    validation_examples: int | None = None
    rejected: bool = False
    reason: str | None = None
    raw: str | None = None


@attrs.define(frozen=True)
class CheckRow:
    name: str
    type: str | None = None
    score: float | None = None
    passed: bool | None = None
    weight: float | None = None
    reason: str = ""
    origin: str | None = None


@attrs.define(frozen=True)
class ExampleRow:
    """One example's result: its input, the task model's output, each check."""

    example_id: str
    split: str | None = None
    vars: dict[str, Any] = attrs.Factory(dict)
    expected: list[str] | None = None
    output: str | None = None
    score: float | None = None
    passed: bool | None = None
    error: str | None = None
    checks: list[CheckRow] = attrs.Factory(list)
    cut_off_at: int | None = None  # the output used all max_tokens (this many)
    cached: bool | None = None  # the answer came from the cache (None: not known)


@attrs.define(frozen=True)
class Proposal:
    """What an optimization proposes for the file: the best candidate as an edit of the document
    at ``version`` (None: of the file on disk), or why it cannot be applied (``withdrawn``)."""

    uri: str
    version: int | None
    candidate_id: str
    initial_score: float | None
    best_score: float | None  # the candidate's score, on ``scored_on``
    scored_on: str | None
    edit: types.WorkspaceEdit | None = None
    withdrawn: str | None = None


@attrs.define(frozen=True)
class OptimizeResult:
    run_id: str
    status: str
    method: str
    initial_score: float | None
    best_score: float | None
    scored_on: str | None
    best: PromptText | None
    candidates: list[Candidate]
    accounting: Accounting
    estimate: PlannedTotals
    message: str | None
    proposal: Proposal | None = None  # None: the run found nothing better (or was cancelled)


@attrs.define(frozen=True)
class CritiqueResult(OptimizeResult):
    """``promptlsp/evaluate`` with ``critique: true``: the critic run, and the evaluation behind
    its critiques example by example (``score``: their mean, None when none was scored)."""

    examples: list[ExampleRow] = attrs.Factory(list)
    score: float | None = None


@attrs.define(frozen=True)
class SplitScore:
    score: float | None
    examples: int
    passed: int
    errors: int


@attrs.define(frozen=True)
class EvaluationResult:
    run_id: str
    prompt: PromptText
    score: float | None
    complete: bool
    splits: dict[str, SplitScore]
    examples: list[ExampleRow]
    accounting: Accounting


@attrs.define(frozen=True)
class RunInfo:
    """One recorded run (``promptlsp/runs``, newest first). Times are seconds since the epoch."""

    id: str
    file: str | None
    method: str | None
    status: str
    started_at: float
    ended_at: float | None
    updated_at: float
    settings: dict[str, Any] | None  # as recorded, keyed as in the prompt file format
    estimate: PlannedTotals | None
    accounting: Accounting | None
    initial: PromptText | None
    best: PromptText | None
    prompt_sha: str | None
    best_candidate_id: str | None
    initial_score: float | None
    best_score: float | None
    scored_on: str | None
    iterations: int
    events: int
    message: str
    pid: int | None
    host: str | None


@attrs.define(frozen=True)
class CandidatesResult:
    run_id: str
    candidates: list[Candidate]  # best first


@attrs.define(frozen=True)
class RunReportResult:
    run_id: str
    html: str  # the page of ``promptlsp report --html``


@attrs.define(frozen=True)
class CancelResult:
    cancelled: list[str]  # ids of the runs (and evaluations) stopped


@attrs.define(frozen=True)
class RunExampleResult:
    run_id: str
    example_id: str
    result: ExampleRow


@attrs.define(frozen=True)
class RefusalData:
    """The ``data`` of a run refused over budget: the limit it would pass, the estimate, the limit's value."""

    limit: str
    estimate: PlannedTotals
    budget: float | None


# -- conversion --------------------------------------------------------------------------------


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _strict(kind: type, accepts: tuple[type, ...]) -> Any:
    def structure(value: Any, _type: Any) -> Any:
        if isinstance(value, bool) and kind is not bool or not isinstance(value, accepts):
            raise TypeError(f"expected {_JSON_NAMES[kind]}, got {_json_type(value)} {value!r}")
        return kind(value) if kind is float else value
    return structure


_JSON_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object",
            type(None): "null"}.get(type(value), type(value).__name__)


@functools.cache
def wire() -> cattrs.Converter:
    """lsprotocol's converter (camelCase keys), with strict JSON primitives: ``"3"`` is not a
    number, ``true`` is not 1, ``3.5`` is not an integer."""
    converter = get_converter(cattrs.Converter())

    def ours(cls: type) -> bool:
        return attrs.has(cls) and cls.__module__ == __name__

    def renamed(cls: type) -> dict[str, Any]:  # every field, even at its default: a client sees the whole shape
        return {a.name: cattrs.gen.override(rename=camel_case(a.name)) for a in attrs.fields(cls)}

    converter.register_unstructure_hook_factory(
        ours, lambda cls: cattrs.gen.make_dict_unstructure_fn(cls, converter, **renamed(cls)))
    converter.register_structure_hook_factory(
        ours, lambda cls: cattrs.gen.make_dict_structure_fn(cls, converter, **renamed(cls)))
    for kind, accepts in ((int, (int,)), (float, (int, float)), (str, (str,)), (bool, (bool,))):
        converter.register_structure_hook(kind, _strict(kind, accepts))

    def token(value: Any, _type: Any) -> Any:  # a progress token: a number or a string
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
            raise TypeError(f"expected a number or a string, got {_json_type(value)} {value!r}")
        return value

    converter.register_structure_hook_func(lambda hint: hint == (int | str | None), token)
    return converter


@functools.cache
def _internal() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook_func(lambda hint: hint == dict[str, Any], lambda value, _: value)
    return converter


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClassValidationError):
        def describe(error: BaseException, _type: Any) -> str:
            if isinstance(error, KeyError):
                return "required field missing"
            return str(error) if isinstance(error, (TypeError, ValueError)) and str(error) else "invalid value"
        lines = cattrs.transform_error(exc, path="params", format_exception=describe)
        return "; ".join(f"{what} @ {'.'.join(map(camel_case, where.split('.')))}"  # the wire's names
                         for what, _, where in (line.rpartition(" @ ") for line in lines))
    return str(exc)


def params(method: str, raw: Any, kind: type[T]) -> T:
    """``raw`` (a JSON object) as ``kind``, or JsonRpcInvalidParams saying which field is wrong."""
    if not isinstance(raw, dict):
        raise JsonRpcInvalidParams(
            message=f"{method}: expected one object as params, e.g. {{\"uri\": \"file:///…\"}}, got {_json_type(raw)}")
    try:
        return wire().structure(raw, kind)
    except (ClassValidationError, TypeError, ValueError) as exc:
        raise JsonRpcInvalidParams(message=f"invalid params for {method}: {_reason(exc)}") from None


def to_wire(value: Any) -> Any:
    """A result (an attrs class above, or a list of them) as JSON data, camelCase keys."""
    return wire().unstructure(value)


def from_wire(data: Any, kind: type[T]) -> T:
    """A result read back from JSON (tests, and the converter round-trip)."""
    return wire().structure(data, kind)


def internal(data: Any, kind: type[T]) -> T:
    """``kind`` from the server's own snake_case records (extra keys ignored, missing ones defaulted)."""
    return _internal().structure(data, kind)
