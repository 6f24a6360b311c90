"""promptlsp: validate, evaluate and optimize ``.prompt.toml`` prompt files (library, CLI, LSP)."""

__version__ = "0.1.0"
