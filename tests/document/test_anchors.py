"""A critique's quote found again in the prompt (``promptlsp.document.anchors``)."""

from promptlsp.document.anchors import anchor
from promptlsp.document.model import PromptText

PROMPT = PromptText(template="Answer the   Question briefly.\nUse {{ name }}.", system="Be polite. Answer the question.")


def test_an_exact_quote_is_found_in_its_target_first():
    assert anchor(PROMPT, "Be polite.", "system") == ("system", 0, 10)
    assert anchor(PROMPT, "Answer the question", "system") == ("system", 11, 30)


def test_a_quote_is_found_ignoring_case_and_white_space_and_its_quotes():
    target, start, end = anchor(PROMPT, ' "answer the question" ', "template")
    assert (target, PROMPT.template[start:end]) == ("template", "Answer the   Question")


def test_a_quote_missing_from_the_named_target_is_found_in_the_other():
    assert anchor(PROMPT, "Use {{ name }}", "system") == ("template", 31, 45)


def test_a_quote_that_is_not_there_has_no_span():
    assert anchor(PROMPT, "never written", None) == ("template", None, None)
    assert anchor(PROMPT, "   ", "system") == ("system", None, None)
