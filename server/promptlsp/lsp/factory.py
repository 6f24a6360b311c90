"""The language server, assembled: :func:`create_server` builds the server and its features and
registers each feature's handlers (``promptlsp serve`` runs what it returns)."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .code_actions import CodeActions
from .code_lens import CodeLenses
from .completion import Completion
from .diagnostics import Diagnostics
from .features import Feature
from .hover import Hover
from .inlay_hints import InlayHints
from .lifecycle import Lifecycle
from .outline import Outline
from ..runs.remote import RunWorker
from .progress import Progress
from .requests import Requests
from .run_example import RunExample
from .semantic_tokens import SemanticTokens
from .server import PromptLanguageServer
from .variables import Variables
from .watch import WorkspaceWatcher


def create_server(*, run_worker: bool = False) -> PromptLanguageServer:
    """A new server with every feature registered; with ``run_worker``, optimizations and
    evaluations run in a worker process (:mod:`promptlsp.runs.worker`) — ``promptlsp serve``."""
    server = PromptLanguageServer()
    if run_worker:
        server.worker = RunWorker()
    diagnostics = Diagnostics(server)
    requests = Requests(server, diagnostics, Progress(server))
    hints = InlayHints(server)
    requests.after_run.append(hints.refresh)
    features: list[Feature] = [
        Lifecycle(server, WorkspaceWatcher(server, diagnostics), requests),
        diagnostics,
        Hover(server),
        CodeActions(server),
        Completion(server),
        Outline(server),
        SemanticTokens(server),
        Variables(server),
        requests,
        RunExample(requests), hints, CodeLenses(server),
    ]
    for feature in features:
        for handler in feature.handlers():
            function = _plain(handler.function)
            if handler.command:
                server.command(handler.method)(function)
            elif handler.options is not None:
                server.feature(handler.method, handler.options)(function)
            else:
                server.feature(handler.method)(function)
    return server


def _plain(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a feature's bound method) as a plain function of the message's arguments:
    pygls marks the functions it registers with attributes, which a bound method cannot take."""
    if inspect.iscoroutinefunction(function):
        async def handler(*args: Any) -> Any:
            return await function(*args)
    else:
        def handler(*args: Any) -> Any:
            return function(*args)
    return handler
