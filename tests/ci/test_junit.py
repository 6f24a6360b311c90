"""JUnit XML of eval and check, read back with ElementTree: suites per file, a case per
example, failure messages from the failing check, outputs in system-out, bounded and valid XML."""

import io
import xml.etree.ElementTree as ET

from promptlsp.ci import junit
from promptlsp.ci.batch import load

from ci_support import BROKEN, TWO, WARNED, evaluated


def parsed(tree) -> ET.Element:
    out = io.StringIO()
    junit.write(tree, out)
    return ET.fromstring(out.getvalue().encode("utf-8"))


def test_eval_suites_cases_and_failure_messages(write):
    two = write("a/two.prompt.toml", TWO)
    broken = write("b/broken.prompt.toml", BROKEN)
    root = parsed(junit.eval_xml(evaluated([two, broken], lambda request: "no")))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "4", "0")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"a/two.prompt.toml", "b/broken.prompt.toml"}
    suite = suites["a/two.prompt.toml"]
    assert (suite.get("tests"), suite.get("failures")) == ("3", "3")
    assert suite.find("properties/property[@name='score']").get("value") == "0.167"  # (0 + 0.5 + 0) / 3
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"good", "😀-bad", "plain-bad"} and {c.get("classname") for c in cases.values()} == {suite.get("name")}
    assert cases["😀-bad"].find("failure").get("message").startswith("says never: ")  # the assert, not the passing criterion
    assert cases["😀-bad"].find("failure").get("type") == "contains"
    assert cases["good"].find("failure").get("message").startswith("exact: ")
    assert cases["good"].find("failure").get("type") == "equals"
    assert cases["good"].find("system-out").text == "no"
    # where each fails: the example's id, or the failing assert's line
    lines = TWO.splitlines()
    assert (cases["good"].get("file"), cases["good"].get("line")) == ("a/two.prompt.toml", str(lines.index('id = "good"') + 1))
    assert cases["😀-bad"].get("line") == str(next(i for i, l in enumerate(lines) if "says never" in l) + 1)
    # the file with errors: one failed case listing its diagnostics
    (case,) = suites["b/broken.prompt.toml"].findall("testcase")
    assert "[template-syntax]" in case.find("failure").text


def test_outputs_are_bounded_and_xml_safe(write):
    two = write("two.prompt.toml", TWO)
    root = parsed(junit.eval_xml(evaluated([two], lambda request: "\x00\x1b" + "y" * 10_000)))
    out = root.find("testsuite/testcase/system-out").text
    assert out.startswith("\ufffd\ufffd") and len(out) < junit.OUTPUT_LIMIT + 100 and "more characters" in out


def test_check_one_case_per_file(write):
    files = [write("warned.prompt.toml", WARNED), write("broken.prompt.toml", BROKEN)]
    items = [load(p, None, "all") for p in files]
    root = parsed(junit.check_xml([(i.path, i.name, i.analysis, None) for i in items]
                                  + [(write("x", "").parent / "gone.prompt.toml", "gone.prompt.toml", None, "missing")]))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["warned.prompt.toml"].find("failure") is None
    assert "[example-var-unused]" in cases["warned.prompt.toml"].find("system-out").text
    assert cases["broken.prompt.toml"].find("failure") is not None
    assert cases["gone.prompt.toml"].find("error").get("message") == "cannot read: missing"
