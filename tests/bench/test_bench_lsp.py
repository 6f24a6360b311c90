"""bench/lsp.py --smoke drives both language servers and prints its table (numbers not checked)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"^\d+(\.\d+)?$")


def test_smoke_run_prints_the_table() -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "lsp.py"), "--smoke"], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("measure "))
    assert header.split() == ["measure", "server", "n", "p50", "ms", "p95", "ms", "max", "ms", "note"]
    body = lines[lines.index(header) + 2:]
    rows = [line for line in body[:body.index("")]]
    servers = ["promptlsp", "taplo"] if shutil.which("node") and shutil.which("npm") else ["promptlsp"]
    expected = {("initialize", 1), ("didChange→diagnostics, 10 examples (3 KB)", 4), ("hover on a key, idle", 5)}
    found = set()
    for row in rows:
        measure, rest = re.split(r"\s{2,}", row, maxsplit=1)
        server, n, p50, p95, top = rest.split()[:5]
        assert all(NUMBER.match(v) for v in (p50, p95, top)), row
        assert float(p50) <= float(p95) <= float(top), row
        found.add((measure, server, int(n)))
    assert found == {(m, s, n) for m, n in expected for s in servers}, done.stdout
