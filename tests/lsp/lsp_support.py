"""What the over-stdio language-server tests share: the server command and its pytest-lsp config."""

from __future__ import annotations

import sys

from pytest_lsp import ClientServerConfig

SERVER = [sys.executable, "-m", "promptlsp", "serve"]
CONFIG = ClientServerConfig(server_command=SERVER)
