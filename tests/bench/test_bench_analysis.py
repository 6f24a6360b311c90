"""bench/analysis.py --smoke runs and prints its table (the numbers themselves are not checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "analysis.py"


def test_smoke_run_prints_the_table() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["examples", "measure", "n", "p50", "ms", "p95", "ms", "goal", "(p95)"]
    measures = [re.split(r"\s{2,}", line)[1] for line in lines[1:] if line.startswith("10 ")]
    assert measures == ["whole analysis (promptlsp check)", "edit → analysis + diagnostics",
                        "edit → analysis + diagnostics, in the template", "hover lookup (node under the cursor)"]
    assert "no incremental analysis" not in done.stdout
