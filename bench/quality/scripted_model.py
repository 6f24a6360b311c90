"""The scripted model behind ``bench/quality.py --smoke``: one loopback stub answers every method.

It recognises what each request asks for and answers deterministically:

* a **task** call (the user message is one of the tasks' questions): right — ``…\\nAnswer: <target>``
  — when the system prompt's revision is high enough for the question's (fixed, hashed)
  difficulty, else a sentence without an Answer line (fails exact match). A rewrite raises the
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
import zlib
from typing import Any, Iterable

from promptlsp.engine.messages import message_text
from promptlsp.optimize import prompts as optimizer_prompts

TG_BACKWARD_SYSTEM = "You are the gradient (feedback) engine."
TG_OPTIMIZER_SYSTEM = "You will receive some feedback, and use the feedback to improve the variable."
GEPA_MARKER = "I provided an assistant with the following instructions"
REVISION = re.compile(r"\(revision (\d+)\)")
RULES = (
    "Work through the question step by step before answering.",
    "Check the result once more before writing the final line.",
    "End with exactly one final line 'Answer: <answer>' and nothing after it.",
    "Keep the reasoning short.",
)


def revision(text: str) -> int:
    return max((int(n) for n in REVISION.findall(text)), default=0)


def revised(text: str, variant: str = "") -> str:
    """``text`` with one more rule and its revision number raised."""
    level = revision(text)
    base = REVISION.sub("", text).rstrip()
    return f"{base}\nRule {level + 1}{variant}: {RULES[level % len(RULES)]}\n(revision {level + 1})"


def accuracy_at(level: int) -> float:
    """Share of questions answered right at a prompt revision: the initial prompt gets about a
    third, any rewrite all of them — so a method that completes one step clearly improves."""
    return 0.3 if level == 0 else 1.0


class ScriptedModel:
    def __init__(self, examples: Iterable[tuple[str, tuple[str, ...]]]) -> None:
        self.answers = {question.strip(): expected for question, expected in examples}

    # -- the request -----------------------------------------------------------------------------
    @staticmethod
    def _parts(body: dict) -> tuple[str, str, str]:
        messages = body.get("messages") or []
        system = "\n".join(message_text(m) for m in messages if m.get("role") in ("system", "developer"))
        users = [message_text(m) for m in messages if m.get("role") == "user"]
        everything = "\n".join(message_text(m) for m in messages)
        return system, users[-1] if users else "", everything

    def classify(self, body: dict) -> str:
        system, user, everything = self._parts(body)
        if optimizer_prompts.SYSTEM in system:
            first_user = next((message_text(m) for m in body.get("messages") or [] if m.get("role") == "user"), "")
            for marker, phase in (('{"problem"', "gradient"), ('{"summary"', "summary"), ('{"feedback"', "feedback"),
                                  ("write the improved prompt", "step"), ("Rewrite the prompt", "edit")):
                if marker in first_user:
                    return phase
            return "optimizer"
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
            return f"Let me work it out.\nAnswer: {expected[-1]}"
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
        system, user, everything = self._parts(body)
        if phase == "task":
            return self.task(system, user)
        if phase == "gradient":
            return json.dumps({"problem": "The prompt does not ask for a final Answer line reliably.", "quote": "",
                               "suggestion": "Ask for reasoning, then one final 'Answer:' line."})
        if phase == "summary":
            return json.dumps({"summary": "The prompt lets the model skip the final Answer line.", "critiques": [
                {"quote": "", "critique": "Nothing asks the model to check its answer."}]})
        if phase == "feedback":
            return json.dumps({"feedback": "Ask the model to reason step by step and end with 'Answer: <answer>'."})
        if phase in ("edit", "step"):
            first_user = next((message_text(m) for m in body.get("messages") or [] if m.get("role") == "user"), "")
            current = re.search(r"<system_message>\n(.*?)\n</system_message>", first_user, re.S)
            variant = f" (variant {body['seed']})" if body.get("seed") is not None else ""
            data: dict[str, Any] = {"system": revised(current.group(1) if current else "Answer the question.", variant)}
            if phase == "step":
                data["critiques"] = [{"quote": "", "critique": "The prompt never asks the model to check its work."}]
            return json.dumps(data)
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
