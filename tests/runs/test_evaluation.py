"""Evaluations recorded as runs (runs/evaluation.py) and read back per example
(RunStore.example_results), with the scripted model: one example run, cached, recorded, cancellable."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from promptlsp.document import analyze
from promptlsp.engine import Engine, ScriptedBackend
from promptlsp.evaluate.inputs import inputs_sha
from promptlsp.runs import RunStore
from promptlsp.runs.evaluation import UnknownExample, recorded_evaluation, run_example

FILE = '''task = "Label reviews."
[prompt]
template = "Review: {{ review }}"
[[criteria]]
type = "equals"
[[examples]]
id = "good"
vars = { review = "great" }
expected = "positive"
[[examples]]
id = "bad"
vars = { review = "awful" }
expected = "negative"
split = "validation"
'''


def load(tmp_path, text=FILE):
    path = tmp_path / "r.prompt.toml"
    path.write_text(text)
    analysis = analyze(text, path, tmp_path)
    assert analysis.prompt is not None, analysis.diagnostics
    return analysis.prompt


def label(request: dict) -> str:
    return "positive" if "great" in request["messages"][-1]["content"] else "neutral"


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / ".promptlsp" / "runs.sqlite") as opened:
        yield opened


async def test_run_example_runs_one_example_records_it_and_answers_from_the_cache_next_time(tmp_path, store):
    prompt_file = load(tmp_path)
    backend = ScriptedBackend(label)
    engine = Engine(cache_path=tmp_path / "cache.sqlite", backend=backend)
    try:
        run_id, result = await run_example(engine.session(), prompt_file, "bad", store=store, warn=pytest.fail)
        assert (result.example_id, result.output, result.score, result.passed) == ("bad", "neutral", 0.0, False)
        assert result.checks[0].reason  # the check's reason comes along
        assert backend.calls_by_phase["task"] == 1  # that example only
        run = store.runs(prompt_file.path)[0]
        assert (run.id, run.method, run.status, run.best_score, run.scored_on) == (run_id, "example", "finished", 0.0,
                                                                                     "validation")
        found = store.example_results(prompt_file.path)
        assert list(found) == ["bad"]
        recorded = found["bad"].result
        assert (recorded.output, recorded.score, recorded.candidate_id) == ("neutral", 0.0, run.prompt_sha[:12])
        assert recorded.inputs_sha == inputs_sha(prompt_file, prompt_file.examples[1])
        assert recorded.details[0]["reason"] == result.checks[0].reason
        _, again = await run_example(engine.session(), prompt_file, "bad", store=store, warn=pytest.fail)
        assert again.cached and backend.calls_by_phase["task"] == 1  # the engine's cache answered
        assert len(store.runs(prompt_file.path)) == 2
    finally:
        engine.close()


async def test_an_unknown_example_id_is_refused_before_any_call(tmp_path, store):
    backend = ScriptedBackend(label)
    with pytest.raises(UnknownExample, match="nope"):
        await run_example(Engine(cache_path=None, backend=backend).session(), load(tmp_path), "nope", store=store,
                          warn=pytest.fail)
    assert backend.calls_by_phase["task"] == 0 and store.runs() == []


async def test_the_latest_evaluation_of_each_example_wins_and_optimizations_are_not_read(tmp_path, store):
    prompt_file = load(tmp_path)
    session = Engine(cache_path=None, backend=ScriptedBackend(label)).session()
    await recorded_evaluation(session, prompt_file, prompt_file.examples, store=store, warn=pytest.fail)
    later = Engine(cache_path=None, backend=ScriptedBackend("negative")).session()
    await run_example(later, prompt_file, "bad", store=store, warn=pytest.fail)
    found = store.example_results(prompt_file.path)
    assert {k: (v.method, v.result.output) for k, v in found.items()} == {
        "good": ("evaluate", "positive"), "bad": ("example", "negative")}
    assert store.example_results(tmp_path / "other.prompt.toml") == {}
    # an evaluation proposes nothing: the critiques' "last run" passes over it
    assert store.last_run(prompt_file.path) is None


async def test_a_cancelled_evaluation_is_recorded_as_cancelled(tmp_path, store):
    prompt_file = load(tmp_path)
    session = Engine(cache_path=None, backend=ScriptedBackend(label, latency=30)).session()
    task = asyncio.ensure_future(recorded_evaluation(session, prompt_file, prompt_file.examples, store=store,
                                                     warn=pytest.fail))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.runs()[0].status == "cancelled"


def test_the_fingerprint_follows_the_example_checks_and_model_not_the_prompt(tmp_path):
    prompt_file = load(tmp_path)
    good = prompt_file.examples[0]
    sha = inputs_sha(prompt_file, good)
    assert inputs_sha(prompt_file.with_prompt(template="Other {{ review }}"), good) == sha
    assert inputs_sha(prompt_file, replace(good, vars={"review": "great!"})) != sha
    assert inputs_sha(prompt_file, replace(good, expected=("neutral",))) != sha
    assert inputs_sha(replace(prompt_file, criteria=()), good) != sha
    task = replace(prompt_file.models.task, temperature=0.9)
    assert inputs_sha(replace(prompt_file, models=replace(prompt_file.models, task=task)), good) != sha
    slow = replace(prompt_file.models.task, timeout=999.0)  # not something that changes an answer
    assert inputs_sha(replace(prompt_file, models=replace(prompt_file.models, task=slow)), good) == sha


def test_a_version_1_store_is_migrated_and_its_old_results_read_without_a_fingerprint(tmp_path):
    import sqlite3

    from promptlsp.optimize.events import ExampleScored, RunStarted
    from promptlsp.optimize.events import PromptText
    from promptlsp.runs.schema import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "runs.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[1] + "PRAGMA user_version = 1;")
    conn.execute("INSERT INTO runs (id, file, method, status, started_at, updated_at) VALUES "
                 "('old', ?, 'critique', 'finished', 1, 1)", (str(tmp_path / "r.prompt.toml"),))
    conn.execute("INSERT INTO example_scores (run_id, candidate_id, split, example_id, seq, score, passed, output, "
                 "details) VALUES ('old', 'c', 'train', 'good', 1, 1.0, 1, 'positive', '[]')")
    conn.commit()
    conn.close()
    with RunStore(path) as store:
        found = store.example_results(tmp_path / "r.prompt.toml")
        assert found["good"].result.output == "positive" and found["good"].result.inputs_sha is None
        store.record("new", RunStarted("new", "example", str(tmp_path / "r.prompt.toml"), PromptText("t"), {}, {}))
        store.record("new", ExampleScored("c", "good", "train", 0.5, False, "meh", (), None, "abc"))
        assert store.example_results(tmp_path / "r.prompt.toml")["good"].result.inputs_sha == "abc"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
