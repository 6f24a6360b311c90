"""Persistent response cache in SQLite.

Key: sha256 of a canonical JSON of everything that shapes an answer — model, messages,
temperature, top_p, seed, max_tokens, extra params (minus anything credential-like), the schema
and the structured-output mode. Not in the key: ``api_base``, deployments and keys (the same
model reached another way gives the same kind of answer, and those fields can hold secrets).

Stored: the answer text, token usage, cost and model name — never the request, never a key.
WAL mode plus a busy timeout let several processes (CLI, language server, a second run) read
and write one file at once. Blocking SQLite work runs in a worker thread, so a slow disk or a
locked database never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .secrets import is_secret_param

log = logging.getLogger("promptlsp.engine.cache")
KEY_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL,
    created REAL NOT NULL
)
"""


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, unicode kept, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def cache_key(
    *,
    model: str,
    messages: list[dict],
    temperature: float | None,
    top_p: float | None,
    seed: int | None,
    max_tokens: int | None,
    params: Mapping[str, Any],
    schema: dict | None,
    mode: str | None,
    sample: int = 0,
) -> str:
    """The cache key of one request (see the module docstring for what is in it and why)."""
    material = {
        "v": KEY_VERSION,
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "top_p": top_p,
        "seed": seed,
        "max_tokens": max_tokens,
        "params": {k: v for k, v in params.items() if not is_secret_param(k)},
        "schema": schema,
        "mode": mode,
        "sample": sample,
    }
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    model: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None


class ResponseCache:
    """One SQLite file; thread-safe; ``aget``/``aput`` for async callers."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(self.path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        with self._lock:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute(_SCHEMA)

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT model, text, prompt_tokens, completion_tokens, cost_usd FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
        return CachedResponse(*row) if row else None

    def get_many(self, keys: list[str]) -> dict[str, CachedResponse]:
        """The cached entries among ``keys`` (one query)."""
        marks = ", ".join("?" * len(keys))
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, model, text, prompt_tokens, completion_tokens, cost_usd FROM responses "
                f"WHERE key IN ({marks})", keys,
            ).fetchall()
        return {row[0]: CachedResponse(*row[1:]) for row in rows}

    def put(self, key: str, entry: CachedResponse) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, entry.model, entry.text, entry.prompt_tokens, entry.completion_tokens, entry.cost_usd, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    async def aget(self, key: str) -> CachedResponse | None:
        """Like :meth:`get`; a broken cache reads as a miss (logged), never as a failed call."""
        try:
            return await asyncio.to_thread(self.get, key)
        except sqlite3.Error as exc:
            log.warning("cache read failed (%s): treating as a miss", exc)
            return None

    async def aget_many(self, keys: list[str]) -> dict[str, CachedResponse]:
        """Like :meth:`get_many`; a broken cache reads as all misses (logged)."""
        try:
            return await asyncio.to_thread(self.get_many, keys)
        except sqlite3.Error as exc:
            log.warning("cache read failed (%s): treating as a miss", exc)
            return {}

    async def aput(self, key: str, entry: CachedResponse) -> None:
        """Like :meth:`put`; a failed write is logged and the answer still returned."""
        try:
            await asyncio.to_thread(self.put, key, entry)
        except sqlite3.Error as exc:
            log.warning("cache write failed (%s): answer not cached", exc)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
