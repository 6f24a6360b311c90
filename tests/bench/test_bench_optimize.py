"""bench/optimize.py --smoke --no-textgrad runs and prints its promptlsp rows (the timings themselves are not checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "optimize.py"
NUMBER = re.compile(r"^\d+(\.\d+)?$")
HEADER = ("method", "iter", "wall", "s", "crit", "s", "rounds", "wall/crit", "calls", "phases")


def _rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("method "))
    assert tuple(lines[header].split()) == HEADER, lines[header]
    rows = {}
    for line in lines[header + 2:]:
        if not line.strip():
            continue
        cells = line.split(maxsplit=7)
        if cells[0] not in ("gradsum", "tgd", "textgrad", "gradsum-default"):
            break
        rows[(cells[0], cells[1])] = cells
    return rows


def _phases(cell: str) -> dict[str, int]:
    return {name: int(n) for name, n in (item.split("=") for item in cell.split(","))}


@pytest.mark.parametrize("judge", [True, False], ids=["judge", "no-judge"])
def test_smoke_prints_promptlsp_rows(judge: bool) -> None:
    command = [sys.executable, str(SCRIPT), "--smoke", "--no-textgrad"] + ([] if judge else ["--no-judge"])
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "stub latency 10 ms" in out and "concurrency limit 48" in out, out
    assert "warning:" not in out, out  # accounting and the stub's log agree; no call failed
    rows = _rows(out)
    expected = {("gradsum", "1"), ("gradsum", "final"), ("gradsum", "total"),
                ("tgd", "init"), ("tgd", "1"), ("tgd", "final"), ("tgd", "total"), ("textgrad", "-"),
                ("gradsum-default", "1"), ("gradsum-default", "final"), ("gradsum-default", "total")}
    assert set(rows) == expected, out
    # GRAD-SUM again at the limit a file without `concurrency` gets for a hosted route (16)
    assert re.search(r"gradsum-default \d+/16/\d+", out), out
    assert rows[("gradsum-default", "total")][4] == rows[("gradsum", "total")][4]  # same rounds
    assert "skipped (--no-textgrad)" in rows[("textgrad", "-")][-1]
    evaluation = 2 if judge else 1  # task, then the llm-rubric judge
    # TGD knows both final contenders' validation scores already, and GRAD-SUM's last iteration
    # scores its candidates on validation itself: a final step's only calls are a close call's
    # second look (optimize/base.py second_look: both prompts on unused training examples, one round)
    for method in ("tgd", "gradsum", "gradsum-default"):
        final = rows[(method, "final")]
        if final[6] == "0":
            assert final[4:7] == ["0", "-", "0"], final
        else:
            assert final[4] == str(evaluation) and set(_phases(final[7])) <= {"task", "judge"}, final
    for (method, label), cells in rows.items():
        if method == "textgrad" or label == "final":
            continue
        _, _, wall, crit, rounds, ratio, calls, phases = cells
        assert all(NUMBER.match(v) for v in (wall, crit, rounds, ratio, calls)), cells
        assert float(crit) == pytest.approx(int(rounds) * 0.01, abs=0.006), cells
        counts = _phases(phases)
        assert sum(counts.values()) == int(calls), cells
        assert ("judge" in counts) == judge, cells
        if label == "init":
            assert int(rounds) == evaluation, cells
    # the stages of one iteration, each a round (the stub's answers always leave failures to learn from)
    gradsum = _phases(rows[("gradsum", "1")][7])
    assert {"grad", "sum", "edit"} <= gradsum.keys()
    assert int(rows[("gradsum", "1")][4]) == 2 * evaluation + 3  # the minibatch, 3 optimizer stages, validation
    tgd = _phases(rows[("tgd", "1")][7])
    assert tgd["fb"] == 4 and tgd["step"] == 1
    # the minibatch, the moves tried (each its own E; the demonstrations move after a bootstrap E),
    # feedback, step, the step's validation: every E waits for the one before
    scorings, stages = divmod(int(rows[("tgd", "1")][4]) - 2, evaluation)
    assert scorings >= 2 and stages == 0, rows[("tgd", "1")]
    for method in ("gradsum", "tgd"):
        parts = [c for (m, label), c in rows.items() if m == method and label != "total"]
        total = rows[(method, "total")]
        assert int(total[6]) == sum(int(c[6]) for c in parts)
        assert int(total[4]) == sum(int(c[4]) for c in parts)
    assert re.search(r"^gradsum: finished, validation ", out, re.M), out
    assert re.search(r"^tgd: finished, validation ", out, re.M), out
