"""The run store's tables, and the migrations that bring a file to :data:`SCHEMA_VERSION`.

The version is SQLite's ``PRAGMA user_version``: 0 for a new (empty) file. A file from a newer
promptlsp is refused, never downgraded; a SQLite file with other tables is not a run store.
The tables are described in ``store.py``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import RunStoreError

SCHEMA_VERSION = 2

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
# Version 2: each example result keeps the fingerprint of the example it scored
# (evaluate/inputs.py), so a reader can tell a result that still applies from a stale one.
_SCHEMA_V2 = """
ALTER TABLE example_scores ADD COLUMN inputs_sha TEXT;
CREATE INDEX IF NOT EXISTS runs_by_file_method ON runs(file, method, started_at);
"""
# Schema version N is reached by running MIGRATIONS[N] on a file at version N - 1.
MIGRATIONS = {1: _SCHEMA_V1, 2: _SCHEMA_V2}


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file of ``conn`` (autocommit mode) to :data:`SCHEMA_VERSION`, in one transaction."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the schema page
        return
    conn.execute("BEGIN IMMEDIATE")  # another process may be creating the schema right now
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RunStoreError(
                f"run store {path} has schema version {version}, written by a newer promptlsp "
                f"(this one reads version {SCHEMA_VERSION}); upgrade promptlsp or use another file",
                path=path,
            )
        if version == 0 and conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchone()[0] and not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
            raise RunStoreError(f"{path} is a SQLite file but not a run store", path=path)
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step}")
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
