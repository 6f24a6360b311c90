"""Replace a prompt file atomically, and sweep up the temporary files of writers that died.

The new text goes to a temporary file beside the target, then ``os.replace`` swaps it in, so a
reader sees the old file or the new one, never half of it. A writer killed between the two
(``kill -9``, a power cut) leaves its temporary file behind; the names are ours —
``.NAME.promptlsp.HOST.PID.RANDOM.tmp`` — so the next write of NAME recognises and removes them:
those of a dead writer on this host, and any older than :data:`STALE_AFTER_S` (a write holds its
temporary file for milliseconds, so an old one is abandoned even if its pid has been reused).
A concurrent writer's fresh file is left alone.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import time
from pathlib import Path

from ..document import read_text
from .common import CommandError

STALE_AFTER_S = 60.0
_MARK = "promptlsp"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def temp_name(path: Path) -> str:
    """A fresh temporary name for writing ``path``."""
    return f".{path.name}.{_MARK}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _pattern(path: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(path.name)}\.{_MARK}\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp")


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, owned by someone else
        return True
    return True


def stale_temp_files(path: Path, now: float | None = None) -> list[Path]:
    """Our temporary files for ``path`` whose writer is gone (see the module docstring)."""
    pattern, host = _pattern(path), _host()
    now = time.time() if now is None else now
    stale = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        try:
            age = now - entry.stat().st_mtime
        except OSError:  # already gone
            continue
        dead = match["host"] == host and not _pid_alive(int(match["pid"]))
        if dead or age > STALE_AFTER_S:
            stale.append(entry)
    return stale


def remove_stale_temp_files(path: Path) -> None:
    for entry in stale_temp_files(path):
        try:
            entry.unlink()
        except OSError:  # another writer removed it first, or it is not ours to remove
            pass


def write_atomically(path: Path, original: str, new_text: str) -> None:
    """Replace ``path`` with ``new_text`` unless it changed since it was read as ``original``."""
    remove_stale_temp_files(path)
    current = read_text(path)
    if current != original:
        raise CommandError(f"{path} changed during the run; not written (rerun to optimize the new version)")
    tmp = path.parent / temp_name(path)
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as handle:
            handle.write(new_text)
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))  # keep the file's permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
