"""The import graph of a package, read statically (ast), and its cycles.

Only imports that run when a module is imported count: those at the module's top level, in
top-level ``if``/``try``/``with`` blocks and in class bodies; not those inside functions (run when
called) nor under ``if TYPE_CHECKING:`` (never run). ``from P import N`` is an edge to the module
``P.N`` when N is a submodule of P, else to ``P`` itself (its ``__init__`` must be done to give N).
A parent package run before its submodule is not an edge: Python always finishes importing it
first, so it cannot close a loop the way two modules needing each other's names can.
"""

from __future__ import annotations

import ast
from pathlib import Path


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (whose folder is ``root``): dotted name -> file."""
    found: dict[str, Path] = {}
    for file in sorted(root.rglob("*.py")):
        parts = list(file.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([package, *parts])] = file
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_nodes(body: list[ast.stmt]):
    """The import statements of ``body`` that run when the module is imported."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_time_nodes(node.body)
            yield from _import_time_nodes(node.orelse)
        elif isinstance(node, ast.ClassDef):
            yield from _import_time_nodes(node.body)
        else:  # try/except/finally, with, for, while, match: their blocks run at import time
            for field in ("body", "orelse", "finalbody"):
                yield from _import_time_nodes(getattr(node, field, None) or [])
            for clause in [*getattr(node, "handlers", ()), *getattr(node, "cases", ())]:
                yield from _import_time_nodes(clause.body)


def imports(name: str, file: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that module ``name`` imports at import time."""
    is_package = file.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]  # the package relative imports start from
    found: set[str] = set()
    for node in _import_time_nodes(ast.parse(file.read_text(encoding="utf-8"), str(file)).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
            continue
        if node.level:
            base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            if sub in modules:
                found.add(sub)
            elif target in modules:
                found.add(target)
    found.discard(name)
    return found


def graph(root: Path, package: str) -> dict[str, set[str]]:
    modules = module_names(root, package)
    return {name: imports(name, file, modules) for name, file in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative, so a deep graph cannot hit the recursion limit
        nonlocal counter
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def a_path(edges: dict[str, set[str]], component: list[str]) -> list[str]:
    """The shortest loop from ``component[0]`` back to itself, to show in a failure."""
    members, start = set(component), component[0]
    parents: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(edges[node] & members):
            if child == start:
                back = [node]
                while back[-1] != start:
                    back.append(parents[back[-1]])
                return [*reversed(back), start]
            if child not in parents:
                parents[child] = node
                queue.append(child)
    return component
