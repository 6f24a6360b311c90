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

The table definitions and their migrations are in ``schema.py``; what each event writes, in
``writes.py``; the records the queries return, in ``records.py``; how a dead recording process
is told from a live one, in ``liveness.py``.

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
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from ..optimize import events as ev
from .errors import RunStoreError, is_corrupt
from .liveness import Recorder, process_alive
from .records import (
    EVALUATION_ONLY, EVALUATIONS, RESTORABLE, CandidateRecord, ExampleRecord, CritiqueRecord, RunRecord, RunSummary, columns, from_row, normalize_file,
)
from .schema import migrate
from .writes import Entry, write

log = logging.getLogger("promptlsp.runs")


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


_RUN_JSON = ("settings", "estimate", "accounting", "initial", "best")
_SELECT_RUNS = f"SELECT {columns(RunRecord, events='last_seq')} FROM runs"
_SELECT_CANDIDATES = f"SELECT {columns(CandidateRecord)} FROM candidates"
_SELECT_CRITIQUES = f"SELECT {columns(CritiqueRecord)} FROM critiques"
_SELECT_EXAMPLES = f"SELECT {columns(ev.ExampleScored)} FROM example_scores"
_EXAMPLE_COLUMNS = ("run_id", *(f.name for f in dataclasses.fields(ev.ExampleScored)))


class RunStore:
    """The SQLite run store (see the module docstring for layout, durability and threading)."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.recovered_from: Path | None = None  # set by open() when a corrupt file was moved aside
        self._lock = threading.Lock()
        self._open = False
        self._recorder = Recorder.current()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise RunStoreError(f"cannot open run store {self.path}: {exc}", path=self.path) from exc
        self._conn.row_factory = sqlite3.Row
        self._open = True
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            migrate(self._conn, self.path)
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
        corrupt = is_corrupt(exc)
        hint = " (the file is damaged or not a run store; RunStore.open() moves it aside)" if corrupt else ""
        return RunStoreError(f"run store {self.path}: {what}: {exc}{hint}", path=self.path, corrupt=corrupt)

    # --- writing -------------------------------------------------------------------------------

    @_guarded
    def record(self, run_id: str, event: ev.Event) -> None:
        """Append ``event`` to run ``run_id`` and update the query tables; committed on return."""
        if isinstance(event, ev.RunStarted) and event.run_id != run_id:
            raise ValueError(f"RunStarted.run_id {event.run_id!r} != record(run_id={run_id!r})")
        now = time.time()
        conn, me = self._conn, self._recorder
        final = isinstance(event, ev.RunFinished)
        if final:
            conn.execute("PRAGMA synchronous = FULL")  # the end of a run is fsynced
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO runs (id, started_at, updated_at, last_seq, pid, host, proc_token) "
                "VALUES (?, ?, ?, 1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET last_seq = last_seq + 1, updated_at = excluded.updated_at",
                (run_id, now, now, me.pid, me.host, me.token),
            )
            seq = conn.execute("SELECT last_seq FROM runs WHERE id = ?", (run_id,)).fetchone()["last_seq"]
            write(conn, Entry(run_id, seq, now, me), event)
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        finally:
            if final:
                conn.execute("PRAGMA synchronous = NORMAL")

    # --- reading -------------------------------------------------------------------------------

    def _reap(self) -> set[str]:
        """Mark runs of dead local processes interrupted; returns their ids (shown so even if the
        update could not be written, e.g. a read-only file)."""
        rows = self._conn.execute(
            "SELECT id, pid, proc_token FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL",
            (self._recorder.host,),
        ).fetchall()
        dead = {row["id"] for row in rows if not process_alive(row["pid"], row["proc_token"])}
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
        sql = f"{_SELECT_RUNS} {where} ORDER BY started_at DESC, rowid DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            from_row(RunRecord, row, json_columns=_RUN_JSON,
                     **({"status": "interrupted"} if row["status"] == "running" and row["id"] in dead else {}))
            for row in self._conn.execute(sql, tuple(params))
        ]

    @_guarded
    def runs(self, file: str | os.PathLike[str] | None = None, limit: int | None = 50, *,
             status: str | None = None) -> list[RunRecord]:
        """Runs, newest first; only those of ``file`` and with ``status`` when given."""
        conditions, params = [], []
        if file is not None:
            conditions.append("file = ?")
            params.append(normalize_file(file))
        if status is not None:
            conditions.append("status = ?")
            params.append(status)
        return self._select_runs(f"WHERE {' AND '.join(conditions)}" if conditions else "", params, limit)

    @_guarded
    def run_ids(self, prefix: str) -> list[str]:
        """The ids of the runs that start with ``prefix`` (at most a few: enough to say it is ambiguous)."""
        rows = self._conn.execute("SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY started_at DESC LIMIT 10",
                                  (len(prefix), prefix))
        return [row["id"] for row in rows]

    @_guarded
    def events(self, run_id: str, kinds: Iterable[str] | None = None) -> list[tuple[int, float, dict[str, Any]]]:
        """Run ``run_id``'s recorded events as ``(seq, ts, event.to_dict())``, in order; only those
        of ``kinds`` (``"summary"``, ``"iteration-done"``…) when given."""
        sql, params = "SELECT seq, ts, data FROM events WHERE run_id = ?", [run_id]
        if kinds is not None:
            kinds = list(kinds)
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params.extend(kinds)
        return [(row["seq"], row["ts"], json.loads(row["data"])) for row in self._conn.execute(sql + " ORDER BY seq", params)]

    @_guarded
    def run(self, run_id: str) -> RunSummary | None:
        """One run with counts of what it produced, or None."""
        found = self._select_runs("WHERE id = ?", (run_id,), 1)
        if not found:
            return None
        candidates = self._conn.execute(
            "SELECT count(*) - coalesce(sum(rejected), 0) AS kept, coalesce(sum(rejected), 0) AS rejected "
            "FROM candidates WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        counts = {
            table: self._conn.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]
            for table in ("critiques", "example_scores", "gradients")
        }
        return RunSummary(found[0], candidates["kept"], candidates["rejected"], **counts)

    @_guarded
    def last_run(self, file: str | os.PathLike[str], prompt_sha: str | None = None) -> RunRecord | None:
        """The newest ended run (finished, cancelled, budget-exhausted or interrupted) of ``file``
        that is not only an evaluation (``EVALUATION_ONLY``); with ``prompt_sha``, only if that run
        started from a prompt with that hash."""
        where = (f"WHERE file = ? AND status IN ({', '.join('?' * len(RESTORABLE))}) "
                 f"AND coalesce(method, '') NOT IN ({', '.join('?' * len(EVALUATION_ONLY))})")
        params: list[Any] = [normalize_file(file), *RESTORABLE, *EVALUATION_ONLY]
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
            f"{_SELECT_CANDIDATES} WHERE run_id = ?{where} ORDER BY rejected, "
            "validation_score IS NULL, validation_score DESC, minibatch_score IS NULL, minibatch_score DESC, seq",
            (run_id,),
        )
        return [from_row(CandidateRecord, row) for row in rows]

    @_guarded
    def critiques(self, run_id: str, candidate_id: str | None = None) -> list[CritiqueRecord]:
        """Critiques in the order they were written; only those about ``candidate_id`` when given."""
        sql, params = f"{_SELECT_CRITIQUES} WHERE run_id = ?", (run_id,)
        if candidate_id is not None:
            sql, params = sql + " AND candidate_id = ?", (run_id, candidate_id)
        rows = self._conn.execute(sql + " ORDER BY seq, idx", params)
        return [from_row(CritiqueRecord, row, json_columns=("examples",)) for row in rows]

    @_guarded
    def example_scores(self, run_id: str, candidate_id: str) -> list[ev.ExampleScored]:
        """Per-example results of one candidate (latest per split and example), in scoring order,
        as the very events that reported them."""
        rows = self._conn.execute(
            f"{_SELECT_EXAMPLES} WHERE run_id = ? AND candidate_id = ? ORDER BY seq", (run_id, candidate_id)
        )
        return [from_row(ev.ExampleScored, row, json_columns=("details",)) for row in rows]

    @_guarded
    def example_results(self, file: str | os.PathLike[str]) -> dict[str, ExampleRecord]:
        """Example id -> its latest result among the evaluations of ``file`` (runs whose
        method is one of ``EVALUATIONS``: they score the file's own prompt), whatever their status."""
        rows = self._conn.execute(
            f"SELECT * FROM (SELECT {', '.join(f'es.{c}' for c in _EXAMPLE_COLUMNS)}, r.method AS method, "
            "r.started_at AS started_at, row_number() OVER (PARTITION BY es.example_id "
            "ORDER BY r.started_at DESC, r.rowid DESC, es.seq DESC) AS nth "
            "FROM runs r JOIN example_scores es ON es.run_id = r.id "
            f"WHERE r.file = ? AND r.method IN ({', '.join('?' * len(EVALUATIONS))})) WHERE nth = 1",
            (normalize_file(file), *EVALUATIONS),
        )
        found = {}
        names = [f.name for f in dataclasses.fields(ev.ExampleScored)]
        for row in rows:  # built directly: a file may have thousands (cattrs' structuring is 5x slower)
            data = {name: row[name] for name in names}
            data["passed"] = bool(data["passed"])
            data["details"] = tuple(json.loads(data["details"])) if data["details"] else ()
            event = ev.ExampleScored(**data)
            found[event.example_id] = ExampleRecord(row["run_id"], row["method"], row["started_at"], event)
        return found

    @_guarded
    def check(self) -> list[str]:
        """``PRAGMA quick_check`` (reads the whole file): [] when it is sound, else the problems."""
        try:
            rows = [row[0] for row in self._conn.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
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
