"""An in-process language server fed raw JSON-RPC messages (no subprocess, no stdio).

Each message goes through the same path as over stdio — ``json.loads`` with the protocol's
``structure_message`` hook, then ``handle_message`` — and what the server writes back is decoded
into :attr:`InProcessServer.sent`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from promptlsp.lsp.factory import create_server
from promptlsp.testing.openai_stub import StubServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from stub_model import answer  # noqa: E402


@pytest.fixture
def stub():
    """The loopback OpenAI-compatible stub answering as ``tests/cli/stub_model.py`` does."""
    with StubServer(latency=0.0, answer=answer) as server:
        yield server


class _Writer:
    def __init__(self, sink: list[dict[str, Any]]) -> None:
        self.sink = sink

    def write(self, data: bytes) -> None:
        self.sink.append(json.loads(data))

    def close(self) -> None:
        pass


class InProcessServer:
    def __init__(self, encoding: str | None = None, root_uri: str | None = None, pull: bool = True) -> None:
        self.ls = create_server()
        self.sent: list[dict[str, Any]] = []
        self.ls.protocol.set_writer(_Writer(self.sent), include_headers=False)
        caps: dict[str, Any] = {"textDocument": {"diagnostic": {}} if pull else {}}
        if encoding:
            caps["general"] = {"positionEncodings": [encoding]}
        self._ids = 0
        self.request_nowait("initialize", {"processId": None, "rootUri": root_uri, "capabilities": caps})

    def send(self, message: Any) -> None:
        """One raw message, decoded and dispatched as the stdio loop does."""
        body = json.dumps(message)
        decoded = json.loads(body, object_hook=self.ls.protocol.structure_message)
        self.ls.protocol.handle_message(decoded)

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request_nowait(self, method: str, params: Any) -> int:
        self._ids += 1
        self.send({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params})
        return self._ids

    async def request(self, method: str, params: Any, timeout: float = 20.0) -> dict[str, Any]:
        """The response (the whole message) to a request."""
        msg_id = self.request_nowait(method, params)

        async def answer() -> dict[str, Any]:
            while True:
                for m in self.sent:
                    if m.get("id") == msg_id and ("result" in m or "error" in m):
                        return m
                await asyncio.sleep(0.01)

        return await asyncio.wait_for(answer(), timeout)

    # -- documents ----------------------------------------------------------------------
    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify("textDocument/didOpen",
                    {"textDocument": {"uri": uri, "languageId": "toml", "version": version, "text": text}})

    def change(self, uri: str, version: int, changes: list[dict[str, Any]]) -> None:
        self.notify("textDocument/didChange",
                    {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes})

    @staticmethod
    def edit(start: tuple[int, int], end: tuple[int, int], text: str) -> dict[str, Any]:
        """An incremental content change."""
        return {"range": {"start": {"line": start[0], "character": start[1]},
                          "end": {"line": end[0], "character": end[1]}}, "text": text}

    def text(self, uri: str) -> str:
        return self.ls.workspace.text_documents[uri].source


@pytest.fixture
def inprocess():
    return InProcessServer
