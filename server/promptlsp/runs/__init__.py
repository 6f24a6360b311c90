"""The run store: optimization runs, their candidates, critiques and scores, in SQLite.

Typical use::

    store = RunStore.open(workspace / ".promptlsp" / "runs.sqlite")  # moves a corrupt file aside
    async for event in optimizer.run(...):
        store.record(run_id, event)
    last = store.last_run(path, prompt_sha(system, template))  # what to restore after a restart

See ``store.py`` for the table layout, the commit policy and the threading rule.
"""

from .store import (
    SCHEMA_VERSION,
    STATUSES,
    CandidateRecord,
    CritiqueRecord,
    RunRecord,
    RunStore,
    RunStoreError,
    RunSummary,
    StoredEvent,
    move_aside,
    normalize_file,
    prompt_sha,
)

__all__ = [
    "CandidateRecord", "CritiqueRecord", "RunRecord", "RunStore", "RunStoreError", "RunSummary", "SCHEMA_VERSION",
    "STATUSES", "StoredEvent", "move_aside", "normalize_file", "prompt_sha",
]
