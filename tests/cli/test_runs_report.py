"""`promptlsp runs` and `promptlsp report` on runs recorded by `promptlsp optimize` (loopback stub
model), and the HTML report rendered by headless Chromium (a screenshot kept in .ci-artifacts/)."""

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from promptlsp.cli.main import main

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PROMPTLSP_ARTIFACTS", REPO / ".ci-artifacts"))


@pytest.fixture
def two_runs(workspace, capsys):
    """An optimization that finishes and one stopped by its budget, in the workspace's store."""
    assert main(["optimize", str(workspace), "--iterations", "2", "--format", "json"]) == 0
    finished = json.loads(capsys.readouterr().out)["run_id"]
    assert main(["optimize", str(workspace), "--budget-calls", "3", "--no-cache", "--format", "json"]) == 0
    stopped = json.loads(capsys.readouterr().out)["run_id"]
    return workspace, finished, stopped


def test_runs_lists_newest_first_and_filters(two_runs, capsys, monkeypatch):
    workspace, finished, stopped = two_runs
    root = str(workspace.parent)
    assert main(["runs", "--root", root, "--format", "json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [stopped, finished]
    assert main(["runs", "--root", root, "--status", "finished", "--format", "json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [finished]
    monkeypatch.chdir(workspace.parent)  # the workspace found from the current folder, the file relative
    assert main(["runs", "--file", workspace.name]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [stopped, finished]
    assert "budget-exhausted" in lines[0] and "validation 0.000 → 1.000" in lines[1]
    assert main(["runs", "--file", "other.prompt.toml"]) == 0
    assert capsys.readouterr().out == "no runs of other.prompt.toml\n"


def test_runs_without_a_store_says_so(tmp_path, capsys):
    assert main(["runs", "--root", str(tmp_path)]) == 2
    assert "no run store at" in capsys.readouterr().err
    assert not (tmp_path / ".promptlsp").exists()  # looking creates nothing


def test_report_text_by_prefix_and_refusals(two_runs, capsys):
    workspace, finished, stopped = two_runs
    root = str(workspace.parent)
    assert main(["report", finished[:6], "--root", root]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run {finished} · gradsum · finished")
    assert "+Answer with one word" in out and "critique, iteration 1" in out and "task:" in out
    assert main(["report", "zz-no-such-run", "--root", root]) == 2
    assert "no run 'zz-no-such-run'" in capsys.readouterr().err
    assert main(["report", "", "--root", root]) == 2


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _png_colours(data: bytes) -> set[bytes]:
    """The distinct RGB values of the image's pixels (8-bit RGB/RGBA, no interlace)."""
    width, height = _png_size(data)
    depth, colour_type = data[24], data[25]
    assert depth == 8 and colour_type in (2, 6)
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    bpp = 3 if colour_type == 2 else 4
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        filt, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up, corner = prev[x], prev[x - bpp] if x >= bpp else 0
            if filt == 1:
                line[x] = (line[x] + left) & 255
            elif filt == 2:
                line[x] = (line[x] + up) & 255
            elif filt == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif filt == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line))
        prev = line
    return {row[i:i + 3] for row in rows for i in range(0, stride, bpp)}


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_the_html_report_renders_in_headless_chromium(two_runs, capsys, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH (vscode-extension/scripts/install-code-server.sh installs Debian's)")
    workspace, finished, _stopped = two_runs
    page = tmp_path / "report.html"
    assert main(["report", finished, "--root", str(workspace.parent), "--html", str(page)]) == 0
    assert f"report written to {page}" in capsys.readouterr().err
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "run-report.png"
    shot.unlink(missing_ok=True)
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
         "--hide-scrollbars", "--window-size=1000,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), proc.stderr[-2000:]
    data = shot.read_bytes()
    assert _png_size(data) == (1000, 1400)
    colours = _png_colours(data)
    assert len(data) > 20_000 and len(colours) > 50  # text, a chart and a diff, not a blank page
    # the chart was drawn (its plot area's fill is nowhere else), with its validation dots' green and
    # the best line's blue; the diff's added lines are green too
    assert {bytes.fromhex("fbfbfd"), bytes.fromhex("1b9e5a"), bytes.fromhex("2f6fdf"), bytes.fromhex("dafbe1")} <= colours
    shutil.copyfile(page, ARTIFACTS / "run-report.html")
