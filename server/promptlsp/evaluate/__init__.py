"""Evaluation: run a prompt on examples and score every check (assertions and the LLM judge)."""
