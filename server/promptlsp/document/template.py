"""Prompt templates: jinja2 in a sandbox, with strict undefined variables.

A template is user text that the optimizer also rewrites, so it is rendered in jinja2's
``SandboxedEnvironment`` (no attribute access to Python internals) with ``StrictUndefined``
(a missing variable is an error, never a silently empty string).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Mapping

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

from .render_limits import BoundedEnvironment, RenderLimit, render_bounded

_ENV = SandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)
# Names a template may use without an example supplying them.
BUILTIN_NAMES = frozenset(_ENV.globals)

_EXPRESSION = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class TemplateProblem:
    """A template that does not compile: the message and the 1-based line inside the template."""

    message: str
    line: int


class TemplateRenderError(Exception):
    """Rendering failed (an undefined variable, a sandbox violation, a runtime error)."""


def check_syntax(source: str) -> TemplateProblem | None:
    """None when ``source`` compiles, else where and why it does not."""
    try:
        _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return TemplateProblem(exc.message or str(exc), exc.lineno or 1)
    return None


@functools.lru_cache(maxsize=512)
def variables(source: str) -> frozenset[str]:
    """The variables a template reads (empty when it does not compile)."""
    try:
        ast = _ENV.parse(source)
    except TemplateSyntaxError:
        return frozenset()
    return frozenset(meta.find_undeclared_variables(ast)) - BUILTIN_NAMES


def variable_uses(source: str, name: str) -> list[tuple[int, int]]:
    """``(start, end)`` indices of each place ``name`` appears inside ``{{ }}`` or ``{% %}``."""
    uses = []
    for block in _EXPRESSION.finditer(source):
        for m in _NAME.finditer(block.group()):
            if m.group() == name:
                uses.append((block.start() + m.start(), block.start() + m.end()))
    return uses


# --- rendering: bounded in size and time (see render_limits) ---------------------------------


_RENDER_ENV = BoundedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@functools.lru_cache(maxsize=512)
def _compile_bounded(source: str):
    return _RENDER_ENV.from_string(source)


def render(source: str, values: Mapping[str, Any]) -> str:
    """Render ``source`` with ``values``; raises :class:`TemplateRenderError` on any failure,
    including a template that goes past a limit of :mod:`.render_limits` ("template rendering
    exceeded …")."""
    try:
        return render_bounded(_compile_bounded(source), dict(values))
    except RenderLimit as exc:
        raise TemplateRenderError(str(exc)) from exc
    except TemplateError as exc:
        raise TemplateRenderError(str(exc)) from exc
    except Exception as exc:  # a sandboxed template can still raise e.g. ZeroDivisionError
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from exc
