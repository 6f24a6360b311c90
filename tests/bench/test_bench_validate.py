"""bench/validate.py --smoke runs and prints its table (the numbers themselves are not checked)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "validate.py"
NUMBER = re.compile(r"^\d+(\.\d+)?$")


def test_smoke_run_prints_the_table() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("file "))
    assert header.split("  ")[0].strip() == "file"
    columns = ("examples", "toml KB", "jsonl KB", "diags", "runs", "analyze med ms", "analyze p95 ms", "taplo med ms", "taplo p95 ms")
    assert all(column in header for column in columns), header
    body = [line.split() for line in lines[lines.index(header) + 2:] if line.strip() and not line.startswith(" ")]
    rows = {cells[0]: cells for cells in body}
    assert {"trivial", "inline-10", "jsonl-10"} <= rows.keys(), done.stdout
    assert not rows.keys() - {"trivial", "inline-10", "jsonl-10", "analyze:", "taplo:"}, done.stdout
    taplo_found = not re.search(r"^taplo: not found", done.stdout, re.M)
    for name in ("trivial", "inline-10", "jsonl-10"):
        cells = rows[name]
        assert len(cells) == 12, cells
        _, examples, toml_kb, jsonl_kb, diags, runs, first, median, p95, taplo_median, taplo_p95, taplo_exit = cells
        assert examples == ("1" if name == "trivial" else "10")
        assert NUMBER.match(toml_kb) and (jsonl_kb == "-") == (name != "jsonl-10")
        assert diags == "0", f"the generated {name} file should be valid: {done.stdout}"
        assert runs == "1"
        assert all(NUMBER.match(v) for v in (first, median, p95)), cells
        if taplo_found:
            assert NUMBER.match(taplo_median) and NUMBER.match(taplo_p95) and taplo_exit == "0", cells
        else:
            assert taplo_median == taplo_p95 == taplo_exit == "n/a", cells


def test_missing_taplo_is_reported_not_fatal(monkeypatch, capsys) -> None:
    spec = importlib.util.spec_from_file_location("bench_validate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "find_taplo", lambda: None)
    assert module.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^taplo: not found", out, re.M)
    rows = [line.split() for line in out.splitlines() if line.startswith(("trivial ", "inline-10 ", "jsonl-10 "))]
    assert len(rows) == 3 and all(row[-3:] == ["n/a"] * 3 for row in rows), out
