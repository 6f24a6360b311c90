"""``make_optimizer``: the optimizer a prompt file's [optimize] settings ask for."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..document.model import PromptFile
from ..engine.session import Session
from .base import Emit, Optimizer
from .critic import Critic
from .gradsum import GradSum
from .tgd import TGD

METHODS: dict[str, type[Optimizer]] = {"gradsum": GradSum, "tgd": TGD}
# Not an optimizer method of the file format: evaluation plus critiques, recorded as a run.
CRITIC = Critic


def make_optimizer(prompt_file: PromptFile, session: Session, *, method: str | None = None,
                   emit: Emit | None = None, run_id: str | None = None, **overrides: Any) -> Optimizer:
    """An optimizer for ``prompt_file``; ``overrides`` replace [optimize] settings (e.g. iterations=2)."""
    settings = prompt_file.optimize
    clean = {k: v for k, v in overrides.items() if v is not None}
    if method and method != "critique":
        clean["method"] = method
    if clean:
        settings = replace(settings, **clean)
    cls = Critic if method == "critique" else METHODS.get(settings.method)
    if cls is None:
        raise ValueError(f"unknown method {settings.method!r}; choose one of: {', '.join(METHODS)}")
    return cls(prompt_file, session, settings=settings, emit=emit, run_id=run_id)
