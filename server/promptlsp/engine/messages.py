"""Chat messages: the one place that knows their shapes (string or list-of-parts content)."""

from __future__ import annotations

from typing import Any, Iterable


def message_text(message: dict) -> str:
    """The text of one message; list content (``[{"type": "text", "text": ...}]``) is joined."""
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def last_user_text(messages: Iterable[dict]) -> str:
    """Text of the last user message ('' when there is none)."""
    for message in reversed(list(messages)):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def normalize_messages(messages: str | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A fresh list of plain dicts; a bare string becomes one user message."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = [dict(m) for m in messages]
    for m in out:
        if "role" not in m:
            raise ValueError(f"message without a role: {m!r}")
    return out
