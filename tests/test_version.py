"""One version: ``promptlsp.__version__`` is what the installed metadata says (pyproject reads it)."""

import importlib.metadata

import promptlsp


def test_version_matches_the_installed_metadata() -> None:
    assert promptlsp.__version__ == importlib.metadata.version("promptlsp")
    assert all(part.isdigit() for part in promptlsp.__version__.split("."))
