"""`promptlsp eval` and `promptlsp optimize` end to end: real litellm HTTP path, loopback stub model."""

import json
import subprocess
import sys

import tomlkit

from promptlsp.cli.main import main
from promptlsp.document.spans import scan
from promptlsp.runs import RunStore

from stub_model import GOOD_TEMPLATE


def test_eval_prints_a_table_and_gates_on_min_score(workspace, capsys):
    assert main(["eval", str(workspace), "--split", "validation"]) == 0
    out = capsys.readouterr().out
    assert "validation: score 0.000" in out and "tablet-kids" in out and "desk-assembly" not in out
    assert main(["eval", str(workspace), "--min-score", "0.5"]) == 1
    assert "gate --min-score 0.5: FAILED" in capsys.readouterr().out


def test_eval_json(workspace, capsys):
    assert main(["eval", str(workspace), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["score"] == 0.0 and len(report["examples"]) == 12
    assert report["examples"][0]["checks"][0]["reason"].startswith("output")
    assert report["accounting"]["total"]["calls"] + report["accounting"]["total"]["cache_hits"] == 12


def test_optimize_shows_estimate_scores_and_diff_without_writing(workspace, capsys):
    before = workspace.read_bytes()
    assert main(["optimize", str(workspace), "--iterations", "1"]) == 0
    captured = capsys.readouterr()
    assert "at most" in captured.err and "calls" in captured.err  # the estimate comes first
    assert "finished: validation score 0.000 → 1.000" in captured.out
    assert "+Answer with one word" in captured.out and "not written" in captured.out
    assert workspace.read_bytes() == before


def test_optimize_write_changes_only_the_template_bytes(workspace, capsys):
    before = workspace.read_bytes().decode("utf-8")
    assert main(["optimize", str(workspace), "--iterations", "1", "--write", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["written"] and result["best_score"] == 1.0
    after = workspace.read_bytes().decode("utf-8")
    assert tomlkit.parse(after)["prompt"]["template"] == GOOD_TEMPLATE.replace("\n", "\r\n")  # CRLF kept
    # every byte outside the template string is identical (comments, CRLF, order, spacing)
    old_span = scan(before).nodes[("prompt", "template")].value
    new_span = scan(after).nodes[("prompt", "template")].value
    assert before[: old_span.start] == after[: new_span.start]
    assert before[old_span.end:] == after[new_span.end:]
    # and the run is in the store beside the workspace
    store = RunStore(workspace.parent / ".promptlsp" / "runs.sqlite")
    (run,) = store.runs()
    assert run.id == result["run_id"] and run.status == "finished" and run.best_score == 1.0


def test_optimize_at_the_budget_stops_cleanly_and_keeps_the_file(workspace, capsys):
    before = workspace.read_bytes()
    assert main(["optimize", str(workspace), "--budget-calls", "3", "--write", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("budget-exhausted")
    assert workspace.read_bytes() == before


def test_a_file_with_errors_is_refused_with_its_diagnostics(tmp_path, capsys):
    bad = tmp_path / "bad.prompt.toml"
    bad.write_text('task = "x"\n[prompt]\ntemplate = "{{ a }"\n')
    assert main(["optimize", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "[template-syntax]" in err and "has errors" in err and "Traceback" not in err


def test_the_command_runs_as_a_process(workspace, stub):
    env = {"STUB_KEY": "sk-test", "PATH": "/usr/bin:/bin", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "HOME": str(workspace.parent)}
    proc = subprocess.run([sys.executable, "-m", "promptlsp", "eval", str(workspace), "--format", "json"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["score"] == 0.0


def test_eval_one_example_is_recorded_for_the_editor(workspace, capsys):
    assert main(["eval", str(workspace), "--example", "tablet-kids", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [e["example_id"] for e in report["examples"]] == ["tablet-kids"]
    with RunStore(workspace.parent / ".promptlsp" / "runs.sqlite") as store:
        (run,) = store.runs()
        assert (run.id, run.method, run.status) == (report["run_id"], "example", "finished")
        assert run.scored_on == "validation"  # the example's own split
        assert list(store.example_results(workspace)) == ["tablet-kids"]
    assert main(["eval", str(workspace), "--example", "nope"]) == 2
    assert "no example with id 'nope'" in capsys.readouterr().err


def test_a_file_evaluation_is_recorded_as_scored_on_the_split_asked_for(workspace, capsys):
    """Even when the file has a single example: an evaluation of the `all` split is not an
    evaluation of that example's split."""
    doc = tomlkit.parse(workspace.read_text(encoding="utf-8"))
    del doc["examples"][1:]
    workspace.write_text(tomlkit.dumps(doc), encoding="utf-8")
    assert main(["eval", str(workspace), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    with RunStore(workspace.parent / ".promptlsp" / "runs.sqlite") as store:
        (run,) = store.runs()
        assert (run.id, run.method, run.scored_on) == (report["run_id"], "evaluate", "all")
