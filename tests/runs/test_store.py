"""The run store: recording a run, querying it back, crashes, concurrency and damaged files."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from promptlsp.optimize.events import (
    CandidateProposed, CandidateRejected, CandidateScored, Critique, Event, ExampleScored, GradientComputed,
    IterationDone, PromptText, RunFinished, RunStarted, SummaryWritten, BeamUpdated,
)
from promptlsp.runs import SCHEMA_VERSION, RunStore, RunStoreError, prompt_sha

from run_events import gradients, stored_events

INITIAL = PromptText(template="Summarize: {{ text }}", system="You are terse.")
BETTER = PromptText(template="Summarize in one sentence: {{ text }}", system="You are terse.")
WORSE = PromptText(template="Say something about {{ text }}", system=None)


def full_run(run_id: str = "run-1", file: str = "/ws/sum.prompt.toml") -> list[Event]:
    """A small but complete GRAD-SUM run: every event kind at least once."""
    i, b, w = INITIAL.id, BETTER.id, WORSE.id
    return [
        RunStarted(run_id, "grad-sum", file, INITIAL, {"iterations": 1, "beam": 2}, {"calls": 40, "usd": 0.02}),
        CandidateProposed(i, None, 0, INITIAL, "initial"),
        ExampleScored(i, "ex-1", "train", 0.0, False, "rambling output", ({"name": "len", "score": 0.0},)),
        ExampleScored(i, "ex-2", "train", 1.0, True, "ok", (), None),
        ExampleScored(i, "ex-3", "train", None, False, None, (), "timeout"),
        CandidateScored(i, "minibatch", 1 / 3, 3, 0),
        GradientComputed(i, "ex-1", "the output is too long"),
        SummaryWritten(i, "too long", (
            Critique("asks for no length", "Summarize", "template", 0, 9, "say one sentence", ("ex-1",)),
            Critique("unanchored", "not in text", "system"),
        ), 1),
        CandidateProposed(b, i, 1, BETTER, "edit"),
        CandidateProposed(w, i, 1, WORSE, "edit"),
        CandidateRejected(i, 1, "no {{ text }} variable", raw="Summarize!"),
        CandidateScored(b, "minibatch", 1.0, 3, 1),
        CandidateScored(w, "minibatch", 0.5, 3, 1),
        BeamUpdated(1, (b, w), (1.0, 0.5)),
        IterationDone(1, b, 1.0, {"calls": 20, "usd": 0.01}),
        CandidateScored(i, "validation", 0.4, 5),
        CandidateScored(b, "validation", 0.9, 5),
        RunFinished("finished", b, BETTER, 0.4, 0.9, "validation", {"calls": 30, "usd": 0.015}, "done"),
    ]


def record_all(store: RunStore, run_id: str, events: list[Event]) -> None:
    for event in events:
        store.record(run_id, event)


@pytest.fixture
def store(tmp_path: Path):
    s = RunStore(tmp_path / ".promptlsp" / "runs.sqlite")
    yield s
    s.close()


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), isolation_level=None)


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_full_run_is_queryable(store: RunStore) -> None:
    events = full_run()
    record_all(store, "run-1", events)

    summary = store.run("run-1")
    assert summary is not None
    run = summary.run
    assert (run.status, run.method, run.file) == ("finished", "grad-sum", "/ws/sum.prompt.toml")
    assert run.settings == {"iterations": 1, "beam": 2} and run.estimate == {"calls": 40, "usd": 0.02}
    assert run.accounting == {"calls": 30, "usd": 0.015}  # the latest, from RunFinished
    assert run.initial == INITIAL.to_dict() and run.best == BETTER.to_dict()
    assert run.prompt_sha == prompt_sha(INITIAL.system, INITIAL.template)
    assert (run.best_candidate_id, run.initial_score, run.best_score, run.scored_on) == (BETTER.id, 0.4, 0.9, "validation")
    assert (run.iterations, run.events, run.message, run.pid) == (1, len(events), "done", os.getpid())
    assert run.started_at <= run.ended_at
    assert (summary.candidates, summary.rejected, summary.critiques, summary.example_scores, summary.gradients) == (
        3, 1, 2, 3, 1,
    )

    cands = store.candidates("run-1")
    assert [c.candidate_id for c in cands[:3]] == [BETTER.id, INITIAL.id, WORSE.id]
    best = cands[0]
    assert (best.template, best.parent_id, best.iteration, best.origin) == (BETTER.template, INITIAL.id, 1, "edit")
    assert (best.minibatch_score, best.minibatch_examples, best.validation_score) == (1.0, 3, 0.9)
    rejected = cands[-1]
    assert rejected.rejected and rejected.reason == "no {{ text }} variable" and rejected.raw == "Summarize!"
    assert rejected.candidate_id.startswith("rejected:") and rejected.template is None

    crit = store.critiques("run-1")
    assert [(c.quote, c.start, c.end, c.target, c.examples, c.iteration) for c in crit] == [
        ("Summarize", 0, 9, "template", ("ex-1",), 1), ("not in text", None, None, "system", (), 1),
    ]
    assert crit[0].suggestion == "say one sentence" and store.critiques("run-1", BETTER.id) == []
    assert len(store.critiques("run-1", INITIAL.id)) == 2

    scores = store.example_scores("run-1", INITIAL.id)
    assert [(s.example_id, s.score, s.passed, s.output, s.error) for s in scores] == [
        ("ex-1", 0.0, False, "rambling output", None), ("ex-2", 1.0, True, "ok", None),
        ("ex-3", None, False, None, "timeout"),
    ]
    assert scores == events[2:5]  # the very ExampleScored events that reported them
    assert store.example_scores("run-1", BETTER.id) == []
    assert gradients(store, "run-1") == [events[6]] and gradients(store, "run-1", BETTER.id) == []

    stored = stored_events(store, "run-1")
    assert [e.seq for e in stored] == list(range(1, len(events) + 1))
    assert [e.kind for e in stored] == [e.kind for e in events]
    assert [e.data for e in stored] == [e.to_dict() for e in events]
    assert [e.to_event() for e in stored] == events  # replay gives the very same typed events

    for item in [summary, *cands, *crit, *scores, *stored, *store.runs()]:
        json.dumps(item.to_dict(), allow_nan=False)  # plain JSON for the LSP
    assert store.run("no-such-run") is None and stored_events(store, "no-such-run") == []


def test_candidates_best_first(store: RunStore) -> None:
    def scored(cid: str, minibatch: float | None, validation: float | None) -> list[Event]:
        out: list[Event] = [CandidateProposed(cid, None, 1, PromptText(cid), "edit")]
        if minibatch is not None:
            out.append(CandidateScored(cid, "minibatch", minibatch, 4))
        if validation is not None:
            out.append(CandidateScored(cid, "validation", validation, 4))
        return out

    events = [
        RunStarted("r", "tgd", "f.prompt.toml", PromptText("x"), {}, {}),
        CandidateRejected(None, 1, "empty answer"),
        *scored("unscored", None, None),
        *scored("mb-low", 0.8, None),
        *scored("val-tie-mb-high", 1.0, 0.5),
        *scored("mb-high", 0.95, None),
        *scored("val-high", 0.1, 0.9),
        *scored("val-tie-mb-low", 0.7, 0.5),
        CandidateScored("scored-first", "validation", 0.7, 4),  # scored before proposed: keeps its score
        CandidateProposed("scored-first", None, 2, PromptText("late"), "edit"),
    ]
    record_all(store, "r", events)
    order = [c.candidate_id for c in store.candidates("r")]
    assert order[:-1] == ["val-high", "scored-first", "val-tie-mb-high", "val-tie-mb-low", "mb-high", "mb-low", "unscored"]
    assert order[-1].startswith("rejected:")
    late = next(c for c in store.candidates("r") if c.candidate_id == "scored-first")
    assert (late.validation_score, late.template, late.iteration) == (0.7, "late", 2)
    assert [c.candidate_id for c in store.candidates("r", include_rejected=False)] == order[:-1]


def test_last_run_by_file_and_sha(store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    file, other = "a.prompt.toml", str(tmp_path / "b.prompt.toml")
    v1, v2 = PromptText("version one"), PromptText("version two")

    def run(run_id: str, f: str, prompt: PromptText, status: str | None) -> None:
        store.record(run_id, RunStarted(run_id, "grad-sum", f, prompt, {}, {}))
        if status:
            store.record(run_id, RunFinished(status, prompt.id, prompt, 0.1, 0.2, "train"))  # type: ignore[arg-type]

    run("old-v1", file, v1, "finished")
    run("v2", file, v2, "cancelled")
    run("failed-v1", file, v1, "failed")  # failed runs are not restored
    run("b-run", other, v1, "budget-exhausted")
    run("live-v1", file, v1, None)  # still running, in this (live) process

    absolute = str(tmp_path / file)
    assert [r.id for r in store.runs(absolute)] == ["live-v1", "failed-v1", "v2", "old-v1"]
    assert store.runs(absolute)[0].file == absolute  # stored absolute, relative to the recorder's cwd
    assert [r.id for r in store.runs()] == ["live-v1", "b-run", "failed-v1", "v2", "old-v1"]
    assert [r.id for r in store.runs(limit=2)] == ["live-v1", "b-run"]
    assert store.runs(absolute)[0].status == "running"

    sha1, sha2 = prompt_sha(None, "version one"), prompt_sha(None, "version two")
    assert store.last_run(file).id == "v2"  # type: ignore[union-attr]
    assert store.last_run(absolute, sha1).id == "old-v1"  # type: ignore[union-attr]
    assert store.last_run(absolute, sha2).id == "v2"  # type: ignore[union-attr]
    assert store.last_run(absolute, prompt_sha(None, "version three")) is None
    assert store.last_run(other, sha1).id == "b-run"  # type: ignore[union-attr]
    assert store.last_run(tmp_path / "never.prompt.toml") is None


def test_prompt_sha() -> None:
    assert prompt_sha("s", "t") == prompt_sha("s", "t") and len(prompt_sha("s", "t")) == 64
    assert prompt_sha(None, "t") != prompt_sha("", "t")  # no system differs from an empty one
    assert prompt_sha("a", "bc") != prompt_sha("ab", "c")
    assert prompt_sha(INITIAL.system, INITIAL.template)[:12] == INITIAL.id


def test_writer_and_reader_objects_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    writer, reader = RunStore(path), RunStore(path)
    writer.record("r", RunStarted("r", "grad-sum", "f", INITIAL, {}, {}))
    total, errors, seen = 300, [], [len(stored_events(reader, "r"))]

    def write() -> None:
        try:
            for n in range(total):
                writer.record("r", ExampleScored("c", f"ex-{n}", "train", 1.0, True, "x" * 200))
            writer.record("r", RunFinished("finished", "c", INITIAL, 0.0, 1.0, "train"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    while thread.is_alive():
        seen.append(len(stored_events(reader, "r")))
        reader.runs()
    thread.join()
    assert errors == []
    assert seen == sorted(seen) and any(1 < n < total + 2 for n in seen)  # it saw the run grow, commit by commit
    assert len(stored_events(reader, "r")) == total + 2 and len(reader.example_scores("r", "c")) == total
    assert reader.run("r").run.status == "finished"  # type: ignore[union-attr]
    writer.close()
    reader.close()


def test_several_processes_create_and_write_one_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "runs.sqlite"
    code = (
        "import sys; from promptlsp.runs import RunStore; from promptlsp.optimize.events import *\n"
        "s = RunStore(sys.argv[1]); rid = sys.argv[2]; p = PromptText(rid)\n"
        "s.record(rid, RunStarted(rid, 'm', 'f', p, {}, {}))\n"
        "[s.record(rid, GradientComputed(p.id, str(i), 'g')) for i in range(20)]\n"
        "s.record(rid, RunFinished('finished', p.id, p, 0.0, 1.0, 'train'))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), f"p{n}"], stderr=subprocess.PIPE) for n in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
    with RunStore(path) as store:
        assert sorted(r.id for r in store.runs()) == ["p0", "p1"]
        assert all(r.status == "finished" and r.events == 22 for r in store.runs())


KILLED_WRITER = """
import sys, time
from promptlsp.runs import RunStore
from promptlsp.optimize.events import *
store = RunStore(sys.argv[1])
p = PromptText("Classify: {{ x }}")
store.record("killed", RunStarted("killed", "grad-sum", "/ws/k.prompt.toml", p, {"seed": 1}, {}))
store.record("killed", CandidateProposed(p.id, None, 0, p, "initial"))
for n in range(50):
    store.record("killed", ExampleScored(p.id, f"ex-{n}", "train", 0.5, n % 2 == 0, "out " * 100))
store.record("killed", SummaryWritten(p.id, "s", (Critique("vague", "Classify", start=0, end=8),), 1))
print("ready", flush=True)
time.sleep(60)
"""


def test_kill_9_leaves_an_interrupted_run(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with RunStore(path) as live:  # while it lives, the run is running
            assert live.run("killed").run.status == "running"  # type: ignore[union-attr]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    with raw(path) as conn:  # the file opens and is sound, WAL and all
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with RunStore(path) as store:
        run = store.run("killed")
        assert run is not None and run.run.status == "interrupted"
        assert run.run.ended_at == run.run.updated_at and "ended before the run finished" in run.run.message
        assert run.example_scores == 50 and run.critiques == 1 and run.candidates == 1
        assert [e.kind for e in stored_events(store, "killed")] == ["run-started", "candidate-proposed"] + [
            "example-scored"
        ] * 50 + ["summary"]
        assert store.last_run("/ws/k.prompt.toml", prompt_sha(None, "Classify: {{ x }}")).id == "killed"  # type: ignore[union-attr]
    with raw(path) as conn:  # and the verdict was written down
        assert conn.execute("SELECT status FROM runs WHERE id = 'killed'").fetchone()[0] == "interrupted"


def test_liveness_uses_pid_host_and_process_identity(store: RunStore) -> None:
    for run_id in ("gone", "elsewhere", "reused", "mine"):
        store.record(run_id, RunStarted(run_id, "m", "f", INITIAL, {}, {}))
    pid = dead_pid()
    with raw(store.path) as conn:
        conn.execute("UPDATE runs SET pid = ? WHERE id = 'gone'", (pid,))
        conn.execute("UPDATE runs SET pid = ?, host = 'another-host' WHERE id = 'elsewhere'", (pid,))
        conn.execute("UPDATE runs SET proc_token = 'other-boot:1' WHERE id = 'reused'")  # a live pid, reused
    status = {r.id: r.status for r in store.runs()}
    assert status["gone"] == "interrupted"
    assert status["elsewhere"] == "running"  # another host: cannot tell, so never called dead
    assert status["mine"] == "running"
    if Path("/proc/self/stat").exists():
        assert status["reused"] == "interrupted"


def test_finish_is_committed_and_fsynced(store: RunStore) -> None:
    record_all(store, "run-1", full_run()[:-1])
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    store.record("run-1", full_run()[-1])
    store._conn.set_trace_callback(None)
    assert statements.index("PRAGMA synchronous = FULL") < statements.index("COMMIT")
    assert statements[-1] == "PRAGMA synchronous = NORMAL"
    with raw(store.path) as other:  # visible to another connection the moment record() returns
        assert other.execute("SELECT status FROM runs WHERE id = 'run-1'").fetchone()[0] == "finished"
    assert not store._conn.in_transaction


def test_failed_record_writes_nothing(store: RunStore) -> None:
    store.record("r", RunStarted("r", "m", "f", INITIAL, {}, {}))
    broken = RunFinished("finished", "c", None, 0.0, 1.0, "train")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        store.record("r", broken)
    assert [e.kind for e in stored_events(store, "r")] == ["run-started"] and store.run("r").run.status == "running"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        store.record("r2", RunStarted("other-id", "m", "f", INITIAL, {}, {}))
    assert store.run("r2") is None
    store.record("r", GradientComputed("c", "e", "g"))  # the store still works, seq continues
    assert [e.seq for e in stored_events(store, "r")] == [1, 2]


def test_unicode_emoji_and_huge_outputs(store: RunStore) -> None:
    prompt = PromptText("Résume en français 🇫🇷: {{ texte }}", system="日本語で答えて 🙂")
    huge = "長い出力 🚀 " * 400_000  # ~ 3.6 M characters
    record_all(store, "ü", [
        RunStarted("ü", "grad-sum", "/ws/données/😀.prompt.toml", prompt, {"note": "naïve ✓"}, {}),
        CandidateProposed(prompt.id, None, 0, prompt, "initial"),
        ExampleScored(prompt.id, "exemple-é", "train", 0.5, False, huge, ({"reason": "trop long ✗"},)),
        ExampleScored(prompt.id, "nul", "train", 0.5, False, "a\x00b"),
        ExampleScored(prompt.id, "surrogate", "train", 0.5, False, "bad \ud800 half"),  # from a JSON decode
        SummaryWritten(prompt.id, "résumé", (Critique("trop vague 🤷", "français 🇫🇷", start=10, end=21),), 1),
    ])
    [run] = store.runs("/ws/données/😀.prompt.toml")
    assert run.id == "ü" and run.initial == prompt.to_dict() and run.settings == {"note": "naïve ✓"}
    outputs = {s.example_id: s.output for s in store.example_scores("ü", prompt.id)}
    assert outputs["exemple-é"] == huge and outputs["nul"] == "a\x00b" and outputs["surrogate"] == "bad ? half"
    [crit] = store.critiques("ü")
    assert crit.quote == "français 🇫🇷" and crit.critique == "trop vague 🤷"
    assert stored_events(store, "ü")[2].data["output"] == huge
    assert store.candidates("ü")[0].system == "日本語で答えて 🙂"


def test_schema_is_versioned_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "runs.sqlite"
    RunStore(path).close()
    with RunStore(path) as again:  # reopening changes nothing
        again.record("r", GradientComputed("c", "e", "g"))  # an event before RunStarted still lands
        assert again.run("r").run.status == "running"  # type: ignore[union-attr]
    with raw(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"runs", "events", "candidates", "critiques", "example_scores", "gradients"} <= tables
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(RunStoreError, match="newer promptlsp") as info:
        RunStore.open(path)  # not corrupt: never moved aside
    assert not info.value.corrupt and path.exists() and not list(path.parent.glob("*.corrupt-*"))


def test_corrupt_file_raises_and_can_be_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    garbage = b"this is not a database at all \x00\x01" * 200
    path.write_bytes(garbage)
    with pytest.raises(RunStoreError) as info:
        RunStore(path)
    assert info.value.corrupt and info.value.path == path and str(path) in str(info.value)
    assert path.read_bytes() == garbage  # the strict constructor touches nothing

    store = RunStore.open(path)
    assert store.recovered_from is not None and store.recovered_from.name.startswith("runs.sqlite.corrupt-")
    assert store.recovered_from.read_bytes() == garbage
    store.record("r", RunStarted("r", "m", "f", INITIAL, {}, {}))
    assert [r.id for r in store.runs()] == ["r"]
    store.close()


def test_damaged_schema_page_is_corrupt_too(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        record_all(store, "run-1", full_run())
    data = bytearray(path.read_bytes())
    data[100:4096] = b"Z" * (4096 - 100)  # page 1 after the header: the schema
    path.write_bytes(bytes(data))
    with pytest.raises(RunStoreError) as info:
        RunStore(path)
    assert info.value.corrupt
    with RunStore.open(path) as fresh:
        assert fresh.recovered_from is not None and fresh.runs() == [] and fresh.check() == []


def test_deep_damage_is_found_by_check_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        store.record("r", RunStarted("r", "m", "f", INITIAL, {}, {}))
        for n in range(200):
            store.record("r", GradientComputed("c", str(n), "g" * 100))
    data = bytearray(path.read_bytes())
    middle = len(data) // 4096 // 2 * 4096
    data[middle:middle + 3 * 4096] = b"\x07" * (3 * 4096)  # three pages in the middle of the file
    path.write_bytes(bytes(data))

    with RunStore(path) as opened:  # page 1 is fine, so a plain open works...
        assert opened.check() != []  # ...but the check finds the damage
    with RunStore.open(path, verify=True) as fresh:
        assert fresh.recovered_from is not None and fresh.runs() == []


def test_a_foreign_sqlite_file_is_refused_not_destroyed(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with raw(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(RunStoreError, match="not a run store") as info:
        RunStore.open(path)
    assert not info.value.corrupt and not list(tmp_path.glob("*.corrupt-*"))


def test_closed_store_raises_run_store_error(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    store.close()
    store.close()  # twice is fine
    with pytest.raises(RunStoreError):
        store.runs()
