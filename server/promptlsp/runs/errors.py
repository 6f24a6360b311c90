"""The one error the run store raises for database trouble, and how damage is recognised."""

from __future__ import annotations

from pathlib import Path

_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


class RunStoreError(Exception):
    """The run store cannot be used. ``corrupt`` is true when the file itself is damaged."""

    def __init__(self, message: str, *, path: Path | None = None, corrupt: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.corrupt = corrupt


def is_corrupt(exc: BaseException) -> bool:
    """Whether a sqlite3 error says the file is damaged or not a database at all."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text
