"""SARIF 2.1.0 logs — what code-scanning dashboards read — of ``check`` and ``eval``.

``check``: every diagnostic is a result whose rule is its code. ``eval``: every failing example
is a result whose rule is the type of its failing check (``check/equals``…; ``eval/unscored``
when the model call failed or the budget ran out, ``eval/render`` when the prompt did not
render), located at the failing assert or the example; a file with errors contributes its
diagnostics. Regions are 1-based lines and columns in UTF-16 code units (``columnKind``); URIs
are relative to ``%SRCROOT%`` — the folder the command ran in — when the file is below it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import quote

from ..document import CODES, Analysis
from .places import Place, diagnostic_place, example_place, failing_check, failure_reason

if TYPE_CHECKING:  # the batch (asyncio) is eval's; check's reports do without it
    from .batch import FileEval

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
VERSION = "2.1.0"
OUTPUT_LIMIT = 1000  # characters of a model output kept in a result's properties
LEVELS = {"error": "error", "warning": "warning", "information": "note", "hint": "note"}
EVAL_RULES = {
    "eval/unscored": "The example could not be scored: the model call failed or the budget ran out.",
    "eval/render": "The prompt did not render for the example's variables.",
}


def _bounded(text: str | None) -> str | None:
    if text is None or len(text) <= OUTPUT_LIMIT:
        return text
    return text[:OUTPUT_LIMIT] + f"… [{len(text) - OUTPUT_LIMIT} more characters]"


class _Log:
    """One run's results and the rules they refer to, with SRCROOT-relative artifact URIs."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve()
        self.rules: dict[str, dict[str, Any]] = {}
        self.results: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []

    def rule(self, rule_id: str, description: str, level: str) -> int:
        if rule_id not in self.rules:
            self.rules[rule_id] = {"id": rule_id, "shortDescription": {"text": description},
                                   "defaultConfiguration": {"level": level}}
        return list(self.rules).index(rule_id)

    def artifact(self, path: Path) -> dict[str, Any]:
        resolved = path.resolve()
        try:
            return {"uri": quote(resolved.relative_to(self.base).as_posix()), "uriBaseId": "%SRCROOT%"}
        except ValueError:
            return {"uri": resolved.as_uri()}

    def location(self, place: Place) -> dict[str, Any]:
        first, last = place.lines()
        region: dict[str, Any] = {"startLine": first}
        columns = place.columns("utf-16")
        if columns is not None:
            region |= {"startColumn": columns[0], "endLine": last, "endColumn": columns[1]}
        return {"physicalLocation": {"artifactLocation": self.artifact(place.path), "region": region}}

    def add(self, rule_id: str, level: str, message: str, place: Place, properties: dict | None = None,
            fingerprint: str | None = None) -> None:
        index = list(self.rules).index(rule_id)
        result = {"ruleId": rule_id, "ruleIndex": index, "level": level, "message": {"text": message},
                  "locations": [self.location(place)]}
        if fingerprint is not None:  # the same alert after the lines moved: dashboards track it
            result["partialFingerprints"] = {"promptlsp/example/v1": fingerprint}
        if properties:
            result["properties"] = properties
        self.results.append(result)

    def diagnostics(self, analysis: Analysis) -> None:
        for d in sorted(analysis.diagnostics, key=lambda d: d.span.start):
            level = LEVELS[d.severity]
            self.rule(d.code, f"promptlsp diagnostic '{d.code}' (prompts-spec/SPEC.md, Diagnostics)", level)
            self.add(d.code, level, d.message, diagnostic_place(analysis, d))

    def unreadable(self, path: Path, reason: str) -> None:
        self.notifications.append({"level": "error", "message": {"text": f"cannot read {path}: {reason}"},
                                   "locations": [{"physicalLocation": {"artifactLocation": self.artifact(path)}}]})

    def log(self, command: str) -> dict[str, Any]:
        from .. import __version__

        invocation = {"executionSuccessful": not self.notifications, "commandLine": f"promptlsp {command}"}
        if self.notifications:
            invocation["toolExecutionNotifications"] = self.notifications
        return {
            "$schema": SCHEMA, "version": VERSION,
            "runs": [{
                "tool": {"driver": {"name": "promptlsp", "version": __version__, "rules": list(self.rules.values())}},
                "originalUriBaseIds": {"%SRCROOT%": {"uri": self.base.as_uri().rstrip("/") + "/"}},
                "columnKind": "utf16CodeUnits",
                "invocations": [invocation],
                "results": self.results,
            }],
        }


def check_log(files: Iterable[tuple[Path, Analysis | None, str | None]], base: Path | None = None) -> dict[str, Any]:
    """The SARIF log of ``check``: (path, its analysis or None, why it was unreadable)."""
    log = _Log(base or Path.cwd())
    for code, severity in CODES.items():  # every code is a rule, found or not: dashboards list them
        log.rule(code, f"promptlsp diagnostic '{code}' (prompts-spec/SPEC.md, Diagnostics)", LEVELS[severity])
    for path, analysis, error in files:
        if analysis is None:
            log.unreadable(path, error or "unreadable")
        else:
            log.diagnostics(analysis)
    return log.log("check")


def eval_log(items: Iterable["FileEval"], base: Path | None = None) -> dict[str, Any]:
    """The SARIF log of ``eval``: failing examples, and the diagnostics of files with errors."""
    log = _Log(base or Path.cwd())
    for item in items:
        if item.analysis is None:
            log.unreadable(item.path, item.error or "unreadable")
            continue
        if not item.runnable:
            log.diagnostics(item.analysis)
            continue
        for result in item.results:
            if result.passed:
                continue
            check = failing_check(result)
            if result.failure == "render":
                rule_id = "eval/render"
            elif check is None or result.output is None:
                rule_id = "eval/unscored"
            else:
                rule_id = f"check/{check.type}"
            log.rule(rule_id, EVAL_RULES.get(rule_id, f"An example failed a '{rule_id[6:]}' check."), "error")
            score = result.score
            message = f"example '{result.example_id}' failed: {failure_reason(result)}"
            log.add(rule_id, "error", message, example_place(item.analysis, result),
                    {"example": result.example_id, "split": result.split, "score": score,
                     "output": _bounded(result.output)}, fingerprint=f"{item.name}\n{result.example_id}\n{rule_id}")
    return log.log("eval")
