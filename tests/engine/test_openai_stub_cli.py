"""The stub's command line serving a Python answer function (``--answer MODULE:FUNCTION``), as
the VS Code end-to-end tests run it from a shell with the scripted model of tests/cli."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from promptlsp.testing.openai_stub import load_answer, main

STUB_MODEL = Path(__file__).resolve().parents[1] / "cli" / "stub_model.py"


def _ask(url: str, content: str) -> str:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": content}]}).encode()
    request = urllib.request.Request(url + "/chat/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["choices"][0]["message"]["content"]


def _serve(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, "-m", "promptlsp.testing.openai_stub", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    assert proc.wait(timeout=10) == 0


def test_answer_from_a_file_with_latency() -> None:
    proc = _serve("--answer", f"{STUB_MODEL}:answer", "--latency", "0.3")
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        started = time.monotonic()
        reply = _ask(url, 'Rewrite the prompt. Answer as JSON {"template": ...}')
        assert time.monotonic() - started >= 0.3
        sys.path.insert(0, str(STUB_MODEL.parent))
        try:
            from stub_model import GOOD_TEMPLATE
        finally:
            sys.path.remove(str(STUB_MODEL.parent))
        assert json.loads(reply) == {"template": GOOD_TEMPLATE}
        assert _ask(url, "Answer with one word.\n\nReview: I love it") == "positive"
    finally:
        _stop(proc)


def test_answer_from_a_dotted_module_overrides_a_script_reply(tmp_path: Path) -> None:
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"default_reply": "default", "rules": [{"match": "ping", "reply": "pong"}]}))
    proc = _serve("--script", str(script), "--answer", "promptlsp.testing.openai_stub:default_answer")
    try:
        url = proc.stdout.readline().strip()
        assert _ask(url, "ping") == "pong"  # the script's rules still apply
        assert _ask(url, "hello") == "echo: hello"
    finally:
        _stop(proc)


def test_load_answer_resolves_both_forms() -> None:
    from promptlsp.testing.openai_stub import default_answer

    assert load_answer("promptlsp.testing.openai_stub:default_answer") is default_answer
    assert load_answer(f"{STUB_MODEL}:answer")({"messages": [{"role": "user", "content": "x"}]})


@pytest.mark.parametrize("spec", ["no_colon", "promptlsp.no_such_module:f", "promptlsp.testing.openai_stub:nope",
                                  "promptlsp.testing.openai_stub:FAULTS", "/no/such/file.py:answer"])
def test_bad_answer_specs_are_usage_errors(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--answer", spec])
    assert exit_info.value.code == 2
    assert "--answer" in capsys.readouterr().err
