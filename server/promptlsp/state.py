"""Where promptlsp keeps a workspace's state: ``<root>/.promptlsp/`` beside the prompt files.

The CLI and the language server both read and write here, so they share one cache and one run
history (an optimization started in the terminal shows its critiques in the editor). What is
not a workspace's — the embedded model's weights, the server's compiled start-up code — lives
in the user's cache folder (:func:`user_cache_dir`).
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR = ".promptlsp"


def cache_path(root: Path) -> Path:
    """The engine's SQLite answer cache."""
    return Path(root) / STATE_DIR / "cache.sqlite"


def runs_path(root: Path) -> Path:
    """The SQLite run store."""
    return Path(root) / STATE_DIR / "runs.sqlite"


def user_cache_dir() -> Path:
    """``$PROMPTLSP_CACHE_DIR``, else ``$XDG_CACHE_HOME/promptlsp``, else ``~/.cache/promptlsp``."""
    explicit = os.environ.get("PROMPTLSP_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec says to ignore a relative value
        return Path(xdg) / "promptlsp"
    return Path.home() / ".cache" / "promptlsp"
