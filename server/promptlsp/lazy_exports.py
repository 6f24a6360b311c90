"""Package exports loaded on first use (PEP 562): ``from promptlsp.engine import Engine`` costs
only the module that defines ``Engine`` — so ``promptlsp check`` and a cached rerun never pay
for the session, the cache or the optimizers they do not use."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` for ``exports`` (name -> submodule); each
    name, once loaded, is bound in the package's ``namespace`` (later look-ups skip the hook)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
