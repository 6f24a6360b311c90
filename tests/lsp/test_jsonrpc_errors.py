"""Malformed messages get JSON-RPC answers; refused requests log one WARNING line, no traceback.

Raw JSON-RPC bytes are written to ``python -m promptlsp serve``; responses are read back with a
timeout (a missing answer fails the test instead of hanging it), and the server's stderr is
checked after it exits.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from lsp_support import TIMEOUT, RawServer

DOC = {"uri": "file:///tmp/nowhere/a.prompt.toml"}


@pytest.fixture
def raw():
    server = RawServer()
    server.initialize()
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()


def _hover(msg_id: Any, params: Any, **extra: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/hover", "params": params, **extra}


@pytest.mark.parametrize("params, where", [
    ({"textDocument": DOC, "position": "x"}, "$.params.position"),
    (None, "$.params"),
    ({"textDocument": DOC, "position": {"line": -1, "character": 0}}, "$.params.position"),
])
def test_hover_with_invalid_params_is_answered(raw, params, where):
    raw.write(_hover(1, params))
    error = raw.answer(1)["error"]
    assert error["code"] == -32602 and "textDocument/hover" in error["message"] and where in error["message"]


def test_code_action_with_a_null_range_is_answered(raw):
    raw.write({"jsonrpc": "2.0", "id": 2, "method": "textDocument/codeAction",
               "params": {"textDocument": DOC, "range": None, "context": {"diagnostics": []}}})
    error = raw.answer(2)["error"]
    assert error["code"] == -32602 and "$.params.range" in error["message"]


@pytest.mark.parametrize("message", [
    {"id": 3, "method": "textDocument/hover", "params": {"textDocument": DOC, "position": {"line": 0, "character": 0}}},
    {"jsonrpc": "1.0", "id": 3, "method": "textDocument/hover",
     "params": {"textDocument": DOC, "position": {"line": 0, "character": 0}}},
    {"jsonrpc": "2.0", "id": 3, "method": 17},
])
def test_invalid_request_is_answered(raw, message):
    raw.write(message)
    response = raw.answer(3)
    assert response["jsonrpc"] == "2.0" and response["error"]["code"] == -32600


@pytest.mark.parametrize("body, code", [(b"[1, 2]", -32600), (b'{"jsonrpc": "2.0", "id": ', -32700)])
def test_unidentifiable_messages_are_answered_with_a_null_id(raw, body, code):
    raw.write(body)
    response = raw.answer(None)
    assert "id" in response and response["id"] is None and response["error"]["code"] == code


def test_server_keeps_serving_after_malformed_messages(raw):
    raw.write(_hover(4, None))
    raw.write({"id": 5, "method": "textDocument/hover"})
    raw.write(_hover(6, {"textDocument": DOC, "position": {"line": 0, "character": 0}}))
    assert raw.answer(4)["error"]["code"] == -32602
    assert raw.answer(5)["error"]["code"] == -32600
    assert raw.answer(6) == {"jsonrpc": "2.0", "id": 6, "result": None}  # not an open document


def _warnings(stderr: str) -> list[str]:
    assert "Traceback" not in stderr and " ERROR " not in stderr, stderr
    return [line for line in stderr.splitlines() if " WARNING " in line]


def test_refused_requests_log_one_warning_line_each(raw):
    """No traceback, no ERROR: one WARNING line naming the method and the reason."""
    raw.write({"jsonrpc": "2.0", "id": 7, "method": "promptlsp/runs", "params": {}})
    raw.write({"jsonrpc": "2.0", "id": 8, "method": "workspace/executeCommand",
               "params": {"command": "promptlsp.cancel", "arguments": [{}]}})
    assert raw.answer(7)["error"]["code"] == -32602
    assert raw.answer(8)["error"]["code"] == -32602
    first, second = _warnings(raw.stop())
    assert "promptlsp/runs" in first and "required field missing @ params.uri" in first
    assert "workspace/executeCommand" in second and "promptlsp.cancel needs {uri} or {runId}" in second


def test_invalid_params_log_one_warning_line(raw):
    raw.write(_hover(9, {"textDocument": DOC, "position": "x"}))
    assert raw.answer(9)["error"]["code"] == -32602
    (line,) = _warnings(raw.stop())
    assert "textDocument/hover" in line and "$.params.position" in line


def test_invalid_notification_is_dropped_with_one_warning(inprocess, caplog):
    """Nothing can answer a notification: it is dropped, the document is unchanged, one line logged."""
    server = inprocess()
    uri = "file:///tmp/nowhere/b.prompt.toml"
    server.open(uri, "a = 1\n")
    with caplog.at_level(logging.WARNING):
        server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": "x"})
    assert server.text(uri) == "a = 1\n"
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "textDocument/didChange notification dropped" in record.getMessage()


def test_message_with_only_an_id_is_an_invalid_request(raw):
    """No method, result or error: not a request nor a response → -32600 with its id, no popup."""
    raw.write({"jsonrpc": "2.0", "id": 7})
    error = raw.answer(7)["error"]
    assert error["code"] == -32600 and '"method"' in error["message"]
    raw.write(_hover(8, {"textDocument": DOC, "position": {"line": 0, "character": 0}}))
    assert raw.answer(8) == {"jsonrpc": "2.0", "id": 8, "result": None}
    (line,) = _warnings(raw.stop())
    assert "request 7" in line and "-32600" in line


def test_message_with_nothing_but_jsonrpc_is_answered_with_a_null_id(raw):
    raw.write({"jsonrpc": "2.0"})
    response = raw.answer(None)
    assert response["error"]["code"] == -32600
    assert "Error in server" not in json.dumps(response)


@pytest.mark.parametrize("message", [
    {"jsonrpc": "2.0", "id": 99, "result": {"anything": [1, 2]}},  # a response to no request of ours
    {"jsonrpc": "2.0", "id": 98, "error": "boom"},  # an error that is not an error object
    {"jsonrpc": "2.0", "id": [1], "result": None},  # an id that cannot be one
])
def test_stray_or_malformed_responses_are_dropped_with_one_warning(raw, message):
    """A response is never answered (its id is one of ours, not the client's): one WARNING line."""
    raw.write(message)
    raw.write(_hover(10, {"textDocument": DOC, "position": {"line": 0, "character": 0}}))
    assert raw.answer(10) == {"jsonrpc": "2.0", "id": 10, "result": None}
    assert raw.proc.poll() is None
    stderr = raw.stop()
    (line,) = _warnings(stderr)
    assert "response" in line
    assert "window/showMessage" not in stderr


def test_malformed_answer_to_a_server_request_fails_that_request(tmp_path):
    """The server asks workspace/configuration; a malformed answer ends the wait (the handler falls
    back to the pushed settings) instead of leaving it waiting forever."""
    server = RawServer()
    try:
        server.write({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                      "params": {"processId": None, "rootUri": None,
                                 "capabilities": {"workspace": {"configuration": True}}}})
        assert "result" in server.answer(0)
        server.write({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        server.write({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": {"settings": {}}})
        while True:
            request = server.messages.get(timeout=TIMEOUT)
            if request.get("method") == "workspace/configuration":
                break
        server.write({"jsonrpc": "2.0", "id": request["id"], "error": "not an error object"})
        server.write(_hover(11, {"textDocument": DOC, "position": {"line": 0, "character": 0}}))
        assert server.answer(11)["result"] is None
        stderr = server.stop()
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
    lines = _warnings(stderr)
    assert any("malformed response" in line for line in lines), lines
    assert any("workspace/configuration failed" in line for line in lines), lines
