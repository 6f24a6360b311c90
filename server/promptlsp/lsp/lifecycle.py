"""The session's life: initialize (settings, diagnostics mode), initialized (watch the workspace),
configuration changes, shutdown (cancel the runs)."""

from __future__ import annotations

import asyncio
import logging
from typing import Iterable

from lsprotocol import types

from .config import Settings
from .features import Handler
from .requests import Requests
from .server import PromptLanguageServer
from .watch import WorkspaceWatcher

log = logging.getLogger("promptlsp.lsp")


class Lifecycle:
    def __init__(self, server: PromptLanguageServer, watcher: WorkspaceWatcher, requests: Requests) -> None:
        self.server = server
        self.watcher = watcher
        self.requests = requests

    def handlers(self) -> Iterable[Handler]:
        return (
            Handler(types.INITIALIZE, self.initialize),
            Handler(types.INITIALIZED, self.initialized),
            Handler(types.SHUTDOWN, self.shutdown),
            Handler(types.WORKSPACE_DID_CHANGE_CONFIGURATION, self.configuration),
        )

    def initialize(self, params: types.InitializeParams) -> None:
        caps = params.capabilities
        self.server.pull_diagnostics = bool(caps.text_document and caps.text_document.diagnostic)
        options = params.initialization_options
        if isinstance(options, dict) and isinstance(options.get("promptlsp"), dict):
            options = options["promptlsp"]  # accept the section or its content
        self.server.settings = Settings.from_json(options)
        log.info("promptlsp: %s diagnostics", "pull" if self.server.pull_diagnostics else "push")

    def initialized(self, params: types.InitializedParams) -> None:
        self.watcher.start(self.server.workspace_folders())

    def shutdown(self, params: None) -> None:
        self.watcher.stop()
        self.requests.cancel_all()  # the run store then shows those runs as cancelled
        if self.server.worker is not None:  # its stdin closes: it cancels what still runs there and ends
            asyncio.ensure_future(self.server.worker.close())

    async def configuration(self, params: types.DidChangeConfigurationParams) -> None:
        """New settings take effect for the next request, without a restart."""
        server = self.server
        caps = server.client_capabilities
        raw = params.settings.get("promptlsp", params.settings) if isinstance(params.settings, dict) else None
        if caps and caps.workspace and caps.workspace.configuration:
            try:
                (raw,) = await server.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section="promptlsp")]))
            except Exception:  # a client that says it can answer but does not: keep the pushed settings
                log.warning("workspace/configuration failed; using the settings sent with the notification")
        server.settings = Settings.from_json(raw)
        log.info("promptlsp settings updated")
