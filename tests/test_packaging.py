"""What the wheel ships imports only what the wheel declares.

The packages are found the way setuptools finds them from pyproject.toml; every import of a
third-party module in them — at the top or inside a function, since any of them may run — must
be a declared dependency (``[project] dependencies`` or the ``local`` extra), unless it is an
optional import guarded by ``except ImportError``. The test helpers (``promptlsp.testing``: a
loopback model server on aiohttp) are not shipped.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import setuptools
import tomlkit

ROOT = Path(__file__).resolve().parents[1]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(project: dict) -> set[str]:
    specs = [*project["dependencies"], *project["optional-dependencies"]["local"]]
    return {_canonical(re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0]) for spec in specs}


def _shipped_modules() -> list[Path]:
    config = tomlkit.parse((ROOT / "pyproject.toml").read_text()).unwrap()
    find = config["tool"]["setuptools"]["packages"]["find"]
    where = ROOT / find["where"][0]
    packages = setuptools.find_packages(where=str(where), exclude=find.get("exclude", ()))
    return [file for package in packages for file in (where / package.replace(".", "/")).glob("*.py")]


def _optional(tree: ast.Module) -> set[int]:
    """Line numbers of imports inside a ``try`` that catches ImportError."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            lines.update(n.lineno for stmt in node.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return lines


def third_party_imports(files: list[Path]) -> dict[str, set[str]]:
    """Top-level module name -> the files importing it (stdlib, promptlsp and optional imports left out)."""
    found: dict[str, set[str]] = {}
    for file in files:
        tree = ast.parse(file.read_text(encoding="utf-8"))
        optional = _optional(tree)
        for node in ast.walk(tree):
            if node.__class__ not in (ast.Import, ast.ImportFrom) or node.lineno in optional:
                continue
            if isinstance(node, ast.ImportFrom):
                names = [] if node.level else [node.module or ""]
            else:
                names = [alias.name for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "promptlsp":
                    found.setdefault(top, set()).add(file.as_posix())
    return found


def test_the_test_helpers_are_not_shipped() -> None:
    shipped = {file.relative_to(ROOT).as_posix() for file in _shipped_modules()}
    assert "server/promptlsp/runs/store.py" in shipped and "server/promptlsp/lsp/server.py" in shipped
    assert not [f for f in shipped if "/testing/" in f]


def test_every_third_party_import_of_the_wheel_is_a_declared_dependency() -> None:
    project = tomlkit.parse((ROOT / "pyproject.toml").read_text()).unwrap()["project"]
    declared = _declared(project)
    distributions = importlib.metadata.packages_distributions()
    imports = third_party_imports(_shipped_modules())
    assert {"litellm", "pygls", "cattrs"} <= set(imports)  # the scan sees the real imports
    undeclared = {
        module: sorted(Path(f).relative_to(ROOT).as_posix() for f in files) for module, files in imports.items()
        if not {_canonical(d) for d in distributions.get(module, [module])} & declared
    }
    assert undeclared == {}


def test_the_scan_sees_lazy_imports_and_skips_optional_ones(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nfrom . import sibling\n"
        "try:\n    import tomli\nexcept ImportError:\n    tomli = None\n"
        "def f():\n    from aiohttp import web\n    import yaml.loader\n"
    )
    assert {k: len(v) for k, v in third_party_imports([module]).items()} == {"aiohttp": 1, "yaml": 1}
