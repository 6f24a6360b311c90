"""A USD budget for a model litellm has no price for: said before the run, and the run is
refused when that budget is the only limit the user set (it could not stop anything)."""

import json

from promptlsp.cli.main import main


def _usd_only(workspace, extra=""):
    text = workspace.read_bytes().decode("utf-8")
    assert "max_calls = 150" in text
    workspace.write_bytes(text.replace("max_calls = 150", "max_usd = 0.5" + extra).encode("utf-8"))


def test_a_usd_only_budget_on_an_unpriced_model_is_refused_before_any_call(workspace, stub, capsys):
    _usd_only(workspace)
    before, requests = workspace.read_bytes(), stub.stats.requests
    assert main(["optimize", str(workspace), "--iterations", "1", "--write"]) == 2
    err = capsys.readouterr().err
    assert "cost unknown (litellm has no price for openai/stub)" in err
    assert "refused: max_usd = 0.5 cannot be enforced: litellm has no price for openai/stub" in err
    assert "--budget-calls" in err
    assert stub.stats.requests == requests and workspace.read_bytes() == before


def test_with_another_limit_the_run_goes_on_with_a_warning(workspace, capsys):
    _usd_only(workspace, "\r\nmax_tokens = 900000")
    assert main(["optimize", str(workspace), "--iterations", "1", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "warning: max_usd = 0.5 cannot be enforced: litellm has no price for openai/stub; max_calls = 500 " \
           "and max_tokens = 900000 still limit the run" in captured.err
    result = json.loads(captured.out)
    assert result["status"] == "finished" and result["warnings"] == [
        "max_usd = 0.5 cannot be enforced: litellm has no price for openai/stub"]
    assert result["estimate"]["unpriced_models"] == ["openai/stub"]


def test_budget_calls_is_another_limit(workspace, capsys):
    _usd_only(workspace)
    assert main(["optimize", str(workspace), "--iterations", "1", "--budget-calls", "60"]) == 0
    captured = capsys.readouterr()
    assert "warning: max_usd = 0.5 cannot be enforced" in captured.err and "max_calls = 60 still limit" in captured.err
    assert "note: max_usd = 0.5 cannot be enforced" in captured.out
