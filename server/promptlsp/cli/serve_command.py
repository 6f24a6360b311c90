"""``promptlsp serve``: run the language server (stdio by default, or TCP)."""

from __future__ import annotations

import argparse
import logging
import sys


def run(args: argparse.Namespace) -> int:
    # Nothing but JSON-RPC may reach stdout: keep the real stdout for the protocol and send
    # every stray print and all logging to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="promptlsp %(levelname)s %(name)s: %(message)s")
    from promptlsp.lsp.factory import create_server

    server = create_server()

    if getattr(args, "tcp", False):
        server.start_tcp(args.host, args.port)
        return 0
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    server.start_io(stdin, stdout)
    return 0
