"""A real client no one here wrote: headless Neovim's built-in LSP client (nvim >= 0.7) against
``promptlsp serve`` on a CRLF file with emoji and CJK text — completion inside ``{{ }}`` and in a
table, the outline, and a rename of a template variable applied by Neovim and written to disk.

Neovim computes every position from its own buffer (UTF-16, the client's offset encoding) and
syncs the typed key with its incremental didChange; the test computes the expected positions
independently. The script is ``neovim_client.lua``; it writes its results as JSON.
Then, in a second file whose task model is the loopback stub, one example is run with
``promptlsp/runExample`` at Neovim's cursor, and the inlay hints and code lenses it then gets are
checked (Neovim 0.7 has no inlay-hint client: the raw request, as a client sends it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from promptlsp.testing.openai_stub import StubServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from stub_model import answer, review_lines  # noqa: E402

NVIM = shutil.which("nvim")
SCRIPT = Path(__file__).with_name("neovim_client.lua")
WAIT_MS = 30_000  # every wait inside Neovim
HARD_TIMEOUT = 120  # the whole Neovim run; then its process group is killed

pytestmark = pytest.mark.skipif(NVIM is None, reason="nvim is not on PATH (.ci/run installs Debian's neovim)")

LINES = [
    'version = 1',
    'name = "レビュー 😀"',
    'task = "Sort 😀 reviews, 日本語 too"',
    '',
    '[prompt]',
    'system = "You judge 日本語 reviews 😀."',
    'template = """Review 😀日本: {{ review }} in {{ lang }}',
    'Answer 😀 with one word: {{ review|trim }}"""',
    '',
    '[models.task]',
    'model = "local/qwen"',
    'temperature = 0',
    '',
    '[[criteria]]',
    'name = "一致 😀"',
    'type = "equals"',
    '',
    '[[examples]]',
    'id = "良い😀"',
    'vars = { review = "良い 😀 review", lang = "ja" }',
    'expected = "positive"',
    '',
    '[[examples]]',
    'id = "悪い"',
    'split = "validation"',
    'vars.review = "悪い 🙁"',
    'vars.lang = "ja"',
    'expected = "negative"',
]
TEXT = "\r\n".join(LINES) + "\r\n"


RUN_AT = "I love it 😀"  # in the first example of stub_model.review_lines: the cursor after the emoji


def _u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _pos(line: int, needle: str, into: int | None = None) -> dict:
    """The UTF-16 position ``into`` characters into ``needle`` on ``line`` (default: after it)."""
    column = LINES[line].index(needle) + (len(needle) if into is None else into)
    return {"line": line, "character": _u16(LINES[line][:column])}


def _range(line: int, needle: str) -> dict:
    return {"start": _pos(line, needle, 0), "end": _pos(line, needle)}


def _tree(symbols: list[dict]) -> list:
    return [(s["name"], _tree(s["children"])) if s["children"] else s["name"] for s in symbols]


def _find(symbols: list[dict], *names: str) -> dict:
    for name in names:
        symbol = next(s for s in symbols if s["name"] == name)
        symbols = symbol["children"]
    return symbol


def _run_neovim(tmp_path: Path, stub: StubServer) -> dict:
    path = tmp_path / "review.prompt.toml"
    path.write_bytes(TEXT.encode("utf-8"))
    run_file = tmp_path / "run.prompt.toml"
    run_file.write_bytes(("\r\n".join(review_lines(stub.url)) + "\r\n").encode("utf-8"))
    out = tmp_path / "results.json"
    home = tmp_path / "nvim-home"  # Neovim's state, cache and log files stay in the test's dir
    env = dict(os.environ,
               PROMPTLSP_NVIM_CMD=json.dumps([sys.executable, "-m", "promptlsp", "serve"]),
               PROMPTLSP_NVIM_FILE=str(path), PROMPTLSP_NVIM_OUT=str(out),
               PROMPTLSP_NVIM_RUN_FILE=str(run_file), PROMPTLSP_NVIM_RUN_AT=RUN_AT,
               STUB_KEY="sk-test-not-a-secret", LITELLM_LOCAL_MODEL_COST_MAP="True",
               PROMPTLSP_NVIM_TIMEOUT_MS=str(WAIT_MS),
               XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               XDG_STATE_HOME=str(home / "state"), XDG_CACHE_HOME=str(home / "cache"))
    command = [NVIM, "--headless", "--clean", "-u", "NONE", "-n", "-c", f"luafile {SCRIPT}"]
    # a session of its own, so a hung run is killed with the language server it started
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=HARD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"nvim did not finish within {HARD_TIMEOUT} s; it said:\n{output.decode(errors='replace')}")
    finally:
        try:  # whatever of the session is left (a server Neovim failed to stop)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    said = output.decode(errors="replace")
    assert out.exists(), f"nvim (exit {proc.returncode}) wrote no results; it said:\n{said}"
    results = json.loads(out.read_text(encoding="utf-8"))
    assert "error" not in results, f"{results['error']} (after steps {results['steps']}); nvim said:\n{said}"
    results["file_after"] = path.read_bytes().decode("utf-8")
    return results


@pytest.fixture(scope="module")
def neovim(tmp_path_factory) -> dict:
    with StubServer(latency=0.0, answer=answer) as stub:
        return _run_neovim(tmp_path_factory.mktemp("nvim"), stub)


def test_neovim_attaches_and_stops_the_server(neovim: dict):
    assert neovim["steps"] == ["initialized", "completion in {{ }}", "completion in a table",
                               "documentSymbol", "rename", "runExample", "inlayHint", "codeLens", "stopped"]
    assert neovim["providers"] == {"completion": True, "documentSymbol": True, "rename": True}
    assert neovim["offset_encoding"] == "utf-16"
    assert neovim["fileformat"] == "dos"  # Neovim read the CRLF file as such
    assert neovim["server_exit"] == {"code": 0, "signal": 0}


def test_neovim_completes_template_variables_inside_braces(neovim: dict):
    found = neovim["completion_variable"]
    assert found["position"] == _pos(6, "{{ l")  # Neovim's UTF-16 column, past 😀 and 日本
    labels = {item["label"] for item in found["items"]}
    assert labels == {"review", "lang"}
    lang = next(item for item in found["items"] if item["label"] == "lang")
    assert lang["textEdit"]["newText"] == "lang"
    assert lang["textEdit"]["range"] == _range(6, "lang")  # the whole word under the cursor


def test_neovim_completes_keys_of_the_table_typed_in(neovim: dict):
    found = neovim["completion_key"]
    assert found["position"] == {"line": 12, "character": 2}  # the new line "to" after temperature
    labels = {item["label"] for item in found["items"]}
    assert {"top_p", "seed", "max_tokens"} <= labels
    assert "model" not in labels and "temperature" not in labels  # present in [models.task] already
    assert "vars" not in labels and "expected" not in labels  # keys of other tables
    top_p = next(item for item in found["items"] if item["label"] == "top_p")
    # it replaces the "to" the server saw typed (through Neovim's didChange)
    assert top_p["textEdit"] == {"newText": "top_p", "range": {"start": {"line": 12, "character": 0},
                                                               "end": {"line": 12, "character": 2}}}


def test_neovim_gets_the_outline(neovim: dict):
    symbols = neovim["symbols"]
    assert _tree(symbols) == [
        ("prompt", ["system", "template"]),
        ("models", ["task"]),
        ("criteria", ["一致 😀"]),
        ("examples", [("train", ["良い😀"]), ("validation", ["悪い"])]),
    ]
    assert _find(symbols, "criteria", "一致 😀")["selectionRange"] == _range(14, "一致 😀")
    assert _find(symbols, "examples", "train", "良い😀")["selectionRange"] == _range(18, "良い😀")
    assert _find(symbols, "models", "task")["detail"] == "local/qwen"


def test_neovim_renames_a_template_variable_everywhere_and_writes_the_file(neovim: dict):
    assert neovim["prepare_rename"]["range"] == _range(6, "review")
    assert neovim["prepare_rename"]["placeholder"] == "review"
    expected = (TEXT
                .replace("{{ review }}", "{{ opinion }}")
                .replace("{{ review|trim }}", "{{ opinion|trim }}")
                .replace("vars = { review =", "vars = { opinion =")
                .replace("vars.review =", "vars.opinion ="))
    assert expected.count("opinion") == 4
    assert neovim["file_after"] == expected  # byte for byte: CRLF, emoji, CJK and values untouched


def test_neovim_runs_the_example_at_its_cursor_and_gets_its_inlay_hint(neovim: dict):
    lines = review_lines("x")
    row = 12
    column = lines[row].index(RUN_AT) + len(RUN_AT)
    assert neovim["run_at"] == {"line": row, "character": _u16(lines[row][:column])}  # Neovim's UTF-16 column
    done = neovim["run_example"]
    assert done["exampleId"] == "良い😀"
    assert (done["result"]["output"], done["result"]["passed"]) == ("positive", True)
    (hint,) = neovim["inlay_hints"]  # only the example that was run has a result
    assert hint["label"] == "✓ 1.00 · positive"
    assert hint["position"] == {"line": 11, "character": _u16(lines[11])}  # after id = "良い😀"
    assert hint["paddingLeft"] is True


def test_neovim_gets_the_code_lenses_of_the_prompt_and_each_example(neovim: dict):
    seen = [(lens["range"]["start"]["line"], lens["command"]["title"], lens["command"]["command"])
            for lens in neovim["code_lenses"]]
    run = "promptlsp.evaluateExample"
    assert seen == [(2, "Evaluate", "promptlsp.evaluate"), (2, "Optimize", "promptlsp.optimize"),
                    (10, "Run example", run), (14, "Run example", run), (18, "Run example", run)]
    assert [lens["command"]["arguments"][0]["example"] for lens in neovim["code_lenses"][2:]] == ["良い😀", "悪い", "#3"]
