"""bench/lsp.py --smoke drives both language servers and prints its table (numbers not checked)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"^\d+(\.\d+)?$")


def test_smoke_run_prints_the_table() -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "lsp.py"), "--smoke"], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("measure "))
    assert header.split() == ["measure", "server", "n", "p50", "ms", "p95", "ms", "p99", "ms", "max", "ms",
                              "goal", "met", "note"]
    body = lines[lines.index(header) + 2:]
    rows = [line for line in body[:body.index("")]]
    # taplo is measured unless the script says why not (no node, or @taplo/lsp neither installed
    # in bench/taplo-lsp/node_modules nor installable with npm ci)
    not_measured = [line for line in lines if line.startswith("taplo: not measured (")]
    assert len(not_measured) <= 1, done.stdout
    servers = ["promptlsp"] if not_measured else ["promptlsp", "taplo"]
    expected = {(m, s, n) for m, n in (("initialize", 1), ("didChange→diagnostics, 10 examples (3 KB)", 4),
                                       ("hover on a key, idle, 10 examples (3 KB)", 5)) for s in servers}
    expected.add(("hover, first optimization, after its first model call", "promptlsp", 3))
    # and promptlsp started as the VS Code extension starts it (no allocator restart)
    expected.add(("initialize, started as VS Code does (PYTHONMALLOC=malloc set)", "promptlsp", 1))
    # the editing features (issue 16), 5 requests each; the template is a TOML string to taplo
    # (promptlsp's answers are checked by the script: a wrong one fails the run)
    editing = ("completion of a key in an example table", "semanticTokens/full", "documentSymbol (outline)",
               "documentSymbol (outline), half-typed example")
    expected |= {(m + ("" if "half-typed" in m else ", idle") + ", 10 examples (3 KB)", s, 5)
                 for m in editing for s in servers}
    expected.add(("completion in {{ }} of the template, idle, 10 examples (3 KB)", "promptlsp", 5))
    # inline results: only promptlsp serves them (taplo advertises neither)
    expected |= {(m + ", idle, 10 examples (3 KB)", "promptlsp", 5) for m in (
        "inlayHint (60 lines, every example evaluated)", "codeLens (Evaluate, Optimize, Run example on each)")}
    found = set()
    for row in rows:
        measure, rest = re.split(r"\s{2,}", row, maxsplit=1)
        server, n, p50, p95, p99, top, *goal_met_note = rest.split()
        assert all(NUMBER.match(v) for v in (p50, p95, p99, top)), row
        assert float(p50) <= float(p95) <= float(p99) <= float(top), row
        goal = " ".join(goal_met_note[:3])
        assert re.fullmatch(r"p(95|99) ≤ \d+", goal) and goal_met_note[3] in ("yes", "no"), row
        if measure == "hover, first optimization, until its first model call":
            assert int(n) >= 1 and "first model call after" in row, row  # hovers while litellm loaded
            continue
        if measure == "hover, first optimization, after its first model call":
            assert int(n) >= 3, row  # 3, and more until the run has called the model meanwhile
            n = "3"
        found.add((measure, server, int(n)))
        if measure == "hover, first optimization, after its first model call":
            calls = re.search(r"(\d+) model calls \(50 ms each\) ran meanwhile$", row)
            assert calls and int(calls.group(1)) > 0, row  # the optimization ran during the hovers
    assert found == expected, done.stdout
    assert any(row.startswith("hover, first optimization, until its first model call") for row in rows)


def test_a_server_that_times_out_is_a_row_that_says_so(monkeypatch, tmp_path) -> None:
    lsp = _lsp_module(monkeypatch)
    monkeypatch.setattr(lsp.LIMITS, "timeout_s", 0.5)
    silent = lsp.Server("silent", [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ))
    rows: list = []

    async def scenario() -> None:
        await lsp.measured(rows, "initialize", "silent", lsp.INITIALIZE_GOAL,
                           lambda: lsp.time_initialize(silent, tmp_path, 3))

    asyncio.run(scenario())  # no TimeoutError: the row records it
    (row,) = rows
    assert row.timed_out == "timed out: no initialize response within 0.5 s (0 of 3 done)"
    table = lsp.table([row, lsp.Row("initialize", "fast", [5.0, 7.0], goal=lsp.INITIALIZE_GOAL)])
    silent_line = next(line for line in table if " silent " in line)
    assert "timed out: no initialize response" in silent_line and " no " in silent_line
    assert silent_line.split()[2:7] == ["0", "-", "-", "-", "-"]
    fast_line = next(line for line in table if " fast " in line)
    assert fast_line.endswith(" yes")


# -- the client: a server that dies or garbles never leaves a waiter (or a process) behind -------------

def _lsp_module(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_lsp", REPO / "bench" / "lsp.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _fake_server(output: str, *, then_sleep: bool) -> list[str]:
    """A "server" that reads one frame's header line, writes ``output``, then sleeps or exits."""
    code = ("import sys, time\nsys.stdin.buffer.readline()\n"
            f"sys.stdout.write({output!r}); sys.stdout.flush()\n" + ("time.sleep(60)\n" if then_sleep else ""))
    return [sys.executable, "-c", code]


@pytest.mark.parametrize("output, then_sleep", [("Content-Length: 5\r\n\r\n{bad}", True),  # malformed JSON
                                                ("Content-Length: 99\r\n\r\n{}", False),  # EOF inside a frame
                                                ("", False)],  # EOF: the server exited
                         ids=["malformed", "truncated", "exited"])
def test_reader_death_fails_every_waiter_at_once(monkeypatch, tmp_path, output: str, then_sleep: bool) -> None:
    lsp = _lsp_module(monkeypatch)

    async def scenario() -> tuple[float, BaseException, BaseException, int | None]:
        started = time.monotonic()
        async with lsp.Client(_fake_server(output, then_sleep=then_sleep), tmp_path, dict(os.environ)) as client:
            watcher = client.expect(lambda method, params: False)
            with pytest.raises(ConnectionError) as request_error:
                await client.request("initialize", {}, timeout=30)
            with pytest.raises(ConnectionError) as watcher_error:
                await asyncio.wait_for(watcher, 30)
            elapsed = time.monotonic() - started
            with pytest.raises(ConnectionError):  # and any later request fails at once too
                await client.request("shutdown", None, timeout=30)
        return elapsed, request_error.value, watcher_error.value, client.proc.returncode

    elapsed, request_error, watcher_error, returncode = asyncio.run(scenario())
    assert elapsed < 10, elapsed  # not the 30 s timeout
    assert request_error is watcher_error
    assert returncode is not None  # stopped (killed when it would not exit)


def test_client_process_is_stopped_when_the_body_fails(monkeypatch, tmp_path) -> None:
    lsp = _lsp_module(monkeypatch)
    command = [sys.executable, "-c", "import time; time.sleep(60)"]  # never answers
    box = {}

    async def scenario() -> None:
        async with lsp.Client(command, tmp_path, dict(os.environ)) as client:
            box["client"] = client
            await client.request("initialize", {}, timeout=0.2)  # times out

    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(scenario())
    assert box["client"].proc.returncode is not None
    assert time.monotonic() - started < 30
