"""``optimize --write`` replaces the file atomically, and a writer killed mid-write leaves no
temporary file behind for long: the next write removes it (but never a live writer's)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from promptlsp.cli import file_write
from promptlsp.cli.common import CommandError
from promptlsp.cli.optimize_command import write_atomically

KILLED_WRITER = """
import os, sys, time
from pathlib import Path
from promptlsp.cli.optimize_command import write_atomically

def hang(src, dst):
    print("written", flush=True)
    time.sleep(600)

os.replace = hang
path = Path(sys.argv[1])
write_atomically(path, path.read_text(), "new = 1\\n")
"""


def _finished_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _ours(path, pid, age_s=0.0, host=None, token="0badc0de"):
    name = f".{path.name}.promptlsp.{host or file_write._host()}.{pid}.{token}.tmp"
    tmp = path.parent / name
    tmp.write_text("half")
    stamp = time.time() - age_s
    os.utime(tmp, (stamp, stamp))
    return name


def test_a_writer_killed_mid_write_leaves_a_temp_file_that_the_next_write_removes(tmp_path):
    path = tmp_path / "x.prompt.toml"
    path.write_text("old = 1\n")
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "written"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    leftovers = [p.name for p in tmp_path.iterdir() if p != path]
    assert len(leftovers) == 1 and leftovers[0].startswith(".x.prompt.toml.promptlsp.")
    write_atomically(path, "old = 1\n", "newer = 1\n")
    assert [p.name for p in tmp_path.iterdir()] == ["x.prompt.toml"]
    assert path.read_text() == "newer = 1\n"


def test_only_stale_temp_files_of_this_file_are_removed(tmp_path):
    path = tmp_path / "x.prompt.toml"
    path.write_text("old = 1\n")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = _ours(path, _finished_pid())
        abandoned = _ours(path, sleeper.pid, age_s=120)  # a pid can be reused: old means abandoned
        live = _ours(path, sleeper.pid, token="5eed")  # a concurrent writer's: kept
        elsewhere = _ours(path, _finished_pid(), host="another-host")  # its pid means nothing here
        other_file = _ours(tmp_path / "y.prompt.toml", _finished_pid())
        users = ".x.prompt.toml.bak"
        (tmp_path / users).write_text("mine")
        write_atomically(path, "old = 1\n", "new = 1\n")
    finally:
        sleeper.kill()
        sleeper.wait()
    left = {p.name for p in tmp_path.iterdir()}
    assert dead not in left and abandoned not in left
    assert left == {"x.prompt.toml", live, elsewhere, other_file, users}


def test_the_write_keeps_permissions_and_refuses_a_changed_file(tmp_path):
    path = tmp_path / "x.prompt.toml"
    path.write_text("old = 1\n")
    path.chmod(0o640)
    write_atomically(path, "old = 1\n", "new = 1\n")
    assert path.read_text() == "new = 1\n" and (path.stat().st_mode & 0o777) == 0o640
    with pytest.raises(CommandError, match="changed during the run"):
        write_atomically(path, "old = 1\n", "newer = 1\n")
    assert path.read_text() == "new = 1\n" and [p.name for p in tmp_path.iterdir()] == ["x.prompt.toml"]
