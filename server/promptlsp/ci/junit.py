"""JUnit XML of ``eval`` and ``check``, as CI systems read it (Jenkins, GitLab, GitHub test
reporters): ``<testsuites>`` with one ``<testsuite>`` per prompt file.

``eval``: one ``<testcase>`` per example; a failing check is a ``<failure>`` whose message is
its reason (every failing check in the body), an example without a score an ``<error>``, the
model's output (bounded) in ``<system-out>``. A file that could not run is one test case that
failed with its diagnostics. ``check``: one test case per file, failed when it has errors.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..document import Analysis
from ..evaluate.results import format_score
from .places import diagnostic_place, example_place, failure_reason
from .targets import display_name

if TYPE_CHECKING:  # the batch (asyncio) is eval's; check's reports do without it
    from .batch import FileEval

OUTPUT_LIMIT = 4000  # characters of a model output in <system-out>
# Characters XML 1.0 cannot carry at all (ElementTree would write them and break the file).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _bounded(text: str) -> str:
    if len(text) <= OUTPUT_LIMIT:
        return text
    return text[:OUTPUT_LIMIT] + f"\n… [{len(text) - OUTPUT_LIMIT} more characters]"


def _element(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: _text(v) for k, v in attrs.items()})
    if text is not None:
        node.text = _text(text)
    return node


def _diagnostic_lines(name: str, analysis: Analysis, severities: tuple[str, ...]) -> list[str]:
    lines = []
    for d in sorted(analysis.diagnostics, key=lambda d: d.span.start):
        if d.severity in severities:
            first, _ = diagnostic_place(analysis, d).lines()
            lines.append(f"{name}:{first}: {d.severity}: {d.message} [{d.code}]")
    return lines


def _count(parent: ET.Element, suites: list[ET.Element]) -> None:
    for key in ("tests", "failures", "errors", "skipped"):
        parent.set(key, str(sum(int(s.get(key, "0")) for s in suites)))


def _suite(root: ET.Element, name: str, cases: list[ET.Element], properties: dict[str, str] | None = None) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", {"name": _text(name)})
    if properties:
        holder = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            _element(holder, "property", name=key, value=value)
    suite.extend(cases)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
    suite.set("skipped", "0")
    return suite


def _file_case(name: str, label: str, analysis: Analysis | None, error: str | None) -> ET.Element:
    """The one test case of a file that could not run: unreadable (error) or with errors (failure)."""
    case = ET.Element("testcase", {"name": _text(label), "classname": _text(name)})
    if analysis is None:
        _element(case, "error", f"cannot read {name}: {error}", message=f"cannot read: {error}", type="unreadable")
        return case
    errors = _diagnostic_lines(name, analysis, ("error",))
    if errors:
        _element(case, "failure", "\n".join(errors), message=errors[0].split(": ", 1)[1], type="diagnostics")
    others = _diagnostic_lines(name, analysis, ("warning", "information", "hint"))
    if others:
        _element(case, "system-out", "\n".join(others))
    return case


def _example_case(item: "FileEval", result) -> ET.Element:
    """A test case named by the example, its class the file, ``file``/``line`` where it fails."""
    place = example_place(item.analysis, result)
    case = ET.Element("testcase", {"name": _text(result.example_id), "classname": _text(item.name),
                                   "file": _text(display_name(place.path)), "line": str(place.lines()[0])})
    if result.output is None and result.failure != "render":
        _element(case, "error", result.error or "", message=result.error or "no output", type=result.failure or "error")
    elif not result.passed or result.failure == "render":
        failing = [c for c in result.checks if not c.passed and c.weight > 0]
        body = "\n".join(f"{c.name} ({c.type}, score {format_score(c.score)}): {c.reason}" for c in failing)
        _element(case, "failure", body or result.error or "", message=failure_reason(result),
                 type=failing[0].type if failing else (result.failure or "failed"))
    if result.output is not None:
        _element(case, "system-out", _bounded(result.output))
    return case


def eval_xml(items: Iterable["FileEval"]) -> ET.ElementTree:
    root = ET.Element("testsuites", {"name": "promptlsp eval"})
    suites = []
    for item in items:
        if not item.runnable:
            cases = [_file_case(item.name, "(file)", item.analysis, item.error)]
        else:
            cases = [_example_case(item, r) for r in item.results]
        properties = None
        if item.report is not None:
            properties = {"score": format_score(item.score)} | {
                f"score.{split}": format_score(row["score"]) for split, row in item.report.split_scores().items()}
        suites.append(_suite(root, item.name, cases, properties))
    _count(root, suites)
    return ET.ElementTree(root)


def check_xml(files: Iterable[tuple[Path, str, Analysis | None, str | None]]) -> ET.ElementTree:
    """(path, name shown, analysis or None, why unreadable) per file: one suite, a case per file."""
    root = ET.Element("testsuites", {"name": "promptlsp check"})
    cases = [_file_case(name, name, analysis, error) for _, name, analysis, error in files]
    suite = _suite(root, "promptlsp check", cases)
    _count(root, [suite])
    return ET.ElementTree(root)


def write(tree: ET.ElementTree, stream) -> None:
    ET.indent(tree)
    stream.write(ET.tostring(tree.getroot(), encoding="unicode", xml_declaration=True))
    stream.write("\n")
