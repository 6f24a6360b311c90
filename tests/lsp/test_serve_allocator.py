"""``promptlsp serve`` runs on the C library's allocator (memory given back after a large file is
closed): it restarts itself once with PYTHONMALLOC=malloc — same pid, same stdio — unless the
variable is already set, to anything."""

from __future__ import annotations

import os
import sys

import pytest

from lsp_support import RawServer

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/environ")


def _allocator_after_initialize(env: dict[str, str]) -> list[bytes]:
    """PYTHONMALLOC in the environment of the process that answered ``initialize``."""
    server = RawServer(env)
    try:
        server.initialize()  # asserts the answer has a result
        with open(f"/proc/{server.proc.pid}/environ", "rb") as environ:  # the pid that answered
            return [v for v in environ.read().split(b"\0") if v.startswith(b"PYTHONMALLOC=")]
    finally:
        server.proc.kill()
        server.proc.wait(timeout=30)


@linux_only
def test_serve_restarts_itself_with_the_system_allocator_and_still_answers():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    assert _allocator_after_initialize(env) == [b"PYTHONMALLOC=malloc"]


@linux_only
def test_a_users_allocator_choice_is_kept():
    assert _allocator_after_initialize({**os.environ, "PYTHONMALLOC": "pymalloc"}) == [b"PYTHONMALLOC=pymalloc"]


def test_in_process_main_never_restarts(monkeypatch):
    from promptlsp.cli import serve_command

    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    monkeypatch.setattr(serve_command.os, "execve", lambda *a: pytest.fail("main() must not exec"))
    monkeypatch.setattr(serve_command, "run", lambda args: 0)
    from promptlsp.cli.main import main

    assert main(["serve"]) == 0


@pytest.mark.skipif(os.name != "posix", reason="the restart is POSIX only")
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


@pytest.mark.skipif(os.name != "posix", reason="the restart is POSIX only")
def test_the_console_script_restarts_before_building_its_parser(monkeypatch):
    """`promptlsp serve` restarts with the C allocator before the argument parser is built: the
    parser imports the run store (and the document model under it), which the restarted process
    would import again — wasted time before ``initialize`` is answered."""
    from promptlsp.cli import main as cli_main
    from promptlsp.cli import serve_command

    class Restarted(Exception):
        pass

    def execve(executable, argv, env):
        raise Restarted(argv[3:])

    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    monkeypatch.setattr(serve_command.os, "execve", execve)
    monkeypatch.setattr(cli_main, "_parser", lambda: pytest.fail("the parser was built before the restart"))
    monkeypatch.setattr(sys, "argv", ["promptlsp", "serve", "--stdio"])
    with pytest.raises(Restarted) as restarted:
        cli_main.entry()
    assert restarted.value.args[0] == ["serve", "--stdio"]
