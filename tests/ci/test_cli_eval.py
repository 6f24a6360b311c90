"""``promptlsp eval PATH...`` and ``check PATH...`` end to end: the real litellm HTTP path to the
loopback stub model; many files in one run under one concurrency limit; the CI formats written by
the command; the baseline gate's exit status; GitHub annotations."""

import json
import xml.etree.ElementTree as ET

import pytest

from promptlsp.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_REGRESSED, EXIT_USAGE
from promptlsp.cli.main import main
from promptlsp.engine.messages import last_user_text
from promptlsp.testing.openai_stub import StubServer

from ci_support import BROKEN, assert_valid_sarif

GOOD = "Echo: {{ w }}"
WORSE = "Say {{ w }}"


def answer(body: dict) -> str:
    """Right only for the good template: the word after "Echo: "."""
    text = last_user_text(body.get("messages", []))
    return text[len("Echo: "):] if text.startswith("Echo: ") else "dunno"


def prompt(url: str, words: list[str], template: str = GOOD, concurrency: int = 2) -> str:
    examples = "".join(f'[[examples]]\nid = "{w}"\nvars = {{ w = "{w}" }}\nexpected = "{w}"\n' for w in words)
    return (f'task = "Repeat the word."\n[prompt]\ntemplate = "{template}"\n'
            f'[models.task]\nmodel = "openai/stub"\napi_base = "{url}"\napi_key_env = "STUB_KEY"\n'
            f'concurrency = {concurrency}\n[[criteria]]\nname = "exact"\ntype = "equals"\n{examples}')


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("STUB_KEY", "sk-test-not-a-secret")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


@pytest.fixture(scope="module")
def stub():
    with StubServer(latency=0.0, answer=answer) as server:
        yield server


def test_two_files_calls_overlap_under_one_limit(write, capsys):
    # three examples a file, a limit of four calls at once on the one model both files use: four
    # in flight means both files' calls were, and never five means the limit held across them
    with StubServer(latency=1.0, answer=answer) as slow:
        write("prompts/a.prompt.toml", prompt(slow.url, ["a1", "a2", "a3"], concurrency=4))
        write("prompts/b/b.prompt.toml", prompt(slow.url, ["b1", "b2", "b3"], concurrency=4))
        assert main(["eval", "prompts", "--no-cache", "--format", "json"]) == EXIT_OK
        stats = slow.stats
    report = json.loads(capsys.readouterr().out)
    assert [f["file"] for f in report["files"]] == ["prompts/a.prompt.toml", "prompts/b/b.prompt.toml"]
    assert [f["score"] for f in report["files"]] == [1.0, 1.0] and report["gate_passed"]
    assert [f["accounting"]["calls"] for f in report["files"]] == [3, 3]  # each file's own calls
    assert stats.requests == 6 and stats.max_in_flight == 4


def test_summary_table_per_file_gate_and_a_broken_file(write, stub, capsys):
    write("good.prompt.toml", prompt(stub.url, ["g1", "g2"]))
    write("worse.prompt.toml", prompt(stub.url, ["w1"], WORSE))
    write("broken.prompt.toml", BROKEN)
    assert main(["eval", ".", "--min-score", "0.5"]) == EXIT_FINDINGS
    captured = capsys.readouterr()
    out = captured.out
    assert "promptlsp eval: 3 files" in out
    assert "gate --min-score 0.5: FAILED for broken.prompt.toml, worse.prompt.toml" in out
    assert "worse.prompt.toml: w1: exact:" in out
    assert "[template-syntax]" in captured.err and "broken.prompt.toml has errors" in captured.err
    assert "Traceback" not in captured.err
    row = next(line for line in out.splitlines() if "good.prompt.toml" in line)
    assert [c.strip() for c in row.split("│")[1:-1]] == ["good.prompt.toml", "1.000", "1.000", "—", "—", "2/2", "2", "0", "—"]


def test_no_prompt_files_in_a_folder_says_so(write, capsys):
    write("empty/readme.md", "")
    assert main(["eval", "empty"]) == EXIT_USAGE
    assert "empty: no .prompt.toml files in this folder" in capsys.readouterr().err
    assert main(["check", "empty"]) == EXIT_USAGE


def test_junit_and_sarif_files(write, stub, capsys):
    write("p/good.prompt.toml", prompt(stub.url, ["g1", "g2"]))
    write("p/worse.prompt.toml", prompt(stub.url, ["w1", "w2"], WORSE))
    assert main(["eval", "p", "--format", "junit", "--output", "out.xml"]) == EXIT_OK
    root = ET.parse("out.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("4", "2")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["p/worse.prompt.toml"].find("testcase/failure").get("message") == 'exact: output "dunno" does not equal "w1"'
    assert suites["p/worse.prompt.toml"].find("testcase/system-out").text == "dunno"
    assert main(["eval", "p", "--format", "sarif"]) == EXIT_OK
    log = json.loads(capsys.readouterr().out)
    assert_valid_sarif(log)
    assert sorted(r["properties"]["example"] for r in log["runs"][0]["results"]) == ["w1", "w2"]
    assert main(["check", "p", "--format", "sarif", "--output", "check.sarif"]) == EXIT_OK
    assert_valid_sarif(json.loads(open("check.sarif", encoding="utf-8").read()))
    assert main(["check", "p", "--format", "junit"]) == EXIT_OK
    assert ET.fromstring(capsys.readouterr().out.encode()).get("tests") == "2"


def test_the_baseline_gate(write, stub, capsys):
    path = write("p/a.prompt.toml", prompt(stub.url, ["x1", "x2", "x3", "x4"]))
    assert main(["eval", "p", "--save-baseline"]) == EXIT_OK
    saved = open(".promptlsp/baseline.json", encoding="utf-8").read().splitlines()
    assert len(saved) == 6 and '"example": "x1"' in saved[1]
    # the same prompt: passes
    assert main(["eval", "p", "--baseline", ".promptlsp/baseline.json"]) == EXIT_OK
    assert "baseline p/a.prompt.toml: 1.000 → 1.000: ok" in capsys.readouterr().out
    # a worse prompt: exit 3, the examples that got worse with both outputs
    text = path.read_text("utf-8")
    path.write_text(text.replace(GOOD, WORSE))
    assert main(["eval", "p", "--baseline", ".promptlsp/baseline.json"]) == EXIT_REGRESSED
    out = capsys.readouterr().out
    assert "REGRESSED (tolerance 0)" in out and "4 examples got worse" in out
    assert "before: x1" in out and "after:  dunno" in out
    # one example of four worse (a drop of 0.25): within a tolerance of 0.3, not of 0.2
    path.write_text(text.replace('vars = { w = "x4" }', 'vars = { w = "x4!" }'))
    assert main(["eval", "p", "--baseline", ".promptlsp/baseline.json", "--tolerance", "0.3"]) == EXIT_OK
    assert "1 example worse within tolerance" in capsys.readouterr().out
    assert main(["eval", "p", "--baseline", ".promptlsp/baseline.json", "--tolerance", "0.2",
                 "--format", "json"]) == EXIT_REGRESSED
    (comparison,) = json.loads(capsys.readouterr().out)["baseline"]
    assert comparison["regressed"] and [w["example"] for w in comparison["worse"]] == ["x4"]
    assert main(["eval", "p", "--baseline", "missing.json"]) == EXIT_USAGE


def test_github_annotations(write, stub, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    write("p/worse.prompt.toml", prompt(stub.url, ["w1"], WORSE))
    write("p/broken.prompt.toml", BROKEN)
    assert main(["eval", "p"]) == EXIT_FINDINGS
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("::")]
    assert any(l.startswith("::error file=p/worse.prompt.toml,line=") and "example 'w1' failed" in l for l in lines)
    assert any(l.startswith("::error file=p/broken.prompt.toml,line=3,") for l in lines)
    assert main(["check", "p", "--format", "sarif"]) == EXIT_FINDINGS
    captured = capsys.readouterr()
    json.loads(captured.out)  # the report alone on stdout; the annotations went to stderr
    assert "::error file=p/broken.prompt.toml" in captured.err
