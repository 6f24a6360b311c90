"""The last recorded result of each example of a prompt file, and whether it still applies.

:class:`ExampleResults` reads :meth:`RunStore.example_results` per file (cached like the
critiques, :class:`~promptlsp.runs.view.StoreReader`). :func:`judge_result` compares a result
with the file as it is now: it is *stale* when the prompt text is not the one it was made with
(its ``candidate_id`` is the prompt's id) or when the example, its checks or the models differ
(its ``inputs_sha``, :func:`~promptlsp.evaluate.inputs.inputs_sha`). A result recorded before
fingerprints existed is judged on the prompt alone.

No LSP here: the language server shows these as inlay hints (:mod:`promptlsp.lsp.inlay_hints`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..document.model import Example, PromptFile, PromptText
from ..evaluate.inputs import inputs_sha
from .records import ExampleRecord
from .view import StoreReader

PROMPT_CHANGED = "the prompt changed since this result"
EXAMPLE_CHANGED = "this example, its checks or the task model changed since this result"


@dataclass(frozen=True)
class JudgedResult:
    record: ExampleRecord
    stale: str | None  # why it no longer applies to the file as it is, or None


class ExampleResults(StoreReader[dict]):
    """Example id -> :class:`ExampleRecord` of a file, from its workspace's run store, cached."""

    def __init__(self) -> None:
        super().__init__(lambda store, file: store.example_results(file), "example results")


def judge_result(record: ExampleRecord, prompt_file: PromptFile, example: Example) -> JudgedResult:
    """``record`` (a result of ``example``) against ``prompt_file`` as it is now."""
    result = record.result
    if result.candidate_id != PromptText(prompt_file.template, prompt_file.system).id:
        return JudgedResult(record, PROMPT_CHANGED)
    if result.inputs_sha is not None and result.inputs_sha != inputs_sha(prompt_file, example):
        return JudgedResult(record, EXAMPLE_CHANGED)
    return JudgedResult(record, None)
