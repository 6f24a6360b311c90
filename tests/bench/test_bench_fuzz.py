"""bench/fuzz.py: the short run finds nothing (300 files, 60 LSP operations); and the run's checks
do catch what they look for (a raising, hanging or off-range analyze(), a server that leaves
requests unanswered or sends ranges outside the document)."""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "fuzz.py"
PHASES = ["analyze()", "lsp utf-16", "lsp utf-8 (pull)", "lsp utf-32"]
COLUMNS = ["inputs", "escaped exceptions", "ranges outside", "unanswered/hangs", "slowest (s)", "peak RSS (MB)"]


def _rows(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("phase "))
    assert all(column in header for column in COLUMNS), header
    body = lines[lines.index(header) + 2:]
    rows = {}
    for line in body[:body.index("")]:
        cells = line.split()
        rows[" ".join(cells[:-6])] = cells[-6:]
    return rows


def test_short_run_finds_nothing(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=1200, check=False)
    rows = _rows(done.stdout)
    assert list(rows) == PHASES, done.stdout
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    failures = [f for phase in summary["phases"] for f in phase["failures"]][:10]
    assert [rows[p][0] for p in PHASES] == ["300", "20", "20", "20"], done.stdout
    for phase in PHASES:
        inputs, escaped, outside, unanswered, slowest, rss = rows[phase]
        assert (escaped, outside, unanswered) == ("0", "0", "0"), f"{phase}: {done.stdout}\n{failures}"
        assert float(slowest) >= 0 and float(rss) > 0, rows[phase]
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary["failed"] is False


# -- the checks can fail ------------------------------------------------------------------------

def _fuzz(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_fuzz", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _raises(text, path, root):
    raise ValueError("boom")


def _logs_internal_error(text, path, root):
    try:
        raise KeyError("inside")
    except KeyError:
        logging.getLogger("promptlsp.document").exception("internal error while analysing %s", path)
    return SimpleNamespace(diagnostics=[])


def _sleeps(text, path, root):
    import time

    time.sleep(60)


def _span_past_the_end(text, path, root):
    from promptlsp.document import Diagnostic, SourceText, Span

    return SimpleNamespace(source=SourceText(text), diagnostics=[Diagnostic("schema", "x", Span(0, len(text) + 3))])


def _range_past_the_line(text, path, root):
    from promptlsp.document import Diagnostic, Position, Range, Span

    class Source:  # a span inside the text, sent as a range past its first line's end
        def range(self, span, encoding):
            return Range(Position(0, 0), Position(0, 10 ** 6))

    return SimpleNamespace(source=Source(), diagnostics=[Diagnostic("schema", "x", Span(0, 1))])


@pytest.mark.parametrize("fake, column", [(_raises, 1), (_logs_internal_error, 1), (_sleeps, 3),
                                          (_span_past_the_end, 2), (_range_past_the_line, 2)],
                         ids=["raises", "internal-error", "hangs", "span-past-end", "range-past-line"])
def test_analyze_failures_are_counted_saved_and_fail_the_run(monkeypatch, tmp_path, capsys, fake, column) -> None:
    fuzz = _fuzz(monkeypatch)
    monkeypatch.setattr(fuzz, "analyze_input", fake)  # the forked workers inherit it
    code = fuzz.main(["--files", "3", "--ops", "0", "--timeout", "0.5", "--out", str(tmp_path)])
    rows = _rows(capsys.readouterr().out)
    assert list(rows) == ["analyze()"]
    assert rows["analyze()"][0] == "3" and rows["analyze()"][column] != "0", rows
    assert code == 1
    assert len(list(tmp_path.glob("analyze-*.prompt.toml"))) == 3
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["failed"] is True and len(summary["phases"][0]["failures"]) == 3


FAKE_SERVER = textwrap.dedent('''
    import json, sys
    out = sys.stdout.buffer
    def send(message):
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        out.write(b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body); out.flush()
    while True:
        length = None
        while True:
            line = sys.stdin.buffer.readline()
            if not line:
                sys.exit(0)
            if not line.strip():
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        try:
            message = json.loads(sys.stdin.buffer.read(length))
        except ValueError:
            continue
        if not isinstance(message, dict) or "jsonrpc" not in message or message.get("method") == "textDocument/codeAction":
            continue  # never answered
        method, params = message.get("method"), message.get("params")
        if method == "textDocument/didOpen":  # a diagnostic far outside any document
            far = {"line": 10 ** 6, "character": 0}
            send({"method": "textDocument/publishDiagnostics", "params": {
                "uri": params["textDocument"]["uri"], "version": params["textDocument"]["version"],
                "diagnostics": [{"range": {"start": far, "end": far}, "message": "far away"}]}})
        elif "id" in message:
            result = {"capabilities": {"positionEncoding": "utf-16"}} if method == "initialize" else None
            send({"id": message["id"], "result": result})
            if method == "shutdown":
                sys.exit(0)
''')


def test_lsp_failures_are_counted(monkeypatch, tmp_path, capsys) -> None:
    fuzz = _fuzz(monkeypatch)
    server = tmp_path / "fake_server.py"
    server.write_text(FAKE_SERVER, encoding="utf-8")
    monkeypatch.setattr(fuzz, "SERVER_COMMAND", [sys.executable, str(server)])
    code = fuzz.main(["--files", "0", "--ops", "90", "--seed", "3", "--request-timeout", "1",
                      "--out", str(tmp_path / "out")])
    rows = _rows(capsys.readouterr().out)
    assert code == 1
    totals = [sum(int(rows[p][i]) for p in PHASES[1:]) for i in (2, 3)]
    assert totals[0] > 0 and totals[1] > 0, rows  # ranges outside, unanswered
    logs = list((tmp_path / "out").glob("lsp-*-session.jsonl"))
    assert logs and all(json.loads(line) for line in logs[0].read_text(encoding="utf-8").splitlines())


# -- LSP semantics of the script's own document copy -----------------------------------------------

def test_lines_positions_and_changes_follow_the_lsp(monkeypatch) -> None:
    fuzz = _fuzz(monkeypatch)
    assert fuzz.lsp_lines("a\u2028b\x85\x0c\x0bc\rd\r\ne\nf") == ["a\u2028b\x85\x0c\x0bc", "d", "e", "f"]
    lines = ["x😀y"]
    assert fuzz.position_problem(lines, {"line": 0, "character": 3}, "utf-16") is None
    assert "inside a character" in fuzz.position_problem(lines, {"line": 0, "character": 2}, "utf-16")
    assert "inside a character" in fuzz.position_problem(lines, {"line": 0, "character": 3}, "utf-8")
    assert fuzz.position_problem(lines, {"line": 0, "character": 5}, "utf-8") is None
    assert "past the end" in fuzz.position_problem(lines, {"line": 0, "character": 4}, "utf-32")
    assert "past the last line" in fuzz.position_problem(lines, {"line": 1, "character": 0}, "utf-32")
    assert "start after end" in fuzz.range_problem(
        lines, {"start": {"line": 0, "character": 1}, "end": {"line": 0, "character": 0}}, "utf-32")
    # a change's character past its line's end means the line's end; \u2028 is no line break
    change = {"range": {"start": {"line": 0, "character": 1}, "end": {"line": 0, "character": 99}}, "text": "X"}
    assert fuzz.apply_change("a\u2028b\r\ncd", change, "utf-16") == "aX\r\ncd"
    change = {"range": {"start": {"line": 1, "character": 2}, "end": {"line": 2, "character": 0}}, "text": ""}
    assert fuzz.apply_change("😀\n😀\r\nz", change, "utf-16") == "😀\n😀z"
    assert fuzz.apply_change("😀\n😀\r\nz", {**change, "range": {**change["range"], "start": {"line": 1, "character": 1}}},
                             "utf-32") == "😀\n😀z"
    # an offset between the \r and \n of a CRLF is the end of its line
    assert fuzz._utf16_range("ab\r\ncd", 3, 5) == {"start": {"line": 0, "character": 2},
                                                   "end": {"line": 1, "character": 1}}


def test_every_input_of_the_long_run_can_be_made(monkeypatch):
    # the generator itself must not fail (a dataset path with a backslash once broke re.sub)
    fuzz = _fuzz(monkeypatch)
    seeds = fuzz.load_seeds()
    for index in (2025, 5193, 10904, 19225):  # inputs of seed 1 that held such a path
        fuzz.make_input(1, index, seeds)
