"""``promptlsp runs``: the recorded runs of a workspace, newest first (filter by file and status)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from ..runs import RunStore, RunStoreError
from ..state import runs_path
from .common import EXIT_OK, CommandError


def workspace_store(root: str | None, file: str | None) -> RunStore:
    """The run store of ``--root`` (else of the file's workspace, else of the current folder);
    never created by looking."""
    from ..document import find_root

    # find_root looks upwards from a file's folder; without a file, from the current folder
    workspace = Path(root) if root else find_root(Path(file) if file else Path.cwd() / "any.prompt.toml")
    path = runs_path(workspace)
    if not path.exists():
        raise CommandError(f"no run store at {path} (runs are recorded by promptlsp optimize and the editor)")
    try:
        return RunStore.open(path)
    except RunStoreError as exc:
        raise CommandError(str(exc)) from exc


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def run(args) -> int:
    with workspace_store(args.root, args.file) as store:
        try:
            found = store.runs(args.file, limit=args.limit, status=args.status)
        except RunStoreError as exc:
            raise CommandError(str(exc)) from exc
    if args.format == "json":
        json.dump([r.to_dict() for r in found], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return EXIT_OK
    if not found:
        print("no runs" + (f" of {args.file}" if args.file else "") + (f" with status {args.status}" if args.status else ""))
        return EXIT_OK
    for r in found:
        started = dt.datetime.fromtimestamp(r.started_at).strftime("%Y-%m-%d %H:%M")
        calls = ((r.accounting or {}).get("total") or {}).get("calls", 0)
        print(f"{r.id}  {started}  {r.status:<16} {(r.method or 'run'):<9} {r.scored_on or 'score'} "
              f"{_score(r.initial_score)} → {_score(r.best_score)}  {calls} calls  {r.file or ''}")
    return EXIT_OK
