"""What a feature module gives the factory: its handlers, each an LSP method (or a command),
its registration options and the function serving it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol


@dataclass(frozen=True)
class Handler:
    method: str
    function: Callable[..., Any]
    options: Any = None
    command: bool = False  # a workspace/executeCommand command, not an LSP method


class Feature(Protocol):
    def handlers(self) -> Iterable[Handler]: ...
