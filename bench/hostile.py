"""Benchmark: analyze() on hostile and pathological prompt files — time and peak memory.

    python bench/hostile.py [--only NAME[,NAME…]] [--timeout SECONDS]

Each shape is built and analysed in a fresh child interpreter (so its peak RSS is its own,
read with ``resource.getrusage``); a child that runs past ``--timeout`` (default 120 s) is
killed and reported as such. The table gives the file size, wall time of ``analyze()`` alone,
the child's peak RSS, and the diagnostic codes analyze() reported.

The goal (issue 12): any file up to 1 MB analyses in at most 2 s and 300 MB, or gets a clear
"too large / too complex" diagnostic instead of hanging; the realistic 5,000-example file
(about 1.2 MB) still analyses fully.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

MB = 1024 * 1024

HEAD = '''version = 1
task = "Label the sentiment of a product review."
[prompt]
template = "Review: {{ review }}"
[[criteria]]
type = "equals"
[[examples]]
vars = { review = "great" }
expected = "positive"
split = "validation"
'''


def _fill(unit: str, size: int) -> str:
    return unit * max(1, size // len(unit))


def realistic(count: int, crlf: bool = False) -> str:
    import validate  # bench/validate.py: the same realistic rows

    text = validate.inline_file(validate.make_rows(count, random.Random(validate.SEED)))
    return text.replace("\n", "\r\n") if crlf else text


SHAPES: dict[str, Callable[[], str]] = {
    "dotted key 16k parts (32 KB)": lambda: HEAD + "x" + ".a" * 16_000 + " = 1\n",
    "dotted key 50k parts (100 KB)": lambda: HEAD + "x" + ".a" * 50_000 + " = 1\n",
    "dotted key 500k parts (1 MB)": lambda: HEAD + "x" + ".a" * 500_000 + " = 1\n",
    "dotted header 50k parts": lambda: HEAD + "[x" + ".a" * 50_000 + "]\n",
    "nested arrays 100k deep": lambda: HEAD + "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
    "nested inline tables 50k deep": lambda: HEAD + "x = " + "{a=" * 50_000 + "1" + "}" * 50_000 + "\n",
    "1 MB bare key": lambda: HEAD + _fill("k", MB) + " = 1\n",
    "1 MB quoted key": lambda: HEAD + '"' + _fill("k", MB) + '" = 1\n',
    "100k tables (1 MB)": lambda: HEAD + "".join(f"[t{i}]\n" for i in range(100_000)),
    "100k keys in one table": lambda: HEAD + "[optimize]\n" + "".join(f"k{i} = 1\n" for i in range(100_000)),
    "1 MB string of escapes": lambda: HEAD.replace('"great"', '"' + _fill("\\n", MB) + '"'),
    "1 MB template of escapes": lambda: HEAD.replace('"Review: {{ review }}"', '"{{ review }}' + _fill("\\t", MB) + '"'),
    "array of 300k integers": lambda: HEAD + "[optimize]\nconstraints = [" + "1," * 300_000 + "]\n",
    "array of 200k strings": lambda: HEAD + "[optimize]\nconstraints = [" + '"a",' * 200_000 + "]\n",
    "1 MB of comments": lambda: HEAD + _fill("# a comment line\n", MB),
    "template 7**(7**9)": lambda: HEAD.replace("{{ review }}", "{{ review }}{{ 7**(7**9) }}"),
    "template 'a' * 10**9": lambda: HEAD.replace("{{ review }}", "{{ review }}{{ 'a' * 10**9 }}"),
    "template 500 nested ifs": lambda: HEAD.replace("{{ review }}", "{{ review }}" + "{% if x %}" * 500 + "{% endif %}" * 500),
    "template 80k tags (1 MB)": lambda: HEAD.replace("{{ review }}", _fill("{{ review }} ", MB)),
    "60k examples (1 MB)": lambda: HEAD + _fill('[[examples]]\nvars = {review="a"}\n', MB),
    "26k examples (over the table limit)": lambda: HEAD + "".join(f'[[examples]]\nvars = {{review="{i}"}}\n' for i in range(26_000)),
    "9,990 examples (under the table limit)": lambda: HEAD + "".join(
        f'[[examples]]\nvars = {{ review = "review number {i}, quite short", stars = {i % 5} }}\nexpected = "neutral"\n'
        for i in range(9_990)),
    "75k unknown keys (under the limit)": lambda: HEAD.replace("[prompt]", "".join(f"k{i} = 1\n" for i in range(75_000)) + "[prompt]"),
    "75k-item array (under the limit)": lambda: HEAD + "[optimize]\nconstraints = [" + '"a",' * 75_000 + "]\n",
    "realistic 5,000 examples": lambda: realistic(5000),
    "realistic 5,000 examples, CRLF": lambda: realistic(5000, crlf=True),
    "realistic 5,000, error at the end": lambda: realistic(5000) + "oops = \n",
}


def child(name: str) -> None:
    import resource

    from promptlsp.document import analyze

    text = SHAPES[name]()
    start = time.perf_counter()
    analysis = analyze(text)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    codes = Counter(d.code for d in analysis.diagnostics)
    print(json.dumps({"size": len(text.encode()), "seconds": seconds, "rss_mb": rss, "codes": dict(codes)}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated substrings of shape names")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    names = [n for n in SHAPES if not wanted or any(w in n for w in wanted)]
    print(f"{'shape':<38} {'size':>9} {'analyze':>10} {'peak RSS':>9}  diagnostics")
    for name in names:
        try:
            done = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True, text=True,
                                  timeout=args.timeout, check=False)
        except subprocess.TimeoutExpired:
            print(f"{name:<38} {'':>9} {'> ' + str(int(args.timeout)) + ' s':>10} {'':>9}  (killed)")
            continue
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{name:<38} {'':>9} {'failed':>10} {'':>9}  {last[:80]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        codes = ", ".join(f"{c}×{n}" if n > 1 else c for c, n in sorted(r["codes"].items())) or "none"
        print(f"{name:<38} {r['size'] / 1024:>7.0f}KB {r['seconds']:>8.2f} s {r['rss_mb']:>6.0f} MB  {codes[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
