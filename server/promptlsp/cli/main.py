"""``promptlsp`` — check, evaluate and optimize prompt files, or serve the language server.

Each subcommand lives in its own module and is imported only when used, so ``promptlsp check``
never pays for importing litellm.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promptlsp", description=__doc__.splitlines()[0].split("— ")[-1])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    check = sub.add_parser("check", help="validate .prompt.toml files (exit 0 clean, 1 errors, 2 usage/unreadable)")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--root", help="workspace root for dataset paths (default: nearest folder with .git, "
                       ".promptlsp or pyproject.toml, else the file's folder)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 for --help
        return int(exc.code or 0)
    try:
        if args.command == "check":
            from .check import run

            return run(args)
    except KeyboardInterrupt:
        print("promptlsp: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for the user; the message says what failed
        print(f"promptlsp: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE
