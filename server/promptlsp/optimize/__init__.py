"""Prompt optimizers — GRAD-SUM and TGD — over the engine, as a library.

``make_optimizer(prompt_file, session, method=..., emit=...)`` builds one; ``await opt.run()``
runs it to the end and returns the RunFinished event; every step is emitted as a typed event
(events.py) for the CLI, the language server and the run store.

The names below are loaded on first use (PEP 562): the run store and the language server
import ``optimize.events`` and ``optimize.candidates`` at start-up, and must not pay for the
optimizers and the engine's session behind them until a run starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_exports

_EXPORTS = {
    "Emit": "base", "Optimizer": "base",
    "Event": "events", "PromptText": "events", "RunFinished": "events",
    "Critic": "critic", "GradSum": "gradsum", "TGD": "tgd",
    "CRITIC": "factory", "METHODS": "factory", "make_optimizer": "factory",
}
__all__ = ["Critic", "Event", "GradSum", "METHODS", "Optimizer", "PromptText", "RunFinished", "TGD", "make_optimizer"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from .base import Emit, Optimizer
    from .events import Event, PromptText, RunFinished
    from .factory import CRITIC, METHODS, make_optimizer
    from .critic import Critic
    from .gradsum import GradSum
    from .tgd import TGD
