"""``promptlsp serve``: run the language server (stdio by default, or TCP)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

ALLOCATOR = "PYTHONMALLOC"


def use_system_allocator(argv: Sequence[str]) -> None:
    """Restart this process (same pid, same stdio, nothing read yet) with ``PYTHONMALLOC=malloc``
    unless the variable is set already — to anything: a user's choice is kept.

    A language server lives long and handles large transient documents (a 5,000-example file's
    analysis is ~50 MB). Python's own small-object allocator keeps whole 1 MB arenas alive for a
    few long-lived objects in each, so after such a file is closed the server stayed ~1.4× the
    size it had before it was opened; with the C library's allocator (which ``memory.release``
    trims) it returns to within ~1.1× (``bench/analysis.py``), for edits ~10 ms slower at 5,000
    examples. POSIX only (elsewhere exec is a new process, which a stdio client would not see).
    """
    if os.name != "posix" or ALLOCATOR in os.environ:
        return
    import promptlsp

    # the same package, however this process found it (installed, PYTHONPATH, the current folder)
    here = os.path.dirname(os.path.dirname(os.path.abspath(promptlsp.__file__)))
    path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "promptlsp", *argv],
              {**os.environ, ALLOCATOR: "malloc", "PYTHONPATH": path})


def run(args: argparse.Namespace) -> int:
    # Nothing but JSON-RPC may reach stdout: keep the real stdout for the protocol and send
    # every stray print and all logging to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="promptlsp %(levelname)s %(name)s: %(message)s")
    from promptlsp.lsp.compiled_methods import kept_compiled

    with kept_compiled():  # lsprotocol's generated methods, compiled at an earlier start
        from promptlsp.lsp.factory import create_server

        server = create_server(run_worker=True)  # runs in their own process: litellm never loads here

    if getattr(args, "tcp", False):
        server.start_tcp(args.host, args.port)
        return 0
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    server.start_io(stdin, stdout)
    return 0
