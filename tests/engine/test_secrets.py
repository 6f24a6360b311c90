"""API keys never appear in messages, logs, the cache, or on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from promptlsp.engine.secrets import REDACTED, is_secret_param, register_secret, scrub

FAKE_KEY = "sk-fake-PROMPTLSP-0123456789abcdef"
WORKER = Path(__file__).with_name("secrets_worker.py")


def test_scrub_removes_env_values_and_key_shapes(monkeypatch) -> None:
    monkeypatch.setenv("MY_PROVIDER_CREDENTIAL", "plain-value-without-shape")
    monkeypatch.setenv("SOME_API_KEY", "abcdefgh12345678")
    text = "key plain-value-without-shape, abcdefgh12345678, Bearer tok_1234567890, https://bob:hunter22@proxy/v1"
    out = scrub(text, ["MY_PROVIDER_CREDENTIAL"])
    for secret in ("plain-value-without-shape", "abcdefgh12345678", "tok_1234567890", "hunter22"):
        assert secret not in out
    assert out.count(REDACTED) == 4 and "://" + REDACTED + "proxy/v1" in out


def test_short_values_and_ordinary_text_are_left_alone(monkeypatch) -> None:
    monkeypatch.setenv("TINY_TOKEN", "abc")
    assert scrub("abc is fine, so is sk-short") == "abc is fine, so is sk-short"


def test_registered_literal_keys_are_scrubbed() -> None:
    value = "local-server-key-Zx81qPp"  # e.g. the local model server's per-process key
    assert value in scrub(f"401: bad key {value}")
    register_secret(value)
    assert scrub(f"401: bad key {value}") == f"401: bad key {REDACTED}"


def test_secret_param_names() -> None:
    assert all(map(is_secret_param, ["api_key", "aws_secret_access_key", "extra_headers", "vertex_credentials_token"]))
    assert not any(map(is_secret_param, ["temperature", "stop", "response_format"]))


def test_fake_key_never_reaches_disk_logs_or_stdout(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "PROMPTLSP_FAKE_KEY": FAKE_KEY,
        "OPENAI_API_KEY": FAKE_KEY,
    }
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(tmp_path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, f"stdout must hold only the result line, got: {proc.stdout[:2000]}"
    summary = json.loads(lines[0])
    # the scenario really happened: the key was sent, rejected with an echo, then accepted
    assert summary["guarded_saw_key"] and summary["open_saw_key"] and summary["ok"] == 3
    assert [f["kind"] for f in summary["failures"]] == ["auth", "auth", "auth"]
    assert all(REDACTED in f["message"] for f in summary["failures"])
    assert (tmp_path / "cache.sqlite").exists() and (tmp_path / "engine.log").stat().st_size > 0
    assert "DEBUG" in proc.stderr  # logging was really on
    assert FAKE_KEY not in proc.stdout and FAKE_KEY not in proc.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), f"key found in {path.name}"
