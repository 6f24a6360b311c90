"""What the over-stdio language-server tests share: the server command, its pytest-lsp config,
the one factory of pytest-lsp client fixtures (:func:`session_fixture`), and a raw JSON-RPC client."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = [sys.executable, "-m", "promptlsp", "serve"]
CONFIG = ClientServerConfig(server_command=SERVER)
# a server whose files name the loopback stub model (the ``stub`` fixture) with api_key_env STUB_KEY
STUB_ENV = {**os.environ, "STUB_KEY": "sk-test-not-a-secret", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
STUB_CONFIG = ClientServerConfig(server_command=SERVER, server_env=STUB_ENV)
TIMEOUT = 30.0


Caps = types.ClientCapabilities | Callable[[Any], types.ClientCapabilities | None] | None


def session_fixture(caps: Caps = None, *, config: ClientServerConfig = CONFIG, params: list[Any] | None = None,
                    folders: bool = True, before: Callable[[LanguageClient, Path], None] | None = None,
                    init_options: Callable[[pytest.FixtureRequest], Any] | None = None):
    """A pytest-lsp client fixture: the server ``config`` starts, initialized in a temporary
    workspace (``client.root``, a workspace folder unless ``folders`` is False) with ``caps`` —
    or ``caps(param)`` for a fixture with ``params``, whose param is also ``client.encoding`` —
    and shut down at the end. ``before(client, root)`` runs first (files to write, client
    features to register); ``init_options(request)`` gives the initializationOptions;
    ``client.init_result`` is the server's InitializeResult."""

    @pytest_lsp.fixture(config=config, params=params)
    async def fixture(lsp_client: LanguageClient, tmp_path: Path, request: pytest.FixtureRequest):
        param = getattr(request, "param", None)
        lsp_client.root = tmp_path  # type: ignore[attr-defined]
        if param is not None:
            lsp_client.encoding = param  # type: ignore[attr-defined]
        if before is not None:
            before(lsp_client, tmp_path)
        chosen = caps(param) if callable(caps) else caps
        lsp_client.init_result = await lsp_client.initialize_session(types.InitializeParams(  # type: ignore[attr-defined]
            capabilities=chosen or types.ClientCapabilities(), root_uri=tmp_path.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="ws")] if folders else None,
            initialization_options=init_options(request) if init_options is not None else None,
        ))
        yield
        await lsp_client.shutdown_session()

    return fixture


def plain(value: Any) -> Any:
    """A result as plain JSON data: pygls hands unknown-method results over as namedtuples."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class RawServer:
    """``promptlsp serve`` spoken to in raw JSON-RPC bytes, its answers read with a timeout (a
    missing answer fails the test instead of hanging it)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env)
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.stderr = ""

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None
            self.messages.put(json.loads(out.read(length)))

    def write(self, message: Any) -> None:
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def answer(self, msg_id: Any) -> dict[str, Any]:
        """The next response with ``msg_id`` (notifications in between are skipped)."""
        while True:
            try:
                message = self.messages.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no answer to request {msg_id!r} within {TIMEOUT}s") from None
            if "method" not in message and message.get("id", "absent") == msg_id:
                return message

    def initialize(self) -> None:
        self.write({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {"processId": None, "rootUri": None, "capabilities": {}}})
        assert "result" in self.answer(0)
        self.write({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    def stop(self) -> str:
        self.write({"jsonrpc": "2.0", "id": "bye", "method": "shutdown"})
        self.answer("bye")
        self.write({"jsonrpc": "2.0", "method": "exit"})
        _, err = self.proc.communicate(timeout=TIMEOUT)
        self.stderr = err.decode()
        return self.stderr
