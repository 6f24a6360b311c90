"""The custom protocol's types: every params and result class goes to camelCase JSON and back
unchanged, and params that do not fit are an InvalidParams naming the field."""

from __future__ import annotations

import inspect
import types as pytypes
import typing
from typing import Any

import attrs
import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from promptlsp.lsp import custom_protocol as protocol

CLASSES = [cls for _, cls in inspect.getmembers(protocol, inspect.isclass)
           if attrs.has(cls) and cls.__module__ == protocol.__name__]
EDIT = types.WorkspaceEdit(document_changes=(types.TextDocumentEdit(
    text_document=types.OptionalVersionedTextDocumentIdentifier(uri="file:///w/a.prompt.toml", version=3),
    edits=(types.AnnotatedTextEdit(range=types.Range(types.Position(1, 2), types.Position(1, 9)), new_text="new",
                                   annotation_id="promptlsp.apply-candidate:run:c1"),)),),
    change_annotations={"promptlsp.apply-candidate:run:c1": types.ChangeAnnotation(label="Apply", needs_confirmation=True)})


def sample(hint: Any, depth: int = 0) -> Any:
    """A value of ``hint`` that is not its default (so that a dropped field shows)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, pytypes.UnionType):
        return sample(next(a for a in args if a is not type(None)), depth)
    if origin is list:
        return [sample(args[0], depth + 1)] if depth < 4 else []
    if origin is dict:  # keys are data: kept as they are
        return {"some_key": sample(args[1], depth + 1)} if depth < 4 else {}
    if hint is types.WorkspaceEdit:
        return EDIT
    if hint is types.Position:
        return types.Position(line=4, character=7)
    if attrs.has(hint):
        return hint(**{f.name: sample(f.type, depth + 1) for f in attrs.fields(attrs.resolve_types(hint))})
    return {str: "text", int: 3, float: 0.5, bool: True, Any: {"nested_key": [1, "two"]}}[hint]


def snake_keys(data: Any, path: str = "$") -> list[str]:
    """Keys with an underscore outside the data maps (whose keys are ``some_key``/``nested_key``)."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            if "_" in key and key not in ("some_key", "nested_key"):
                found.append(f"{path}.{key}")
            found += snake_keys(value, f"{path}.{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += snake_keys(value, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_type_round_trips_through_camel_case_json(cls):
    value = sample(cls)
    wire = protocol.to_wire(value)
    assert snake_keys(wire) == []
    assert set(wire) == {protocol.camel_case(f.name) for f in attrs.fields(cls)}  # every field, even at its default
    assert protocol.from_wire(wire, cls) == value


def test_the_classes_cover_the_protocol():
    names = {c.__name__ for c in CLASSES}
    assert {"EstimateParams", "OptimizeParams", "EvaluateParams", "FileParams", "CandidatesParams", "RunReportParams",
            "CancelParams", "RunExampleParams", "EstimateResult", "OptimizeResult", "CritiqueResult", "EvaluationResult",
            "RunInfo", "CandidatesResult", "RunReportResult", "CancelResult", "RunExampleResult", "Proposal"} <= names


def test_a_result_keeps_its_null_and_default_fields():
    wire = protocol.to_wire(protocol.CancelResult(cancelled=[]))
    assert wire == {"cancelled": []}
    proposal = protocol.to_wire(protocol.Proposal(uri="file:///a", version=None, candidate_id="c", initial_score=None,
                                                  best_score=1.0, scored_on="validation"))
    assert proposal["edit"] is None and proposal["withdrawn"] is None and proposal["version"] is None


@pytest.mark.parametrize("raw, message", [
    (None, "expected one object as params"),
    ([1, 2], "expected one object as params"),
    ({}, "required field missing @ params.uri"),
    ({"uri": 3}, "expected a string, got number 3 @ params.uri"),
    ({"uri": "file:///a", "version": "3"}, "expected an integer, got string '3' @ params.version"),
    ({"uri": "file:///a", "version": True}, "expected an integer, got boolean True @ params.version"),
    ({"uri": "file:///a", "version": 2.5}, "expected an integer, got number 2.5 @ params.version"),
    ({"uri": "file:///a", "budgetCalls": -1}, "'budgetCalls' must be a non-negative integer, got -1"),
    ({"uri": "file:///a", "workDoneToken": [1]}, "expected a number or a string, got array [1] @ params.workDoneToken"),
])
def test_bad_params_name_the_field(raw, message):
    with pytest.raises(JsonRpcInvalidParams) as caught:
        protocol.params("promptlsp/optimize", raw, protocol.OptimizeParams)
    assert message in caught.value.message and "promptlsp/optimize" in caught.value.message


def test_params_read_camel_case_and_nested_lsp_types():
    read = protocol.params("promptlsp/runExample", {"uri": "file:///a", "position": {"line": 1, "character": 2},
                                                    "workDoneToken": 7, "unknownKey": "ignored"}, protocol.RunExampleParams)
    assert read == protocol.RunExampleParams(uri="file:///a", position=types.Position(1, 2), work_done_token=7)
    with pytest.raises(JsonRpcInvalidParams) as caught:
        protocol.params("promptlsp/runExample", {"uri": "file:///a", "position": {"line": "x"}}, protocol.RunExampleParams)
    assert "@ params.position.line" in caught.value.message and "@ params.position.character" in caught.value.message


def test_internal_records_become_typed_results():
    """The server's own snake_case records (a store row, an accounting snapshot) fill the classes."""
    accounting = protocol.internal({"total": {"calls": 3, "cost_usd": None, "wall_s": 1.5}, "by_phase": {
        "task": {"calls": 2}}, "budget": {"max_calls": 10}, "elapsed_s": 2.0, "unknown": 1}, protocol.Accounting)
    assert accounting.total.calls == 3 and accounting.total.cost_usd is None and accounting.by_phase["task"].calls == 2
    assert protocol.to_wire(accounting)["budget"] == {"maxCalls": 10, "maxTokens": None, "maxUsd": None}
