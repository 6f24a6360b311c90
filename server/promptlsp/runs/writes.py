"""How each event of a run updates the query tables, inside ``RunStore.record``'s transaction.

Every handler gets the connection, the event's place (:class:`Entry`) and the event; events
without a handler (``BeamUpdated``, ``StepFailed``) are kept in ``events`` only.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable

from ..optimize import events as ev
from .liveness import Recorder
from .records import normalize_file, prompt_sha


@dataclass(frozen=True)
class Entry:
    """Where an event goes: its run, its sequence number in the run, when, and by whom."""

    run_id: str
    seq: int
    now: float
    recorder: Recorder


def to_json(value: Any) -> str | None:
    if value is None:
        return None
    return text(json.dumps(value, ensure_ascii=False, default=str))


def text(value: str | None) -> str | None:
    """A string SQLite can take: lone surrogates (possible in decoded model output) become '?'."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _started(conn: sqlite3.Connection, at: Entry, e: ev.RunStarted) -> None:
    me = at.recorder
    conn.execute(
        "UPDATE runs SET file = ?, method = ?, status = 'running', started_at = ?, ended_at = NULL, "
        "settings = ?, estimate = ?, initial = ?, prompt_sha = ?, pid = ?, host = ?, proc_token = ? "
        "WHERE id = ?",
        (
            None if e.file is None else text(normalize_file(e.file)), e.method, at.now,
            to_json(e.settings), to_json(e.estimate), to_json(e.initial.to_dict()),
            prompt_sha(e.initial.system, e.initial.template),
            me.pid, me.host, me.token, at.run_id,
        ),
    )


def _example(conn: sqlite3.Connection, at: Entry, e: ev.ExampleScored) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO example_scores "
        "(run_id, candidate_id, split, example_id, seq, score, passed, output, details, error, inputs_sha) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            at.run_id, text(e.candidate_id), text(e.split), text(e.example_id), at.seq, e.score,
            bool(e.passed), text(e.output), to_json(list(e.details)), text(e.error), e.inputs_sha,
        ),
    )


def _gradient(conn: sqlite3.Connection, at: Entry, e: ev.GradientComputed) -> None:
    conn.execute(
        "INSERT INTO gradients (run_id, seq, candidate_id, example_id, text) VALUES (?, ?, ?, ?, ?)",
        (at.run_id, at.seq, text(e.candidate_id), text(e.example_id), text(e.text)),
    )


def _summary(conn: sqlite3.Connection, at: Entry, e: ev.SummaryWritten) -> None:
    conn.executemany(
        'INSERT INTO critiques (run_id, seq, idx, candidate_id, iteration, target, quote, critique, '
        'suggestion, "start", "end", examples) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
            (
                at.run_id, at.seq, idx, text(e.candidate_id), e.iteration, c.target, text(c.quote),
                text(c.critique), text(c.suggestion), c.start, c.end, to_json(list(c.examples)),
            )
            for idx, c in enumerate(e.critiques)
        ],
    )


def _proposed(conn: sqlite3.Connection, at: Entry, e: ev.CandidateProposed) -> None:
    conn.execute(  # a candidate scored before it was proposed keeps its scores
        "INSERT INTO candidates (run_id, candidate_id, seq, parent_id, iteration, system, template, origin) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, candidate_id) DO UPDATE SET "
        "parent_id = COALESCE(parent_id, excluded.parent_id), iteration = COALESCE(iteration, excluded.iteration), "
        "system = COALESCE(system, excluded.system), template = COALESCE(template, excluded.template), "
        "origin = COALESCE(origin, excluded.origin)",
        (
            at.run_id, text(e.candidate_id), at.seq, text(e.parent_id), e.iteration,
            text(e.prompt.system), text(e.prompt.template), text(e.origin),
        ),
    )


def _rejected(conn: sqlite3.Connection, at: Entry, e: ev.CandidateRejected) -> None:
    conn.execute(
        "INSERT INTO candidates (run_id, candidate_id, seq, parent_id, iteration, origin, rejected, reason, raw) "
        "VALUES (?, ?, ?, ?, ?, 'rejected', 1, ?, ?)",
        (at.run_id, f"rejected:{at.seq}", at.seq, text(e.parent_id), e.iteration, text(e.reason), text(e.raw)),
    )


def _scored(conn: sqlite3.Connection, at: Entry, e: ev.CandidateScored) -> None:
    split = "validation" if e.split == "validation" else "minibatch"
    conn.execute(
        f"INSERT INTO candidates (run_id, candidate_id, seq, {split}_score, {split}_examples) "
        f"VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, candidate_id) DO UPDATE SET "
        f"{split}_score = excluded.{split}_score, {split}_examples = excluded.{split}_examples",
        (at.run_id, text(e.candidate_id), at.seq, e.score, e.examples),
    )


def _best_text(conn: sqlite3.Connection, run_id: str, candidate_id: str) -> str | None:
    row = conn.execute(
        "SELECT system, template FROM candidates WHERE run_id = ? AND candidate_id = ?", (run_id, candidate_id)
    ).fetchone()
    return to_json({"system": row["system"], "template": row["template"]}) if row and row["template"] is not None else None


def _iteration(conn: sqlite3.Connection, at: Entry, e: ev.IterationDone) -> None:
    conn.execute(
        "UPDATE runs SET iterations = max(iterations, ?), best_candidate_id = ?, best_score = COALESCE(?, best_score), "
        "accounting = ?, best = COALESCE(?, best) WHERE id = ?",
        (
            e.iteration, text(e.best_candidate_id), e.best_score, to_json(e.accounting),
            _best_text(conn, at.run_id, e.best_candidate_id), at.run_id,
        ),
    )


def _finished(conn: sqlite3.Connection, at: Entry, e: ev.RunFinished) -> None:
    conn.execute(
        "INSERT INTO candidates (run_id, candidate_id, seq, system, template) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, candidate_id) DO NOTHING",
        (at.run_id, text(e.best_candidate_id), at.seq, text(e.best.system), text(e.best.template)),
    )
    conn.execute(
        "UPDATE runs SET status = ?, ended_at = ?, best_candidate_id = ?, best = ?, initial_score = ?, "
        "best_score = ?, scored_on = ?, accounting = ?, message = ? WHERE id = ?",
        (
            e.status, at.now, text(e.best_candidate_id), to_json(e.best.to_dict()), e.initial_score,
            e.best_score, e.scored_on, to_json(e.accounting), text(e.message), at.run_id,
        ),
    )


HANDLERS: dict[type, Callable[[sqlite3.Connection, Entry, Any], None]] = {
    ev.RunStarted: _started,
    ev.ExampleScored: _example,
    ev.GradientComputed: _gradient,
    ev.SummaryWritten: _summary,
    ev.CandidateProposed: _proposed,
    ev.CandidateRejected: _rejected,
    ev.CandidateScored: _scored,
    ev.IterationDone: _iteration,
    ev.RunFinished: _finished,
}


def write(conn: sqlite3.Connection, at: Entry, event: ev.Event) -> None:
    """Append ``event`` to the ``events`` table and update the query tables it touches."""
    conn.execute(
        "INSERT INTO events (run_id, seq, ts, kind, data) VALUES (?, ?, ?, ?, ?)",
        (at.run_id, at.seq, at.now, event.kind, to_json(event.to_dict())),
    )
    handler = HANDLERS.get(type(event))
    if handler is not None:
        handler(conn, at, event)
