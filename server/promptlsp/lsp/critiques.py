"""Critiques of the last run as diagnostics and hovers, and its candidates as code actions.

What the last run of a file left is a :class:`~promptlsp.runs.view.RunView`, read from the run
store by a :class:`~promptlsp.runs.view.CritiqueIndex` and anchored on the current text by
:func:`~promptlsp.runs.view.anchored_critiques` (no LSP there). This module renders it:

* Diagnostics (:func:`critique_diagnostics`): one per critique still quoted in the current
  prompt text (exact first, then ignoring case and white space); edits move it, a quote that no
  longer exists drops it.
* Hover (:func:`critique_hover`): the critique, its suggestion, the failing examples behind it
  (input, output, expected, the criteria's reasons) and the scores.
* Code actions (:func:`code_actions`): "Apply rewritten prompt (score a → b)" per candidate, a
  versioned ``TextDocumentEdit`` of the prompt strings only
  (:func:`~promptlsp.document.edit.plan_edits`) computed against the current text — so edits
  elsewhere in the file are rebased for free — with a change annotation that needs confirmation.
  When the prompt strings differ from the run's initial prompt the actions are disabled, with
  the reason.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from lsprotocol import types

from ..document import Analysis
from ..document.edit import EditError, plan_edits, rewrite_prompt
from ..document.source import Encoding, Span
from ..evaluate.results import format_score
from ..optimize.events import ExampleScored
from ..runs import CandidateRecord
from ..runs.view import AnchoredCritique, CritiqueIndex, RunView, StoreLookup, anchored_critiques, withdrawn_reason
from .positions import to_lsp_range

log = logging.getLogger("promptlsp.lsp.critiques")

SOURCE = "promptlsp-critique"
CODE = "critique"
ACTION_KIND = types.CodeActionKind.RefactorRewrite
ANNOTATION_PREFIX = "promptlsp.apply-candidate"


def critique_diagnostics(analysis: Analysis, uri: str, encoding: Encoding, store_lookup: StoreLookup) -> list[types.Diagnostic]:
    """One information diagnostic (source ``promptlsp-critique``) per critique still quoted."""
    view = store_lookup(analysis)
    out = []
    for a in anchored_critiques(analysis, view):
        message = a.critique.critique
        if a.critique.suggestion:
            message += f"\nSuggestion: {a.critique.suggestion}"
        out.append(types.Diagnostic(
            range=to_lsp_range(analysis.source, a.span, encoding),
            message=message,
            severity=types.DiagnosticSeverity.Information,
            code=CODE,
            source=SOURCE,
            data={"run_id": view.run.id, "quote": a.critique.quote},  # type: ignore[union-attr]
        ))
    return out


# -- hover -------------------------------------------------------------------------------------


def _score(value: float | None) -> str:
    return format_score(value, missing="?")


def _code(text: Any) -> str:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}\n{text}\n{fence}"


def _reasons(e: ExampleScored) -> list[str]:
    out = []
    for d in e.details:
        if not isinstance(d, dict):
            continue
        if d.get("passed") is True:
            continue
        name = d.get("name") or d.get("type") or "criterion"
        reason = d.get("reason") or ""
        out.append(f"`{name}` ({_score(d.get('score'))}){': ' + str(reason) if reason else ''}")
    if e.error:
        out.append(f"error: {e.error}")
    return out


def hover_text(analysis: Analysis, view: RunView, items: list[AnchoredCritique]) -> str:
    examples = {x.id: x for x in (analysis.prompt.examples if analysis.prompt else ())}
    parts = []
    for a in items:
        c = a.critique
        lines = [f"**Critique** (run `{view.run.id}`, score {_score(view.initial_score)} on {view.run.scored_on or 'validation'})", "", c.critique]
        if c.suggestion:
            lines += ["", f"*Suggestion:* {c.suggestion}"]
        failing = [view.example_scores[x] for x in c.examples if x in view.example_scores]
        missing = [x for x in c.examples if x not in view.example_scores]
        if failing or missing:
            lines += ["", "**Failing examples**"]
        for e in failing:
            lines += ["", f"- Example `{e.example_id}` ({e.split}) — score {_score(e.score)}{'' if e.passed else ', failed'}"]
            known = examples.get(e.example_id)
            if known is not None:
                lines += ["", "  Input:", "", _indent(_code(dict(known.vars)))]
            lines += ["", "  Output:", "", _indent(_code(e.output if e.output is not None else "(none)"))]
            if known is not None and known.expected is not None:
                expected = known.expected[0] if len(known.expected) == 1 else list(known.expected)
                lines += ["", "  Expected:", "", _indent(_code(expected))]
            for reason in _reasons(e):
                lines += ["", f"  Reason: {reason}"]
        for x in missing:
            lines += ["", f"- Example `{x}` (no recorded result)"]
        parts.append("\n".join(lines))
    return "\n\n---\n\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.split("\n"))


def critique_hover(analysis: Analysis, offset: int, encoding: Encoding, store_lookup: StoreLookup) -> types.Hover | None:
    """The hover for the critique span(s) under source ``offset``, or None."""
    view = store_lookup(analysis)
    if view is None:
        return None
    items = [a for a in anchored_critiques(analysis, view) if a.span.start <= offset <= a.span.end]
    if not items:
        return None
    start = min(a.span.start for a in items)
    end = max(a.span.end for a in items)
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=hover_text(analysis, view, items)),
        range=to_lsp_range(analysis.source, Span(start, end), encoding),
    )


# -- code actions ------------------------------------------------------------------------------


def candidate_score(c: CandidateRecord) -> float | None:
    """The candidate's score: on the validation split when it was validated, else its minibatch's."""
    return c.validation_score if c.validation_score is not None else c.minibatch_score


def action_title(view: RunView, candidate: CandidateRecord) -> str:
    return f"Apply rewritten prompt (score {_score(view.initial_score)} → {_score(candidate_score(candidate))})"


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return (p.line, p.character)
    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _prompt_ranges(analysis: Analysis, encoding: Encoding) -> list[types.Range]:
    out = []
    for key in ("template", "system"):
        node = analysis.node(("prompt", key))
        if node is not None:
            out.append(to_lsp_range(analysis.source, Span(node.key.start if node.key else node.value.start, node.value.end), encoding))
    return out


def code_actions(
    analysis: Analysis,
    uri: str,
    version: int | None,
    encoding: Encoding,
    store_lookup: StoreLookup,
    range: types.Range | None = None,
    only: list[str] | None = None,
) -> list[types.CodeAction]:
    """"Apply rewritten prompt" actions for the last run's candidates, best first.

    Offered when ``range`` (None: anywhere) touches ``prompt.template``/``prompt.system``;
    disabled with the reason when the prompt changed since the run.
    """
    if only:
        kinds = [str(getattr(k, "value", k)) for k in only]
        if not any(ACTION_KIND.value == k or ACTION_KIND.value.startswith(k + ".") for k in kinds):
            return []
    view = store_lookup(analysis)
    if view is None or not view.candidates:
        return []
    if range is not None and not any(_overlaps(range, r) for r in _prompt_ranges(analysis, encoding)):
        return []
    reason = withdrawn_reason(analysis, view)
    actions = []
    for candidate in view.candidates:
        title = action_title(view, candidate)
        edit = rewrite_edit(analysis, uri, version, encoding, view, candidate, title) if reason is None else reason
        if isinstance(edit, str):
            actions.append(types.CodeAction(title=title, kind=ACTION_KIND, disabled=types.CodeActionDisabled(reason=edit)))
        else:
            actions.append(types.CodeAction(title=title, kind=ACTION_KIND, edit=edit))
    return actions


def rewrite_edit(analysis: Analysis, uri: str, version: int | None, encoding: Encoding, view: RunView,
                 candidate: CandidateRecord, label: str | None = None) -> types.WorkspaceEdit | str:
    """The edit that puts ``candidate`` in place of the prompt strings of the document at
    ``version``, annotated with the run and candidate ids; or why it cannot be made."""
    reason = withdrawn_reason(analysis, view)
    if reason is not None:
        return reason
    new = {"template": candidate.template}
    if candidate.system != view.initial.system and candidate.system is not None:
        new["system"] = candidate.system
    try:
        rewrite_prompt(analysis.text, new)  # checks that nothing else would change
        edits = plan_edits(analysis.text, new)
    except EditError as exc:
        return str(exc)
    annotation_id = f"{ANNOTATION_PREFIX}:{view.run.id}:{candidate.candidate_id}"
    text_edits: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = [
        types.AnnotatedTextEdit(range=to_lsp_range(analysis.source, e.span, encoding), new_text=e.new_text, annotation_id=annotation_id)
        for e in edits
    ]
    return types.WorkspaceEdit(
        document_changes=[types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=text_edits,
        )],
        change_annotations={annotation_id: types.ChangeAnnotation(
            label=label or action_title(view, candidate),
            needs_confirmation=True,
            description=f"Replace prompt.{' and prompt.'.join(new)} with candidate {candidate.candidate_id} of run {view.run.id}",
        )},
    )
