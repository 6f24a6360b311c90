"""The JSON-RPC side of the server: every request gets an answer, expected errors log one line.

pygls 2 structures each incoming message while decoding it (``json.loads(object_hook=
structure_message)``); a message it cannot structure raises out of the read loop, which logs a
traceback and never answers. :class:`PromptProtocol` answers instead:

* a request whose params do not fit its method (``"position": "x"``, ``null`` params, a ``null``
  range…) → error ``-32602`` (InvalidParams), with the offending fields in the message;
* a message that is not JSON-RPC 2.0 (no or another ``"jsonrpc"``, a method that is not a
  string, an id that is neither a number nor a string, neither a ``"method"`` nor the
  ``"result"``/``"error"`` of a response, not an object) → ``-32600`` (InvalidRequest), with the
  request's id when it has a usable one, else ``null``;
* a notification that cannot be structured is dropped (nothing can be answered);
* a response (to a request of the server) that cannot be structured is dropped with one WARNING
  line — never answered, its id is the server's, not the client's — and the request waiting for
  it fails instead of waiting forever;
* anything else that fails while structuring is answered ``-32603`` when it is a request with a
  usable id, else dropped with one WARNING line: nothing raises out of pygls's read loop (which
  would log a traceback and show the user "Error in server").

A request answered with a JSON-RPC error on purpose (a refused run, invalid params found by a
handler, a cancelled request) is logged as one WARNING line naming the method and the reason,
not as a traceback at ERROR; unexpected exceptions keep pygls's traceback.

The protocol also serves the documents from an :class:`~.documents.LspWorkspace`, so that
document sync follows the LSP line rules.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any, Literal

import attrs
from cattrs import transform_error
from cattrs.errors import ClassValidationError
from lsprotocol.types import ResponseError, ResponseErrorMessage
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage, LanguageServerProtocol
from pygls.workspace import Workspace

from .documents import LspWorkspace

log = logging.getLogger("promptlsp.lsp.protocol")

VERSION = "2.0"


@attrs.define
class Unanswerable:
    """A decoded message that cannot be handled: what to answer (if it is a request) and why."""

    id: int | str | None
    method: str | None
    error: JsonRpcException
    kind: Literal["request", "notification", "response"]


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClassValidationError):
        return "; ".join(transform_error(exc, path="$"))
    return f"{type(exc).__name__}: {exc}"


def _valid_id(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


class PlainJSON(list):
    """An answer already in its JSON form (a list of dicts, lists, strings and numbers), sent as
    it is: for answers of thousands of items (the outline of a 5,000-example file) building
    lsprotocol objects, then cattrs walking them (or walking plain dicts item by item) on the
    event loop, costs more than the rest of the answer."""


class PromptProtocol(LanguageServerProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._methods: dict[Any, str] = {}  # id of a request being handled -> its method
        self._converter.register_unstructure_hook(PlainJSON, lambda answer: answer)  # json.dumps takes lists as they are

    # -- documents -----------------------------------------------------------------------
    @property
    def workspace(self) -> Workspace:
        """The workspace, as an :class:`LspWorkspace` (pygls creates a plain one on initialize)."""
        workspace = super().workspace
        if not isinstance(workspace, LspWorkspace):
            workspace = self._workspace = LspWorkspace.adopt(workspace)
        return workspace

    # -- decoding ------------------------------------------------------------------------
    def structure_message(self, data: dict[str, Any]) -> Any:
        """Called for every JSON object decoded; only a message (it has "jsonrpc") is structured.

        Never raises: a message that cannot be structured becomes an :class:`Unanswerable`.
        """
        if "jsonrpc" not in data:
            return data  # a nested object, or a message that is not JSON-RPC (see handle_message)
        try:
            return self._structure(data)
        except Exception as exc:  # a safety net: nothing may raise out of the read loop
            msg_id = data.get("id") if _valid_id(data.get("id")) else None
            method = data.get("method") if isinstance(data.get("method"), str) else None
            kind = "request" if method is not None and msg_id is not None else "notification" if method else "response"
            return Unanswerable(msg_id, method, JsonRpcInternalError(message=f"cannot read message: {_reason(exc)}"),
                                kind)

    def _structure(self, data: dict[str, Any]) -> Any:
        if "method" not in data:
            if "result" in data or "error" in data:
                return self._structure_response(data)
            return self._invalid_request(data)  # neither a request nor a response
        method, is_request = data["method"], "id" in data
        msg_id = data.get("id")
        if data["jsonrpc"] != VERSION or not isinstance(method, str) or (is_request and not _valid_id(msg_id)):
            return self._invalid_request(data)
        message_type = self.get_message_type(method) or (JsonRPCRequestMessage if is_request else JsonRPCNotification)
        try:
            return self._converter.structure(data, message_type)
        except Exception as exc:  # the params do not fit the method
            reason = _reason(exc)
            return Unanswerable(msg_id, method, JsonRpcInvalidParams(message=f"invalid params for {method}: {reason}"),
                                "request" if is_request else "notification")

    def _structure_response(self, data: dict[str, Any]) -> Any:
        """A response to one of the server's requests, structured as pygls does (without its traceback)."""
        msg_id = data.get("id")
        if msg_id is not None and not _valid_id(msg_id):
            return Unanswerable(None, None, JsonRpcInvalidRequest(
                message=f"malformed response: \"id\" must be a number or a string, got {msg_id!r}"), "response")
        result_type = self._result_types.pop(msg_id, None)
        try:
            if "error" in data:
                return self._converter.structure(data, ResponseErrorMessage)
            return self._converter.structure(data, result_type or JsonRPCResponseMessage)
        except Exception as exc:
            return Unanswerable(msg_id, None, JsonRpcInvalidParams(message=f"malformed response: {_reason(exc)}"),
                                "response")

    def _invalid_request(self, data: Any) -> Unanswerable:
        if isinstance(data, dict):
            msg_id = data.get("id") if _valid_id(data.get("id")) else None
            method = data.get("method") if isinstance(data.get("method"), str) else None
            if data.get("jsonrpc") != VERSION:
                why = f"\"jsonrpc\" must be \"2.0\", got {data.get('jsonrpc')!r}" if "jsonrpc" in data else "no \"jsonrpc\": \"2.0\""
            elif "method" not in data:
                why = "no \"method\" (and not a response: no \"result\" or \"error\")"
            elif method is None:
                why = "\"method\" must be a string"
            else:
                why = "\"id\" must be a number or a string"
        else:
            msg_id, method = None, None
            why = f"a message must be a JSON object, got {type(data).__name__}"
        # JSON-RPC answers an invalid request even when it has no id (with "id": null)
        return Unanswerable(msg_id, method, JsonRpcInvalidRequest(message=f"invalid request: {why}"), "request")

    # -- dispatch ------------------------------------------------------------------------
    def handle_message(self, message: Any) -> None:
        if isinstance(message, Unanswerable):
            return self._answer_unanswerable(message)
        if not hasattr(message, "jsonrpc"):
            return self._answer_unanswerable(self._invalid_request(message))  # no "jsonrpc" at all
        msg_id, method = getattr(message, "id", None), getattr(message, "method", None)
        if msg_id is not None and isinstance(method, str):
            self._methods[msg_id] = method
        super().handle_message(message)

    def _answer_unanswerable(self, message: Unanswerable) -> None:
        error = message.error
        what = message.method or "message"
        if message.kind == "request":
            log.warning("%s (request %r) answered with error %s: %s", what, message.id, error.code, error.message)
            self.send_error(message.id, error)
        elif message.kind == "notification":
            log.warning("%s notification dropped: %s", what, error.message)
        else:
            log.warning("response to request %r dropped: %s", message.id, error.message)
            future = self._request_futures.pop(message.id, None) if message.id is not None else None
            if future is not None and not future.done():
                future.set_exception(error)  # the handler waiting for it fails instead of waiting forever

    # -- answers -------------------------------------------------------------------------
    def send_error(self, msg_id: int | str | None, error: JsonRpcException) -> None:
        """Answer ``msg_id`` with ``error``; an unknown id is sent as ``"id": null`` (JSON-RPC 2.0 §5)."""
        if msg_id is not None:
            self._send_response(msg_id, error=error.to_response_error())
            return
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.data is not None:
            body["data"] = error.data
        self._send_data({"jsonrpc": VERSION, "id": None, "error": body})

    def _send_handler_result(self, future: Future[Any], *, msg_id: Any) -> None:
        """Errors raised on purpose (JSON-RPC errors) → one WARNING line and the error answer."""
        method = self._methods.pop(msg_id, "request")
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, JsonRpcException):
            self._request_futures.pop(msg_id, None)
            log.warning("%s (request %r) answered with error %s: %s", method, msg_id, exc.code, exc.message)
            self._send_response(msg_id, error=exc.to_response_error())
            return
        super()._send_handler_result(future, msg_id=msg_id)

    def _send_response(self, msg_id: Any, result: Any | None = None, error: ResponseError | None = None) -> None:
        self._methods.pop(msg_id, None)
        super()._send_response(msg_id, result, error)
