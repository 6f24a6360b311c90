"""What ``bench/optimize.py`` and ``bench/quality.py`` share.

* The textgrad venv (``bench/.venv-textgrad``, textgrad 0.1.8) both benches run textgrad in,
  and how a peer's venv is probed and created (:class:`PeerVenv`).
* The scripted models' common parts: prompt revisions (a rewrite appends one rule and raises
  ``(revision N)``), the text of a request's messages, and how a promptlsp or textgrad optimizer
  request is recognised.

It runs in promptlsp's venv only (it imports promptlsp): the scripts that run inside the peers'
venvs (``bench/textgrad_loop.py``, ``bench/quality/*_runner.py``) never import it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from promptlsp.engine.messages import message_text
from promptlsp.optimize import prompts as optimizer_prompts

REPO = Path(__file__).resolve().parents[1]


# -- peers' venvs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PeerVenv:
    """A venv of its own for a peer optimizer (its dependencies never enter promptlsp's venv)."""

    name: str  # what it holds, e.g. "textgrad 0.1.8"
    venv: Path
    install: tuple[str, ...]  # pip install arguments
    probe: str  # python that exits 0 when the right version is installed

    @property
    def python(self) -> Path:
        return self.venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    def ready(self) -> bool:
        if not self.python.exists():
            return False
        probe = subprocess.run([str(self.python), "-c", self.probe], capture_output=True, text=True, timeout=120,
                               check=False)
        return probe.returncode == 0

    def create(self, *, by: str, log: str) -> str | None:
        """Create the venv and install the peer; None when it worked, else why not. ``by`` names
        the script (in the venv's .gitignore), ``log`` prefixes the progress lines on stderr."""
        print(f"{log}: creating {self.venv.relative_to(REPO)} with {self.name} (first run only; a few minutes) ...",
              file=sys.stderr, flush=True)
        started = time.monotonic()
        steps = ([sys.executable, "-m", "venv", str(self.venv)],
                 [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *self.install])
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                return f"install failed: {' | '.join(tail)}"
            if step is steps[0]:  # ignored by git from the start, even if the install fails
                (self.venv / ".gitignore").write_text(f"# created by {by}\n*\n", encoding="utf-8")
        print(f"{log}: {self.name} installed in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        return None


TEXTGRAD_VERSION = "0.1.8"
TEXTGRAD = PeerVenv(
    f"textgrad {TEXTGRAD_VERSION}", REPO / "bench" / ".venv-textgrad", (f"textgrad=={TEXTGRAD_VERSION}",),
    f"import importlib.metadata as m; assert m.version('textgrad') == '{TEXTGRAD_VERSION}'",
)


# -- scripted models ---------------------------------------------------------------------------------

REVISION = re.compile(r"\(revision (\d+)\)")


def revision(text: str) -> int:
    """The highest ``(revision N)`` in ``text``; 0 for a prompt never rewritten."""
    return max((int(n) for n in REVISION.findall(text)), default=0)


def revised(text: str, rules: Sequence[str], variant: str = "") -> str:
    """``text`` with one more of ``rules`` and its revision number raised."""
    level = revision(text)
    base = REVISION.sub("", text).rstrip()
    return f"{base}\nRule {level + 1}{variant}: {rules[level % len(rules)]}\n(revision {level + 1})"


@dataclass(frozen=True)
class Request:
    """The text of a chat request's messages."""

    system: str  # the system (and developer) messages
    users: tuple[str, ...]
    repair: bool  # an assistant message precedes: a repair round of an earlier request
    everything: str  # every message

    @property
    def first_user(self) -> str:
        return self.users[0] if self.users else ""

    @property
    def last_user(self) -> str:
        return self.users[-1] if self.users else ""


def request_of(body: dict) -> Request:
    messages = body.get("messages") or []
    return Request(
        system="\n".join(message_text(m) for m in messages if m.get("role") in ("system", "developer")),
        users=tuple(message_text(m) for m in messages if m.get("role") == "user"),
        repair=any(m.get("role") == "assistant" for m in messages),
        everything="\n".join(message_text(m) for m in messages),
    )


# What textgrad sends, recognised by its system prompts (textgrad/autograd/llm_backward_prompts.py,
# textgrad/optimizer/optimizer_prompts.py).
TG_BACKWARD_SYSTEM = "You are the gradient (feedback) engine."
TG_OPTIMIZER_SYSTEM = "You will receive some feedback, and use the feedback to improve the variable."

# promptlsp's optimizer requests (its SYSTEM), by what the first user message asks for.
PROMPTLSP_PHASES = (('"problem": "..."', "gradient"), ('{"summary"', "summary"), ('{"feedback"', "feedback"),
                    ("write the improved prompt", "step"), ("edits that improve the prompt", "step"),
                    ("Rewrite the prompt", "edit"), ("Change the prompt to fix", "edit"))


def promptlsp_phase(request: Request) -> str | None:
    """``gradient``, ``summary``, ``feedback``, ``step``, ``edit`` (``optimizer`` for any other of
    promptlsp's optimizer requests), or None when it is not one."""
    if optimizer_prompts.SYSTEM not in request.system:
        return None
    return next((phase for marker, phase in PROMPTLSP_PHASES if marker in request.first_user), "optimizer")


def _revision_edit(current: str, new: str) -> dict[str, str]:
    """The one edit operation that turns ``current`` into ``new`` (its revision): the revision
    mark replaced by the new rule and mark, or both appended to a prompt never revised — not the
    whole prompt as ``find``, which the edit schema's length bound would refuse."""
    marks = REVISION.findall(current)
    if marks:
        mark = f"(revision {marks[-1]})"
        if current.count(mark) == 1 and current.rstrip().endswith(mark):
            return {"action": "replace", "find": mark, "text": new[len(REVISION.sub("", current).rstrip()) + 1:]}
    return {"action": "append", "find": "", "text": new[len(current.rstrip()) + 1:]}


def promptlsp_rewrite(body: dict, request: Request, phase: str, *, target: str, rules: Sequence[str], fallback: str,
                      critique: dict[str, str]) -> str:
    """The answer to a promptlsp ``edit`` or ``step``: the ``target`` it shows (``system`` or
    ``template``) revised once more (a ``seed`` in the request makes a distinct variant)."""
    tag = {"system": "system_message", "template": "prompt_template"}[target]
    current = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", request.first_user, re.S)
    variant = f" (variant {body['seed']})" if body.get("seed") is not None else ""
    new = revised(current.group(1) if current else fallback, rules, variant)
    if '"edits"' in request.first_user:  # edit operations, as small as a model writes them
        data: dict[str, Any] = {"edits": [_revision_edit(current.group(1) if current else "", new)]}
    else:
        data = {target: new}
    if phase == "step":
        data["critiques"] = [critique]
    return json.dumps(data)
