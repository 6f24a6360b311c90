"""Nothing before the first real call: a rerun whose answers are all cached never imports
litellm nor starts the embedded model, and the CLI leaves as soon as its result is out — with
the cache, the run store and a written file intact."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import types
from pathlib import Path

import pytest

from promptlsp.cli.main import main
from promptlsp.document import analyze
from promptlsp.engine import Engine, ScriptedBackend
from promptlsp.evaluate.runner import evaluate
from promptlsp.runs import RunStore
from promptlsp.state import cache_path, runs_path

from run_events import stored_events

EXAMPLE = Path(__file__).resolve().parents[2] / "prompts-spec" / "examples" / "sentiment.prompt.toml"

# Runs the CLI as `python -m promptlsp` does, then reports what the run imported. An atexit hook
# writes a marker: it runs only if the interpreter tears down normally (not after the fast exit).
_PROBE = """
import atexit, runpy, sys
marker, argv = sys.argv[1], sys.argv[2:]
def teardown():
    with open(marker, "w") as out:
        out.write("litellm imported" if "litellm" in sys.modules else "litellm not imported")
atexit.register(teardown)
sys.argv = ["promptlsp", *argv]
runpy.run_module("promptlsp", run_name="__main__")
"""
_IMPORTS = """
import sys
from promptlsp.cli.main import main
code = main(sys.argv[1:])
print("LITELLM", "litellm" in sys.modules)
raise SystemExit(code)
"""


def _run(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.mark.parametrize("command", [["eval", "--format", "json"], ["optimize", "--iterations", "1", "--format", "json"]])
def test_a_fully_cached_rerun_never_imports_litellm(workspace, command):
    first = _run(_IMPORTS, command[0], str(workspace), *command[1:])
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.split("LITELLM")[0])["accounting"]["total"]["calls"] > 0
    assert first.stdout.rstrip().endswith("LITELLM True")  # real calls load it

    again = _run(_IMPORTS, command[0], str(workspace), *command[1:])
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout.split("LITELLM")[0])
    assert report["accounting"]["total"]["calls"] == 0 and report["accounting"]["total"]["cache_hits"] > 0
    assert again.stdout.rstrip().endswith("LITELLM False")


class _FakeLocalModels(types.ModuleType):
    """``promptlsp.engine.local`` whose model start is recorded (and fails: no real model)."""

    class LocalModelUnavailable(Exception):
        pass

    def __init__(self) -> None:
        super().__init__("promptlsp.engine.local")
        self.started: list[str] = []

    def resolve(self, model: str):
        self.started.append(model)
        raise self.LocalModelUnavailable("no local model in this test")


@pytest.fixture
def local_workspace(tmp_path) -> Path:
    """The sentiment example as shipped (every model ``local/qwen2.5-coder-0.5b``), with every
    task answer already in the workspace's cache."""
    (tmp_path / ".git").mkdir()
    path = tmp_path / "sentiment.prompt.toml"
    path.write_bytes(EXAMPLE.read_bytes())
    prompt_file = analyze(path.read_text(encoding="utf-8"), path, tmp_path).prompt
    assert prompt_file.models.task.model.startswith("local/")
    engine = Engine(cache_path=cache_path(tmp_path), backend=ScriptedBackend("positive"))
    try:
        report = asyncio.run(evaluate(engine.session(), prompt_file, examples=prompt_file.split("all")))
    finally:
        engine.close()
    assert report.accounting["total"]["calls"] == len(prompt_file.examples)
    return path


def test_an_eval_with_every_answer_cached_does_not_start_the_local_model(local_workspace, monkeypatch, capsys):
    local = _FakeLocalModels()
    monkeypatch.setitem(sys.modules, "promptlsp.engine.local", local)
    assert main(["eval", str(local_workspace), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert local.started == []
    assert report["accounting"]["total"]["calls"] == 0 and report["accounting"]["total"]["cache_hits"] == 12
    assert all(e["output"] == "positive" for e in report["examples"])


def test_the_local_model_starts_on_the_first_answer_not_cached(local_workspace, monkeypatch, capsys):
    with sqlite3.connect(cache_path(local_workspace.parent)) as db:
        db.execute("DELETE FROM responses WHERE key = (SELECT key FROM responses LIMIT 1)")
    local = _FakeLocalModels()
    monkeypatch.setitem(sys.modules, "promptlsp.engine.local", local)
    main(["eval", str(local_workspace), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert set(local.started) == {"local/qwen2.5-coder-0.5b"}  # (a failed start is retried once by prepare)
    assert report["accounting"]["total"]["cache_hits"] == 11
    assert [e["error"] is not None for e in report["examples"]].count(True) == 1


def test_the_cli_exits_without_teardown_and_leaves_cache_run_store_and_file_intact(workspace, tmp_path):
    marker = tmp_path / "teardown.txt"
    before = workspace.read_bytes()
    done = _run(_PROBE, str(marker), "optimize", str(workspace), "--iterations", "1", "--write", "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # the whole result was flushed before the exit
    assert not marker.exists(), "the interpreter tore down after the result"  # left by os._exit

    assert result["written"] and workspace.read_bytes() != before
    assert [p.name for p in workspace.parent.iterdir() if p.name.startswith(".sentiment")] == []  # no temp file
    root = workspace.parent
    for path in (cache_path(root), runs_path(root)):
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with sqlite3.connect(cache_path(root)) as db:
        assert 0 < db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] <= result["accounting"]["total"]["calls"]
    store = RunStore(runs_path(root))
    try:
        (run,) = store.runs()
        assert run.id == result["run_id"] and run.status == "finished"
        assert stored_events(store, run.id)[-1].kind == "run-finished"
        assert store.check() == []
    finally:
        store.close()
