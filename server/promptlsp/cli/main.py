"""``promptlsp`` — check, evaluate and optimize prompt files, or serve the language server.

Each subcommand lives in its own module and is imported only when used, so ``promptlsp check``
never pays for importing litellm.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


def _parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ..runs.records import STATUSES

    parser = argparse.ArgumentParser(prog="promptlsp", description=__doc__.splitlines()[0].split("— ")[-1])
    parser.add_argument("--version", action="version", version=f"promptlsp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    check = sub.add_parser("check", help="validate .prompt.toml files (exit 0 clean, 1 errors, 2 usage/unreadable)")
    check.add_argument("files", nargs="+", metavar="PATH", help="prompt files, folders (searched for *.prompt.toml) or globs")
    check.add_argument("--format", choices=("text", "json", "junit", "sarif"), default="text")
    check.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    check.add_argument("--root", help="workspace root for dataset paths (default: nearest folder with .git, "
                       ".promptlsp or pyproject.toml, else the file's folder)")

    evaluate = sub.add_parser("eval", help="run prompts on their examples and score them (exit 0 passed, 1 a gate "
                              "failed or a file has errors, 2 usage/unreadable, 3 --baseline regression)")
    evaluate.add_argument("paths", nargs="+", metavar="PATH", help="prompt files, folders (searched for *.prompt.toml) or globs")
    evaluate.add_argument("--split", choices=("train", "validation", "test", "all"), default="all")
    evaluate.add_argument("--min-score", type=float, help="exit 1 when a file's score is below this (a CI gate)")
    evaluate.add_argument("--format", choices=("text", "json", "junit", "sarif"), default="text")
    evaluate.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    evaluate.add_argument("--budget-calls", type=_positive, help="cap on model calls over all the files (cache hits are free)")
    evaluate.add_argument("--baseline", metavar="FILE", help="exit 3 when a file's score dropped below this baseline's")
    evaluate.add_argument("--tolerance", type=float, default=0.0, help="how far a score may drop below the baseline (default 0)")
    evaluate.add_argument("--save-baseline", nargs="?", const=".promptlsp/baseline.json", metavar="FILE",
                          help="write the per-example scores to FILE (default .promptlsp/baseline.json), to commit")
    evaluate.add_argument("--no-cache", action="store_true",
                          help="ask the models afresh (fresh answers still replace cached ones)")
    evaluate.add_argument("--root", help="workspace root (dataset paths, .promptlsp/ state)")
    evaluate.add_argument("--example", metavar="ID", help="run only the example with this id (any split)")

    optimize = sub.add_parser("optimize", help="optimize the prompt with GRAD-SUM or TGD")
    optimize.add_argument("file", metavar="FILE")
    optimize.add_argument("--method", choices=("gradsum", "tgd"), help="default: the file's [optimize] method")
    optimize.add_argument("--iterations", type=_positive, help="default: the file's [optimize] iterations")
    optimize.add_argument("--budget-calls", type=_positive, help="hard cap on model calls (cache hits are free)")
    optimize.add_argument("--write", action="store_true", help="write the best prompt into FILE (only its prompt strings change)")
    optimize.add_argument("--format", choices=("text", "json"), default="text")
    optimize.add_argument("--no-cache", action="store_true",
                          help="ask the models afresh (fresh answers still replace cached ones)")
    optimize.add_argument("--root", help="workspace root (dataset paths, .promptlsp/ state)")

    runs = sub.add_parser("runs", help="list the recorded optimization runs, newest first")
    runs.add_argument("--file", help="only the runs of this prompt file")
    runs.add_argument("--status", choices=STATUSES, help="only the runs with this status")
    runs.add_argument("--limit", type=_positive, default=50, help="at most this many (default 50)")
    runs.add_argument("--format", choices=("text", "json"), default="text")
    runs.add_argument("--root", help="workspace root holding .promptlsp/runs.sqlite (default: the file's, else the current folder's)")

    report = sub.add_parser("report", help="one recorded run: scores per iteration, critiques, diff, cost per phase")
    report.add_argument("run_id", metavar="RUN_ID", help="a run id or an unambiguous prefix of one")
    report.add_argument("--html", metavar="OUT", help="write a self-contained HTML page (with a score chart) to OUT")
    report.add_argument("--root", help="workspace root holding .promptlsp/runs.sqlite (default: the current folder's)")

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    transport = serve.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="talk JSON-RPC over stdin/stdout (default)")
    transport.add_argument("--tcp", action="store_true", help="listen on --host:--port instead")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=2087)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a whole number >= 1")
    return value


def entry() -> int:
    """The ``promptlsp`` console script and ``python -m promptlsp``: :func:`main`, then — after
    every command but ``serve`` — an immediate exit (see ``exit.py``); ``serve`` first
    restarts itself with the C allocator (see ``serve_command.use_system_allocator``)."""
    return main(exit_fast=True)


def main(argv: Sequence[str] | None = None, *, exit_fast: bool = False) -> int:
    """Run one command; its exit status. ``exit_fast``: end the process right after the command
    (never set in-process: tests and embedders call ``main`` and get the status back)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if exit_fast and words[:1] == ["serve"]:
        # The process is ours: a server's allocator. Restart before anything else is imported
        # or built (the parser alone imports the run store, ~0.1 s the restart would repeat);
        # the restarted process parses the same words.
        from .serve_command import use_system_allocator

        use_system_allocator(words)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 for --help
        return int(exc.code or 0)
    code = _run(args)
    if exit_fast and args.command != "serve":
        from .exit import exit_now

        exit_now(code)
    return code


def _run(args: argparse.Namespace) -> int:
    from .common import EXIT_INTERRUPTED, EXIT_USAGE, CommandError

    try:
        if args.command == "check":
            from .check import run
        elif args.command == "eval":
            from .eval_command import run
        elif args.command == "serve":
            from .serve_command import run
        elif args.command == "runs":
            from .runs_command import run
        elif args.command == "report":
            from .report_command import run
        else:
            from .optimize_command import run
        return run(args)
    except CommandError as exc:
        print(f"promptlsp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("promptlsp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # never a traceback for the user; the message says what failed
        print(f"promptlsp: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
