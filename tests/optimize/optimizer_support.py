"""Shared helpers for optimizer tests: a small prompt file and a scripted model."""

from __future__ import annotations

import re
from pathlib import Path

from promptlsp.document import analyze
from promptlsp.engine import Engine, ScriptedBackend

FILE = '''task = "Label the sentiment of a product review as positive or negative."
[prompt]
system = "You label reviews."
template = """Review: {{ review }}
What is the sentiment?"""
[[criteria]]
type = "equals"
[optimize]
iterations = 2
beam_width = 2
candidates = 2
minibatch = 4
seed = 3
edits = "rewrite"
'''
REVIEWS = [("I love it", "positive"), ("Broke in a day", "negative"), ("Great value", "positive"),
           ("Awful smell", "negative"), ("Works perfectly", "positive"), ("Never again", "negative")]


def make_file(tmp_path: Path, extra: str = "", validation: int = 2, body: str = FILE):
    rows = []
    for i, (review, label) in enumerate(REVIEWS):
        split = "validation" if i >= len(REVIEWS) - validation else "train"
        rows.append(f'[[examples]]\nvars = {{ review = "{review}" }}\nexpected = "{label}"\nsplit = "{split}"\n')
    text = body + extra + "".join(rows)
    path = tmp_path / "s.prompt.toml"
    path.write_text(text)
    analysis = analyze(text, path, tmp_path)
    assert analysis.prompt is not None, analysis.diagnostics
    return analysis.prompt


POSITIVE = re.compile(r"love|great|perfect", re.I)


def smart_task(request) -> str:
    """Answers right only when the prompt says 'one word'; else a chatty wrong answer."""
    text = " ".join(m["content"] for m in request["messages"])
    review = ScriptedBackend.last_user(request)
    if "one word" in text:
        return "positive" if POSITIVE.search(review) else "negative"
    return "Sounds fine!"  # no answer inside: the answer-format move stays out of these tests


def engine_with(routes, **kwargs) -> tuple[Engine, ScriptedBackend]:
    cache_path = kwargs.pop("cache_path", None)
    backend = ScriptedBackend(routes=routes, json_schema=True, **kwargs)
    return Engine(cache_path=cache_path, backend=backend), backend
