"""``promptlsp serve`` runs on the C library's allocator (memory given back after a large file is
closed): it restarts itself once with PYTHONMALLOC=malloc — same pid, same stdio — unless the
variable is already set, to anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/environ")


def _serve_and_initialize(env: dict[str, str]) -> tuple[dict, list[bytes]]:
    process = subprocess.Popen([sys.executable, "-m", "promptlsp", "serve"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                           "params": {"processId": None, "rootUri": None, "capabilities": {}}}).encode()
        process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        process.stdin.flush()
        length = 0
        while (line := process.stdout.readline().strip()):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        answer = json.loads(process.stdout.read(length))
        with open(f"/proc/{process.pid}/environ", "rb") as environ:  # the pid that answered
            allocator = [v for v in environ.read().split(b"\0") if v.startswith(b"PYTHONMALLOC=")]
        return answer, allocator
    finally:
        process.kill()
        process.wait(timeout=30)


def test_serve_restarts_itself_with_the_system_allocator_and_still_answers():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    answer, allocator = _serve_and_initialize(env)
    assert answer["id"] == 1 and "capabilities" in answer["result"]
    assert allocator == [b"PYTHONMALLOC=malloc"]


def test_a_users_allocator_choice_is_kept():
    answer, allocator = _serve_and_initialize({**os.environ, "PYTHONMALLOC": "pymalloc"})
    assert answer["id"] == 1 and allocator == [b"PYTHONMALLOC=pymalloc"]


def test_in_process_main_never_restarts(monkeypatch):
    from promptlsp.cli import serve_command

    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    monkeypatch.setattr(serve_command.os, "execve", lambda *a: pytest.fail("main() must not exec"))
    monkeypatch.setattr(serve_command, "run", lambda args: 0)
    from promptlsp.cli.main import main

    assert main(["serve"]) == 0


def test_the_restart_finds_the_same_package_however_it_was_found(monkeypatch):
    """The restarted process gets this package's folder first on PYTHONPATH (a launcher may have
    found promptlsp through a sys.path entry the new process would not have), keeping the user's."""
    import promptlsp
    from promptlsp.cli import serve_command

    calls = []
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setattr(serve_command.os, "execve", lambda *a: calls.append(a))
    serve_command.use_system_allocator(["serve", "--stdio"])
    (executable, argv, env), = calls
    assert executable == sys.executable and argv == [sys.executable, "-m", "promptlsp", "serve", "--stdio"]
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(promptlsp.__file__)))
    assert env["PYTHONPATH"] == package_root + os.pathsep + "/elsewhere" and env["PYTHONMALLOC"] == "malloc"
