"""The run store: optimization runs, their candidates, critiques and scores, in SQLite.

Typical use::

    store = RunStore.open(workspace / ".promptlsp" / "runs.sqlite")  # moves a corrupt file aside
    async for event in optimizer.run(...):
        store.record(run_id, event)
    last = store.last_run(path, prompt_sha(system, template))  # what to restore after a restart

See ``store.py`` for the table layout, the commit policy and the threading rule; ``schema.py``
(tables, migrations), ``writes.py`` (what each event writes), ``records.py`` (what queries
return), ``liveness.py`` (telling an interrupted run from a running one).
"""

from .errors import RunStoreError
from .records import (
    STATUSES,
    CandidateRecord,
    CritiqueRecord,
    RunRecord,
    RunSummary,
    normalize_file,
    prompt_sha,
)
from .schema import SCHEMA_VERSION
from .store import RunStore, move_aside

__all__ = [
    "CandidateRecord", "CritiqueRecord", "RunRecord", "RunStore", "RunStoreError", "RunSummary", "SCHEMA_VERSION",
    "STATUSES", "move_aside", "normalize_file", "prompt_sha",
]
