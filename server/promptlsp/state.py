"""Where promptlsp keeps a workspace's state: ``<root>/.promptlsp/`` beside the prompt files.

The CLI and the language server both read and write here, so they share one cache and one run
history (an optimization started in the terminal shows its critiques in the editor).
"""

from __future__ import annotations

from pathlib import Path

STATE_DIR = ".promptlsp"


def cache_path(root: Path) -> Path:
    """The engine's SQLite answer cache."""
    return Path(root) / STATE_DIR / "cache.sqlite"


def runs_path(root: Path) -> Path:
    """The SQLite run store."""
    return Path(root) / STATE_DIR / "runs.sqlite"
