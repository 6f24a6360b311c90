"""Prompts in CI: many files at once (targets, batch), the reports CI systems read (JUnit,
SARIF, GitHub annotations) and the regression gate (baseline). The CLI is a thin adapter."""
