"""A scripted "model" behind the loopback OpenAI-compatible stub, for CLI and e2e tests.

It answers by what a request asks for (the optimizer's prompts say which JSON they want), so the
real litellm HTTP path runs end to end: task answers are right only when the prompt demands one
word; gradients, summaries and edits push the prompt towards that.
"""

from __future__ import annotations

import json
import re

from promptlsp.engine.messages import last_user_text

GOOD_TEMPLATE = "Answer with one word: positive, negative or neutral.\n\nReview: {{ review }}"
POSITIVE = re.compile(r"love|great|perfect|excellent|best|fantastic|happy|recommend", re.I)
NEGATIVE = re.compile(r"broke|awful|terrible|worst|refund|disappoint|poor|never|waste|stopped", re.I)


def _label(review: str) -> str:
    if POSITIVE.search(review) and not NEGATIVE.search(review):
        return "positive"
    if NEGATIVE.search(review):
        return "negative"
    return "neutral"


def answer(body: dict) -> str:
    messages = body.get("messages", [])
    text = last_user_text(messages)
    everything = " ".join(str(m.get("content", "")) for m in messages)
    if '"problem": "..."' in text:
        return json.dumps({"comparison": "the answer is in a sentence", "problem": "The prompt never states the labels or the output format.",
                           "quote": "What is the sentiment?", "suggestion": "Ask for exactly one word."})
    if '{"summary"' in text:
        return json.dumps({"summary": "The prompt leaves the answer format open.", "critiques": [
            {"quote": "What is the sentiment?", "critique": "An open question invites prose."}]})
    if '"edits"' in text:  # edit operations: the whole current template replaced by the good one
        current = re.search(r"<prompt_template>\n(.*?)\n</prompt_template>", text, re.S)
        edits = [{"action": "replace", "find": current.group(1) if current else "", "text": GOOD_TEMPLATE}]
        return json.dumps({"critiques": [], "edits": edits} if '"critiques"' in text else {"edits": edits})
    if "Rewrite the prompt" in text or "write the improved prompt" in text:
        return json.dumps({"template": GOOD_TEMPLATE, "critiques": []} if "critiques" in text else {"template": GOOD_TEMPLATE})
    if '{"feedback"' in text:
        return json.dumps({"feedback": "Ask for exactly one word from the label set."})
    if "Grade the answer" in text:
        return json.dumps({"reason": "ok", "score": 10})
    review = text.rsplit(":", 1)[-1] if ":" in text else text
    if "one word" in everything:
        return _label(review)
    return "Hard to say."  # wrong, with no label inside: the answer-format move stays out of these tests


def review_lines(api_base: str) -> list[str]:
    """A prompt file's lines (join them with any line end) whose task model is the stub at
    ``api_base``, with emoji and CJK text around its examples: "良い😀" passes (positive),
    "悪い" fails (the answer is negative), the third has no id (#3) and passes (neutral)."""
    return [
        'task = "Label 😀 reviews, 日本語 too"',  # 0
        '[prompt]',
        'template = "Answer 日本 with one word. Review: {{ review }}"',  # 2
        '[models.task]',
        'model = "openai/stub"',
        f'api_base = "{api_base}"',
        'api_key_env = "STUB_KEY"',
        '[[criteria]]',
        'type = "equals"',
        'name = "label 😀"',
        '[[examples]]',  # 10
        'id = "良い😀"',
        'vars = { review = "I love it 😀" }',
        'expected = "positive"',
        '[[examples]]',  # 14
        'id = "悪い"',
        'vars = { review = "awful 日本" }',
        'expected = "positive"',
        '[[examples]]  # 😀 no id: #3',  # 18
        'vars = { review = "so so" }',
        'expected = "neutral"',
    ]
