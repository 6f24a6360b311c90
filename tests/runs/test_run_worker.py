"""The run worker (``runs/worker.py``) and the language server's side of it (``runs/remote.py``):
runs and evaluations in their own process, events and results brought back intact; cancelled,
killed or broken workers end in a recorded result, never a hang.

Against the real worker process and the loopback stub model (the real litellm path)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomlkit

from promptlsp.document import analyze
from promptlsp.optimize import events as ev
from promptlsp.runs import RunStore
from promptlsp.runs.remote import RunWorker, WorkerFailed, event_from_dict
from promptlsp.runs.service import Recorder, RunService
from promptlsp.testing.openai_stub import StubServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from stub_model import GOOD_TEMPLATE, answer  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "prompts-spec" / "examples" / "sentiment.prompt.toml"
KEY = "STUB_WORKER_KEY"


@pytest.fixture
def stub():
    with StubServer(latency=0.0, answer=answer) as server:
        yield server


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(KEY, "sk-test-not-a-secret")


def prompt_file(tmp_path: Path, stub: StubServer):
    doc = tomlkit.parse(EXAMPLE.read_text(encoding="utf-8"))
    doc["models"] = {role: {"model": "openai/stub", "api_base": stub.url, "api_key_env": KEY, "seed": 7}
                     for role in ("task", "judge", "optimizer")}
    path = tmp_path / "sentiment.prompt.toml"
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    analysis = analyze(path.read_text(encoding="utf-8"), path, tmp_path)
    assert analysis.prompt is not None
    return analysis.prompt


def test_every_event_kind_survives_the_trip():
    prompt = ev.PromptText("Review: {{ review }}", "Be brief.")
    events = [
        ev.RunStarted("r1", "gradsum", "/f.prompt.toml", prompt, {"beam_width": 2}, {"calls": 3}),
        ev.ExampleScored("c1", "e1", "train", 0.5, False, "out", ({"name": "x", "passed": False},), None),
        ev.GradientComputed("c1", "e1", "text"),
        ev.SummaryWritten("c1", "s", (ev.Critique("bad", "Review", "template", 0, 6, "fix", ("e1",)),), 1),
        ev.CandidateProposed("c2", "c1", 1, prompt, "edit"),
        ev.CandidateRejected("c1", 1, "identical", "raw"),
        ev.StepFailed("c1", 1, "summary", "cut off", None),
        ev.CandidateScored("c2", "validation", None, 4, 2),
        ev.BeamUpdated(1, ("c1", "c2"), (0.5, 0.25)),
        ev.IterationDone(1, "c2", None, {"total": {"calls": 9}}),
        ev.RunFinished("finished", "c2", prompt, 0.0, 0.75, "validation", {"total": {"calls": 12}}, "chosen"),
    ]
    assert {e.kind for e in events} == {cls.kind for cls in ev.Event.__subclasses__()}  # every kind covered
    for event in events:
        assert event_from_dict(json.loads(json.dumps(event.to_dict()))) == event
    with pytest.raises(ValueError):
        event_from_dict({"kind": "no-such-event"})


async def test_an_optimization_in_the_worker_is_recorded_as_in_one_process(tmp_path, stub):
    pf = prompt_file(tmp_path, stub)
    service, worker = RunService(), RunWorker()
    store = service.store(tmp_path)
    recorder = Recorder(pytest.fail)
    plan = service.plan(pf, tmp_path, iterations=1, emit=recorder)  # planned here, run there
    recorder.store = store
    seen: list[ev.Event] = []
    recorder.listeners.append(seen.append)
    try:
        finished = await worker.optimize(pf, tmp_path, run_id=plan.run_id, emit=recorder, method=plan.method,
                                         iterations=plan.iterations)
    finally:
        await worker.close()
        service.close()
    assert finished.status == "finished" and finished.best.template == GOOD_TEMPLATE
    assert seen[0].kind == "run-started" and seen[0].run_id == plan.run_id and seen[-1] == finished
    record = RunStore(tmp_path / ".promptlsp" / "runs.sqlite").run(plan.run_id)
    assert record is not None and record.run.status == "finished" and record.run.best_score == finished.best_score


async def test_an_evaluation_in_the_worker_reports_progress_and_the_report(tmp_path, stub):
    pf = prompt_file(tmp_path, stub)
    worker, done, service = RunWorker(), [], RunService()
    ids = [e.id for e in pf.examples][:3]
    try:
        run_id, report = await worker.evaluate(pf, tmp_path, ids, store=service.store(tmp_path), warn=pytest.fail,
                                               on_done=done.append)
        again_id, again = await worker.evaluate(pf, tmp_path, ids, store=service.store(tmp_path), warn=pytest.fail)
    finally:
        await worker.close()
    assert [row["example_id"] for row in report["examples"]] == ids
    assert done == [1, 2, 3]
    assert [row["cached"] for row in report["examples"]] == [False] * 3 and [row["cached"] for row in again["examples"]] == [True] * 3
    record = service.store(tmp_path).run(run_id)  # recorded by this side, from the worker's events
    assert record is not None and record.run.method == "evaluate" and record.run.status == "finished"
    assert again_id != run_id
    service.close()


async def started_run(tmp_path: Path, slow: StubServer):
    """An optimization started in a new worker (its RunStarted seen), recorded in a store:
    (service, worker, plan, the events seen, the task awaiting its end)."""
    pf = prompt_file(tmp_path, slow)
    service, worker = RunService(), RunWorker()
    recorder = Recorder(pytest.fail)
    plan = service.plan(pf, tmp_path, iterations=1, emit=recorder)
    recorder.store = service.store(tmp_path)
    seen: list[ev.Event] = []
    recorder.listeners.append(seen.append)
    task = asyncio.ensure_future(worker.optimize(pf, tmp_path, run_id=plan.run_id, emit=recorder))
    while not seen:  # the run has started in the worker
        await asyncio.sleep(0.05)
    return service, worker, plan, seen, task


async def test_cancelling_stops_the_run_in_the_worker_which_records_it(tmp_path):
    with StubServer(latency=30.0, answer=answer) as slow:  # no answer comes before the cancel
        service, worker, plan, seen, task = await started_run(tmp_path, slow)
        try:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 20)
            assert seen[-1].kind == "run-finished" and seen[-1].status == "cancelled"
            assert service.store(tmp_path).run(plan.run_id).run.status == "cancelled"
        finally:
            await worker.close()
            service.close()


async def test_a_worker_that_dies_mid_run_gives_a_recorded_failure_and_the_next_run_a_new_worker(tmp_path, stub):
    (tmp_path / "fast").mkdir()
    fast = prompt_file(tmp_path / "fast", stub)
    with StubServer(latency=30.0, answer=answer) as slow:
        service, worker, plan, seen, task = await started_run(tmp_path, slow)
        try:
            first = worker._process
            first.kill()  # as the OOM killer would
            finished = await asyncio.wait_for(task, 20)
            assert finished.status == "failed" and "run worker exited" in finished.message
            assert seen[-1] == finished
            assert service.store(tmp_path).run(plan.run_id).run.status == "failed"
            _, report = await asyncio.wait_for(worker.evaluate(fast, tmp_path / "fast", [fast.examples[0].id], store=None,
                                                               warn=pytest.fail), 60)
            assert [row["example_id"] for row in report["examples"]] == [fast.examples[0].id]
            assert worker._process is not first  # a new worker
        finally:
            await worker.close()
            service.close()


async def test_a_worker_that_cannot_start_is_a_clear_failure(tmp_path, stub):
    pf = prompt_file(tmp_path, stub)
    worker = RunWorker(command=[str(tmp_path / "no-such-python"), "-m", "promptlsp.runs.worker"])
    with pytest.raises(WorkerFailed, match="cannot start the run worker"):
        await worker.evaluate(pf, tmp_path, [pf.examples[0].id], store=None, warn=pytest.fail)
    broken = RunWorker(command=[sys.executable, "-c", "import sys; sys.stdin.readline(); print('not json'); sys.exit(3)"])
    with pytest.raises(WorkerFailed, match=r"exited \(code 3\)"):
        await broken.evaluate(pf, tmp_path, [pf.examples[0].id], store=None, warn=pytest.fail)


def test_the_client_side_never_loads_litellm(tmp_path, stub):
    """What the language server does with a run — plan it, send it, record its events — in a
    fresh interpreter: the run happens (in the worker), and litellm is not loaded here."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from promptlsp.document import analyze
        from promptlsp.runs.remote import RunWorker
        from promptlsp.runs.service import Recorder, RunService
        path, root = Path({str(prompt_file(tmp_path, stub).path)!r}), Path({str(tmp_path)!r})
        pf = analyze(path.read_text(), path, root).prompt
        async def main():
            service, worker, recorder = RunService(), RunWorker(), Recorder(print)
            plan = service.plan(pf, root, iterations=1, emit=recorder)
            recorder.store = service.store(root)
            finished = await worker.optimize(pf, root, run_id=plan.run_id, emit=recorder)
            await worker.close()
            print(finished.status, "litellm" in sys.modules)
        asyncio.run(main())
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "server"),
                                                       os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["finished", "False"]
