"""promptlsp through a real LiteLLM proxy: the team set-up (one gateway holds the provider key and
the budgets; developers and CI runners hold only a proxy key).

The proxy (``litellm[proxy]``, pinned in requirements-proxy.lock) runs from its own venv,
``.venv-proxy`` (``bash scripts/install-proxy.sh``; the proxy's extra pins rich<14 and promptlsp
pins rich 15, so they cannot share one), or from ``$PROMPTLSP_LITELLM_PROXY``; without it the test
is skipped. The proxy listens on 127.0.0.1 in front of the loopback stub model, which demands the
upstream key only the proxy knows.

Budgets: LiteLLM keeps virtual keys (and their budgets) only in a Postgres database reached
through Prisma, whose engines are downloaded from binaries.prisma.sh at first use — not a package
registry, so not reachable from CI. Without a database the proxy refuses any key but the master
key ("No connected db.", asserted below) and does not enforce its proxy-wide ``max_budget`` (it
says so at start-up). What it does enforce without a database is a *deployment's* budget
(``litellm_params.max_budget`` + ``budget_duration``, tracked in the proxy's memory): the
``tiny-budget`` model here has one, and once it is spent the proxy answers 429 "crossed budget".
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tomlkit

from promptlsp.cli.main import main
from promptlsp.runs import RunStore

REPO = Path(__file__).resolve().parents[2]
PROXY = Path(os.environ.get("PROMPTLSP_LITELLM_PROXY") or REPO / ".venv-proxy" / "bin" / "litellm")
MASTER_KEY = "sk-proxy-master-for-tests-only"
UPSTREAM_KEY = "sk-upstream-only-the-proxy-knows"

pytestmark = [
    pytest.mark.litellm_proxy,
    pytest.mark.skipif(not PROXY.exists(), reason=f"the LiteLLM proxy is not installed ({PROXY} is missing): "
                       "bash scripts/install-proxy.sh installs it into .venv-proxy"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, key: str, model: str) -> tuple[int, dict]:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Review: great"}]}).encode()
    request = urllib.request.Request(url + "/chat/completions", body, {
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture(scope="module")
def proxy(stub, tmp_path_factory):
    """A LiteLLM proxy in front of the stub: ``team-model`` (no limit) and ``tiny-budget``
    (spent after about one answer), both priced so the proxy counts spend."""
    stub.api_key = UPSTREAM_KEY
    folder = tmp_path_factory.mktemp("proxy")
    priced = {"model": "openai/stub", "api_base": stub.url, "api_key": "os.environ/UPSTREAM_KEY",
              "input_cost_per_token": 0.0001, "output_cost_per_token": 0.0001}
    config = {  # YAML is a superset of JSON
        "model_list": [
            {"model_name": "team-model", "litellm_params": priced, "model_info": {"id": "team-model-1"}},
            {"model_name": "tiny-budget", "litellm_params": priced | {"max_budget": 0.0001, "budget_duration": "1d"},
             "model_info": {"id": "tiny-budget-1"}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    (folder / "config.yaml").write_text(json.dumps(config, indent=2))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"UPSTREAM_KEY": UPSTREAM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
            "NO_PROXY": "127.0.0.1,localhost"}
    log = open(folder / "proxy.log", "wb")
    proc = subprocess.Popen([str(PROXY), "--config", str(folder / "config.yaml"), "--host", "127.0.0.1",
                             "--port", str(port), "--num_workers", "1"],
                            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a hang guard: it starts in 10-20 s on a busy 2-core machine
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the proxy exited ({proc.returncode}): {(folder / 'proxy.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/health/readiness", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.5)
        yield url + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        stub.api_key = None


def _through(workspace: Path, proxy: str, model: str) -> None:
    """Point every role of the prompt file at ``model`` on the proxy, keyed by $PROMPTLSP_PROXY_KEY."""
    doc = tomlkit.parse(workspace.read_text(encoding="utf-8"))
    for role in ("task", "judge", "optimizer"):
        doc["models"][role] = {"model": f"openai/{model}", "api_base": proxy, "api_key_env": "PROMPTLSP_PROXY_KEY"}
    workspace.write_text(tomlkit.dumps(doc), encoding="utf-8")


def test_eval_and_optimize_through_the_proxy(proxy, stub, workspace, capsys, monkeypatch):
    monkeypatch.setenv("PROMPTLSP_PROXY_KEY", MASTER_KEY)
    _through(workspace, proxy, "team-model")
    before = stub.stats.requests
    assert main(["eval", str(workspace), "--split", "validation", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["score"] == 0.0 and all(e["error"] is None for e in report["examples"])
    assert stub.stats.requests - before == 4  # each answer came from the stub, through the proxy
    assert set(stub.stats.auth_headers[before:]) == {f"Bearer {UPSTREAM_KEY}"}  # the proxy's key, never ours

    assert main(["optimize", str(workspace), "--iterations", "1", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "finished" and result["best_score"] == 1.0

    # a virtual key needs the proxy's database: without one the proxy refuses it, as the docstring says
    status, answer = _post(proxy, "sk-a-virtual-key", "team-model")
    assert (status, answer["error"]["message"]) == (400, "No connected db.")


def test_a_spent_gateway_budget_is_a_clear_recorded_failure(proxy, workspace, capsys, monkeypatch):
    monkeypatch.setenv("PROMPTLSP_PROXY_KEY", MASTER_KEY)
    _through(workspace, proxy, "tiny-budget")
    deadline = time.monotonic() + 30  # spend the deployment's budget (the proxy counts it after each answer)
    while (status := _post(proxy, MASTER_KEY, "tiny-budget")[0]) == 200:
        assert time.monotonic() < deadline
    assert status == 429

    assert main(["eval", str(workspace), "--split", "validation", "--no-cache", "--min-score", "0.5",
                 "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["gate_passed"] is False and report["accounting"]["total"]["calls"] == 4  # not retried
    for example in report["examples"]:
        assert example["error"].startswith("task model call failed: budget or quota spent at the provider or "
                                           "gateway (HTTP 429), not retried: No deployments available - crossed budget")

    assert main(["optimize", str(workspace), "--iterations", "1", "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("failed: ") and "the prompt is unchanged" in out
    assert "no answer from the task model on any of the 4 validation examples" in out and "crossed budget" in out
    with RunStore(workspace.parent / ".promptlsp" / "runs.sqlite") as store:
        (run, *_older) = store.runs(workspace)
    assert run.status == "failed" and "crossed budget" in run.message and run.events > 2  # the run is kept
    assert main(["report", run.id, "--root", str(workspace.parent)]) == 0
    assert capsys.readouterr().out.startswith(f"run {run.id} · gradsum · failed")
