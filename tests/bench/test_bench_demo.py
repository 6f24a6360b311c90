"""bench/demo.py --smoke: the README's first command per seed, on the scripted loopback model."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "demo.py"


def test_smoke_prints_one_row_per_seed_with_before_and_after() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--seeds", "7,1"], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if re.match(r"^\s+\d+\s+\d\.\d{3}", line)]
    assert [r[0] for r in rows] == ["7", "1"], done.stdout
    for seed, before, after, changed, winner, calls, wall, load in rows:
        assert (before, after, changed) == ("0.000", "1.000", "True"), done.stdout  # the stub's edit wins
        assert winner == "edit|0" and int(calls) > 0 and float(wall) > 0
    assert "seed 7 added: Answer with one word: positive, negative or neutral." in done.stdout
