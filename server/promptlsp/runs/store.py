"""The run store: every optimization run, event by event, in one SQLite file.

Where: ``<workspace>/.promptlsp/runs.sqlite`` by convention (the caller picks the path; the
parent folder is created).

What: :meth:`RunStore.record` appends each event of a run (see ``optimize/events.py``) to the
``events`` table and keeps query tables up to date in the same transaction:

``runs``            one row a run: file (absolute), method, status, times, settings, estimate,
                    latest accounting, initial and best prompt, ``prompt_sha`` of the initial
                    prompt, scores, message, and the pid/host of the recording process.
``candidates``      one row a candidate (text, parent, origin, minibatch and validation score);
                    a ``CandidateRejected`` becomes a row ``rejected=1`` with id ``rejected:<seq>``.
``critiques``       the anchored critiques of every ``SummaryWritten``.
``example_scores``  one row per (candidate, split, example): score, passed, output, details.
``gradients``       one row per ``GradientComputed``.
``events``          the whole stream (seq, timestamp, kind, JSON) for replay.

Durability: every ``record()`` is one short transaction, committed before it returns (WAL,
``synchronous=NORMAL``: a commit is a write to the WAL file without fsync). A killed process
(``kill -9``) therefore loses nothing that ``record()`` returned from; a power cut may lose the
last commits, except the terminal ``RunFinished``, which is committed with ``synchronous=FULL``
(fsync). No transaction stays open between calls, so other processes are never blocked for long.

Crash detection: a run whose row says ``running`` but whose recording process (same host,
checked by pid and, on Linux, by boot id and process start time against pid reuse) is gone is
reported — and marked in the file — as ``interrupted`` when runs are read.

Damaged files: ``RunStore(path)`` raises :class:`RunStoreError` (``corrupt=True`` when the file
is not a SQLite database or is malformed). ``RunStore.open(path)`` — what the CLI and the
language server use — instead moves a corrupt file aside to ``<name>.corrupt-<timestamp>``
(with its ``-wal``/``-shm``), logs a warning, and starts a fresh store (``store.recovered_from``
names the moved file). Other failures (permissions, a file from a newer promptlsp, a lock held
too long) raise :class:`RunStoreError` from both. Every method raises only ``RunStoreError`` for
database trouble, so callers catch one type.

Threading: one ``RunStore`` object owns one connection. Calls are short and blocking and are
serialized by an internal lock, so the object may be used from the asyncio thread directly (the
intended use: ``record()`` costs about 0.1 ms) or through ``asyncio.to_thread``, but never
across ``fork()``. Several objects — in one process or many — may share one file; a call waits
at most ``busy_timeout_s`` for another writer (their transactions are as short as ours), then
raises ``RunStoreError``.

Times are Unix seconds (float). ``runs.file`` is ``normalize_file()`` of the event's path
(absolute, from the recording process's working directory); queries normalize the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import socket
import sqlite3
import sys
import threading
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from ..optimize import events as ev

log = logging.getLogger("promptlsp.runs")

SCHEMA_VERSION = 1
STATUSES = ("running", "finished", "cancelled", "budget-exhausted", "failed", "interrupted")
RESTORABLE = ("finished", "cancelled", "budget-exhausted", "interrupted")  # what last_run() offers

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    file TEXT,
    method TEXT,
    status TEXT NOT NULL DEFAULT 'running',
    started_at REAL NOT NULL,
    ended_at REAL,
    updated_at REAL NOT NULL,
    settings TEXT,
    estimate TEXT,
    accounting TEXT,
    initial TEXT,
    best TEXT,
    prompt_sha TEXT,
    best_candidate_id TEXT,
    initial_score REAL,
    best_score REAL,
    scored_on TEXT,
    iterations INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    host TEXT,
    proc_token TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_file ON runs(file, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs(started_at);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS candidates (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    candidate_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    parent_id TEXT,
    iteration INTEGER,
    system TEXT,
    template TEXT,
    origin TEXT,
    minibatch_score REAL,
    minibatch_examples INTEGER,
    validation_score REAL,
    validation_examples INTEGER,
    rejected INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    raw TEXT,
    PRIMARY KEY (run_id, candidate_id)
);
CREATE TABLE IF NOT EXISTS critiques (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    candidate_id TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    target TEXT NOT NULL,
    quote TEXT NOT NULL,
    critique TEXT NOT NULL,
    suggestion TEXT NOT NULL,
    "start" INTEGER,
    "end" INTEGER,
    examples TEXT NOT NULL,
    PRIMARY KEY (run_id, seq, idx)
);
CREATE TABLE IF NOT EXISTS example_scores (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    candidate_id TEXT NOT NULL,
    split TEXT NOT NULL,
    example_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    score REAL,
    passed INTEGER NOT NULL,
    output TEXT,
    details TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (run_id, candidate_id, split, example_id)
);
CREATE TABLE IF NOT EXISTS gradients (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    candidate_id TEXT NOT NULL,
    example_id TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""
# Schema version N is reached by running _MIGRATIONS[N] on a file at version N - 1.
_MIGRATIONS = {1: _SCHEMA_V1}

_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


class RunStoreError(Exception):
    """The run store cannot be used. ``corrupt`` is true when the file itself is damaged."""

    def __init__(self, message: str, *, path: Path | None = None, corrupt: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.corrupt = corrupt


def prompt_sha(system: str | None, template: str) -> str:
    """sha256 (hex) of a prompt's system and template text; ``PromptText.id`` is its first 12 chars."""
    raw = json.dumps([system, template], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def normalize_file(file: str | os.PathLike[str]) -> str:
    """The form ``runs.file`` is stored and compared in: absolute, case-folded where the OS is."""
    return os.path.normcase(os.path.abspath(os.fspath(file)))


# --- rows returned by the queries: frozen, plain, JSON-serialisable (``to_dict()``) ----------------
# (example scores and gradients come back as the ExampleScored / GradientComputed events themselves)


class _Row:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class RunRecord(_Row):
    id: str
    file: str | None
    method: str | None
    status: str
    started_at: float
    ended_at: float | None
    updated_at: float
    settings: dict[str, Any] | None
    estimate: dict[str, Any] | None
    accounting: dict[str, Any] | None
    initial: dict[str, Any] | None  # {"system", "template"}
    best: dict[str, Any] | None  # text of best_candidate_id, once known
    prompt_sha: str | None
    best_candidate_id: str | None
    initial_score: float | None
    best_score: float | None
    scored_on: str | None
    iterations: int
    events: int  # how many were recorded
    message: str
    pid: int | None
    host: str | None


@dataclass(frozen=True)
class RunSummary(_Row):
    run: RunRecord
    candidates: int
    rejected: int
    critiques: int
    example_scores: int
    gradients: int


@dataclass(frozen=True)
class CandidateRecord(_Row):
    candidate_id: str
    parent_id: str | None
    iteration: int | None
    system: str | None
    template: str | None
    origin: str | None
    minibatch_score: float | None
    minibatch_examples: int | None
    validation_score: float | None
    validation_examples: int | None
    rejected: bool
    reason: str | None
    raw: str | None


@dataclass(frozen=True)
class CritiqueRecord(_Row):
    candidate_id: str
    iteration: int
    target: str
    quote: str
    critique: str
    suggestion: str
    start: int | None
    end: int | None
    examples: tuple[str, ...]


@dataclass(frozen=True)
class StoredEvent(_Row):
    seq: int
    ts: float
    kind: str
    data: dict[str, Any]  # the event's to_dict()

    def to_event(self) -> ev.Event:
        """The typed event again (for replaying a run through the same handlers)."""
        cls = _EVENT_TYPES.get(self.kind)
        if cls is None:
            raise RunStoreError(f"unknown event kind {self.kind!r} in the run store")
        return _decode(cls, self.data)


_EVENT_TYPES: dict[str, type[ev.Event]] = {
    cls.kind: cls for cls in vars(ev).values()
    if isinstance(cls, type) and issubclass(cls, ev.Event) and cls is not ev.Event
}


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(hint: Any, value: Any) -> Any:
    """Rebuild a value of type ``hint`` from its ``to_dict()`` form (dataclasses, tuples, unions)."""
    if value is None:
        return None
    if dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        return hint(**{
            f.name: _decode(hints[f.name], value[f.name])
            for f in dataclasses.fields(hint) if f.name in value
        })
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return tuple(_decode(args[0], item) for item in value)
    if args and origin is not dict and origin is not typing.Literal:  # X | None
        return _decode(next(a for a in args if a is not type(None)), value)
    return value


# --- helpers --------------------------------------------------------------------------------------


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return _text(json.dumps(value, ensure_ascii=False, default=str))


def _text(value: str | None) -> str | None:
    """A string SQLite can take: lone surrogates (possible in decoded model output) become '?'."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _is_corrupt(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def _proc_token(pid: int) -> str | None:
    """Boot id + start time of a process (Linux): tells a reused pid from the original process."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, starttime
    except (OSError, IndexError):
        return None


def _pid_exists(pid: int) -> bool:
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


def _process_alive(pid: int, token: str | None) -> bool:
    if not _pid_exists(pid):
        return False
    now = _proc_token(pid) if token else None
    return now is None or now == token


def move_aside(path: Path | str) -> Path:
    """Rename a store file (and its -wal/-shm) to ``<name>.corrupt-<timestamp>``; returns the new path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while dest.exists():
        dest = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    for suffix in ("-wal", "-shm"):  # kept beside the moved file so the pair still opens together
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.replace(dest.with_name(dest.name + suffix))
    if path.exists():
        path.replace(dest)
    return dest


T = TypeVar("T")


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Serialize calls on the connection and turn sqlite3 errors into RunStoreError."""

    @functools.wraps(method)
    def wrapper(self: RunStore, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                if self._open and self._conn.in_transaction:
                    self._conn.rollback()
                raise self._error(exc, f"{method.__name__} failed") from exc

    return wrapper


_RUN_COLUMNS = (
    "id, file, method, status, started_at, ended_at, updated_at, settings, estimate, accounting, "
    "initial, best, prompt_sha, best_candidate_id, initial_score, best_score, scored_on, iterations, "
    "last_seq, message, pid, host"
)


class RunStore:
    """The SQLite run store (see the module docstring for layout, durability and threading)."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.recovered_from: Path | None = None  # set by open() when a corrupt file was moved aside
        self._lock = threading.Lock()
        self._open = False
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self._token = _proc_token(self._pid)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise RunStoreError(f"cannot open run store {self.path}: {exc}", path=self.path) from exc
        self._open = True
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.Error as exc:
            self._open = False
            self._conn.close()
            raise self._error(exc, "cannot open") from exc
        except RunStoreError:
            self._open = False
            self._conn.close()
            raise

    @classmethod
    def open(cls, path: Path | str, *, verify: bool = False, busy_timeout_s: float = 10.0) -> RunStore:
        """Open, moving a corrupt file aside and starting fresh (logged; see ``recovered_from``).

        ``verify`` also runs ``PRAGMA quick_check`` (reads the whole file) so damage deep inside
        is found now rather than by a later query.
        """
        store = None
        try:
            store = cls(path, busy_timeout_s=busy_timeout_s)
            if verify and (problems := store.check()):
                raise RunStoreError(f"run store {path} is damaged: {problems[0]}", path=Path(path), corrupt=True)
            return store
        except RunStoreError as exc:
            if store is not None:
                store.close()
            if not exc.corrupt:
                raise
            try:
                moved = move_aside(path)
            except OSError as move_exc:
                raise RunStoreError(f"{exc}; moving it aside failed: {move_exc}", path=Path(path), corrupt=True) from move_exc
            log.warning("run store %s is corrupt (%s): moved to %s, starting a new one", path, exc, moved)
        store = cls(path, busy_timeout_s=busy_timeout_s)
        store.recovered_from = moved
        return store

    def _error(self, exc: sqlite3.Error, what: str) -> RunStoreError:
        corrupt = _is_corrupt(exc)
        hint = " (the file is damaged or not a run store; RunStore.open() moves it aside)" if corrupt else ""
        return RunStoreError(f"run store {self.path}: {what}: {exc}{hint}", path=self.path, corrupt=corrupt)

    def _migrate(self) -> None:
        conn = self._conn
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the schema page
            return
        conn.execute("BEGIN IMMEDIATE")  # another process may be creating the schema right now
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RunStoreError(
                    f"run store {self.path} has schema version {version}, written by a newer promptlsp "
                    f"(this one reads version {SCHEMA_VERSION}); upgrade promptlsp or use another file",
                    path=self.path,
                )
            if version == 0 and conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchone()[0] and not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
                raise RunStoreError(f"{self.path} is a SQLite file but not a run store", path=self.path)
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step}")
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise

    # --- writing -------------------------------------------------------------------------------

    @_guarded
    def record(self, run_id: str, event: ev.Event) -> None:
        """Append ``event`` to run ``run_id`` and update the query tables; committed on return."""
        if isinstance(event, ev.RunStarted) and event.run_id != run_id:
            raise ValueError(f"RunStarted.run_id {event.run_id!r} != record(run_id={run_id!r})")
        now = time.time()
        conn = self._conn
        final = isinstance(event, ev.RunFinished)
        if final:
            conn.execute("PRAGMA synchronous = FULL")  # the end of a run is fsynced
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO runs (id, started_at, updated_at, last_seq, pid, host, proc_token) "
                "VALUES (?, ?, ?, 1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET last_seq = last_seq + 1, updated_at = excluded.updated_at",
                (run_id, now, now, self._pid, self._host, self._token),
            )
            seq = conn.execute("SELECT last_seq FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
            conn.execute(
                "INSERT INTO events (run_id, seq, ts, kind, data) VALUES (?, ?, ?, ?, ?)",
                (run_id, seq, now, event.kind, _json(event.to_dict())),
            )
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, run_id, seq, now, event)
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        finally:
            if final:
                conn.execute("PRAGMA synchronous = NORMAL")

    def _on_started(self, run_id: str, seq: int, now: float, e: ev.RunStarted) -> None:
        self._conn.execute(
            "UPDATE runs SET file = ?, method = ?, status = 'running', started_at = ?, ended_at = NULL, "
            "settings = ?, estimate = ?, initial = ?, prompt_sha = ?, pid = ?, host = ?, proc_token = ? "
            "WHERE id = ?",
            (
                None if e.file is None else _text(normalize_file(e.file)), e.method, now,
                _json(e.settings), _json(e.estimate), _json(e.initial.to_dict()),
                prompt_sha(e.initial.system, e.initial.template),
                self._pid, self._host, self._token, run_id,
            ),
        )

    def _on_example(self, run_id: str, seq: int, now: float, e: ev.ExampleScored) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO example_scores "
            "(run_id, candidate_id, split, example_id, seq, score, passed, output, details, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id, _text(e.candidate_id), _text(e.split), _text(e.example_id), seq, e.score,
                bool(e.passed), _text(e.output), _json(list(e.details)), _text(e.error),
            ),
        )

    def _on_gradient(self, run_id: str, seq: int, now: float, e: ev.GradientComputed) -> None:
        self._conn.execute(
            "INSERT INTO gradients (run_id, seq, candidate_id, example_id, text) VALUES (?, ?, ?, ?, ?)",
            (run_id, seq, _text(e.candidate_id), _text(e.example_id), _text(e.text)),
        )

    def _on_summary(self, run_id: str, seq: int, now: float, e: ev.SummaryWritten) -> None:
        self._conn.executemany(
            'INSERT INTO critiques (run_id, seq, idx, candidate_id, iteration, target, quote, critique, '
            'suggestion, "start", "end", examples) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [
                (
                    run_id, seq, idx, _text(e.candidate_id), e.iteration, c.target, _text(c.quote),
                    _text(c.critique), _text(c.suggestion), c.start, c.end, _json(list(c.examples)),
                )
                for idx, c in enumerate(e.critiques)
            ],
        )

    def _on_proposed(self, run_id: str, seq: int, now: float, e: ev.CandidateProposed) -> None:
        self._conn.execute(  # a candidate scored before it was proposed keeps its scores
            "INSERT INTO candidates (run_id, candidate_id, seq, parent_id, iteration, system, template, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, candidate_id) DO UPDATE SET "
            "parent_id = COALESCE(parent_id, excluded.parent_id), iteration = COALESCE(iteration, excluded.iteration), "
            "system = COALESCE(system, excluded.system), template = COALESCE(template, excluded.template), "
            "origin = COALESCE(origin, excluded.origin)",
            (
                run_id, _text(e.candidate_id), seq, _text(e.parent_id), e.iteration,
                _text(e.prompt.system), _text(e.prompt.template), _text(e.origin),
            ),
        )

    def _on_rejected(self, run_id: str, seq: int, now: float, e: ev.CandidateRejected) -> None:
        self._conn.execute(
            "INSERT INTO candidates (run_id, candidate_id, seq, parent_id, iteration, origin, rejected, reason, raw) "
            "VALUES (?, ?, ?, ?, ?, 'rejected', 1, ?, ?)",
            (run_id, f"rejected:{seq}", seq, _text(e.parent_id), e.iteration, _text(e.reason), _text(e.raw)),
        )

    def _on_scored(self, run_id: str, seq: int, now: float, e: ev.CandidateScored) -> None:
        split = "validation" if e.split == "validation" else "minibatch"
        self._conn.execute(
            f"INSERT INTO candidates (run_id, candidate_id, seq, {split}_score, {split}_examples) "
            f"VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, candidate_id) DO UPDATE SET "
            f"{split}_score = excluded.{split}_score, {split}_examples = excluded.{split}_examples",
            (run_id, _text(e.candidate_id), seq, e.score, e.examples),
        )

    def _best_text(self, run_id: str, candidate_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT system, template FROM candidates WHERE run_id = ? AND candidate_id = ?", (run_id, candidate_id)
        ).fetchone()
        return _json({"system": row[0], "template": row[1]}) if row and row[1] is not None else None

    def _on_iteration(self, run_id: str, seq: int, now: float, e: ev.IterationDone) -> None:
        self._conn.execute(
            "UPDATE runs SET iterations = max(iterations, ?), best_candidate_id = ?, best_score = ?, "
            "accounting = ?, best = COALESCE(?, best) WHERE id = ?",
            (
                e.iteration, _text(e.best_candidate_id), e.best_score, _json(e.accounting),
                self._best_text(run_id, e.best_candidate_id), run_id,
            ),
        )

    def _on_finished(self, run_id: str, seq: int, now: float, e: ev.RunFinished) -> None:
        self._conn.execute(
            "INSERT INTO candidates (run_id, candidate_id, seq, system, template) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, candidate_id) DO NOTHING",
            (run_id, _text(e.best_candidate_id), seq, _text(e.best.system), _text(e.best.template)),
        )
        self._conn.execute(
            "UPDATE runs SET status = ?, ended_at = ?, best_candidate_id = ?, best = ?, initial_score = ?, "
            "best_score = ?, scored_on = ?, accounting = ?, message = ? WHERE id = ?",
            (
                e.status, now, _text(e.best_candidate_id), _json(e.best.to_dict()), e.initial_score,
                e.best_score, e.scored_on, _json(e.accounting), _text(e.message), run_id,
            ),
        )

    # --- reading -------------------------------------------------------------------------------

    def _reap(self) -> set[str]:
        """Mark runs of dead local processes interrupted; returns their ids (shown so even if the
        update could not be written, e.g. a read-only file)."""
        rows = self._conn.execute(
            "SELECT id, pid, proc_token FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL",
            (self._host,),
        ).fetchall()
        dead = {run_id for run_id, pid, token in rows if not _process_alive(pid, token)}
        if dead:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "UPDATE runs SET status = 'interrupted', ended_at = COALESCE(ended_at, updated_at), "
                    "message = 'interrupted: process ' || pid || ' on ' || host || ' ended before the run finished' "
                    "WHERE id = ? AND status = 'running'",
                    [(run_id,) for run_id in dead],
                )
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._conn.rollback()
                log.warning("run store %s: could not mark interrupted runs (%s)", self.path, exc)
        return dead

    def _select_runs(self, where: str, params: Iterable[Any], limit: int | None) -> list[RunRecord]:
        dead = self._reap()
        sql = f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY started_at DESC, rowid DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._run_record(row, dead) for row in self._conn.execute(sql, tuple(params))]

    @staticmethod
    def _run_record(row: tuple, dead: set[str]) -> RunRecord:
        values = list(row)
        for i in (7, 8, 9, 10, 11):  # settings, estimate, accounting, initial, best
            values[i] = _load(values[i])
        if values[3] == "running" and values[0] in dead:
            values[3] = "interrupted"
        return RunRecord(*values)

    @_guarded
    def runs(self, file: str | os.PathLike[str] | None = None, limit: int = 50) -> list[RunRecord]:
        """Runs, newest first; only those of ``file`` when given."""
        if file is None:
            return self._select_runs("", (), limit)
        return self._select_runs("WHERE file = ?", (normalize_file(file),), limit)

    @_guarded
    def run(self, run_id: str) -> RunSummary | None:
        """One run with counts of what it produced, or None."""
        found = self._select_runs("WHERE id = ?", (run_id,), 1)
        if not found:
            return None
        (candidates, rejected), = self._conn.execute(
            "SELECT count(*) - coalesce(sum(rejected), 0), coalesce(sum(rejected), 0) FROM candidates WHERE run_id = ?",
            (run_id,),
        )
        counts = [
            self._conn.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]
            for table in ("critiques", "example_scores", "gradients")
        ]
        return RunSummary(found[0], candidates, rejected, *counts)

    @_guarded
    def last_run(self, file: str | os.PathLike[str], prompt_sha: str | None = None) -> RunRecord | None:
        """The newest ended run (finished, cancelled, budget-exhausted or interrupted) of ``file``;
        with ``prompt_sha``, only if that run started from a prompt with that hash."""
        where = f"WHERE file = ? AND status IN ({', '.join('?' * len(RESTORABLE))})"
        params: list[Any] = [normalize_file(file), *RESTORABLE]
        if prompt_sha is not None:
            where += " AND prompt_sha = ?"
            params.append(prompt_sha)
        found = self._select_runs(where, params, 1)
        return found[0] if found else None

    @_guarded
    def candidates(self, run_id: str, *, include_rejected: bool = True) -> list[CandidateRecord]:
        """Candidates best first: validation score, then minibatch score (unscored, then rejected, last)."""
        where = "" if include_rejected else " AND rejected = 0"
        rows = self._conn.execute(
            "SELECT candidate_id, parent_id, iteration, system, template, origin, minibatch_score, "
            "minibatch_examples, validation_score, validation_examples, rejected, reason, raw "
            f"FROM candidates WHERE run_id = ?{where} ORDER BY rejected, "
            "validation_score IS NULL, validation_score DESC, minibatch_score IS NULL, minibatch_score DESC, seq",
            (run_id,),
        )
        return [CandidateRecord(*row[:10], bool(row[10]), *row[11:]) for row in rows]

    @_guarded
    def critiques(self, run_id: str, candidate_id: str | None = None) -> list[CritiqueRecord]:
        """Critiques in the order they were written; only those about ``candidate_id`` when given."""
        sql = (
            'SELECT candidate_id, iteration, target, quote, critique, suggestion, "start", "end", examples '
            "FROM critiques WHERE run_id = ?"
        )
        params: tuple = (run_id,)
        if candidate_id is not None:
            sql, params = sql + " AND candidate_id = ?", (run_id, candidate_id)
        rows = self._conn.execute(sql + " ORDER BY seq, idx", params)
        return [CritiqueRecord(*row[:8], tuple(json.loads(row[8]))) for row in rows]

    @_guarded
    def example_scores(self, run_id: str, candidate_id: str) -> list[ev.ExampleScored]:
        """Per-example results of one candidate (latest per split and example), in scoring order,
        as the very events that reported them."""
        rows = self._conn.execute(
            "SELECT candidate_id, example_id, split, score, passed, output, details, error FROM example_scores "
            "WHERE run_id = ? AND candidate_id = ? ORDER BY seq",
            (run_id, candidate_id),
        )
        return [
            ev.ExampleScored(c, x, s, score, bool(p), out, tuple(json.loads(d)), err)
            for c, x, s, score, p, out, d, err in rows
        ]

    @_guarded
    def gradients(self, run_id: str, candidate_id: str | None = None) -> list[ev.GradientComputed]:
        """The run's gradients in order; only those about ``candidate_id`` when given."""
        sql, params = "SELECT candidate_id, example_id, text FROM gradients WHERE run_id = ?", (run_id,)
        if candidate_id is not None:
            sql, params = sql + " AND candidate_id = ?", (run_id, candidate_id)
        return [ev.GradientComputed(*row) for row in self._conn.execute(sql + " ORDER BY seq", params)]

    @_guarded
    def events(self, run_id: str) -> list[StoredEvent]:
        """The run's events in order (``StoredEvent.to_event()`` gives the typed event back)."""
        rows = self._conn.execute("SELECT seq, ts, kind, data FROM events WHERE run_id = ? ORDER BY seq", (run_id,))
        return [StoredEvent(seq, ts, kind, json.loads(data)) for seq, ts, kind, data in rows]

    @_guarded
    def check(self) -> list[str]:
        """``PRAGMA quick_check`` (reads the whole file): [] when it is sound, else the problems."""
        try:
            rows = [row[0] for row in self._conn.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise
            return [str(exc)]
        return [] if rows == ["ok"] else rows

    # --- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._open:
                self._open = False
                self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_HANDLERS: dict[type, Callable[..., None]] = {
    ev.RunStarted: RunStore._on_started,
    ev.ExampleScored: RunStore._on_example,
    ev.GradientComputed: RunStore._on_gradient,
    ev.SummaryWritten: RunStore._on_summary,
    ev.CandidateProposed: RunStore._on_proposed,
    ev.CandidateRejected: RunStore._on_rejected,
    ev.CandidateScored: RunStore._on_scored,
    ev.IterationDone: RunStore._on_iteration,
    ev.RunFinished: RunStore._on_finished,
}
