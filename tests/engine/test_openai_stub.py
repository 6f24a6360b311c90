"""The stub server on its own: the command line, scripted rules and faults (no litellm)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from promptlsp.testing.openai_stub import PROSE_AFTER, PROSE_BEFORE, Rule, StubServer


def _post(url: str, content: str, key: str = "k") -> tuple[int, dict, dict]:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": content}]}).encode()
    request = urllib.request.Request(
        url + "/chat/completions", data=body, headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_cli_serves_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({
        "default_reply": "default",
        "rules": [
            {"match": "ping", "reply": "pong"},
            {"match": "busy", "fault": "rate_limit", "times": 1, "retry_after": 3},
            {"match": "json", "reply": "{\"a\": 1}", "fault": "prose"},
        ],
    }))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptlsp.testing.openai_stub", "--port", "0", "--script", str(script)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert _post(url, "ping")[2]["choices"][0]["message"]["content"] == "pong"
        assert _post(url, "anything")[2]["choices"][0]["message"]["content"] == "default"
        status, headers, _ = _post(url, "busy")
        assert status == 429 and headers["Retry-After"] == "3"
        assert _post(url, "busy")[0] == 200  # times=1
        assert _post(url, "json")[2]["choices"][0]["message"]["content"] == PROSE_BEFORE + '{"a": 1}' + PROSE_AFTER
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_faults_counters_and_usage() -> None:
    with StubServer(answer=lambda body: "0123456789") as stub:
        stub.add_rule(fault="server", times=1)
        stub.add_rule(fault="truncate", times=1)
        assert _post(stub.url, "a")[0] == 500
        status, _, body = _post(stub.url, "b c")
        assert status == 200 and body["choices"][0]["message"]["content"] == "01234"
        assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
        assert stub.stats.requests == 2 and stub.stats.answered == 1 and stub.stats.faults == {"server": 1, "truncate": 1}


def test_api_key_is_required_when_set() -> None:
    with StubServer(api_key="right") as stub:
        status, _, body = _post(stub.url, "q", key="wrong")
        assert status == 401 and "wrong" in body["error"]["message"]
        assert _post(stub.url, "q", key="right")[0] == 200


def test_unknown_fault_is_rejected() -> None:
    with pytest.raises(ValueError):
        Rule(fault="meteor")
