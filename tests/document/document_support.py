"""Shared pieces of the document tests: a small valid prompt file and analysing a text on disk."""

from __future__ import annotations

from promptlsp.document import analyze

BASE = '''version = 1
task = "Label the sentiment of a product review."
[prompt]
template = "Review: {{ review }}"
[[criteria]]
type = "equals"
[[examples]]
vars = { review = "great" }
expected = "positive"
[[examples]]
vars = { review = "awful" }
expected = "negative"
split = "validation"
'''


def run(tmp_path, text, files=None, root=None, name="p.prompt.toml"):
    """Analyse ``text`` written as ``tmp_path/name``, with ``files`` (relative path -> content) beside it."""
    for rel, content in (files or {}).items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return analyze(text, path, root or tmp_path)


def covered(analysis, diagnostic):
    """The source text a diagnostic's span covers."""
    return analysis.text[diagnostic.span.start:diagnostic.span.end]
