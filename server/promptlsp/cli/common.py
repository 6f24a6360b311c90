"""What the eval and optimize commands share: loading a valid prompt file and the engine."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..document import Analysis, analyze, find_root, read_text
from ..state import cache_path
from .check import print_diagnostics, records, unreadable


class CommandError(Exception):
    """A problem the user must fix; printed as one line, exit status 2."""


@dataclass
class Loaded:
    path: Path
    root: Path
    text: str
    analysis: Analysis


def load(name: str, root: str | None) -> Loaded:
    path = Path(name)
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {name}: {unreadable(exc)}") from exc
    workspace = Path(root) if root else find_root(path)
    analysis = analyze(text, path, workspace)
    if analysis.prompt is None:
        print_diagnostics(name, records(analysis), sys.stderr)
        raise CommandError(f"{name} has errors; fix them first (promptlsp check {name})")
    return Loaded(path, workspace, text, analysis)


def make_engine(root: Path):
    """The engine of a command, with the workspace's response cache. ``--no-cache`` is a session
    setting (``engine.session(use_cache=False)``): it skips cache reads but still writes, so a
    forced-fresh run refreshes the cache for later runs."""
    from ..engine import Engine

    return Engine(cache_path=cache_path(root))
