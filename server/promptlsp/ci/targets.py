"""What ``promptlsp eval PATH...`` and ``check PATH...`` run on: files, folders (every
``*.prompt.toml`` below them) and glob patterns, each file once, in a stable order."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = ".prompt.toml"
_MAGIC = frozenset("*?[")


@dataclass
class Targets:
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # arguments that name no prompt file, in words


def _in_folder(folder: Path) -> list[Path]:
    """The prompt files below ``folder``, hidden folders (``.git``, ``.venv``…) left out."""
    found = []
    for path in folder.rglob(f"*{SUFFIX}"):
        parts = path.relative_to(folder).parts
        if path.is_file() and not any(p.startswith(".") for p in parts[:-1]):
            found.append(path)
    return sorted(found)


def display_name(path: Path, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (default: the working folder) when below it, in ``/`` form."""
    base = (base or Path.cwd()).resolve()
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def expand(arguments: list[str]) -> Targets:
    """Files as given (any name: the user chose them), folders searched recursively, globs
    (``**`` included) expanded; duplicates dropped, first mention wins."""
    out = Targets()
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.files.append(path)

    for arg in arguments:
        path = Path(arg)
        if path.is_dir():
            found = _in_folder(path)
            if not found:
                out.problems.append(f"{arg}: no {SUFFIX} files in this folder")
            for f in found:
                add(f)
        elif any(c in _MAGIC for c in arg) and not path.exists():
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=True))
            files = [m for m in matches if m.is_file()]
            for folder in (m for m in matches if m.is_dir()):
                files += _in_folder(folder)
            if not files:
                out.problems.append(f"{arg}: matches no prompt files")
            for f in files:
                add(f)
        else:
            add(path)  # a missing file is reported when it is read
    return out
