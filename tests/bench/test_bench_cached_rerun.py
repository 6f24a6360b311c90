"""bench/optimize.py's "cached rerun" rows: a second identical CLI run makes no call and does not
import litellm (the timings themselves are not checked)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_optimize", REPO / "bench" / "optimize.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_cached_rerun_rows(monkeypatch, tmp_path) -> None:
    bench = _bench(monkeypatch)
    monkeypatch.setenv(bench.KEY_ENV, bench.DUMMY_KEY)
    box = {}
    with bench.StubServer(latency=0.0, answer=lambda body: box["model"](body)) as stub:
        prompt_file = bench.write_task(tmp_path, stub.url, judge=False, concurrency=8)
        box["model"] = bench.ScriptedModel(prompt_file, bench.textgrad_system_prompt(prompt_file))
        table = bench.cached_rerun(tmp_path / "rerun", stub.url, judge=False, concurrency=8, iterations=1)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["cached", "rerun"] and "litellm imported" in lines[0], table
    rows = {line.split()[1]: line.split() for line in lines if line.startswith("promptlsp ")}
    assert set(rows) == {"eval", "optimize"}, table
    for cells in rows.values():
        # promptlsp NAME wall "<=" goal new-calls cached litellm exit "<=" goal
        assert cells[5] == "0" and int(cells[6]) > 0 and cells[7] == "no", table
    firsts = [line for line in lines if line.strip().startswith("(first run:")]
    assert len(firsts) == 2 and all(" 0 calls" not in line for line in firsts), table
