"""No module of ``server/promptlsp`` needs, while it is being imported, a module that needs it back.

The graph is read statically (see ``import_graph.py``): imports that run at import time only, so
a lazy import inside a function (the CLI's subcommands, the optimizers behind PEP 562 names) is
allowed to point back up.
"""

from __future__ import annotations

from pathlib import Path

from import_graph import a_path, cycles, graph

PACKAGE = Path(__file__).resolve().parents[1] / "server" / "promptlsp"


def test_no_import_cycles_among_promptlsp_modules() -> None:
    edges = graph(PACKAGE, "promptlsp")
    # The graph is the real one (a parser that saw no import would find no cycle either).
    assert "promptlsp.optimize.events" in edges["promptlsp.runs.store"]
    assert "promptlsp.cli.common" in edges["promptlsp.cli.check"]
    loops = [" -> ".join(a_path(edges, c)) for c in cycles(edges)]
    assert loops == [], "import cycles:\n" + "\n".join(loops)


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_cycle_through_relative_and_absolute_imports_is_found(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from .sub import b\n",
        "sub/__init__.py": "",
        "sub/b.py": "try:\n    from ..c import X\nexcept ImportError:\n    pass\n",
        "c.py": "import pkg.a\nX = 1\n",
    })
    edges = graph(pkg, "pkg")
    assert edges["pkg.a"] == {"pkg.sub.b"} and edges["pkg.sub.b"] == {"pkg.c"} and edges["pkg.c"] == {"pkg.a"}
    assert cycles(edges) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    assert a_path(edges, ["pkg.a", "pkg.c", "pkg.sub.b"]) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]


def test_imports_that_do_not_run_at_import_time_are_not_edges(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {
        "__init__.py": "from .a import A\n",  # a package re-exporting its module: not a loop
        "a.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .b import B\n"
            "class A:\n    from . import c\n"  # a class body runs at import time: an edge
            "def f():\n    from .b import B\n"
        ),
        "b.py": "from .a import A\n",
        "c.py": "",
    })
    edges = graph(pkg, "pkg")
    assert edges == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.c"}, "pkg.b": {"pkg.a"}, "pkg.c": set()}
    assert cycles(edges) == []
