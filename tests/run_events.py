"""Test-only reads of a run store file: the recorded event stream (replayable as the typed events)
and the gradients. The language server and the CLI never read these back, so they are not part of
``RunStore``; the tests read them on a connection of their own."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptlsp.optimize import events as ev
from promptlsp.runs import RunStore
from promptlsp.runs.records import converter

EVENT_TYPES: dict[str, type[ev.Event]] = {
    cls.kind: cls for cls in vars(ev).values()
    if isinstance(cls, type) and issubclass(cls, ev.Event) and cls is not ev.Event
}


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    ts: float
    kind: str
    data: dict[str, Any]  # the event's to_dict()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_event(self) -> ev.Event:
        """The typed event again (what a replay through the same handlers would get)."""
        return converter().structure(self.data, EVENT_TYPES[self.kind])


def _rows(store: RunStore | Path, sql: str, params: tuple) -> list[sqlite3.Row]:
    path = store.path if isinstance(store, RunStore) else store
    with contextlib.closing(sqlite3.connect(str(path))) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()


def stored_events(store: RunStore | Path, run_id: str) -> list[StoredEvent]:
    """Run ``run_id``'s events in order."""
    rows = _rows(store, "SELECT seq, ts, kind, data FROM events WHERE run_id = ? ORDER BY seq", (run_id,))
    return [StoredEvent(r["seq"], r["ts"], r["kind"], json.loads(r["data"])) for r in rows]


def gradients(store: RunStore | Path, run_id: str, candidate_id: str | None = None) -> list[ev.GradientComputed]:
    """Run ``run_id``'s gradients in order; only those about ``candidate_id`` when given."""
    sql, params = "SELECT candidate_id, example_id, text FROM gradients WHERE run_id = ?", (run_id,)
    if candidate_id is not None:
        sql, params = sql + " AND candidate_id = ?", (run_id, candidate_id)
    return [ev.GradientComputed(*row) for row in _rows(store, sql + " ORDER BY seq", params)]
