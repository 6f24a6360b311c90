"""Whether the process that recorded a run is still alive (same host only).

A run's row keeps the pid and host of its recording process and, on Linux, a *token*: the boot id
and the process's start time, which tell a reused pid from the original process. A run whose
row says ``running`` while its process is gone was interrupted (``kill -9``, a crash, a reboot).
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Recorder:
    """The identity of a recording process, as written into ``runs``."""

    pid: int
    host: str
    token: str | None

    @classmethod
    def current(cls) -> Recorder:
        pid = os.getpid()
        return cls(pid, socket.gethostname(), proc_token(pid))


def proc_token(pid: int) -> str | None:
    """Boot id + start time of a process (Linux): tells a reused pid from the original process."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, starttime
    except (OSError, IndexError):
        return None


def pid_exists(pid: int) -> bool:
    if sys.platform == "win32":  # there os.kill(pid, 0) is no probe: it sends CTRL_C_EVENT
        return _pid_exists_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return True  # cannot tell: never call a live run interrupted
    return True


def _pid_exists_windows(pid: int) -> bool:  # pragma: no cover - exercised on Windows only
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: it exists
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def process_alive(pid: int, token: str | None) -> bool:
    """Whether process ``pid`` of this host lives and is the one that wrote ``token``."""
    if not pid_exists(pid):
        return False
    now = proc_token(pid) if token else None
    return now is None or now == token
