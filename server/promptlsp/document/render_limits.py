"""Bounded template rendering: a template cannot hang a run or fill the memory.

A template is user text (and the optimizer rewrites it), so rendering it must end, soon and
small, whatever it says. jinja2's sandbox already keeps templates away from Python internals and
caps ``range()`` at 100 000 items; it does not bound what a template *computes*:
``{{ 'a' * 10**9 }}``, ``{{ 7**(7**9) }}`` (folded at compile time, before any render starts),
nested loops of 10^10 steps, a namespace string doubled in a loop. :class:`BoundedEnvironment`
adds limits, each failing with :class:`RenderLimit` ("template rendering exceeded …"):

* no value a template makes (an operator's result, a call's or a filter's result or argument, a
  namespace attribute, a captured block or macro output, a printed value) may weigh more than
  ``MAX_CHARS`` (characters of its strings plus items of its containers, counted through nested
  containers, so a list holding the same long string many times weighs what printing it would);
* ``*``, ``**``, ``+``, ``%`` and ``~`` are intercepted and checked *before* they compute
  (intercepted operators are also never folded at compile time), like the growing string methods
  and filters (``ljust``, ``replace``, ``join``, ``center``, ``indent``, ``format``, ...); ``%`` and
  ``format`` are weighed with their arguments, not only their widths;
* all values made in one render together weigh at most ``MAX_MADE_CHARS``;
* loops run at most ``MAX_LOOP_ITEMS`` items in all, and a render stops after ``SECONDS``
  (checked at every loop item, call and output chunk);
* the output is produced with ``generate()`` and stops past ``MAX_CHARS``.

The loop wrapper and the bounded ``~`` are reached as attributes of the environment
(``nodes.EnvironmentAttribute``, compiled to ``environment.<name>``), never as template names, so a
template cannot rebind them (``{% set promptlsp_bounded_loop = ... %}`` only makes a variable).
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import ItemsView, KeysView, ValuesView
from string import Formatter
from typing import Any, Callable, Iterable, Iterator

from jinja2 import nodes
from jinja2.runtime import Namespace, markup_join
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter
from jinja2.utils import _PassArg, generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

MAX_CHARS = 1_000_000  # one rendered template, and any one value made while rendering
MAX_MADE_CHARS = 20 * MAX_CHARS  # all values made during one render
MAX_INT_BITS = 100_000  # ~30 000 digits: far more than Python prints (4 300)
MAX_LOOP_ITEMS = 1_000_000
SECONDS = 2.0

# attributes of the environment (not template names: templates cannot rebind them)
_LOOP = "promptlsp_bounded_loop"  # every `{% for %}` iterates through it
_CONCAT = "promptlsp_bounded_concat"  # every `~` is a call of it


class RenderLimit(Exception):
    """Rendering went past a limit; the message names it."""


# --- the budget of the render in progress ----------------------------------------------------


class _Budget:
    def __init__(self) -> None:
        self.deadline = time.monotonic() + SECONDS
        self.made = 0
        self.items = 0
        self.ticks = 0

    def tick(self) -> None:
        self.ticks += 1  # the clock is read at every 16th tick: reading it costs more than a tick
        if not self.ticks & 15 and time.monotonic() > self.deadline:
            raise RenderLimit(f"template rendering exceeded {SECONDS:g} s")

    def item(self) -> None:
        self.items += 1
        if self.items > MAX_LOOP_ITEMS:
            raise RenderLimit(f"template rendering exceeded {MAX_LOOP_ITEMS} loop iterations")
        self.tick()

    def add(self, weight: int) -> None:
        self.made += weight
        if self.made > MAX_MADE_CHARS:
            raise RenderLimit(f"template rendering exceeded {MAX_MADE_CHARS} characters of values made")


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("promptlsp_render_budget", default=None)


def _tick() -> None:
    if (budget := _BUDGET.get()) is not None:
        budget.tick()


# --- weights ---------------------------------------------------------------------------------


def weight(value: Any, limit: int = MAX_CHARS) -> int:
    """Characters of the strings plus items of the containers in ``value``, counted through nested
    containers (and repeated references); the count stops soon after passing ``limit``."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)):
            total += len(item) + 1
            if total <= limit:
                stack.extend(item)
        elif isinstance(item, dict):
            total += len(item) + 1
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, int):
            total += item.bit_length() // 4 + 1
        elif isinstance(item, Namespace):  # prints as its attributes
            total += 1
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        else:
            total += 1
        if total > limit:
            return total
    return total


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float)) else type(value).__name__
    return text if len(text) <= 40 else text[:39] + "…"


def _refuse(what: str, limit: str) -> RenderLimit:
    return RenderLimit(f"template rendering exceeded {limit}: refused {what}")


def _check_value(value: Any, what: Callable[[], str]) -> int:
    """The weight of ``value``; refused when it is too heavy."""
    w = weight(value)
    if w > MAX_CHARS:
        raise _refuse(what(), f"{MAX_CHARS} characters")
    return w


def _made(value: Any, what: Callable[[], str]) -> Any:
    """``value``, new from an operator, a call or a filter: checked, and counted against the
    render's budget."""
    w = _check_value(value, what)
    if (budget := _BUDGET.get()) is not None:
        budget.add(w)
    return value


def _check_size(estimate: int, what: Callable[[], str]) -> None:
    if estimate > MAX_CHARS:
        raise _refuse(what(), f"{MAX_CHARS} characters")


# --- operators -------------------------------------------------------------------------------

_SEQUENCE = (str, bytes, list, tuple)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_binop(op: str, left: Any, right: Any) -> None:
    what = lambda: f"{_show(left)} {op} {_show(right)}"  # noqa: E731
    if op == "**" and _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
        if left.bit_length() * right > MAX_INT_BITS:
            raise _refuse(what(), f"{MAX_INT_BITS} bits")
    elif op == "*":
        if _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _refuse(what(), f"{MAX_INT_BITS} bits")
        elif isinstance(left, _SEQUENCE) and _is_int(right):
            _check_size(weight(left) * max(right, 0), what)
        elif isinstance(right, _SEQUENCE) and _is_int(left):
            _check_size(weight(right) * max(left, 0), what)
    elif op == "+" and isinstance(left, _SEQUENCE) and isinstance(right, _SEQUENCE):
        _check_size(weight(left) + weight(right), what)
    elif op == "%" and isinstance(left, str):
        _check_size(_percent_size(left, right), what)


def _percent_width(fmt: str, args: Any) -> int:
    """The largest width or precision in a printf-style format (``*`` takes one from ``args``)."""
    numbers = [int(n) for spec in _PERCENT_SPEC.finditer(fmt) for n in spec.groups() if n and n != "*"]
    if "*" in fmt:
        numbers += [a for a in (args if isinstance(args, tuple) else (args,)) if _is_int(a)]
    return max(numbers, default=0)


def _percent_size(fmt: str, args: Any) -> int:
    """A bound on ``fmt % args``: the format, each conversion's width, and what the arguments
    print. A tuple's items (or a single value) are used once each; a mapping's values once per
    ``%(key)`` that names them."""
    specs = _PERCENT_SPEC.findall(fmt)
    size = len(fmt) + len(specs) * _percent_width(fmt, args)
    if isinstance(args, dict):
        keys = re.findall(r"%\(([^)]*)\)", fmt)
        return size + sum(weight(args[key]) for key in keys if key in args)
    return size + weight(args)


# --- calls -----------------------------------------------------------------------------------

_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
_NESTED_FIELD = re.compile(r"\{[^{}]*\{")  # "{:{width}}": the width is an argument


def _estimate_call(owner: Any, name: str, args: tuple, kwargs: dict) -> int:
    """A bound on what ``owner.name(*args, **kwargs)`` makes, for the methods that grow."""
    ints = [a for a in (*args, *kwargs.values()) if _is_int(a)]
    if isinstance(owner, str):
        if name in ("ljust", "rjust", "center", "zfill"):
            return max(ints, default=0)
        if name == "expandtabs":
            return len(owner) + owner.count("\t") * max(ints, default=8)
        if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            count = (len(owner) + 1) if not args[0] else owner.count(args[0])
            return len(owner) + count * len(args[1])
        if name == "join" and args:
            items = args[0]
            return weight(items) + len(owner) * (len(items) if isinstance(items, (list, tuple, str)) else 1)
        if name in ("format", "format_map"):
            fields = "".join(_FORMAT_FIELD.findall(owner))
            widths = [int(n) for n in re.findall(r"\d+", fields)]
            if _NESTED_FIELD.search(owner):
                widths += ints + [v for a in args if isinstance(a, dict) for v in a.values() if _is_int(v)]
            if name == "format_map":
                args, kwargs = (), (args[0] if args and isinstance(args[0], dict) else {})
            return _format_arguments_size(owner, args, kwargs, max(widths, default=0))
        if name == "translate" and args and isinstance(args[0], dict):
            return len(owner) * max((weight(v) for v in args[0].values()), default=1)
    return 0


def _format_arguments_size(fmt: str, args: tuple, kwargs: dict, width: int) -> int:
    """A bound on ``fmt.format(*args, **kwargs)``: the format, and per replacement field the
    width plus the weight of the argument it names (a field repeated N times counts N times)."""
    fields: list[str] = []
    try:
        for _, field, spec, _ in Formatter().parse(fmt):
            if field is not None:
                fields.append(field)
                fields += [f for _, f, _, _ in Formatter().parse(spec or "") if f is not None]
    except ValueError:
        return 0  # a malformed format: the call itself fails
    size, auto = len(fmt) + len(fields) * width, 0
    whole = weight(args) + weight(kwargs)  # when a field cannot be resolved here
    for field in fields:
        if not field or field[0] in ".[":
            field, auto = f"{auto}{field}", auto + 1
        first = re.match(r"[^.\[]*", field).group()  # type: ignore[union-attr]
        if first.isdigit():
            value = args[int(first)] if int(first) < len(args) else None
        else:
            value = kwargs.get(first)
        size += weight(value) if value is not None and first == field else whole
        if size > MAX_CHARS:
            break
    return size


def _indent_size(value: Any, width: Any = 4, *_: Any, **__: Any) -> int:
    pad = width if _is_int(width) else len(str(width))
    return weight(value) + (str(value).count("\n") + 1) * pad


def _replace_size(value: Any, old: Any = "", new: Any = "", *_: Any, **__: Any) -> int:
    text = str(value)
    count = (len(text) + 1) if not str(old) else text.count(str(old))
    return len(text) + count * len(str(new))


_FILTER_ESTIMATES: dict[str, Callable[..., int]] = {
    # (value, *args, **kwargs) → a bound on the size of the filter's result
    "center": lambda value, width=80, *_, **__: width if _is_int(width) else 0,
    "indent": _indent_size,
    "replace": _replace_size,
    "join": lambda value, d="", *_, **__: weight(value) + len(str(d)) * (len(value) if hasattr(value, "__len__") else 1),
    "format": lambda value, *args, **kwargs: _percent_size(str(value), kwargs or args),  # jinja's: `value % args`
}


def _bounded_filter(name: str, fn: Callable) -> Callable:
    estimate = _FILTER_ESTIMATES.get(name)
    skip = 0 if _PassArg.from_obj(fn) is None else 1  # the environment or context comes first

    @functools.wraps(fn)  # keeps jinja's pass_context/pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        plain = args[skip:]
        for value in (*plain, *kwargs.values()):
            _check_value(value, lambda: f"an argument of the {name} filter")
        if estimate is not None and plain:
            _check_size(estimate(*plain, **kwargs), lambda: f"the {name} filter")
        return _made(fn(*args, **kwargs), lambda: f"the result of the {name} filter")

    return bounded


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    _check_size(n * max * 12, lambda: f"lipsum(n={n}, max={max})")
    return generate_lorem_ipsum(n, html, min, max)


class _BoundedNamespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        _check_value(value, lambda: f"namespace attribute {name!r}")
        super().__setitem__(name, value)


def _bounded_loop(iterable: Any) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: counted items, and the clock."""
    budget = _BUDGET.get()
    for item in iterable:
        if budget is not None:
            budget.item()
        yield item


def bounded_join(parts: Iterable[str]) -> str:
    """``"".join`` that stops past ``MAX_CHARS``: macro output, ``{% set %}`` and ``{% filter %}`` blocks."""
    kept, total = [], 0
    for part in parts:
        total += len(part)
        if total > MAX_CHARS:
            raise RenderLimit(f"template rendering exceeded {MAX_CHARS} characters in a block or macro")
        kept.append(part)
    return "".join(kept)


def _bounded_concat(context: Any, *parts: Any) -> str:
    """Every ``a ~ b ~ …`` is a call of this: the parts as text, their lengths summed and
    refused past ``MAX_CHARS`` before they are joined (as jinja joins them otherwise)."""
    _tick()
    autoescape = context.eval_ctx.autoescape
    texts = [part if isinstance(part, str) else str(part) for part in parts]
    total = sum(map(len, texts))
    if total > MAX_CHARS:
        raise _refuse(f"~ of {len(texts)} parts, {total} characters", f"{MAX_CHARS} characters")
    return _made(markup_join(texts) if autoescape else "".join(texts), lambda: "the result of ~")


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}`` passes here before it is turned into text."""
    _tick()
    if weight(value) > MAX_CHARS:
        raise RenderLimit(f"template rendering exceeded {MAX_CHARS} characters: a printed value is too large")
    return value


# --- the environment -------------------------------------------------------------------------


class BoundedEnvironment(SandboxedEnvironment):
    """A sandbox whose templates can only make bounded values in bounded time (see the module)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.concat = bounded_join  # type: ignore[assignment]  # an instance attribute: not bound
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()}
        self.globals.update(namespace=_BoundedNamespace, lipsum=_bounded_lipsum)
        setattr(self, _LOOP, _bounded_loop)  # reached as environment.<name> (nodes.EnvironmentAttribute)
        setattr(self, _CONCAT, _bounded_concat)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        _check_binop(operator_, left, right)
        return _made(self.binop_table[operator_](left, right), lambda: f"{_show(left)} {operator_} {_show(right)}")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (jinja's names)
        if __obj is _bounded_loop:
            return _bounded_loop(*args)
        if __obj is _bounded_concat:
            return _bounded_concat(__context, *args)
        _tick()
        name = getattr(__obj, "__name__", type(__obj).__name__)
        for value in (*args, *kwargs.values()):
            _check_value(value, lambda: f"an argument of {name}")
        # the sandbox hands out str.format wrapped (functools.update_wrapper): look through it
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        _check_size(_estimate_call(owner, name, args, kwargs), lambda: f"{name}(…)")
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(owner, (list, dict, set)) and len(owner) > MAX_CHARS:  # append, extend, update …
            raise _refuse(f"{name}(…): the {type(owner).__name__} grew to {len(owner)} items", f"{MAX_CHARS} items")
        return _made(result, lambda: f"the result of {name}")

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _Bound().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree


class _Bound(NodeTransformer):
    """Routes every ``{% for %}`` through the loop wrapper and every ``~`` through the bounded
    join, both reached through the environment (a name a template cannot rebind)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call_environment(_LOOP, [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call_environment(_CONCAT, node.nodes, node.lineno)


def _call_environment(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name, lineno=lineno), list(args), [], None, None, lineno=lineno)


def render_bounded(template: Any, values: dict[str, Any]) -> str:
    """Render a template of a :class:`BoundedEnvironment` within the limits."""
    token = _BUDGET.set(_Budget())
    try:
        parts, total = [], 0
        for part in template.generate(**values):
            total += len(part)
            if total > MAX_CHARS:
                raise RenderLimit(f"template rendering exceeded {MAX_CHARS} characters of output")
            parts.append(part)  # (no clock here: chunks come from loops, calls and values, which tick)
        return "".join(parts)
    finally:
        _BUDGET.reset(token)

