"""The variables a parsed jinja2 template reads, found by walking its syntax tree only.

``jinja2.meta.find_undeclared_variables`` runs the code generator, which folds constants:
``{{ 7**(7**9) }}`` or ``{{ 'a' * 10**9 }}`` is *computed* just to list the variables. This
module gives the same answer without evaluating or compiling anything. It follows jinja2's own
symbol tracking (``jinja2.idtracking`` and the frames its code generator opens):

* a frame is the whole template, a ``{% for %}`` body (its ``else`` and its ``if`` filter each
  get one of their own), a macro or call block, a ``{% with %}``, a filter block, a block
  ``{% set %}``, or a ``{% block %}`` (which does not see the template's names);
* a frame is analysed whole before the frames inside it, which therefore see every name the
  enclosing frame assigns, wherever it assigns it;
* a name loaded in a frame before any assignment in it, and not known to an enclosing frame,
  comes from the render context: it is undeclared;
* a name assigned in only some branches of an ``{% if %}`` may still come from the context, so
  it counts as undeclared too (as in jinja2).

Expressions are walked with an explicit stack, so ``{{ a + a + … }}`` with 10,000 terms (a
left-nested tree that deep) costs no recursion. Statements recurse once per nesting level of
block tags, which callers bound before walking (see ``template.MAX_BLOCK_NESTING``).
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from jinja2 import nodes

_RESOLVE = "resolve"
_PARAM = "param"
_ALIAS = "alias"
_UNDEFINED = "undefined"


class _Symbols:
    """jinja2.idtracking.Symbols, reduced to what decides "undeclared"."""

    __slots__ = ("parent", "loads", "stores")

    def __init__(self, parent: "_Symbols | None" = None) -> None:
        self.parent = parent
        self.loads: dict[str, tuple[str, str]] = {}  # name -> (how it is loaded, name); its keys are the refs
        self.stores: set[str] = set()

    def known(self, name: str) -> bool:
        symbols: _Symbols | None = self
        while symbols is not None:
            if name in symbols.loads:
                return True
            symbols = symbols.parent
        return False

    def _outer_known(self, name: str) -> bool:
        return self.parent is not None and self.parent.known(name)

    def copy(self) -> "_Symbols":
        other = _Symbols(self.parent)
        other.loads = dict(self.loads)
        other.stores = set(self.stores)
        return other

    def store(self, name: str) -> None:
        self.stores.add(name)
        if name not in self.loads:
            self.loads[name] = (_ALIAS if self._outer_known(name) else _UNDEFINED, name)

    def declare_parameter(self, name: str) -> None:
        self.stores.add(name)
        self.loads[name] = (_PARAM, name)

    def load(self, name: str) -> None:
        if not self.known(name):
            self.loads[name] = (_RESOLVE, name)

    def branch_update(self, branches: list["_Symbols"]) -> None:
        stores: set[str] = set()
        for branch in branches:
            stores.update(branch.stores)
        stores.difference_update(self.stores)
        for branch in branches:
            self.loads.update(branch.loads)
            self.stores.update(branch.stores)
        for name in stores:
            self.loads[name] = (_ALIAS if self._outer_known(name) else _RESOLVE, name)

    def resolved(self) -> Iterable[str]:
        return (name for action, name in self.loads.values() if action == _RESOLVE)


class _Walker:
    def __init__(self) -> None:
        # frames still to analyse: (the node that opens it, which part, the enclosing frame)
        self.pending: deque[tuple[nodes.Node, str, _Symbols | None]] = deque()
        self.frame_symbols: _Symbols | None = None
        self.undeclared: set[str] = set()

    def run(self, template: nodes.Template) -> set[str]:
        self.pending.append((template, "", None))
        while self.pending:
            self.frame(*self.pending.popleft())
        return self.undeclared

    # -- one frame (jinja2's RootVisitor) ---------------------------------------------------
    def frame(self, owner: nodes.Node, part: str, parent: _Symbols | None) -> None:
        symbols = self.frame_symbols = _Symbols(parent)
        if isinstance(owner, nodes.For):
            if part == "body":
                symbols.declare_parameter("loop")
                self.expression(owner.target, symbols, param=True)
                self.statements(owner.body, symbols)
            elif part == "else":
                self.statements(owner.else_, symbols)
            else:  # the loop's `if` filter
                self.expression(owner.target, symbols, param=True)
                self.expression(owner.test, symbols)
        elif isinstance(owner, (nodes.Macro, nodes.CallBlock)):
            for special in ("caller", "kwargs", "varargs"):  # jinja2 supplies them when read
                symbols.declare_parameter(special)
            for arg in owner.args:
                self.expression(arg, symbols, param=True)
            for default in owner.defaults:
                self.expression(default, symbols)
            self.statements(owner.body, symbols)
        elif isinstance(owner, nodes.With):
            for target in owner.targets:
                self.expression(target, symbols, param=True)
            self.statements(owner.body, symbols)
        elif isinstance(owner, nodes.FilterBlock):
            self.statements(owner.body, symbols)
            self.expression(owner.filter, symbols)
        elif isinstance(owner, nodes.AssignBlock):
            self.statements(owner.body, symbols)
            if owner.filter is not None:
                self.expression(owner.filter, symbols)
        elif isinstance(owner, nodes.Block):
            symbols.declare_parameter("self")
            symbols.declare_parameter("super")
            self.statements(owner.body, symbols)
        else:  # Template, Scope, OverlayScope
            self.statements(owner.body, symbols)
        self.undeclared.update(symbols.resolved())

    def later(self, owner: nodes.Node, part: str = "") -> None:
        self.pending.append((owner, part, self.frame_symbols))

    # -- statements (jinja2's FrameSymbolVisitor) -------------------------------------------
    def statements(self, body: Iterable[nodes.Node], symbols: _Symbols) -> None:
        for node in body:
            if isinstance(node, (nodes.Stmt, nodes.Template)):
                self.statement(node, symbols)
            else:
                self.expression(node, symbols)

    def statement(self, node: nodes.Node, symbols: _Symbols) -> None:
        if isinstance(node, nodes.If):
            self.expression(node.test, symbols)
            branches = []
            for body in (node.body, node.elif_, node.else_ or ()):
                branch = symbols.copy()
                self.statements(body, branch)
                branches.append(branch)
            symbols.branch_update(branches)
        elif isinstance(node, nodes.Assign):
            self.expression(node.node, symbols)
            self.expression(node.target, symbols)
        elif isinstance(node, nodes.For):
            self.expression(node.iter, symbols)
            self.later(node, "body")
            if node.else_:
                self.later(node, "else")
            if node.test is not None:
                self.later(node, "test")
        elif isinstance(node, nodes.Macro):
            symbols.store(node.name)
            self.later(node)
        elif isinstance(node, nodes.CallBlock):
            self.expression(node.call, symbols)
            self.later(node)
        elif isinstance(node, nodes.FilterBlock):
            self.expression(node.filter, symbols)
            self.later(node)
        elif isinstance(node, nodes.With):
            for value in node.values:
                self.expression(value, symbols)
            self.later(node)
        elif isinstance(node, nodes.AssignBlock):
            self.expression(node.target, symbols)
            self.later(node)
        elif isinstance(node, nodes.Block):
            self.pending.append((node, "", None))  # a block sees none of the template's names
        elif isinstance(node, nodes.Scope):
            self.later(node)
        elif isinstance(node, nodes.OverlayScope):
            self.expression(node.context, symbols)
            self.later(node)
        elif isinstance(node, nodes.Import):
            self.expression(node.template, symbols)
            symbols.store(node.target)
        elif isinstance(node, nodes.FromImport):
            self.expression(node.template, symbols)
            for name in node.names:
                symbols.store(name[1] if isinstance(name, tuple) else name)
        else:  # Output, ExprStmt, Include, Extends, autoescape blocks, …: every child in order
            self.statements(node.iter_child_nodes(), symbols)

    # -- expressions: no recursion ----------------------------------------------------------
    def expression(self, node: nodes.Node, symbols: _Symbols, param: bool = False) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, nodes.Name):
                if param or current.ctx == "param":
                    symbols.declare_parameter(current.name)
                elif current.ctx == "store":
                    symbols.store(current.name)
                elif current.ctx == "load":
                    symbols.load(current.name)
            elif isinstance(current, nodes.NSRef):
                symbols.load(current.name)
            else:
                children = list(current.iter_child_nodes())
                children.reverse()
                stack.extend(children)


def undeclared_names(template: nodes.Template) -> set[str]:
    """Names ``template`` reads from its render context (jinja2's globals included)."""
    return _Walker().run(template)
