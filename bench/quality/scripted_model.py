"""The scripted model behind ``bench/quality.py --smoke``: one loopback stub answers every method.

It recognises what each request asks for and answers deterministically:

* a **task** call (the user message is one of the tasks' questions): right — ``…\\nAnswer: <target>``,
  or the label alone when the example's check is the label tasks' whole-reply one — when the
  system prompt's revision is high enough for the question's (fixed, hashed) difficulty, else a
  sentence without an Answer line (fails exact match either way). A rewrite raises the
  revision, which makes every answer right, so an optimizer that completes one step improves the
  score; the same prompt scores the same whoever sends it;
* **promptlsp** optimizer calls (its ``SYSTEM``): gradients, summaries, feedback (JSON), edits and
  steps (``{"system": <the current system prompt, revised>}``);
* **textgrad**: backward feedback (its gradient-engine system prompt) and TGD steps
  (``<IMPROVED_VARIABLE>…</IMPROVED_VARIABLE>``);
* **DSPy**: COPRO's instruction proposals and ``dspy.GEPA``'s reflection (both DSPy signatures),
  in the format their adapter asked for (ChatAdapter field markers or JSONAdapter JSON); gepa's
  own reflection template (the instruction in a ``` block) too.
"""

from __future__ import annotations

import json
import re
import sys
import zlib
from pathlib import Path
from typing import Iterable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: what bench/optimize.py's model shares
import _common  # noqa: E402
from _common import TG_BACKWARD_SYSTEM, TG_OPTIMIZER_SYSTEM, promptlsp_phase, request_of, revision  # noqa: E402
from peer_common import LABEL_CHECK  # noqa: E402

GEPA_MARKER = "I provided an assistant with the following instructions"
RULES = (
    "Work through the question step by step before answering.",
    "Check the result once more before writing the final line.",
    "End with exactly one final line 'Answer: <answer>' and nothing after it.",
    "Keep the reasoning short.",
)


def revised(text: str, variant: str = "") -> str:
    """``text`` with one more of this bench's rules and its revision number raised."""
    return _common.revised(text, RULES, variant)


def accuracy_at(level: int) -> float:
    """Share of questions answered right at a prompt revision: the initial prompt gets about a
    third, any rewrite all of them — so a method that completes one step clearly improves."""
    return 0.3 if level == 0 else 1.0


class ScriptedModel:
    def __init__(self, examples: Iterable[tuple[str, tuple[str, ...], str]]) -> None:
        """``examples``: (question, expected answers, the name of the example's check)."""
        self.answers = {question.strip(): expected for question, expected, _ in examples}
        self.whole_reply = {question.strip() for question, _, check in examples if check == LABEL_CHECK}

    def classify(self, body: dict) -> str:
        request = request_of(body)
        system, user = request.system, request.last_user
        phase = promptlsp_phase(request)
        if phase is not None:
            return phase
        if TG_BACKWARD_SYSTEM in system:
            return "tg-backward"
        if TG_OPTIMIZER_SYSTEM in system:
            return "tg-step"
        if GEPA_MARKER in user:
            return "gepa-reflect"
        if "`proposed_instruction`" in system:
            return "copro-propose"
        if "`new_instruction`" in system:
            return "gepa-propose"
        if user.strip() in self.answers:
            return "task"
        return "other"

    # -- answers ---------------------------------------------------------------------------------
    def task(self, system: str, question: str) -> str:
        expected = self.answers[question.strip()]
        right = zlib.crc32(question.strip().encode("utf-8")) % 100 < 100 * accuracy_at(revision(system))
        if right:
            return expected[-1] if question.strip() in self.whole_reply else f"Let me work it out.\nAnswer: {expected[-1]}"
        return f"I believe it is {expected[-1]}, more or less."

    @staticmethod
    def _field(user: str, name: str) -> str | None:
        """A DSPy input field's value in a ChatAdapter/JSONAdapter user message."""
        found = re.search(rf"\[\[ ## {name} ## \]\]\n(.*?)(?:\n\n\[\[ ## |\n\nRespond with|\Z)", user, re.S)
        return found.group(1).strip() if found else None

    def dspy_proposal(self, phase: str, system: str, user: str) -> str:
        """COPRO's proposal or dspy.GEPA's reflection, in the format its DSPy adapter asked for."""
        if phase == "copro-propose":
            shown = self._field(user, "basic_instruction") or self._field(user, "attempted_instructions") or ""
            tried = re.findall(r"Instruction #\d+: (.*?)(?=\n?\"?,?\s*\"?Prefix #|\Z)", shown, re.S)
            current = max(tried, key=revision) if tried else shown
            current = current.replace("\\n", "\n").strip().strip('"')
            fields = {"proposed_instruction": revised(current), "proposed_prefix_for_output_field": "Response:"}
        else:
            fields = {"new_instruction": revised(self._field(user, "current_instruction") or "Answer the question.")}
        if "Outputs will be a JSON object" in system:
            return json.dumps(fields)
        return "".join(f"[[ ## {k} ## ]]\n{v}\n\n" for k, v in fields.items()) + "[[ ## completed ## ]]"

    def __call__(self, body: dict) -> str:
        phase = self.classify(body)
        request = request_of(body)
        system, user = request.system, request.last_user
        if phase == "task":
            return self.task(system, user)
        if phase == "gradient":
            return json.dumps({"comparison": "the answer is in a sentence", "problem": "The prompt does not ask for a final Answer line reliably.", "quote": "",
                               "suggestion": "Ask for reasoning, then one final 'Answer:' line."})
        if phase == "summary":
            return json.dumps({"summary": "The prompt lets the model skip the final Answer line.", "critiques": [
                {"quote": "", "critique": "Nothing asks the model to check its answer."}]})
        if phase == "feedback":
            return json.dumps({"feedback": "Ask the model to reason step by step and end with 'Answer: <answer>'."})
        if phase in ("edit", "step"):
            return _common.promptlsp_rewrite(
                body, request, phase, target="system", rules=RULES, fallback="Answer the question.",
                critique={"quote": "", "critique": "The prompt never asks the model to check its work."})
        if phase == "tg-backward":
            return "The system prompt should ask for step-by-step reasoning and a single final 'Answer:' line."
        if phase == "tg-step":
            shown = re.search(r"<VARIABLE>(.*?)</VARIABLE>", user, re.S)
            return f"<IMPROVED_VARIABLE>{revised(shown.group(1).strip() if shown else 'Answer the question.')}</IMPROVED_VARIABLE>"
        if phase in ("copro-propose", "gepa-propose"):
            return self.dspy_proposal(phase, system, user)
        if phase == "gepa-reflect":  # gepa's own template (dspy.GEPA uses its DSPy signature instead)
            current = re.search(r"```\n(.*?)\n```", user, re.S)
            return f"```\n{revised(current.group(1) if current else 'Answer the question.')}\n```"
        return "{}"
