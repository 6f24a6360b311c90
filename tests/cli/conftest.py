"""Fixtures of the CLI tests: the sentiment example pointed at a loopback stub model."""

from pathlib import Path

import pytest
import tomlkit

from promptlsp.testing.openai_stub import StubServer

from stub_model import answer

EXAMPLE = Path(__file__).resolve().parents[2] / "prompts-spec" / "examples" / "sentiment.prompt.toml"


@pytest.fixture(scope="module")
def stub():
    with StubServer(latency=0.0, answer=answer) as server:
        yield server


@pytest.fixture
def workspace(tmp_path, stub):
    """The sentiment example pointed at the stub, CRLF line ends and comments kept."""
    text = EXAMPLE.read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    models = tomlkit.table()
    for role in ("task", "judge", "optimizer"):
        models[role] = {"model": "openai/stub", "api_base": stub.url, "api_key_env": "STUB_KEY", "seed": 7}
    doc["models"] = models
    text = tomlkit.dumps(doc).replace("\r\n", "\n").replace("\n", "\r\n")
    (tmp_path / ".git").mkdir()
    path = tmp_path / "sentiment.prompt.toml"
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("STUB_KEY", "sk-test-not-a-secret")
