"""SARIF 2.1.0 of check and eval: valid against the official schema, exact regions (1-based
lines, UTF-16 columns across emoji and CRLF), a rule for every code and check type."""

import re

from promptlsp.ci.sarif import check_log, eval_log
from promptlsp.document import analyze

from ci_support import BROKEN, TWO, WARNED, assert_valid_sarif, evaluated


def utf16_position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and UTF-16 column of ``offset``, computed here on its own (not with SourceText)."""
    before = text[:offset]
    breaks = list(re.finditer(r"\r\n|\r|\n", before))
    line_start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, len(before[line_start:].encode("utf-16-le")) // 2 + 1


def test_check_results_are_valid_and_located_in_utf16_columns(write):
    path = write("warned.prompt.toml", WARNED, newline="\r\n")
    text = path.read_bytes().decode("utf-8")
    analysis = analyze(text, path)
    log = check_log([(path, analysis, None)])
    assert_valid_sarif(log)
    run = log["runs"][0]
    assert run["columnKind"] == "utf16CodeUnits"
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert {"template-syntax", "toml-syntax", "example-duplicate"} <= set(rule_ids)
    (result,) = run["results"]
    assert result["ruleId"] == "example-var-unused" and result["level"] == "warning"
    assert rule_ids[result["ruleIndex"]] == "example-var-unused"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "warned.prompt.toml", "uriBaseId": "%SRCROOT%"}
    (diagnostic,) = analysis.diagnostics
    region = location["region"]
    assert (region["startLine"], region["startColumn"]) == utf16_position(text, diagnostic.span.start)
    assert (region["endLine"], region["endColumn"]) == utf16_position(text, diagnostic.span.end)
    assert region["startLine"] == 5 and text[diagnostic.span.start:diagnostic.span.end] == "unused"
    # two emoji before it on its line: two columns more than code points would say
    code_point_column = diagnostic.span.start - text.rindex("\n", 0, diagnostic.span.start)
    assert region["startColumn"] == code_point_column + 2


def test_an_unreadable_file_is_a_notification_and_a_failed_execution(write, tmp_path):
    log = check_log([(tmp_path / "gone.prompt.toml", None, "No such file or directory")])
    assert_valid_sarif(log)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert "gone.prompt.toml" in invocation["toolExecutionNotifications"][0]["message"]["text"]


def test_eval_failing_examples_are_results_at_their_assert_or_id(write):
    good = write("prompts/two.prompt.toml", TWO, newline="\r\n")
    broken = write("prompts/sub/broken.prompt.toml", BROKEN)
    items = evaluated([good, broken], lambda request: "no")
    log = eval_log(items)
    assert_valid_sarif(log)
    results = log["runs"][0]["results"]
    rules = [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]]
    by_example = {r["properties"]["example"]: r for r in results if "properties" in r}
    assert set(by_example) == {"good", "😀-bad", "plain-bad"}
    text = good.read_bytes().decode("utf-8")
    # the answer "no" fails "good" and "plain-bad" on the criterion, "😀-bad" on its assert
    assert by_example["good"]["ruleId"] == "check/equals"
    assert rules[by_example["good"]["ruleIndex"]] == "check/equals"
    region = by_example["good"]["locations"][0]["physicalLocation"]["region"]
    id_offset = text.index('"good"')
    assert (region["startLine"], region["startColumn"]) == utf16_position(text, id_offset)
    assert (region["endLine"], region["endColumn"]) == utf16_position(text, id_offset + len('"good"'))
    assert by_example["good"]["properties"]["output"] == "no"
    fingerprints = [r["partialFingerprints"]["promptlsp/example/v1"] for r in by_example.values()]
    assert len(set(fingerprints)) == 3 and "prompts/two.prompt.toml\ngood\ncheck/equals" in fingerprints
    assert by_example["😀-bad"]["ruleId"] == "check/contains" and "says never" in by_example["😀-bad"]["message"]["text"]
    region = by_example["😀-bad"]["locations"][0]["physicalLocation"]["region"]
    assert_at = text.index('{ name = "says never"')
    assert (region["startLine"], region["startColumn"]) == utf16_position(text, assert_at)
    assert (region["endLine"], region["endColumn"]) == utf16_position(text, text.index("}", assert_at) + 1)
    # the broken file's diagnostics are results too
    assert any(r["ruleId"] == "template-syntax" and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
               == "prompts/sub/broken.prompt.toml" for r in results)


def test_the_schema_check_bites(write):
    """The validation above can fail: a 0 column or an unknown column kind is caught."""
    import pytest

    path = write("warned.prompt.toml", WARNED)
    log = check_log([(path, analyze(path.read_text("utf-8"), path), None)])
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startColumn"] = 0
    with pytest.raises(AssertionError, match="startColumn"):
        assert_valid_sarif(log)
    log["runs"][0]["columnKind"] = "bytes"
    with pytest.raises(AssertionError):
        assert_valid_sarif(log)


def test_an_example_from_a_dataset_is_located_at_its_line(write):
    write("data/rows.jsonl", '{"id": "r1", "w": "a", "expected": "a"}\n{"id": "r2", "w": "b", "expected": "b"}\n')
    path = write("rows.prompt.toml", 'task = "Echo."\n[prompt]\ntemplate = "{{ w }}"\n[[criteria]]\ntype = "equals"\n'
                 '[[datasets]]\npath = "data/rows.jsonl"\n')
    items = evaluated([path], lambda request: "a")
    assert items[0].runnable, items[0].analysis.diagnostics
    log = eval_log(items)
    assert_valid_sarif(log)
    (result,) = log["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert result["properties"]["example"] == "r2"
    assert location == {"artifactLocation": {"uri": "data/rows.jsonl", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 2}}
