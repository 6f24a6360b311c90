"""Leave the process as soon as a command's result is out.

After litellm (and the openai SDK, httpx, pydantic…) is loaded, the interpreter's teardown —
atexit hooks, module and garbage collection of tens of thousands of objects — takes another
second or more, during which the user's shell waits for nothing. A finished ``check``, ``eval``
or ``optimize`` therefore ends with ``os._exit`` once everything it owes is written:

* its output: ``sys.stdout`` / ``sys.stderr`` are flushed here (and logging's handlers);
* the response cache and the run store: every write is its own committed SQLite transaction
  before the call returns (WAL; the run's last event with fsync), and the commands close both
  in ``finally`` before returning — the connections are closed, the WAL checkpointed;
* ``optimize --write``: the new file is in place (``os.replace``) before the result is printed;
* threads: ``asyncio.run`` has joined its worker threads before a command returns. The embedded
  local model's server threads die with the process (its atexit hook only closed connections so
  that the C++ destructors would not hang; with no destructors to run, there is nothing to do).

``serve`` is left alone: the language server's shutdown is the protocol's business.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

from .common import EXIT_FLUSH_FAILED


def exit_now(code: int) -> NoReturn:
    """Flush what the user sees, then end the process without the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``promptlsp eval … | head``) or stream
            code = code or EXIT_FLUSH_FAILED
    logging.shutdown()
    os._exit(code)
