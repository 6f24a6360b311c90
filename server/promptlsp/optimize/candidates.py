"""Candidate prompts: variable preservation, critiques anchored on their quotes (:mod:`promptlsp.document.anchors`), and seeded minibatches."""

from __future__ import annotations

import random
from typing import Any, Iterable, Mapping, Sequence, TypeVar

from ..document import template as templating
from ..document.anchors import anchor, locate as _locate
from .events import Critique, PromptText

T = TypeVar("T")


def variables_of(prompt: PromptText, targets: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each target string's variables."""
    return {t: templating.variables(prompt.get(t) or "") for t in targets}


def variable_problem(original: PromptText, candidate: PromptText, targets: Sequence[str]) -> str | None:
    """Why ``candidate`` cannot replace ``original`` (syntax, dropped or invented variables), or None."""
    problems = []
    for target in targets:
        text = candidate.get(target)
        if text is None or not text.strip():
            problems.append(f"the {target} is empty")
            continue
        syntax = templating.check_syntax(text)
        if syntax is not None:
            problems.append(f"the {target} is not valid jinja2 (line {syntax.line}: {syntax.message})")
            continue
        before = templating.variables(original.get(target) or "")
        after = templating.variables(text)
        dropped, invented = sorted(before - after), sorted(after - before)
        if dropped:
            problems.append(f"the {target} dropped " + ", ".join("{{ " + v + " }}" for v in dropped))
        if invented:
            problems.append(f"the {target} invented " + ", ".join("{{ " + v + " }}" for v in invented))
    return "; ".join(problems) or None


def all_variables(prompt: PromptText, targets: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for names in variables_of(prompt, targets).values():
        out |= names
    return frozenset(out)


def sample(items: Sequence[T], size: int, seed: int, label: str) -> list[T]:
    """A reproducible subset of ``items`` (all of them when ``size`` covers them), in input order."""
    if size >= len(items):
        return list(items)
    chosen = set(random.Random(f"{seed}:{label}").sample(range(len(items)), size))
    return [item for i, item in enumerate(items) if i in chosen]


def critiques_from(prompt: PromptText, raw: Iterable[Mapping[str, Any]], examples: Iterable[str] = ()) -> tuple[Critique, ...]:
    """Anchored :class:`Critique` objects from a model's critique list.

    ``examples`` are the failing examples whose feedback the critiques summarise; each critique
    carries them all (a summary generalises across its examples, so the model is not asked to
    attribute — a small model copies whole inputs there instead of ids).
    """
    behind = tuple(examples)
    out = []
    for item in raw:
        target, start, end = anchor(prompt, str(item.get("quote", "")), item.get("target"))
        quote = prompt.get(target)[start:end] if start is not None else str(item.get("quote", "")).strip()
        out.append(Critique(
            critique=str(item.get("critique", "")).strip(), quote=quote, target=target, start=start, end=end,
            suggestion=str(item.get("suggestion", "")).strip(), examples=behind,
        ))
    return tuple(c for c in out if c.critique)


# -- edit operations: the optimizer's targeted changes -----------------------------------------

def _set(prompt: PromptText, target: str, text: str) -> PromptText:
    if target == "system":
        return PromptText(template=prompt.template, system=text)
    return PromptText(template=text, system=prompt.system)


def apply_edits(prompt: PromptText, edits: Iterable[Mapping[str, str]], targets: Sequence[str]) -> tuple[PromptText, list[str]]:
    """``prompt`` with each applicable edit applied in order, and why each other edit was skipped.

    ``append`` adds a paragraph at the end of the template (of the system message when only it is
    a target); ``replace`` and ``insert_after`` act on the first place the quoted ``find`` words
    occur (exactly, else ignoring case and white space). An edit is skipped when its words are not
    in the prompt, when it adds a ``{{ variable }}`` the replaced words did not hold (a duplicated
    input), or when it changes nothing.
    """
    current, skipped = prompt, []
    append_to = "template" if "template" in targets else targets[0]
    for edit in edits:
        action, find, text = edit.get("action", ""), edit.get("find", ""), edit.get("text", "")
        if action == "append" or (action == "insert_after" and not find):
            if not text:
                skipped.append("an empty instruction")
                continue
            if templating.variables(text) or any(mark in text for mark in ("{{", "{%", "{#")):
                skipped.append(f"an appended instruction with a placeholder: {text[:60]!r}")
                continue
            old = current.get(append_to) or ""
            if text in old:
                skipped.append(f"an instruction the prompt already has: {text[:60]!r}")
                continue
            current = _set(current, append_to, f"{old.rstrip()}\n\n{text}" if old.strip() else text)
            continue
        if not find:
            skipped.append(f"a {action} without the words to {action.replace('_', ' ')}")
            continue
        where = _locate(current, find, targets)
        if where is None:
            skipped.append(f"{find[:60]!r} is not in the prompt")
            continue
        target, start, end = where
        old = current.get(target) or ""
        span = old[start:end]
        if not templating.variables(text) <= templating.variables(span) or text.count("{{") > span.count("{{"):
            skipped.append(f"a {action} that adds a placeholder: {text[:60]!r}")
            continue
        if action == "replace":
            new = old[:start] + text + old[end:]
        else:
            if not text:
                skipped.append("an empty insertion")
                continue
            new = old[:end] + " " + text + old[end:]
        if new == old:
            skipped.append(f"a {action} that changes nothing")
            continue
        current = _set(current, target, new)
    return current, skipped
