"""Inlay hints: after each inline example (at the end of its id, else of its table's first
line) the last evaluation's result of it from the run store — ✓/✗, the score and the start of
the model's output on one line — marked *stale* when the prompt, the example, its checks or the
task model changed since (:mod:`promptlsp.runs.example_results`). Resolving a hint gives its
tooltip: the whole output (bounded) and each check's reason.

Only the requested range is computed (a client asks for what is visible): the examples there
are found by bisection over the document's example places (``server.places``). A file with
errors has no typed examples, hence no hints; a store with no runs, none either.
After a run that recorded results (:mod:`.requests`, :mod:`.run_example`), :meth:`InlayHints.refresh`
asks the client to ask again (``workspace/inlayHint/refresh``, when it supports it).
"""

from __future__ import annotations

from typing import Any, Iterable

from lsprotocol import types

from ..document import Analysis
from ..document.model import PromptFile
from ..document.example_places import ExamplePlace, between, typed
from ..document.source import Encoding
from ..evaluate.results import format_score
from ..runs.example_results import ExampleResults, JudgedResult, judge_result
from .config import effective
from .features import Handler
from .positions import to_offset
from .server import PromptLanguageServer

LABEL_OUTPUT = 40  # characters of the output in a hint's label
TOOLTIP_OUTPUT = 4000  # characters of the output in its tooltip
TOOLTIP_REASON = 500  # characters of each check's reason


def one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def bounded(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width] + f"… ({len(text) - width} more characters)"


def hint_label(judged: JudgedResult) -> str:
    """``✓ 1.00 · positive``, ``✗ 0.00 · Hard to say.``, ``✗ error: …``; ``(stale)`` at the end when stale."""
    result = judged.record.result
    mark = "✓" if result.passed else "✗"
    if result.output is None:
        body = f"{mark} {one_line(result.error or 'no output', LABEL_OUTPUT)}"
    else:
        body = f"{mark} {format_score(result.score, 2)} · {one_line(result.output, LABEL_OUTPUT) or '(empty)'}"
    return body + (" (stale)" if judged.stale else "")


def _fence(text: str) -> str:
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def tooltip(example_id: str, judged: JudgedResult) -> str:
    """Markdown: the result, why it is stale, the whole output (bounded) and each check's reason."""
    record, result = judged.record, judged.record.result
    verdict = "passed" if result.passed else "failed"
    lines = [f"**{example_id}**: {verdict}, score {format_score(result.score, 2)} "
             f"({record.method} run `{record.run_id}`)"]
    if judged.stale:
        lines += ["", f"*Stale*: {judged.stale}. Run the example again for a current result."]
    if result.output is not None:
        output = bounded(result.output, TOOLTIP_OUTPUT)
        fence = _fence(output)
        lines += ["", "Output:", "", f"{fence}text", output, fence]
    if result.error:
        lines += ["", f"Error: {one_line(result.error, TOOLTIP_REASON)}"]
    checks = [c for c in result.details if isinstance(c, dict)]
    if checks:
        lines += ["", "Checks:", ""]
        for check in checks:
            mark = "✓" if check.get("passed") else "✗"
            reason = one_line(str(check.get("reason") or ""), TOOLTIP_REASON)
            lines.append(f"- {mark} {check.get('name')} ({check.get('type')}, score "
                         f"{format_score(check.get('score'), 2)}): {reason}".rstrip(": "))
    return "\n".join(lines)


class InlayHints:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server
        self.results = ExampleResults()

    def handlers(self) -> Iterable[Handler]:
        return (
            Handler(types.TEXT_DOCUMENT_INLAY_HINT, self.hints, types.InlayHintOptions(resolve_provider=True)),
            Handler(types.INLAY_HINT_RESOLVE, self.resolve),
        )

    @staticmethod
    def judged(prompt_file: PromptFile | None, place: ExamplePlace, records: dict | None) -> JudgedResult | None:
        record = (records or {}).get(place.id)
        example = typed(prompt_file, place)
        if prompt_file is None or example is None or record is None:
            return None
        return judge_result(record, prompt_file, example)

    async def hints(self, params: types.InlayHintParams) -> list[types.InlayHint]:
        uri = params.text_document.uri
        outcome = await self.server.analyses.analyse(uri)
        if outcome is None:
            return []
        return await self.server.off_loop(self.hints_in, uri, outcome[0], params.range, self.server.encoding)

    def hints_in(self, uri: str, analysis: Analysis, where: types.Range, encoding: Encoding) -> list[types.InlayHint]:
        """The hints of the examples whose anchor lies in ``where`` (on the server's executor)."""
        if analysis.prompt is None:
            return []
        records = self.results.lookup(analysis)
        if not records:
            return []
        source = analysis.source
        start, end = to_offset(source, where.start, encoding), to_offset(source, where.end, encoding)
        prompt_file = effective(analysis, self.server.settings)
        found = []
        for place in between(self.server.places.of(uri, analysis), start, end):
            judged = self.judged(prompt_file, place, records)
            if judged is None:
                continue
            position = source.position(place.anchor, encoding)
            found.append(types.InlayHint(
                position=types.Position(line=position.line, character=position.character),
                label=hint_label(judged), padding_left=True,
                data={"uri": uri, "exampleId": place.id}))
        return found

    async def resolve(self, hint: types.InlayHint) -> types.InlayHint:
        data: Any = hint.data
        if hasattr(data, "_asdict"):  # pygls may hand JSON objects over as namedtuples
            data = data._asdict()
        uri, example_id = (data.get("uri"), data.get("exampleId")) if isinstance(data, dict) else (None, None)
        if not isinstance(uri, str) or not isinstance(example_id, str):
            return hint
        outcome = await self.server.analyses.analyse(uri)
        if outcome is None:
            return hint
        analysis = outcome[0]
        text = await self.server.off_loop(self.tooltip_of, uri, analysis, example_id)
        if text is not None:
            hint.tooltip = types.MarkupContent(kind=types.MarkupKind.Markdown, value=text)
        return hint

    def tooltip_of(self, uri: str, analysis: Analysis, example_id: str) -> str | None:
        place = next((p for p in self.server.places.of(uri, analysis) if p.id == example_id), None)
        judged = None if place is None else self.judged(effective(analysis, self.server.settings), place,
                                                        self.results.lookup(analysis))
        return None if judged is None else tooltip(example_id, judged)

    def refresh(self) -> None:
        """Ask the client to request the hints again (a run recorded new results)."""
        caps = self.server.client_capabilities
        workspace = getattr(caps, "workspace", None) if caps is not None else None
        inlay = getattr(workspace, "inlay_hint", None) if workspace is not None else None
        if inlay is not None and inlay.refresh_support:
            self.server.workspace_inlay_hint_refresh(None)
