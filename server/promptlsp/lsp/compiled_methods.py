"""The server's start without recompiling lsprotocol's generated methods.

lsprotocol declares ~570 attrs classes. For each, attrs writes the source of ``__init__``,
``__eq__``, ``__repr__``, … and ``compile()``s it — at every import, since no ``.pyc`` holds
generated code: ~0.4 s of the ~1.2 s a server needed to answer ``initialize`` on a slow 2-core
host (60% of ``import lsprotocol.types``). While the server's modules are imported,
:func:`kept_compiled` answers those ``compile()`` calls from a file in the user's cache folder
and adds what it had to compile to it; afterwards attrs compiles as it always does.

The file is ``marshal`` data, the format of a ``.pyc``, headed by the interpreter's bytecode
magic number (another interpreter's file is ignored). Each code object is keyed by exactly what
it is compiled from — the source, the file name, the mode and the compiler flags attrs' module
passes on — so an entry can only ever stand for the code ``compile()`` would return: a new attrs
or lsprotocol generates other sources, which miss and are compiled as before. When more than a
tenth missed, the file is rewritten with the entries this start used (it never grows across
versions); the ~30 methods that miss at every start — attrs salts a frozen class's ``__hash__``
with a string hash, which differs per process — are compiled each time, as before. An
unreadable, truncated or foreign file is ignored and replaced; a folder that cannot be written
leaves the start as slow as before. Nothing here can stop a server from starting. Trust is that
of ``__pycache__``: who can write the cache folder can change the code the user runs either way.
"""

from __future__ import annotations

import __future__
import builtins
import contextlib
import importlib.util
import logging
import marshal
import os
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..state import user_cache_dir

log = logging.getLogger(__name__)

_FORMAT = b"promptlsp compiled methods 1\n"
_HEADER = _FORMAT + importlib.util.MAGIC_NUMBER + sys.implementation.cache_tag.encode() + b"\n"
_GENERATED = "<attrs generated "  # attrs' file names for the code it generates
_MAX_BYTES = 32 * 1024 * 1024  # a file larger than this is not read (lsprotocol's is ~2 MB)
# The file is rewritten when more than 1 in this many methods missed: a new attrs, lsprotocol
# or promptlsp (not the few frozen classes whose generated __hash__ holds a per-process salt).
_REWRITE_AFTER = 10
_Key = tuple[str, str, str, int]  # (source, file name, mode, compiler flags)


def default_path() -> Path:
    """``<user cache folder>/compiled-methods/<interpreter>.marshal``."""
    return user_cache_dir() / "compiled-methods" / f"{sys.implementation.cache_tag}.marshal"


@dataclass
class Counts:
    """What one :func:`kept_compiled` block did."""

    hits: int = 0
    misses: int = 0
    loaded: int = 0  # entries the file held
    written: bool = False


def _load(path: Path) -> dict[_Key, types.CodeType]:
    """The file's entries; nothing when it is missing, too large, foreign or damaged."""
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_BYTES + 1)
        if len(data) > _MAX_BYTES or not data.startswith(_HEADER):
            return {}
        entries = marshal.loads(data[len(_HEADER):])
    except (OSError, ValueError, EOFError, TypeError) as exc:
        log.debug("compiled methods not read from %s: %s", path, exc)
        return {}
    if not isinstance(entries, dict):
        return {}
    return {key: code for key, code in entries.items()
            if type(code) is types.CodeType and type(key) is tuple and len(key) == 4}


def _save(path: Path, entries: dict[_Key, types.CodeType]) -> bool:
    """Replace the file with ``entries`` at once (a reader sees the old file or the new one)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_HEADER + marshal.dumps(entries))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except (OSError, ValueError) as exc:
        log.debug("compiled methods not written to %s: %s", path, exc)
        return False
    return True


def _future_flags(module: types.ModuleType) -> int:
    """The ``from __future__`` flags a ``compile()`` called from ``module`` inherits."""
    flags = 0
    for value in vars(module).values():
        if isinstance(value, __future__._Feature):
            flags |= value.compiler_flag
    return flags


def _as_called_from(inherited: int, source: Any, filename: Any, mode: Any, flags: int = 0,
                    dont_inherit: bool = False, *rest: Any, **options: Any) -> Any:
    """``compile(...)`` as if called from a module whose future flags are ``inherited``."""
    if not dont_inherit:
        flags, dont_inherit = flags | inherited, True
    return builtins.compile(source, filename, mode, flags, dont_inherit, *rest, **options)


@contextlib.contextmanager
def kept_compiled(path: Path | None = None) -> Iterator[Counts]:
    """While the block runs, attrs' ``compile()`` of generated methods answers from the file at
    ``path`` (default :func:`default_path`); when it ends and more than a tenth of them missed,
    the file is rewritten with what the block used."""
    counts = Counts()
    try:
        import attr._make as attrs_make
    except ImportError:  # attrs is gone or moved: nothing to speed up
        yield counts
        return
    if "compile" in vars(attrs_make):  # someone else's hook (or ours, nested): leave it alone
        yield counts
        return
    if path is None:
        try:
            path = default_path()
        except (RuntimeError, KeyError, OSError) as exc:  # no home folder to find the cache in
            log.debug("compiled methods not kept: %s", exc)
            yield counts
            return
    known = _load(path)
    counts.loaded = len(known)
    used: dict[_Key, types.CodeType] = {}  # what this block compiled or found: the next file
    inherited = _future_flags(attrs_make)

    def compile(source: Any, filename: Any, mode: Any, *rest: Any, **options: Any) -> Any:
        if rest or options or type(source) is not str or type(filename) is not str or mode != "exec" \
                or not filename.startswith(_GENERATED):
            return _as_called_from(inherited, source, filename, mode, *rest, **options)
        key = (source, filename, mode, inherited)
        code = known.get(key)
        if code is None:
            code = builtins.compile(source, filename, mode, inherited, True)
            counts.misses += 1
        else:
            counts.hits += 1
        used[key] = code
        return code

    attrs_make.compile = compile  # a module global shadows the builtin for attrs alone
    try:
        yield counts
    finally:
        if vars(attrs_make).get("compile") is compile:
            del attrs_make.compile
        if counts.misses * _REWRITE_AFTER > len(used):
            counts.written = _save(path, used)
