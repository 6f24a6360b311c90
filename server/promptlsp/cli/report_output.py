"""Where ``check`` and ``eval`` write: the report to ``--output FILE`` or stdout; GitHub
annotation lines to stdout unless a machine-readable report is on it (then stderr, which the
Actions runner reads for workflow commands too)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, TextIO

from .common import CommandError


@contextmanager
def report_stream(args) -> Iterator[TextIO]:
    if not getattr(args, "output", None):
        yield sys.stdout
        return
    path = Path(args.output)
    try:
        stream = path.open("w", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
    with stream:
        yield stream


def annotate(args, lines: Iterable[str]) -> None:
    stream = sys.stdout if args.format == "text" or getattr(args, "output", None) else sys.stderr
    for line in lines:
        print(line, file=stream)
